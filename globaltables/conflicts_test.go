package globaltables

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/streams"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// gtDriverLog is gtDriver with a conflict log.
func gtDriverLog(t *testing.T, local, peer *gtRegion, reg prometheus.Registerer, log *ConflictLog) *Driver {
	t.Helper()
	js, err := jetstream.New(gtConn(t, peer.srv))
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDriver(DriverConfig{
		Peer: peer.name, Table: gtTable, PeerJetStream: js, DB: local.db,
		TickInterval: 20 * time.Millisecond, RetryInterval: 50 * time.Millisecond,
		Source:     streams.JetStreamSourceConfig{IdleWait: 100 * time.Millisecond},
		Conflicts:  log,
		Logger:     gtLogger(),
		Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	return d
}

func gtConflictLog(t *testing.T, r *gtRegion, reg prometheus.Registerer) *ConflictLog {
	t.Helper()
	l, err := NewConflictLog(ConflictLogConfig{JetStream: r.js, Region: r.name, MaxBytes: 16 << 20, Registerer: reg, Logger: gtLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = l.Close(ctx)
	})
	return l
}

// gtConflicts reads r's conflict log of the test table.
func gtConflicts(t *testing.T, r *gtRegion) []ConflictRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []ConflictRecord
	err := ReadConflicts(ctx, r.js, ConflictQuery{Table: gtTable}, func(rec ConflictRecord, raw []byte) error {
		out = append(out, rec)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDriverConflictsCountedAndLogged writes the same keys in two regions
// before they replicate (so the writes are concurrent: each made over
// nothing), then lets them converge: each region counts and logs one
// conflict per key, the winner is the greater version in both, and the
// region whose write won sees remote-lost where the other sees remote-won.
// A later write made over the converged version is not a conflict.
func TestDriverConflictsCountedAndLogged(t *testing.T) {
	us := gtStartRegion(t, "us-east-1")
	eu := gtStartRegion(t, "eu-west-1")
	gtPut(t, us, "seed-us", "x")
	gtPut(t, eu, "seed-eu", "x")
	gtWaitStream(t, us)
	gtWaitStream(t, eu)
	keys := []string{"c0", "c1", "c2", "c3", "c4"}
	want := map[string]conflict.Version{} // winner per key
	usVer := map[string]conflict.Version{}
	for _, k := range keys {
		gtPut(t, us, k, "us")
		gtPut(t, eu, k, "eu")
		vu, _, _, _ := us.db.ItemVersion(gtTable, gtKey(k))
		ve, _, _, _ := eu.db.ItemVersion(gtTable, gtKey(k))
		usVer[k] = vu
		want[k] = vu
		if ve.After(vu) {
			want[k] = ve
		}
	}
	usReg, euReg := prometheus.NewRegistry(), prometheus.NewRegistry()
	usLog, euLog := gtConflictLog(t, us, usReg), gtConflictLog(t, eu, euReg)
	toEU := gtDriverLog(t, eu, us, euReg, euLog)
	toUS := gtDriverLog(t, us, eu, usReg, usLog)
	all := append([]string{"seed-us", "seed-eu"}, keys...)
	gtConverge(t, us, eu, toUS, toEU, all)

	for _, r := range []*gtRegion{us, eu} {
		var recs []ConflictRecord
		gtEventually(t, 10*time.Second, r.name+"'s conflict log", func() bool {
			recs = gtConflicts(t, r)
			return len(recs) >= len(keys)
		})
		if len(recs) != len(keys) {
			t.Fatalf("%s logged %d conflicts, want %d: %+v", r.name, len(recs), len(keys), recs)
		}
		for _, rec := range recs {
			var key map[string]map[string]string
			if err := json.Unmarshal(rec.Key, &key); err != nil {
				t.Fatal(err)
			}
			k := key["pk"]["S"]
			w := want[k]
			if rec.WinnerVersion.Version() != w || rec.Region != r.name || rec.Table != gtTable {
				t.Errorf("%s: record %+v, want winner %v", r.name, rec, w)
			}
			// The local write won iff the winner is this region's.
			localWon := w.Region == r.name
			if localWon && (rec.Outcome != "remote-lost" || rec.Winner != "stored") ||
				!localWon && (rec.Outcome != "remote-won" || rec.Winner != "incoming") {
				t.Errorf("%s: key %s outcome %s winner %s, winner version %v", r.name, k, rec.Outcome, rec.Winner, w)
			}
			var stored, incoming map[string]map[string]string
			_ = json.Unmarshal(rec.StoredImage, &stored)
			_ = json.Unmarshal(rec.IncomingImage, &incoming)
			other := map[string]string{"us-east-1": "eu", "eu-west-1": "us"}[r.name]
			if stored["v"]["S"] != r.name[:2] || incoming["v"]["S"] != other {
				t.Errorf("%s: key %s images stored %v incoming %v", r.name, k, stored, incoming)
			}
		}
	}
	usWon := 0
	for _, k := range keys {
		if want[k] == usVer[k] {
			usWon++
		}
	}
	for _, c := range []struct {
		reg       *prometheus.Registry
		source    string
		won, lost int
		localName string
		driver    *Driver
	}{
		{usReg, "eu-west-1", len(keys) - usWon, usWon, "us-east-1", toUS},
		{euReg, "us-east-1", usWon, len(keys) - usWon, "eu-west-1", toEU},
	} {
		if n := countConflicts(t, c.reg, c.source, "remote-won"); n != c.won {
			t.Errorf("%s counted %d remote-won, want %d", c.localName, n, c.won)
		}
		if n := countConflicts(t, c.reg, c.source, "remote-lost"); n != c.lost {
			t.Errorf("%s counted %d remote-lost, want %d", c.localName, n, c.lost)
		}
		st := c.driver.Status()
		if st.RemoteWon != uint64(c.won) || st.RemoteLost != uint64(c.lost) {
			t.Errorf("%s driver status %+v", c.localName, st)
		}
	}

	// Sequential writes over the converged versions, both ways: no conflict.
	gtPut(t, us, "c0", "us-again")
	gtConverge(t, us, eu, toUS, toEU, all)
	gtPut(t, eu, "c0", "eu-again")
	gtDelete(t, eu, "c1")
	gtConverge(t, us, eu, toUS, toEU, all)
	if a, b := toUS.Status(), toEU.Status(); a.RemoteWon+a.RemoteLost+b.RemoteWon+b.RemoteLost != uint64(len(keys)*2) {
		t.Errorf("sequential writes counted as conflicts: %+v %+v", a, b)
	}
}

func countConflicts(t *testing.T, reg *prometheus.Registry, source, outcome string) int {
	t.Helper()
	return int(metricValue(t, reg, "godwit_replication_conflicts_total", map[string]string{"source": source, "outcome": outcome, "table": gtTable}))
}

// metricValue is the value of the counter or gauge name with labels in reg
// (0 when absent).
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if l[k] != v {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// TestConflictLogDropsWhenFull checks that Append never blocks: with the
// publisher unable to keep up (a closed log), records are dropped and
// counted.
func TestConflictLogDropsWhenFull(t *testing.T) {
	r := gtStartRegion(t, "us-east-1")
	reg := prometheus.NewRegistry()
	ctx := context.Background()
	l, err := NewConflictLog(ConflictLogConfig{JetStream: r.js, Region: r.name, MaxBytes: 16 << 20, Registerer: reg, Buffer: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if l.Append(ConflictRecord{Table: "t", Key: json.RawMessage(fmt.Sprintf(`{"pk":{"N":"%d"}}`, i))}) {
			t.Fatal("a closed log accepted a record")
		}
	}
	if got := metricValue(t, reg, "godwit_replication_conflict_log_dropped_total", map[string]string{"table": "t"}); got != 3 {
		t.Fatalf("dropped %v, want 3", got)
	}
	// A log that never published made no stream.
	if _, err := r.js.Stream(ctx, ConflictStream); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("conflict stream without conflicts: %v", err)
	}
}
