package globaltables

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/engine/attr"
	"github.com/godwit-db/godwit/streams"
	"github.com/godwit-db/godwit/streams/embedded"
	"github.com/godwit-db/godwit/streams/streamstest"
	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

const gtTable = "glob"

// gtRegion is one region of the two-region tests: an engine, its embedded
// NATS and its stream publisher.
type gtRegion struct {
	name string
	db   *engine.DB
	srv  *embedded.Server
	js   jetstream.JetStream // on this region's own NATS
}

func gtLogger() hclog.Logger { return streamstest.Logger() }

func gtStartRegion(t *testing.T, name string) *gtRegion {
	t.Helper()
	return gtStartRegionN(t, name, 4)
}

func gtStartRegionN(t *testing.T, name string, partitions int) *gtRegion {
	t.Helper()
	return gtStartRegionOpts(t, name, partitions, nil)
}

// gtStartRegionOpts is gtStartRegionN with the engine's Config adjusted by
// opts (when not nil).
func gtStartRegionOpts(t *testing.T, name string, partitions int, opts func(*engine.Config)) *gtRegion {
	t.Helper()
	r := streamstest.Start(t, streamstest.Config{Region: name, Partitions: partitions, Engine: opts})
	r.CreateStreamedTable(t, gtTable)
	if err := r.DB.SetReplicated(gtTable, true); err != nil {
		t.Fatal(err)
	}
	return &gtRegion{name: name, db: r.DB, srv: r.Server, js: r.JS}
}

// gtConn is a client connection to srv, closed at cleanup.
func gtConn(t *testing.T, srv *embedded.Server) *nats.Conn {
	t.Helper()
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// gtDriver starts a driver replicating into local from peer, reading the
// peer's JetStream through a connection of its own to the peer's server.
func gtDriver(t *testing.T, local, peer *gtRegion, reg prometheus.Registerer) *Driver {
	t.Helper()
	js, err := jetstream.New(gtConn(t, peer.srv))
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDriver(DriverConfig{
		Peer: peer.name, Table: gtTable, PeerJetStream: js, DB: local.db,
		TickInterval: 20 * time.Millisecond, RetryInterval: 50 * time.Millisecond,
		Source:     streams.JetStreamSourceConfig{IdleWait: 100 * time.Millisecond},
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

func gtEventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond) // NB: a poll interval, not a wait for an event
	}
}

func gtKey(k string) attr.Item { return attr.Item{"pk": attr.Str(k)} }

func gtPut(t testing.TB, r *gtRegion, k, v string) {
	in := &engine.PutItemInput{Item: attr.Item{"pk": attr.Str(k), "v": attr.Str(v)}}
	in.TableName = gtTable
	if _, err := r.db.PutItem(context.Background(), in); err != nil {
		t.Errorf("put %s in %s: %v", k, r.name, err)
	}
}

func gtUpdate(t testing.TB, r *gtRegion, k, v string) {
	ue := "SET u = :u"
	in := &engine.UpdateItemInput{Key: gtKey(k), UpdateExpression: &ue}
	in.TableName = gtTable
	in.ExpressionAttributeValues = map[string]attr.Value{":u": attr.Str(v)}
	if _, err := r.db.UpdateItem(context.Background(), in); err != nil {
		t.Errorf("update %s in %s: %v", k, r.name, err)
	}
}

func gtDelete(t testing.TB, r *gtRegion, k string) {
	in := &engine.DeleteItemInput{Key: gtKey(k)}
	in.TableName = gtTable
	if _, err := r.db.DeleteItem(context.Background(), in); err != nil {
		t.Errorf("delete %s in %s: %v", k, r.name, err)
	}
}

// gtDump renders every key's item (or tombstone) with its version.
func gtDump(t *testing.T, r *gtRegion, keys []string) string {
	t.Helper()
	var lines []string
	for _, k := range keys {
		v, deleted, ok, err := r.db.ItemVersion(gtTable, gtKey(k))
		if err != nil {
			t.Fatal(err)
		}
		out, err := r.db.GetItem(context.Background(), &engine.GetItemInput{TableName: gtTable, Key: gtKey(k), ConsistentRead: true})
		if err != nil {
			t.Fatal(err)
		}
		item, _ := json.Marshal(out)
		lines = append(lines, fmt.Sprintf("%s ok=%v deleted=%v @%v %s", k, ok, deleted, v, item))
	}
	return strings.Join(lines, "\n")
}

// gtCaughtUp reports whether d (replicating from peer) has applied every
// change the peer's outbox holds.
func gtCaughtUp(d *Driver, peer *gtRegion) bool {
	st := d.Status()
	info, _ := peer.db.Table(gtTable)
	for p := 0; p < info.Partitions; p++ {
		head, _ := peer.db.OutboxHead(gtTable, p)
		if st.Replicator.Partitions[p].Applied.ChangeSeq != head {
			return false
		}
	}
	return true
}

// gtStreamRecord is one message of a region's table stream.
type gtStreamRecord struct {
	origin string
	change *engine.Change
}

// gtReadStream returns every record of r's table stream.
func gtReadStream(t *testing.T, r *gtRegion) []gtStreamRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ts, ok, err := streams.LatestTableStream(ctx, r.js, r.name, gtTable)
	if err != nil || !ok {
		t.Fatalf("stream of %s: ok=%v %v", r.name, ok, err)
	}
	s, err := r.js.Stream(ctx, ts.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []gtStreamRecord
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get %d: %v", seq, err)
		}
		for _, c := range gtMessageChanges(t, m) {
			out = append(out, gtStreamRecord{origin: m.Header.Get(streams.HeaderOrigin), change: c})
		}
	}
	return out
}

