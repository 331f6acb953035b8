package e2e

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestItemAllTypesRoundTrip writes one attribute of each of the ten types
// and reads exactly the same values back, through GetItem (also after a
// restart) and through the ALL_OLD image of the next write.
func TestItemAllTypesRoundTrip(t *testing.T) {
	srv, cl := dServer(t)
	ctx := dCtx(t)
	dHashTable(t, cl, "types")
	item := dItem{
		"pk":   dS("all"),
		"s":    dS("héllo wörld ✓"),
		"n":    dN("-12.5"),
		"b":    dB([]byte{0x00, 0x01, 0xfe, 0xff, 0x00}),
		"bool": dBool(true),
		"f":    dBool(false),
		"null": dNull(),
		"m": dM(dItem{
			"inner": dS("x"),
			"deep":  dM(dItem{"n": dN("7"), "l": dL(dS("a"), dN("1"))}),
			"empty": dM(dItem{}),
		}),
		"l":  dL(dS("a"), dN("2"), dB([]byte{0}), dBool(false), dNull(), dL(), dM(dItem{"k": dS("v")}), dSS("z")),
		"ss": dSS("b", "a", "c"),
		"ns": dNS("3", "-1", "2.5"),
		"bs": dBS([]byte{0x00}, []byte{0x00, 0x00}, []byte{0xff}),
	}
	dPut(t, cl, "types", item)
	dSameItem(t, "GetItem", dGet(t, cl, "types", dK("all")), item)
	srv.Restart(t)
	dSameItem(t, "GetItem after a restart", dGet(t, cl, "types", dK("all")), item)

	out, err := cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("types"), Item: dK("all"), ReturnValues: types.ReturnValueAllOld})
	if err != nil {
		t.Fatal(err)
	}
	dSameItem(t, "ALL_OLD", out.Attributes, item)
	dSameItem(t, "after replace", dGet(t, cl, "types", dK("all")), dK("all"))
}

// TestItemNumbers checks DynamoDB's number rules end to end: values come back
// normalised (never with an exponent), the 38-digit and magnitude limits
// hold, and sets are compared numerically.
func TestItemNumbers(t *testing.T) {
	_, cl := dServer(t)
	ctx := dCtx(t)
	dRangeTable(t, cl, "nums")
	zeros := strings.Repeat
	for _, tc := range []struct{ in, want string }{
		{"00042", "42"},
		{"1.50", "1.5"},
		{"-0", "0"},
		{"0.000", "0"},
		{"1.5E2", "150"},
		{"+7", "7"},
		{"-00.0100", "-0.01"},
		{"12345678901234567890123456789012345678", "12345678901234567890123456789012345678"},
		{"-1234567890123456789012345678901234567800", "-1234567890123456789012345678901234567800"},
		{"0.00012345678901234567890123456789012345678", "0.00012345678901234567890123456789012345678"},
		{"1E+125", "1" + zeros("0", 125)},
		{"-1E-130", "-0." + zeros("0", 129) + "1"},
		{"9.9999999999999999999999999999999999999E+125", zeros("9", 38) + zeros("0", 88)},
	} {
		item := dWith(dK2("n", 1), "v", dN(tc.in), "set", dNS(tc.in, "5"))
		dPut(t, cl, "nums", item)
		got := dGet(t, cl, "nums", dK2("n", 1))
		if g := dCanon(got["v"]); g != "N:"+tc.want {
			t.Errorf("N %q came back as %s, want %s", tc.in, g, tc.want)
		}
		if g, w := dCanon(got["set"]), dCanon(dNS(tc.want, "5")); g != w {
			t.Errorf("NS [%q 5] came back as %s, want %s", tc.in, g, w)
		}
	}

	// A sort key is normalised too, and found by any spelling of its value.
	dPut(t, cl, "nums", dItem{"pk": dS("k"), "sk": dN("007.0")})
	if got := dGet(t, cl, "nums", dItem{"pk": dS("k"), "sk": dN("7")}); dCanon(got["sk"]) != "N:7" {
		t.Errorf("sort key 007.0: got %v", dCanonItem(got))
	}

	for _, tc := range []struct{ in, msg string }{
		{"123456789012345678901234567890123456789", "Attempting to store more than 38 significant digits in a Number"},
		{"1E+126", "Number overflow. Attempting to store a number with magnitude larger than supported range"},
		{"-1E+126", "Number overflow. Attempting to store a number with magnitude larger than supported range"},
		{"1E-131", "Number underflow. Attempting to store a number with magnitude smaller than supported range"},
		{"abc", "A value provided cannot be converted into a number"},
		{"1.2.3", "A value provided cannot be converted into a number"},
	} {
		_, err := cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("nums"), Item: dWith(dK2("bad", 1), "v", dN(tc.in))})
		dWantValidation(t, err, tc.msg)
	}
	if got := dGet(t, cl, "nums", dK2("bad", 1)); got != nil {
		t.Errorf("a rejected number was stored: %s", dCanonItem(got))
	}
}

