package conflict

import (
	"errors"
	"math/rand"
	"testing"
	"time"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestNowIsStrictlyIncreasingWhenClockStallsOrGoesBack(t *testing.T) {
	phys := NewManualClock(epoch)
	c := NewClock("r1", phys, time.Second)
	prev := c.Now()
	for i := 0; i < 100; i++ {
		switch i % 3 {
		case 0: // stalled clock
		case 1:
			phys.Advance(-time.Millisecond) // clock steps back
		case 2:
			phys.Advance(2 * time.Millisecond)
		}
		v := c.Now()
		if !v.After(prev) {
			t.Fatalf("step %d: %v is not after %v", i, v, prev)
		}
		if v.Region != "r1" {
			t.Fatalf("region %q", v.Region)
		}
		prev = v
	}
}

func TestUpdateOrdersLaterLocalWritesAfterRemote(t *testing.T) {
	phys := NewManualClock(epoch)
	c := NewClock("a", phys, time.Minute)
	remote := Version{Wall: epoch.Add(5 * time.Second).UnixNano(), Logical: 7, Region: "b"}
	if err := c.Update(remote); err != nil {
		t.Fatal(err)
	}
	if v := c.Now(); !v.After(remote) {
		t.Fatalf("local %v not after remote %v", v, remote)
	}
}

func TestUpdateRefusesVersionsBeyondMaxOffset(t *testing.T) {
	phys := NewManualClock(epoch)
	c := NewClock("a", phys, 500*time.Millisecond)
	before := c.Now()
	far := Version{Wall: epoch.Add(time.Hour).UnixNano(), Region: "b"}
	err := c.Update(far)
	var off *ErrClockOffset
	if !errors.As(err, &off) {
		t.Fatalf("want ErrClockOffset, got %v", err)
	}
	if v := c.Now(); v.Wall != before.Wall {
		t.Fatalf("clock moved to %v after a refused update", v)
	}
}

func TestNextAfterBeatsTheOverwrittenVersion(t *testing.T) {
	phys := NewManualClock(epoch)
	c := NewClock("a", phys, time.Second)
	// The stored version came from a region whose clock runs 3 s ahead.
	stored := Version{Wall: epoch.Add(3 * time.Second).UnixNano(), Region: "z"}
	if v := c.NextAfter(stored); !v.After(stored) {
		t.Fatalf("%v not after %v", v, stored)
	}
}

func TestCompareIsATotalOrderWithRegionTiebreak(t *testing.T) {
	a := Version{Wall: 10, Logical: 1, Region: "us-east-1"}
	b := Version{Wall: 10, Logical: 1, Region: "us-west-2"}
	if a.Compare(b) != -1 || b.Compare(a) != 1 || a.Compare(a) != 0 {
		t.Fatal("region tiebreak is not antisymmetric")
	}
	if !(Version{Wall: 11}).After(b) || !(Version{Wall: 10, Logical: 2}).After(b) {
		t.Fatal("wall/logical ordering wrong")
	}
}

func TestVersionBinaryRoundTrip(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	for i := 0; i < 1000; i++ {
		v := Version{Wall: rng.Int63(), Logical: rng.Uint32(), Region: string(rune('a' + rng.Intn(26)))}
		b := v.AppendBinary([]byte("prefix"))
		got, rest, err := DecodeVersion(append(b[len("prefix"):], 0xAB))
		if err != nil || got != v || len(rest) != 1 || rest[0] != 0xAB {
			t.Fatalf("round trip of %v: got %v rest %x err %v", v, got, rest, err)
		}
	}
	for _, bad := range [][]byte{nil, {1}, {2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, append(make([]byte, 13), 0xff), {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0x61}} {
		if _, _, err := DecodeVersion(bad); err == nil {
			t.Fatalf("decoded garbage %x", bad)
		}
	}
}

func TestNextAfterDoesNotFollowAStampBeyondMaxOffset(t *testing.T) {
	phys := NewManualClock(epoch)
	c := NewClock("a", phys, 500*time.Millisecond)
	far := Version{Wall: epoch.Add(time.Hour).UnixNano(), Logical: 3, Region: "b"}
	v := c.NextAfter(far)
	if !v.After(far) || v.Region != "a" {
		t.Fatalf("NextAfter(%v) = %v", far, v)
	}
	// The clock itself stays at physical time.
	if n := c.Now(); n.Wall != epoch.UnixNano() {
		t.Fatalf("clock dragged to %v by a stamp an hour ahead", n)
	}
	// Chained writes to the same item keep winning.
	if v2 := c.NextAfter(v); !v2.After(v) {
		t.Fatalf("%v not after %v", v2, v)
	}
	max := Version{Wall: far.Wall, Logical: ^uint32(0), Region: "z"}
	if v3 := c.NextAfter(max); !v3.After(max) {
		t.Fatalf("%v not after %v", v3, max)
	}
}
