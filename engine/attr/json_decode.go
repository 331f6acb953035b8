package attr

import (
	"encoding/base64"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/godwit-db/godwit/engine/apierr"
)

// MaxDepth is DynamoDB's nesting limit: a top-level attribute value is at
// level 1 and each enclosing M or L adds one; a value below level 32 is
// rejected.
const MaxDepth = 32

// Validation texts, as DynamoDB words them (dynalite's AWS-verified tests).
const (
	msgEmptyValue  = "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
	msgMultiValue  = "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"
	msgNullFalse   = "One or more parameter values were invalid: Null attribute value types must have the value of true"
	msgEmptySS     = "One or more parameter values were invalid: An string set  may not be empty"
	msgEmptyNS     = "One or more parameter values were invalid: An number set  may not be empty"
	msgEmptyBS     = "One or more parameter values were invalid: Binary sets should not be empty"
	msgDupNS       = "Input collection contains duplicates"
	msgNesting     = "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit"
	msgNullInSet   = "One or more parameter values were invalid: Sets may not contain null values"
	msgBadJSON     = "Unexpected token received from parser"
	msgStartObject = "Start of structure or map found where not expected"
	msgFieldType   = "Unexpected field type"
)

// DecodeItemJSON decodes a DynamoDB-JSON item ({"name": {"S": "x"}, ...}),
// validating every value as DynamoDB does. JSON null decodes to a nil Item.
// Errors are *apierr.Error: SerializationException for a JSON shape DynamoDB
// cannot bind (the first one found wins over any validation problem), else
// the first ValidationException in document order.
func DecodeItemJSON(data []byte) (Item, error) {
	d := newDecoder(data)
	d.ws()
	if d.isNull() {
		d.pos += 4
		return nil, d.finish()
	}
	m, err := d.members(1)
	if err != nil {
		return nil, err
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	return Item(m), nil
}

// DecodeValueJSON decodes one DynamoDB-JSON attribute value ({"N": "1"})
// at nesting level 1, with DecodeItemJSON's validation and errors. JSON
// null is "Supplied AttributeValue is empty".
func DecodeValueJSON(data []byte) (Value, error) {
	d := newDecoder(data)
	v, err := d.value(1)
	if err != nil {
		return Value{}, err
	}
	if err := d.finish(); err != nil {
		return Value{}, err
	}
	return v, nil
}

// DecodeItemJSONPrefix is DecodeItemJSON for the JSON value at the start of
// data, which anything may follow: it also returns how many bytes the value
// took (including whitespace before and after it). On success the item is
// exactly what DecodeItemJSON returns for those bytes; on error the error
// is one DecodeItemJSON could return for some prefix, so a caller that must
// report errors exactly as DecodeItemJSON does should decode again with it.
// It lets a hand-written request decoder skip a second scan of the body.
func DecodeItemJSONPrefix(data []byte) (Item, int, error) {
	d := newDecoder(data)
	d.ws()
	if d.isNull() {
		d.pos += 4
		d.ws()
		return nil, d.pos, d.verr
	}
	m, err := d.members(1)
	if err != nil {
		return nil, 0, err
	}
	d.ws()
	if d.verr != nil {
		return nil, 0, d.verr
	}
	return Item(m), d.pos, nil
}

// DecodeValueJSONPrefix is DecodeValueJSON for the value at the start of
// data, as DecodeItemJSONPrefix is for DecodeItemJSON.
func DecodeValueJSONPrefix(data []byte) (Value, int, error) {
	d := newDecoder(data)
	v, err := d.value(1)
	if err != nil {
		return Value{}, 0, err
	}
	d.ws()
	if d.verr != nil {
		return Value{}, 0, d.verr
	}
	return v, d.pos, nil
}

// UnmarshalJSON is DecodeItemJSON for encoding/json. It replaces *it; a JSON
// null leaves *it untouched (encoding/json's convention: an absent member).
func (it *Item) UnmarshalJSON(data []byte) error {
	m, err := DecodeItemJSON(data)
	if err != nil {
		return err
	}
	if m != nil {
		*it = m
	}
	return nil
}

// UnmarshalJSON is DecodeValueJSON for encoding/json. Unlike most types, a
// JSON null is an error (a null attribute value is never meaningful).
func (v *Value) UnmarshalJSON(data []byte) error {
	x, err := DecodeValueJSON(data)
	if err != nil {
		return err
	}
	*v = x
	return nil
}

// decoder is a hand-written scanner over one JSON document. Strings without
// escapes are substrings of str, a single copy of the input, so decoding
// allocates once for all of them.
type decoder struct {
	data []byte
	str  string
	pos  int
	verr error // first ValidationException; decoding goes on to find SerializationExceptions

	// Scratch stacks: elements of the lists and sets being decoded gather
	// here, then move into one exactly sized slice each.
	vals []Value
	strs []string
}

func newDecoder(data []byte) decoder { return decoder{data: data, str: string(data)} }

// finish checks that only whitespace follows and picks the error to report.
func (d *decoder) finish() error {
	d.ws()
	if d.pos != len(d.data) {
		return syntaxErr()
	}
	return d.verr
}

func (d *decoder) invalid(err error) {
	if d.verr == nil {
		d.verr = err
	}
}

func (d *decoder) invalidMsg(msg string) {
	if d.verr == nil {
		d.verr = apierr.Validation("%s", msg)
	}
}

func serialization(msg string) error {
	e := apierr.Serialization("%s", msg)
	e.CapitalMessage = true // AWS answers SerializationException with "Message"
	return e
}

func syntaxErr() error { return serialization(msgBadJSON) }

func (d *decoder) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) peek() byte {
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

func (d *decoder) isNull() bool {
	return len(d.data)-d.pos >= 4 && string(d.data[d.pos:d.pos+4]) == "null"
}

// literal consumes lit if it is next.
func (d *decoder) literal(lit string) bool {
	if len(d.data)-d.pos >= len(lit) && string(d.data[d.pos:d.pos+len(lit)]) == lit {
		d.pos += len(lit)
		return true
	}
	return false
}

// expectColon consumes whitespace, ':' and whitespace.
func (d *decoder) expectColon() error {
	d.ws()
	if d.peek() != ':' {
		return syntaxErr()
	}
	d.pos++
	d.ws()
	return nil
}

// next handles the separator before an object member or array element: it
// returns done at the closing bracket, and consumes a ',' unless first.
func (d *decoder) next(close byte, first bool) (done bool, err error) {
	d.ws()
	c := d.peek()
	if c == close {
		d.pos++
		return true, nil
	}
	if !first {
		if c != ',' {
			return false, syntaxErr()
		}
		d.pos++
		d.ws()
	}
	if d.pos >= len(d.data) {
		return false, syntaxErr()
	}
	return false, nil
}

// The JSON shapes a DynamoDB member binds to, for type-mismatch messages.
type kind uint8

const (
	kindString kind = iota // S, N, SS/NS elements
	kindBool               // BOOL, NULL
	kindBlob               // B, BS elements
	kindList               // L, SS, NS, BS
	kindMap                // M, an item
	kindValue              // an AttributeValue structure
)

// JSON token classes met where another was expected.
const (
	tokString = iota
	tokTrue
	tokFalse
	tokInt
	tokDec
	tokArray
	tokObject
	numToks
)

// mismatchMsgs are AWS's SerializationException texts for token t where
// kind k was expected (dynalite's AWS-verified type tests).
var mismatchMsgs = [...][numToks]string{
	kindString: {
		tokTrue: "TRUE_VALUE cannot be converted to String", tokFalse: "FALSE_VALUE cannot be converted to String",
		tokInt: "NUMBER_VALUE cannot be converted to String", tokDec: "DECIMAL_VALUE cannot be converted to String",
		tokArray: "Unrecognized collection type class java.lang.String", tokObject: msgStartObject,
	},
	kindBool: {
		tokString: "Unexpected token received from parser",
		tokInt:    "NUMBER_VALUE cannot be converted to Boolean", tokDec: "DECIMAL_VALUE cannot be converted to Boolean",
		tokArray: "Unrecognized collection type class java.lang.Boolean", tokObject: msgStartObject,
	},
	kindBlob: {
		tokTrue: "only base-64-encoded strings are convertible to bytes", tokFalse: "only base-64-encoded strings are convertible to bytes",
		tokInt: "only base-64-encoded strings are convertible to bytes", tokDec: "only base-64-encoded strings are convertible to bytes",
		tokArray: "Unrecognized collection type class java.nio.ByteBuffer", tokObject: msgStartObject,
	},
	kindList: {
		tokString: msgFieldType, tokTrue: msgFieldType, tokFalse: msgFieldType, tokInt: msgFieldType, tokDec: msgFieldType,
		tokObject: msgStartObject,
	},
	kindMap: {
		tokString: msgFieldType, tokTrue: msgFieldType, tokFalse: msgFieldType, tokInt: msgFieldType, tokDec: msgFieldType,
		tokArray: "Unrecognized collection type java.util.Map<java.lang.String, com.amazonaws.dynamodb.v20120810.AttributeValue>",
	},
	kindValue: {
		tokString: "Unexpected value type in payload", tokTrue: "Unexpected value type in payload",
		tokFalse: "Unexpected value type in payload", tokInt: "Unexpected value type in payload",
		tokDec:   "Unexpected value type in payload",
		tokArray: "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.AttributeValue",
	},
}

// mismatch reports the token at d.pos where kind k was expected.
func (d *decoder) mismatch(k kind) error {
	var t int
	switch c := d.peek(); c {
	case '"':
		t = tokString
	case 't':
		t = tokTrue
	case 'f':
		t = tokFalse
	case '[':
		t = tokArray
	case '{':
		t = tokObject
	default:
		if c != '-' && !isDigit(c) {
			return syntaxErr()
		}
		t = tokInt
		for i := d.pos + 1; i < len(d.data); i++ {
			c := d.data[i]
			if c == '.' || c == 'e' || c == 'E' {
				t = tokDec
			} else if !isDigit(c) && c != '+' && c != '-' {
				break
			}
		}
	}
	msg := mismatchMsgs[k][t]
	if msg == "" {
		return syntaxErr() // the expected token itself, but malformed
	}
	return serialization(msg)
}

// typeKey maps a member name of an AttributeValue to its Type.
func typeKey(k string) Type {
	switch k {
	case "S":
		return S
	case "N":
		return N
	case "B":
		return B
	case "BOOL":
		return BOOL
	case "NULL":
		return NULL
	case "M":
		return M
	case "L":
		return L
	case "SS":
		return SS
	case "NS":
		return NS
	case "BS":
		return BS
	}
	return TypeInvalid
}

// value decodes one AttributeValue object at nesting level. Members with
// unknown names or a null value are ignored, as AWS does.
func (d *decoder) value(level int) (Value, error) {
	d.ws()
	switch d.peek() {
	case '{':
	case 'n':
		if !d.literal("null") {
			return Value{}, syntaxErr()
		}
		d.invalidMsg(msgEmptyValue)
		return Value{}, nil
	default:
		return Value{}, d.mismatch(kindValue)
	}
	if level > MaxDepth {
		d.invalidMsg(msgNesting)
		return Value{}, d.skipValue()
	}
	d.pos++
	var v Value
	var seen uint16
	for first := true; ; first = false {
		done, err := d.next('}', first)
		if err != nil {
			return Value{}, err
		}
		if done {
			break
		}
		if d.peek() != '"' {
			return Value{}, syntaxErr()
		}
		key, err := d.readString()
		if err != nil {
			return Value{}, err
		}
		if err := d.expectColon(); err != nil {
			return Value{}, err
		}
		t := typeKey(key)
		if t == TypeInvalid {
			if err := d.skipValue(); err != nil {
				return Value{}, err
			}
			continue
		}
		if d.isNull() {
			d.pos += 4
			continue
		}
		seen |= 1 << t
		v.Type = t
		switch t {
		case S:
			v.S, err = d.stringOf(kindString)
		case N:
			var s string
			if s, err = d.stringOf(kindString); err == nil {
				v.S = d.number(s)
			}
		case B:
			v.B, err = d.blob()
		case BOOL:
			v.Bool, err = d.boolean()
		case NULL:
			var b bool
			if b, err = d.boolean(); err == nil && !b {
				d.invalidMsg(msgNullFalse)
			}
		case M:
			v.M, err = d.members(level + 1)
		case L:
			v.L, err = d.list(level + 1)
		case SS:
			v.Set, err = d.stringSet(false)
		case NS:
			v.Set, err = d.stringSet(true)
		case BS:
			v.BSet, err = d.blobSet()
		}
		if err != nil {
			return Value{}, err
		}
	}
	switch bits.OnesCount16(seen) {
	case 0:
		d.invalidMsg(msgEmptyValue)
	case 1:
	default:
		d.invalidMsg(msgMultiValue)
	}
	return v, nil
}

// members decodes an object of attribute name → AttributeValue (an M's
// content, or an item) whose values sit at level. A repeated name keeps
// the last value, as a JSON object bound to a map does.
func (d *decoder) members(level int) (map[string]Value, error) {
	d.ws()
	if d.peek() != '{' {
		return nil, d.mismatch(kindMap)
	}
	d.pos++
	m := make(map[string]Value)
	for first := true; ; first = false {
		done, err := d.next('}', first)
		if err != nil {
			return nil, err
		}
		if done {
			return m, nil
		}
		if d.peek() != '"' {
			return nil, syntaxErr()
		}
		name, err := d.readString()
		if err != nil {
			return nil, err
		}
		if err := d.expectColon(); err != nil {
			return nil, err
		}
		v, err := d.value(level)
		if err != nil {
			return nil, err
		}
		m[name] = v
	}
}

// list decodes an L's elements at level.
func (d *decoder) list(level int) ([]Value, error) {
	d.ws()
	if d.peek() != '[' {
		return nil, d.mismatch(kindList)
	}
	d.pos++
	mark := len(d.vals)
	defer func() { clear(d.vals[mark:]); d.vals = d.vals[:mark] }()
	for first := true; ; first = false {
		done, err := d.next(']', first)
		if err != nil {
			return nil, err
		}
		if done {
			return slices.Clone(d.vals[mark:len(d.vals):len(d.vals)]), nil
		}
		v, err := d.value(level)
		if err != nil {
			return nil, err
		}
		d.vals = append(d.vals, v)
	}
}

// stringSet decodes an SS, or an NS (numbers normalised) when num.
func (d *decoder) stringSet(num bool) ([]string, error) {
	d.ws()
	if d.peek() != '[' {
		return nil, d.mismatch(kindList)
	}
	d.pos++
	defer func() { d.strs = d.strs[:0] }() // sets do not nest
	for first := true; ; first = false {
		done, err := d.next(']', first)
		if err != nil {
			return nil, err
		}
		if done {
			break
		}
		if d.isNull() {
			d.pos += 4
			if num {
				d.invalidMsg(msgNumberFormat)
			} else {
				d.invalidMsg(msgNullInSet)
			}
			continue
		}
		s, err := d.stringOf(kindString)
		if err != nil {
			return nil, err
		}
		if num {
			s = d.number(s)
		}
		d.strs = append(d.strs, s)
	}
	set := slices.Clone(d.strs)
	switch {
	case len(set) == 0 && num:
		d.invalidMsg(msgEmptyNS)
	case len(set) == 0:
		d.invalidMsg(msgEmptySS)
	case hasDupStrings(set) && num:
		d.invalidMsg(msgDupNS)
	case hasDupStrings(set):
		d.invalidMsg("One or more parameter values were invalid: Input collection [" +
			strings.Join(set, ", ") + "] contains duplicates.")
	}
	return set, nil
}

// blobSet decodes a BS.
func (d *decoder) blobSet() ([][]byte, error) {
	d.ws()
	if d.peek() != '[' {
		return nil, d.mismatch(kindList)
	}
	d.pos++
	var set [][]byte
	for first := true; ; first = false {
		done, err := d.next(']', first)
		if err != nil {
			return nil, err
		}
		if done {
			break
		}
		if d.isNull() {
			d.pos += 4
			d.invalidMsg(msgNullInSet)
			continue
		}
		b, err := d.blob()
		if err != nil {
			return nil, err
		}
		set = append(set, b)
	}
	switch {
	case len(set) == 0:
		d.invalidMsg(msgEmptyBS)
	case hasDupBytes(set):
		var sb strings.Builder
		sb.WriteString("One or more parameter values were invalid: Input collection [")
		for i, b := range set {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(base64.StdEncoding.EncodeToString(b))
		}
		sb.WriteString("]of type BS contains duplicates.")
		d.invalidMsg(sb.String())
	}
	return set, nil
}

// smallSet is the size up to which duplicate checks compare pairs rather
// than build a map.
const smallSet = 16

func hasDupStrings(set []string) bool {
	if len(set) <= smallSet {
		for i := 1; i < len(set); i++ {
			for j := 0; j < i; j++ {
				if set[i] == set[j] {
					return true
				}
			}
		}
		return false
	}
	seen := make(map[string]struct{}, len(set))
	for _, s := range set {
		if _, ok := seen[s]; ok {
			return true
		}
		seen[s] = struct{}{}
	}
	return false
}

func hasDupBytes(set [][]byte) bool {
	if len(set) <= smallSet {
		for i := 1; i < len(set); i++ {
			for j := 0; j < i; j++ {
				if string(set[i]) == string(set[j]) {
					return true
				}
			}
		}
		return false
	}
	seen := make(map[string]struct{}, len(set))
	for _, b := range set {
		if _, ok := seen[string(b)]; ok {
			return true
		}
		seen[string(b)] = struct{}{}
	}
	return false
}

// number normalises s, recording a validation error if it is no number.
func (d *decoder) number(s string) string {
	n, err := ParseNumber(s)
	if err != nil {
		d.invalid(err)
		return s
	}
	return n
}

// stringOf reads a JSON string where kind k is expected.
func (d *decoder) stringOf(k kind) (string, error) {
	d.ws()
	if d.peek() != '"' {
		return "", d.mismatch(k)
	}
	return d.readString()
}

// boolean reads true or false.
func (d *decoder) boolean() (bool, error) {
	d.ws()
	switch {
	case d.literal("true"):
		return true, nil
	case d.literal("false"):
		return false, nil
	}
	return false, d.mismatch(kindBool)
}

// blob reads a base64 (standard alphabet, padded, canonical) string.
func (d *decoder) blob() ([]byte, error) {
	d.ws()
	if d.peek() != '"' {
		return nil, d.mismatch(kindBlob)
	}
	start := d.pos + 1
	s, err := d.readString()
	if err != nil {
		return nil, err
	}
	raw := d.data[start : d.pos-1]
	if len(raw) != len(s) { // it had escapes
		raw = []byte(s)
	}
	return decodeBase64(raw)
}

// strictB64 is standard base64 that rejects non-zero padding bits, as AWS does.
var strictB64 = base64.StdEncoding.Strict()

func decodeBase64(s []byte) ([]byte, error) {
	if len(s)%4 != 0 {
		return nil, serialization(fmt.Sprintf("Base64 encoded length is expected a multiple of 4 bytes but found: %d", len(s)))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || isDigit(c) || c == '+' || c == '/' || c == '=') {
			// NB: also catches \r and \n, which encoding/base64 would skip.
			r, _ := utf8.DecodeRune(s[i:])
			return nil, serialization("Invalid Base64 character: '" + string(r) + "'")
		}
	}
	b := make([]byte, strictB64.DecodedLen(len(s)))
	n, err := strictB64.Decode(b, s)
	if err != nil {
		return nil, serialization("Invalid last non-pad Base64 character dectected")
	}
	return b[:n], nil
}

