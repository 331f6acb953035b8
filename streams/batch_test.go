package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/godwit-db/godwit/engine"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// The layout 2 reader tests (prefix bt): rtEnv.publish with e.batch set
// writes messages of several records (mixed with one-record messages)
// straight to JetStream, and every reader must see each record once, in
// order, at its own position.

// btWalk pages through a shard from it with GetRecords Limit limit (0:
// none) until a page is empty (open shard) or has no NextShardIterator
// (closed), and returns the sequence numbers read.
func btWalk(t *testing.T, e *rtEnv, it string, limit int32) (seqs []string, closed bool) {
	t.Helper()
	for {
		in := &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String(it)}
		if limit > 0 {
			in.Limit = aws.Int32(limit)
		}
		out, err := e.dds.GetRecords(rtCtx(t), in)
		if err != nil {
			t.Fatalf("get records: %v", err)
		}
		if limit > 0 && len(out.Records) > int(limit) {
			t.Fatalf("%d records on a page of Limit %d", len(out.Records), limit)
		}
		for _, r := range out.Records {
			seqs = append(seqs, aws.ToString(r.Dynamodb.SequenceNumber))
		}
		if out.NextShardIterator == nil {
			return seqs, true
		}
		if len(out.Records) == 0 {
			return seqs, false
		}
		it = *out.NextShardIterator
	}
}

func btPos(t *testing.T, seq string) (js uint64, idx int) {
	t.Helper()
	p, ok := ParseSequenceNumber(seq)
	if !ok {
		t.Fatalf("sequence number %q", seq)
	}
	return SplitPos(p)
}

// btCounts returns the record count of each message of seqs (a whole shard).
func btCounts(t *testing.T, seqs []string) map[uint64]int {
	t.Helper()
	n := map[uint64]int{}
	for _, s := range seqs {
		js, idx := btPos(t, s)
		if idx != n[js] {
			t.Fatalf("record %s: index %d, want %d (records of a message are consecutive from 0)", s, idx, n[js])
		}
		n[js]++
	}
	return n
}

