package expr

import (
	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/attr"
)

// ExpectedAttributeValue is one entry of the legacy Expected parameter.
type ExpectedAttributeValue struct {
	Value              *attr.Value  `json:"Value,omitempty"`
	Exists             *bool        `json:"Exists,omitempty"`
	ComparisonOperator string       `json:"ComparisonOperator,omitempty"`
	AttributeValueList []attr.Value `json:"AttributeValueList,omitempty"`
}

// Condition is one entry of the legacy KeyConditions, QueryFilter or
// ScanFilter parameters.
type Condition struct {
	ComparisonOperator string       `json:"ComparisonOperator"`
	AttributeValueList []attr.Value `json:"AttributeValueList,omitempty"`
}

// AttributeValueUpdate is one entry of the legacy AttributeUpdates
// parameter. Action is PUT (the default), ADD or DELETE.
type AttributeValueUpdate struct {
	Value  *attr.Value `json:"Value,omitempty"`
	Action string      `json:"Action,omitempty"`
}

const msgInvalidParams = "One or more parameter values were invalid: "

var comparisonOperators = map[string]bool{
	"EQ": true, "NE": true, "IN": true, "LE": true, "LT": true, "GE": true, "GT": true,
	"BETWEEN": true, "NOT_NULL": true, "NULL": true, "CONTAINS": true, "NOT_CONTAINS": true, "BEGINS_WITH": true,
}

// checkComparisonOperator rejects an operator outside the enum, as the
// request validator words it (param is e.g. "queryFilter").
func checkComparisonOperator(param, attrName, op string) error {
	if comparisonOperators[op] {
		return nil
	}
	val := "null"
	if op != "" {
		val = "'" + op + "'"
	}
	return apierr.Validation("1 validation error detected: Value %s at '%s.%s.member.comparisonOperator' failed to satisfy constraint: "+
		"Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]",
		val, param, attrName)
}

func checkConditionalOperator(op string) error {
	switch op {
	case "", "AND", "OR":
		return nil
	}
	return apierr.Validation("1 validation error detected: Value '%s' at 'conditionalOperator' failed to satisfy constraint: "+
		"Member must satisfy enum value set: [OR, AND]", op)
}

// legacyArity is the number of values each operator takes (-1: one or more).
var legacyArity = map[string]int{
	"NULL": 0, "NOT_NULL": 0, "EQ": 1, "NE": 1, "LE": 1, "LT": 1, "GE": 1, "GT": 1,
	"CONTAINS": 1, "NOT_CONTAINS": 1, "BEGINS_WITH": 1, "IN": -1, "BETWEEN": 2,
}

var (
	scalarTypes  = map[attr.Type]bool{attr.S: true, attr.N: true, attr.B: true}
	keyEqTypes   = map[attr.Type]bool{attr.S: true, attr.N: true, attr.B: true, attr.SS: true, attr.NS: true, attr.BS: true}
	prefixTypes  = map[attr.Type]bool{attr.S: true, attr.B: true}
	legacyTypeOK = map[string]map[attr.Type]bool{
		"LE": scalarTypes, "LT": scalarTypes, "GE": scalarTypes, "GT": scalarTypes,
		"CONTAINS": scalarTypes, "NOT_CONTAINS": scalarTypes, "IN": scalarTypes, "BETWEEN": scalarTypes,
		"BEGINS_WITH": prefixTypes,
	}
)

// checkLegacyValues validates a ComparisonOperator's AttributeValueList:
// its length, that its values share one type allowed for the operator, and
// BETWEEN's order. key restricts EQ to scalars and sets (KeyConditions).
func checkLegacyValues(op string, vals []attr.Value, key bool) error {
	n, ok := legacyArity[op]
	if !ok || (n >= 0 && len(vals) != n) || (n < 0 && len(vals) == 0) {
		return apierr.Validation(msgInvalidParams+"Invalid number of argument(s) for the %s ComparisonOperator", op)
	}
	for i := 1; i < len(vals); i++ {
		if vals[i].Type != vals[0].Type {
			return apierr.Validation(msgInvalidParams + "AttributeValues inside AttributeValueList must be of same type")
		}
	}
	allowed := legacyTypeOK[op]
	if key && (op == "EQ" || op == "NE") {
		allowed = keyEqTypes
	}
	if allowed != nil {
		for _, v := range vals {
			if !allowed[v.Type] {
				return apierr.Validation(msgInvalidParams+"ComparisonOperator %s is not valid for %s AttributeValue type", op, v.Type)
			}
		}
	}
	if op == "BETWEEN" {
		if c, ok := attr.Compare(vals[0], vals[1]); ok && c > 0 {
			return apierr.Validation("The BETWEEN condition was provided a range where the lower bound is greater than the upper bound")
		}
	}
	return nil
}

