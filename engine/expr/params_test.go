package expr

import (
	"strings"
	"testing"

	"github.com/godwit-db/godwit/engine/attr"
)

func TestParamsValidate(t *testing.T) {
	long := "#" + strings.Repeat("a", 255)
	for _, tc := range []struct {
		names  map[string]string
		values map[string]attr.Value
		err    string
	}{
		{names: map[string]string{}, err: "ExpressionAttributeNames must not be empty"},
		{values: map[string]attr.Value{}, err: "ExpressionAttributeValues must not be empty"},
		{names: map[string]string{"a": "a"}, err: `ExpressionAttributeNames contains invalid key: Syntax error; key: "a"`},
		{names: map[string]string{"#": "a"}, err: `ExpressionAttributeNames contains invalid key: Syntax error; key: "#"`},
		{names: map[string]string{"#a-b": "a"}, err: `ExpressionAttributeNames contains invalid key: Syntax error; key: "#a-b"`},
		{names: map[string]string{long: "a"}, err: "ExpressionAttributeNames contains invalid key: The expression attribute map contains a key that is too long; size of key: 256"},
		{names: map[string]string{"#a": ""}, err: "ExpressionAttributeNames contains invalid value: Empty attribute name for key #a"},
		{values: map[string]attr.Value{"b": attr.Str("x")}, err: `ExpressionAttributeValues contains invalid key: Syntax error; key: "b"`},
		{values: map[string]attr.Value{":" + long[1:]: attr.Str("x")}, err: "ExpressionAttributeValues contains invalid key: The expression attribute map contains a key that is too long;"},
		{names: map[string]string{"#a_1": "a", long[:255]: "b"}, values: map[string]attr.Value{":A9_": attr.Str("x")}},
		{},
	} {
		err := NewParams(tc.names, tc.values).Validate()
		if tc.err == "" {
			if err != nil {
				t.Errorf("%v %v: %v", tc.names, tc.values, err)
			}
			continue
		}
		wantErr(t, err, tc.err)
	}
	var nilParams *Params
	if err := nilParams.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := nilParams.CheckUnused(); err != nil {
		t.Fatal(err)
	}
}

// A request's expressions share one Params: a placeholder used by any of
// them counts as used.
func TestParamsSharedAcrossExpressions(t *testing.T) {
	p := NewParams(map[string]string{"#a": "a", "#b": "b", "#c": "c"}, map[string]attr.Value{":v": attr.Str("x"), ":w": attr.Str("y")})
	if _, err := ParseCondition("ConditionExpression", "#a = :v", p); err != nil {
		t.Fatal(err)
	}
	wantErr(t, p.CheckUnused(), "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b, #c}")
	if _, err := ParseUpdate("SET #b = :w", p); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseProjection("#c", p); err != nil {
		t.Fatal(err)
	}
	if err := p.CheckUnused(); err != nil {
		t.Fatal(err)
	}
}

func TestExpressionSizeLimits(t *testing.T) {
	p := NewParams(nil, map[string]attr.Value{":v": attr.Str("x")})
	long := strings.Repeat("a", 4090) + " = :v" // 4095 bytes: fine
	if _, err := ParseCondition("ConditionExpression", long, p); err != nil {
		t.Fatal(err)
	}
	_, err := ParseCondition("ConditionExpression", "a"+long+"  ", p)
	wantErr(t, err, "Invalid ConditionExpression: Expression size has exceeded the maximum allowed size;")
	_, err = ParseCondition("FilterExpression", "a"+long+"  ", p)
	wantErr(t, err, "Invalid FilterExpression: Expression size has exceeded the maximum allowed size; expression size: 4098")

	// 301 comparisons joined by AND.
	terms := make([]string, 151)
	for i := range terms {
		terms[i] = "a < :v"
	}
	_, err = ParseCondition("ConditionExpression", strings.Join(terms, " AND "), p)
	wantErr(t, err, "Invalid ConditionExpression: The expression contains too many operators; operator count: 301")
	if _, err := ParseCondition("ConditionExpression", strings.Join(terms[:150], " AND "), p); err != nil {
		t.Fatal(err)
	}

	adds := make([]string, 301)
	for i := range adds {
		adds[i] = "x" + itoa(i) + "=:v+:v"
	}
	p = NewParams(nil, map[string]attr.Value{":v": {Type: attr.N, S: "1"}})
	_, err = ParseUpdate("SET "+strings.Join(adds, ","), p)
	wantErr(t, err, "Invalid UpdateExpression: The expression contains too many operators; operator count: 301")
	if _, err := ParseUpdate("SET "+strings.Join(adds[:300], ","), p); err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}
