package streams

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/engine/attr"
	"github.com/godwit-db/godwit/streams/embedded"
	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Helpers of the publisher tests start with pub: the package's other test
// files have helpers of their own.

const pubRegion = "us-test-1"

// pubNATS starts an embedded NATS server for one test (in-process only
// when listen is embedded.NoListener).
func pubNATS(t *testing.T, dir, listen string) *embedded.Server {
	t.Helper()
	s, err := embedded.Start(embedded.Config{StoreDir: dir, Listen: listen, Domain: pubRegion, MaxStore: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// pubConn is a publisher connection to s (no reconnect buffering).
func pubConn(t *testing.T, s *embedded.Server) *nats.Conn {
	t.Helper()
	nc, err := s.Connect(nats.ReconnectBufSize(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// pubHook forwards the engine's notifications to whichever publisher is
// current, so that a test can replace the publisher of an open engine.
type pubHook struct{ p atomic.Pointer[Publisher] }

func (h *pubHook) listener() engine.EventListener {
	return engine.EventListener{
		ChangesCommitted: func(id uint32, part int, seq uint64, entries []engine.OutboxEntry) {
			if p := h.p.Load(); p != nil {
				p.Listener().ChangesCommitted(id, part, seq, entries)
			}
		},
		TableChanged: func(name string) {
			if p := h.p.Load(); p != nil {
				p.Listener().TableChanged(name)
			}
		},
	}
}

func pubOpenDB(t *testing.T, hook *pubHook) *engine.DB {
	t.Helper()
	db, err := engine.Open(engine.Config{
		Dir: t.TempDir(), Region: pubRegion, DefaultPartitions: 4, NoSync: true,
		TTLSweepInterval: -1, Listener: hook.listener(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// pubTestConfig is a fast publisher configuration.
func pubTestConfig() PublisherConfig {
	return PublisherConfig{
		PollInterval: 10 * time.Millisecond,
		MinBackoff:   10 * time.Millisecond,
		MaxBackoff:   100 * time.Millisecond,
		MaxBytes:     64 << 20,
		SyncInterval: time.Hour, // no trimming unless a test says so
		Registerer:   prometheus.NewRegistry(),
		Logger:       pubLogger(),
	}
}

// pubLogger logs to stderr when GODWIT_TEST_LOG is set.
func pubLogger() hclog.Logger {
	if os.Getenv("GODWIT_TEST_LOG") == "" {
		return nil
	}
	return hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: os.Stderr})
}

// pubStart starts a publisher with cfg on db over nc and makes it hook's
// current one; it is stopped at cleanup.
func pubStart(t *testing.T, hook *pubHook, db *engine.DB, nc *nats.Conn, cfg PublisherConfig) *Publisher {
	t.Helper()
	p, err := NewPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hook.p.Store(p)
	if err := p.Start(db, nc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Stop(ctx)
	})
	return p
}

func pubCreateTable(t *testing.T, db *engine.DB, name string, stream bool) engine.TableInfo {
	t.Helper()
	in := &engine.CreateTableInput{
		TableName:            name,
		AttributeDefinitions: []engine.AttributeDefinition{{AttributeName: "pk", AttributeType: "S"}},
		KeySchema:            []engine.KeySchemaElement{{AttributeName: "pk", KeyType: "HASH"}},
		BillingMode:          "PAY_PER_REQUEST",
	}
	if stream {
		in.StreamSpecification = &engine.StreamSpecification{StreamEnabled: pubPtr(true), StreamViewType: "NEW_AND_OLD_IMAGES"}
	}
	if _, err := db.CreateTable(context.Background(), in); err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	info, _ := db.Table(name)
	return info
}

func pubSetStream(t *testing.T, db *engine.DB, table string, on bool) {
	t.Helper()
	spec := &engine.StreamSpecification{StreamEnabled: pubPtr(on)}
	if on {
		spec.StreamViewType = "NEW_IMAGE"
	}
	if _, err := db.UpdateTable(context.Background(), &engine.UpdateTableInput{TableName: table, StreamSpecification: spec}); err != nil {
		t.Fatalf("update stream of %s to %v: %v", table, on, err)
	}
}

func pubPtr[T any](v T) *T { return &v }

func pubPut(t testing.TB, db *engine.DB, table, pk string, v int) {
	in := &engine.PutItemInput{Item: attr.Item{"pk": attr.Str(pk), "v": {Type: attr.N, S: strconv.Itoa(v)}}}
	in.TableName = table
	if _, err := db.PutItem(context.Background(), in); err != nil {
		t.Errorf("put %s/%s: %v", table, pk, err)
	}
}

func pubDelete(t testing.TB, db *engine.DB, table, pk string) {
	in := &engine.DeleteItemInput{Key: attr.Item{"pk": attr.Str(pk)}}
	in.TableName = table
	if _, err := db.DeleteItem(context.Background(), in); err != nil {
		t.Errorf("delete %s/%s: %v", table, pk, err)
	}
}

// pubEventually polls cond until it holds or the deadline passes.
func pubEventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond) // NB: a poll interval, not a wait for an event
	}
}

func pubCaughtUp(t *testing.T, p *Publisher) {
	t.Helper()
	pubEventually(t, 20*time.Second, "the publisher to catch up", func() bool { return p.Backlog() == 0 })
}

// pubRecord is one stored record: the index-th of the count records of
// the message at jsSeq.
type pubRecord struct {
	jsSeq        uint64
	index, count int
	size         int // of the message's body
	header       nats.Header
	change       *engine.Change
}

// pubReadStream returns every message of a JetStream stream by subject,
// in stream order.
func pubReadStream(t *testing.T, nc *nats.Conn, name string) (map[string][]pubRecord, jetstream.StreamConfig) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	info := s.CachedInfo()
	out := map[string][]pubRecord{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("get %s/%d: %v", name, seq, err)
		}
		n, err := MessageCount(m.Header)
		if err != nil {
			t.Fatalf("message %s/%d: %v", name, seq, err)
		}
		recs, err := SplitRecords(nil, n, m.Data)
		if err != nil {
			t.Fatalf("message %s/%d: %v", name, seq, err)
		}
		for i, rec := range recs {
			c, err := engine.DecodeChange(rec)
			if err != nil {
				t.Fatalf("message %s/%d record %d does not decode: %v", name, seq, i, err)
			}
			out[m.Subject] = append(out[m.Subject], pubRecord{jsSeq: seq, index: i, count: n, size: len(m.Data), header: m.Header, change: c})
		}
	}
	return out, info.Config
}

func bySubjectOf(t *testing.T, nc *nats.Conn, info engine.TableInfo, label string) map[string][]pubRecord {
	t.Helper()
	m, _ := pubReadStream(t, nc, StreamName(info.ID, label))
	return m
}

// pubCheckPartitions checks that each partition subject of (table, label)
// holds exactly the outbox sequences from..to (per partition; from is 1
// and to the outbox head when not given), in order, once each, with the
// right headers.
func pubCheckPartitions(t *testing.T, db *engine.DB, nc *nats.Conn, info engine.TableInfo, label string, from, to map[int]uint64) (total int) {
	t.Helper()
	bySubject, _ := pubReadStream(t, nc, StreamName(info.ID, label))
	for part := 0; part < info.Partitions; part++ {
		head, ok := to[part]
		if !ok {
			head, _ = db.OutboxHead(info.Name, part)
		}
		subj := Subject(pubRegion, info.ID, label, part)
		recs := bySubject[subj]
		want := from[part]
		if want == 0 {
			want = 1
		}
		for _, r := range recs {
			c := r.change
			if c.Seq != want {
				t.Fatalf("%s: record at stream seq %d has outbox seq %d, want %d (gap or duplicate)", subj, r.jsSeq, c.Seq, want)
			}
			want++
			lastOf, firstOf := c.Seq+uint64(r.count-1-r.index), c.Seq-uint64(r.index)
			if got := r.header.Get(HeaderSeq); got != strconv.FormatUint(lastOf, 10) {
				t.Errorf("%s seq %d (record %d of %d): %s header %q, want %d", subj, c.Seq, r.index, r.count, HeaderSeq, got, lastOf)
			}
			if got, exp := r.header.Get(HeaderMsgID), MsgID(info.ID, label, part, firstOf); got != exp {
				t.Errorf("%s seq %d: %s %q, want %q", subj, c.Seq, HeaderMsgID, got, exp)
			}
			if got := r.header.Get(HeaderOrigin); got != pubRegion || c.Origin != pubRegion {
				t.Errorf("%s seq %d: origin header %q, change origin %q, want %q", subj, c.Seq, got, c.Origin, pubRegion)
			}
			if got := r.header.Get(HeaderLayout); got != layoutVersion {
				t.Errorf("%s seq %d: layout header %q", subj, c.Seq, got)
			}
			if c.Partition != part || c.TableID != info.ID || c.StreamLabel != label {
				t.Errorf("%s seq %d: change of partition %d table %d label %q", subj, c.Seq, c.Partition, c.TableID, c.StreamLabel)
			}
		}
		if last := want - 1; last != head {
			t.Errorf("%s: records end at outbox seq %d, the outbox head is %d", subj, last, head)
		}
		total += len(recs)
	}
	return total
}

// pubValue reads a counter or gauge.
func pubValue(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		return -1
	}
	switch {
	case d.Counter != nil:
		return d.Counter.GetValue()
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	}
	return -1
}

// pubObservations is a histogram's sample count in reg.
func pubObservations(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 && mf.Metric[0].Histogram != nil {
			return mf.Metric[0].Histogram.GetSampleCount()
		}
	}
	return 0
}

