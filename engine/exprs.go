package engine

import (
	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/attr"
	"github.com/godwit-db/godwit/engine/expr"
)

// exprParams checks a request's ExpressionAttributeNames/Values against
// whether it uses any expression, and returns the Params its expressions
// resolve against.
func exprParams(names map[string]string, values map[string]attr.Value, namesSent, valuesSent, usesExpr bool) (*expr.Params, error) {
	if !usesExpr {
		if namesSent {
			return nil, apierr.Validation("ExpressionAttributeNames can only be specified when using expressions")
		}
		if valuesSent {
			return nil, apierr.Validation("ExpressionAttributeValues can only be specified when using expressions")
		}
	}
	p := expr.NewParams(names, values)
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// mixed rejects a request that uses both legacy and expression parameters.
// Each list names the parameters of its kind that are present.
func mixed(nonExpr, exprs []string) error {
	if len(nonExpr) > 0 && len(exprs) > 0 {
		return expr.MixedParamsError(nonExpr, exprs)
	}
	return nil
}

// present returns the names whose flag is true, in order.
func present(pairs ...any) []string {
	var out []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1].(bool) {
			out = append(out, pairs[i].(string))
		}
	}
	return out
}

// conditionOf builds a write's condition from ConditionExpression or the
// legacy Expected/ConditionalOperator.
func conditionOf(condExpr *string, expected map[string]expr.ExpectedAttributeValue, condOp string, p *expr.Params) (expr.Cond, error) {
	if condExpr != nil {
		return expr.ParseCondition("ConditionExpression", *condExpr, p)
	}
	if expected != nil {
		return expr.FromExpected(expected, condOp)
	}
	if condOp != "" {
		return nil, apierr.Validation("ConditionalOperator can only be used when Filter or Expected has two or more elements")
	}
	return nil, nil
}

// projectionOf builds a read's projection from ProjectionExpression or the
// legacy AttributesToGet.
func projectionOf(projExpr *string, attrsToGet []string, p *expr.Params) (expr.Projection, error) {
	if projExpr != nil {
		return expr.ParseProjection(*projExpr, p)
	}
	if attrsToGet != nil {
		return expr.ProjectionFromAttributesToGet(attrsToGet), nil
	}
	return nil, nil
}
