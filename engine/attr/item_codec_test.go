package attr

import (
	"bytes"
	"errors"
	"testing"
)

func TestItemRoundTrip(t *testing.T) {
	r := newRand(t)
	for i := 0; i < 3000; i++ {
		it := randItem(r)
		enc := AppendItem(nil, it)
		if enc[0] != ItemFormatV1 {
			t.Fatalf("format byte %d", enc[0])
		}
		back, err := DecodeItem(enc)
		if err != nil {
			t.Fatalf("DecodeItem(%x) of %s: %v", enc, AppendItemJSON(nil, it), err)
		}
		if !EqualItems(it, back) {
			t.Fatalf("round trip changed\n%s\n%s", AppendItemJSON(nil, it), AppendItemJSON(nil, back))
		}
		// Exactly what was encoded: same bytes again, same set orders.
		if again := AppendItem(nil, back); !bytes.Equal(enc, again) {
			t.Fatalf("re-encoding differs\n%x\n%x", enc, again)
		}
		// Appending to a non-empty dst leaves the prefix alone.
		withPrefix := AppendItem([]byte("pfx"), it)
		if !bytes.Equal(withPrefix[:3], []byte("pfx")) || !bytes.Equal(withPrefix[3:], enc) {
			t.Fatal("AppendItem with prefix")
		}
	}
}

func TestDecodeItemDoesNotAlias(t *testing.T) {
	it := Item{"s": Str("hello"), "b": Bin([]byte{1, 2, 3}), "bs": {Type: BS, BSet: [][]byte{{9}}}}
	enc := AppendItem(nil, it)
	back, err := DecodeItem(enc)
	if err != nil {
		t.Fatal(err)
	}
	for i := range enc {
		enc[i] = 0xEE
	}
	if !EqualItems(it, back) {
		t.Fatalf("decoded item changed with its input: %s", AppendItemJSON(nil, back))
	}
	// A B value cannot grow into its neighbour.
	b := back["b"].B
	_ = append(b, 0x77)
	if !EqualItems(it, back) {
		t.Fatal("append to a decoded B overwrote other values")
	}
}

func TestDecodeItemCorrupt(t *testing.T) {
	valid := AppendItem(nil, Item{
		"a": Str("x"), "b": {Type: L, L: []Value{num("1"), Boolean(true)}},
		"c": {Type: M, M: map[string]Value{"k": {Type: BS, BSet: [][]byte{{1}}}}},
		"d": {Type: SS, Set: []string{"p", "q"}},
	})
	cases := map[string][]byte{
		"empty":         nil,
		"version":       {2, 0},
		"type 0":        {1, 1, 1, 'a', 0},
		"type 11":       {1, 1, 1, 'a', 11},
		"bad bool":      {1, 1, 1, 'a', byte(BOOL), 2},
		"huge count":    {1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"huge length":   {1, 1, 0xff, 0xff, 0x03, 'a'},
		"bad varint":    {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"names order":   {1, 2, 1, 'b', byte(NULL), 1, 'a', byte(NULL)},
		"names dup":     {1, 2, 1, 'a', byte(NULL), 1, 'a', byte(NULL)},
		"trailing":      append(append([]byte(nil), valid...), 0),
		"list count":    {1, 1, 1, 'a', byte(L), 5, byte(NULL)},
		"set truncated": {1, 1, 1, 'a', byte(SS), 2, 1, 'x'},
	}
	// Every strict prefix of a valid encoding is corrupt.
	for i := 0; i < len(valid); i++ {
		cases["prefix "+string(rune('0'+i%10))+string(rune('a'+i/10))] = valid[:i]
	}
	// Too deep.
	deep := []byte{1}
	for i := 0; i < 3*MaxDepth; i++ {
		deep = append(deep, 1, 1, 'a', byte(M))
	}
	deep = append(deep, 0)
	cases["deep"] = deep
	for name, b := range cases {
		it, err := DecodeItem(b)
		if err == nil {
			t.Errorf("%s: DecodeItem(%x) = %v, want error", name, b, it)
		} else if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: error %v does not wrap ErrCorrupt", name, err)
		}
	}
}

func FuzzDecodeItem(f *testing.F) {
	f.Add(AppendItem(nil, Item{"a": Str("x")}))
	f.Add(AppendItem(nil, Item{"n": num("-1.5"), "b": Bin([]byte{0, 1}), "t": Boolean(true), "z": Null()}))
	f.Add(AppendItem(nil, Item{"m": {Type: M, M: map[string]Value{"l": {Type: L, L: []Value{
		{Type: SS, Set: []string{"a"}}, {Type: NS, Set: []string{"1"}}, {Type: BS, BSet: [][]byte{{1}}}}}}}}))
	f.Add([]byte{})
	f.Add([]byte{1, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		it, err := DecodeItem(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		// Whatever decodes is canonical: it re-encodes to the same bytes.
		if again := AppendItem(nil, it); !bytes.Equal(again, b) {
			t.Fatalf("DecodeItem(%x) re-encodes to %x", b, again)
		}
	})
}