func TestPublisherConfigValidate(t *testing.T) {
	err := PublisherConfig{Retention: time.Minute, DuplicateWindow: time.Hour, MaxInFlight: -1, Replicas: 7,
		MinBackoff: time.Minute, MaxBackoff: time.Second, MaxBytes: -5}.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, want := range []string{"DuplicateWindow", "MaxInFlight", "Replicas", "MinBackoff", "MaxBytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %q does not mention %s", err, want)
		}
	}
	if err := (PublisherConfig{}).Validate(); err != nil {
		t.Errorf("the zero config (all defaults) is invalid: %v", err)
	}
}

func TestPublisherNeedsUnbufferedConnection(t *testing.T) {
	srv := pubNATS(t, t.TempDir(), embedded.NoListener)
	nc, err := srv.Connect() // default reconnect buffer
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	p, err := NewPublisher(pubTestConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(nil, nc); err == nil {
		t.Fatal("Start accepted a connection that buffers while reconnecting")
	}
}

// TestPublishOrderAndHeaders covers the in-process embedded server and an
// external server reached by URL.
func TestPublishOrderAndHeaders(t *testing.T) {
	for _, mode := range []string{"in-process", "external-url"} {
		t.Run(mode, func(t *testing.T) {
			var nc *nats.Conn
			if mode == "in-process" {
				nc = pubConn(t, pubNATS(t, t.TempDir(), embedded.NoListener))
			} else {
				ext := pubNATS(t, t.TempDir(), "127.0.0.1:0")
				var err error
				nc, err = nats.Connect(ext.ClientURL(), nats.ReconnectBufSize(-1))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(nc.Close)
			}
			hook := &pubHook{}
			db := pubOpenDB(t, hook)
			reg := prometheus.NewRegistry()
			cfg := pubTestConfig()
			cfg.Registerer = reg
			p := pubStart(t, hook, db, nc, cfg)

			info := pubCreateTable(t, db, "orders", true)
			pubCreateTable(t, db, "plain", false)
			for i := 0; i < 200; i++ {
				pk := fmt.Sprintf("k%d", i%37)
				switch i % 5 {
				case 3:
					pubDelete(t, db, "orders", pk)
				default:
					pubPut(t, db, "orders", pk, i)
				}
				pubPut(t, db, "plain", pk, i)
			}
			pubCaughtUp(t, p)
			label := info.Stream.Label
			total := pubCheckPartitions(t, db, nc, info, label, nil, nil)
			if total == 0 {
				t.Fatal("nothing was published")
			}
			if got := pubValue(p.m.published.WithLabelValues("orders")); int(got) != total {
				t.Errorf("records_published_total %v, want %d", got, total)
			}
			if got := pubValue(p.m.duplicates.WithLabelValues("orders")); got != 0 {
				t.Errorf("records_deduplicated_total %v on a clean run", got)
			}
			msgs := map[uint64]bool{}
			for _, recs := range bySubjectOf(t, nc, info, label) {
				for _, r := range recs {
					msgs[r.jsSeq] = true
				}
			}
			if n := pubObservations(t, reg, "godwit_streams_publish_latency_seconds"); n != uint64(len(msgs)) {
				t.Errorf("publish latency histogram has %d observations, want one per message (%d)", n, len(msgs))
			}

			// Every change of a partition is the outbox's, with its event.
			bySubject, scfg := pubReadStream(t, nc, StreamName(info.ID, label))
			for part := 0; part < info.Partitions; part++ {
				outbox, err := db.ReadOutbox(info.ID, part, 0, 1000)
				if err != nil {
					t.Fatal(err)
				}
				recs := bySubject[Subject(pubRegion, info.ID, label, part)]
				if len(recs) != len(outbox) {
					t.Fatalf("partition %d: %d records, %d outbox entries", part, len(recs), len(outbox))
				}
				for i, r := range recs {
					if r.change.EventName != outbox[i].EventName || r.change.Seq != outbox[i].Seq {
						t.Errorf("partition %d record %d: %s/%d, outbox %s/%d", part, i,
							r.change.EventName, r.change.Seq, outbox[i].EventName, outbox[i].Seq)
					}
				}
			}

			// The stream's configuration and metadata.
			created, _ := pubLabelTime(label)
			want := map[string]string{
				MetaTable: "orders", MetaTableID: strconv.Itoa(int(info.ID)), MetaLabel: label,
				MetaViewType: "NEW_AND_OLD_IMAGES", MetaPartitions: "4", MetaRegion: pubRegion,
				MetaCreated: strconv.FormatInt(created.UnixMilli(), 10), MetaHashKey: "pk:S", MetaRangeKey: "",
				MetaLayout: layoutVersion,
			}
			for k, v := range want {
				if got, ok := scfg.Metadata[k]; !ok || got != v {
					t.Errorf("metadata %s = %q, want %q", k, got, v)
				}
			}
			if d := scfg.Metadata[MetaDisabled]; d != "" {
				t.Errorf("an enabled stream is marked disabled (%s)", d)
			}
			if scfg.MaxAge != 24*time.Hour || scfg.Duplicates != 2*time.Minute || scfg.MaxBytes != 64<<20 ||
				scfg.Storage != jetstream.FileStorage || !scfg.AllowDirect {
				t.Errorf("stream limits: MaxAge %s Duplicates %s MaxBytes %d Storage %v AllowDirect %v",
					scfg.MaxAge, scfg.Duplicates, scfg.MaxBytes, scfg.Storage, scfg.AllowDirect)
			}
			// The table without a stream got no JetStream stream.
			js, _ := jetstream.New(nc)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			names := js.StreamNames(ctx)
			var got []string
			for n := range names.Name() {
				got = append(got, n)
			}
			if len(got) != 1 || got[0] != StreamName(info.ID, label) {
				t.Errorf("JetStream streams %v, want only %s", got, StreamName(info.ID, label))
			}
		})
	}
}

// TestPublisherRestartResumes replaces the publisher (dropping all its
// in-memory state) mid-way, several times, while writes go on: no record
// is skipped or duplicated.
func TestPublisherRestartResumes(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	nc := pubConn(t, pubNATS(t, t.TempDir(), embedded.NoListener))
	hook := &pubHook{}
	db := pubOpenDB(t, hook)
	info := pubCreateTable(t, db, "tbl", true)

	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				pubPut(t, db, "tbl", fmt.Sprintf("g%d-%d", g, i%50), i)
			}
		}()
	}
	var p *Publisher
	for round := 0; round < 4; round++ {
		cfg := pubTestConfig()
		cfg.MaxInFlight = 1 + rng.IntN(64)
		cfg.BatchSize = 1 + rng.IntN(100)
		var err error
		p, err = NewPublisher(cfg)
		if err != nil {
			t.Fatal(err)
		}
		hook.p.Store(p)
		if err := p.Start(db, nc); err != nil {
			t.Fatal(err)
		}
		// Let it publish a little, then stop it abruptly (no final drain).
		pubEventually(t, 10*time.Second, "some records", func() bool {
			return pubValue(p.m.published.WithLabelValues("tbl")) >= float64(50*(round+1))
		})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = p.Stop(ctx)
	}
	stop.Store(true)
	wg.Wait()
	p = pubStart(t, hook, db, nc, pubTestConfig())
	pubCaughtUp(t, p)
	pubCheckPartitions(t, db, nc, info, info.Stream.Label, nil, nil)
}