// dNest wraps a leaf in n single-key maps (or lists): n wrappers put the
// leaf at level n+1, the top-level attribute being level 1.
func dNest(n int, list bool) types.AttributeValue {
	v := dS("leaf")
	for i := 0; i < n; i++ {
		if list {
			v = dL(v)
		} else {
			v = dM(dItem{"n": v})
		}
	}
	return v
}

// TestItemNesting: a leaf at level 32 is accepted, at level 33 rejected,
// for maps and lists alike.
func TestItemNesting(t *testing.T) {
	_, cl := dServer(t)
	ctx := dCtx(t)
	dHashTable(t, cl, "nest")
	const msg = "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit"
	for _, list := range []bool{false, true} {
		ok := dItem{"pk": dS("ok"), "d": dNest(31, list)}
		dPut(t, cl, "nest", ok)
		dSameItem(t, "32 levels", dGet(t, cl, "nest", dK("ok")), ok)

		_, err := cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("nest"), Item: dItem{"pk": dS("deep"), "d": dNest(32, list)}})
		// NB: AWS has been seen to prefix this with "1 validation error
		// detected: " on PutItem; the sentence itself is what clients match.
		if ae := dAPIError(t, err); ae.ErrorCode() != "ValidationException" || !strings.HasSuffix(ae.ErrorMessage(), msg) {
			t.Errorf("33 levels (list=%v): %s %q", list, ae.ErrorCode(), ae.ErrorMessage())
		}
		_, err = cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String("nest"), Key: dK("deep"),
			UpdateExpression:          aws.String("SET d = :d"),
			ExpressionAttributeValues: dItem{":d": dNest(32, list)},
		})
		if ae := dAPIError(t, err); ae.ErrorCode() != "ValidationException" || !strings.Contains(ae.ErrorMessage(), "Nesting Levels have exceeded supported limits") {
			t.Errorf("update to 33 levels (list=%v): %s %q", list, ae.ErrorCode(), ae.ErrorMessage())
		}
		if got := dGet(t, cl, "nest", dK("deep")); got != nil {
			t.Errorf("a too deep item was stored: %.200s", dCanonItem(got))
		}
	}
}

