package expr

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/godwit-db/godwit/engine/attr"
)

// Cond is a parsed condition: a ConditionExpression, FilterExpression or a
// translated Expected/QueryFilter/ScanFilter. A nil Cond means "no
// condition". Implementations are immutable and safe for concurrent use.
type Cond interface {
	// Eval reports whether item satisfies the condition; a nil item means
	// "no item" (every attribute is missing). Comparing values of different
	// types, or of types without an order, is false, never an error.
	Eval(item attr.Item) bool
	// Paths lists every document path the condition reads, in source order
	// (the engine rejects key attributes in a Query filter with these).
	Paths() []Path
}

// condition is the Cond of this package.
type condition struct {
	root  *node
	paths []Path
}

var _ Cond = (*condition)(nil)

func (c *condition) Eval(item attr.Item) bool { return evalCond(c.root, item) }

func (c *condition) Paths() []Path { return c.paths }

// ParseCondition parses a condition expression. exprName is the request
// parameter it came from ("ConditionExpression" or "FilterExpression"); it
// appears in error messages ("Invalid ConditionExpression: Syntax error;
// token: ..."). Placeholders resolve against p (nil: none), which records
// them as used.
func ParseCondition(exprName, s string, p *Params) (Cond, error) {
	root, err := parseCond(exprName, s, p)
	if err != nil {
		return nil, err
	}
	return newCondition(root), nil
}

// parseCond parses and checks a condition tree.
func parseCond(exprName, s string, p *Params) (*node, error) {
	if err := checkSize(exprName, s); err != nil {
		return nil, err
	}
	ps := newParser(exprName, s, condKeyword)
	root := ps.parseCondition()
	if ps.err != nil {
		return nil, ps.err
	}
	if err := ps.checkCounts(); err != nil {
		return nil, err
	}
	c := &checker{params: p, valuesAsNames: true}
	c.cond(root)
	c.misusedSize(root)
	if err := c.first(exprName, condOrder); err != nil {
		return nil, err
	}
	return root, nil
}

func newCondition(root *node) *condition {
	c := &condition{root: root}
	collectPaths(root, &c.paths)
	return c
}

func collectPaths(n *node, out *[]Path) {
	if n.kind == nPath {
		*out = append(*out, n.path)
		return
	}
	for _, a := range n.args {
		collectPaths(a, out)
	}
}

// ---- evaluation ----

func evalCond(n *node, item attr.Item) bool {
	switch n.kind {
	case nAnd:
		return evalCond(n.args[0], item) && evalCond(n.args[1], item)
	case nOr:
		return evalCond(n.args[0], item) || evalCond(n.args[1], item)
	case nNot:
		return !evalCond(n.args[0], item)
	case nCompare:
		a, aok := operandValue(n.args[0], item)
		b, bok := operandValue(n.args[1], item)
		if (!aok && n.args[0].kind == nFunc) || (!bok && n.args[1].kind == nFunc) {
			return false // size() of a value without a size: no comparison holds
		}
		return compare(n.op, a, aok, b, bok)
	case nBetween:
		x, ok := operandValue(n.args[0], item)
		lo, lok := operandValue(n.args[1], item)
		hi, hok := operandValue(n.args[2], item)
		if !ok || !lok || !hok {
			return false
		}
		c1, ok1 := attr.Compare(x, lo)
		c2, ok2 := attr.Compare(x, hi)
		return ok1 && ok2 && c1 >= 0 && c2 <= 0
	case nIn:
		x, ok := operandValue(n.args[0], item)
		if !ok {
			return false
		}
		for _, a := range n.args[1:] {
			if v, vok := operandValue(a, item); vok && attr.Equal(x, v) {
				return true
			}
		}
		return false
	case nFunc:
		return evalFunc(n, item)
	}
	return false
}

// compare applies a comparator. A missing operand makes every comparison
// false except <>, which is true (a missing value differs from anything).
func compare(op string, a attr.Value, aok bool, b attr.Value, bok bool) bool {
	if !aok || !bok {
		return op == "<>"
	}
	switch op {
	case "=":
		return attr.Equal(a, b)
	case "<>":
		return !attr.Equal(a, b)
	}
	c, ok := attr.Compare(a, b)
	if !ok {
		return false
	}
	switch op {
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}

// operandValue evaluates an operand: a path (missing when absent), a
// value, or size(...) (missing when its argument has no size).
func operandValue(n *node, item attr.Item) (attr.Value, bool) {
	switch n.kind {
	case nPath:
		return n.path.Get(item)
	case nValue:
		return n.val, true
	case nFunc:
		if n.op == "size" && len(n.args) == 1 {
			v, ok := operandValue(n.args[0], item)
			if !ok {
				return attr.Value{}, false
			}
			sz, ok := sizeOf(v)
			if !ok {
				return attr.Value{}, false
			}
			return attr.Value{Type: attr.N, S: strconv.Itoa(sz)}, true
		}
	}
	return attr.Value{}, false
}

// sizeOf is size(): UTF-8 bytes of a string, bytes of a binary, elements of
// a set, list or map. Numbers, booleans and NULL have no size.
func sizeOf(v attr.Value) (int, bool) {
	switch v.Type {
	case attr.S:
		return len(v.S), true
	case attr.B:
		return len(v.B), true
	case attr.SS, attr.NS:
		return len(v.Set), true
	case attr.BS:
		return len(v.BSet), true
	case attr.L:
		return len(v.L), true
	case attr.M:
		return len(v.M), true
	}
	return 0, false
}

func evalFunc(n *node, item attr.Item) bool {
	switch n.op {
	case "attribute_exists":
		_, ok := operandValue(n.args[0], item)
		return ok
	case "attribute_not_exists":
		_, ok := operandValue(n.args[0], item)
		return !ok
	case "attribute_type":
		v, ok := operandValue(n.args[0], item)
		t, tok := operandValue(n.args[1], item)
		return ok && tok && t.Type == attr.S && v.Type.String() == t.S
	case "begins_with":
		v, ok := operandValue(n.args[0], item)
		pre, pok := operandValue(n.args[1], item)
		return ok && pok && beginsWith(v, pre)
	case "contains":
		v, ok := operandValue(n.args[0], item)
		x, xok := operandValue(n.args[1], item)
		return ok && xok && contains(v, x)
	}
	return false
}

func beginsWith(v, prefix attr.Value) bool {
	switch {
	case v.Type == attr.S && prefix.Type == attr.S:
		return strings.HasPrefix(v.S, prefix.S)
	case v.Type == attr.B && prefix.Type == attr.B:
		return bytes.HasPrefix(v.B, prefix.B)
	}
	return false
}

// contains is true for a substring of a string, a subsequence of a binary,
// an element of a set of the matching type, or an element of a list.
func contains(v, x attr.Value) bool {
	switch v.Type {
	case attr.S:
		return x.Type == attr.S && strings.Contains(v.S, x.S)
	case attr.B:
		return x.Type == attr.B && bytes.Contains(v.B, x.B)
	case attr.SS:
		if x.Type == attr.S {
			for _, e := range v.Set {
				if e == x.S {
					return true
				}
			}
		}
	case attr.NS:
		if x.Type == attr.N {
			for _, e := range v.Set {
				if attr.Equal(attr.Value{Type: attr.N, S: e}, x) {
					return true
				}
			}
		}
	case attr.BS:
		if x.Type == attr.B {
			for _, e := range v.BSet {
				if bytes.Equal(e, x.B) {
					return true
				}
			}
		}
	case attr.L:
		for _, e := range v.L {
			if attr.Equal(e, x) {
				return true
			}
		}
	}
	return false
}