// legacyNode builds the condition tree for "attribute op values".
func legacyNode(name, op string, vals []attr.Value) *node {
	path := &node{kind: nPath, path: Path{{Name: name}}}
	val := func(v attr.Value) *node { return &node{kind: nValue, val: v} }
	switch op {
	case "NULL":
		return &node{kind: nFunc, op: "attribute_not_exists", args: []*node{path}}
	case "NOT_NULL":
		return &node{kind: nFunc, op: "attribute_exists", args: []*node{path}}
	case "CONTAINS":
		return &node{kind: nFunc, op: "contains", args: []*node{path, val(vals[0])}}
	case "NOT_CONTAINS":
		return &node{kind: nNot, args: []*node{{kind: nFunc, op: "contains", args: []*node{path, val(vals[0])}}}}
	case "BEGINS_WITH":
		return &node{kind: nFunc, op: "begins_with", args: []*node{path, val(vals[0])}}
	case "IN":
		args := []*node{path}
		for _, v := range vals {
			args = append(args, val(v))
		}
		return &node{kind: nIn, args: args}
	case "BETWEEN":
		return &node{kind: nBetween, args: []*node{path, val(vals[0]), val(vals[1])}}
	}
	cmp := map[string]string{"EQ": "=", "NE": "<>", "LT": "<", "LE": "<=", "GT": ">", "GE": ">="}[op]
	return &node{kind: nCompare, op: cmp, args: []*node{path, val(vals[0])}}
}

// combine joins terms with AND or OR.
func combine(terms []*node, conditionalOperator string) *node {
	kind := nAnd
	if conditionalOperator == "OR" {
		kind = nOr
	}
	root := terms[0]
	for _, t := range terms[1:] {
		root = &node{kind: kind, args: []*node{root, t}}
	}
	return root
}

// FromExpected translates the legacy Expected and ConditionalOperator
// parameters into a condition, validating them with DynamoDB's messages. An
// empty map yields a nil Cond.
func FromExpected(exp map[string]ExpectedAttributeValue, conditionalOperator string) (Cond, error) {
	if err := checkConditionalOperator(conditionalOperator); err != nil {
		return nil, err
	}
	var terms []*node
	for _, name := range sortedKeys(exp) {
		e := exp[name]
		if e.Value != nil && e.AttributeValueList != nil {
			return nil, apierr.Validation(msgInvalidParams+"Value and AttributeValueList cannot be used together for Attribute: %s", name)
		}
		if e.ComparisonOperator != "" {
			if e.Exists != nil {
				return nil, apierr.Validation(msgInvalidParams+"Exists and ComparisonOperator cannot be used together for Attribute: %s", name)
			}
			if err := checkComparisonOperator("expected", name, e.ComparisonOperator); err != nil {
				return nil, err
			}
			op := e.ComparisonOperator
			vals := e.AttributeValueList
			if e.Value != nil {
				vals = []attr.Value{*e.Value}
			}
			if op != "NULL" && op != "NOT_NULL" && e.Value == nil && e.AttributeValueList == nil {
				return nil, apierr.Validation(msgInvalidParams+"Value or AttributeValueList must be used with ComparisonOperator: %s for Attribute: %s", op, name)
			}
			if err := checkLegacyValues(op, vals, false); err != nil {
				return nil, err
			}
			terms = append(terms, legacyNode(name, op, vals))
			continue
		}
		if e.AttributeValueList != nil {
			return nil, apierr.Validation(msgInvalidParams+"AttributeValueList can only be used with a ComparisonOperator for Attribute: %s", name)
		}
		exists := e.Exists == nil || *e.Exists
		switch {
		case exists && e.Value == nil:
			word := "null"
			if e.Exists != nil {
				word = "true"
			}
			return nil, apierr.Validation(msgInvalidParams+"Value must be provided when Exists is %s for Attribute: %s", word, name)
		case !exists && e.Value != nil:
			return nil, apierr.Validation(msgInvalidParams+"Value cannot be used when Exists is false for Attribute: %s", name)
		case exists:
			terms = append(terms, legacyNode(name, "EQ", []attr.Value{*e.Value}))
		default:
			terms = append(terms, legacyNode(name, "NULL", nil))
		}
	}
	if len(terms) == 0 {
		return nil, nil
	}
	return newCondition(combine(terms, conditionalOperator)), nil
}

