package attr

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/godwit-db/godwit/engine/apierr"
)

func TestDecodeValueJSON(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Value
	}{
		{`{"S":"hello"}`, Str("hello")},
		{` { "S" : "" } `, Str("")},
		{`{"S":"a\"b\\c\/d\n\u00e9\ud83d\ude00"}`, Str("a\"b\\c/d\né😀")},
		{`{"S":"é漢"}`, Str("é漢")},
		{`{"N":"00042"}`, Value{Type: N, S: "42"}},
		{`{"N":"-1.50E1"}`, Value{Type: N, S: "-15"}},
		{`{"B":"AQI="}`, Bin([]byte{1, 2})},
		{`{"B":""}`, Bin([]byte{})},
		{`{"BOOL":true}`, Boolean(true)},
		{`{"BOOL":false}`, Boolean(false)},
		{`{"NULL":true}`, Null()},
		{`{"M":{}}`, Value{Type: M, M: map[string]Value{}}},
		{`{"M":{"a":{"S":"x"},"b":{"N":"1.0"}}}`, Value{Type: M, M: map[string]Value{"a": Str("x"), "b": {Type: N, S: "1"}}}},
		{`{"L":[]}`, Value{Type: L, L: []Value{}}},
		{`{"L":[{"S":"x"},{"L":[{"NULL":true}]}]}`, Value{Type: L, L: []Value{Str("x"), {Type: L, L: []Value{Null()}}}}},
		{`{"SS":["a","b"]}`, Value{Type: SS, Set: []string{"a", "b"}}},
		{`{"NS":["1","2.50","-0"]}`, Value{Type: NS, Set: []string{"1", "2.5", "0"}}},
		{`{"BS":["AQ==","Ag=="]}`, Value{Type: BS, BSet: [][]byte{{1}, {2}}}},
		// Unknown members and null members are ignored, as AWS does.
		{`{"S":"x","Extra":[1,{"a":null}],"N":null}`, Str("x")},
		// A repeated member keeps the last value.
		{`{"S":"x","S":"y"}`, Str("y")},
	} {
		got, err := DecodeValueJSON([]byte(tc.in))
		if err != nil {
			t.Errorf("DecodeValueJSON(%s): %v", tc.in, err)
			continue
		}
		if !Equal(got, tc.want) || got.String() != tc.want.String() {
			t.Errorf("DecodeValueJSON(%s) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestDecodeJSONErrors(t *testing.T) {
	const (
		val = "ValidationException"
		ser = "SerializationException"
	)
	deep := func(levels int) string { // an S leaf under `levels` M wrappers
		return strings.Repeat(`{"M":{"n":`, levels) + `{"S":"leaf"}` + strings.Repeat(`}}`, levels)
	}
	for _, tc := range []struct{ in, code, msg string }{
		{`{}`, val, msgEmptyValue},
		{`{"a":""}`, val, msgEmptyValue},
		{`{"S":null}`, val, msgEmptyValue},
		{`null`, val, msgEmptyValue},
		{`{"M":{"a":{}}}`, val, msgEmptyValue},
		{`{"L":[{}]}`, val, msgEmptyValue},
		{`{"L":[{"a":{}}]}`, val, msgEmptyValue},
		{`{"L":[null]}`, val, msgEmptyValue},
		{`{"S":"a","N":"1"}`, val, msgMultiValue},
		{`{"S":"a","BOOL":true,"NULL":true}`, val, msgMultiValue},
		{`{"NULL":false}`, val, msgNullFalse},
		{`{"SS":[]}`, val, msgEmptySS},
		{`{"NS":[]}`, val, msgEmptyNS},
		{`{"BS":[]}`, val, msgEmptyBS},
		{`{"SS":["a","a"]}`, val, "One or more parameter values were invalid: Input collection [a, a] contains duplicates."},
		{`{"NS":["1","1.0"]}`, val, msgDupNS},
		{`{"BS":["Yg==","Yg=="]}`, val, "One or more parameter values were invalid: Input collection [Yg==, Yg==]of type BS contains duplicates."},
		{`{"SS":["a",null]}`, val, msgNullInSet},
		{`{"NS":[null]}`, val, msgNumberFormat},
		{`{"N":""}`, val, msgNumberFormat},
		{`{"N":"b"}`, val, msgNumberFormat},
		{`{"NS":["1","b"]}`, val, msgNumberFormat},
		{`{"N":"1e126"}`, val, msgNumberOverflow},
		{`{"N":"1e-131"}`, val, msgNumberUnderflow},
		{`{"N":"123456789012345678901234567890123456789"}`, val, msgNumberPrecision},
		// Member validation comes before the more-than-one-type check.
		{`{"S":"a","N":"b"}`, val, msgNumberFormat},
		// Nesting: the attribute is level 1, a leaf at level 32 is the deepest allowed.
		{deep(32), val, msgNesting},
		{strings.Repeat(`{"L":[`, 40) + `{"S":"x"}` + strings.Repeat(`]}`, 40), val, msgNesting},

		// Wrong JSON types: SerializationException, AWS's texts.
		{`{"S":5}`, ser, "NUMBER_VALUE cannot be converted to String"},
		{`{"S":-5.5}`, ser, "DECIMAL_VALUE cannot be converted to String"},
		{`{"S":1e3}`, ser, "DECIMAL_VALUE cannot be converted to String"},
		{`{"S":true}`, ser, "TRUE_VALUE cannot be converted to String"},
		{`{"S":false}`, ser, "FALSE_VALUE cannot be converted to String"},
		{`{"S":[]}`, ser, "Unrecognized collection type class java.lang.String"},
		{`{"S":{}}`, ser, msgStartObject},
		{`{"N":5}`, ser, "NUMBER_VALUE cannot be converted to String"},
		{`{"SS":[5]}`, ser, "NUMBER_VALUE cannot be converted to String"},
		{`{"BOOL":"true"}`, ser, "Unexpected token received from parser"},
		{`{"NULL":1}`, ser, "NUMBER_VALUE cannot be converted to Boolean"},
		{`{"BOOL":1.5}`, ser, "DECIMAL_VALUE cannot be converted to Boolean"},
		{`{"BOOL":[]}`, ser, "Unrecognized collection type class java.lang.Boolean"},
		{`{"B":true}`, ser, "only base-64-encoded strings are convertible to bytes"},
		{`{"B":23}`, ser, "only base-64-encoded strings are convertible to bytes"},
		{`{"B":[]}`, ser, "Unrecognized collection type class java.nio.ByteBuffer"},
		{`{"B":"23456"}`, ser, "Base64 encoded length is expected a multiple of 4 bytes but found: 5"},
		{`{"B":"=+/="}`, ser, "Invalid last non-pad Base64 character dectected"},
		{`{"B":"+/+="}`, ser, "Invalid last non-pad Base64 character dectected"},
		{`{"B":"ab-_"}`, ser, "Invalid Base64 character: '-'"},
		{"{\"B\":\"AQ==\nAQ==\"}", ser, msgBadJSON}, // a raw newline in a string is not JSON
		{`{"B":"AQ==\nAQ=="}`, ser, "Base64 encoded length is expected a multiple of 4 bytes but found: 9"},
		{`{"B":"AQ=\n"}`, ser, "Invalid Base64 character: '\n'"},
		{`{"BS":["AQ==",5]}`, ser, "only base-64-encoded strings are convertible to bytes"},
		{`{"L":"x"}`, ser, msgFieldType},
		{`{"L":{}}`, ser, msgStartObject},
		{`{"SS":"a"}`, ser, msgFieldType},
		{`{"NS":{}}`, ser, msgStartObject},
		{`{"M":"x"}`, ser, msgFieldType},
		{`{"M":[]}`, ser, "Unrecognized collection type java.util.Map<java.lang.String, com.amazonaws.dynamodb.v20120810.AttributeValue>"},
		{`{"L":["x"]}`, ser, "Unexpected value type in payload"},
		{`{"M":{"a":[]}}`, ser, "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.AttributeValue"},
		{`"x"`, ser, "Unexpected value type in payload"},
		// A SerializationException anywhere beats a ValidationException found earlier.
		{`{"L":[{},{"S":5}]}`, ser, "NUMBER_VALUE cannot be converted to String"},

		// Not JSON at all.
		{``, ser, msgBadJSON},
		{`{`, ser, msgBadJSON},
		{`{"S":"x"`, ser, msgBadJSON},
		{`{"S":"x",}`, ser, msgBadJSON},
		{`{"S" "x"}`, ser, msgBadJSON},
		{`{"S":"x"} x`, ser, msgBadJSON},
		{`{"S":"\x"}`, ser, msgBadJSON},
		{`{"S":"\u12"}`, ser, msgBadJSON},
		{`{"X":[1,,2],"S":"a"}`, ser, msgBadJSON},
		{`{"X":01,"S":"a"}`, ser, msgBadJSON},
		{`{"X":tru,"S":"a"}`, ser, msgBadJSON},
		{`{"L":[{"S":"a"} {"S":"b"}]}`, ser, msgBadJSON},
	} {
		_, err := DecodeValueJSON([]byte(tc.in))
		if err == nil {
			t.Errorf("DecodeValueJSON(%.60s): no error, want %s %q", tc.in, tc.code, tc.msg)
			continue
		}
		e := apierr.As(err)
		if e == nil || e.Code != tc.code || e.Message != tc.msg {
			t.Errorf("DecodeValueJSON(%.60s) = %v, want %s %q", tc.in, err, tc.code, tc.msg)
		}
		if e != nil && e.Code == ser && !e.CapitalMessage {
			t.Errorf("DecodeValueJSON(%.60s): SerializationException without capital Message", tc.in)
		}
	}
	// 31 wrappers put the leaf at level 32: accepted.
	if _, err := DecodeValueJSON([]byte(deep(31))); err != nil {
		t.Errorf("31 nested levels: %v", err)
	}
}

func TestDecodeItemJSON(t *testing.T) {
	it, err := DecodeItemJSON([]byte(`{"pk":{"S":"a"},"n":{"N":"1.50"},"m":{"M":{"x":{"NULL":true}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Item{"pk": Str("a"), "n": {Type: N, S: "1.5"}, "m": {Type: M, M: map[string]Value{"x": Null()}}}
	if !EqualItems(it, want) {
		t.Fatalf("got %s", AppendItemJSON(nil, it))
	}
	if it, err := DecodeItemJSON([]byte(` null `)); it != nil || err != nil {
		t.Errorf("null item: %v, %v", it, err)
	}
	for _, tc := range []struct{ in, msg string }{
		{`[]`, "Unrecognized collection type java.util.Map<java.lang.String, com.amazonaws.dynamodb.v20120810.AttributeValue>"},
		{`"x"`, msgFieldType},
		{`{"a":"x"}`, "Unexpected value type in payload"},
		{`{"a":{"S":"x"}} {}`, msgBadJSON},
	} {
		_, err := DecodeItemJSON([]byte(tc.in))
		wantAPIErr(t, err, "SerializationException", tc.msg)
	}
	_, err = DecodeItemJSON([]byte(`{"a":{"S":"x"},"b":{}}`))
	wantValidation(t, err, msgEmptyValue)
}

// TestEncodingJSON checks the codec behind encoding/json, in the shape
// request structs use it.
func TestEncodingJSON(t *testing.T) {
	var req struct {
		Item   Item
		Key    Item
		Values map[string]Value
		Other  int
	}
	body := `{"Item":{"a":{"N":"007"}},"Key":null,"Values":{":v":{"SS":["x"]}},"Other":3}`
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	if req.Item["a"].S != "7" || req.Key != nil || req.Values[":v"].Set[0] != "x" || req.Other != 3 {
		t.Fatalf("decoded %+v", req)
	}
	out, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"Item":{"a":{"N":"7"}},"Key":{},"Values":{":v":{"SS":["x"]}},"Other":3}`; string(out) != want {
		t.Errorf("json.Marshal = %s, want %s", out, want)
	}

	err = json.Unmarshal([]byte(`{"Item":{"a":{"N":"x"}}}`), &req)
	wantValidation(t, err, msgNumberFormat)
	err = json.Unmarshal([]byte(`{"Values":{":v":{"S":1}}}`), &req)
	wantAPIErr(t, err, "SerializationException", "NUMBER_VALUE cannot be converted to String")
}

func TestAppendJSON(t *testing.T) {
	for _, tc := range []struct {
		v    Value
		want string
	}{
		{Str("a\"\\\n\t\x01<&>é\u2028"), `{"S":"a\"\\\n\t\u0001<&>é\u2028"}`},
		{Str("bad\xffutf8"), `{"S":"bad\ufffdutf8"}`},
		{Value{Type: N, S: "-1.5"}, `{"N":"-1.5"}`},
		{Bin([]byte{1, 2}), `{"B":"AQI="}`},
		{Bin(nil), `{"B":""}`},
		{Boolean(false), `{"BOOL":false}`},
		{Null(), `{"NULL":true}`},
		{Value{Type: M, M: map[string]Value{"b": Null(), "a": Boolean(true)}}, `{"M":{"a":{"BOOL":true},"b":{"NULL":true}}}`},
		{Value{Type: M}, `{"M":{}}`},
		{Value{Type: L}, `{"L":[]}`},
		{Value{Type: L, L: []Value{Str("x"), {}}}, `{"L":[{"S":"x"},null]}`},
		{Value{Type: SS, Set: []string{"b", "a"}}, `{"SS":["b","a"]}`},
		{Value{Type: NS, Set: []string{"1"}}, `{"NS":["1"]}`},
		{Value{Type: BS, BSet: [][]byte{{1}, {}}}, `{"BS":["AQ==",""]}`},
		{Value{}, `null`},
	} {
		if got := string(AppendJSON(nil, tc.v)); got != tc.want {
			t.Errorf("AppendJSON = %s, want %s", got, tc.want)
		}
	}
	it := Item{"z": Null(), "a": Str("x"), "m": {Type: M, M: map[string]Value{"k": Null()}}}
	if got, want := string(AppendItemJSON(nil, it)), `{"a":{"S":"x"},"m":{"M":{"k":{"NULL":true}}},"z":{"NULL":true}}`; got != want {
		t.Errorf("AppendItemJSON = %s, want %s", got, want)
	}
}

// TestJSONStringsMatchEncodingJSON checks string decoding and encoding
// against encoding/json on escapes, surrogates and invalid UTF-8.
func TestJSONStringsMatchEncodingJSON(t *testing.T) {
	lits := []string{
		`"plain"`, `""`, `"\"\\\/\b\f\n\r\t"`, `"\u0000\u001f\u00e9\u4e2d"`,
		`"\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`, `"\ude00\ud83d"`, `"\ud83d\u0041"`, `"\ud83d\ud83d\ude00"`,
		"\"\xff\xfe\"", "\"a\xc3\"", "\"\xed\xa0\x80\"", `"\u2028\u2029"`, "\"é😀\"",
	}
	r := newRand(t)
	for i := 0; i < 300; i++ {
		lits = append(lits, string(AppendJSONString(nil, randString(r, 10))))
	}
	for _, lit := range lits {
		var want string
		if err := json.Unmarshal([]byte(lit), &want); err != nil {
			t.Fatalf("encoding/json rejects %q: %v", lit, err)
		}
		got, err := DecodeValueJSON([]byte(`{"S":` + lit + `}`))
		if err != nil {
			t.Errorf("%q: %v", lit, err)
			continue
		}
		if got.S != want {
			t.Errorf("%q decodes to %q, encoding/json says %q", lit, got.S, want)
		}
		// Our encoding of valid UTF-8 must decode back to the same string.
		enc := AppendJSONString(nil, want)
		var back string
		if err := json.Unmarshal(enc, &back); err != nil || back != want {
			t.Errorf("AppendJSONString(%q) = %s, decodes to %q, %v", want, enc, back, err)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	r := newRand(t)
	for i := 0; i < 2000; i++ {
		it := randItem(r)
		enc := AppendItemJSON(nil, it)
		if !json.Valid(enc) {
			t.Fatalf("invalid JSON: %s", enc)
		}
		back, err := DecodeItemJSON(enc)
		if err != nil {
			t.Fatalf("DecodeItemJSON(%s): %v", enc, err)
		}
		if !EqualItems(it, back) {
			t.Fatalf("round trip changed\n%s\n%s", enc, AppendItemJSON(nil, back))
		}
		if again := AppendItemJSON(nil, back); !bytes.Equal(enc, again) {
			t.Fatalf("not deterministic\n%s\n%s", enc, again)
		}
	}
}

func TestValueString(t *testing.T) {
	v := Value{Type: L, L: []Value{Str("x"), {Type: N, S: "1"}}}
	if got := v.String(); got != `{"L":[{"S":"x"},{"N":"1"}]}` {
		t.Errorf("String() = %s", got)
	}
}

// FuzzDecodeJSON: any bytes either fail with an *apierr.Error or decode to
// an item that is valid JSON, re-encodes to something that decodes equal,
// and survives the stored format.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"a":{"S":"x"}}`,
		`{"pk":{"S":"k"},"n":{"N":"-1.5e3"},"b":{"B":"AQI="},"t":{"BOOL":true},"z":{"NULL":true}}`,
		`{"m":{"M":{"x":{"L":[{"SS":["a","b"]},{"NS":["1","2"]},{"BS":["AQ=="]}]}}}}`,
		`{"s":{"S":"\u00e9\ud83d\ude00\n"}}`,
		`{"a":{"S":"x","N":"1"}}`,
		`{"a":{}}`,
		`{"a":{"N":"1e200"}}`,
		`{"a":{"S":5}}`,
		`null`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		it, err := DecodeItemJSON(data)
		if err != nil {
			if apierr.As(err) == nil {
				t.Fatalf("error %v is not an *apierr.Error", err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		enc := AppendItemJSON(nil, it)
		back, err := DecodeItemJSON(enc)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", enc, err)
		}
		if !EqualItems(it, back) {
			t.Fatalf("JSON round trip changed %s", enc)
		}
		// Top-level S values agree with encoding/json.
		var generic map[string]map[string]any
		if json.Unmarshal(data, &generic) == nil {
			for name, v := range it {
				if s, ok := generic[name]["S"].(string); ok && v.Type == S && s != v.S && utf8.ValidString(s) {
					t.Fatalf("S %q decodes to %q, encoding/json says %q", name, v.S, s)
				}
			}
		}
		stored, err := DecodeItem(AppendItem(nil, it))
		if err != nil || !EqualItems(it, stored) {
			t.Fatalf("stored round trip: %v", err)
		}
	})
}
