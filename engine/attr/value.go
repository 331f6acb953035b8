package attr

// Type is an attribute value's type tag.
type Type uint8

// The ten DynamoDB attribute types. The numeric values are part of the
// stored item format: never renumber.
const (
	TypeInvalid Type = iota
	S
	N
	B
	BOOL
	NULL
	M
	L
	SS
	NS
	BS
)

var typeNames = [...]string{"", "S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"}

// String is the type's DynamoDB-JSON key ("S", "NS", ...).
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "?"
}

// ParseType maps a DynamoDB-JSON type key to its Type (TypeInvalid if none).
func ParseType(s string) Type {
	for i, n := range typeNames {
		if i > 0 && n == s {
			return Type(i)
		}
	}
	return TypeInvalid
}

// Value is one attribute value. Exactly the field(s) for Type are meaningful:
//
//	S    -> S
//	N    -> S holds the number in DynamoDB's normalised text form ("42", "-1.5";
//	        never an exponent: 1E+100 is a 1 and 100 zeros; see ParseNumber)
//	B    -> B
//	BOOL -> Bool
//	NULL -> (nothing; NULL is always true)
//	M    -> M
//	L    -> L
//	SS   -> Set (strings, in insertion order, no duplicates)
//	NS   -> Set (normalised numbers, no numeric duplicates)
//	BS   -> BSet (no duplicates)
//
// Values are immutable once built: functions that "modify" return new values
// and share unmodified parts.
//
// NB: Bool sits next to Type so that a Value is 128 bytes: larger map
// elements are stored out of line by Go's maps, costing an allocation per
// attribute of every Item.
type Value struct {
	Type Type
	Bool bool
	S    string
	B    []byte
	M    map[string]Value
	L    []Value
	Set  []string
	BSet [][]byte
}

// Item is a whole item: top-level attribute name to value.
type Item map[string]Value

// Convenience constructors (used widely in tests).

// Str is an S value.
func Str(s string) Value { return Value{Type: S, S: s} }

// Bin is a B value.
func Bin(b []byte) Value { return Value{Type: B, B: b} }

// Boolean is a BOOL value.
func Boolean(b bool) Value { return Value{Type: BOOL, Bool: b} }

// Null is the NULL value.
func Null() Value { return Value{Type: NULL} }
