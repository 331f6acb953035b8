package attr

import (
	"flag"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomized tests (0: time-based)")

// newRand returns a seeded generator and logs the seed so a failure can be
// replayed with -seed.
func newRand(t testing.TB) *rand.Rand {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -seed=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

var strAlphabet = []string{"a", "b", "z", "A", "0", " ", "\"", "\\", "/", "\n", "\t", "\x00", "\x01", "\x7f",
	"é", "ß", "€", "漢", "😀", "\u2028", "<", "&"}

func randString(r *rand.Rand, maxLen int) string {
	n := r.IntN(maxLen + 1)
	var sb strings.Builder
	for i := 0; i < n; i++ {
		sb.WriteString(strAlphabet[r.IntN(len(strAlphabet))])
	}
	return sb.String()
}

// randRawBytes may hold any byte, 0x00 and 0xFF included.
func randRawBytes(r *rand.Rand, maxLen int) []byte {
	b := make([]byte, r.IntN(maxLen+1))
	for i := range b {
		switch r.IntN(4) {
		case 0:
			b[i] = 0
		case 1:
			b[i] = 0xFF
		default:
			b[i] = byte(r.IntN(256))
		}
	}
	return b
}

// randNumber returns a valid, normalised DynamoDB number, often near others
// (small exponents, few digits) so that ties and prefixes occur.
func randNumber(r *rand.Rand) string {
	if r.IntN(10) == 0 {
		return "0"
	}
	n := 1 + r.IntN(4)
	if r.IntN(4) == 0 {
		n = 1 + r.IntN(maxDigits)
	}
	digits := make([]byte, n)
	for i := range digits {
		digits[i] = byte('0' + r.IntN(10))
	}
	digits[0] = byte('1' + r.IntN(9))
	digits[n-1] = byte('1' + r.IntN(9))
	exp := r.IntN(9) - 3
	if r.IntN(4) == 0 {
		exp = r.IntN(126+129+1) - 129
	}
	d := decimal{neg: r.IntN(2) == 0, digits: digits, exp: exp}
	return string(d.appendText(nil))
}

func randValue(r *rand.Rand, depth int) Value {
	max := 11
	if depth >= 4 {
		max = 6 // scalars only
	}
	switch Type(1 + r.IntN(max-1)) {
	case S:
		return Str(randString(r, 8))
	case N:
		return Value{Type: N, S: randNumber(r)}
	case B:
		return Bin(randRawBytes(r, 8))
	case BOOL:
		return Boolean(r.IntN(2) == 0)
	case NULL:
		return Null()
	case M:
		m := map[string]Value{}
		for i := r.IntN(4); i > 0; i-- {
			m[randString(r, 4)] = randValue(r, depth+1)
		}
		return Value{Type: M, M: m}
	case L:
		l := []Value{}
		for i := r.IntN(4); i > 0; i-- {
			l = append(l, randValue(r, depth+1))
		}
		return Value{Type: L, L: l}
	case SS, NS:
		t := SS
		if r.IntN(2) == 0 {
			t = NS
		}
		seen := map[string]bool{}
		var set []string
		for i := 1 + r.IntN(4); i > 0; i-- {
			s := randString(r, 5)
			if t == NS {
				s = randNumber(r)
			}
			if !seen[s] {
				seen[s] = true
				set = append(set, s)
			}
		}
		return Value{Type: t, Set: set}
	default:
		seen := map[string]bool{}
		var set [][]byte
		for i := 1 + r.IntN(4); i > 0; i-- {
			b := randRawBytes(r, 5)
			if !seen[string(b)] {
				seen[string(b)] = true
				set = append(set, b)
			}
		}
		return Value{Type: BS, BSet: set}
	}
}

func randItem(r *rand.Rand) Item {
	it := Item{}
	for i := 1 + r.IntN(6); i > 0; i-- {
		it[randString(r, 6)] = randValue(r, 1)
	}
	return it
}