// FromConditions translates the legacy QueryFilter or ScanFilter (param
// names which, for messages) and ConditionalOperator into a condition. An
// empty map yields a nil Cond.
func FromConditions(param string, conds map[string]Condition, conditionalOperator string) (Cond, error) {
	if err := checkConditionalOperator(conditionalOperator); err != nil {
		return nil, err
	}
	var terms []*node
	for _, name := range sortedKeys(conds) {
		c := conds[name]
		if err := checkComparisonOperator(lowerFirst(param), name, c.ComparisonOperator); err != nil {
			return nil, err
		}
		if err := checkLegacyValues(c.ComparisonOperator, c.AttributeValueList, false); err != nil {
			return nil, err
		}
		terms = append(terms, legacyNode(name, c.ComparisonOperator, c.AttributeValueList))
	}
	if len(terms) == 0 {
		return nil, nil
	}
	return newCondition(combine(terms, conditionalOperator)), nil
}

func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}

// UpdateFromAttributeUpdates translates the legacy AttributeUpdates: PUT
// (the default) sets the attribute, ADD adds a number, unions a set or
// appends a list, DELETE without a value removes the attribute and with a
// set value removes those elements. Type clashes found by Apply use the
// legacy message ("Type mismatch for attribute to update").
func UpdateFromAttributeUpdates(m map[string]AttributeValueUpdate) (*Update, error) {
	u := &Update{legacy: true}
	for _, name := range sortedKeys(m) {
		a := m[name]
		action := a.Action
		if action == "" {
			action = "PUT"
		}
		switch action {
		case "PUT", "ADD", "DELETE":
		default:
			return nil, apierr.Validation("1 validation error detected: Value '%s' at 'attributeUpdates.%s.member.action' failed to satisfy constraint: "+
				"Member must satisfy enum value set: [ADD, PUT, DELETE]", a.Action, name)
		}
		path := Path{{Name: name}}
		if a.Value == nil {
			if action != "DELETE" {
				return nil, apierr.Validation(msgInvalidParams + "Only DELETE action is allowed when no attribute value is specified")
			}
			u.actions = append(u.actions, action2(actRemove, path, nil))
			continue
		}
		v := *a.Value
		switch action {
		case "PUT":
			u.actions = append(u.actions, action2(actSet, path, &node{kind: nValue, val: v}))
		case "ADD":
			switch v.Type {
			case attr.N, attr.SS, attr.NS, attr.BS, attr.L:
			default:
				return nil, apierr.Validation(msgInvalidParams+"ADD action is not supported for the type %s", v.Type)
			}
			u.actions = append(u.actions, action2(actAdd, path, &node{kind: nValue, val: v}))
		case "DELETE":
			switch v.Type {
			case attr.SS, attr.NS, attr.BS:
			default:
				return nil, apierr.Validation(msgInvalidParams+"DELETE action with value is not supported for the type %s", v.Type)
			}
			u.actions = append(u.actions, action2(actDelete, path, &node{kind: nValue, val: v}))
		}
	}
	return u, nil
}

func action2(kind actKind, path Path, value *node) action {
	return action{kind: kind, path: path, value: value}
}
