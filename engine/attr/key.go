package attr

import (
	"fmt"
)

// Order-preserving key encoding. For key values a and b of one type,
// bytes.Compare(AppendKey(nil, a), AppendKey(nil, b)) equals Compare(a, b),
// and every encoding is self-delimiting (no encoding is a prefix of another
// of the same type), so a concatenated (partition key, sort key) pair sorts
// by partition key, then sort key.
//
// S and B: the bytes with 0x00 escaped as 0x00 0xFF, then the terminator
// 0x00 0x01.
//
// N: a nonzero number is ±0.d1d2…dn × 10^e with d1 ≠ 0 and dn ≠ 0.
//
//	zero      0x02
//	positive  0x03, uint16(e+0x8000) big-endian, digit pairs, 0x00
//	negative  0x01, the same bytes as its absolute value's, each inverted
//	          (x → 0xFF-x), so larger magnitudes sort first; the terminator
//	          becomes 0xFF
//
// Digit pairs are d1d2, d3d4, … (an odd last digit paired with 0), each one
// byte 1+pair (1..100) so that 0x00 terminates below any digit; a shorter
// mantissa that is a prefix of a longer one sorts first, as 0.12 < 0.123.
// This is CockroachDB's decimal key encoding in spirit, simplified for
// DynamoDB's bounded exponents. The layout is part of the stored format.
const (
	keyNumNeg  = 0x01
	keyNumZero = 0x02
	keyNumPos  = 0x03
)

// AppendKey appends v's order-preserving encoding. v must be an S, N or B
// (the key types; anything else appends nothing) and an N must be valid
// number text (normalised or not: equal numbers encode equally).
func AppendKey(dst []byte, v Value) []byte {
	switch v.Type {
	case S:
		return appendKeyString(dst, v.S)
	case B:
		return appendKeyBytes(dst, v.B)
	case N:
		return appendKeyNumber(dst, v.S)
	}
	return dst
}

func appendKeyString(dst []byte, s string) []byte {
	for {
		i := indexZero(s)
		if i < 0 {
			dst = append(dst, s...)
			return append(dst, 0x00, 0x01)
		}
		dst = append(dst, s[:i]...)
		dst = append(dst, 0x00, 0xFF)
		s = s[i+1:]
	}
}

func appendKeyBytes(dst []byte, b []byte) []byte {
	for {
		i := indexZero(b)
		if i < 0 {
			dst = append(dst, b...)
			return append(dst, 0x00, 0x01)
		}
		dst = append(dst, b[:i]...)
		dst = append(dst, 0x00, 0xFF)
		b = b[i+1:]
	}
}

func indexZero[T string | []byte](s T) int {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return i
		}
	}
	return -1
}

func appendKeyNumber(dst []byte, s string) []byte {
	var buf [maxDigits + 8]byte
	d, ok := parseDecimal(s, buf[:0])
	if !ok || len(d.digits) == 0 {
		// NB: text that is no number cannot reach here through validated
		// input; encoding it as zero keeps AppendKey total.
		return append(dst, keyNumZero)
	}
	e := d.exp + 0x8000
	e = max(0, min(e, 0xFFFF))
	var inv byte // XOR mask: 0xFF inverts every byte of a negative
	if d.neg {
		inv = 0xFF
		dst = append(dst, keyNumNeg)
	} else {
		dst = append(dst, keyNumPos)
	}
	dst = append(dst, byte(e>>8)^inv, byte(e)^inv)
	for i := 0; i < len(d.digits); i += 2 {
		pair := (d.digits[i] - '0') * 10
		if i+1 < len(d.digits) {
			pair += d.digits[i+1] - '0'
		}
		dst = append(dst, (pair+1)^inv)
	}
	return append(dst, 0x00^inv)
}

// DecodeKey decodes one key value of type t (S, N or B) from the front of b
// and returns it with the bytes that follow. Numbers come back normalised;
// S and B values never alias b. Malformed input gives an error wrapping
// ErrCorrupt.
func DecodeKey(t Type, b []byte) (Value, []byte, error) {
	switch t {
	case S:
		raw, rest, err := decodeKeyBytes(b)
		if err != nil {
			return Value{}, nil, err
		}
		return Value{Type: S, S: string(raw)}, rest, nil
	case B:
		raw, rest, err := decodeKeyBytes(b)
		if err != nil {
			return Value{}, nil, err
		}
		if raw == nil {
			raw = []byte{}
		}
		return Value{Type: B, B: raw}, rest, nil
	case N:
		return decodeKeyNumber(b)
	}
	return Value{}, nil, fmt.Errorf("decode key: type %v is not a key type: %w", t, ErrCorrupt)
}

// decodeKeyBytes unescapes an S/B key encoding into a new slice.
func decodeKeyBytes(b []byte) ([]byte, []byte, error) {
	var out []byte
	for i := 0; i < len(b); i++ {
		if b[i] != 0 {
			continue
		}
		if i+1 >= len(b) {
			break
		}
		switch b[i+1] {
		case 0x01:
			out = append(out, b[:i]...)
			return out, b[i+2:], nil
		case 0xFF:
			out = append(out, b[:i]...)
			out = append(out, 0)
			b = b[i+2:]
			i = -1
		default:
			return nil, nil, fmt.Errorf("decode key: bad escape 0x00 0x%02x: %w", b[i+1], ErrCorrupt)
		}
	}
	return nil, nil, fmt.Errorf("decode key: unterminated string: %w", ErrCorrupt)
}

func decodeKeyNumber(b []byte) (Value, []byte, error) {
	if len(b) == 0 {
		return Value{}, nil, fmt.Errorf("decode key: empty number: %w", ErrCorrupt)
	}
	var inv byte
	switch b[0] {
	case keyNumZero:
		return Value{Type: N, S: "0"}, b[1:], nil
	case keyNumPos:
	case keyNumNeg:
		inv = 0xFF
	default:
		return Value{}, nil, fmt.Errorf("decode key: bad number tag 0x%02x: %w", b[0], ErrCorrupt)
	}
	if len(b) < 3 {
		return Value{}, nil, fmt.Errorf("decode key: truncated number: %w", ErrCorrupt)
	}
	d := decimal{neg: inv != 0, exp: (int(b[1]^inv)<<8 | int(b[2]^inv)) - 0x8000}
	var buf [maxDigits + 2]byte
	digits := buf[:0]
	i := 3
	for ; ; i++ {
		if i >= len(b) {
			return Value{}, nil, fmt.Errorf("decode key: unterminated number: %w", ErrCorrupt)
		}
		x := b[i] ^ inv
		if x == 0 {
			break
		}
		if x > 100 || len(digits) >= maxDigits {
			return Value{}, nil, fmt.Errorf("decode key: bad number digits: %w", ErrCorrupt)
		}
		x--
		digits = append(digits, '0'+x/10, '0'+x%10)
	}
	if len(digits) == 0 || digits[0] == '0' {
		return Value{}, nil, fmt.Errorf("decode key: non-canonical number: %w", ErrCorrupt)
	}
	if digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1] // the pad of an odd digit count
		if digits[len(digits)-1] == '0' {
			return Value{}, nil, fmt.Errorf("decode key: non-canonical number: %w", ErrCorrupt)
		}
	}
	d.digits = digits
	if err := d.check(); err != nil {
		return Value{}, nil, fmt.Errorf("decode key: number out of range: %w", ErrCorrupt)
	}
	var out [maxNumberText]byte
	return Value{Type: N, S: string(d.appendText(out[:0]))}, b[i+1:], nil
}
