package globaltables

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/engine/attr"
	"github.com/godwit-db/godwit/streams"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// gtSnapshotServer starts a snapshot server for r on a connection of its own.
func gtSnapshotServer(t *testing.T, r *gtRegion, cfg SnapshotServerConfig) *SnapshotServer {
	t.Helper()
	cfg.Conn, cfg.DB, cfg.Logger = gtConn(t, r.srv), r.db, gtLogger()
	s, err := NewSnapshotServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// gtBackfill backfills local from peer (through a connection to the peer's NATS).
func gtBackfill(t *testing.T, local, peer *gtRegion, resync bool) BackfillStats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var calls atomic.Int64
	st, err := Backfill(ctx, BackfillConfig{
		Peer: peer.name, PeerConn: gtConn(t, peer.srv), DB: local.db, Table: gtTable, Logger: gtLogger(),
		Resync: resync, Progress: func(done, total int64) { calls.Add(1) },
	})
	if err != nil {
		t.Fatalf("backfill %s <- %s: %v", local.name, peer.name, err)
	}
	if calls.Load() == 0 {
		t.Error("Progress never called")
	}
	return st
}

// gtAllKeys returns every key (items and tombstones) of both regions.
func gtAllKeys(t *testing.T, rs ...*gtRegion) []string {
	t.Helper()
	set := map[string]bool{}
	for _, r := range rs {
		s, err := r.db.SnapshotTable(gtTable)
		if err != nil {
			t.Fatal(err)
		}
		info := s.Table()
		for p := 0; p < info.Partitions; p++ {
			var after []byte
			for {
				es, done, err := s.Read(p, after, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range es {
					v, _, err := attr.DecodeKey(attr.S, e.Key)
					if err != nil {
						t.Fatal(err)
					}
					set[v.S] = true
					after = e.Key
				}
				if done {
					break
				}
			}
		}
		_ = s.Close()
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// gtWriteMany puts n items k00000.. in r with 4 writers, then deletes every tenth.
func gtWriteMany(t *testing.T, r *gtRegion, prefix string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 4 {
				gtPut(t, r, fmt.Sprintf("%s%05d", prefix, i), strconv.Itoa(i))
				if i%10 == 0 {
					gtDelete(t, r, fmt.Sprintf("%s%05d", prefix, i))
				}
			}
		}()
	}
	wg.Wait()
}

// TestBackfill10k backfills a new replica with 10k items (and 1k
// tombstones) over NATS, then follows the peer's stream from the
// snapshot's positions.
func TestBackfill10k(t *testing.T) {
	us := gtStartRegion(t, "us-east-1")
	eu := gtStartRegion(t, "eu-west-1")
	gtWriteMany(t, us, "k", 10000)
	gtWaitStream(t, us)
	srv := gtSnapshotServer(t, us, SnapshotServerConfig{})

	st := gtBackfill(t, eu, us, false)
	t.Logf("backfill: %+v (%.0f entries/s)", st, float64(st.Items+st.Tombstones)/st.Elapsed.Seconds())
	if st.Items != 9000 || st.Tombstones != 1000 {
		t.Fatalf("received %d items and %d tombstones, want 9000 and 1000", st.Items, st.Tombstones)
	}
	if srv.Sessions() != 0 {
		t.Fatalf("%d sessions left open", srv.Sessions())
	}
	keys := gtAllKeys(t, us, eu)
	if du, de := gtDump(t, us, keys), gtDump(t, eu, keys); du != de {
		t.Fatal("the replica differs from its source after the backfill")
	}
	// A backfill copies state; it is not a change made in eu-west-1.
	info, _ := eu.db.Table(gtTable)
	for p := 0; p < info.Partitions; p++ {
		if h, _ := eu.db.OutboxHead(gtTable, p); h != 0 {
			t.Fatalf("partition %d: eu-west-1's outbox holds %d records after the backfill", p, h)
		}
		head, _ := us.db.OutboxHead(gtTable, p)
		pos, _ := eu.db.AppliedPosition(gtTable, us.name, p)
		if pos.ChangeSeq != head || pos.StreamSeq == 0 {
			t.Fatalf("partition %d: stored position %+v, the source's outbox head is %d (stream seq wanted)", p, pos, head)
		}
	}
	// The driver follows from there: it hands only the changes made after
	// the snapshot to the engine.
	d := gtDriver(t, eu, us, nil)
	gtWorkload(t, us, rand.New(rand.NewSource(1)), keys[:50], 100, "after")
	gtEventually(t, 20*time.Second, "the driver to catch up", func() bool { return gtCaughtUp(d, us) })
	var made uint64 // changes made after the snapshot (a delete of an absent item makes none)
	for p := 0; p < info.Partitions; p++ {
		head, _ := us.db.OutboxHead(gtTable, p)
		made += head - st.Positions[p].ChangeSeq
	}
	// NB: records the publisher had not yet published at the snapshot are
	// read after its stream position and dropped as duplicates.
	if s := d.Status(); s.Applied+s.Stale != made || made == 0 {
		t.Fatalf("driver after the backfill: handed %d changes, %d made since the snapshot (%d duplicates dropped)", s.Applied+s.Stale, made, s.Replicator.Counters.Duplicates)
	}
	if du, de := gtDump(t, us, keys), gtDump(t, eu, keys); du != de {
		t.Fatal("the replica differs from its source after following the stream")
	}
}

// TestBackfillWhileWriting backfills while the source keeps writing, with
// small chunks so that the writes interleave with the transfer, and checks
// that the replica converges once its driver follows the stream from the
// snapshot's positions.
func TestBackfillWhileWriting(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	us := gtStartRegion(t, "us-east-1")
	eu := gtStartRegion(t, "eu-west-1")
	gtWriteMany(t, us, "k", 2000)
	gtWaitStream(t, us)
	gtSnapshotServer(t, us, SnapshotServerConfig{ChunkBytes: 2 << 10})
	keys := make([]string, 300)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%05d", i*7)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var written atomic.Int64
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewSource(seed))
		for i := 0; ; i++ {
			select {
			case <-stop:
				if i > 0 {
					return
				}
			default:
			}
			gtWorkload(t, us, rng, keys, 10, fmt.Sprint(i))
			written.Add(10)
		}
	}()
	st := gtBackfill(t, eu, us, false)
	close(stop)
	wg.Wait()
	t.Logf("backfill %+v; %d writes during it", st, written.Load())
	d := gtDriver(t, eu, us, nil)
	gtEventually(t, 20*time.Second, "the driver to catch up", func() bool { return gtCaughtUp(d, us) })
	all := gtAllKeys(t, us, eu)
	if du, de := gtDump(t, us, all), gtDump(t, eu, all); du != de {
		t.Fatalf("not converged after backfill + stream")
	}
}