// TestItemEmptyValuesAndSets: empty S and B are fine outside keys, empty L
// and M always; empty sets, duplicate set members and empty keys are not.
func TestItemEmptyValuesAndSets(t *testing.T) {
	_, cl := dServer(t)
	ctx := dCtx(t)
	dHashTable(t, cl, "empty")
	item := dItem{"pk": dS("e"), "s": dS(""), "b": dB([]byte{}), "l": dL(), "m": dM(dItem{})}
	dPut(t, cl, "empty", item)
	dSameItem(t, "empty non-key values", dGet(t, cl, "empty", dK("e")), item)

	for _, tc := range []struct {
		v   types.AttributeValue
		msg string
	}{
		{dSS(), "One or more parameter values were invalid: An string set  may not be empty"},
		{dNS(), "One or more parameter values were invalid: An number set  may not be empty"},
		{dBS(), "One or more parameter values were invalid: Binary sets should not be empty"},
		{dSS("a", "b", "a"), "One or more parameter values were invalid: Input collection [a, b, a] contains duplicates."},
		{dNS("1", "1.0"), "Input collection contains duplicates"},
		{dBS([]byte{1}, []byte{1}), "One or more parameter values were invalid: Input collection [AQ==, AQ==]of type BS contains duplicates."},
		// Nested inside a map, the same rules apply.
		{dM(dItem{"x": dSS()}), "One or more parameter values were invalid: An string set  may not be empty"},
	} {
		_, err := cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("empty"), Item: dItem{"pk": dS("bad"), "v": tc.v}})
		dWantValidation(t, err, tc.msg)
	}
	_, err := cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("empty"), Item: dItem{"pk": dS("")}})
	dWantValidation(t, err, "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: pk")
	_, err = cl.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("empty"), Key: dItem{"pk": dS("")}})
	dWantValidation(t, err, "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: pk")
	if got := dGet(t, cl, "empty", dK("bad")); got != nil {
		t.Errorf("a rejected item was stored: %s", dCanonItem(got))
	}
}

const dReturnValuesEnum = "Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]"

// TestItemReturnValues exercises every legal ReturnValues of PutItem,
// DeleteItem and UpdateItem, and an illegal one of each.
func TestItemReturnValues(t *testing.T) {
	_, cl := dServer(t)
	ctx := dCtx(t)
	dHashTable(t, cl, "rvt")
	tbl := aws.String("rvt")
	old := dItem{"pk": dS("k"), "a": dNi(1), "b": dS("x"), "m": dM(dItem{"x": dNi(1), "y": dNi(2)})}

	t.Run("PutItem", func(t *testing.T) {
		out, err := cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: old, ReturnValues: types.ReturnValueAllOld})
		if err != nil {
			t.Fatal(err)
		}
		if out.Attributes != nil {
			t.Errorf("ALL_OLD of a new item: %s", dCanonItem(out.Attributes))
		}
		out, err = cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: old, ReturnValues: types.ReturnValueNone})
		if err != nil || out.Attributes != nil {
			t.Errorf("NONE: %v %s", err, dCanonItem(out.Attributes))
		}
		out, err = cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: dK("k"), ReturnValues: types.ReturnValueAllOld})
		if err != nil {
			t.Fatal(err)
		}
		dSameItem(t, "PutItem ALL_OLD", out.Attributes, old)
		for _, rv := range []types.ReturnValue{types.ReturnValueAllNew, types.ReturnValueUpdatedOld, types.ReturnValueUpdatedNew} {
			_, err := cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: old, ReturnValues: rv})
			dWantValidation(t, err, "ReturnValues can only be ALL_OLD or NONE")
		}
		_, err = cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: old, ReturnValues: "BOGUS"})
		dWantValidation(t, err, "1 validation error detected: Value 'BOGUS' at 'returnValues' failed to satisfy constraint: "+dReturnValuesEnum)
		dSameItem(t, "after rejected puts", dGet(t, cl, "rvt", dK("k")), dK("k"))
	})

	t.Run("DeleteItem", func(t *testing.T) {
		dPut(t, cl, "rvt", old)
		for _, rv := range []types.ReturnValue{types.ReturnValueAllNew, types.ReturnValueUpdatedOld, types.ReturnValueUpdatedNew} {
			_, err := cl.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: tbl, Key: dK("k"), ReturnValues: rv})
			dWantValidation(t, err, "ReturnValues can only be ALL_OLD or NONE")
		}
		_, err := cl.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: tbl, Key: dK("k"), ReturnValues: "all_old"})
		dWantValidation(t, err, "1 validation error detected: Value 'all_old' at 'returnValues' failed to satisfy constraint: "+dReturnValuesEnum)
		out, err := cl.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: tbl, Key: dK("k"), ReturnValues: types.ReturnValueAllOld})
		if err != nil {
			t.Fatal(err)
		}
		dSameItem(t, "DeleteItem ALL_OLD", out.Attributes, old)
		out, err = cl.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: tbl, Key: dK("k"), ReturnValues: types.ReturnValueAllOld})
		if err != nil || out.Attributes != nil {
			t.Errorf("ALL_OLD of a missing item: %v %s", err, dCanonItem(out.Attributes))
		}
		dPut(t, cl, "rvt", old)
		out, err = cl.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: tbl, Key: dK("k"), ReturnValues: types.ReturnValueNone})
		if err != nil || out.Attributes != nil {
			t.Errorf("NONE: %v %s", err, dCanonItem(out.Attributes))
		}
		if got := dGet(t, cl, "rvt", dK("k")); got != nil {
			t.Errorf("deleted item still there: %s", dCanonItem(got))
		}
	})

	t.Run("UpdateItem", func(t *testing.T) {
		newItem := dItem{"pk": dS("k"), "a": dNi(2), "m": dM(dItem{"x": dNi(2), "y": dNi(2)}), "c": dS("new")}
		for _, tc := range []struct {
			rv   types.ReturnValue
			want dItem
		}{
			{types.ReturnValueNone, nil},
			{"", nil},
			{types.ReturnValueAllOld, old},
			{types.ReturnValueAllNew, newItem},
			// Only the attributes the update touched; REMOVEd ones have no new value,
			// created ones no old value.
			{types.ReturnValueUpdatedOld, dItem{"a": dNi(1), "b": dS("x"), "m": dM(dItem{"x": dNi(1)})}},
			{types.ReturnValueUpdatedNew, dItem{"a": dNi(2), "m": dM(dItem{"x": dNi(2)}), "c": dS("new")}},
		} {
			dPut(t, cl, "rvt", old)
			out, err := cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName: tbl, Key: dK("k"),
				UpdateExpression:          aws.String("SET a = :two, m.x = :two, c = :c REMOVE b"),
				ExpressionAttributeValues: dItem{":two": dNi(2), ":c": dS("new")},
				ReturnValues:              tc.rv,
			})
			if err != nil {
				t.Fatalf("%s: %v", tc.rv, err)
			}
			dSameItem(t, "UpdateItem "+string(tc.rv), out.Attributes, tc.want)
			dSameItem(t, "item after UpdateItem "+string(tc.rv), dGet(t, cl, "rvt", dK("k")), newItem)
		}
		_, err := cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: tbl, Key: dK("k"), UpdateExpression: aws.String("SET a = :a"),
			ExpressionAttributeValues: dItem{":a": dNi(9)}, ReturnValues: "EVERYTHING",
		})
		dWantValidation(t, err, "1 validation error detected: Value 'EVERYTHING' at 'returnValues' failed to satisfy constraint: "+dReturnValuesEnum)
		dSameItem(t, "after rejected update", dGet(t, cl, "rvt", dK("k")), newItem)
	})
}

