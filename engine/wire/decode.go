package wire

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/godwit-db/godwit/engine/apierr"
)

// Decode unmarshals an operation's request body into v, a non-nil pointer,
// the way DynamoDB's front end reads requests:
//
//   - an empty body (or null) is {}: v is left as it is;
//   - members v has no field for are ignored, as AWS ignores unknown members;
//   - malformed JSON is SerializationException without a message, as AWS
//     sends it;
//   - a member of the wrong JSON type is SerializationException with the
//     message AWS gives (capital "Message"), e.g. "class java.lang.String can
//     not be converted to an Integer", "Start of structure or map found where
//     not expected.", "Expected list or null";
//   - an *apierr.Error returned by a json.Unmarshaler inside v (an attribute
//     value decoder, say) is returned as is.
//
// A v that implements FastDecoder is first offered the body; see there.
//
// Any other decoding failure is a SerializationException too, except a v
// that is not a non-nil pointer, which is a programming error returned as a
// plain error (and so answered as InternalServerError). Decode never panics
// on any body.
//
// NB: encoding/json matches member names case-insensitively where AWS is
// exact, and rejects a fractional number for an integer member where AWS
// truncates it; both only make Decode accept or reject a few requests AWS
// would treat differently, never misread a well-formed one.
func Decode(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	if fd, ok := v.(FastDecoder); ok && fd.DecodeFast(body) {
		return nil
	}
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	if e := apierr.As(err); e != nil {
		return e
	}
	var invalid *json.InvalidUnmarshalError
	if errors.As(err, &invalid) {
		return fmt.Errorf("wire: decode: %w", err)
	}
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return apierr.Serialization("")
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return serializationError(typeErrorMessage(body, typ))
	}
	var b64 base64.CorruptInputError
	if errors.As(err, &b64) {
		return serializationError(fmt.Sprintf(
			"Base64 value can not be converted to a Blob: Invalid Base64 data at input byte %d", int64(b64)))
	}
	return serializationError(err.Error())
}

// serializationError is SerializationException as AWS sends it for a type
// mismatch: with a capital "Message".
func serializationError(msg string) *apierr.Error {
	e := apierr.Serialization("%s", msg)
	e.CapitalMessage = true
	return e
}

// typeErrorMessage words a type mismatch as AWS (a Java service) does.
func typeErrorMessage(body []byte, e *json.UnmarshalTypeError) string {
	t := e.Type
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	jsonKind, _, _ := strings.Cut(e.Value, " ") // "number 1.5" → "number"
	switch jsonKind {
	case "object":
		return "Start of structure or map found where not expected."
	case "array":
		return "Start of list found where not expected"
	}
	if t == nil {
		return "Unexpected " + jsonKind
	}
	switch t.Kind() {
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "class " + javaClassOf(jsonKind, body, e.Offset) + " can not be converted to a Blob"
		}
		return "Expected list or null"
	case reflect.Array:
		return "Expected list or null"
	case reflect.Map:
		return "Expected map or null"
	case reflect.Struct:
		return "Expected null"
	case reflect.Bool:
		if jsonKind == "string" {
			s, _ := stringLiteralBefore(body, e.Offset)
			return "'" + strings.ToUpper(s) + "' can not be converted to an Boolean"
		}
		return "class " + javaClassOf(jsonKind, body, e.Offset) + " can not be converted to an Boolean"
	case reflect.String:
		return "class " + javaClassOf(jsonKind, body, e.Offset) + " can not be converted to an String"
	}
	if name := javaNumberName(t.Kind()); name != "" {
		return "class " + javaClassOf(jsonKind, body, e.Offset) + " can not be converted to an " + name
	}
	return "class " + javaClassOf(jsonKind, body, e.Offset) + " can not be converted to an " + t.Kind().String()
}

// javaNumberName is the Java boxed type a Go number kind stands for.
func javaNumberName(k reflect.Kind) string {
	switch k {
	case reflect.Int8, reflect.Uint8:
		return "Byte"
	case reflect.Int16, reflect.Uint16:
		return "Short"
	case reflect.Int, reflect.Int32, reflect.Uint, reflect.Uint32:
		return "Integer"
	case reflect.Int64, reflect.Uint64, reflect.Uintptr:
		return "Long"
	case reflect.Float32:
		return "Float"
	case reflect.Float64:
		return "Double"
	}
	return ""
}

// javaClassOf is the Java class AWS names for a JSON value of kind jsonKind
// whose literal ends at offset off of body.
func javaClassOf(jsonKind string, body []byte, off int64) string {
	switch jsonKind {
	case "string":
		return "java.lang.String"
	case "bool":
		return "java.lang.Boolean"
	case "number":
		return javaNumberClass(numberLiteralBefore(body, off))
	}
	return "java.lang.Object"
}

// javaNumberClass is the class Jackson picks for a JSON number: Double when
// it has a fractional part, else the smallest of Short, Integer, Long.
func javaNumberClass(lit string) string {
	f, err := strconv.ParseFloat(lit, 64)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange):
		return "java.lang.Integer"
	case f != math.Trunc(f) || math.IsInf(f, 0):
		return "java.lang.Double"
	case f >= math.MinInt16 && f <= math.MaxInt16:
		return "java.lang.Short"
	case f >= math.MinInt32 && f <= math.MaxInt32:
		return "java.lang.Integer"
	}
	return "java.lang.Long"
}

// numberLiteralBefore returns the JSON number ending just before body[off].
func numberLiteralBefore(body []byte, off int64) string {
	if off <= 0 || off > int64(len(body)) {
		return ""
	}
	end := int(off)
	i := end
	for i > 0 && strings.IndexByte("0123456789+-.eE", body[i-1]) >= 0 {
		i--
	}
	return string(body[i:end])
}

// stringLiteralBefore returns the decoded JSON string literal ending just
// before body[off] (encoding/json reports a mismatched string's offset there).
func stringLiteralBefore(body []byte, off int64) (string, bool) {
	if off < 2 || off > int64(len(body)) || body[off-1] != '"' {
		return "", false
	}
	end := int(off) // body[end-1] is the closing quote
	for i := end - 2; i >= 0; i-- {
		if body[i] != '"' {
			continue
		}
		backslashes := 0
		for j := i - 1; j >= 0 && body[j] == '\\'; j-- {
			backslashes++
		}
		if backslashes%2 == 1 {
			continue // an escaped quote inside the literal
		}
		var s string
		if json.Unmarshal(body[i:end], &s) != nil {
			return "", false
		}
		return s, true
	}
	return "", false
}