// TestBackfillThirdRegionPositions checks that a new replica starts reading
// a third region's stream where its source had applied it.
func TestBackfillThirdRegionPositions(t *testing.T) {
	us := gtStartRegion(t, "us-east-1")
	eu := gtStartRegion(t, "eu-west-1")
	ap := gtStartRegion(t, "ap-south-1")
	for i := 0; i < 40; i++ {
		gtPut(t, eu, fmt.Sprintf("e%d", i), "eu")
	}
	gtWaitStream(t, eu)
	d := gtDriver(t, us, eu, nil)
	gtEventually(t, 20*time.Second, "us to apply eu", func() bool { return gtCaughtUp(d, eu) })
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	gtSnapshotServer(t, us, SnapshotServerConfig{})
	gtBackfill(t, ap, us, false)
	info, _ := ap.db.Table(gtTable)
	for p := 0; p < info.Partitions; p++ {
		want, _ := us.db.AppliedPosition(gtTable, eu.name, p)
		got, _ := ap.db.AppliedPosition(gtTable, eu.name, p)
		if got != want {
			t.Fatalf("partition %d: ap-south-1 reads eu-west-1 from %+v, us-east-1 had applied %+v", p, got, want)
		}
	}
	keys := gtAllKeys(t, us, ap)
	if len(keys) != 40 {
		t.Fatalf("%d keys, want 40", len(keys))
	}
	if du, da := gtDump(t, us, keys), gtDump(t, ap, keys); du != da {
		t.Fatal("ap-south-1 differs from us-east-1")
	}
	// Following eu-west-1 from there applies nothing twice.
	d2 := gtDriver(t, ap, eu, nil)
	gtEventually(t, 20*time.Second, "ap to follow eu", func() bool { return gtCaughtUp(d2, eu) })
	if s := d2.Status(); s.Applied+s.Stale != 0 {
		t.Fatalf("ap-south-1 re-applied %d of eu-west-1's changes the backfill carried", s.Applied+s.Stale)
	}
}

