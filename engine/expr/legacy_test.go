package expr

import (
	"testing"

	"github.com/godwit-db/godwit/engine/attr"
)

func val(t *testing.T, js string) attr.Value {
	t.Helper()
	v, err := attr.DecodeValueJSON([]byte(js))
	if err != nil {
		t.Fatalf("bad value %s: %v", js, err)
	}
	return v
}

func vp(t *testing.T, js string) *attr.Value {
	v := val(t, js)
	return &v
}

func vals(t *testing.T, js ...string) []attr.Value {
	out := make([]attr.Value, len(js))
	for i, s := range js {
		out[i] = val(t, s)
	}
	return out
}

func itm(t *testing.T, js string) attr.Item {
	t.Helper()
	if js == "" {
		return nil
	}
	it, err := attr.DecodeItemJSON([]byte(js))
	if err != nil {
		t.Fatalf("bad item %s: %v", js, err)
	}
	return it
}

func boolp(b bool) *bool { return &b }

// evalCase is an item and whether a condition should hold on it ("" is no item).
type evalCase struct {
	item string
	want bool
}

func checkEval(t *testing.T, c Cond, cases []evalCase) {
	t.Helper()
	for _, ec := range cases {
		if got := c.Eval(itm(t, ec.item)); got != ec.want {
			t.Errorf("Eval(%s) = %v, want %v", ec.item, got, ec.want)
		}
	}
}

func wantErr(t *testing.T, err error, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", msg)
	}
	if got := errString(err); got != "error: "+msg {
		t.Fatalf("error %q\nwant   %q", got, "error: "+msg)
	}
}

