package expr

import (
	"bytes"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/godwit-db/godwit/engine/attr"
)

// TestApplyNeverMutatesInput applies random update expressions to random
// items and checks that the input item is byte-for-byte unchanged, and that
// top-level SET and REMOVE actions have their effect.
func TestApplyNeverMutatesInput(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	params := fuzzParams()
	valueNames := sortedKeys(params.Values)
	applied := 0
	for iter := 0; iter < 10000; iter++ {
		it := randomItem(rng, 3)
		expr := randomUpdate(rng, valueNames)
		u, err := ParseUpdate(expr, params)
		if err != nil {
			continue // overlapping paths or ill-typed operands: not this test's business
		}
		before := attr.AppendItemJSON(nil, it)
		out, err := u.Apply(it)
		if after := attr.AppendItemJSON(nil, it); !bytes.Equal(before, after) {
			t.Fatalf("seed %d: Apply(%q) modified its input:\nbefore %s\nafter  %s", seed, expr, before, after)
		}
		if err != nil {
			continue
		}
		applied++
		for _, a := range u.actions {
			if len(a.path) != 1 {
				continue
			}
			got, ok := out[a.path[0].Name]
			switch {
			case a.kind == actSet && a.value.kind == nValue && (!ok || !attr.Equal(got, a.value.val)):
				t.Fatalf("seed %d: %q: %s = %v, want %v", seed, expr, a.path, got, a.value.val)
			case a.kind == actRemove && ok:
				t.Fatalf("seed %d: %q: %s still present", seed, expr, a.path)
			}
		}
	}
	t.Logf("%d of 10000 random updates applied", applied)
	if applied < 400 {
		t.Fatalf("seed %d: only %d updates applied; the generator needs fixing", seed, applied)
	}
}

var randNames = []string{"a", "b", "c", "l", "m"}

func randomItem(rng *rand.Rand, depth int) attr.Item {
	it := attr.Item{}
	for _, n := range randNames {
		if rng.Intn(3) > 0 {
			it[n] = randomValue(rng, depth)
		}
	}
	return it
}

func randomValue(rng *rand.Rand, depth int) attr.Value {
	k := rng.Intn(8)
	if depth == 0 {
		k %= 5
	}
	switch k {
	case 0:
		return attr.Str(fmt.Sprint("s", rng.Intn(3)))
	case 1:
		return attr.Value{Type: attr.N, S: fmt.Sprint(rng.Intn(10))}
	case 2:
		return attr.Value{Type: attr.SS, Set: []string{"x", "z"}[:1+rng.Intn(2)]}
	case 3:
		return attr.Value{Type: attr.NS, Set: []string{"1", "3"}[:1+rng.Intn(2)]}
	case 4:
		return attr.Boolean(rng.Intn(2) == 0)
	case 5, 6:
		l := make([]attr.Value, rng.Intn(4))
		for i := range l {
			l[i] = randomValue(rng, depth-1)
		}
		return attr.Value{Type: attr.L, L: l}
	default:
		m := map[string]attr.Value{}
		for _, n := range randNames[:rng.Intn(len(randNames))] {
			m[n] = randomValue(rng, depth-1)
		}
		return attr.Value{Type: attr.M, M: m}
	}
}

func randomPath(rng *rand.Rand) string {
	var b strings.Builder
	b.WriteString(randNames[rng.Intn(len(randNames))])
	for d := rng.Intn(4) - 1; d > 0; d-- {
		if rng.Intn(2) == 0 {
			fmt.Fprintf(&b, "[%d]", rng.Intn(4))
		} else {
			b.WriteString("." + randNames[rng.Intn(len(randNames))])
		}
	}
	return b.String()
}

func randomUpdate(rng *rand.Rand, values []string) string {
	val := func() string { return values[rng.Intn(len(values))] }
	operand := func() string {
		switch rng.Intn(4) {
		case 0:
			return randomPath(rng)
		case 1:
			return "if_not_exists(" + randomPath(rng) + ", " + val() + ")"
		default:
			return val()
		}
	}
	var secs []string
	if rng.Intn(4) > 0 {
		var acts []string
		for i := rng.Intn(3) + 1; i > 0; i-- {
			v := operand()
			switch rng.Intn(4) {
			case 0:
				v = operand() + " + " + ":n"
			case 1:
				v = "list_append(" + operand() + ", :l)"
			}
			acts = append(acts, randomPath(rng)+" = "+v)
		}
		secs = append(secs, "SET "+strings.Join(acts, ", "))
	}
	for _, kw := range []string{"REMOVE", "ADD", "DELETE"} {
		if rng.Intn(3) > 0 {
			continue
		}
		var acts []string
		for i := rng.Intn(2) + 1; i > 0; i-- {
			switch kw {
			case "REMOVE":
				acts = append(acts, randomPath(rng))
			case "ADD":
				acts = append(acts, randomPath(rng)+" "+[]string{":n", ":ss", ":ns"}[rng.Intn(3)])
			default:
				acts = append(acts, randomPath(rng)+" "+[]string{":ss", ":ns"}[rng.Intn(2)])
			}
		}
		secs = append(secs, kw+" "+strings.Join(acts, ", "))
	}
	if len(secs) == 0 {
		return "REMOVE " + randomPath(rng)
	}
	rng.Shuffle(len(secs), func(i, j int) { secs[i], secs[j] = secs[j], secs[i] })
	return strings.Join(secs, " ")
}
