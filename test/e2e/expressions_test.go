package e2e

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// dUpdate runs an UpdateItem returning ALL_NEW and fails the test on error.
func dUpdate(t *testing.T, cl *dynamodb.Client, table string, key dItem, ue string, names map[string]string, vals dItem) dItem {
	t.Helper()
	out, err := cl.UpdateItem(dCtx(t), &dynamodb.UpdateItemInput{
		TableName: aws.String(table), Key: key, UpdateExpression: aws.String(ue),
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals, ReturnValues: types.ReturnValueAllNew,
	})
	if err != nil {
		t.Fatalf("update %q: %v", ue, err)
	}
	return out.Attributes
}

// TestExprUpdateActions covers SET, REMOVE, ADD and DELETE on numbers, sets,
// lists and maps, with if_not_exists, list_append and arithmetic.
func TestExprUpdateActions(t *testing.T) {
	_, cl := dServer(t)
	ctx := dCtx(t)
	dHashTable(t, cl, "upd")
	key := dK("k")
	base := dItem{
		"pk": dS("k"), "n": dNi(5), "s": dS("a"),
		"ss": dSS("a", "b", "c"), "ns": dNS("1", "2"), "bs": dBS([]byte{1}, []byte{2}),
		"l": dL(dNi(0), dNi(1), dNi(2), dNi(3)),
		"m": dM(dItem{"a": dM(dItem{"b": dNi(1)})}),
	}
	reset := func() { dPut(t, cl, "upd", base) }

	t.Run("all four clauses", func(t *testing.T) {
		reset()
		got := dUpdate(t, cl, "upd", key,
			"SET n = n + :one, s2 = :s REMOVE s ADD ns :ns3, cnt :one, newset :x DELETE ss :ab, bs :b1",
			nil, dItem{":one": dNi(1), ":s": dS("two"), ":ns3": dNS("3", "1"), ":x": dSS("x"), ":ab": dSS("a", "b", "zz"), ":b1": dBS([]byte{1})})
		want := dWith(base, "n", dNi(6), "s2", dS("two"), "ns", dNS("1", "2", "3"), "cnt", dNi(1), "newset", dSS("x"), "ss", dSS("c"), "bs", dBS([]byte{2}))
		delete(want, "s")
		dSameItem(t, "after SET/REMOVE/ADD/DELETE", got, want)
		// Deleting the last elements removes the attribute.
		got = dUpdate(t, cl, "upd", key, "DELETE ss :c, bs :b2", nil, dItem{":c": dSS("c"), ":b2": dBS([]byte{2})})
		delete(want, "ss")
		delete(want, "bs")
		dSameItem(t, "after emptying sets", got, want)
		// Clause keywords are case-insensitive and may come in any order.
		got = dUpdate(t, cl, "upd", key, "remove s2 add n :neg set z = :z", nil, dItem{":neg": dN("-6.5"), ":z": dNull()})
		delete(want, "s2")
		want = dWith(want, "n", dN("-0.5"), "z", dNull())
		dSameItem(t, "lower-case clauses", got, want)
	})

	t.Run("if_not_exists and arithmetic", func(t *testing.T) {
		reset()
		vals := dItem{":zero": dNi(0), ":one": dNi(1), ":d": dS("default")}
		got := dUpdate(t, cl, "upd", key, "SET c = if_not_exists(c, :zero) + :one, s = if_not_exists(s, :d), t = if_not_exists(t, :d)", nil, vals)
		if dCanon(got["c"]) != "N:1" || dCanon(got["s"]) != `S:"a"` || dCanon(got["t"]) != `S:"default"` {
			t.Errorf("first if_not_exists: %s", dCanonItem(got))
		}
		got = dUpdate(t, cl, "upd", key, "SET c = if_not_exists(c, :zero) + :one, s = if_not_exists(s, :d), t = if_not_exists(t, :d)", nil, vals)
		if dCanon(got["c"]) != "N:2" {
			t.Errorf("second if_not_exists: c = %s", dCanon(got["c"]))
		}
		big := dN("12345678901234567890123456789012345678")
		got = dUpdate(t, cl, "upd", key, "SET a = n - :big, b = :big + :one, n = n - n", nil, dItem{":big": big, ":one": dNi(1)})
		if dCanon(got["a"]) != "N:-12345678901234567890123456789012345673" || dCanon(got["n"]) != "N:0" || dCanon(got["b"]) != "N:12345678901234567890123456789012345679" {
			t.Errorf("arithmetic: a=%s b=%s n=%s", dCanon(got["a"]), dCanon(got["b"]), dCanon(got["n"]))
		}
		// A result of 39 significant digits cannot be stored.
		_, err := cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("upd"), Key: key, UpdateExpression: aws.String("SET b = b + :frac"), ExpressionAttributeValues: dItem{":frac": dN("0.5")}})
		dWantValidation(t, err, "Attempting to store more than 38 significant digits in a Number")
		for _, tc := range []struct{ ue, msg string }{
			{"SET x = s + :one", "An operand in the update expression has an incorrect data type"},
			{"SET x = nothere + :one", "The provided expression refers to an attribute that does not exist in the item"},
			{"ADD s :one", "An operand in the update expression has an incorrect data type"},
			{"SET x = :one + :s", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: +, operand type: S"},
		} {
			vals := dItem{":one": dNi(1)}
			if tc.ue == "SET x = :one + :s" {
				vals[":s"] = dS("s")
			}
			_, err := cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("upd"), Key: key, UpdateExpression: aws.String(tc.ue), ExpressionAttributeValues: vals})
			dWantValidation(t, err, tc.msg)
		}
	})

	t.Run("lists and nested paths", func(t *testing.T) {
		reset()
		n := func(i int) types.AttributeValue { return dNi(i) }
		got := dUpdate(t, cl, "upd", key, "SET l = list_append(l, :tail), l2 = list_append(:head, if_not_exists(l2, :empty))", nil,
			dItem{":tail": dL(n(4)), ":head": dL(dS("h")), ":empty": dL()})
		dSameItem(t, "list_append", dItem{"l": got["l"], "l2": got["l2"]}, dItem{"l": dL(n(0), n(1), n(2), n(3), n(4)), "l2": dL(dS("h"))})
		// An index past the end appends; a REMOVE shifts the rest left, and
		// REMOVEs of several indexes all refer to the list as it was.
		got = dUpdate(t, cl, "upd", key, "SET l[1] = :x, l[99] = :y", nil, dItem{":x": dS("x"), ":y": dS("y")})
		dSameItem(t, "SET l[i]", dItem{"l": got["l"]}, dItem{"l": dL(n(0), dS("x"), n(2), n(3), n(4), dS("y"))})
		got = dUpdate(t, cl, "upd", key, "REMOVE l[0], l[2], l[40]", nil, nil)
		dSameItem(t, "REMOVE l[i]", dItem{"l": got["l"]}, dItem{"l": dL(dS("x"), n(3), n(4), dS("y"))})
		// Nested maps: set a deep leaf, add a key, remove one.
		got = dUpdate(t, cl, "upd", key, "SET m.a.b = m.a.b + :one, m.a.c = :l, #m.#new = :one REMOVE m.a.gone", map[string]string{"#m": "m", "#new": "new.key"}, dItem{":one": n(1), ":l": dL(dM(dItem{"z": n(0)}))})
		dSameItem(t, "nested SET", dItem{"m": got["m"]}, dItem{"m": dM(dItem{"a": dM(dItem{"b": n(2), "c": dL(dM(dItem{"z": n(0)}))}), "new.key": n(1)})})
		got = dUpdate(t, cl, "upd", key, "SET m.a.c[0].z = :one, m.a.c[5] = :one", nil, dItem{":one": n(1)})
		dSameItem(t, "path through a list", dItem{"m": got["m"]}, dItem{"m": dM(dItem{"a": dM(dItem{"b": n(2), "c": dL(dM(dItem{"z": n(1)}), n(1))}), "new.key": n(1)})})
		for _, ue := range []string{"SET nope.a = :one", "SET s.a = :one", "SET m.a.b[0] = :one", "SET l.x = :one"} {
			_, err := cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("upd"), Key: key, UpdateExpression: aws.String(ue), ExpressionAttributeValues: dItem{":one": n(1)}})
			dWantValidation(t, err, "The document path provided in the update expression is invalid for update")
		}
		_, err := cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("upd"), Key: key, UpdateExpression: aws.String("SET l = list_append(l, :s)"), ExpressionAttributeValues: dItem{":s": dS("s")}})
		dWantValidation(t, err, "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: list_append, operand type: S")
	})
}

