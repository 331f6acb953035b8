package expr

import (
	"bytes"
	"testing"

	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/attr"
)

// fuzzParams is the placeholder set every fuzz target parses against.
func fuzzParams() *Params {
	n := func(s string) attr.Value { return attr.Value{Type: attr.N, S: s} }
	return NewParams(
		map[string]string{"#a": "a", "#b": "b", "#l": "l", "#m": "m", "#s": "status", "#dot": "a.b", "#0": "0"},
		map[string]attr.Value{
			":s": attr.Str("x"), ":e": attr.Str(""), ":n": n("1"), ":big": n("9.9999999999999999999999999999999999999E+125"),
			":t": attr.Str("N"), ":b": attr.Bin([]byte{1, 2}), ":bool": attr.Boolean(true), ":null": attr.Null(),
			":l":  {Type: attr.L, L: []attr.Value{attr.Str("x"), n("2")}},
			":m":  {Type: attr.M, M: map[string]attr.Value{"k": attr.Str("v")}},
			":ss": {Type: attr.SS, Set: []string{"x", "y"}},
			":ns": {Type: attr.NS, Set: []string{"1", "2"}},
			":bs": {Type: attr.BS, BSet: [][]byte{{1}, {2}}},
		})
}

// fuzzItems are the items parsed expressions are evaluated and applied on.
func fuzzItems(t testing.TB) []attr.Item {
	var out []attr.Item
	for _, js := range []string{
		`{}`,
		`{"a":{"N":"1"},"b":{"S":"xyz"},"status":{"BOOL":true},"a.b":{"NULL":true}}`,
		`{"a":{"S":"1"},"l":{"L":[{"S":"x"},{"N":"2"},{"M":{"k":{"L":[]}}}]},"m":{"M":{"k":{"S":"v"},"m":{"M":{"l":{"L":[{"N":"1"}]}}}}},` +
			`"ss":{"SS":["x","y"]},"ns":{"NS":["1","2"]},"bs":{"BS":["AQ=="]},"bin":{"B":"AQID"}}`,
	} {
		it, err := attr.DecodeItemJSON([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, it)
	}
	return append(out, nil)
}

var fuzzSeeds = []string{
	"a = :n", "#a <> :s AND NOT (b < :s OR b >= :n)", "a BETWEEN :n AND :big", "b IN (:s, :n, :e)",
	"attribute_exists(l[1]) AND attribute_not_exists(m.k.z)", "attribute_type(a, :t)", "begins_with(b, :s)",
	"contains(l, :n) OR contains(ss, :s)", "size(l) > :n", "((a = :n))", "a = a", "size(a)", "nope(a)",
	"SET a = :n, b = if_not_exists(b, :s) REMOVE l[0], m.k ADD ns :ns DELETE ss :ss",
	"SET a = a + :n, l[5] = :s, m.m.l[0] = list_append(:l, m.m.l)", "SET #a = :s set b = :s",
	"a, b.c, l[2].k, #dot", "a, a.b", "", "(", "a[", "#", ":", "a = :n ü", "SET a = :n, #s = #0",
}

func checkAPIError(t *testing.T, what, s string, err error) {
	t.Helper()
	if apierr.As(err) == nil {
		t.Fatalf("%s(%q) returned a non-API error: %v", what, s, err)
	}
}

func FuzzParseCondition(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	items := fuzzItems(f)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCondition("FilterExpression", s, fuzzParams())
		if err != nil {
			checkAPIError(t, "ParseCondition", s, err)
		} else {
			for _, it := range items {
				c.Eval(it)
			}
			_ = c.Paths()
		}
		kc, err := ParseKeyCondition(s, fuzzParams())
		if err != nil {
			checkAPIError(t, "ParseKeyCondition", s, err)
			return
		}
		if err := kc.Bind(KeyAttr{"a", attr.N}, KeyAttr{"b", attr.S}); err != nil {
			checkAPIError(t, "Bind", s, err)
		}
	})
}

func FuzzParseUpdate(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	items := fuzzItems(f)
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUpdate(s, fuzzParams())
		if err != nil {
			checkAPIError(t, "ParseUpdate", s, err)
			return
		}
		_ = u.Paths()
		for _, it := range items {
			before := attr.AppendItemJSON(nil, it)
			if _, err := u.Apply(it); err != nil {
				checkAPIError(t, "Apply", s, err)
			}
			if after := attr.AppendItemJSON(nil, it); !bytes.Equal(before, after) {
				t.Fatalf("Apply(%q) modified its input:\n%s\n%s", s, before, after)
			}
		}
	})
}

func FuzzParseProjection(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	items := fuzzItems(f)
	f.Fuzz(func(t *testing.T, s string) {
		pr, err := ParseProjection(s, fuzzParams())
		if err != nil {
			checkAPIError(t, "ParseProjection", s, err)
			return
		}
		for _, it := range items {
			pr.Apply(it)
		}
	})
}
