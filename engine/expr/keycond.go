package expr

import (
	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/attr"
)

// SortOp is the comparison a Query applies to the sort key.
type SortOp uint8

// Sort key comparisons; SortNone means the Query has no sort key condition.
const (
	SortNone SortOp = iota
	SortEQ
	SortLT
	SortLE
	SortGT
	SortGE
	SortBetween
	SortBeginsWith
)

var sortOpNames = [...]string{"NONE", "EQ", "LT", "LE", "GT", "GE", "BETWEEN", "BEGINS_WITH"}

// String is the operator's legacy ComparisonOperator name ("EQ", "BETWEEN", ...).
func (o SortOp) String() string {
	if int(o) < len(sortOpNames) {
		return sortOpNames[o]
	}
	return "?"
}

// KeyTerm is one condition of a key condition, before it is matched with
// the key schema.
type KeyTerm struct {
	Name string
	// Op is the legacy ComparisonOperator name: EQ, LT, LE, GT, GE, BETWEEN,
	// BEGINS_WITH, or (legacy KeyConditions only) one Bind rejects.
	Op     string
	Values []attr.Value
}

// KeyCondition is a Query's key condition. ParseKeyCondition and
// KeyConditionFromLegacy only check its shape; Bind matches it with the key
// schema and fills PartitionKey/PartitionValue and SortKey/Op/Values (Op is
// SortNone without a sort key condition; Values holds one value, two for
// SortBetween).
type KeyCondition struct {
	PartitionKey   string
	PartitionValue attr.Value
	SortKey        string
	Op             SortOp
	Values         []attr.Value

	// Terms are the conditions as written (one or two).
	Terms []KeyTerm
}

// KeyAttr names a key attribute and its scalar type (S, N or B).
type KeyAttr struct {
	Name string
	Type attr.Type
}

var exprOpToLegacy = map[string]string{"=": "EQ", "<": "LT", "<=": "LE", ">": "GT", ">=": "GE"}