func TestFromExpected(t *testing.T) {
	type tc struct {
		name  string
		exp   map[string]ExpectedAttributeValue
		op    string
		err   string
		cases []evalCase
	}
	tests := []tc{
		{name: "value means equal", exp: map[string]ExpectedAttributeValue{"a": {Value: vp(t, `{"S":"x"}`)}},
			cases: []evalCase{{`{"a":{"S":"x"}}`, true}, {`{"a":{"S":"y"}}`, false}, {`{}`, false}, {"", false}}},
		{name: "exists true with value", exp: map[string]ExpectedAttributeValue{"a": {Value: vp(t, `{"N":"1"}`), Exists: boolp(true)}},
			cases: []evalCase{{`{"a":{"N":"1.0"}}`, true}, {`{"a":{"S":"1"}}`, false}}},
		{name: "exists false", exp: map[string]ExpectedAttributeValue{"a": {Exists: boolp(false)}},
			cases: []evalCase{{`{"a":{"S":"x"}}`, false}, {`{}`, true}, {"", true}}},
		{name: "and by default", exp: map[string]ExpectedAttributeValue{
			"a": {Value: vp(t, `{"S":"x"}`)}, "b": {Exists: boolp(false)}},
			cases: []evalCase{{`{"a":{"S":"x"}}`, true}, {`{"a":{"S":"x"},"b":{"S":"y"}}`, false}}},
		{name: "or", op: "OR", exp: map[string]ExpectedAttributeValue{
			"a": {Value: vp(t, `{"S":"x"}`)}, "b": {Exists: boolp(false)}},
			cases: []evalCase{{`{"a":{"S":"z"}}`, true}, {`{"a":{"S":"z"},"b":{"S":"y"}}`, false}, {`{"a":{"S":"x"},"b":{"S":"y"}}`, true}}},
		{name: "comparison operator", exp: map[string]ExpectedAttributeValue{
			"a": {ComparisonOperator: "GT", AttributeValueList: vals(t, `{"N":"5"}`)}},
			cases: []evalCase{{`{"a":{"N":"6"}}`, true}, {`{"a":{"N":"5"}}`, false}, {`{}`, false}}},
		{name: "comparison operator with Value", exp: map[string]ExpectedAttributeValue{
			"a": {ComparisonOperator: "BEGINS_WITH", Value: vp(t, `{"S":"ab"}`)}},
			cases: []evalCase{{`{"a":{"S":"abc"}}`, true}, {`{"a":{"S":"b"}}`, false}}},
		{name: "NE holds on a missing attribute", exp: map[string]ExpectedAttributeValue{
			"a": {ComparisonOperator: "NE", AttributeValueList: vals(t, `{"S":"x"}`)}},
			cases: []evalCase{{`{}`, true}, {`{"a":{"S":"x"}}`, false}, {`{"a":{"N":"1"}}`, true}}},
		{name: "NULL and NOT_NULL", exp: map[string]ExpectedAttributeValue{
			"a": {ComparisonOperator: "NULL"}, "b": {ComparisonOperator: "NOT_NULL"}},
			cases: []evalCase{{`{"b":{"S":"x"}}`, true}, {`{"a":{"S":"x"},"b":{"S":"x"}}`, false}, {`{}`, false}}},
		{name: "CONTAINS and NOT_CONTAINS", exp: map[string]ExpectedAttributeValue{
			"a": {ComparisonOperator: "CONTAINS", AttributeValueList: vals(t, `{"S":"x"}`)},
			"b": {ComparisonOperator: "NOT_CONTAINS", AttributeValueList: vals(t, `{"N":"1"}`)}},
			cases: []evalCase{{`{"a":{"SS":["x"]}}`, true}, {`{"a":{"S":"wxy"},"b":{"NS":["1","2"]}}`, false}, {`{"a":{"L":[{"S":"x"}]},"b":{"NS":["2"]}}`, true}}},
		{name: "IN and BETWEEN", exp: map[string]ExpectedAttributeValue{
			"a": {ComparisonOperator: "IN", AttributeValueList: vals(t, `{"S":"x"}`, `{"S":"y"}`)},
			"b": {ComparisonOperator: "BETWEEN", AttributeValueList: vals(t, `{"N":"1"}`, `{"N":"3"}`)}},
			cases: []evalCase{{`{"a":{"S":"y"},"b":{"N":"3"}}`, true}, {`{"a":{"S":"z"},"b":{"N":"2"}}`, false}, {`{"a":{"S":"x"},"b":{"N":"4"}}`, false}}},
		{name: "empty", exp: map[string]ExpectedAttributeValue{}},

		{name: "exists true without value", exp: map[string]ExpectedAttributeValue{"a": {Exists: boolp(true)}},
			err: "One or more parameter values were invalid: Value must be provided when Exists is true for Attribute: a"},
		{name: "nothing", exp: map[string]ExpectedAttributeValue{"a": {}},
			err: "One or more parameter values were invalid: Value must be provided when Exists is null for Attribute: a"},
		{name: "exists false with value", exp: map[string]ExpectedAttributeValue{"a": {Exists: boolp(false), Value: vp(t, `{"S":"a"}`)}},
			err: "One or more parameter values were invalid: Value cannot be used when Exists is false for Attribute: a"},
		{name: "exists with operator", exp: map[string]ExpectedAttributeValue{"a": {Exists: boolp(true), ComparisonOperator: "NULL"}},
			err: "One or more parameter values were invalid: Exists and ComparisonOperator cannot be used together for Attribute: a"},
		{name: "value with list", exp: map[string]ExpectedAttributeValue{"a": {Value: vp(t, `{"S":"a"}`), AttributeValueList: vals(t, `{"S":"a"}`), ComparisonOperator: "EQ"}},
			err: "One or more parameter values were invalid: Value and AttributeValueList cannot be used together for Attribute: a"},
		{name: "list without operator", exp: map[string]ExpectedAttributeValue{"a": {AttributeValueList: vals(t, `{"S":"a"}`)}},
			err: "One or more parameter values were invalid: AttributeValueList can only be used with a ComparisonOperator for Attribute: a"},
		{name: "operator without values", exp: map[string]ExpectedAttributeValue{"a": {ComparisonOperator: "EQ"}},
			err: "One or more parameter values were invalid: Value or AttributeValueList must be used with ComparisonOperator: EQ for Attribute: a"},
		{name: "NULL with a value", exp: map[string]ExpectedAttributeValue{"a": {ComparisonOperator: "NULL", AttributeValueList: vals(t, `{"S":"a"}`)}},
			err: "One or more parameter values were invalid: Invalid number of argument(s) for the NULL ComparisonOperator"},
		{name: "BETWEEN with one value", exp: map[string]ExpectedAttributeValue{"a": {ComparisonOperator: "BETWEEN", AttributeValueList: vals(t, `{"N":"1"}`)}},
			err: "One or more parameter values were invalid: Invalid number of argument(s) for the BETWEEN ComparisonOperator"},
		{name: "mixed types", exp: map[string]ExpectedAttributeValue{"a": {ComparisonOperator: "IN", AttributeValueList: vals(t, `{"N":"1"}`, `{"S":"1"}`)}},
			err: "One or more parameter values were invalid: AttributeValues inside AttributeValueList must be of same type"},
		{name: "begins_with a number", exp: map[string]ExpectedAttributeValue{"a": {ComparisonOperator: "BEGINS_WITH", AttributeValueList: vals(t, `{"N":"1"}`)}},
			err: "One or more parameter values were invalid: ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type"},
		{name: "BETWEEN reversed", exp: map[string]ExpectedAttributeValue{"a": {ComparisonOperator: "BETWEEN", AttributeValueList: vals(t, `{"N":"3"}`, `{"N":"1"}`)}},
			err: "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"},
		{name: "unknown operator", exp: map[string]ExpectedAttributeValue{"a": {ComparisonOperator: "LIKE", AttributeValueList: vals(t, `{"S":"x"}`)}},
			err: "1 validation error detected: Value 'LIKE' at 'expected.a.member.comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"},
		{name: "unknown conditional operator", op: "XOR", exp: map[string]ExpectedAttributeValue{"a": {Exists: boolp(false)}},
			err: "1 validation error detected: Value 'XOR' at 'conditionalOperator' failed to satisfy constraint: Member must satisfy enum value set: [OR, AND]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := FromExpected(tt.exp, tt.op)
			if tt.err != "" {
				wantErr(t, err, tt.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.exp) == 0 {
				if c != nil {
					t.Fatalf("empty Expected gave a condition")
				}
				return
			}
			checkEval(t, c, tt.cases)
			for _, p := range c.Paths() {
				if _, ok := tt.exp[p.Top()]; !ok || len(p) != 1 {
					t.Errorf("path %s not in Expected", p)
				}
			}
		})
	}
}

