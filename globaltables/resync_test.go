package globaltables

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/godwit-db/godwit/streams"
	"github.com/prometheus/client_golang/prometheus"
)

// gtTrimStream limits r's table stream to its last n messages, as a short
// MaxMsgs retention would.
func gtTrimStream(t *testing.T, r *gtRegion, n int64) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ts, ok, err := streams.LatestTableStream(ctx, r.js, r.name, gtTable)
	if err != nil || !ok {
		t.Fatalf("stream of %s: %v", r.name, err)
	}
	s, err := r.js.Stream(ctx, ts.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := info.Config
	cfg.MaxMsgs = n
	if _, err := r.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	info, err = s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.FirstSeq
}

// TestDriverResyncAfterTrim stops both drivers between two regions (a
// partition), writes in both, trims the peer's stream past the replica's
// position, and restarts: the driver resynchronises from a snapshot of the
// peer, says so, and both regions converge with every write that won LWW,
// including the ones the peer never saw.
func TestDriverResyncAfterTrim(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	us := gtStartRegion(t, "us-east-1")
	eu := gtStartRegion(t, "eu-west-1")
	gtSnapshotServer(t, us, SnapshotServerConfig{})
	gtSnapshotServer(t, eu, SnapshotServerConfig{})
	keys := make([]string, 60)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%02d", i)
	}
	rng := rand.New(rand.NewSource(seed))
	gtWorkload(t, us, rng, keys, 100, "before")
	gtWorkload(t, eu, rng, keys, 100, "before")
	gtWaitStream(t, us)
	gtWaitStream(t, eu)
	reg := prometheus.NewRegistry()
	toEU := gtDriver(t, eu, us, reg)
	toUS := gtDriver(t, us, eu, reg)
	gtConverge(t, us, eu, toUS, toEU, keys)
	_ = toEU.Stop()
	_ = toUS.Stop()

	// The partition: writes on both sides, deletes included; then us-east-1's
	// stream keeps only its last 5 records.
	gtWorkload(t, us, rng, keys, 300, "outage")
	for i := 0; i < 10; i++ {
		gtDelete(t, us, keys[i])
	}
	var euOnly []string
	for i := 0; i < 5; i++ {
		k := fmt.Sprintf("eu-only-%d", i)
		gtPut(t, eu, k, "made during the outage")
		euOnly = append(euOnly, k)
	}
	gtUpdate(t, eu, keys[59], "eu during the outage")
	info, _ := us.db.Table(gtTable)
	gtEventually(t, 10*time.Second, "us-east-1's outbox published", func() bool {
		var total uint64
		for p := 0; p < info.Partitions; p++ {
			h, _ := us.db.OutboxHead(gtTable, p)
			total += h
		}
		return uint64(len(gtReadStream(t, us))) == total
	})
	first := gtTrimStream(t, us, 5)
	t.Logf("us-east-1's stream now starts at %d", first)
	gtTrimStream(t, us, -1) // the trim is done; no more of it

	toEU2 := gtDriver(t, eu, us, reg)
	gtEventually(t, 30*time.Second, "the resync", func() bool { return toEU2.Status().Resyncs >= 1 })
	st := toEU2.Status()
	if st.LastResync == nil || st.LastResync.Items == 0 {
		t.Fatalf("status after the resync: %+v", st)
	}
	t.Logf("resync: %+v", *st.LastResync)
	if got := gtMetric(t, reg, "godwit_replication_resyncs_total"); got != 1 {
		t.Fatalf("godwit_replication_resyncs_total = %v, want 1", got)
	}
	toUS2 := gtDriver(t, us, eu, reg)
	all := append(append([]string{}, keys...), euOnly...)
	gtConverge(t, us, eu, toUS2, toEU2, all)

	// Every write that won survived: the eu-only items made while us-east-1
	// could not see them, and the deletes made in us-east-1.
	d := gtDump(t, eu, all)
	for _, k := range euOnly {
		if !strings.Contains(d, k+" ok=true deleted=false") {
			t.Errorf("%s lost in the resync:\n%s", k, d)
		}
	}
	for _, k := range keys[:10] {
		// NB: an eu-west-1 write newer than the delete may win.
		if v, deleted, ok, _ := us.db.ItemVersion(gtTable, gtKey(k)); ok && !deleted && v.Region != eu.name {
			t.Errorf("%s not deleted after the resync (version %v)", k, v)
		}
	}
	if s := toEU2.Status(); s.Resync != nil || s.Resyncs != 1 {
		t.Fatalf("driver after the resync: resync %+v, resyncs %d", s.Resync, s.Resyncs)
	}
	if got := gtMetric(t, reg, "godwit_replication_resync_required"); got != 0 {
		t.Fatalf("godwit_replication_resync_required = %v after the resync", got)
	}
	// Writes go on replicating after the resync.
	gtPut(t, us, "after", "x")
	gtConverge(t, us, eu, toUS2, toEU2, append(all, "after"))
}

// gtMetric sums a counter or gauge family of reg.
func gtMetric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return v
}

// TestDriverResyncRetries checks that a resync the peer cannot serve yet
// (no snapshot server) is reported and retried, and succeeds once it can.
func TestDriverResyncRetries(t *testing.T) {
	us := gtStartRegion(t, "us-east-1")
	eu := gtStartRegion(t, "eu-west-1")
	gtPut(t, us, "k0", "x")
	gtWaitStream(t, us)
	first := gtDriver(t, eu, us, nil)
	gtEventually(t, 10*time.Second, "the first driver to catch up", func() bool { return gtCaughtUp(first, us) })
	_ = first.Stop()
	for i := 0; i < 30; i++ {
		gtPut(t, us, fmt.Sprintf("k%d", i), "y")
	}
	info, _ := us.db.Table(gtTable)
	gtEventually(t, 10*time.Second, "us-east-1's outbox published", func() bool {
		var total uint64
		for p := 0; p < info.Partitions; p++ {
			h, _ := us.db.OutboxHead(gtTable, p)
			total += h
		}
		return uint64(len(gtReadStream(t, us))) == total
	})
	gtTrimStream(t, us, 2)
	gtTrimStream(t, us, -1)
	d := gtDriver(t, eu, us, nil)
	gtEventually(t, 10*time.Second, "the failed resync to show", func() bool {
		s := d.Status()
		return s.Resync != nil && strings.Contains(s.LastError, "no snapshot server")
	})
	gtSnapshotServer(t, us, SnapshotServerConfig{})
	gtEventually(t, 10*time.Second, "the resync", func() bool { return d.Status().Resyncs == 1 })
	keys := make([]string, 30)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
	}
	gtEventually(t, 10*time.Second, "eu-west-1 to hold us-east-1's items", func() bool {
		return gtDump(t, us, keys) == gtDump(t, eu, keys)
	})
	if s := d.Status(); s.Resync != nil || s.Restores == 0 {
		t.Fatalf("status %+v", s)
	}
}
