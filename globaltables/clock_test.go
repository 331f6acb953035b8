package globaltables

import (
	"context"
	"testing"
	"time"

	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine"
	"github.com/prometheus/client_golang/prometheus"
)

// TestDriverClockAheadAppliedAndCounted: us-east-1's clock runs an hour
// fast. Its writes replicate to eu-west-1 by their versions (replication
// does not stall), each counted in
// godwit_replication_clock_offset_exceeded_total, and eu-west-1's clock
// does not follow: a later eu-west-1 write to the item still wins in both
// regions, and its writes to other items keep eu-west-1's own time.
func TestDriverClockAheadAppliedAndCounted(t *testing.T) {
	fast := conflict.NewManualClock(time.Now().Add(time.Hour))
	us := gtStartRegionOpts(t, "us-east-1", 4, func(c *engine.Config) { c.Clock = fast })
	eu := gtStartRegionOpts(t, "eu-west-1", 4, func(c *engine.Config) { c.MaxClockOffset = 500 * time.Millisecond })
	gtPut(t, us, "a", "fast")
	gtPut(t, us, "b", "fast")
	gtPut(t, eu, "seed-eu", "x")
	gtWaitStream(t, us)
	gtWaitStream(t, eu)
	reg := prometheus.NewRegistry()
	toEU := gtDriver(t, eu, us, reg)
	toUS := gtDriver(t, us, eu, nil)
	keys := []string{"a", "b", "seed-eu"}
	gtConverge(t, us, eu, toUS, toEU, keys)
	if n := metricValue(t, reg, "godwit_replication_clock_offset_exceeded_total", map[string]string{"source": "us-east-1"}); n != 2 {
		t.Fatalf("clock offset exceeded counted %v, want 2", n)
	}
	if st := toEU.Status(); st.ClockAhead != 2 {
		t.Fatalf("driver status %+v", st)
	}
	fastVer, _, _, _ := eu.db.ItemVersion(gtTable, gtKey("a"))
	gtPut(t, eu, "a", "eu-later")
	gtPut(t, eu, "c", "eu")
	keys = append(keys, "c")
	gtConverge(t, us, eu, toUS, toEU, keys)
	v, _, _, _ := us.db.ItemVersion(gtTable, gtKey("a"))
	if v.Region != "eu-west-1" || !v.After(fastVer) {
		t.Fatalf("a is %v in us-east-1, want eu-west-1's later write over %v", v, fastVer)
	}
	if vc, _, _, _ := eu.db.ItemVersion(gtTable, gtKey("c")); time.Duration(vc.Wall-time.Now().UnixNano()) > 10*time.Minute {
		t.Fatalf("eu-west-1's clock followed the fast one: c stamped %v", vc)
	}
}

// TestVerifyIgnoresCollectedTombstones: a key deleted in both regions
// whose tombstone one region has already collected is not a difference.
func TestVerifyIgnoresCollectedTombstones(t *testing.T) {
	us := gtStartRegion(t, "us-east-1")
	eu := gtStartRegionOpts(t, "eu-west-1", 4, func(c *engine.Config) {
		c.TombstoneRetention, c.TombstoneGrace, c.TombstoneSweepInterval = time.Nanosecond, time.Nanosecond, -1
	})
	gtPut(t, us, "a", "x")
	gtPut(t, us, "b", "x")
	gtPut(t, eu, "seed-eu", "x")
	gtWaitStream(t, us)
	gtWaitStream(t, eu)
	toEU := gtDriver(t, eu, us, nil)
	toUS := gtDriver(t, us, eu, nil)
	keys := []string{"a", "b", "seed-eu"}
	gtConverge(t, us, eu, toUS, toEU, keys)
	gtDelete(t, us, "a")
	gtEventually(t, 10*time.Second, "the delete to replicate", func() bool {
		_, deleted, _, _ := eu.db.ItemVersion(gtTable, gtKey("a"))
		return deleted
	})
	gtEventually(t, 10*time.Second, "eu-west-1 to collect the tombstone", func() bool {
		n, err := eu.db.SweepTombstones(context.Background())
		return err == nil && n == 1
	})
	if _, deleted, _, _ := us.db.ItemVersion(gtTable, gtKey("a")); !deleted {
		t.Fatal("us-east-1 lost its tombstone")
	}
	regions := []VerifyRegion{gtDigestServer(t, us), gtDigestServer(t, eu)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep, err := Verify(ctx, VerifyConfig{Table: gtTable, Regions: regions, Buckets: 4, Settle: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Identical || rep.Entries["us-east-1"] != rep.Entries["eu-west-1"]+1 {
		t.Fatalf("report %+v", rep)
	}
}