// flipped turns ":v < k" into "k > :v".
var flipped = map[string]string{"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

// ParseKeyCondition parses a KeyConditionExpression: "k = :v" optionally
// ANDed with one sort key condition (=, <, <=, >, >=, BETWEEN, begins_with).
// OR, NOT, IN, <>, other functions, nested paths and repeated keys are
// rejected with DynamoDB's messages. It does not know the key schema: call
// Bind.
func ParseKeyCondition(s string, p *Params) (*KeyCondition, error) {
	const exprName = "KeyConditionExpression"
	root, err := parseCond(exprName, s, p)
	if err != nil {
		return nil, err
	}
	kc := &KeyCondition{}
	if err := kc.collect(root); err != nil {
		return nil, err
	}
	if err := validateKeyTerms(kc.Terms); err != nil {
		return nil, err
	}
	kc.guess()
	return kc, nil
}

func (kc *KeyCondition) collect(n *node) error {
	switch n.kind {
	case nOr, nNot, nIn:
		return apierr.Validation("Invalid operator used in KeyConditionExpression: %s", map[nodeKind]string{nOr: "OR", nNot: "NOT", nIn: "IN"}[n.kind])
	case nCompare:
		if n.op == "<>" {
			return apierr.Validation("Invalid operator used in KeyConditionExpression: <>")
		}
	case nFunc:
		switch n.op {
		case "attribute_exists", "attribute_not_exists", "attribute_type", "contains":
			return apierr.Validation("Invalid operator used in KeyConditionExpression: %s", n.op)
		case "size":
			return apierr.Validation("KeyConditionExpressions cannot contain nested operations")
		case "begins_with":
			if n.args[0].kind != nPath {
				return apierr.Validation("Invalid condition in KeyConditionExpression: begins_with operator must have the key attribute as its first operand")
			}
		}
	case nBetween:
		if n.args[0].kind != nPath {
			return apierr.Validation("Invalid condition in KeyConditionExpression: BETWEEN operator must have the key attribute as its first operand")
		}
	}
	if n.kind == nAnd {
		for _, a := range n.args {
			if err := kc.collect(a); err != nil {
				return err
			}
		}
		return nil
	}
	var key Path
	keyAt := 0
	for i, a := range n.args {
		switch a.kind {
		case nPath:
			if key != nil {
				return apierr.Validation("Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition")
			}
			if len(a.path) > 1 {
				return apierr.Validation("KeyConditionExpressions cannot have conditions on nested attributes")
			}
			key, keyAt = a.path, i
		case nFunc:
			if err := kc.collect(a); err != nil {
				return err
			}
		}
	}
	if key == nil {
		return apierr.Validation("Invalid condition in KeyConditionExpression: No key attribute specified")
	}
	for _, t := range kc.Terms {
		if t.Name == key[0].Name {
			return apierr.Validation("KeyConditionExpressions must only contain one condition per key")
		}
	}
	term := KeyTerm{Name: key[0].Name}
	for i, a := range n.args {
		if i != keyAt {
			term.Values = append(term.Values, a.val)
		}
	}
	switch n.kind {
	case nCompare:
		op := n.op
		if keyAt != 0 {
			op = flipped[op]
		}
		term.Op = exprOpToLegacy[op]
	case nBetween:
		term.Op = "BETWEEN"
	default:
		term.Op = "BEGINS_WITH"
	}
	kc.Terms = append(kc.Terms, term)
	return nil
}

// validateKeyTerms applies the checks DynamoDB makes on key conditions
// before it looks at the schema.
func validateKeyTerms(terms []KeyTerm) error {
	for _, t := range terms {
		if err := checkLegacyValues(t.Op, t.Values, true); err != nil {
			return err
		}
	}
	if len(terms) != 1 && len(terms) != 2 {
		return apierr.Validation("Conditions can be of length 1 or 2 only")
	}
	return nil
}

// guess fills the key fields before Bind: an EQ term first is taken for the
// partition key.
func (kc *KeyCondition) guess() {
	if len(kc.Terms) == 2 && kc.Terms[0].Op != "EQ" && kc.Terms[1].Op == "EQ" {
		kc.fill(kc.Terms[1], &kc.Terms[0])
		return
	}
	var sk *KeyTerm
	if len(kc.Terms) == 2 {
		sk = &kc.Terms[1]
	}
	kc.fill(kc.Terms[0], sk)
}

func (kc *KeyCondition) fill(pk KeyTerm, sk *KeyTerm) {
	kc.PartitionKey, kc.PartitionValue = pk.Name, attr.Value{}
	if len(pk.Values) > 0 {
		kc.PartitionValue = pk.Values[0]
	}
	kc.SortKey, kc.Op, kc.Values = "", SortNone, nil
	if sk != nil {
		kc.SortKey, kc.Values = sk.Name, sk.Values
		kc.Op = sortOpOf(sk.Op)
	}
}

func sortOpOf(op string) SortOp {
	for i, n := range sortOpNames {
		if n == op && i > 0 {
			return SortOp(i)
		}
	}
	return SortNone
}

// Bind matches the key condition with a table's or index's key schema
// (rng.Name empty: no sort key), fills the key fields, and returns
// DynamoDB's errors for conditions the schema cannot serve: a missing or
// unknown key ("Query condition missed key schema element: k"), a
// non-equality on the partition key ("Query key condition not supported"),
// a non-indexable legacy operator, values of the wrong type.
func (kc *KeyCondition) Bind(hash, rng KeyAttr) error {
	byName := map[string]KeyTerm{}
	for _, t := range kc.Terms {
		byName[t.Name] = t
	}
	for i, k := range []KeyAttr{hash, rng} {
		isHash := i == 0
		if !isHash && k.Name == "" {
			if len(kc.Terms) > 1 {
				return apierr.Validation("Query key condition not supported")
			}
			continue
		}
		t, ok := byName[k.Name]
		if !ok {
			if isHash || len(kc.Terms) > 1 {
				return apierr.Validation("Query condition missed key schema element: %s", k.Name)
			}
			continue
		}
		switch t.Op {
		case "NULL", "NOT_NULL", "NE", "CONTAINS", "NOT_CONTAINS", "IN":
			return apierr.Validation("Attempted conditional constraint is not an indexable operation")
		}
		for _, v := range t.Values {
			if v.Type != k.Type {
				return apierr.Validation("One or more parameter values were invalid: Condition parameter type does not match schema type")
			}
		}
		if isHash && t.Op != "EQ" {
			return apierr.Validation("Query key condition not supported")
		}
	}
	pk := byName[hash.Name]
	if rt, ok := byName[rng.Name]; ok && rng.Name != "" {
		kc.fill(pk, &rt)
	} else {
		kc.fill(pk, nil)
	}
	return nil
}

// KeyConditionFromLegacy translates the legacy KeyConditions parameter.
// Like ParseKeyCondition it checks only the shape; call Bind.
func KeyConditionFromLegacy(conds map[string]Condition) (*KeyCondition, error) {
	kc := &KeyCondition{}
	for _, name := range sortedKeys(conds) {
		c := conds[name]
		if err := checkComparisonOperator("keyConditions", name, c.ComparisonOperator); err != nil {
			return nil, err
		}
		kc.Terms = append(kc.Terms, KeyTerm{Name: name, Op: c.ComparisonOperator, Values: c.AttributeValueList})
	}
	if err := validateKeyTerms(kc.Terms); err != nil {
		return nil, err
	}
	kc.guess()
	return kc, nil
}