// TestItemReturnValuesOnConditionCheckFailure: with ALL_OLD the existing item
// rides on ConditionalCheckFailedException.Item, for all three writes; without
// it (or with no existing item) Item is absent.
func TestItemReturnValuesOnConditionCheckFailure(t *testing.T) {
	_, cl := dServer(t)
	ctx := dCtx(t)
	dHashTable(t, cl, "rvf")
	tbl := aws.String("rvf")
	old := dItem{"pk": dS("k"), "v": dNi(1), "tag": dSS("a", "b")}
	dPut(t, cl, "rvf", old)
	cond := aws.String("v = :two")
	vals := dItem{":two": dNi(2)}
	all := types.ReturnValuesOnConditionCheckFailureAllOld

	ccf := func(what string, err error, want dItem) {
		t.Helper()
		var e *types.ConditionalCheckFailedException
		if !errors.As(err, &e) {
			t.Fatalf("%s: want ConditionalCheckFailedException, got %v", what, err)
		}
		if e.ErrorMessage() != "The conditional request failed" {
			t.Errorf("%s: message %q", what, e.ErrorMessage())
		}
		dSameItem(t, what+" Item", e.Item, want)
	}
	_, err := cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: dK("k"), ConditionExpression: cond, ExpressionAttributeValues: vals, ReturnValuesOnConditionCheckFailure: all})
	ccf("PutItem ALL_OLD", err, old)
	_, err = cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: dK("k"), ConditionExpression: cond, ExpressionAttributeValues: vals})
	ccf("PutItem default", err, nil)
	_, err = cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: tbl, Key: dK("k"), UpdateExpression: aws.String("SET w = :two"), ConditionExpression: cond, ExpressionAttributeValues: vals, ReturnValuesOnConditionCheckFailure: all})
	ccf("UpdateItem ALL_OLD", err, old)
	_, err = cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: tbl, Key: dK("k"), UpdateExpression: aws.String("SET w = :two"), ConditionExpression: cond, ExpressionAttributeValues: vals, ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureNone})
	ccf("UpdateItem NONE", err, nil)
	_, err = cl.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: tbl, Key: dK("k"), ConditionExpression: cond, ExpressionAttributeValues: vals, ReturnValuesOnConditionCheckFailure: all})
	ccf("DeleteItem ALL_OLD", err, old)
	_, err = cl.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: tbl, Key: dK("absent"), ConditionExpression: aws.String("attribute_exists(pk)"), ReturnValuesOnConditionCheckFailure: all})
	ccf("DeleteItem of a missing item", err, nil)
	dSameItem(t, "item after failed conditions", dGet(t, cl, "rvf", dK("k")), old)
	if got := dGet(t, cl, "rvf", dK("absent")); got != nil {
		t.Errorf("failed delete created %s", dCanonItem(got))
	}
}