// TestOutboxTrimmedAfterSyncInterval drives the publisher's clock: outbox
// entries stay until their ack is SyncInterval old.
func TestOutboxTrimmedAfterSyncInterval(t *testing.T) {
	nc := pubConn(t, pubNATS(t, t.TempDir(), embedded.NoListener))
	hook := &pubHook{}
	db := pubOpenDB(t, hook)
	var now atomic.Int64
	now.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	cfg := pubTestConfig()
	cfg.SyncInterval = time.Minute
	cfg.Now = func() time.Time { return time.Unix(0, now.Load()) }
	p := pubStart(t, hook, db, nc, cfg)
	info := pubCreateTable(t, db, "tbl", true)

	outboxLen := func() int {
		n := 0
		for part := 0; part < info.Partitions; part++ {
			c, err := db.ReadOutbox(info.ID, part, 0, 10000)
			if err != nil {
				t.Fatal(err)
			}
			n += len(c)
		}
		return n
	}
	for i := 0; i < 40; i++ {
		pubPut(t, db, "tbl", fmt.Sprintf("a%d", i), i)
	}
	pubCaughtUp(t, p)
	now.Add(int64(59 * time.Second))
	for i := 0; i < 40; i++ {
		pubPut(t, db, "tbl", fmt.Sprintf("b%d", i), i)
	}
	pubCaughtUp(t, p)
	// Several housekeeping rounds pass (PollInterval is 10ms): nothing is trimmed yet.
	for i := 0; i < 5; i++ {
		pubPut(t, db, "tbl", "poke", i)
		pubCaughtUp(t, p)
	}
	if n := outboxLen(); n != 85 {
		t.Fatalf("outbox holds %d entries before the sync interval passed, want all 85", n)
	}
	// The first 40 acks are now a minute old; the later ones are not.
	now.Add(int64(2 * time.Second))
	pubEventually(t, 10*time.Second, "the first writes' outbox entries to be trimmed", func() bool { return outboxLen() == 45 })
	now.Add(int64(time.Hour))
	pubEventually(t, 10*time.Second, "the outbox to be empty", func() bool { return outboxLen() == 0 })
	// Trimming lost nothing.
	pubCheckPartitions(t, db, nc, info, info.Stream.Label, nil, nil)
}