// gtMessageChanges decodes the records of one stream message (one, or
// several in a layout 2 batch).
func gtMessageChanges(t *testing.T, m *jetstream.RawStreamMsg) []*engine.Change {
	t.Helper()
	n, err := streams.MessageCount(m.Header)
	if err != nil {
		t.Fatalf("message %d: %v", m.Sequence, err)
	}
	recs, err := streams.SplitRecords(nil, n, m.Data)
	if err != nil {
		t.Fatalf("message %d: %v", m.Sequence, err)
	}
	out := make([]*engine.Change, len(recs))
	for i, r := range recs {
		if out[i], err = engine.DecodeChange(r); err != nil {
			t.Fatalf("message %d record %d: %v", m.Sequence, i, err)
		}
	}
	return out
}

// gtCheckStream checks that r's stream holds each change once, and returns
// how many records of each origin it holds.
func gtCheckStream(t *testing.T, r *gtRegion) map[string]int {
	t.Helper()
	seen := map[string]bool{}
	byOrigin := map[string]int{}
	for _, rec := range gtReadStream(t, r) {
		id := fmt.Sprintf("%s %v", rec.change.Keys["pk"].S, rec.change.Version)
		if seen[id] {
			t.Errorf("%s's stream holds change %s twice", r.name, id)
		}
		seen[id] = true
		if rec.origin != rec.change.Version.Region {
			t.Errorf("%s's stream: record of %s has origin %q", r.name, id, rec.origin)
		}
		byOrigin[rec.origin]++
	}
	return byOrigin
}

// gtWaitStream waits until the publisher of r has created its table stream.
func gtWaitStream(t *testing.T, r *gtRegion) {
	t.Helper()
	gtEventually(t, 10*time.Second, r.name+"'s table stream", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, ok, err := streams.LatestTableStream(ctx, r.js, r.name, gtTable)
		return err == nil && ok
	})
}

// gtWorkload writes n random puts, updates and deletes of keys in r.
func gtWorkload(t *testing.T, r *gtRegion, rng *rand.Rand, keys []string, n int, tag string) {
	for i := 0; i < n; i++ {
		k := keys[rng.Intn(len(keys))]
		switch rng.Intn(5) {
		case 0:
			gtDelete(t, r, k)
		case 1, 2:
			gtUpdate(t, r, k, fmt.Sprintf("%s-%s-%d", r.name, tag, i))
		default:
			gtPut(t, r, k, fmt.Sprintf("%s-%s-%d", r.name, tag, i))
		}
	}
}

