package expr

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/godwit-db/godwit/engine/attr"
)

// category groups the semantic errors DynamoDB finds after parsing. Within
// a category the first error found (in source order) is kept; across
// categories each expression language reports them in its own fixed order.
type category uint8

const (
	catParens category = iota
	catUnknownFunc
	catMisused
	catReserved
	catSection
	catName
	catValue
	catOverlap
	catConflict
	catOperand
	catDistinct
	catFunction
	numCategories
)

var (
	condOrder   = []category{catParens, catUnknownFunc, catMisused, catReserved, catName, catOperand, catDistinct, catFunction}
	updateOrder = []category{catReserved, catUnknownFunc, catSection, catName, catValue, catOverlap, catConflict, catOperand, catFunction}
	projOrder   = []category{catReserved, catName, catOverlap, catConflict}
)

// checker resolves placeholders in a parsed tree and collects the semantic
// errors.
type checker struct {
	params *Params
	// valuesAsNames files undefined :values with undefined #names, as the
	// condition languages do (they report whichever comes first).
	valuesAsNames bool
	errs          [numCategories]string
}

func (c *checker) record(cat category, format string, args ...any) {
	if c.errs[cat] == "" {
		c.errs[cat] = fmt.Sprintf(format, args...)
	}
}

// first returns the error to report, by the language's category order.
func (c *checker) first(exprName string, order []category) error {
	for _, cat := range order {
		if c.errs[cat] != "" {
			return invalid(exprName, "%s", c.errs[cat])
		}
	}
	return nil
}

// resolvePath checks reserved words, resolves #names and fills n.path; it
// reports whether the path resolved completely.
func (c *checker) resolvePath(n *node) bool {
	ok := true
	path := make(Path, 0, len(n.raw))
	for _, e := range n.raw {
		switch e.tok.kind {
		case tIdent:
			if isReserved(e.tok.text) {
				c.record(catReserved, "Attribute name is a reserved keyword; reserved keyword: %s", e.tok.text)
			}
			path = append(path, PathElem{Name: e.tok.text})
		case tName:
			name, found := c.params.name(e.tok.text)
			if !found {
				c.record(catName, "An expression attribute name used in the document path is not defined; attribute name: %s", e.tok.text)
				ok = false
			}
			path = append(path, PathElem{Name: name})
		default:
			path = append(path, PathElem{Index: e.index, IsIndex: true})
		}
	}
	if ok {
		n.path = path
	}
	return ok
}

// resolveValue fills n.val from a :value placeholder; it reports success.
func (c *checker) resolveValue(n *node) bool {
	v, ok := c.params.value(n.tok.text)
	if !ok {
		cat := catValue
		if c.valuesAsNames {
			cat = catName
		}
		c.record(cat, "An expression attribute value used in expression is not defined; attribute value: %s", n.tok.text)
		return false
	}
	n.val = v
	return true
}

// immediateType is the type of a resolved :value operand, else "".
func immediateType(n *node) string {
	if n.kind == nValue && n.val.Type != attr.TypeInvalid {
		return n.val.Type.String()
	}
	return ""
}

// ---- conditions ----

var condFuncArity = map[string]int{
	"attribute_exists":     1,
	"attribute_not_exists": 1,
	"attribute_type":       2,
	"begins_with":          2,
	"contains":             2,
	"size":                 1,
}

const (
	msgMisused   = "The function is not allowed to be used this way in an expression; function: %s"
	msgArity     = "Incorrect number of operands for operator or function; operator or function: %s, number of operands: %d"
	msgNeedsPath = "Operator or function requires a document path; operator or function: %s"
	msgFuncType  = "Incorrect operand type for operator or function; operator or function: %s, operand type: %s"
)

var attributeTypes = map[string]bool{"S": true, "N": true, "B": true, "NULL": true, "SS": true, "BOOL": true, "L": true, "BS": true, "NS": true, "M": true}

func (c *checker) cond(n *node) {
	if n.parens >= 2 {
		c.record(catParens, "The expression has redundant parentheses;")
	}
	switch n.kind {
	case nAnd, nOr, nNot:
		for _, a := range n.args {
			c.cond(a)
			c.misusedSize(a)
		}
	case nCompare:
		c.condOperands(n.args)
		c.distinct(n.op, n.args)
	case nBetween:
		c.condOperands(n.args)
		c.between(n.args[1], n.args[2])
	case nIn:
		c.condOperands(n.args)
	case nFunc:
		c.condFunc(n)
	}
}

func (c *checker) condOperands(args []*node) {
	c.misusedFuncs(args)
	for _, a := range args {
		c.condOperand(a)
	}
}

// condOperand resolves an operand and returns its type when known.
func (c *checker) condOperand(n *node) string {
	if n.parens >= 2 {
		c.record(catParens, "The expression has redundant parentheses;")
	}
	switch n.kind {
	case nPath:
		c.resolvePath(n)
	case nValue:
		c.resolveValue(n)
		return immediateType(n)
	case nFunc:
		return c.condFunc(n)
	}
	return ""
}

func (c *checker) misusedFuncs(args []*node) {
	for _, a := range args {
		if a.kind == nFunc && a.op != "size" {
			c.record(catMisused, msgMisused, a.op)
		}
	}
}

func (c *checker) misusedSize(n *node) {
	if n.kind == nFunc && n.op == "size" {
		c.record(catMisused, msgMisused, n.op)
	}
}

func (c *checker) distinct(op string, args []*node) {
	if len(args) != 2 || args[0].kind != nPath || args[1].kind != nPath ||
		args[0].path == nil || args[1].path == nil || !args[0].path.equal(args[1].path) {
		return
	}
	c.record(catDistinct, "The first operand must be distinct from the remaining operands for this operator or function; operator: %s, first operand: %s",
		op, args[0].path.listString())
}