// TestAPIBatchedMessages: messages of several records mixed with
// one-record messages. Every shard reads the same at every Limit (1
// walks every record of a 5-record message one page at a time); AT and
// AFTER_SEQUENCE_NUMBER work on every record; an index beyond a
// message's records is ValidationException; sequence numbers are 21
// digits and grow; a closed shard's range ends at its last record.
func TestAPIBatchedMessages(t *testing.T) {
	e := rtStart(t, 2)
	e.createTable("btt", ViewKeysOnly, false)
	arn := e.arn("btt")
	sizes := []int{5, 1, 3, 1, 7, 2}
	k := 0
	e.batch = func() int { k++; return sizes[k%len(sizes)] }
	for i := 0; i < 40; i++ {
		e.put("btt", map[string]ddbtypes.AttributeValue{"pk": rtS(fmt.Sprintf("k%02d", i))})
	}
	e.publish()

	multi, single, total := 0, 0, 0
	base := map[string][]string{}
	for _, sh := range e.shards(arn) {
		shard := *sh.ShardId
		th, err := e.iterator(arn, shard, types.ShardIteratorTypeTrimHorizon, "")
		if err != nil {
			t.Fatal(err)
		}
		recs, _ := e.readShard(th)
		rtCheckSequence(t, recs)
		var seqs []string
		for i, r := range recs {
			seqs = append(seqs, *r.Dynamodb.SequenceNumber)
			if i > 0 && rtKeyOf(r) <= rtKeyOf(recs[i-1]) {
				t.Fatalf("shard %s: %s after %s: not in write order", shard, rtKeyOf(r), rtKeyOf(recs[i-1]))
			}
			if len(seqs[i]) != 21 {
				t.Fatalf("sequence number %s is not 21 digits", seqs[i])
			}
		}
		base[shard] = seqs
		total += len(seqs)
		counts := btCounts(t, seqs)
		for _, n := range counts {
			if n > 1 {
				multi++
			} else {
				single++
			}
		}

		// Every Limit walks the same records.
		for _, limit := range []int32{1, 2, 3, 0} {
			got, _ := btWalk(t, e, th, limit)
			if strings.Join(got, ",") != strings.Join(seqs, ",") {
				t.Fatalf("shard %s Limit %d: %v, want %v", shard, limit, got, seqs)
			}
		}
		// AT and AFTER every record.
		for i, s := range seqs {
			at, err := e.iterator(arn, shard, types.ShardIteratorTypeAtSequenceNumber, s)
			if err != nil {
				t.Fatalf("AT %s: %v", s, err)
			}
			if got, _ := btWalk(t, e, at, int32(1+i%3)); strings.Join(got, ",") != strings.Join(seqs[i:], ",") {
				t.Fatalf("AT %s: %v, want %v", s, got, seqs[i:])
			}
			after, err := e.iterator(arn, shard, types.ShardIteratorTypeAfterSequenceNumber, s)
			if err != nil {
				t.Fatalf("AFTER %s: %v", s, err)
			}
			if got, _ := btWalk(t, e, after, int32(1+i%2)); strings.Join(got, ",") != strings.Join(seqs[i+1:], ",") {
				t.Fatalf("AFTER %s: %v, want %v", s, got, seqs[i+1:])
			}
		}
		// An index beyond a message's records is not a record of the shard.
		for js, n := range counts {
			for _, typ := range []types.ShardIteratorType{types.ShardIteratorTypeAtSequenceNumber, types.ShardIteratorTypeAfterSequenceNumber} {
				_, err := e.iterator(arn, shard, typ, SequenceNumber(Pos(js, n)))
				rtWantCode(t, err, "ValidationException")
				if !strings.Contains(err.Error(), "not a record of shard") {
					t.Errorf("%s index %d of a %d-record message: %v", typ, n, n, err)
				}
			}
			_, err := e.iterator(arn, shard, types.ShardIteratorTypeAtSequenceNumber, SequenceNumber(Pos(js, MaxRecordsPerMessage-1)))
			rtWantCode(t, err, "ValidationException")
			// AFTER the last index a message can have: after all of it.
			it, err := e.iterator(arn, shard, types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber(Pos(js, MaxRecordsPerMessage-1)))
			if err != nil {
				t.Fatalf("AFTER all of message %d: %v", js, err)
			}
			var want []string
			for _, s := range seqs {
				if j, _ := btPos(t, s); j > js {
					want = append(want, s)
				}
			}
			if got, _ := btWalk(t, e, it, 0); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("AFTER all of message %d: %v, want %v", js, got, want)
			}
		}
	}
	if total != 40 || multi == 0 || single == 0 {
		t.Fatalf("%d records in %d multi-record and %d one-record messages: want 40 in both kinds", total, multi, single)
	}

	// Sealed: every shard is closed at its last record, and its last page
	// (at any Limit) has no NextShardIterator.
	e.seal("btt", e.mustLabel("btt"))
	e.api.mu.Lock()
	e.api.handles = map[string]*streamHandle{} // NB: forget the cached state (StateMaxAge) at once
	e.api.mu.Unlock()
	for _, sh := range e.shards(arn) {
		seqs := base[*sh.ShardId]
		r := sh.SequenceNumberRange
		if r == nil || aws.ToString(r.StartingSequenceNumber) != seqs[0] || aws.ToString(r.EndingSequenceNumber) != seqs[len(seqs)-1] {
			t.Fatalf("shard %s: range %+v, want %s to %s", *sh.ShardId, r, seqs[0], seqs[len(seqs)-1])
		}
		th, _ := e.iterator(arn, *sh.ShardId, types.ShardIteratorTypeTrimHorizon, "")
		for _, limit := range []int32{1, 4} {
			got, closed := btWalk(t, e, th, limit)
			if !closed || strings.Join(got, ",") != strings.Join(seqs, ",") {
				t.Fatalf("closed shard %s Limit %d: %v (closed %v), want %v", *sh.ShardId, limit, got, closed, seqs)
			}
		}
	}
}

// btBig is an item of about size bytes, in a binary attribute (whose
// JSON, base64, is a third larger than the record's bytes).
func btBig(pk string, v, size int) map[string]ddbtypes.AttributeValue {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(v + i)
	}
	return map[string]ddbtypes.AttributeValue{"pk": rtS(pk), "v": rtN(v), "b": &ddbtypes.AttributeValueMemberB{Value: b}}
}