// TestNATSServerRestart restarts the embedded server alone (same store,
// same address) while writes go on.
func TestNATSServerRestart(t *testing.T) {
	dir := t.TempDir()
	srv := pubNATS(t, dir, "127.0.0.1:0")
	addr := srv.Addr().String()
	nc, err := nats.Connect(srv.ClientURL(), nats.ReconnectBufSize(-1), nats.MaxReconnects(-1),
		nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	hook := &pubHook{}
	db := pubOpenDB(t, hook)
	p := pubStart(t, hook, db, nc, pubTestConfig())
	info := pubCreateTable(t, db, "tbl", true)

	var stop atomic.Bool
	var writes atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				pubPut(t, db, "tbl", fmt.Sprintf("g%d-%d", g, i%20), i)
				writes.Add(1)
			}
		}()
	}
	pubEventually(t, 10*time.Second, "records before the restart", func() bool {
		return pubValue(p.m.published.WithLabelValues("tbl")) > 100
	})
	srv.Shutdown()
	before := writes.Load()
	pubEventually(t, 10*time.Second, "writes while NATS is down", func() bool { return writes.Load() > before+200 })
	srv2 := pubNATS(t, dir, addr)
	before = writes.Load()
	pubEventually(t, 10*time.Second, "writes after the restart", func() bool { return writes.Load() > before+200 })
	stop.Store(true)
	wg.Wait()
	pubCaughtUp(t, p)
	if got := pubValue(p.m.errors.WithLabelValues("tbl")); got == 0 {
		t.Error("no publish error was counted while NATS was down")
	}
	nc2 := pubConn(t, srv2)
	pubCheckPartitions(t, db, nc2, info, info.Stream.Label, nil, nil)
}