func (c *checker) between(lo, hi *node) {
	t1, t2 := immediateType(lo), immediateType(hi)
	if t1 == "" || t2 == "" {
		return
	}
	if t1 != t2 {
		c.record(catFunction, "The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: %s, upper bound operand: AttributeValue: %s",
			formatValue(lo.val), formatValue(hi.val))
		return
	}
	if cmp, ok := attr.Compare(lo.val, hi.val); ok && cmp > 0 {
		c.record(catFunction, "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: %s, upper bound operand: AttributeValue: %s",
			formatValue(lo.val), formatValue(hi.val))
	}
}

// condFunc checks a condition function and returns its result type.
func (c *checker) condFunc(n *node) string {
	c.misusedFuncs(n.args)
	types := make([]string, len(n.args))
	for i, a := range n.args {
		types[i] = c.condOperand(a)
	}
	want, known := condFuncArity[n.op]
	if !known {
		c.record(catUnknownFunc, "Invalid function name; function: %s", n.op)
		return ""
	}
	if len(n.args) != want {
		c.record(catOperand, msgArity, n.op, len(n.args))
		return ""
	}
	c.distinct(n.op, n.args)
	switch n.op {
	case "attribute_exists", "attribute_not_exists":
		if n.args[0].kind != nPath {
			c.record(catFunction, msgNeedsPath, n.op)
		}
	case "begins_with":
		for _, t := range types {
			if t != "" && t != "S" && t != "B" {
				c.record(catFunction, msgFuncType, n.op, t)
				break
			}
		}
	case "attribute_type":
		switch t := types[1]; {
		case t == "":
			c.record(catFunction, msgFuncType, n.op, "{NS,SS,L,BS,N,M,B,BOOL,NULL,S}")
		case t != "S":
			c.record(catFunction, msgFuncType, n.op, t)
		case n.args[1].kind == nValue && !attributeTypes[n.args[1].val.S]:
			c.record(catFunction, "Invalid attribute type name found; type: %s, valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}", n.args[1].val.S)
		}
	case "size":
		if t := types[0]; t == "N" || t == "BOOL" || t == "NULL" {
			c.record(catFunction, msgFuncType, n.op, t)
		}
		return "N"
	}
	return "BOOL"
}

// ---- updates ----

var updateFuncArity = map[string]int{"if_not_exists": 2, "list_append": 2}

// updValue resolves a SET value and returns its type when known.
func (c *checker) updValue(n *node) string {
	switch n.kind {
	case nPath:
		c.resolvePath(n)
	case nValue:
		c.resolveValue(n)
		return immediateType(n)
	case nArith:
		for _, a := range n.args {
			c.updValue(a)
		}
		for _, a := range n.args {
			if t := immediateType(a); t != "" && t != "N" {
				c.record(catFunction, msgFuncType, n.op, t)
				break
			}
		}
		return "N"
	case nFunc:
		types := make([]string, len(n.args))
		for i, a := range n.args {
			types[i] = c.updValue(a)
		}
		want, known := updateFuncArity[n.op]
		if !known {
			c.record(catUnknownFunc, "Invalid function name; function: %s", n.op)
			return ""
		}
		if len(n.args) != want {
			c.record(catFunction, msgArity, n.op, len(n.args))
			return ""
		}
		switch n.op {
		case "if_not_exists":
			if n.args[0].kind != nPath {
				c.record(catFunction, msgNeedsPath, n.op)
			}
			return types[1]
		case "list_append":
			for _, a := range n.args {
				if t := immediateType(a); t != "" && t != "L" {
					c.record(catFunction, msgFuncType, n.op, t)
					break
				}
			}
			return "L"
		}
	}
	return ""
}

var operandTypeWords = map[attr.Type]string{
	attr.S: "STRING", attr.N: "NUMBER", attr.B: "BINARY", attr.NULL: "NULL",
	attr.BOOL: "BOOLEAN", attr.L: "LIST", attr.M: "MAP",
}

// addDeleteOperand checks the :value of an ADD or DELETE action.
func (c *checker) addDeleteOperand(kind actKind, n *node) {
	if !c.resolveValue(n) {
		return
	}
	w, scalar := operandTypeWords[n.val.Type]
	if scalar && !(kind == actAdd && n.val.Type == attr.N) {
		c.record(catOperand, "Incorrect operand type for operator or function; operator: %s, operand type: %s", kind, w)
	}
}

// formatValue renders a value as DynamoDB's messages do: {N:1}, {S:abc}.
func formatValue(v attr.Value) string {
	var body string
	switch v.Type {
	case attr.S, attr.N:
		body = v.S
	case attr.B:
		body = base64.StdEncoding.EncodeToString(v.B)
	case attr.BOOL:
		body = fmt.Sprint(v.Bool)
	case attr.NULL:
		body = "true"
	case attr.SS, attr.NS:
		body = "[" + strings.Join(v.Set, ", ") + "]"
	case attr.BS:
		parts := make([]string, len(v.BSet))
		for i, b := range v.BSet {
			parts[i] = base64.StdEncoding.EncodeToString(b)
		}
		body = "[" + strings.Join(parts, ", ") + "]"
	case attr.L:
		parts := make([]string, len(v.L))
		for i, e := range v.L {
			parts[i] = formatValue(e)
		}
		body = "[" + strings.Join(parts, ", ") + "]"
	case attr.M:
		keys := sortedKeys(v.M)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + formatValue(v.M[k])
		}
		body = "{" + strings.Join(parts, ", ") + "}"
	}
	return "{" + v.Type.String() + ":" + body + "}"
}