// TestItemConsumedCapacity checks the units: 1 KB write units over the
// larger of the old and new images, 4 KB read units halved when eventually
// consistent, and per-index units under INDEXES.
func TestItemConsumedCapacity(t *testing.T) {
	_, cl := dServer(t)
	ctx := dCtx(t)
	dHashTable(t, cl, "cap")
	tbl := aws.String("cap")
	total := types.ReturnConsumedCapacityTotal
	// pk(2)+"a"(1)+"data"(4) = 7 bytes besides the payload.
	big := dItem{"pk": dS("a"), "data": dS(dPad(2000))} // 2007 bytes: 2 WCU
	small := dK("a")                                    // 3 bytes: 1 WCU

	put := func(it dItem, mode types.ReturnConsumedCapacity) *types.ConsumedCapacity {
		t.Helper()
		out, err := cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: it, ReturnConsumedCapacity: mode})
		if err != nil {
			t.Fatal(err)
		}
		return out.ConsumedCapacity
	}
	dTotal(t, "put 2007 B new", put(big, total), "cap", 2, false)
	dTotal(t, "put 3 B over 2007 B", put(small, total), "cap", 2, false)
	dTotal(t, "put 3 B over 3 B", put(small, total), "cap", 1, false)
	if cc := put(small, types.ReturnConsumedCapacityNone); cc != nil {
		t.Errorf("NONE returned %+v", cc)
	}
	if cc := put(small, ""); cc != nil {
		t.Errorf("default returned %+v", cc)
	}

	up, err := cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: tbl, Key: dK("a"), UpdateExpression: aws.String("SET #d = :d"),
		ExpressionAttributeNames: map[string]string{"#d": "data"}, ExpressionAttributeValues: dItem{":d": dS(dPad(5000))},
		ReturnConsumedCapacity: total,
	})
	if err != nil {
		t.Fatal(err)
	}
	dTotal(t, "update 3 B to 5007 B", up.ConsumedCapacity, "cap", 5, false)

	get := func(key dItem, consistent bool) *types.ConsumedCapacity {
		t.Helper()
		out, err := cl.GetItem(ctx, &dynamodb.GetItemInput{TableName: tbl, Key: key, ConsistentRead: aws.Bool(consistent), ReturnConsumedCapacity: total})
		if err != nil {
			t.Fatal(err)
		}
		return out.ConsumedCapacity
	}
	dTotal(t, "consistent get of 5007 B", get(dK("a"), true), "cap", 2, true)
	dTotal(t, "eventual get of 5007 B", get(dK("a"), false), "cap", 1, true)
	dTotal(t, "consistent get of nothing", get(dK("none"), true), "cap", 1, true)
	dTotal(t, "eventual get of nothing", get(dK("none"), false), "cap", 0.5, true)

	del := func(key dItem) *types.ConsumedCapacity {
		t.Helper()
		out, err := cl.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: tbl, Key: key, ReturnConsumedCapacity: total})
		if err != nil {
			t.Fatal(err)
		}
		return out.ConsumedCapacity
	}
	dTotal(t, "delete of 5007 B", del(dK("a")), "cap", 5, false)
	dTotal(t, "delete of nothing", del(dK("a")), "cap", 1, false)

	t.Run("INDEXES", func(t *testing.T) {
		dIndexedTable(t, cl, "capix")
		// 1500 B of payload plus ~40 B of keys: 2 WCU on the table and on each index.
		it := dItem{"pk": dS("p"), "sk": dNi(1), "g": dS("G"), "gs": dNi(1), "l": dNi(1), "data": dS(dPad(1500))}
		out, err := cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("capix"), Item: it, ReturnConsumedCapacity: types.ReturnConsumedCapacityIndexes})
		if err != nil {
			t.Fatal(err)
		}
		cc := out.ConsumedCapacity
		if cc == nil || aws.ToString(cc.TableName) != "capix" || dUnits(cc) != 6 {
			t.Fatalf("INDEXES total: %+v", cc)
		}
		if cc.Table == nil || aws.ToFloat64(cc.Table.CapacityUnits) != 2 {
			t.Errorf("INDEXES Table: %+v", cc.Table)
		}
		if g, ok := cc.GlobalSecondaryIndexes["byG"]; !ok || aws.ToFloat64(g.CapacityUnits) != 2 || len(cc.GlobalSecondaryIndexes) != 1 {
			t.Errorf("INDEXES GSIs: %+v", cc.GlobalSecondaryIndexes)
		}
		if l, ok := cc.LocalSecondaryIndexes["byL"]; !ok || aws.ToFloat64(l.CapacityUnits) != 2 || len(cc.LocalSecondaryIndexes) != 1 {
			t.Errorf("INDEXES LSIs: %+v", cc.LocalSecondaryIndexes)
		}
		// TOTAL reports the same sum without the breakdown (the item changes,
		// so both index entries are rewritten).
		it["data"] = dS(dPad(1501))
		out, err = cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("capix"), Item: it, ReturnConsumedCapacity: total})
		if err != nil {
			t.Fatal(err)
		}
		if cc := out.ConsumedCapacity; dUnits(cc) != 6 || cc.Table != nil || len(cc.GlobalSecondaryIndexes) != 0 {
			t.Errorf("TOTAL on an indexed table: %v %+v", dUnits(cc), cc)
		}
		// An item outside the GSI (no g) writes only the table and the LSI.
		plain := dItem{"pk": dS("p"), "sk": dNi(2), "l": dNi(2)}
		out, err = cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("capix"), Item: plain, ReturnConsumedCapacity: types.ReturnConsumedCapacityIndexes})
		if err != nil {
			t.Fatal(err)
		}
		cc = out.ConsumedCapacity
		if dUnits(cc) != 2 || len(cc.GlobalSecondaryIndexes) != 0 || aws.ToFloat64(cc.LocalSecondaryIndexes["byL"].CapacityUnits) != 1 {
			t.Errorf("INDEXES for an item outside the GSI: %+v", cc)
		}
	})
}