// readString reads the JSON string at d.pos (which is '"'), returning a
// substring of the input copy when the string needs no unescaping.
func (d *decoder) readString() (string, error) {
	start := d.pos + 1
	for i := start; i < len(d.data); i++ {
		c := d.data[i]
		if c == '"' {
			d.pos = i + 1
			return d.str[start:i], nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			return d.readStringSlow(start, i)
		}
	}
	return "", syntaxErr()
}

// readStringSlow continues readString from i, the first byte that is not
// plain ASCII: valid UTF-8 still yields a substring; escapes and invalid
// UTF-8 (which becomes U+FFFD, as encoding/json does) build a new string.
func (d *decoder) readStringSlow(start, i int) (string, error) {
	for i < len(d.data) {
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return d.str[start:i], nil
		case c == '\\':
			return d.unescape(start, i)
		case c < 0x20:
			return "", syntaxErr()
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(d.data[i:])
			if r == utf8.RuneError && size == 1 {
				return d.unescape(start, i)
			}
			i += size
		}
	}
	return "", syntaxErr()
}

func (d *decoder) unescape(start, i int) (string, error) {
	buf := make([]byte, 0, i-start+16)
	buf = append(buf, d.data[start:i]...)
	data := d.data
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return string(buf), nil
		case c < 0x20:
			return "", syntaxErr()
		case c < utf8.RuneSelf && c != '\\':
			buf = append(buf, c)
			i++
		case c == '\\':
			if i+1 >= len(data) {
				return "", syntaxErr()
			}
			switch e := data[i+1]; e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r := hex4(data[i+2:])
				if r < 0 {
					return "", syntaxErr()
				}
				i += 6
				if utf16.IsSurrogate(r) {
					// A valid pair is consumed whole; anything else makes
					// this half U+FFFD and leaves what follows alone.
					r2 := rune(-1)
					if i+1 < len(data) && data[i] == '\\' && data[i+1] == 'u' {
						r2 = hex4(data[i+2:])
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						i += 6
						r = dec
					} else {
						r = utf8.RuneError
					}
				}
				buf = utf8.AppendRune(buf, r)
				continue
			default:
				return "", syntaxErr()
			}
			i += 2
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				buf = utf8.AppendRune(buf, utf8.RuneError)
			} else {
				buf = append(buf, data[i:i+size]...)
			}
			i += size
		}
	}
	return "", syntaxErr()
}

