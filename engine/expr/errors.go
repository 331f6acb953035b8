package expr

import (
	"fmt"

	"github.com/godwit-db/godwit/engine/apierr"
)

// Limits DynamoDB enforces on expressions.
const (
	maxExprBytes     = 4096 // bytes of one expression string
	maxOperators     = 300  // operators and functions in one expression
	maxInOperands    = 100  // operands right of IN
	maxPlaceholder   = 255  // bytes of one #name / :value key
	maxListIndexText = 9    // digits of a list index we accept (fits an int)
)

// Messages returned by Update.Apply, verbatim from DynamoDB.
const (
	msgInvalidPath    = "The document path provided in the update expression is invalid for update"
	msgBadOperandType = "An operand in the update expression has an incorrect data type"
	msgMissingAttr    = "The provided expression refers to an attribute that does not exist in the item"
	msgLegacyMismatch = "Type mismatch for attribute to update"
)

// invalid wraps a message in "Invalid <ExprName>: ..." as DynamoDB does for
// every problem found inside an expression.
func invalid(exprName, format string, args ...any) error {
	return apierr.Validation("Invalid %s: %s", exprName, fmt.Sprintf(format, args...))
}

// checkSize applies the emptiness and 4 KB limits shared by every expression.
func checkSize(exprName, s string) error {
	if s == "" {
		return invalid(exprName, "The expression can not be empty;")
	}
	if len(s) > maxExprBytes {
		if exprName == "FilterExpression" {
			return invalid(exprName, "Expression size has exceeded the maximum allowed size; expression size: %d", len(s))
		}
		return invalid(exprName, "Expression size has exceeded the maximum allowed size;")
	}
	return nil
}

// MixedParamsError is DynamoDB's answer to a request that uses legacy
// parameters (nonExpr, e.g. "QueryFilter") together with expression
// parameters (expr, e.g. "KeyConditionExpression"); each list is in the
// order the names should be reported.
func MixedParamsError(nonExpr, expr []string) error {
	return apierr.Validation("Can not use both expression and non-expression parameters in the same request: "+
		"Non-expression parameters: {%s} Expression parameters: {%s}", joinComma(nonExpr), joinComma(expr))
}

func joinComma(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ", "
		}
		out += s
	}
	return out
}