// TestItemSizeLimits: 400 KB items (exactly at the limit and one byte over,
// by put and by update) and the 2048/1024-byte key limits.
func TestItemSizeLimits(t *testing.T) {
	_, cl := dServer(t)
	ctx := dCtx(t)
	dHashTable(t, cl, "size")
	tbl := aws.String("size")
	const limit = 400 * 1024
	// "pk"+"k" + "d" = 4 bytes besides the payload.
	at := dItem{"pk": dS("k"), "d": dS(dPad(limit - 4))}
	dPut(t, cl, "size", at)
	if got := dGet(t, cl, "size", dK("k")); len(got["d"].(*types.AttributeValueMemberS).Value) != limit-4 {
		t.Errorf("400 KB item did not round trip")
	}
	_, err := cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: dItem{"pk": dS("k2"), "d": dS(dPad(limit - 3))}})
	dWantValidation(t, err, "Item size has exceeded the maximum allowed size")

	// Growing the item at the limit by one byte through UpdateItem.
	_, err = cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: tbl, Key: dK("k"), UpdateExpression: aws.String("SET e = :e"),
		ExpressionAttributeValues: dItem{":e": dBool(true)}, // "e" + 1 byte: 2 bytes over
	})
	dWantValidation(t, err, "Item size to update has exceeded the maximum allowed size")
	// Shrinking is fine, and the exact limit is reachable through UpdateItem too.
	_, err = cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: tbl, Key: dK("k"), UpdateExpression: aws.String("SET d = :d, e = :e"),
		ExpressionAttributeValues: dItem{":d": dS(dPad(limit - 4 - 2)), ":e": dBool(true)},
	})
	if err != nil {
		t.Errorf("update to exactly 400 KB: %v", err)
	}
	if got := dGet(t, cl, "size", dK("k2")); got != nil {
		t.Errorf("oversized item stored")
	}

	dCreate(t, cl, &dynamodb.CreateTableInput{
		TableName: aws.String("keysize"), AttributeDefinitions: dAttrDefs("pk", "S", "sk", "S"), KeySchema: dSchema("pk", "sk"),
	})
	ks := aws.String("keysize")
	okKey := dItem{"pk": dS(dPad(2048)), "sk": dS(dPad(1024))}
	dPut(t, cl, "keysize", okKey)
	dSameItem(t, "maximal key", dGet(t, cl, "keysize", okKey), okKey)
	const hashMsg = "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes"
	const rangeMsg = "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes"
	_, err = cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: ks, Item: dItem{"pk": dS(dPad(2049)), "sk": dS("s")}})
	dWantValidation(t, err, hashMsg)
	_, err = cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: ks, Item: dItem{"pk": dS("p"), "sk": dS(dPad(1025))}})
	dWantValidation(t, err, rangeMsg)
	_, err = cl.GetItem(ctx, &dynamodb.GetItemInput{TableName: ks, Key: dItem{"pk": dS(dPad(2049)), "sk": dS("s")}})
	dWantValidation(t, err, hashMsg)
	_, err = cl.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: ks, Key: dItem{"pk": dS("p"), "sk": dS(dPad(1025))}})
	dWantValidation(t, err, rangeMsg)
}