func TestFromConditions(t *testing.T) {
	c, err := FromConditions("QueryFilter", map[string]Condition{
		"a": {ComparisonOperator: "LE", AttributeValueList: vals(t, `{"S":"m"}`)},
		"b": {ComparisonOperator: "EQ", AttributeValueList: vals(t, `{"L":[{"N":"1"}]}`)},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	checkEval(t, c, []evalCase{
		{`{"a":{"S":"a"},"b":{"L":[{"N":"1"}]}}`, true},
		{`{"a":{"S":"z"},"b":{"L":[{"N":"1"}]}}`, false},
		{`{"a":{"S":"a"}}`, false},
	})
	if got := pathsString(c.Paths()); got != "[a] [b]" {
		t.Errorf("paths %s", got)
	}

	_, err = FromConditions("ScanFilter", map[string]Condition{"a": {ComparisonOperator: "GT", AttributeValueList: vals(t, `{"BOOL":true}`)}}, "")
	wantErr(t, err, "One or more parameter values were invalid: ComparisonOperator GT is not valid for BOOL AttributeValue type")
	_, err = FromConditions("ScanFilter", map[string]Condition{"a": {ComparisonOperator: "NOT_NULL", AttributeValueList: vals(t, `{"S":"x"}`)}}, "")
	wantErr(t, err, "One or more parameter values were invalid: Invalid number of argument(s) for the NOT_NULL ComparisonOperator")
	_, err = FromConditions("ScanFilter", map[string]Condition{"a": {}}, "")
	wantErr(t, err, "1 validation error detected: Value null at 'scanFilter.a.member.comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]")
	_, err = FromConditions("ScanFilter", map[string]Condition{"a": {ComparisonOperator: "IN"}}, "")
	wantErr(t, err, "One or more parameter values were invalid: Invalid number of argument(s) for the IN ComparisonOperator")

	c, err = FromConditions("ScanFilter", map[string]Condition{
		"a": {ComparisonOperator: "NULL"},
		"b": {ComparisonOperator: "EQ", AttributeValueList: vals(t, `{"S":"x"}`)},
	}, "OR")
	if err != nil {
		t.Fatal(err)
	}
	checkEval(t, c, []evalCase{{`{}`, true}, {`{"a":{"S":"q"},"b":{"S":"x"}}`, true}, {`{"a":{"S":"q"}}`, false}})
}

func TestKeyConditionFromLegacy(t *testing.T) {
	kc, err := KeyConditionFromLegacy(map[string]Condition{
		"sk": {ComparisonOperator: "BETWEEN", AttributeValueList: vals(t, `{"N":"1"}`, `{"N":"2"}`)},
		"pk": {ComparisonOperator: "EQ", AttributeValueList: vals(t, `{"S":"h"}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := kc.Bind(KeyAttr{"pk", attr.S}, KeyAttr{"sk", attr.N}); err != nil {
		t.Fatal(err)
	}
	if got := keyCondString(kc); got != `pk = {"S":"h"}; sk BETWEEN {"N":"1"} {"N":"2"}` {
		t.Fatalf("got %s", got)
	}

	// Both EQ: only the schema tells which is the partition key.
	kc, err = KeyConditionFromLegacy(map[string]Condition{
		"a": {ComparisonOperator: "EQ", AttributeValueList: vals(t, `{"S":"sort"}`)},
		"b": {ComparisonOperator: "EQ", AttributeValueList: vals(t, `{"S":"hash"}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := kc.Bind(KeyAttr{"b", attr.S}, KeyAttr{"a", attr.S}); err != nil {
		t.Fatal(err)
	}
	if got := keyCondString(kc); got != `b = {"S":"hash"}; a EQ {"S":"sort"}` {
		t.Fatalf("got %s", got)
	}

	kc, err = KeyConditionFromLegacy(map[string]Condition{
		"pk": {ComparisonOperator: "EQ", AttributeValueList: vals(t, `{"S":"h"}`)},
		"sk": {ComparisonOperator: "NE", AttributeValueList: vals(t, `{"S":"x"}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, kc.Bind(KeyAttr{"pk", attr.S}, KeyAttr{"sk", attr.S}), "Attempted conditional constraint is not an indexable operation")

	_, err = KeyConditionFromLegacy(map[string]Condition{})
	wantErr(t, err, "Conditions can be of length 1 or 2 only")
	_, err = KeyConditionFromLegacy(map[string]Condition{"pk": {ComparisonOperator: "EQ"}})
	wantErr(t, err, "One or more parameter values were invalid: Invalid number of argument(s) for the EQ ComparisonOperator")
}

func TestUpdateFromAttributeUpdates(t *testing.T) {
	u, err := UpdateFromAttributeUpdates(map[string]AttributeValueUpdate{
		"put":    {Value: vp(t, `{"S":"new"}`)},
		"putx":   {Action: "PUT", Value: vp(t, `{"N":"7"}`)},
		"num":    {Action: "ADD", Value: vp(t, `{"N":"3"}`)},
		"set":    {Action: "ADD", Value: vp(t, `{"SS":["b","c"]}`)},
		"list":   {Action: "ADD", Value: vp(t, `{"L":[{"S":"z"}]}`)},
		"gone":   {Action: "DELETE"},
		"fewer":  {Action: "DELETE", Value: vp(t, `{"NS":["1"]}`)},
		"absent": {Action: "DELETE", Value: vp(t, `{"NS":["1"]}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	old := itm(t, `{"k":{"S":"key"},"put":{"S":"old"},"num":{"N":"1"},"set":{"SS":["a","b"]},"list":{"L":[{"S":"y"}]},"gone":{"S":"x"},"fewer":{"NS":["1","2"]}}`)
	got, err := u.Apply(old)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"fewer":{"NS":["2"]},"k":{"S":"key"},"list":{"L":[{"S":"y"},{"S":"z"}]},"num":{"N":"4"},"put":{"S":"new"},"putx":{"N":"7"},"set":{"SS":["a","b","c"]}}`
	if s := string(attr.AppendItemJSON(nil, got)); s != want {
		t.Fatalf("got  %s\nwant %s", s, want)
	}
	if len(u.Paths()) != 8 {
		t.Fatalf("paths %v", u.Paths())
	}

	u, err = UpdateFromAttributeUpdates(map[string]AttributeValueUpdate{"n": {Action: "ADD", Value: vp(t, `{"N":"1"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = u.Apply(itm(t, `{"n":{"S":"x"}}`))
	wantErr(t, err, "Type mismatch for attribute to update")

	for _, tc := range []struct {
		m   map[string]AttributeValueUpdate
		err string
	}{
		{map[string]AttributeValueUpdate{"a": {Action: "PUT"}}, "One or more parameter values were invalid: Only DELETE action is allowed when no attribute value is specified"},
		{map[string]AttributeValueUpdate{"a": {Action: "ADD", Value: vp(t, `{"S":"x"}`)}}, "One or more parameter values were invalid: ADD action is not supported for the type S"},
		{map[string]AttributeValueUpdate{"a": {Action: "DELETE", Value: vp(t, `{"N":"1"}`)}}, "One or more parameter values were invalid: DELETE action with value is not supported for the type N"},
		{map[string]AttributeValueUpdate{"a": {Action: "MERGE", Value: vp(t, `{"N":"1"}`)}}, "1 validation error detected: Value 'MERGE' at 'attributeUpdates.a.member.action' failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]"},
	} {
		_, err := UpdateFromAttributeUpdates(tc.m)
		wantErr(t, err, tc.err)
	}
}

func TestProjectionFromAttributesToGet(t *testing.T) {
	pr := ProjectionFromAttributesToGet([]string{"a.b", "c", "missing"})
	got := pr.Apply(itm(t, `{"a.b":{"S":"x"},"a":{"M":{"b":{"S":"no"}}},"c":{"N":"1"},"d":{"N":"2"}}`))
	if s := string(attr.AppendItemJSON(nil, got)); s != `{"a.b":{"S":"x"},"c":{"N":"1"}}` {
		t.Fatalf("got %s", s)
	}
	it := itm(t, `{"a":{"N":"1"}}`)
	if got := Projection(nil).Apply(it); !attr.EqualItems(got, it) {
		t.Fatalf("empty projection changed the item: %v", got)
	}
}

func TestMixedParamsError(t *testing.T) {
	wantErr(t, MixedParamsError([]string{"QueryFilter"}, []string{"KeyConditionExpression"}),
		"Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {QueryFilter} Expression parameters: {KeyConditionExpression}")
	wantErr(t, MixedParamsError([]string{"AttributesToGet", "QueryFilter"}, []string{"ProjectionExpression", "FilterExpression"}),
		"Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributesToGet, QueryFilter} Expression parameters: {ProjectionExpression, FilterExpression}")
}