// TestExprConditions evaluates every condition function and comparator,
// BETWEEN, IN, cross-type comparisons and operator precedence through
// ConditionExpression on a PutItem that rewrites the item unchanged.
func TestExprConditions(t *testing.T) {
	_, cl := dServer(t)
	ctx := dCtx(t)
	dHashTable(t, cl, "cond")
	item := dItem{
		"pk": dS("k"), "n": dNi(6), "s": dS("héllo"), "b": dB([]byte{0x00, 0x10}),
		"t": dBool(true), "nul": dNull(),
		"ss": dSS("a", "b"), "ns": dNS("1", "2", "3"), "bs": dBS([]byte{9}),
		"l": dL(dS("a"), dNi(2)), "m": dM(dItem{"x": dNi(1), "y": dM(dItem{"z": dS("deep")})}),
		"Status": dS("on"),
	}
	dPut(t, cl, "cond", item)
	vals := dItem{
		":n5": dNi(5), ":n6": dNi(6), ":n7": dNi(7), ":s6": dS("6"), ":h": dS("h"), ":he": dS("hé"), ":ll": dS("ll"),
		":a": dS("a"), ":z": dS("z"), ":two": dNi(2), ":three": dNi(3), ":six": dNi(6), ":b0": dB([]byte{0x00}), ":b1": dB([]byte{0x01}),
		":S": dS("S"), ":N": dS("N"), ":NS": dS("NS"), ":SS": dS("SS"), ":L": dS("L"), ":M": dS("M"), ":BOOL": dS("BOOL"), ":NULL": dS("NULL"), ":B": dS("B"), ":BS": dS("BS"),
		":t": dBool(true), ":deep": dS("deep"), ":on": dS("on"), ":lst": dL(dS("a"), dNi(2)), ":bs9": dB([]byte{9}),
	}
	for _, tc := range []struct {
		cond string
		want bool
	}{
		{"attribute_exists(n)", true}, {"attribute_exists(zz)", false}, {"attribute_exists(m.y.z)", true}, {"attribute_exists(l[1])", true}, {"attribute_exists(l[2])", false},
		{"attribute_not_exists(zz)", true}, {"attribute_not_exists(n)", false}, {"attribute_not_exists(m.x.q)", true},
		{"attribute_type(n, :N)", true}, {"attribute_type(n, :S)", false}, {"attribute_type(s, :S)", true}, {"attribute_type(b, :B)", true},
		{"attribute_type(t, :BOOL)", true}, {"attribute_type(nul, :NULL)", true}, {"attribute_type(ss, :SS)", true}, {"attribute_type(ns, :NS)", true},
		{"attribute_type(bs, :BS)", true}, {"attribute_type(l, :L)", true}, {"attribute_type(m, :M)", true}, {"attribute_type(zz, :M)", false},
		{"begins_with(s, :h)", true}, {"begins_with(s, :he)", true}, {"begins_with(s, :ll)", false}, {"begins_with(b, :b0)", true}, {"begins_with(n, :s6)", false},
		{"contains(s, :ll)", true}, {"contains(s, :z)", false}, {"contains(ss, :a)", true}, {"contains(ss, :z)", false},
		{"contains(ns, :two)", true}, {"contains(l, :two)", true}, {"contains(l, :a)", true}, {"contains(l, :three)", false}, {"contains(bs, :bs9)", true},
		{"size(s) = :six", true}, {"size(ss) = :two", true}, {"size(ns) = :three", true}, {"size(l) = :two", true}, {"size(m) = :two", true}, {"size(b) = :two", true},
		{"size(zz) = :two", false}, {"size(m.y) < :two", true},
		{"n = :n6", true}, {"n = :n5", false}, {"n <> :n5", true}, {"n <> :n6", false},
		{"n < :n7", true}, {"n < :n6", false}, {"n <= :n6", true}, {"n <= :n5", false},
		{"n > :n5", true}, {"n > :n6", false}, {"n >= :n6", true}, {"n >= :n7", false},
		{":n5 < n", true}, {"s > :h", true}, {"s < :z", true}, {"b < :b1", true}, {"b > :b0", true},
		{"m.y.z = :deep", true}, {"l[0] = :a", true}, {"l = :lst", true}, {"t = :t", true},
		// Different types never compare equal or ordered; they are "not equal".
		{"n = :s6", false}, {"n < :s6", false}, {"n > :s6", false}, {"n <> :s6", true}, {"zz = :n6", false}, {"zz < :n6", false},
		{"n BETWEEN :n5 AND :n7", true}, {"n BETWEEN :n6 AND :n6", true}, {"n BETWEEN :n7 AND :n7", false}, {"s BETWEEN :a AND :z", true},
		{"n IN (:n5, :n6)", true}, {"n IN (:n5, :n7)", false}, {"n IN (:s6)", false}, {"s IN (:a, :h, :z)", false},
		{"#st = :on", true},
		// AND binds tighter than OR, NOT tighter than AND.
		{"n = :n6 OR n = :n5 AND n = :n7", true},
		{"(n = :n6 OR n = :n5) AND n = :n7", false},
		{"NOT n = :n5 AND n = :n7", false},
		{"NOT (n = :n5 AND n = :n7)", true},
		{"NOT n = :n5 OR n = :n7", true},
		{"not attribute_exists(zz) and (n between :n5 and :n7) or s = :z", true},
	} {
		names := map[string]string(nil)
		if tc.cond == "#st = :on" {
			names = map[string]string{"#st": "Status"}
		}
		used := dItem{}
		for k, v := range vals {
			if containsPlaceholder(tc.cond, k) {
				used[k] = v
			}
		}
		if len(used) == 0 {
			used = nil
		}
		_, err := cl.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String("cond"), Item: item, ConditionExpression: aws.String(tc.cond),
			ExpressionAttributeNames: names, ExpressionAttributeValues: used,
		})
		var ccf *types.ConditionalCheckFailedException
		switch {
		case tc.want && err != nil:
			t.Errorf("%s: want true, got %v", tc.cond, err)
		case !tc.want && !errors.As(err, &ccf):
			t.Errorf("%s: want false (ConditionalCheckFailed), got %v", tc.cond, err)
		}
	}
	dSameItem(t, "item after conditions", dGet(t, cl, "cond", dK("k")), item)
}