// TestDisableReenableAndDelete: a disabled label's records are all
// published, then its stream is marked disabled and stays readable; a new
// label gets a new stream; deleting the table disables its stream.
func TestDisableReenableAndDelete(t *testing.T) {
	nc := pubConn(t, pubNATS(t, t.TempDir(), embedded.NoListener))
	hook := &pubHook{}
	db := pubOpenDB(t, hook)
	p := pubStart(t, hook, db, nc, pubTestConfig())
	js, _ := jetstream.New(nc)
	info := pubCreateTable(t, db, "tbl", true)
	first := info.Stream.Label

	for i := 0; i < 30; i++ {
		pubPut(t, db, "tbl", fmt.Sprintf("k%d", i), i)
	}
	pubSetStream(t, db, "tbl", false)
	pubPut(t, db, "tbl", "unstreamed", 1) // no record: the table has no stream now

	disabledMs := func(label string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, StreamName(info.ID, label))
		if err != nil {
			return ""
		}
		return s.CachedInfo().Config.Metadata[MetaDisabled]
	}
	pubEventually(t, 10*time.Second, "the first stream to be marked disabled", func() bool { return disabledMs(first) != "" })
	if n := pubCheckPartitions(t, db, nc, info, first, nil, nil); n != 30 {
		t.Errorf("the disabled stream holds %d records, want 30", n)
	}

	// Re-enable: a new label, a new stream, sequences continuing per partition.
	heads := map[int]uint64{}
	for part := 0; part < info.Partitions; part++ {
		h, _ := db.OutboxHead("tbl", part)
		heads[part] = h + 1
	}
	pubSetStream(t, db, "tbl", true)
	info2, _ := db.Table("tbl")
	second := info2.Stream.Label
	if second == first {
		t.Fatal("re-enabling kept the label")
	}
	for i := 0; i < 20; i++ {
		pubPut(t, db, "tbl", fmt.Sprintf("k%d", i), 100+i)
	}
	pubCaughtUp(t, p)
	ends := map[int]uint64{}
	for part := 0; part < info.Partitions; part++ {
		ends[part], _ = db.OutboxHead("tbl", part)
	}
	if n := pubCheckPartitions(t, db, nc, info2, second, heads, ends); n != 20 {
		t.Errorf("the new stream holds %d records, want 20", n)
	}
	if d := disabledMs(second); d != "" {
		t.Errorf("the new stream is marked disabled (%s)", d)
	}
	if _, scfg := pubReadStream(t, nc, StreamName(info.ID, second)); scfg.Metadata[MetaViewType] != "NEW_IMAGE" {
		t.Errorf("new stream's view type %q", scfg.Metadata[MetaViewType])
	}

	// Delete the table: its stream is disabled and keeps its records.
	if _, err := db.DeleteTable(context.Background(), &engine.DeleteTableInput{TableName: "tbl"}); err != nil {
		t.Fatal(err)
	}
	pubEventually(t, 10*time.Second, "the deleted table's stream to be marked disabled", func() bool { return disabledMs(second) != "" })
	if n := pubCheckPartitions(t, db, nc, info2, second, heads, ends); n != 20 {
		t.Errorf("after the delete the stream holds %d records, want 20", n)
	}
}

// TestReconcileDisablesOrphans: a stream disabled while no publisher ran
// is marked disabled by the next one, after its records are published.
func TestReconcileDisablesOrphans(t *testing.T) {
	nc := pubConn(t, pubNATS(t, t.TempDir(), embedded.NoListener))
	hook := &pubHook{}
	db := pubOpenDB(t, hook)
	info := pubCreateTable(t, db, "tbl", true)
	p := pubStart(t, hook, db, nc, pubTestConfig())
	for i := 0; i < 10; i++ {
		pubPut(t, db, "tbl", fmt.Sprintf("k%d", i), i)
	}
	pubCaughtUp(t, p)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = p.Stop(ctx)
	hook.p.Store(nil)

	// Without a publisher: more writes, then the stream is disabled.
	for i := 0; i < 10; i++ {
		pubPut(t, db, "tbl", fmt.Sprintf("j%d", i), i)
	}
	pubSetStream(t, db, "tbl", false)

	p2 := pubStart(t, hook, db, nc, pubTestConfig())
	js, _ := jetstream.New(nc)
	pubEventually(t, 10*time.Second, "the orphaned stream to be marked disabled", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, StreamName(info.ID, info.Stream.Label))
		return err == nil && s.CachedInfo().Config.Metadata[MetaDisabled] != ""
	})
	pubCaughtUp(t, p2)
	if n := pubCheckPartitions(t, db, nc, info, info.Stream.Label, nil, nil); n != 20 {
		t.Errorf("the stream holds %d records, want 20", n)
	}
}

