package attr

import (
	"encoding/base64"
	"slices"
	"unicode/utf8"
)

// AppendJSON appends v in DynamoDB JSON ({"S":"x"}, {"N":"1"}, ...). Map
// keys are sorted, so equal values encode to equal bytes. Strings are
// escaped as encoding/json escapes them, except that <, > and & are left
// alone (as AWS does); invalid UTF-8 becomes U+FFFD. A TypeInvalid value
// (the zero Value) encodes as null.
func AppendJSON(dst []byte, v Value) []byte {
	switch v.Type {
	case S:
		dst = append(dst, `{"S":`...)
		dst = AppendJSONString(dst, v.S)
	case N:
		dst = append(dst, `{"N":`...)
		dst = AppendJSONString(dst, v.S)
	case B:
		dst = append(dst, `{"B":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, v.B)
		dst = append(dst, '"')
	case BOOL:
		if v.Bool {
			return append(dst, `{"BOOL":true}`...)
		}
		return append(dst, `{"BOOL":false}`...)
	case NULL:
		return append(dst, `{"NULL":true}`...)
	case M:
		dst = append(dst, `{"M":`...)
		dst = appendJSONMap(dst, v.M)
	case L:
		dst = append(dst, `{"L":[`...)
		for i, e := range v.L {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendJSON(dst, e)
		}
		dst = append(dst, ']')
	case SS, NS:
		if v.Type == SS {
			dst = append(dst, `{"SS":[`...)
		} else {
			dst = append(dst, `{"NS":[`...)
		}
		for i, s := range v.Set {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendJSONString(dst, s)
		}
		dst = append(dst, ']')
	case BS:
		dst = append(dst, `{"BS":[`...)
		for i, b := range v.BSet {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '"')
			dst = base64.StdEncoding.AppendEncode(dst, b)
			dst = append(dst, '"')
		}
		dst = append(dst, ']')
	default:
		return append(dst, "null"...)
	}
	return append(dst, '}')
}

// AppendItemJSON appends it as a DynamoDB-JSON object, names sorted. A nil
// item encodes as {}.
func AppendItemJSON(dst []byte, it Item) []byte { return appendJSONMap(dst, it) }

// MarshalJSON is AppendJSON for encoding/json.
func (v Value) MarshalJSON() ([]byte, error) { return AppendJSON(nil, v), nil }

// MarshalJSON is AppendItemJSON for encoding/json.
func (it Item) MarshalJSON() ([]byte, error) { return AppendItemJSON(nil, it), nil }

// String is v's DynamoDB JSON, for debugging and test failures.
func (v Value) String() string { return string(AppendJSON(nil, v)) }

func appendJSONMap(dst []byte, m map[string]Value) []byte {
	dst = append(dst, '{')
	var buf [16]string
	keys := appendSortedKeys(buf[:0], m)
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendJSONString(dst, k)
		dst = append(dst, ':')
		dst = AppendJSON(dst, m[k])
	}
	return append(dst, '}')
}

// appendSortedKeys appends m's keys to keys and sorts them bytewise.
// Callers pass a stack buffer so that small maps sort without allocating.
func appendSortedKeys(keys []string, m map[string]Value) []string {
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string literal, escaped as
// encoding/json does: invalid UTF-8 becomes U+FFFD, and U+2028 and U+2029
// are escaped for JavaScript clients.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 break JavaScript parsers; encoding/json escapes them too.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