// containsPlaceholder reports whether expression e uses placeholder p as a
// whole token (":n6" is not used by ":n66").
func containsPlaceholder(e, p string) bool {
	for i := 0; i+len(p) <= len(e); i++ {
		if e[i:i+len(p)] != p {
			continue
		}
		end := i + len(p)
		if end == len(e) {
			return true
		}
		c := e[end]
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80) {
			return true
		}
	}
	return false
}

// TestExprValidation: reserved words and their #name escape, unused and
// undefined placeholders, overlapping and conflicting paths, syntax errors,
// and expression attributes without expressions, with AWS's exact messages.
func TestExprValidation(t *testing.T) {
	_, cl := dServer(t)
	ctx := dCtx(t)
	dHashTable(t, cl, "exprv")
	tbl := aws.String("exprv")
	dPut(t, cl, "exprv", dItem{"pk": dS("k"), "a": dNi(1)})
	one := dItem{":v": dNi(1)}
	for _, tc := range []struct {
		ue    string
		names map[string]string
		vals  dItem
		msg   string
	}{
		{"SET Status = :v", nil, one, "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: Status"},
		{"SET a = :v, data = :v", nil, one, "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: data"},
		{"SET #a = :v", map[string]string{"#a": "a", "#b": "b"}, one, "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}"},
		{"SET a = :v", nil, dItem{":v": dNi(1), ":w": dNi(2)}, "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}"},
		{"SET #c = :v", map[string]string{"#a": "a"}, one, "Invalid UpdateExpression: An expression attribute name used in the document path is not defined; attribute name: #c"},
		{"SET a = :nope", nil, one, "Invalid UpdateExpression: An expression attribute value used in expression is not defined; attribute value: :nope"},
		{"SET a = :v REMOVE a", nil, one, "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]"},
		{"SET m.a = :v, m = :v", nil, one, "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [m, a], path two: [m]"},
		{"SET a.c = :v, a[1] = :v", nil, one, "Invalid UpdateExpression: Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, c], path two: [a, [1]]"},
		{"SET a = :v SET b = :v", nil, one, `Invalid UpdateExpression: The "SET" section can only be used once in an update expression;`},
		{"SET a =", nil, nil, `Invalid UpdateExpression: Syntax error; token: "<EOF>", near: "="`},
		{"SET a = if_not_exist(a, :v)", nil, one, "Invalid UpdateExpression: Invalid function name; function: if_not_exist"},
		{"ADD a :v, l :l", nil, dItem{":v": dNi(1), ":l": dL()}, "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: LIST"},
	} {
		_, err := cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: tbl, Key: dK("k"), UpdateExpression: aws.String(tc.ue), ExpressionAttributeNames: tc.names, ExpressionAttributeValues: tc.vals})
		dWantValidation(t, err, tc.msg)
	}
	// The #name escape makes a reserved word usable.
	got := dUpdate(t, cl, "exprv", dK("k"), "SET #s = :v, #d = :v", map[string]string{"#s": "Status", "#d": "data"}, one)
	dSameItem(t, "escaped reserved words", got, dItem{"pk": dS("k"), "a": dNi(1), "Status": dNi(1), "data": dNi(1)})

	for _, tc := range []struct {
		in  *dynamodb.PutItemInput
		msg string
	}{
		{&dynamodb.PutItemInput{ConditionExpression: aws.String("Status = :v"), ExpressionAttributeValues: one}, "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: Status"},
		{&dynamodb.PutItemInput{ConditionExpression: aws.String("a = :w"), ExpressionAttributeValues: one}, "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :w"},
		{&dynamodb.PutItemInput{ConditionExpression: aws.String("attribute_exists(a)"), ExpressionAttributeValues: one}, "Value provided in ExpressionAttributeValues unused in expressions: keys: {:v}"},
		{&dynamodb.PutItemInput{ExpressionAttributeValues: one}, "ExpressionAttributeValues can only be specified when using expressions"},
		{&dynamodb.PutItemInput{ExpressionAttributeNames: map[string]string{"#a": "a"}}, "ExpressionAttributeNames can only be specified when using expressions"},
		{&dynamodb.PutItemInput{ConditionExpression: aws.String("attribute_exists(a)"), ExpressionAttributeValues: dItem{}}, "ExpressionAttributeValues must not be empty"},
		{&dynamodb.PutItemInput{ConditionExpression: aws.String("")}, "Invalid ConditionExpression: The expression can not be empty;"},
		{&dynamodb.PutItemInput{ConditionExpression: aws.String("a BETWEEN :n2 AND :n1"), ExpressionAttributeValues: dItem{":n1": dNi(1), ":n2": dNi(2)}}, "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {N:2}, upper bound operand: AttributeValue: {N:1}"},
		{&dynamodb.PutItemInput{ConditionExpression: aws.String("a = a")}, "Invalid ConditionExpression: The first operand must be distinct from the remaining operands for this operator or function; operator: =, first operand: [a]"},
		{&dynamodb.PutItemInput{ConditionExpression: aws.String("Begins_With(a, :v)"), ExpressionAttributeValues: one}, "Invalid ConditionExpression: Invalid function name; function: Begins_With"},
	} {
		tc.in.TableName, tc.in.Item = tbl, dK("new")
		_, err := cl.PutItem(ctx, tc.in)
		dWantValidation(t, err, tc.msg)
	}
	if got := dGet(t, cl, "exprv", dK("new")); got != nil {
		t.Errorf("rejected puts stored %s", dCanonItem(got))
	}

	// ProjectionExpression: reserved words, overlap, and nested results.
	dPut(t, cl, "exprv", dItem{"pk": dS("p"), "a": dNi(1), "m": dM(dItem{"x": dNi(1), "y": dNi(2)}), "l": dL(dS("l0"), dS("l1"), dS("l2")), "Status": dS("s")})
	_, err := cl.GetItem(ctx, &dynamodb.GetItemInput{TableName: tbl, Key: dK("p"), ProjectionExpression: aws.String("a, Status")})
	dWantValidation(t, err, "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: Status")
	_, err = cl.GetItem(ctx, &dynamodb.GetItemInput{TableName: tbl, Key: dK("p"), ProjectionExpression: aws.String("m, m.x")})
	dWantValidation(t, err, "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [m], path two: [m, x]")
	out, err := cl.GetItem(ctx, &dynamodb.GetItemInput{TableName: tbl, Key: dK("p"), ProjectionExpression: aws.String("a, m.y, l[2], l[0], #s, nothere, m.nope"), ExpressionAttributeNames: map[string]string{"#s": "Status"}})
	if err != nil {
		t.Fatal(err)
	}
	dSameItem(t, "projection", out.Item, dItem{"a": dNi(1), "m": dM(dItem{"y": dNi(2)}), "l": dL(dS("l0"), dS("l2")), "Status": dS("s")})
}