// TestMissingStreamIsCreated: records whose JetStream stream is gone (a
// NATS store lost or replaced) are published after recreating it, from
// the oldest entry the outbox still holds.
func TestMissingStreamIsCreated(t *testing.T) {
	nc := pubConn(t, pubNATS(t, t.TempDir(), embedded.NoListener))
	hook := &pubHook{}
	db := pubOpenDB(t, hook)
	p := pubStart(t, hook, db, nc, pubTestConfig())
	info := pubCreateTable(t, db, "tbl", true)
	for i := 0; i < 50; i++ {
		pubPut(t, db, "tbl", fmt.Sprintf("a%d", i), i)
	}
	pubCaughtUp(t, p)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = p.Stop(ctx)

	js, _ := jetstream.New(nc)
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, StreamName(info.ID, info.Stream.Label)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		pubPut(t, db, "tbl", fmt.Sprintf("b%d", i), i)
	}
	p = pubStart(t, hook, db, nc, pubTestConfig())
	pubCaughtUp(t, p)
	// The outbox still held everything (no trim within SyncInterval), so
	// the recreated stream has every record again, in order.
	if n := pubCheckPartitions(t, db, nc, info, info.Stream.Label, nil, nil); n != 100 {
		t.Errorf("the recreated stream holds %d records, want 100", n)
	}

	// Deleted again while the publisher runs: once every partition has
	// noticed (its next publish fails, or another partition recreated the
	// stream), each partition's subject is a gap-free run ending at its head.
	if err := js.DeleteStream(ctx, StreamName(info.ID, info.Stream.Label)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		pubPut(t, db, "tbl", fmt.Sprintf("c%d", i), i)
	}
	pubCaughtUp(t, p)
	bySubject, _ := pubReadStream(t, nc, StreamName(info.ID, info.Stream.Label))
	for part := 0; part < info.Partitions; part++ {
		recs := bySubject[Subject(pubRegion, info.ID, info.Stream.Label, part)]
		head, _ := db.OutboxHead("tbl", part)
		if len(recs) == 0 || recs[len(recs)-1].change.Seq != head {
			t.Errorf("partition %d: %d records, not ending at the head %d", part, len(recs), head)
			continue
		}
		for i := 1; i < len(recs); i++ {
			if recs[i].change.Seq != recs[i-1].change.Seq+1 {
				t.Errorf("partition %d: seq %d follows %d", part, recs[i].change.Seq, recs[i-1].change.Seq)
			}
		}
	}
}

// TestDeleteTableKeepsUnpublishedChanges: changes committed just before
// DeleteTable, while no publisher ran, still reach the stream (DynamoDB
// keeps a deleted table's stream with every record up to the deletion);
// the engine then forgets the dropped table's outbox.
func TestDeleteTableKeepsUnpublishedChanges(t *testing.T) {
	nc := pubConn(t, pubNATS(t, t.TempDir(), embedded.NoListener))
	hook := &pubHook{}
	db := pubOpenDB(t, hook)
	info := pubCreateTable(t, db, "tbl", true)
	for i := 0; i < 25; i++ {
		pubPut(t, db, "tbl", fmt.Sprintf("k%d", i), i)
	}
	heads := map[int]uint64{}
	for part := 0; part < info.Partitions; part++ {
		heads[part], _ = db.OutboxHead("tbl", part)
	}
	if _, err := db.DeleteTable(context.Background(), &engine.DeleteTableInput{TableName: "tbl"}); err != nil {
		t.Fatal(err)
	}
	if d := db.DroppedTables(); len(d) != 1 || d[0].ID != info.ID || !d[0].Dropped {
		t.Fatalf("dropped tables %+v", d)
	}
	// A table of the same name made since has its own id and outbox.
	pubCreateTable(t, db, "tbl", false)

	p := pubStart(t, hook, db, nc, pubTestConfig())
	js, _ := jetstream.New(nc)
	pubEventually(t, 10*time.Second, "the deleted table's stream to be published and disabled", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, StreamName(info.ID, info.Stream.Label))
		return err == nil && s.CachedInfo().Config.Metadata[MetaDisabled] != "" && len(db.DroppedTables()) == 0
	})
	if n := pubCheckPartitions(t, db, nc, info, info.Stream.Label, nil, heads); n != 25 {
		t.Errorf("the deleted table's stream holds %d records, want 25", n)
	}
	if _, scfg := pubReadStream(t, nc, StreamName(info.ID, info.Stream.Label)); scfg.Metadata[MetaViewType] != info.Stream.ViewType {
		t.Errorf("view type %q, want %q", scfg.Metadata[MetaViewType], info.Stream.ViewType)
	}
	for part := 0; part < info.Partitions; part++ {
		if left, err := db.ReadOutbox(info.ID, part, 0, 10); err != nil || len(left) != 0 {
			t.Errorf("partition %d: outbox still holds %d entries (%v)", part, len(left), err)
		}
	}
	pubCaughtUp(t, p)
}

