package attr

// Item sizes follow DynamoDB's published rules (Developer Guide,
// "Capacity unit consumption": item size calculation), which are what the
// 400 KB item limit and capacity units count:
//
//	name           UTF-8 bytes of the attribute name (top level, and every M key)
//	S              UTF-8 bytes
//	N              (significant digits + 1)/2 + 1, integer division: one byte per
//	               two significant digits (leading and trailing zeros trimmed,
//	               zero counting as one digit), plus one
//	B              raw bytes
//	BOOL, NULL     1
//	L              3 + Σ (1 + element size)
//	M              3 + Σ (1 + key bytes + element size)
//	SS, NS, BS     Σ element sizes (each as S, N or B)
//
// DynamoDB calls the N rule approximate; this is the documented
// approximation, not a measurement of AWS.

// AttributeSize is the size DynamoDB charges for attribute name holding v.
func AttributeSize(name string, v Value) int { return len(name) + valueSize(v) }

// ItemSize is the size of the whole item: the sum of its AttributeSizes.
func ItemSize(it Item) int {
	n := 0
	for name, v := range it {
		n += len(name) + valueSize(v)
	}
	return n
}

func valueSize(v Value) int {
	switch v.Type {
	case S:
		return len(v.S)
	case N:
		return numberSize(v.S)
	case B:
		return len(v.B)
	case BOOL, NULL:
		return 1
	case M:
		n := 3
		for k, e := range v.M {
			n += 1 + len(k) + valueSize(e)
		}
		return n
	case L:
		n := 3
		for _, e := range v.L {
			n += 1 + valueSize(e)
		}
		return n
	case SS:
		n := 0
		for _, s := range v.Set {
			n += len(s)
		}
		return n
	case NS:
		n := 0
		for _, s := range v.Set {
			n += numberSize(s)
		}
		return n
	case BS:
		n := 0
		for _, b := range v.BSet {
			n += len(b)
		}
		return n
	}
	return 0
}

func numberSize(s string) int { return (significantDigits(s)+1)/2 + 1 }