// TestItemKeyValidation: the messages for a missing key attribute, a key of
// the wrong type, a Key that is not exactly the schema, an index key of the
// wrong type, and an update of a key attribute.
func TestItemKeyValidation(t *testing.T) {
	_, cl := dServer(t)
	ctx := dCtx(t)
	dRangeTable(t, cl, "keys")
	tbl := aws.String("keys")
	for _, tc := range []struct {
		item dItem
		msg  string
	}{
		{dItem{"sk": dNi(1), "a": dS("x")}, "One or more parameter values were invalid: Missing the key pk in the item"},
		{dItem{"pk": dS("p"), "a": dS("x")}, "One or more parameter values were invalid: Missing the key sk in the item"},
		{dItem{"pk": dNi(1), "sk": dNi(1)}, "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N"},
		{dItem{"pk": dS("p"), "sk": dS("1")}, "One or more parameter values were invalid: Type mismatch for key sk expected: N actual: S"},
	} {
		_, err := cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: tc.item})
		dWantValidation(t, err, tc.msg)
	}
	const mismatch = "The provided key element does not match the schema"
	for _, key := range []dItem{
		{"pk": dS("p")},                             // missing sort key
		{"pk": dS("p"), "sk": dS("1")},              // wrong type
		{"pk": dS("p"), "sk": dNi(1), "x": dS("1")}, // extra attribute
		{"pk": dS("p"), "other": dNi(1)},            // wrong name
	} {
		_, err := cl.GetItem(ctx, &dynamodb.GetItemInput{TableName: tbl, Key: key})
		dWantValidation(t, err, mismatch)
		_, err = cl.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: tbl, Key: key})
		dWantValidation(t, err, mismatch)
		_, err = cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: tbl, Key: key, UpdateExpression: aws.String("SET a = :a"), ExpressionAttributeValues: dItem{":a": dNi(1)}})
		dWantValidation(t, err, mismatch)
	}
	for _, ue := range []string{"SET pk = :a", "SET sk = :a", "REMOVE sk", "ADD sk :a"} {
		_, err := cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: tbl, Key: dK2("p", 1), UpdateExpression: aws.String(ue), ExpressionAttributeValues: valsFor(ue)})
		name := "pk"
		if strings.Contains(ue, "sk") {
			name = "sk"
		}
		dWantValidation(t, err, "One or more parameter values were invalid: Cannot update attribute "+name+". This attribute is part of the key")
	}
	if got := dGet(t, cl, "keys", dK2("p", 1)); got != nil {
		t.Errorf("rejected updates created %s", dCanonItem(got))
	}

	dIndexedTable(t, cl, "keysix")
	_, err := cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("keysix"), Item: dItem{"pk": dS("p"), "sk": dNi(1), "g": dNi(5)}})
	dWantValidation(t, err, "One or more parameter values were invalid: Type mismatch for Index Key g Expected: S Actual: N IndexName: byG")
	_, err = cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("keysix"), Item: dItem{"pk": dS("p"), "sk": dNi(1), "g": dS("")}})
	dWantValidation(t, err, "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty string value. IndexName: byG, IndexKey: g")
}

