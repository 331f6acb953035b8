package conflict

import "testing"

func TestClassify(t *testing.T) {
	v := func(wall int64, region string) Version { return Version{Wall: wall, Region: region} }
	known := func(ver, prev Version) Stamp { return Stamp{Version: ver, Prev: prev, PrevKnown: true} }
	var zero Version
	cases := []struct {
		name             string
		stored, incoming Stamp
		want             Outcome
	}{
		{"insert over nothing", Stamp{}, known(v(10, "b"), zero), Applied},
		{"sequential update", known(v(10, "a"), zero), known(v(20, "b"), v(10, "a")), Applied},
		{"replay", known(v(10, "a"), zero), known(v(10, "a"), zero), Stale},
		{"concurrent inserts, newer arrives", known(v(10, "a"), zero), known(v(20, "b"), zero), RemoteWon},
		{"concurrent inserts, older arrives", known(v(20, "b"), zero), known(v(10, "a"), zero), RemoteLost},
		{"concurrent updates of a common version, newer arrives", known(v(15, "a"), v(10, "c")), known(v(20, "b"), v(10, "c")), RemoteWon},
		{"concurrent updates of a common version, older arrives", known(v(20, "b"), v(10, "c")), known(v(15, "a"), v(10, "c")), RemoteLost},
		{"region tiebreak on equal wall", known(v(10, "a"), zero), known(v(10, "b"), zero), RemoteWon},
		{"incoming made over a newer version not here yet", known(v(10, "a"), zero), known(v(30, "b"), v(20, "c")), Applied},
		{"older copy of the version ours was made over", known(v(20, "b"), v(10, "a")), known(v(10, "a"), zero), Stale},
		{"older ancestor of ours, two hops", known(v(30, "b"), v(20, "c")), known(v(10, "a"), zero), Stale},
		{"stored prev unknown: no claim", Stamp{Version: v(20, "b")}, known(v(10, "a"), zero), Stale},
		{"incoming prev unknown: no claim", known(v(10, "a"), zero), Stamp{Version: v(20, "b")}, Applied},
		{"delete over a tombstone-resurrecting insert", known(v(20, "a"), v(10, "a")), known(v(25, "b"), v(10, "a")), RemoteWon},
		{"insert over the tombstone it saw", known(v(10, "a"), v(5, "a")), known(v(20, "b"), v(10, "a")), Applied},
	}
	for _, c := range cases {
		got := Classify(c.stored, c.incoming)
		if got != c.want {
			t.Errorf("%s: Classify(%v, %v) = %v, want %v", c.name, c.stored, c.incoming, got, c.want)
		}
		if got.Applies() != c.incoming.Version.After(c.stored.Version) {
			t.Errorf("%s: Applies()=%v disagrees with last-writer-wins", c.name, got.Applies())
		}
	}
}

// TestClassifyReportsConflictsOnBothSides checks that two regions writing
// concurrently over the same version each see the other's write as a
// conflict, with the same winner.
func TestClassifyReportsConflictsOnBothSides(t *testing.T) {
	common := Version{Wall: 5, Region: "c"}
	a := Stamp{Version: Version{Wall: 10, Region: "a"}, Prev: common, PrevKnown: true}
	b := Stamp{Version: Version{Wall: 10, Region: "b"}, Prev: common, PrevKnown: true}
	if got := Classify(a, b); got != RemoteWon { // in a, b arrives
		t.Fatalf("in a: %v", got)
	}
	if got := Classify(b, a); got != RemoteLost { // in b, a arrives
		t.Fatalf("in b: %v", got)
	}
}