// TestDriverTwoRegions replicates one table both ways between two regions,
// each with its own engine and NATS, under concurrent writes to the same
// keys; then stops one driver, writes more and restarts it.
func TestDriverTwoRegions(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	us := gtStartRegion(t, "us-east-1")
	eu := gtStartRegion(t, "eu-west-1")
	keys := make([]string, 24)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%02d", i)
	}
	// A first write makes each publisher create its region's stream.
	gtPut(t, us, "seed-us", "x")
	gtPut(t, eu, "seed-eu", "x")
	keys = append(keys, "seed-us", "seed-eu")
	gtWaitStream(t, us)
	gtWaitStream(t, eu)

	reg := prometheus.NewRegistry()
	toEU := gtDriver(t, eu, us, reg) // applies us-east-1's changes in eu-west-1
	toUS := gtDriver(t, us, eu, reg)

	var wg sync.WaitGroup
	for i, r := range []*gtRegion{us, eu} {
		rng := rand.New(rand.NewSource(seed + int64(i)))
		for w := 0; w < 2; w++ {
			wrng := rand.New(rand.NewSource(rng.Int63()))
			wg.Add(1)
			go func() {
				defer wg.Done()
				gtWorkload(t, r, wrng, keys[:24], 150, fmt.Sprintf("w%d", w))
			}()
		}
	}
	wg.Wait()
	gtConverge(t, us, eu, toUS, toEU, keys)

	// No loops: each driver skipped the records its own region had sent
	// the peer, and applied exactly the peer's own changes, once each.
	usRecs, euRecs := gtCheckStream(t, us), gtCheckStream(t, eu)
	for _, c := range []struct {
		d           *Driver
		local, peer map[string]int
		peerName    string
		localName   string
	}{{toEU, euRecs, usRecs, "us-east-1", "eu-west-1"}, {toUS, usRecs, euRecs, "eu-west-1", "us-east-1"}} {
		st := c.d.Status()
		t.Logf("driver %s -> %s: applied %d stale %d counters %+v", c.peerName, c.localName, st.Applied, st.Stale, st.Replicator.Counters)
		if st.Replicator.Counters.SkippedLoop == 0 || st.Replicator.Counters.SkippedLoop != uint64(c.peer[c.localName]) {
			t.Errorf("driver from %s skipped %d records, the peer's stream holds %d of %s", c.peerName,
				st.Replicator.Counters.SkippedLoop, c.peer[c.localName], c.localName)
		}
		if got, want := st.Applied+st.Stale, uint64(c.peer[c.peerName]); got != want {
			t.Errorf("driver from %s handed %d changes to the engine, the peer originated %d", c.peerName, got, want)
		}
		if st.Applied == 0 || uint64(c.local[c.peerName]) > st.Applied {
			t.Errorf("%s's stream holds %d records of %s, the driver applied %d", c.localName, c.local[c.peerName], c.peerName, st.Applied)
		}
		if st.Resync != nil || st.LastError != "" {
			t.Errorf("driver from %s: resync %+v, last error %q", c.peerName, st.Resync, st.LastError)
		}
	}

	// Stop the eu-west-1 -> us-east-1 driver, write more in eu-west-1,
	// restart it: it resumes after what it applied, handing each new change
	// once.
	if err := toUS.Stop(); err != nil {
		t.Fatal(err)
	}
	before := gtCheckStream(t, eu)["eu-west-1"]
	rng := rand.New(rand.NewSource(seed + 7))
	gtWorkload(t, eu, rng, keys[:24], 60, "after-stop")
	toUS2 := gtDriver(t, us, eu, reg)
	gtConverge(t, us, eu, toUS2, toEU, keys)
	after := gtCheckStream(t, eu)["eu-west-1"]
	st := toUS2.Status()
	if got, want := st.Applied+st.Stale, uint64(after-before); got != want {
		t.Fatalf("restarted driver handed %d changes, %d were written after the stop", got, want)
	}
	gtCheckStream(t, us)
	if n := testutilCount(t, reg, "godwit_replication_latency_seconds"); n == 0 {
		t.Error("no replication latency observed")
	}
}

