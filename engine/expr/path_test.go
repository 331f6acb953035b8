package expr

import (
	"testing"

	"github.com/godwit-db/godwit/engine/attr"
)

func TestReservedWords(t *testing.T) {
	if len(reservedWords) != 573 {
		t.Fatalf("%d reserved words, want 573", len(reservedWords))
	}
	for _, w := range []string{"abort", "Status", "NAME", "ttl", "zone", "size", "Value", "data"} {
		if !isReserved(w) {
			t.Errorf("%q should be reserved", w)
		}
	}
	for _, w := range []string{"pk", "sk", "id", "a", "gone", "createdAt", "email"} {
		if isReserved(w) {
			t.Errorf("%q should not be reserved", w)
		}
	}
}

func TestPath(t *testing.T) {
	p := Path{{Name: "a"}, {Name: "b"}, {Index: 3, IsIndex: true}, {Name: "c.d"}}
	if got := p.String(); got != "a.b[3].c.d" {
		t.Errorf("String() = %q", got)
	}
	if got := p.listString(); got != "[a, b, [3], c.d]" {
		t.Errorf("listString() = %q", got)
	}
	if p.Top() != "a" || (Path{}).Top() != "" {
		t.Errorf("Top")
	}
	it := itm(t, `{"a":{"M":{"b":{"L":[{"N":"0"},{"N":"1"},{"N":"2"},{"M":{"c.d":{"S":"hit"}}}]}}}}`)
	if v, ok := p.Get(it); !ok || !attr.Equal(v, attr.Str("hit")) {
		t.Errorf("Get = %v, %v", v, ok)
	}
	for _, miss := range []Path{
		{{Name: "a"}, {Name: "b"}, {Index: 4, IsIndex: true}},
		{{Name: "a"}, {Index: 0, IsIndex: true}},
		{{Name: "a"}, {Name: "b"}, {Name: "0"}},
		{{Name: "zz"}},
		{},
	} {
		if v, ok := miss.Get(it); ok {
			t.Errorf("%s found %v", miss, v)
		}
	}
	if _, ok := p.Get(nil); ok {
		t.Errorf("Get on no item found something")
	}
}
