package attr

import "testing"

func TestAttributeSize(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    Value
		want int
	}{
		{"a", Str("hello"), 1 + 5},
		{"ab", Str("é"), 2 + 2}, // UTF-8 bytes
		{"", Str(""), 0},
		{"n", num("0"), 1 + 2},
		{"n", num("1"), 1 + 2},
		{"n", num("12"), 1 + 2},
		{"n", num("123"), 1 + 3},
		{"n", num("-12.345"), 1 + 4},
		{"n", num("1000000"), 1 + 2}, // trailing zeros trimmed
		{"n", num("0.0001"), 1 + 2},  // leading zeros trimmed
		{"n", num("12345678901234567890123456789012345678"), 1 + 20},
		{"b", Bin([]byte{1, 2, 3}), 1 + 3},
		{"t", Boolean(true), 1 + 1},
		{"z", Null(), 1 + 1},
		{"l", Value{Type: L}, 1 + 3},
		{"l", Value{Type: L, L: []Value{Str("ab"), Null()}}, 1 + 3 + (1 + 2) + (1 + 1)},
		{"m", Value{Type: M}, 1 + 3},
		{"m", Value{Type: M, M: map[string]Value{"key": Str("ab")}}, 1 + 3 + (1 + 3 + 2)},
		{"m", Value{Type: M, M: map[string]Value{"x": {Type: L, L: []Value{Null()}}}}, 1 + 3 + (1 + 1 + (3 + 1 + 1))},
		{"ss", Value{Type: SS, Set: []string{"a", "bcd"}}, 2 + 4},
		{"ns", Value{Type: NS, Set: []string{"1", "123"}}, 2 + 2 + 3},
		{"bs", Value{Type: BS, BSet: [][]byte{{1}, {1, 2}}}, 2 + 3},
	} {
		if got := AttributeSize(tc.name, tc.v); got != tc.want {
			t.Errorf("AttributeSize(%q, %v) = %d, want %d", tc.name, tc.v, got, tc.want)
		}
	}
	it := Item{"pk": Str("abc"), "n": num("12345"), "flag": Boolean(true)}
	if got, want := ItemSize(it), (2+3)+(1+4)+(4+1); got != want {
		t.Errorf("ItemSize = %d, want %d", got, want)
	}
	if ItemSize(nil) != 0 {
		t.Error("ItemSize(nil) != 0")
	}
}
