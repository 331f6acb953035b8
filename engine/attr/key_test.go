package attr

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestKeyOrderNumbers(t *testing.T) {
	ordered := []string{
		"-" + strings.Repeat("9", 38) + strings.Repeat("0", 88),
		"-1E+100", "-10", "-9.5", "-9.45", "-9.4", "-1", "-0.5", "-1E-130",
		"0",
		"1E-130", "0.00001", "0.1", "0.12", "0.123", "0.2", "1", "3", "9.99", "10", "10.5", "11", "99", "100",
		"1E+100", strings.Repeat("9", 38) + strings.Repeat("0", 88),
	}
	var prev []byte
	for i, s := range ordered {
		n, err := ParseNumber(s)
		if err != nil {
			t.Fatal(err)
		}
		k := AppendKey(nil, num(n))
		if i > 0 && bytes.Compare(prev, k) >= 0 {
			t.Errorf("key(%s) = %x does not sort after key(%s) = %x", s, k, ordered[i-1], prev)
		}
		prev = k
		// Unnormalised text encodes the same.
		if !bytes.Equal(AppendKey(nil, num(s)), k) {
			t.Errorf("key(%s) differs from key of its normal form %s", s, n)
		}
	}
}

func TestKeyOrderBytes(t *testing.T) {
	ordered := [][]byte{{}, {0}, {0, 0}, {0, 1}, {0, 0xff}, {1}, {1, 0}, {0x7f}, {0x80}, {0xff}, {0xff, 0}, {0xff, 0xff}}
	for i := 1; i < len(ordered); i++ {
		a, b := AppendKey(nil, Bin(ordered[i-1])), AppendKey(nil, Bin(ordered[i]))
		if bytes.Compare(a, b) >= 0 {
			t.Errorf("key(%x) = %x !< key(%x) = %x", ordered[i-1], a, ordered[i], b)
		}
		sa, sb := AppendKey(nil, Str(string(ordered[i-1]))), AppendKey(nil, Str(string(ordered[i])))
		if !bytes.Equal(a, sa) || !bytes.Equal(b, sb) {
			t.Error("S and B keys of the same bytes differ")
		}
	}
	if got := AppendKey(nil, Str("a\x00b")); !bytes.Equal(got, []byte{'a', 0, 0xff, 'b', 0, 1}) {
		t.Errorf("escaping: %x", got)
	}
	if got := AppendKey([]byte("p"), Null()); !bytes.Equal(got, []byte("p")) {
		t.Errorf("non-key type appended %x", got)
	}
}

// TestKeyProperties: for random values of each key type, sorting by
// encoding equals sorting by Compare, decoding returns the value and the
// rest, and (pk, sk) concatenations sort by pk then sk.
func TestKeyProperties(t *testing.T) {
	r := newRand(t)
	gen := map[Type]func() Value{
		S: func() Value { return Str(string(randRawBytes(r, 6))) },
		B: func() Value { return Bin(randRawBytes(r, 6)) },
		N: func() Value { return num(randNumber(r)) },
	}
	for _, typ := range []Type{S, N, B} {
		vals := make([]Value, 500)
		for i := range vals {
			vals[i] = gen[typ]()
		}
		for _, v := range vals {
			k := AppendKey(nil, v)
			back, rest, err := DecodeKey(typ, append(k, "tail"...))
			if err != nil || !Equal(back, v) || string(rest) != "tail" {
				t.Fatalf("DecodeKey(%x) = %v, %q, %v; want %v", k, back, rest, err, v)
			}
			if typ == N && back.S != v.S {
				t.Fatalf("decoded number %q, want normalised %q", back.S, v.S)
			}
		}
		byCompare := slices.Clone(vals)
		slices.SortStableFunc(byCompare, func(a, b Value) int { c, _ := Compare(a, b); return c })
		byKey := slices.Clone(vals)
		slices.SortStableFunc(byKey, func(a, b Value) int { return bytes.Compare(AppendKey(nil, a), AppendKey(nil, b)) })
		for i := range vals {
			if c, _ := Compare(byCompare[i], byKey[i]); c != 0 {
				t.Fatalf("%v: sorted by key, position %d holds %v; by Compare %v", typ, i, byKey[i], byCompare[i])
			}
		}
		for i := 0; i < 2000; i++ {
			a, b := vals[r.IntN(len(vals))], vals[r.IntN(len(vals))]
			c, _ := Compare(a, b)
			if got := bytes.Compare(AppendKey(nil, a), AppendKey(nil, b)); got != c {
				t.Fatalf("key compare %v vs %v = %d, Compare says %d", a, b, got, c)
			}
		}
	}

	// Composite keys: (S pk, N sk).
	for i := 0; i < 3000; i++ {
		pa, pb := gen[S](), gen[S]()
		if r.IntN(2) == 0 {
			pb = pa
		}
		sa, sb := gen[N](), gen[N]()
		ka := AppendKey(AppendKey(nil, pa), sa)
		kb := AppendKey(AppendKey(nil, pb), sb)
		want, _ := Compare(pa, pb)
		if want == 0 {
			want, _ = Compare(sa, sb)
		}
		if got := bytes.Compare(ka, kb); got != want {
			t.Fatalf("(%v,%v) vs (%v,%v): key compare %d, want %d", pa, sa, pb, sb, got, want)
		}
		v1, rest, err := DecodeKey(S, ka)
		if err != nil {
			t.Fatal(err)
		}
		v2, rest, err := DecodeKey(N, rest)
		if err != nil || len(rest) != 0 || !Equal(v1, pa) || !Equal(v2, sa) {
			t.Fatalf("composite decode: %v %v %q %v", v1, v2, rest, err)
		}
	}
}

