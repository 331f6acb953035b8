package attr

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrCorrupt is wrapped by every error of DecodeItem and DecodeKey: the bytes
// are not something AppendItem or AppendKey produced.
var ErrCorrupt = errors.New("attr: corrupt encoding")

// ItemFormatV1 is the first byte of every stored item AppendItem writes.
const ItemFormatV1 = 1

// maxStoredDepth bounds recursion when decoding stored bytes. Valid items
// nest at most MaxDepth levels; the slack tolerates values built in code.
const maxStoredDepth = 2 * MaxDepth

// The stored item format, version 1 (all integers are unsigned varints):
//
//	item   = 0x01 map
//	map    = count (name value)*        names strictly increasing bytewise
//	name   = len bytes
//	value  = type(1 byte, the Type numbering) body
//	body   S, N: len bytes (N in normalised text)   B: len bytes
//	       BOOL: 0x00|0x01   NULL: nothing   M: map   L: count value*
//	       SS, NS: count (len bytes)*   BS: count (len bytes)*
//
// Sorted names make the encoding deterministic: equal items (same set
// orders) encode to equal bytes.

// AppendItem appends it in the stored item format. Values of TypeInvalid
// are written as such and make DecodeItem fail: store only valid items.
func AppendItem(dst []byte, it Item) []byte {
	dst = append(dst, ItemFormatV1)
	return appendBinMap(dst, it)
}

func appendBinMap(dst []byte, m map[string]Value) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(m)))
	var buf [16]string
	for _, k := range appendSortedKeys(buf[:0], m) {
		dst = appendBinString(dst, k)
		dst = appendBinValue(dst, m[k])
	}
	return dst
}

func appendBinString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBinBytes(dst []byte, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendBinValue(dst []byte, v Value) []byte {
	dst = append(dst, byte(v.Type))
	switch v.Type {
	case S, N:
		dst = appendBinString(dst, v.S)
	case B:
		dst = appendBinBytes(dst, v.B)
	case BOOL:
		if v.Bool {
			dst = append(dst, 1)
		} else {
			dst = append(dst, 0)
		}
	case M:
		dst = appendBinMap(dst, v.M)
	case L:
		dst = binary.AppendUvarint(dst, uint64(len(v.L)))
		for _, e := range v.L {
			dst = appendBinValue(dst, e)
		}
	case SS, NS:
		dst = binary.AppendUvarint(dst, uint64(len(v.Set)))
		for _, s := range v.Set {
			dst = appendBinString(dst, s)
		}
	case BS:
		dst = binary.AppendUvarint(dst, uint64(len(v.BSet)))
		for _, b := range v.BSet {
			dst = appendBinBytes(dst, b)
		}
	}
	return dst
}

// DecodeItem decodes bytes written by AppendItem. The result never aliases
// b: strings share one copy of it, and byte values share another. Any
// malformed input gives an error wrapping ErrCorrupt.
func DecodeItem(b []byte) (Item, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("decode item: empty: %w", ErrCorrupt)
	}
	if b[0] != ItemFormatV1 {
		return nil, fmt.Errorf("decode item: unknown format version %d: %w", b[0], ErrCorrupt)
	}
	d := binDecoder{data: b, str: string(b), pos: 1}
	m, err := d.mapv(0)
	if err != nil {
		return nil, fmt.Errorf("decode item: %w", err)
	}
	if d.pos != len(b) {
		return nil, fmt.Errorf("decode item: %d trailing bytes: %w", len(b)-d.pos, ErrCorrupt)
	}
	return Item(m), nil
}

type binDecoder struct {
	data  []byte
	str   string // string(data): names, S, N and set strings are substrings
	bytes []byte // a copy of data made at the first B/BS, shared by all of them
	pos   int
}

func corrupt(what string, pos int) error {
	return fmt.Errorf("%s at offset %d: %w", what, pos, ErrCorrupt)
}

func (d *binDecoder) uvarint() (int, error) {
	x, n := binary.Uvarint(d.data[d.pos:])
	// NB: a longer-than-needed varint (last byte 0) would decode to the
	// same item as the canonical one; rejecting it keeps decoding 1:1.
	if n <= 0 || x > uint64(len(d.data)) || n > 1 && d.data[d.pos+n-1] == 0 {
		return 0, corrupt("bad length", d.pos)
	}
	d.pos += n
	return int(x), nil
}

// count reads an element count; each element takes at least minSize bytes,
// so a count the remaining bytes cannot hold is corrupt (and no huge
// allocation follows from a corrupt count).
func (d *binDecoder) count(minSize int) (int, error) {
	n, err := d.uvarint()
	if err != nil {
		return 0, err
	}
	if n*minSize > len(d.data)-d.pos {
		return 0, corrupt("count exceeds input", d.pos)
	}
	return n, nil
}

func (d *binDecoder) span() (int, int, error) {
	n, err := d.uvarint()
	if err != nil {
		return 0, 0, err
	}
	if n > len(d.data)-d.pos {
		return 0, 0, corrupt("length exceeds input", d.pos)
	}
	start := d.pos
	d.pos += n
	return start, d.pos, nil
}

func (d *binDecoder) string() (string, error) {
	s, e, err := d.span()
	if err != nil {
		return "", err
	}
	return d.str[s:e], nil
}

func (d *binDecoder) blob() ([]byte, error) {
	s, e, err := d.span()
	if err != nil {
		return nil, err
	}
	if d.bytes == nil {
		d.bytes = append([]byte(nil), d.data...)
	}
	return d.bytes[s:e:e], nil
}

func (d *binDecoder) mapv(depth int) (map[string]Value, error) {
	n, err := d.count(2)
	if err != nil {
		return nil, err
	}
	m := make(map[string]Value, n)
	prev := ""
	for i := 0; i < n; i++ {
		at := d.pos
		k, err := d.string()
		if err != nil {
			return nil, err
		}
		if i > 0 && k <= prev {
			return nil, corrupt("names out of order", at)
		}
		prev = k
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, nil
}

func (d *binDecoder) value(depth int) (Value, error) {
	if depth > maxStoredDepth {
		return Value{}, corrupt("nesting too deep", d.pos)
	}
	if d.pos >= len(d.data) {
		return Value{}, corrupt("truncated value", d.pos)
	}
	t := Type(d.data[d.pos])
	d.pos++
	v := Value{Type: t}
	var err error
	switch t {
	case S, N:
		v.S, err = d.string()
	case B:
		v.B, err = d.blob()
	case BOOL:
		if d.pos >= len(d.data) || d.data[d.pos] > 1 {
			return Value{}, corrupt("bad BOOL", d.pos)
		}
		v.Bool = d.data[d.pos] == 1
		d.pos++
	case NULL:
	case M:
		v.M, err = d.mapv(depth)
	case L:
		var n int
		if n, err = d.count(1); err != nil {
			break
		}
		v.L = make([]Value, n)
		for i := range v.L {
			if v.L[i], err = d.value(depth + 1); err != nil {
				break
			}
		}
	case SS, NS:
		var n int
		if n, err = d.count(1); err != nil {
			break
		}
		v.Set = make([]string, n)
		for i := range v.Set {
			if v.Set[i], err = d.string(); err != nil {
				break
			}
		}
	case BS:
		var n int
		if n, err = d.count(1); err != nil {
			break
		}
		v.BSet = make([][]byte, n)
		for i := range v.BSet {
			if v.BSet[i], err = d.blob(); err != nil {
				break
			}
		}
	default:
		return Value{}, corrupt(fmt.Sprintf("bad type %d", t), d.pos-1)
	}
	if err != nil {
		return Value{}, err
	}
	return v, nil
}
