package attr

import (
	"strconv"
	"testing"
)

func num(s string) Value { return Value{Type: N, S: s} }

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b Value
		c    int
		ok   bool
	}{
		{Str("a"), Str("b"), -1, true},
		{Str("b"), Str("a"), 1, true},
		{Str("a"), Str("a"), 0, true},
		{Str(""), Str("a"), -1, true},
		{Str("Z"), Str("a"), -1, true},      // bytewise, not case-folded
		{Str("é"), Str("z"), 1, true},       // UTF-8 bytes: 0xC3 > 'z'
		{Str("\uffff"), Str("😀"), -1, true}, // bytes, not UTF-16 units
		{num("10"), num("9"), 1, true},
		{num("-10"), num("-9.5"), -1, true},
		{num("1.0"), num("1"), 0, true},
		{Bin([]byte{0x01}), Bin([]byte{0xff}), -1, true}, // unsigned
		{Bin(nil), Bin([]byte{0}), -1, true},
		{Str("1"), num("1"), 0, false},
		{Boolean(false), Boolean(true), 0, false},
		{Null(), Null(), 0, false},
		{Value{Type: L}, Value{Type: L}, 0, false},
	} {
		c, ok := Compare(tc.a, tc.b)
		if c != tc.c || ok != tc.ok {
			t.Errorf("Compare(%v, %v) = %d, %v; want %d, %v", tc.a, tc.b, c, ok, tc.c, tc.ok)
		}
	}
}

func TestEqual(t *testing.T) {
	m := func(kv ...any) Value {
		mm := map[string]Value{}
		for i := 0; i < len(kv); i += 2 {
			mm[kv[i].(string)] = kv[i+1].(Value)
		}
		return Value{Type: M, M: mm}
	}
	l := func(vs ...Value) Value { return Value{Type: L, L: vs} }
	ss := func(s ...string) Value { return Value{Type: SS, Set: s} }
	ns := func(s ...string) Value { return Value{Type: NS, Set: s} }
	bs := func(b ...[]byte) Value { return Value{Type: BS, BSet: b} }
	for _, tc := range []struct {
		a, b Value
		eq   bool
	}{
		{Str("a"), Str("a"), true},
		{Str("a"), Str("b"), false},
		{Str("1"), num("1"), false},
		{num("1"), num("1.0"), true},
		{Bin(nil), Bin([]byte{}), true},
		{Bin([]byte{1}), Bin([]byte{2}), false},
		{Boolean(true), Boolean(true), true},
		{Boolean(true), Boolean(false), false},
		{Null(), Null(), true},
		{Null(), Boolean(false), false},
		{ss("a", "b"), ss("b", "a"), true},
		{ss("a", "b"), ss("a", "c"), false},
		{ss("a"), ss("a", "b"), false},
		{ss("a"), ns("1"), false},
		{ns("1", "2.5"), ns("2.50", "1"), true},
		{bs([]byte{1}, []byte{2}), bs([]byte{2}, []byte{1}), true},
		{bs([]byte{1}), bs([]byte{3}), false},
		{l(Str("a"), num("1")), l(Str("a"), num("1")), true},
		{l(Str("a"), num("1")), l(num("1"), Str("a")), false}, // lists are ordered
		{l(), Value{Type: L}, true},
		{m("a", Str("x"), "b", l(Null())), m("b", l(Null()), "a", Str("x")), true},
		{m("a", Str("x")), m("a", Str("y")), false},
		{m("a", Str("x")), m("b", Str("x")), false},
		{m("a", Str("x")), m("a", Str("x"), "b", Null()), false},
		{m(), Value{Type: M}, true},
	} {
		if got := Equal(tc.a, tc.b); got != tc.eq {
			t.Errorf("Equal(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.eq)
		}
		if got := Equal(tc.b, tc.a); got != tc.eq {
			t.Errorf("Equal(%v, %v) = %v, want %v (symmetry)", tc.b, tc.a, got, tc.eq)
		}
	}

	// Large sets take the sorting path.
	var a, b, c []string
	for i := 0; i < 100; i++ {
		a = append(a, strconv.Itoa(i))
		b = append(b, strconv.Itoa(99-i))
		c = append(c, strconv.Itoa(i+1))
	}
	if !Equal(ss(a...), ss(b...)) || Equal(ss(a...), ss(c...)) || !Equal(ns(a...), ns(b...)) {
		t.Error("large string sets compare wrongly")
	}
	var ba, bb [][]byte
	for i := 0; i < 100; i++ {
		ba = append(ba, []byte{byte(i)})
		bb = append(bb, []byte{byte(99 - i)})
	}
	if !Equal(bs(ba...), bs(bb...)) {
		t.Error("large binary sets compare wrongly")
	}
	bb[0] = []byte{200}
	if Equal(bs(ba...), bs(bb...)) {
		t.Error("different large binary sets compare equal")
	}

	r := newRand(t)
	for i := 0; i < 500; i++ {
		v := randValue(r, 0)
		if !Equal(v, v) {
			t.Fatalf("%v not equal to itself", v)
		}
	}
}