// TestExprLegacy: Expected, AttributeUpdates and AttributesToGet behave as
// their expression equivalents, and mixing them with expressions is
// rejected with AWS's message.
func TestExprLegacy(t *testing.T) {
	_, cl := dServer(t)
	ctx := dCtx(t)
	dHashTable(t, cl, "legacy")
	tbl := aws.String("legacy")
	item := dItem{"pk": dS("k"), "n": dNi(5), "s": dS("hello"), "ss": dSS("a", "b")}
	dPut(t, cl, "legacy", item)
	av := func(v ...types.AttributeValue) []types.AttributeValue { return v }
	for _, tc := range []struct {
		name     string
		expected map[string]types.ExpectedAttributeValue
		op       types.ConditionalOperator
		want     bool
	}{
		{"Value implies exists", map[string]types.ExpectedAttributeValue{"n": {Value: dNi(5)}}, "", true},
		{"Value mismatch", map[string]types.ExpectedAttributeValue{"n": {Value: dNi(6)}}, "", false},
		{"Exists false", map[string]types.ExpectedAttributeValue{"zz": {Exists: aws.Bool(false)}}, "", true},
		{"Exists false on present", map[string]types.ExpectedAttributeValue{"n": {Exists: aws.Bool(false)}}, "", false},
		{"GT", map[string]types.ExpectedAttributeValue{"n": {ComparisonOperator: types.ComparisonOperatorGt, AttributeValueList: av(dNi(4))}}, "", true},
		{"LT", map[string]types.ExpectedAttributeValue{"n": {ComparisonOperator: types.ComparisonOperatorLt, AttributeValueList: av(dNi(4))}}, "", false},
		{"BETWEEN", map[string]types.ExpectedAttributeValue{"n": {ComparisonOperator: types.ComparisonOperatorBetween, AttributeValueList: av(dNi(5), dNi(9))}}, "", true},
		{"IN", map[string]types.ExpectedAttributeValue{"s": {ComparisonOperator: types.ComparisonOperatorIn, AttributeValueList: av(dS("x"), dS("hello"))}}, "", true},
		{"BEGINS_WITH", map[string]types.ExpectedAttributeValue{"s": {ComparisonOperator: types.ComparisonOperatorBeginsWith, AttributeValueList: av(dS("he"))}}, "", true},
		{"CONTAINS set", map[string]types.ExpectedAttributeValue{"ss": {ComparisonOperator: types.ComparisonOperatorContains, AttributeValueList: av(dS("b"))}}, "", true},
		{"NOT_CONTAINS", map[string]types.ExpectedAttributeValue{"s": {ComparisonOperator: types.ComparisonOperatorNotContains, AttributeValueList: av(dS("ell"))}}, "", false},
		{"NULL", map[string]types.ExpectedAttributeValue{"zz": {ComparisonOperator: types.ComparisonOperatorNull}}, "", true},
		{"NOT_NULL", map[string]types.ExpectedAttributeValue{"zz": {ComparisonOperator: types.ComparisonOperatorNotNull}}, "", false},
		{"NE across types", map[string]types.ExpectedAttributeValue{"n": {ComparisonOperator: types.ComparisonOperatorNe, AttributeValueList: av(dS("5"))}}, "", true},
		{"AND (default)", map[string]types.ExpectedAttributeValue{"n": {Value: dNi(5)}, "s": {Value: dS("nope")}}, "", false},
		{"OR", map[string]types.ExpectedAttributeValue{"n": {Value: dNi(5)}, "s": {Value: dS("nope")}}, types.ConditionalOperatorOr, true},
	} {
		_, err := cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: item, Expected: tc.expected, ConditionalOperator: tc.op})
		var ccf *types.ConditionalCheckFailedException
		if tc.want && err != nil || !tc.want && !errors.As(err, &ccf) {
			t.Errorf("Expected %s: want %v, got %v", tc.name, tc.want, err)
		}
	}

	// AttributeUpdates: PUT, ADD (number and set), DELETE (from a set and whole).
	out, err := cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: tbl, Key: dK("k"),
		AttributeUpdates: map[string]types.AttributeValueUpdate{
			"n":   {Action: types.AttributeActionAdd, Value: dNi(3)},
			"cnt": {Action: types.AttributeActionAdd, Value: dNi(1)},
			"ss":  {Action: types.AttributeActionDelete, Value: dSS("a")},
			"s":   {Action: types.AttributeActionDelete},
			"p":   {Action: types.AttributeActionPut, Value: dS("put")},
			"ns":  {Action: types.AttributeActionAdd, Value: dNS("7")},
		},
		Expected:     map[string]types.ExpectedAttributeValue{"n": {Value: dNi(5)}},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := dItem{"pk": dS("k"), "n": dNi(8), "cnt": dNi(1), "ss": dSS("b"), "p": dS("put"), "ns": dNS("7")}
	dSameItem(t, "AttributeUpdates", out.Attributes, want)

	// AttributesToGet.
	g, err := cl.GetItem(ctx, &dynamodb.GetItemInput{TableName: tbl, Key: dK("k"), AttributesToGet: []string{"n", "p", "missing"}})
	if err != nil {
		t.Fatal(err)
	}
	dSameItem(t, "AttributesToGet", g.Item, dItem{"n": dNi(8), "p": dS("put")})

	// Mixing legacy and expression parameters.
	const mixed = "Can not use both expression and non-expression parameters in the same request: "
	_, err = cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: item, Expected: map[string]types.ExpectedAttributeValue{"n": {Value: dNi(8)}}, ConditionExpression: aws.String("attribute_exists(n)")})
	dWantValidation(t, err, mixed+"Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}")
	_, err = cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: tbl, Key: dK("k"),
		AttributeUpdates:    map[string]types.AttributeValueUpdate{"x": {Action: types.AttributeActionPut, Value: dNi(1)}},
		ConditionExpression: aws.String("attribute_exists(n)")})
	dWantValidation(t, err, mixed+"Non-expression parameters: {AttributeUpdates} Expression parameters: {ConditionExpression}")
	_, err = cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: tbl, Key: dK("k"),
		Expected:         map[string]types.ExpectedAttributeValue{"n": {Value: dNi(8)}},
		UpdateExpression: aws.String("SET x = :v"), ExpressionAttributeValues: dItem{":v": dNi(1)}})
	dWantValidation(t, err, mixed+"Non-expression parameters: {Expected} Expression parameters: {UpdateExpression}")
	_, err = cl.GetItem(ctx, &dynamodb.GetItemInput{TableName: tbl, Key: dK("k"), AttributesToGet: []string{"n"}, ProjectionExpression: aws.String("n")})
	dWantValidation(t, err, mixed+"Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}")
	_, err = cl.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: tbl, Key: dK("k"), Expected: map[string]types.ExpectedAttributeValue{"n": {Value: dNi(8)}}, ConditionExpression: aws.String("attribute_exists(n)")})
	dWantValidation(t, err, mixed+"Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}")
	dSameItem(t, "after rejected mixes", dGet(t, cl, "legacy", dK("k")), want)
}