// TestAPIBatchedPageCutBySize: a message whose records' JSON exceeds 1 MB
// is split across pages by record; the next page starts at the next record
// of the same message.
func TestAPIBatchedPageCutBySize(t *testing.T) {
	e := rtStart(t, 1)
	e.createTable("cut", ViewNewImage, false)
	arn := e.arn("cut")
	e.batch = func() int { return 3 }
	for i := 0; i < 3; i++ {
		e.put("cut", btBig(fmt.Sprintf("k%d", i), i, 300<<10))
	}
	e.publish()
	shard := *e.shards(arn)[0].ShardId
	it, _ := e.iterator(arn, shard, types.ShardIteratorTypeTrimHorizon, "")
	var pages [][]string
	for it != "" {
		out, err := e.dds.GetRecords(rtCtx(t), &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String(it)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Records) == 0 {
			break
		}
		var page []string
		for _, r := range out.Records {
			page = append(page, *r.Dynamodb.SequenceNumber)
		}
		pages = append(pages, page)
		it = aws.ToString(out.NextShardIterator)
	}
	if len(pages) != 2 || len(pages[0]) != 2 || len(pages[1]) != 1 {
		t.Fatalf("pages %v: want 2 records, then 1", pages)
	}
	js0, _ := btPos(t, pages[0][0])
	js2, idx2 := btPos(t, pages[1][0])
	if js0 != js2 || idx2 != 2 {
		t.Fatalf("pages %v: want the three records of one message", pages)
	}
}