func TestDecodeKeyCorrupt(t *testing.T) {
	for _, tc := range []struct {
		t Type
		b []byte
	}{
		{S, nil},
		{S, []byte("abc")},
		{S, []byte{'a', 0}},
		{S, []byte{'a', 0, 2}},
		{B, []byte{0, 0xff}},
		{N, nil},
		{N, []byte{0x04}},
		{N, []byte{keyNumPos, 0x80}},
		{N, []byte{keyNumPos, 0x80, 0x01}},               // no digits, no terminator
		{N, []byte{keyNumPos, 0x80, 0x01, 0x00}},         // no digits
		{N, []byte{keyNumPos, 0x80, 0x01, 1 + 5, 0x00}},  // leading zero digit (05)
		{N, []byte{keyNumPos, 0x80, 0x01, 1 + 10, 1, 0}}, // trailing "00" pair
		{N, []byte{keyNumPos, 0x80, 0x01, 101, 0x00}},    // pair > 99
		{N, []byte{keyNumPos, 0x80, 0x01, 1 + 10}},       // unterminated
		{N, []byte{keyNumPos, 0x90, 0x00, 1 + 10, 0x00}}, // exponent out of range
		{N, []byte{keyNumNeg, 0x7f, 0xfe, 0xff - 11}},    // negative, unterminated
		{N, append([]byte{keyNumPos, 0x80, 0x01}, bytes.Repeat([]byte{12}, 20)...)}, // 40 digits
		{BOOL, []byte{1}},
	} {
		if v, _, err := DecodeKey(tc.t, tc.b); err == nil || !errors.Is(err, ErrCorrupt) {
			t.Errorf("DecodeKey(%v, %x) = %v, %v; want ErrCorrupt", tc.t, tc.b, v, err)
		}
	}
}

func FuzzDecodeKey(f *testing.F) {
	for _, v := range []Value{Str("a\x00b"), Bin([]byte{0xff, 0}), num("-1.5"), num("0"), num("1E+100"), num("0.001")} {
		f.Add(byte(v.Type), AppendKey(nil, v))
	}
	f.Fuzz(func(t *testing.T, typ byte, b []byte) {
		v, rest, err := DecodeKey(Type(typ), b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		// Canonical: re-encoding gives back the consumed bytes.
		consumed := b[:len(b)-len(rest)]
		if again := AppendKey(nil, v); !bytes.Equal(again, consumed) {
			t.Fatalf("DecodeKey(%v, %x) = %v re-encodes to %x", Type(typ), consumed, v, again)
		}
	})
}