// hex4 parses 4 hex digits at the start of b, or returns -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// skipString skips the JSON string at d.pos (which is '"'), checking its
// escapes but not building it.
func (d *decoder) skipString() error {
	data := d.data
	for i := d.pos + 1; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			d.pos = i + 1
			return nil
		case c < 0x20:
			return syntaxErr()
		case c == '\\':
			if i+1 >= len(data) {
				return syntaxErr()
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if hex4(data[i+2:]) < 0 {
					return syntaxErr()
				}
				i += 5
			default:
				return syntaxErr()
			}
		}
	}
	return syntaxErr()
}

// skipNumber skips a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *decoder) skipNumber() error {
	data, i := d.data, d.pos
	digits := func() bool {
		s := i
		for i < len(data) && isDigit(data[i]) {
			i++
		}
		return i > s
	}
	if i < len(data) && data[i] == '-' {
		i++
	}
	if i < len(data) && data[i] == '0' {
		i++
	} else if !digits() {
		return syntaxErr()
	}
	if i < len(data) && data[i] == '.' {
		i++
		if !digits() {
			return syntaxErr()
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if !digits() {
			return syntaxErr()
		}
	}
	d.pos = i
	return nil
}

// skipValue skips one JSON value of any shape, checking its syntax. It is
// iterative, so hostile nesting cannot exhaust the stack.
func (d *decoder) skipValue() error {
	var stack []byte // open containers, '{' or '['
	for {
		// A value is expected here.
		d.ws()
		switch c := d.peek(); c {
		case '{', '[':
			d.pos++
			d.ws()
			closer := byte('}')
			if c == '[' {
				closer = ']'
			}
			if d.peek() == closer {
				d.pos++
				break
			}
			stack = append(stack, c)
			if c == '{' {
				if err := d.skipKey(); err != nil {
					return err
				}
			}
			continue
		case '"':
			if err := d.skipString(); err != nil {
				return err
			}
		case 't':
			if !d.literal("true") {
				return syntaxErr()
			}
		case 'f':
			if !d.literal("false") {
				return syntaxErr()
			}
		case 'n':
			if !d.literal("null") {
				return syntaxErr()
			}
		default:
			if err := d.skipNumber(); err != nil {
				return err
			}
		}
		// A value ended: close containers until one continues.
		for {
			if len(stack) == 0 {
				return nil
			}
			d.ws()
			top, c := stack[len(stack)-1], d.peek()
			if c == ',' {
				d.pos++
				if top == '{' {
					d.ws()
					if err := d.skipKey(); err != nil {
						return err
					}
				}
				break
			}
			if (top == '{' && c == '}') || (top == '[' && c == ']') {
				d.pos++
				stack = stack[:len(stack)-1]
				continue
			}
			return syntaxErr()
		}
	}
}

// skipKey skips `"name" :` inside an object.
func (d *decoder) skipKey() error {
	if d.peek() != '"' {
		return syntaxErr()
	}
	if err := d.skipString(); err != nil {
		return err
	}
	return d.expectColon()
}