// gtConverge waits until both drivers applied everything their peer's
// outbox holds and both regions hold the same items, tombstones and versions.
func gtConverge(t *testing.T, us, eu *gtRegion, toUS, toEU *Driver, keys []string) {
	t.Helper()
	sort.Strings(keys)
	var du, de string
	deadline := time.Now().Add(20 * time.Second)
	for {
		if gtCaughtUp(toUS, eu) && gtCaughtUp(toEU, us) {
			du, de = gtDump(t, us, keys), gtDump(t, eu, keys)
			if du == de {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("regions did not converge:\nus-east-1 driver %+v\neu-west-1 driver %+v\nus:\n%s\neu:\n%s",
				toUS.Status(), toEU.Status(), gtDump(t, us, keys), gtDump(t, eu, keys))
		}
		time.Sleep(10 * time.Millisecond) // NB: a poll interval
	}
}

// testutilCount returns the sample count of a histogram family in reg.
func testutilCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			n += m.GetHistogram().GetSampleCount()
		}
	}
	return n
}

// TestDriverPartitionMismatch checks that a peer table with another
// partition count is refused at Start.
func TestDriverPartitionMismatch(t *testing.T) {
	us := gtStartRegionN(t, "us-east-1", 4)
	eu := gtStartRegionN(t, "eu-west-1", 2)
	gtPut(t, us, "a", "x")
	gtWaitStream(t, us)
	d, err := NewDriver(DriverConfig{Peer: us.name, Table: gtTable, PeerJetStream: us.js, DB: eu.db})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); !errors.Is(err, ErrPartitionMismatch) {
		t.Fatalf("start: %v, want ErrPartitionMismatch", err)
	}
	if d.Status().Running {
		t.Fatal("driver runs after a failed start")
	}
}

// TestDriverConfigValidate checks that every missing field is reported.
func TestDriverConfigValidate(t *testing.T) {
	err := DriverConfig{TickInterval: -1}.Validate()
	for _, want := range []string{"Peer", "Table", "PeerJetStream", "DB", "TickInterval"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, missing %s", err, want)
		}
	}
}

// TestDriverTwinsApplyOnce runs two drivers for the same (peer, table) at
// once, a misconfiguration: the engine's position guard lets each batch
// apply through one of them only, the other reloads its positions, and
// between them every change of the peer is handed to the engine once.
func TestDriverTwinsApplyOnce(t *testing.T) {
	us := gtStartRegion(t, "us-east-1")
	eu := gtStartRegion(t, "eu-west-1")
	gtPut(t, us, "seed", "x")
	gtWaitStream(t, us)
	a := gtDriver(t, eu, us, nil)
	b := gtDriver(t, eu, us, nil)
	rng := rand.New(rand.NewSource(1))
	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"}
	for round := 0; round < 5; round++ {
		gtWorkload(t, us, rng, keys, 40, fmt.Sprint(round))
	}
	gtEventually(t, 20*time.Second, "the twins to catch up", func() bool {
		return gtCaughtUp(a, us) && gtCaughtUp(b, us)
	})
	info, _ := us.db.Table(gtTable)
	var made uint64 // NB: a delete of an absent item makes no change
	for p := 0; p < info.Partitions; p++ {
		head, _ := us.db.OutboxHead(gtTable, p)
		made += head
	}
	sa, sb := a.Status(), b.Status()
	if got := sa.Applied + sa.Stale + sb.Applied + sb.Stale; got != made {
		t.Fatalf("twins handed %d changes to the engine, us-east-1 made %d (a %+v, b %+v)", got, made, sa, sb)
	}
	all := append([]string{"seed"}, keys...)
	if du, de := gtDump(t, us, all), gtDump(t, eu, all); du != de {
		t.Fatalf("not converged:\n%s\n---\n%s", du, de)
	}
	t.Logf("a: applied %d stale %d restores %d; b: applied %d stale %d restores %d", sa.Applied, sa.Stale, sa.Restores, sb.Applied, sb.Stale, sb.Restores)
}