// valsFor gives an update expression the :a it names, if any.
func valsFor(ue string) dItem {
	if strings.Contains(ue, ":a") {
		return dItem{":a": dNi(1)}
	}
	return nil
}

// TestItemUpdateUpsertAndNoop: UpdateItem with only a Key creates a key-only
// item; an update that changes nothing leaves the item as it was and still
// answers with its values.
func TestItemUpdateUpsertAndNoop(t *testing.T) {
	_, cl := dServer(t)
	ctx := dCtx(t)
	dRangeTable(t, cl, "upsert")
	tbl := aws.String("upsert")
	out, err := cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: tbl, Key: dK2("p", 1), ReturnValues: types.ReturnValueAllNew})
	if err != nil {
		t.Fatal(err)
	}
	dSameItem(t, "key-only upsert ALL_NEW", out.Attributes, dK2("p", 1))
	dSameItem(t, "key-only upsert stored", dGet(t, cl, "upsert", dK2("p", 1)), dK2("p", 1))

	// Again on the existing item: nothing changes.
	out, err = cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: tbl, Key: dK2("p", 1), ReturnValues: types.ReturnValueAllOld})
	if err != nil {
		t.Fatal(err)
	}
	dSameItem(t, "key-only update of an existing item ALL_OLD", out.Attributes, dK2("p", 1))

	item := dWith(dK2("p", 2), "a", dNi(5), "s", dSS("x"))
	dPut(t, cl, "upsert", item)
	out, err = cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: tbl, Key: dK2("p", 2), UpdateExpression: aws.String("SET a = :five ADD s :x"),
		ExpressionAttributeValues: dItem{":five": dNi(5), ":x": dSS("x")}, ReturnValues: types.ReturnValueUpdatedNew,
	})
	if err != nil {
		t.Fatal(err)
	}
	dSameItem(t, "no-op UPDATED_NEW", out.Attributes, dItem{"a": dNi(5), "s": dSS("x")})
	dSameItem(t, "no-op leaves the item", dGet(t, cl, "upsert", dK2("p", 2)), item)
	// REMOVE of an absent attribute is a no-op too.
	out, err = cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: tbl, Key: dK2("p", 2), UpdateExpression: aws.String("REMOVE nothing"), ReturnValues: types.ReturnValueUpdatedOld})
	if err != nil || out.Attributes != nil {
		t.Errorf("REMOVE of an absent attribute: %v %s", err, dCanonItem(out.Attributes))
	}
	dSameItem(t, "after REMOVE of nothing", dGet(t, cl, "upsert", dK2("p", 2)), item)
}
