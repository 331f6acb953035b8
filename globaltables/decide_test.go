package globaltables

import (
	"testing"

	"github.com/godwit-db/godwit/conflict"
)

// TestDecideExhaustive checks Decide on every pair drawn from a small grid
// of versions (each component below, equal and above), with and without a
// stored version, against the rule stated independently here.
func TestDecideExhaustive(t *testing.T) {
	var vs []conflict.Version
	for _, w := range []int64{0, 1, 2} {
		for _, l := range []uint32{0, 1, 2} {
			for _, reg := range []string{"", "eu-west-1", "us-east-1", "us-east-1a"} {
				vs = append(vs, conflict.Version{Wall: w, Logical: l, Region: reg})
			}
		}
	}
	newer := func(a, b conflict.Version) bool {
		if a.Wall != b.Wall {
			return a.Wall > b.Wall
		}
		if a.Logical != b.Logical {
			return a.Logical > b.Logical
		}
		return a.Region > b.Region
	}
	for _, in := range vs {
		if got := Decide(in, conflict.Version{Wall: 99}, false); got != Apply {
			t.Fatalf("no stored version: Decide(%v) = %v", in, got)
		}
		for _, st := range vs {
			want := Skip
			if newer(in, st) {
				want = Apply
			}
			if got := Decide(in, st, true); got != want {
				t.Fatalf("Decide(%v, stored %v) = %v, want %v", in, st, got, want)
			}
			// Every region decides the same: exactly one of a pair of
			// distinct versions wins, whichever side holds it.
			if in != st && (Decide(in, st, true) == Apply) == (Decide(st, in, true) == Apply) {
				t.Fatalf("%v vs %v: not antisymmetric", in, st)
			}
		}
		if Decide(in, in, true) != Skip {
			t.Fatalf("replay of %v applied", in)
		}
	}
}

func TestDecideTieBreaksOnRegion(t *testing.T) {
	a := conflict.Version{Wall: 5, Logical: 3, Region: "eu-west-1"}
	b := conflict.Version{Wall: 5, Logical: 3, Region: "us-west-2"}
	if Decide(b, a, true) != Apply || Decide(a, b, true) != Skip {
		t.Fatal("region tiebreak: the bytewise-greater region must win")
	}
	if Decide(a, conflict.Version{}, true) != Apply {
		t.Fatal("a zero stored version must lose")
	}
	if Skip.String() != "skip" || Apply.String() != "apply" || Decision(7).String() != "unknown" {
		t.Fatal("Decision strings")
	}
}