// TestSnapshotSessionExpiry checks that an idle session is released and
// that a request for it then gets SessionNotFound.
func TestSnapshotSessionExpiry(t *testing.T) {
	us := gtStartRegion(t, "us-east-1")
	gtPut(t, us, "a", "x")
	srv := gtSnapshotServer(t, us, SnapshotServerConfig{IdleTimeout: 50 * time.Millisecond})
	c := &snapshotClient{conn: gtConn(t, us.srv), peer: us.name, timeout: 5 * time.Second}
	ctx := context.Background()
	open, err := c.open(ctx, gtTable)
	if err != nil {
		t.Fatal(err)
	}
	if srv.Sessions() != 1 {
		t.Fatalf("%d sessions", srv.Sessions())
	}
	if _, _, _, err := c.next(ctx, open.Session, 0, nil); err != nil {
		t.Fatal(err)
	}
	gtEventually(t, 5*time.Second, "the idle session to expire", func() bool { return srv.Sessions() == 0 })
	if _, _, _, err := c.next(ctx, open.Session, 0, nil); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("next on an expired session: %v", err)
	}
	if err := c.close(ctx, open.Session); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("close of an expired session: %v", err)
	}
	// MaxSessions bounds the pinned snapshots.
	srv2 := gtSnapshotServer(t, us, SnapshotServerConfig{MaxSessions: 1})
	_ = srv.Close() // one server answers from here on
	o1, err := c.open(ctx, gtTable)
	if err != nil {
		t.Fatal(err)
	}
	var se *SnapshotError
	if _, err := c.open(ctx, gtTable); !errors.As(err, &se) || se.Code != codeTooManySessions {
		t.Fatalf("second open with MaxSessions 1: %v", err)
	}
	if err := c.close(ctx, o1.Session); err != nil || srv2.Sessions() != 0 {
		t.Fatalf("close: %v, %d sessions", err, srv2.Sessions())
	}
}

// TestSnapshotServerBadRequests sends malformed requests: each gets an
// error reply, and the server keeps serving.
func TestSnapshotServerBadRequests(t *testing.T) {
	us := gtStartRegion(t, "us-east-1")
	eu := gtStartRegion(t, "eu-west-1")
	gtPut(t, us, "a", "x")
	gtSnapshotServer(t, us, SnapshotServerConfig{})
	nc := gtConn(t, us.srv)
	for _, c := range []struct{ op, body, code string }{
		{"open", "", codeBadRequest},
		{"open", "{", codeBadRequest},
		{"open", `{"v":1,"table":"glob"}`, codeBadRequest},
		{"open", `{"v":2}`, codeBadRequest},
		{"open", `{"v":2,"table":"nope"}`, codeTableNotFound},
		{"open", `{"v":2,"table":7}`, codeBadRequest},
		{"next", `{"v":2,"session":"x","partition":0}`, codeSessionNotFound},
		{"next", `{"v":2,"session":"x","partition":-1,"after":"!!"}`, codeBadRequest},
		{"next", "\x00\xff", codeBadRequest},
		{"close", `{"v":2,"session":""}`, codeSessionNotFound},
		{"frobnicate", `{}`, codeBadRequest},
	} {
		m, err := nc.Request(SnapshotSubject(us.name, c.op), []byte(c.body), 5*time.Second)
		if err != nil {
			t.Fatalf("%s %q: %v", c.op, c.body, err)
		}
		if got := m.Header.Get(HeaderError); got != c.code {
			t.Errorf("%s %q: error code %q (%s), want %q", c.op, c.body, got, m.Data, c.code)
		}
	}
	// A session, then out-of-range partitions and odd cursors.
	cl := &snapshotClient{conn: nc, peer: us.name, timeout: 5 * time.Second}
	open, err := cl.open(context.Background(), gtTable)
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{
		fmt.Sprintf(`{"v":2,"session":%q,"partition":99}`, open.Session),
		fmt.Sprintf(`{"v":2,"session":%q,"partition":-5}`, open.Session),
	} {
		m, err := nc.Request(SnapshotSubject(us.name, "next"), []byte(body), 5*time.Second)
		if err != nil || m.Header.Get(HeaderError) != codeBadRequest {
			t.Errorf("%s: %v %v", body, err, m)
		}
	}
	m, err := nc.Request(SnapshotSubject(us.name, "next"), fmt.Appendf(nil, `{"v":2,"session":%q,"partition":0,"after":"/////w=="}`, open.Session), 5*time.Second)
	if err != nil || m.Header.Get(HeaderError) != "" {
		t.Fatalf("next after a key past every key: %v %v", err, m)
	}
	if es, done, err := decodeChunk(m.Data); err != nil || len(es) != 0 || !done {
		t.Fatalf("chunk past the end: %d entries, done %v, %v", len(es), done, err)
	}
	// The server still works.
	st := gtBackfill(t, eu, us, false)
	if st.Items != 1 {
		t.Fatalf("backfill after bad requests: %+v", st)
	}
	// No snapshot server at all: a clear error, not a hang.
	_, err = Backfill(context.Background(), BackfillConfig{Peer: "nowhere-1", PeerConn: nc, DB: eu.db, Table: gtTable})
	if !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("backfill from a region nobody serves: %v", err)
	}
}

