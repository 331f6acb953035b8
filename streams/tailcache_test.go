package streams

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/engine/attr"
	"github.com/godwit-db/godwit/engine/wire"
	"github.com/godwit-db/godwit/streams/embedded"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The tail-cache tests (prefix tc) run a real publisher on an embedded
// NATS server and two Streams APIs over it that differ only in the cache:
// "cached" (the default) and "plain" (NoTailCache). Both have the same
// manual clock and iterator key and never wait, so the same GetRecords on
// both must answer the same bytes; the cached API's metrics show whether
// the cache answered.

type tcEnv struct {
	t      *testing.T
	srv    *embedded.Server
	hook   *pubHook
	db     *engine.DB
	p      *Publisher
	cached *API
	plain  *API
	clock  *conflict.ManualClock
}

// tcConfig is pubTestConfig with a tail cache large enough for a test's records.
func tcConfig() PublisherConfig {
	cfg := pubTestConfig()
	cfg.TailCacheBytes = 64 << 20
	return cfg
}

func tcStart(t *testing.T, cfg PublisherConfig, listen string) *tcEnv {
	t.Helper()
	e := &tcEnv{t: t, hook: &pubHook{}, clock: conflict.NewManualClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))}
	e.srv = pubNATS(t, t.TempDir(), listen)
	e.db = pubOpenDB(t, e.hook)
	e.p = pubStart(t, e.hook, e.db, pubConn(t, e.srv), cfg)
	e.bindAPIs(e.p)
	return e
}

