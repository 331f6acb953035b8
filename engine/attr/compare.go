package attr

import (
	"bytes"
	"slices"
	"strings"
)

// Compare orders a and b as DynamoDB does in key conditions and comparison
// operators: N numerically, S by UTF-8 bytes, B by unsigned bytes. ok is
// false unless both have the same one of those three types; c is then 0.
func Compare(a, b Value) (c int, ok bool) {
	if a.Type != b.Type {
		return 0, false
	}
	switch a.Type {
	case S:
		return strings.Compare(a.S, b.S), true
	case N:
		return CompareNumbers(a.S, b.S), true
	case B:
		return bytes.Compare(a.B, b.B), true
	}
	return 0, false
}

// Equal reports deep equality with DynamoDB's semantics: different types
// are never equal; N compares numerically; sets compare as sets (order
// ignored, NS numerically); M and L compare element by element; a nil and
// an empty B (or L, M) are equal.
func Equal(a, b Value) bool {
	if a.Type != b.Type {
		return false
	}
	switch a.Type {
	case S:
		return a.S == b.S
	case N:
		return a.S == b.S || CompareNumbers(a.S, b.S) == 0
	case B:
		return bytes.Equal(a.B, b.B)
	case BOOL:
		return a.Bool == b.Bool
	case NULL, TypeInvalid:
		return true
	case M:
		return equalMaps(a.M, b.M)
	case L:
		if len(a.L) != len(b.L) {
			return false
		}
		for i := range a.L {
			if !Equal(a.L[i], b.L[i]) {
				return false
			}
		}
		return true
	case SS:
		return equalStringSets(a.Set, b.Set, false)
	case NS:
		return equalStringSets(a.Set, b.Set, true)
	case BS:
		return equalByteSets(a.BSet, b.BSet)
	}
	return false
}

// EqualItems reports whether two items hold the same names with Equal values.
func EqualItems(a, b Item) bool { return equalMaps(a, b) }

func equalMaps(a, b map[string]Value) bool {
	if len(a) != len(b) {
		return false
	}
	for k, av := range a {
		bv, ok := b[k]
		if !ok || !Equal(av, bv) {
			return false
		}
	}
	return true
}

// equalStringSets compares duplicate-free sets: same size, and every
// element of a is in b (numerically when num). Small sets compare pairwise,
// which beats hashing at the sizes items hold; large ones sort copies.
func equalStringSets(a, b []string, num bool) bool {
	if len(a) != len(b) {
		return false
	}
	eq := func(x, y string) bool { return x == y || num && CompareNumbers(x, y) == 0 }
	if len(a) <= 64 {
	outer:
		for _, x := range a {
			for _, y := range b {
				if eq(x, y) {
					continue outer
				}
			}
			return false
		}
		return true
	}
	cmp := strings.Compare
	if num {
		cmp = CompareNumbers
	}
	ca, cb := slices.Clone(a), slices.Clone(b)
	slices.SortFunc(ca, cmp)
	slices.SortFunc(cb, cmp)
	for i := range ca {
		if !eq(ca[i], cb[i]) {
			return false
		}
	}
	return true
}

// equalByteSets is equalStringSets for BS.
func equalByteSets(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) <= 64 {
	outer:
		for _, x := range a {
			for _, y := range b {
				if bytes.Equal(x, y) {
					continue outer
				}
			}
			return false
		}
		return true
	}
	ca, cb := slices.Clone(a), slices.Clone(b)
	slices.SortFunc(ca, bytes.Compare)
	slices.SortFunc(cb, bytes.Compare)
	for i := range ca {
		if !bytes.Equal(ca[i], cb[i]) {
			return false
		}
	}
	return true
}