// TestPublisherBatchesBacklog: a backlog (here written before the
// publisher starts) goes out in messages of several records: at most
// BatchSize records and maxMessageBytes of body each (a larger record
// alone), every record once and in order.
func TestPublisherBatchesBacklog(t *testing.T) {
	nc := pubConn(t, pubNATS(t, t.TempDir(), embedded.NoListener))
	hook := &pubHook{}
	db := pubOpenDB(t, hook)
	info := pubCreateTable(t, db, "orders", true)
	for i := range 300 {
		pubPut(t, db, "orders", "hot", i)
	}
	for i, size := range []int{40 << 10, 40 << 10, 40 << 10, 300 << 10, 40 << 10, 40 << 10} {
		in := &engine.PutItemInput{Item: attr.Item{"pk": attr.Str("hot"), "blob": attr.Str(strings.Repeat(string(rune('a'+i)), size))}}
		in.TableName = "orders"
		if _, err := db.PutItem(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	cfg := pubTestConfig()
	p := pubStart(t, hook, db, nc, cfg)
	pubCaughtUp(t, p)
	label := info.Stream.Label
	if total := pubCheckPartitions(t, db, nc, info, label, nil, nil); total != 306 {
		t.Fatalf("%d records published, want 306", total)
	}
	var recs []pubRecord
	for part := range info.Partitions {
		if r := bySubjectOf(t, nc, info, label)[Subject(pubRegion, info.ID, label, part)]; len(r) > 0 {
			recs = r
		}
	}
	var counts []int
	for i, r := range recs {
		if r.index != 0 {
			continue
		}
		counts = append(counts, r.count)
		if r.count > DefaultPublisherConfig().BatchSize {
			t.Errorf("message %d carries %d records, more than BatchSize", r.jsSeq, r.count)
		}
		if r.count > 1 && r.size > maxMessageBytes {
			t.Errorf("message %d of %d records has a %d-byte body, over %d", r.jsSeq, r.count, r.size, maxMessageBytes)
		}
		if big := len(recs[i].change.NewImage["blob"].S); big > maxMessageBytes && r.count != 1 {
			t.Errorf("the %d-byte record shares message %d with %d others", big, r.jsSeq, r.count-1)
		}
	}
	if len(counts) == 0 || counts[0] != DefaultPublisherConfig().BatchSize {
		t.Fatalf("messages of %v records; want the backlog's first BatchSize (%d) in the first", counts, DefaultPublisherConfig().BatchSize)
	}
	if len(counts) > 6 {
		t.Errorf("messages of %v records: the backlog was not batched", counts)
	}
}

// TestCutRepeatsRememberedSpans: after a failure, messages whose fate was
// unknown are cut again exactly as before, and no new message starts
// inside or runs across one of them.
func TestCutRepeatsRememberedSpans(t *testing.T) {
	cfg := DefaultPublisherConfig()
	cfg.BatchSize = 8
	w := &pubWorker{p: &Publisher{cfg: cfg}}
	entries := func(from, to uint64) []engine.OutboxEntry {
		var es []engine.OutboxEntry
		for s := from; s <= to; s++ {
			es = append(es, engine.OutboxEntry{Seq: s, StreamLabel: "L", Origin: "r", Data: []byte("x")})
		}
		return es
	}
	if n := w.cut(entries(1, 20)); n != 8 {
		t.Fatalf("fresh cut of 20 entries: %d, want BatchSize 8", n)
	}
	w.remember(pubPending{first: 3, seq: 5, label: "L"})
	w.remember(pubPending{first: 9, seq: 14, label: "L"})
	w.remember(pubPending{first: 3, seq: 5, label: "L"}) // twice: kept once
	w.remember(pubPending{seq: 6, label: "L"})           // not published: ignored
	if len(w.recut) != 2 {
		t.Fatalf("remembered %v", w.recut)
	}
	for _, c := range []struct {
		from, to uint64 // the entries read
		want     int
	}{
		{1, 20, 2},  // up to the remembered span at 3
		{3, 20, 3},  // the span 3-5 again
		{6, 20, 3},  // up to the span at 9
		{9, 11, 0},  // the span 9-14 runs past this read: wait for the next
		{9, 20, 6},  // the span 9-14 again
		{15, 40, 8}, // free again
	} {
		if n := w.cut(entries(c.from, c.to)); n != c.want {
			t.Fatalf("cut of %d-%d: %d, want %d (remembered %v)", c.from, c.to, n, c.want, w.recut)
		}
	}
	if len(w.recut) != 0 {
		t.Errorf("spans left after passing them: %v", w.recut)
	}
	// A remembered span that the resync found stored is dropped.
	w.remember(pubPending{first: 50, seq: 52, label: "L"})
	if n := w.cut(entries(53, 60)); n != 8 || len(w.recut) != 0 {
		t.Errorf("cut after a stored span: %d, remembered %v", n, w.recut)
	}
	// Labels and origins are not mixed.
	es := entries(70, 75)
	es[3].Origin = "other"
	if n := w.cut(es); n != 3 {
		t.Errorf("cut across an origin change: %d, want 3", n)
	}
}

// TestHandedEntriesQueue: take returns the queued entries that continue
// after, up to upto and max, and drops them and older ones; a gap or an
// overflow in add drops what was queued.
func TestHandedEntriesQueue(t *testing.T) {
	span := func(from, to uint64) []engine.OutboxEntry {
		var out []engine.OutboxEntry
		for s := from; s <= to; s++ {
			out = append(out, engine.OutboxEntry{Seq: s, Data: []byte{byte(s)}})
		}
		return out
	}
	seqs := func(es []engine.OutboxEntry) []uint64 {
		var out []uint64
		for _, e := range es {
			out = append(out, e.Seq)
		}
		return out
	}
	var h handedEntries
	h.add(nil)
	h.add(span(3, 5))
	h.add(span(6, 9))
	if got := h.take(2, 100, 100, nil); !slices.Equal(seqs(got), []uint64{3, 4, 5, 6, 7, 8, 9}) {
		t.Fatalf("take after 2: %v", seqs(got))
	}
	h.add(span(10, 20))
	if got := h.take(8, 100, 100, nil); got != nil {
		t.Fatalf("take after 8 with 10.. queued: %v, want nothing (9 is missing)", seqs(got))
	}
	if got := h.take(11, 14, 100, []engine.OutboxEntry{{Seq: 1}}); !slices.Equal(seqs(got), []uint64{1, 12, 13, 14}) {
		t.Fatalf("take (11, 14] after a kept entry: %v", seqs(got))
	}
	if got := h.take(14, 100, 2, nil); !slices.Equal(seqs(got), []uint64{15, 16}) {
		t.Fatalf("take after 14, max 2: %v", seqs(got))
	}
	h.add(span(30, 31)) // a gap: 17..20 are dropped
	if got := h.take(16, 100, 100, nil); got != nil {
		t.Fatalf("take after 16 once a gap dropped 17..20: %v", seqs(got))
	}
	if got := h.take(29, 100, 100, nil); !slices.Equal(seqs(got), []uint64{30, 31}) {
		t.Fatalf("take after 29: %v", seqs(got))
	}
	h.add(span(32, 31+maxHanded))
	h.add(span(32+maxHanded, 32+maxHanded)) // an overflow drops the rest
	if got := h.take(31+maxHanded, ^uint64(0), 100, nil); !slices.Equal(seqs(got), []uint64{32 + maxHanded}) {
		t.Fatalf("take after an overflow: %v", seqs(got))
	}
	if len(h.entries) != 0 || h.bytes != 0 || h.taken != 7+3+2+2+1 {
		t.Fatalf("%d entries (%d bytes) left, %d taken", len(h.entries), h.bytes, h.taken)
	}
	// The byte bound: entries too large together drop the queue, entries
	// too large alone are not queued.
	big := func(seq uint64, size int) []engine.OutboxEntry {
		return []engine.OutboxEntry{{Seq: seq, Data: make([]byte, size)}}
	}
	h.add(big(100, maxHandedBytes/2))
	h.add(big(101, maxHandedBytes/2))
	h.add(big(102, 1)) // over the bound: 100 and 101 are dropped
	if got := h.take(101, ^uint64(0), 100, nil); !slices.Equal(seqs(got), []uint64{102}) || h.bytes != 0 {
		t.Fatalf("take after the byte bound: %v, %d bytes left", seqs(got), h.bytes)
	}
	h.add(big(103, maxHandedBytes+1))
	if len(h.entries) != 0 || h.bytes != 0 {
		t.Fatalf("an entry over the byte bound was queued: %d entries, %d bytes", len(h.entries), h.bytes)
	}
}

// TestPublisherWithAndWithoutHandedEntries: concurrent writers, with the
// engine's handed-over entries passed on for a random half of the
// notifications and withheld for the rest (so the publisher reads those
// back from the outbox), then one writer waiting for each record to be
// published, with every entry passed on: every record is published once,
// in order, and a publisher that keeps up publishes the handed entries.
func TestPublisherWithAndWithoutHandedEntries(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	var rmu sync.Mutex
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	withhold := true
	hook := &pubHook{}
	withholding := engine.EventListener{
		ChangesCommitted: func(id uint32, part int, seq uint64, entries []engine.OutboxEntry) {
			rmu.Lock()
			if withhold && rng.IntN(2) == 0 {
				entries = nil
			}
			rmu.Unlock()
			hook.listener().ChangesCommitted(id, part, seq, entries)
		},
		TableChanged: func(name string) { hook.listener().TableChanged(name) },
	}
	db, err := engine.Open(engine.Config{
		Dir: t.TempDir(), Region: pubRegion, DefaultPartitions: 2, NoSync: true,
		TTLSweepInterval: -1, Listener: withholding,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	nc := pubConn(t, pubNATS(t, t.TempDir(), embedded.NoListener))
	p := pubStart(t, hook, db, nc, pubTestConfig())
	info := pubCreateTable(t, db, "orders", true)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 250 {
				pk := fmt.Sprintf("k%d-%d", g, i%17)
				if i%7 == 6 {
					pubDelete(t, db, "orders", pk)
				} else {
					pubPut(t, db, "orders", pk, i)
				}
			}
		}()
	}
	wg.Wait()
	pubCaughtUp(t, p)
	p.mu.RLock()
	for _, w := range p.workers {
		w.handed.mu.Lock()
		w.handed.taken = 0
		w.handed.mu.Unlock()
	}
	p.mu.RUnlock()
	rmu.Lock()
	withhold = false
	rmu.Unlock()
	const sequential = 30
	for i := range sequential {
		pubPut(t, db, "orders", fmt.Sprintf("seq%d", i), i)
		pubCaughtUp(t, p)
	}
	total := pubCheckPartitions(t, db, nc, info, info.Stream.Label, nil, nil)
	var heads uint64
	for part := range info.Partitions {
		h, _ := db.OutboxHead("orders", part)
		heads += h
	}
	if uint64(total) != heads || total < 1500 {
		t.Fatalf("%d records published, %d in the outboxes", total, heads)
	}
	var taken uint64
	p.mu.RLock()
	for _, w := range p.workers {
		w.handed.mu.Lock()
		taken += w.handed.taken
		w.handed.mu.Unlock()
	}
	p.mu.RUnlock()
	// NB: a poll tick between the head's move and the handover can make
	// the worker read a record back: most, not all.
	if taken < sequential/2 {
		t.Fatalf("%d of the %d records written one at a time were published from handed-over entries", taken, sequential)
	}
}