// bindAPIs makes new cached and plain APIs reading p's tail caches.
func (e *tcEnv) bindAPIs(p *Publisher) {
	t := e.t
	t.Helper()
	nc, err := e.srv.Connect(nats.ReconnectWait(20 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(noCache bool) *API {
		api, err := NewAPI(e.db, js, APIConfig{
			Clock: e.clock, IteratorKey: []byte("0123456789abcdef0123456789abcdef"),
			StateMaxAge: time.Nanosecond, // NB: both APIs see the stream's state of the moment
			Published:   p, RecordsWait: -1, NoTailCache: noCache,
			Registerer: prometheus.NewRegistry(),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = api.Close() })
		return api
	}
	e.cached, e.plain = mk(false), mk(true)
}

func (e *tcEnv) createTable(name, viewType string) engine.TableInfo {
	e.t.Helper()
	in := &engine.CreateTableInput{
		TableName:            name,
		AttributeDefinitions: []engine.AttributeDefinition{{AttributeName: "pk", AttributeType: "S"}},
		KeySchema:            []engine.KeySchemaElement{{AttributeName: "pk", KeyType: "HASH"}},
		BillingMode:          "PAY_PER_REQUEST",
		StreamSpecification:  &engine.StreamSpecification{StreamEnabled: pubPtr(true), StreamViewType: viewType},
	}
	if _, err := e.db.CreateTable(context.Background(), in); err != nil {
		e.t.Fatalf("create table %s: %v", name, err)
	}
	info, _ := e.db.Table(name)
	return info
}

// put writes pk with a blob of size bytes.
func (e *tcEnv) put(table, pk string, v, size int) {
	e.t.Helper()
	in := &engine.PutItemInput{Item: attr.Item{"pk": attr.Str(pk), "v": {Type: attr.N, S: fmt.Sprint(v)}}}
	if size > 0 {
		in.Item["blob"] = attr.Str(strings.Repeat(string(rune('a'+v%26)), size))
	}
	in.TableName = table
	if _, err := e.db.PutItem(context.Background(), in); err != nil {
		e.t.Fatalf("put %s/%s: %v", table, pk, err)
	}
}

func (e *tcEnv) arn(table, label string) string {
	return StreamARN(e.db.Region(), e.db.AccountID(), table, label)
}

// shardIDs are the stream's shard ids by partition.
func (e *tcEnv) shardIDs(arn string) []string {
	e.t.Helper()
	out, err := e.cached.DescribeStream(context.Background(), []byte(fmt.Sprintf(`{"StreamArn":%q}`, arn)))
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, sh := range out.(*describeStreamOutput).StreamDescription.Shards {
		ids = append(ids, sh.ShardId)
	}
	return ids
}

// iterator issues an iterator (seq only for AT/AFTER types).
func (e *tcEnv) iterator(arn, shard, typ, seq string) string {
	e.t.Helper()
	body := fmt.Sprintf(`{"StreamArn":%q,"ShardId":%q,"ShardIteratorType":%q}`, arn, shard, typ)
	if seq != "" {
		body = fmt.Sprintf(`{"StreamArn":%q,"ShardId":%q,"ShardIteratorType":%q,"SequenceNumber":%q}`, arn, shard, typ, seq)
	}
	out, err := e.cached.GetShardIterator(context.Background(), []byte(body))
	if err != nil {
		e.t.Fatalf("GetShardIterator %s: %v", body, err)
	}
	return out.(*getShardIteratorOutput).ShardIterator
}

type tcPage struct {
	Records []struct {
		Dynamodb struct {
			SequenceNumber string
			Keys           map[string]map[string]string
		} `json:"dynamodb"`
	}
	NextShardIterator *string
}

func tcGet(api *API, it string, limit int) ([]byte, error) {
	body := fmt.Sprintf(`{"ShardIterator":%q}`, it)
	if limit > 0 {
		body = fmt.Sprintf(`{"ShardIterator":%q,"Limit":%d}`, it, limit)
	}
	out, err := api.GetRecords(context.Background(), []byte(body))
	if err != nil {
		return nil, err
	}
	raw, ok := out.(wire.RawJSON)
	if !ok {
		return nil, fmt.Errorf("GetRecords answered %T", out)
	}
	return raw, nil
}

// same makes the same GetRecords on both APIs, fails the test unless
// they answer the same bytes, and returns the page.
func (e *tcEnv) same(it string, limit int) tcPage {
	e.t.Helper()
	got, err := tcGet(e.cached, it, limit)
	if err != nil {
		e.t.Fatalf("cached GetRecords: %v", err)
	}
	want, err := tcGet(e.plain, it, limit)
	if err != nil {
		e.t.Fatalf("plain GetRecords: %v", err)
	}
	if string(got) != string(want) {
		e.t.Fatalf("GetRecords (limit %d) differs:\ncached %s\nplain  %s", limit, tcShort(got), tcShort(want))
	}
	var page tcPage
	if err := json.Unmarshal(got, &page); err != nil {
		e.t.Fatalf("page %s: %v", tcShort(got), err)
	}
	return page
}

func tcShort(b []byte) string {
	if len(b) > 600 {
		return string(b[:300]) + "..." + string(b[len(b)-300:])
	}
	return string(b)
}

// readShard pages through a shard from it on both APIs until a page is
// empty or the shard is closed, and returns the sequence numbers read and
// the last iterator (empty for a closed shard). Limits are drawn from limit.
func (e *tcEnv) readShard(it string, limit func() int) (seqs []string, last string, bytesCut int) {
	e.t.Helper()
	prevFull := false
	for {
		l := limit()
		page := e.same(it, l)
		if prevFull && len(page.Records) > 0 {
			bytesCut++
		}
		for _, r := range page.Records {
			seqs = append(seqs, r.Dynamodb.SequenceNumber)
		}
		if page.NextShardIterator == nil {
			return seqs, "", bytesCut
		}
		it = *page.NextShardIterator
		if len(page.Records) == 0 {
			return seqs, it, bytesCut
		}
		// A page short of its limit that is followed by more records was cut by size.
		if l == 0 {
			l = maxRecordsPerCall
		}
		prevFull = len(page.Records) < l
	}
}

func tcCount(api *API, r tailResult) float64 { return testutil.ToFloat64(api.m.tail[r]) }

// tail is the publisher's tail cache of a partition.
func (e *tcEnv) tail(id uint32, part int) *tailCache { return &e.p.shards.get(id, part).tail }

// tcMsg is one message of a cache's run: its stream sequence and record
// count. The run holds whole messages, and the publisher batches records
// into messages (publisher.go), so a run's length in messages is not its
// length in records: tests compare records (tcRecords, tcRunSeqs).
type tcMsg struct {
	seq uint64
	n   int
}

// tailState returns a partition's cache state, stream, pred and run, and
// fails the test unless the cache's record count is its run's.
func (e *tcEnv) tailState(id uint32, part int) (tailState, string, uint64, []tcMsg) {
	e.t.Helper()
	c := e.tail(id, part)
	c.mu.Lock()
	defer c.mu.Unlock()
	var run []tcMsg
	for i := 0; i < c.ents.len(); i++ {
		run = append(run, tcMsg{c.ents.at(i).seq, c.ents.at(i).n})
	}
	if c.recs != tcRecords(run) {
		e.t.Errorf("partition %d: the cache counts %d records, its run has %d", part, c.recs, tcRecords(run))
	}
	return c.state, c.stream, c.pred, run
}

// tcRecords is how many records a run holds.
func tcRecords(run []tcMsg) int {
	n := 0
	for _, m := range run {
		n += m.n
	}
	return n
}

// tcRunSeqs are the SequenceNumbers of a run's records, in order.
func tcRunSeqs(run []tcMsg) []string {
	var seqs []string
	for _, m := range run {
		for i := 0; i < m.n; i++ {
			seqs = append(seqs, SequenceNumber(Pos(m.seq, i)))
		}
	}
	return seqs
}

// tcJSSeq is the stream sequence of the message of record seq.
func tcJSSeq(t *testing.T, seq string) uint64 {
	t.Helper()
	pos, ok := ParseSequenceNumber(seq)
	if !ok {
		t.Fatalf("bad SequenceNumber %q", seq)
	}
	js, _ := SplitPos(pos)
	return js
}

// tcMessages groups a shard's records (read in order) into their messages.
func tcMessages(t *testing.T, seqs []string) []tcMsg {
	t.Helper()
	var msgs []tcMsg
	for _, s := range seqs {
		if js := tcJSSeq(t, s); len(msgs) > 0 && msgs[len(msgs)-1].seq == js {
			msgs[len(msgs)-1].n++
		} else {
			msgs = append(msgs, tcMsg{js, 1})
		}
	}
	return msgs
}

// TestTailCacheMatchesJetStream: every page of every shard (interleaved
// partitions of one stream), at random limits, from TRIM_HORIZON, LATEST
// and AFTER/AT a sequence number, is the same from the cache as from
// JetStream, including pages cut at 1 MB (by the JSON size, with full
// images, and by the direct get's byte count, with KEYS_ONLY); and the
// cache answered most of them.
func TestTailCacheMatchesJetStream(t *testing.T) {
	for _, view := range []string{ViewNewAndOldImages, ViewKeysOnly} {
		t.Run(view, func(t *testing.T) {
			rng := tcSeed(t)
			e := tcStart(t, tcConfig(), embedded.NoListener)
			info := e.createTable("tcs", view)
			for i := 0; i < 240; i++ {
				size := rng.IntN(300)
				if rng.IntN(4) == 0 {
					size = 100<<10 + rng.IntN(250<<10)
				}
				e.put("tcs", fmt.Sprintf("k%d", rng.IntN(40)), i, size)
			}
			pubCaughtUp(t, e.p)
			arn := e.arn("tcs", info.Stream.Label)
			limit := func() int {
				if rng.IntN(4) == 0 {
					return 0 // none: 1000
				}
				return 1 + rng.IntN(12)
			}
			total, cuts, msgs := 0, 0, 0
			for part, shard := range e.shardIDs(arn) {
				seqs, last, cut := e.readShard(e.iterator(arn, shard, iterTrimHorizon, ""), limit)
				total, cuts = total+len(seqs), cuts+cut
				if last == "" {
					t.Fatalf("shard %d: an open shard ended", part)
				}
				e.same(last, 0)
				e.same(e.iterator(arn, shard, iterLatest, ""), 0)
				for i := 0; i < 5 && len(seqs) > 0; i++ {
					s := seqs[rng.IntN(len(seqs))]
					e.readShard(e.iterator(arn, shard, iterAfter, s), limit)
					e.readShard(e.iterator(arn, shard, iterAt, s), limit)
				}
				// NB: the run is of messages (the publisher batches records):
				// it must hold exactly the shard's records, message by message.
				_, _, pred, run := e.tailState(info.ID, part)
				if got := tcRunSeqs(run); pred != 0 || !slices.Equal(got, seqs) {
					t.Errorf("shard %d: cache holds %d records in %d messages after %d, want all %d after 0", part, len(got), len(run), pred, len(seqs))
				}
				msgs += len(run)
				tcCheckSizes(t, e.srv, info, part, e.tail(info.ID, part))
			}
			if total != 240 {
				t.Fatalf("read %d records, want 240", total)
			}
			t.Logf("%d records in %d messages", total, msgs)
			if cuts == 0 {
				t.Error("no page was cut by size: the test does not exercise the 1 MB rule")
			}
			if hits, misses := tcCount(e.cached, tailHit), tcCount(e.cached, tailMissCold)+tcCount(e.cached, tailMissBehind); hits == 0 || hits < 4*misses {
				t.Errorf("cache hits %v, misses %v: the cache answered too little", hits, misses)
			}
			for r := tailHit; r < tailResults; r++ {
				if n := tcCount(e.plain, r); n != 0 {
					t.Errorf("the API with NoTailCache counted %v cache results %q", n, tailMissReasons[r])
				}
			}
		})
	}
}

// tcCheckSizes compares each cached record's size with what the stream
// stores: subject + raw header + body, read with STREAM.MSG.GET.
func tcCheckSizes(t *testing.T, srv *embedded.Server, info engine.TableInfo, part int, c *tailCache) {
	t.Helper()
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c.mu.Lock()
	ents := make([]tailEntry, c.ents.len())
	for i := range ents {
		ents[i] = *c.ents.at(i)
	}
	c.mu.Unlock()
	for _, en := range ents {
		req := fmt.Sprintf(`{"seq":%d}`, en.seq)
		resp, err := nc.Request("$JS.API.STREAM.MSG.GET."+StreamName(info.ID, info.Stream.Label), []byte(req), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Message struct {
				Subject string `json:"subject"`
				Hdrs    string `json:"hdrs"`
				Data    string `json:"data"`
			} `json:"message"`
		}
		if err := json.Unmarshal(resp.Data, &r); err != nil {
			t.Fatal(err)
		}
		hdr, _ := base64.StdEncoding.DecodeString(r.Message.Hdrs)
		data, _ := base64.StdEncoding.DecodeString(r.Message.Data)
		if want := len(r.Message.Subject) + len(hdr) + len(data); en.size != want || string(data) != string(en.data) {
			t.Fatalf("partition %d seq %d: cached size %d (body %d bytes), stored %d (body %d bytes)", part, en.seq, en.size, len(en.data), want, len(data))
		}
	}
}

// TestTailCacheEvictionAndBehind: a cache bounded to 8 records keeps the
// newest whole messages that hold at most 8 records, and serves only
// positions after its run's predecessor; a reader far behind is
// answered from JetStream, the same records either way.
func TestTailCacheEvictionAndBehind(t *testing.T) {
	cfg := tcConfig()
	cfg.TailCacheRecords = 8
	e := tcStart(t, cfg, embedded.NoListener)
	info := e.createTable("tcs", ViewNewImage)
	for i := 0; i < 40; i++ {
		e.put("tcs", "hot", i, 10) // NB: one key, so one partition
	}
	for i := 0; i < 20; i++ {
		e.put("tcs", fmt.Sprintf("k%d", i), i, 10)
	}
	pubCaughtUp(t, e.p)
	arn := e.arn("tcs", info.Stream.Label)
	for part, shard := range e.shardIDs(arn) {
		seqs, _, _ := e.readShard(e.iterator(arn, shard, iterTrimHorizon, ""), func() int { return 3 })
		_, _, pred, run := e.tailState(info.ID, part)
		// The run keeps the newest whole messages that hold at most 8
		// records (the publisher batches records into messages).
		msgs := tcMessages(t, seqs)
		keep, recs := len(msgs), 0
		for keep > 0 && recs+msgs[keep-1].n <= 8 {
			keep--
			recs += msgs[keep].n
		}
		if got, want := tcRunSeqs(run), seqs[len(seqs)-recs:]; !slices.Equal(got, want) {
			t.Fatalf("partition %d: cache holds %v, want %v (the newest messages of at most 8 records)", part, got, want)
		}
		if keep > 0 {
			// The run's predecessor is the newest evicted message; its last
			// record is the last record before the run.
			last := seqs[len(seqs)-recs-1]
			if want := msgs[keep-1].seq; pred != want {
				t.Fatalf("partition %d: run's predecessor %d, want %d (the newest message evicted)", part, pred, want)
			}
			// Just after the predecessor: served from the cache; at it: from JetStream.
			hits, behind := tcCount(e.cached, tailHit), tcCount(e.cached, tailMissBehind)
			e.same(e.iterator(arn, shard, iterAfter, last), 2)
			if tcCount(e.cached, tailHit) != hits+1 {
				t.Errorf("partition %d: a read just after the run's predecessor was not a cache hit", part)
			}
			e.same(e.iterator(arn, shard, iterAt, last), 2)
			if tcCount(e.cached, tailMissBehind) != behind+1 {
				t.Errorf("partition %d: a read at the run's predecessor was not a miss (behind)", part)
			}
		}
	}
	if tcCount(e.cached, tailMissBehind) == 0 || tcCount(e.cached, tailHit) == 0 {
		t.Errorf("hits %v, behind %v: want both", tcCount(e.cached, tailHit), tcCount(e.cached, tailMissBehind))
	}
}

// TestTailCacheAfterRestart: a new publisher starts with cold caches (read
// from JetStream), primes each at its first record from the subject's last
// message, and then serves positions after it, never before.
func TestTailCacheAfterRestart(t *testing.T) {
	e := tcStart(t, tcConfig(), embedded.NoListener)
	info := e.createTable("tcs", ViewNewAndOldImages)
	for i := 0; i < 30; i++ {
		e.put("tcs", fmt.Sprintf("k%d", i%10), i, 20)
	}
	pubCaughtUp(t, e.p)
	arn := e.arn("tcs", info.Stream.Label)
	shards := e.shardIDs(arn)
	before := make([][]string, len(shards))
	tails := make([]string, len(shards))
	for part, shard := range shards {
		before[part], tails[part], _ = e.readShard(e.iterator(arn, shard, iterTrimHorizon, ""), func() int { return 4 })
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	e.p = pubStart(t, e.hook, e.db, pubConn(t, e.srv), tcConfig())
	e.bindAPIs(e.p)
	for part := range shards {
		e.same(tails[part], 0)
	}
	if n := tcCount(e.cached, tailMissCold); n != float64(len(shards)) || tcCount(e.cached, tailHit) != 0 {
		t.Fatalf("before any record: %v cold misses and %v hits, want %d and 0", n, tcCount(e.cached, tailHit), len(shards))
	}
	for i := 30; i < 60; i++ {
		e.put("tcs", fmt.Sprintf("k%d", i%10), i, 20)
	}
	pubCaughtUp(t, e.p)
	for part, shard := range shards {
		_, _, pred, run := e.tailState(info.ID, part)
		if n := len(before[part]); n > 0 && len(run) > 0 && pred != tcJSSeq(t, before[part][n-1]) {
			t.Errorf("partition %d: run starts after message %d, want after that of the last record before the restart %s", part, pred, before[part][n-1])
		}
		e.readShard(tails[part], func() int { return 3 })
		all, _, _ := e.readShard(e.iterator(arn, shard, iterTrimHorizon, ""), func() int { return 4 })
		if len(run) > 0 && !slices.Equal(all, append(slices.Clone(before[part]), tcRunSeqs(run)...)) {
			t.Errorf("partition %d: %d records, want %d before the restart and the run's %d after", part, len(all), len(before[part]), tcRecords(run))
		}
	}
	if tcCount(e.cached, tailHit) == 0 || tcCount(e.cached, tailMissBehind) == 0 {
		t.Errorf("hits %v, behind %v: want both", tcCount(e.cached, tailHit), tcCount(e.cached, tailMissBehind))
	}
}

// TestTailCacheReconnect: once the publisher's connection was lost (the
// NATS server restarted), its caches serve nothing until primed again.
func TestTailCacheReconnect(t *testing.T) {
	dir := t.TempDir()
	e := &tcEnv{t: t, hook: &pubHook{}, clock: conflict.NewManualClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))}
	e.srv = pubNATS(t, dir, "127.0.0.1:0")
	addr := e.srv.Addr().String()
	e.db = pubOpenDB(t, e.hook)
	e.p = pubStart(t, e.hook, e.db, pubConn(t, e.srv), tcConfig())
	e.bindAPIs(e.p)
	info := e.createTable("tcs", ViewNewImage)
	e.put("tcs", "hot", 1, 10)
	pubCaughtUp(t, e.p)
	arn := e.arn("tcs", info.Stream.Label)
	part := -1
	for p := 0; p < info.Partitions; p++ {
		if st, _, _, run := e.tailState(info.ID, p); st == tailLive && tcRecords(run) == 1 {
			part = p
		}
	}
	if part < 0 {
		t.Fatal("no partition's cache is live after the first record")
	}
	shard := e.shardIDs(arn)[part]
	_, tailIt, _ := e.readShard(e.iterator(arn, shard, iterTrimHorizon, ""), func() int { return 0 })
	if tcCount(e.cached, tailHit) == 0 {
		t.Fatal("no cache hit before the restart")
	}

	lost := e.p.lost.Load()
	e.srv.Shutdown()
	e.srv = pubNATS(t, dir, addr)
	pubEventually(t, 10*time.Second, "the publisher to reconnect", func() bool { return e.p.nc.IsConnected() && e.p.lost.Load() > lost })
	pubEventually(t, 10*time.Second, "the API to reconnect", func() bool {
		_, err := tcGet(e.plain, tailIt, 0)
		return err == nil
	})
	cold := tcCount(e.cached, tailMissCold)
	e.same(tailIt, 0)
	if tcCount(e.cached, tailMissCold) != cold+1 {
		t.Fatal("after a reconnect the cache still answered")
	}
	// The next record primes the cache again (at most once per PollInterval).
	n := 2
	pubEventually(t, 10*time.Second, "the cache to be live again", func() bool {
		e.put("tcs", "hot", n, 10)
		n++
		pubCaughtUp(t, e.p)
		st, _, _, _ := e.tailState(info.ID, part)
		return st == tailLive
	})
	hits := tcCount(e.cached, tailHit)
	seqs, _, _ := e.readShard(tailIt, func() int { return 0 })
	if len(seqs) != n-2 {
		t.Fatalf("after the restart: %d records, want %d", len(seqs), n-2)
	}
	if tcCount(e.cached, tailHit) == hits {
		t.Error("the cache was not primed again after the reconnect")
	}
}

// TestTailCacheDisableReenable: a disabled stream's shards are read from
// JetStream (closed, ending as without the cache), its cache is dropped,
// and the re-enabled stream's are served from a new run.
func TestTailCacheDisableReenable(t *testing.T) {
	e := tcStart(t, tcConfig(), embedded.NoListener)
	info := e.createTable("tcs", ViewNewAndOldImages)
	first := info.Stream.Label
	for i := 0; i < 20; i++ {
		e.put("tcs", fmt.Sprintf("k%d", i), i, 10)
	}
	pubCaughtUp(t, e.p)
	arn1 := e.arn("tcs", first)
	shards1 := e.shardIDs(arn1)
	tails1 := make([]string, len(shards1))
	for part, shard := range shards1 {
		_, tails1[part], _ = e.readShard(e.iterator(arn1, shard, iterTrimHorizon, ""), func() int { return 5 })
	}

	pubSetStream(t, e.db, "tcs", false)
	pubEventually(t, 10*time.Second, "the first stream to be disabled", func() bool {
		out, err := e.plain.DescribeStream(context.Background(), []byte(fmt.Sprintf(`{"StreamArn":%q}`, arn1)))
		return err == nil && out.(*describeStreamOutput).StreamDescription.StreamStatus == "DISABLED"
	})
	// NB: the publisher drops the caches just after it marked the stream disabled.
	pubEventually(t, 10*time.Second, "the disabled stream's runs to be dropped", func() bool {
		for part := range shards1 {
			if st, stream, _, _ := e.tailState(info.ID, part); st != tailCold && stream == StreamName(info.ID, first) {
				return false
			}
		}
		return true
	})
	pubSetStream(t, e.db, "tcs", true)
	info, _ = e.db.Table("tcs")
	second := info.Stream.Label
	if second == first {
		t.Fatal("re-enabling kept the label")
	}
	for i := 0; i < 20; i++ {
		e.put("tcs", fmt.Sprintf("k%d", i), 100+i, 10)
	}
	pubCaughtUp(t, e.p)

	hits := tcCount(e.cached, tailHit)
	for part, shard := range shards1 {
		seqs, last, _ := e.readShard(tails1[part], func() int { return 5 })
		if len(seqs) != 0 || last != "" {
			t.Errorf("partition %d of the disabled stream: %d more records, next iterator %q; want none, closed", part, len(seqs), last)
		}
		e.readShard(e.iterator(arn1, shard, iterTrimHorizon, ""), func() int { return 5 })
	}
	if tcCount(e.cached, tailHit) != hits {
		t.Error("the cache answered reads of a disabled stream")
	}
	arn2 := e.arn("tcs", second)
	total := 0
	for part, shard := range e.shardIDs(arn2) {
		seqs, _, _ := e.readShard(e.iterator(arn2, shard, iterTrimHorizon, ""), func() int { return 3 })
		total += len(seqs)
		if st, stream, _, run := e.tailState(info.ID, part); len(seqs) > 0 && (st != tailLive || stream != StreamName(info.ID, second) || !slices.Equal(tcRunSeqs(run), seqs)) {
			t.Errorf("partition %d: cache %v of %s with %d records, want live of the new stream with its %d", part, st, stream, tcRecords(run), len(seqs))
		}
	}
	if total != 20 {
		t.Fatalf("the new stream has %d records, want 20", total)
	}
	if tcCount(e.cached, tailHit) == hits {
		t.Error("the new stream's shards were not served from the cache")
	}
}

// TestTailCacheDuplicateAck: a record JetStream already held (here put
// there by another writer under the next record's Nats-Msg-Id) is
// acknowledged as a duplicate; the cache is emptied, reads come from
// JetStream (which has the other writer's message), and a new run starts
// after it at the next record.
func TestTailCacheDuplicateAck(t *testing.T) {
	e := tcStart(t, tcConfig(), embedded.NoListener)
	info := e.createTable("tcs", ViewNewImage)
	label := info.Stream.Label
	e.put("tcs", "hot", 1, 10)
	pubCaughtUp(t, e.p)
	part := -1
	for p := 0; p < info.Partitions; p++ {
		if head, _ := e.db.OutboxHeadByID(info.ID, p); head == 1 {
			part = p
		}
	}
	if st, _, _, run := e.tailState(info.ID, part); st != tailLive || tcRecords(run) != 1 {
		t.Fatalf("cache of partition %d: %v with %d records, want live with 1", part, st, tcRecords(run))
	}
	arn := e.arn("tcs", label)
	shard := e.shardIDs(arn)[part]
	_, tailIt, _ := e.readShard(e.iterator(arn, shard, iterTrimHorizon, ""), func() int { return 0 })

	// Another writer stores a copy of record 1 as outbox entry 2.
	nc, err := e.srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, StreamName(info.ID, label))
	if err != nil {
		t.Fatal(err)
	}
	one, err := stream.GetLastMsgForSubject(ctx, Subject(pubRegion, info.ID, label, part))
	if err != nil {
		t.Fatal(err)
	}
	foreign := &nats.Msg{Subject: one.Subject, Data: one.Data, Header: nats.Header{
		HeaderMsgID: {MsgID(info.ID, label, part, 2)}, HeaderSeq: {"2"}, HeaderOrigin: {pubRegion}, HeaderLayout: {layoutVersion},
	}}
	if _, err := js.PublishMsg(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	dups := pubValue(e.p.m.duplicates.WithLabelValues("tcs"))
	e.put("tcs", "hot", 2, 10) // outbox entry 2: a duplicate
	pubEventually(t, 10*time.Second, "the publish of entry 2 to be acknowledged as a duplicate", func() bool {
		return pubValue(e.p.m.duplicates.WithLabelValues("tcs")) == dups+1
	})
	if st, _, _, _ := e.tailState(info.ID, part); st != tailCold {
		t.Fatalf("after a duplicate ack the cache is %v, want cold", st)
	}
	cold := tcCount(e.cached, tailMissCold)
	if page := e.same(tailIt, 0); len(page.Records) != 1 {
		t.Fatalf("after the other writer's message: %d records, want 1 (its)", len(page.Records))
	}
	if tcCount(e.cached, tailMissCold) != cold+1 {
		t.Error("the read after the duplicate did not miss (cold)")
	}

	// The next record primes the cache again (at most once per PollInterval).
	n := 3
	pubEventually(t, 10*time.Second, "the cache to be live again", func() bool {
		e.put("tcs", "hot", n, 10)
		n++
		pubCaughtUp(t, e.p)
		st, _, _, _ := e.tailState(info.ID, part)
		return st == tailLive
	})
	_, _, pred, run := e.tailState(info.ID, part)
	all, _, _ := e.readShard(e.iterator(arn, shard, iterTrimHorizon, ""), func() int { return 1 })
	r := tcRecords(run)
	if len(all) != n-1 || r == 0 || r > len(all)-2 || !slices.Equal(all[len(all)-r:], tcRunSeqs(run)) || pred != tcJSSeq(t, all[len(all)-r-1]) {
		t.Fatalf("records %v, cache run %v after message %d; want %d records and a run after the other writer's message", all, tcRunSeqs(run), pred, n-1)
	}
	// NB: after the last record before the run (the last of pred's message).
	hits := tcCount(e.cached, tailHit)
	if page := e.same(e.iterator(arn, shard, iterAfter, all[len(all)-r-1]), 0); len(page.Records) != r || tcCount(e.cached, tailHit) != hits+1 {
		t.Errorf("after the run's predecessor: %d records, cache hits +%v; want the run's %d from the cache", len(page.Records), tcCount(e.cached, tailHit)-hits, r)
	}
}

// TestTailCacheStreamRecreated: a stream deleted and created again under
// the same name (by hand) is another incarnation: the cache of the old
// one answers nothing for it.
func TestTailCacheStreamRecreated(t *testing.T) {
	e := tcStart(t, tcConfig(), embedded.NoListener)
	info := e.createTable("tcs", ViewNewImage)
	for i := 0; i < 10; i++ {
		e.put("tcs", "hot", i, 10)
	}
	pubCaughtUp(t, e.p)
	part := -1
	for p := 0; p < info.Partitions; p++ {
		if head, _ := e.db.OutboxHeadByID(info.ID, p); head == 10 {
			part = p
		}
	}
	arn := e.arn("tcs", info.Stream.Label)
	shard := e.shardIDs(arn)[part]
	seqs, _, _ := e.readShard(e.iterator(arn, shard, iterTrimHorizon, ""), func() int { return 0 })
	mid := e.iterator(arn, shard, iterAfter, seqs[2])
	hits := tcCount(e.cached, tailHit)
	if page := e.same(mid, 0); len(page.Records) != 7 || tcCount(e.cached, tailHit) != hits+1 {
		t.Fatalf("before: %d records (want 7), cache hits +%v (want 1)", len(page.Records), tcCount(e.cached, tailHit)-hits)
	}

	nc, err := e.srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, StreamName(info.ID, info.Stream.Label))
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	if err := js.DeleteStream(ctx, cfg.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	cold := tcCount(e.cached, tailMissCold)
	if page := e.same(mid, 0); len(page.Records) != 0 {
		t.Fatalf("the recreated stream: %d records, want none", len(page.Records))
	}
	if tcCount(e.cached, tailMissCold) != cold+1 {
		t.Error("the old incarnation's cache answered for the new one")
	}
}

// TestTailCacheServesWaitingReader: a GetRecords waiting at a shard's end
// is woken by the ack and answered from the cache, not JetStream.
func TestTailCacheServesWaitingReader(t *testing.T) {
	e := tcStart(t, tcConfig(), embedded.NoListener)
	nc, err := e.srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	api, err := NewAPI(e.db, js, APIConfig{Published: e.p, RecordsWait: time.Minute, Registerer: prometheus.NewRegistry(), Clock: e.clock,
		IteratorKey: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	info := e.createTable("tcs", ViewNewImage)
	e.put("tcs", "hot", 1, 10)
	pubCaughtUp(t, e.p)
	part := -1
	for p := 0; p < info.Partitions; p++ {
		if head, _ := e.db.OutboxHeadByID(info.ID, p); head == 1 {
			part = p
		}
	}
	arn := e.arn("tcs", info.Stream.Label)
	it := e.iterator(arn, e.shardIDs(arn)[part], iterLatest, "")
	type result struct {
		raw []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		raw, err := tcGet(api, it, 0)
		done <- result{raw, err}
	}()
	pubEventually(t, 20*time.Second, "the GetRecords to wait", func() bool {
		select {
		case r := <-done:
			t.Fatalf("GetRecords answered before the put: %s, %v", r.raw, r.err)
		default:
		}
		return e.p.shards.get(info.ID, part).signal.ch.Load() != nil
	})
	e.put("tcs", "hot", 2, 10)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	var page tcPage
	if err := json.Unmarshal(r.raw, &page); err != nil || len(page.Records) != 1 {
		t.Fatalf("page %s (%v), want the record of the second put", r.raw, err)
	}
	if hits, misses := tcCount(api, tailHit), tcCount(api, tailMissCold)+tcCount(api, tailMissBehind); hits != 2 || misses != 0 {
		t.Errorf("cache hits %v, misses %v; want 2 (the empty read, then the record) and 0", hits, misses)
	}
}

// TestTailCacheOff: with TailCacheRecords -1 the publisher keeps no cache
// and the API reads JetStream, answering the same.
func TestTailCacheOff(t *testing.T) {
	cfg := tcConfig()
	cfg.TailCacheRecords = -1
	e := tcStart(t, cfg, embedded.NoListener)
	info := e.createTable("tcs", ViewNewImage)
	for i := 0; i < 20; i++ {
		e.put("tcs", fmt.Sprintf("k%d", i), i, 10)
	}
	pubCaughtUp(t, e.p)
	arn := e.arn("tcs", info.Stream.Label)
	for part, shard := range e.shardIDs(arn) {
		e.readShard(e.iterator(arn, shard, iterTrimHorizon, ""), func() int { return 3 })
		if st, _, _, _ := e.tailState(info.ID, part); st != tailCold {
			t.Errorf("partition %d: cache %v with the cache off", part, st)
		}
	}
	if e.cached.tails != nil {
		t.Error("the API reads tail caches of a publisher that keeps none")
	}
	for r := tailHit; r < tailResults; r++ {
		if n := tcCount(e.cached, r); n != 0 {
			t.Errorf("%v cache results %q with the cache off", n, tailMissReasons[r])
		}
	}
}