// TestBackfillSchemaMismatch checks that a peer with another partition
// count is refused before anything is written.
func TestBackfillSchemaMismatch(t *testing.T) {
	us := gtStartRegionN(t, "us-east-1", 4)
	eu := gtStartRegionN(t, "eu-west-1", 2)
	gtPut(t, us, "a", "x")
	gtSnapshotServer(t, us, SnapshotServerConfig{})
	_, err := Backfill(context.Background(), BackfillConfig{Peer: us.name, PeerConn: gtConn(t, us.srv), DB: eu.db, Table: gtTable})
	if !errors.Is(err, ErrSchemaMismatch) {
		t.Fatalf("backfill across partition counts: %v", err)
	}
}

// TestLocateChange places every outbox sequence of every partition in a
// real table stream and checks the answer against the stream's records.
func TestLocateChange(t *testing.T) {
	us := gtStartRegion(t, "us-east-1")
	for i := 0; i < 300; i++ {
		gtPut(t, us, fmt.Sprintf("k%d", i%40), strconv.Itoa(i))
	}
	gtWaitStream(t, us)
	info, _ := us.db.Table(gtTable)
	var total uint64
	for p := 0; p < info.Partitions; p++ {
		h, _ := us.db.OutboxHead(gtTable, p)
		total += h
	}
	gtEventually(t, 10*time.Second, "every record published", func() bool { return uint64(len(gtReadStream(t, us))) == total })
	recs := gtReadStreamSeqs(t, us)
	ctx := context.Background()
	ts, _, err := streams.LatestTableStream(ctx, us.js, us.name, gtTable)
	if err != nil {
		t.Fatal(err)
	}
	check := func(p int, n uint64, trimmedBelow uint64) {
		t.Helper()
		loc, err := locateInTableStream(ctx, us.js, ts, p, n)
		if err != nil {
			t.Fatal(err)
		}
		var first uint64
		for _, r := range recs[p] {
			if r.seq < trimmedBelow {
				continue
			}
			if first == 0 {
				first = r.cs
			}
			if r.cs > n && r.seq <= loc.StreamSeq || r.cs <= n && r.seq > loc.StreamSeq && loc.StreamSeq != 0 {
				t.Fatalf("partition %d n=%d: located %+v, record cs %d at seq %d", p, n, loc, r.cs, r.seq)
			}
		}
		if loc.FirstChange != first {
			t.Fatalf("partition %d n=%d: first change %d, want %d", p, n, loc.FirstChange, first)
		}
		if first != 0 && first <= n+1 && loc.StreamSeq == 0 {
			t.Fatalf("partition %d n=%d: not placed (%+v)", p, n, loc)
		}
	}
	for p := 0; p < info.Partitions; p++ {
		h, _ := us.db.OutboxHead(gtTable, p)
		for n := uint64(0); n <= h+1; n++ {
			check(p, n, 0)
		}
	}
	// Trim the stream's oldest half: the records below are gone.
	s, _ := us.js.Stream(ctx, ts.Name)
	if err := s.Purge(ctx, jetstream.WithPurgeKeep(total/2)); err != nil {
		t.Fatal(err)
	}
	sinfo, _ := s.Info(ctx)
	for p := 0; p < info.Partitions; p++ {
		h, _ := us.db.OutboxHead(gtTable, p)
		for n := uint64(0); n <= h; n += 3 {
			check(p, n, streams.Pos(sinfo.State.FirstSeq, 0))
		}
	}
}

type seqPair struct{ seq, cs uint64 }

// gtReadStreamSeqs returns each partition's records (position, change seq).
func gtReadStreamSeqs(t *testing.T, r *gtRegion) map[int][]seqPair {
	t.Helper()
	out := map[int][]seqPair{}
	ctx := context.Background()
	ts, _, _ := streams.LatestTableStream(ctx, r.js, r.name, gtTable)
	s, err := r.js.Stream(ctx, ts.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(ctx)
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range gtMessageChanges(t, m) {
			out[c.Partition] = append(out[c.Partition], seqPair{streams.Pos(seq, i), c.Seq})
		}
	}
	return out
}

// FuzzDecodeChunk: the chunk decoder never panics and round-trips.
func FuzzDecodeChunk(f *testing.F) {
	f.Add(appendChunk(nil, []engine.SnapshotEntry{{Key: []byte("k"), Value: []byte("v")}, {Tombstone: true, Key: []byte("t"), Value: []byte{1}}}, true))
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		es, done, err := decodeChunk(b)
		if err != nil {
			return
		}
		again := appendChunk(nil, es, done)
		es2, done2, err := decodeChunk(again)
		if err != nil || done2 != done || len(es2) != len(es) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