// TestConsumerBatchedMessages: the consumer library delivers every record
// of messages of several records exactly once, in order, at the positions
// the Streams API shows, with each record's own outbox sequence; a
// consumer stopped after any record (in the middle of a message or at its
// end) and resumed from its Position, over JetStream or over HTTP,
// delivers exactly the rest; SkipOrigin yields one record per message, at
// its last record's position, with its last outbox sequence.
func TestConsumerBatchedMessages(t *testing.T) {
	rng := tcSeed(t)
	e := rtStart(t, 1)
	stream := ctTable(e, "cbt", ViewNewImage)
	e.batch = func() int {
		if rng.IntN(3) == 0 {
			return 1
		}
		return 2 + rng.IntN(5)
	}
	const n = 40
	ctWrite(e, "cbt", 7, 0, n)
	e.publish()
	arn := e.arn("cbt")
	th, _ := e.iterator(arn, *e.shards(arn)[0].ShardId, types.ShardIteratorTypeTrimHorizon, "")
	want, _ := btWalk(t, e, th, 0)
	counts := btCounts(t, want)
	if len(want) != n || len(counts) == n {
		t.Fatalf("%d records in %d messages: want %d records, some sharing a message", len(want), len(counts), n)
	}

	c, err := NewConsumer(rtCtx(t), ctSource(t, e, stream), ConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	all := ctNext(t, c, n)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	if r, err := c.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a record beyond the %d written: %+v %v", n, r.Event, err)
	}
	cancel()
	_ = c.Close()
	for i, r := range all {
		if SequenceNumber(r.Seq) != want[i] || r.Event.Dynamodb.SequenceNumber != want[i] {
			t.Fatalf("record %d at %s (event %s), want %s", i, SequenceNumber(r.Seq), r.Event.Dynamodb.SequenceNumber, want[i])
		}
		if r.Change.Seq != uint64(i+1) || ctNewValue(r) != i {
			t.Fatalf("record %d: outbox seq %d, v %d", i, r.Change.Seq, ctNewValue(r))
		}
	}

	// Stop after every record, resume from the Position.
	mid := 0
	for k := 1; k < n; k++ {
		c1, err := NewConsumer(rtCtx(t), ctSource(t, e, stream), ConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		first := ctNext(t, c1, k)
		pos := c1.Position()
		_ = c1.Close()
		js, idx := SplitPos(pos[0])
		lastJs, lastIdx := SplitPos(first[k-1].Seq)
		switch {
		case js != lastJs:
			t.Fatalf("stopped after %s: position %d is of another message", want[k-1], pos[0])
		case lastIdx == counts[js]-1 && idx != MaxRecordsPerMessage-1:
			t.Fatalf("stopped after the last record of message %d: position index %d, want all of it", js, idx)
		case lastIdx < counts[js]-1:
			mid++
			if idx != lastIdx {
				t.Fatalf("stopped after %s: position index %d", want[k-1], idx)
			}
		}
		c2, err := NewConsumer(rtCtx(t), ctSource(t, e, stream), ConsumerConfig{Resume: pos})
		if err != nil {
			t.Fatal(err)
		}
		rest := ctNext(t, c2, n-k)
		_ = c2.Close()
		for i, r := range rest {
			if SequenceNumber(r.Seq) != want[k+i] {
				t.Fatalf("resumed after %s: record %d at %s, want %s", want[k-1], i, SequenceNumber(r.Seq), want[k+i])
			}
		}
		if lastIdx < counts[js]-1 && mid <= 3 { // the same over HTTP, from inside a message
			h, err := NewConsumer(rtCtx(t), NewHTTPSource(e.dds, arn, HTTPSourceConfig{PollInterval: 10 * time.Millisecond}), ConsumerConfig{Resume: pos})
			if err != nil {
				t.Fatal(err)
			}
			rest := ctNext(t, h, n-k)
			_ = h.Close()
			for i, r := range rest {
				if SequenceNumber(r.Seq) != want[k+i] {
					t.Fatalf("resumed over HTTP after %s: record %d at %s, want %s", want[k-1], i, SequenceNumber(r.Seq), want[k+i])
				}
			}
		}
	}
	if mid == 0 {
		t.Fatal("no stop inside a message: the test does not exercise resuming mid-message")
	}

	// SkipOrigin: one record per message, at its last record.
	src, err := NewJetStreamSource(rtCtx(t), e.js, stream, JetStreamSourceConfig{IdleWait: 50 * time.Millisecond, SkipOrigin: func(string) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	c, err = NewConsumer(rtCtx(t), src, ConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stubs := ctNext(t, c, len(counts))
	var lasts []Record
	for i, r := range all {
		if js, idx := SplitPos(r.Seq); idx == counts[js]-1 {
			lasts = append(lasts, all[i])
		}
	}
	for i, s := range stubs {
		if s.Seq != lasts[i].Seq || s.Change.Seq != lasts[i].Change.Seq || s.Origin != rtRegion || s.Event.EventID != "" {
			t.Fatalf("skipped message %d: at %d outbox %d, want %d outbox %d", i, s.Seq, s.Change.Seq, lasts[i].Seq, lasts[i].Change.Seq)
		}
	}
}

// btTails is the tail cache source of a test: the caches that the test
// fills as the publisher would, for an API to read.
type btTails struct{ caches map[int]*tailCache }

func (b *btTails) tailCacheOn() bool                        { return true }
func (b *btTails) tailCache(_ uint32, part int) *tailCache  { return b.caches[part] }
func (b *btTails) Generation(uint32, int) uint64            { return 0 }
func (b *btTails) Wait(uint32, int, uint64) <-chan struct{} { return nil }
func (b *btTails) prime(stream string, created time.Time, part int) {
	c := &tailCache{maxRecords: 1 << 20, maxBytes: 256 << 20, lost: &atomic.Uint64{}}
	c.prime(stream, created, 0, 0, 0)
	b.caches[part] = c
}

// TestTailCacheBatchedMatchesJetStream: with multi-record messages in the
// tail cache, every page (random limits, from TRIM_HORIZON, AT and AFTER
// every record, pages cut in the middle of a message by Limit and by
// size) is byte for byte the API's JetStream answer, and the cache
// answered.
func TestTailCacheBatchedMatchesJetStream(t *testing.T) {
	rng := tcSeed(t)
	e := rtStart(t, 2)
	e.createTable("tbt", ViewNewAndOldImages, false)
	info, _ := e.db.Table("tbt")
	name := StreamName(info.ID, info.Stream.Label)
	s, err := e.js.Stream(rtCtx(t), name)
	if err != nil {
		t.Fatal(err)
	}
	tails := &btTails{caches: map[int]*tailCache{}}
	for p := 0; p < info.Partitions; p++ {
		tails.prime(name, s.CachedInfo().Created, p)
	}
	counts := map[uint64]int{}
	e.published = func(_ engine.TableInfo, part int, m *nats.Msg, out uint64, ack *jetstream.PubAck) {
		n, _ := MessageCount(m.Header)
		counts[ack.Sequence] = n
		c := tails.caches[part]
		sent := tailSent{out: out, data: m.Data, n: n, size: len(m.Subject) + storedHeaderLen(m.Header) + len(m.Data)}
		if !c.sending(name, 0, 0, sent) {
			t.Fatalf("partition %d: the cache is not primed", part)
		}
		c.acked(0, out, ack.Sequence, ack.Duplicate, nil)
	}
	cached, err := NewAPI(e.db, e.js, APIConfig{Clock: e.clock, Published: tails, RecordsWait: -1, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer cached.Close()

	e.batch = func() int { return 1 + rng.IntN(4) }
	for i := 0; i < 60; i++ {
		if rng.IntN(6) == 0 {
			e.put("tbt", btBig(fmt.Sprintf("k%d", rng.IntN(20)), i, 60<<10+rng.IntN(30<<10)))
		} else {
			e.put("tbt", map[string]ddbtypes.AttributeValue{"pk": rtS(fmt.Sprintf("k%d", rng.IntN(20))), "v": rtN(i)})
		}
	}
	e.publish()
	// One message of four big records: its pages are cut by size inside it.
	e.batch = func() int { return 4 }
	for i := 0; i < 4; i++ {
		e.put("tbt", btBig("big", i, 120<<10))
	}
	e.publish()

	same := func(it string, limit int) tcPage {
		t.Helper()
		got, err := tcGet(cached, it, limit)
		if err != nil {
			t.Fatalf("cached GetRecords: %v", err)
		}
		want, err := tcGet(e.api, it, limit)
		if err != nil {
			t.Fatalf("plain GetRecords: %v", err)
		}
		if string(got) != string(want) {
			t.Fatalf("GetRecords (limit %d) differs:\ncached %s\nplain  %s", limit, tcShort(got), tcShort(want))
		}
		var page tcPage
		if err := json.Unmarshal(got, &page); err != nil {
			t.Fatalf("page %s: %v", tcShort(got), err)
		}
		return page
	}
	midLimit, midSize := 0, 0
	walk := func(it string) (seqs []string) {
		t.Helper()
		for {
			limit := 0
			if rng.IntN(3) > 0 {
				limit = 1 + rng.IntN(5)
			}
			page := same(it, limit)
			for _, r := range page.Records {
				seqs = append(seqs, r.Dynamodb.SequenceNumber)
			}
			if n := len(page.Records); n > 0 {
				if js, idx := btPos(t, page.Records[n-1].Dynamodb.SequenceNumber); idx < counts[js]-1 {
					if limit > 0 && n == limit {
						midLimit++
					} else {
						midSize++
					}
				}
			}
			if page.NextShardIterator == nil || len(page.Records) == 0 {
				return seqs
			}
			it = *page.NextShardIterator
		}
	}
	arn := e.arn("tbt")
	total := 0
	for _, sh := range e.shards(arn) {
		th, _ := e.iterator(arn, *sh.ShardId, types.ShardIteratorTypeTrimHorizon, "")
		seqs := walk(th)
		total += len(seqs)
		latest, _ := e.iterator(arn, *sh.ShardId, types.ShardIteratorTypeLatest, "")
		same(latest, 0)
		for i, s := range seqs {
			at, err := e.iterator(arn, *sh.ShardId, types.ShardIteratorTypeAtSequenceNumber, s)
			if err != nil {
				t.Fatal(err)
			}
			if got := walk(at); strings.Join(got, ",") != strings.Join(seqs[i:], ",") {
				t.Fatalf("AT %s: %v, want %v", s, got, seqs[i:])
			}
			after, err := e.iterator(arn, *sh.ShardId, types.ShardIteratorTypeAfterSequenceNumber, s)
			if err != nil {
				t.Fatal(err)
			}
			if got := walk(after); strings.Join(got, ",") != strings.Join(seqs[i+1:], ",") {
				t.Fatalf("AFTER %s: %v, want %v", s, got, seqs[i+1:])
			}
		}
	}
	if total != 64 {
		t.Fatalf("read %d records, want 64", total)
	}
	if midLimit == 0 || midSize == 0 {
		t.Errorf("pages ending inside a message: %d by Limit, %d by size; want both", midLimit, midSize)
	}
	if hits := tcCount(cached, tailHit); hits == 0 || hits < tcCount(cached, tailMissBehind) {
		t.Errorf("cache hits %v, behind %v: the cache answered too little", hits, tcCount(cached, tailMissBehind))
	}
}
