package streams

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/engine/attr"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// ctTable makes a streamed table and returns its JetStream stream name.
func ctTable(e *rtEnv, name, viewType string) string {
	e.t.Helper()
	e.createTable(name, viewType, false)
	info, _ := e.db.Table(name)
	return StreamName(info.ID, info.Stream.Label)
}

// ctWrite makes n updates spread over keys items, each setting v to the
// update's number, so per-item order is visible in the images.
func ctWrite(e *rtEnv, table string, keys, from, n int) {
	e.t.Helper()
	ctx := rtCtx(e.t)
	for i := from; i < from+n; i++ {
		_, err := e.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(table),
			Key:                       map[string]ddbtypes.AttributeValue{"pk": rtS(fmt.Sprintf("item%d", i%keys))},
			UpdateExpression:          aws.String("SET v = :v"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":v": rtN(i)},
		})
		if err != nil {
			e.t.Fatalf("update: %v", err)
		}
	}
}

func ctSource(t *testing.T, e *rtEnv, stream string) *JetStreamSource {
	t.Helper()
	src, err := NewJetStreamSource(rtCtx(t), e.js, stream, JetStreamSourceConfig{Batch: 16, IdleWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// ctNext reads n records with a deadline.
func ctNext(t *testing.T, c *Consumer, n int) []Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := make([]Record, 0, n)
	for len(out) < n {
		recs, err := c.NextBatch(ctx, n-len(out))
		if err != nil {
			t.Fatalf("after %d of %d records: %v", len(out), n, err)
		}
		out = append(out, recs...)
	}
	return out
}

// ctNewValue is the v of a record's new image (-1 for none).
func ctNewValue(r Record) int {
	if v, ok := r.Change.NewImage["v"]; ok {
		var n int
		fmt.Sscan(v.S, &n)
		return n
	}
	return -1
}

// TestConsumerResumeExactlyOnce: a consumer stopped at random points and
// resumed from its saved Position delivers every change exactly once,
// each partition in order, each item's changes in the order they were made.
func TestConsumerResumeExactlyOnce(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	e := rtStart(t, 4)
	stream := ctTable(e, "resume", ViewNewAndOldImages)
	const keys, total = 13, 400
	ctWrite(e, "resume", keys, 0, total/2)
	e.publish()

	var pos Position
	seen := map[uint64]bool{}
	lastSeq := map[int]uint64{}
	lastV := map[string]int{}
	got := 0
	for round := 0; got < total; round++ {
		if round == 2 {
			ctWrite(e, "resume", keys, total/2, total/2) // more changes while no consumer runs
			e.publish()
		}
		c, err := NewConsumer(rtCtx(t), ctSource(t, e, stream), ConsumerConfig{Resume: pos, Buffer: 8, Name: "resume"})
		if err != nil {
			t.Fatal(err)
		}
		n := min(1+rng.IntN(120), total-got)
		if round < 2 && got+n >= total/2 {
			n = total/2 - got
		}
		for _, r := range ctNext(t, c, n) {
			if seen[r.Seq] {
				t.Fatalf("round %d: record %d delivered twice", round, r.Seq)
			}
			seen[r.Seq] = true
			if r.Seq <= lastSeq[r.Partition] {
				t.Fatalf("partition %d: %d after %d", r.Partition, r.Seq, lastSeq[r.Partition])
			}
			lastSeq[r.Partition] = r.Seq
			k := r.Event.Dynamodb.Keys["pk"].S
			if v, ok := lastV[k]; ok && ctNewValue(r) <= v {
				t.Fatalf("item %s: value %d after %d", k, ctNewValue(r), v)
			}
			lastV[k] = ctNewValue(r)
			if r.Change == nil || r.Origin != rtRegion || r.ShardID == "" {
				t.Fatalf("record %+v", r)
			}
		}
		got += n
		pos = c.Position()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != total {
		t.Fatalf("%d distinct records, want %d", len(seen), total)
	}
	// Resumed at the end, nothing more comes.
	c, err := NewConsumer(rtCtx(t), ctSource(t, e, stream), ConsumerConfig{Resume: pos})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if r, err := c.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("after the end: %+v %v", r, err)
	}
}

// countingSource counts the records its readers hand to the consumer.
type countingSource struct {
	Source
	n atomic.Int64
}

func (s *countingSource) Open(ctx context.Context, sh Shard, from StartFrom, after uint64) (ShardReader, uint64, error) {
	r, start, err := s.Source.Open(ctx, sh, from, after)
	if err != nil {
		return nil, 0, err
	}
	return &countingReader{ShardReader: r, n: &s.n}, start, nil
}

type countingReader struct {
	ShardReader
	n *atomic.Int64
}

func (r *countingReader) Read(ctx context.Context) ([]Record, uint64, error) {
	recs, through, err := r.ShardReader.Read(ctx)
	r.n.Add(int64(len(recs)))
	return recs, through, err
}

// TestConsumerBackpressure: a caller that stops consuming stops the
// reading: the consumer holds at most Buffer records plus one read per
// shard beyond what was handed out.
func TestConsumerBackpressure(t *testing.T) {
	e := rtStart(t, 4)
	stream := ctTable(e, "slow", ViewKeysOnly)
	ctWrite(e, "slow", 50, 0, 600)
	e.publish()
	src := &countingSource{Source: ctSource(t, e, stream)}
	const buffer = 8
	c, err := NewConsumer(rtCtx(t), src, ConsumerConfig{Buffer: buffer})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	consumed := 0
	for round := 0; round < 3; round++ {
		consumed += len(ctNext(t, c, 10))
		// Wait (polling) until the readers filled the buffer again...
		deadline := time.Now().Add(10 * time.Second)
		for src.n.Load() < int64(consumed+buffer) {
			if time.Now().After(deadline) {
				t.Fatalf("readers read %d records, want at least %d", src.n.Load(), consumed+buffer)
			}
			time.Sleep(time.Millisecond) // NB: a poll interval
		}
		// ...and check that they then stay within the bound for a while.
		for i := 0; i < 50; i++ {
			if n, bound := src.n.Load(), int64(consumed+buffer+4 /* one read per shard */); n > bound {
				t.Fatalf("round %d: %d records read with %d consumed, bound %d", round, n, consumed, bound)
			}
			time.Sleep(time.Millisecond) // NB: a poll interval
		}
	}
}

// TestConsumerLatestAndWatermarks: Latest skips what is there, its Position
// covers every partition at once (so a saved position misses nothing), and
// idle partitions' positions keep up with the stream.
func TestConsumerLatestAndWatermarks(t *testing.T) {
	e := rtStart(t, 3)
	stream := ctTable(e, "latest", ViewKeysOnly)
	ctWrite(e, "latest", 10, 0, 30)
	e.publish()
	c, err := NewConsumer(rtCtx(t), ctSource(t, e, stream), ConsumerConfig{From: Latest})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Poll (through Next with a short deadline) until every partition has a position.
	deadline := time.Now().Add(10 * time.Second)
	for len(c.Position()) < 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := c.Next(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Latest delivered an old record (%v)", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("position %v", c.Position())
		}
	}
	for p, seq := range c.Position() {
		if seq != Pos(30, MaxRecordsPerMessage-1) {
			t.Errorf("partition %d starts after %d, want all of message 30", p, seq)
		}
	}
	// One new change in one partition: the others' positions move past it.
	e.put("latest", map[string]ddbtypes.AttributeValue{"pk": rtS("fresh")})
	e.publish()
	r := ctNext(t, c, 1)[0]
	if r.Event.Dynamodb.Keys["pk"].S != "fresh" || r.Seq != Pos(31, 0) {
		t.Fatalf("record %+v", r.Event)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, _ = c.Next(ctx)
		cancel()
		done := true
		for p := 0; p < 3; p++ {
			done = done && c.Position()[p] == Pos(31, MaxRecordsPerMessage-1)
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("idle partitions did not catch up: %v", c.Position())
		}
	}
}

// TestConsumerClosedAndTrimmed: a sealed stream ends with io.EOF after its
// last record; a position older than the retained records is ErrTrimmed.
func TestConsumerClosedAndTrimmed(t *testing.T) {
	e := rtStart(t, 2)
	stream := ctTable(e, "closing", ViewKeysOnly)
	ctWrite(e, "closing", 5, 0, 20)
	e.publish()
	e.seal("closing", e.mustLabel("closing"))
	c, err := NewConsumer(rtCtx(t), ctSource(t, e, stream), ConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if recs := ctNext(t, c, 20); len(recs) != 20 {
		t.Fatal(len(recs))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Next(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last record of a closed stream: %v", err)
	}
	_ = c.Close()

	s, _ := e.js.Stream(rtCtx(t), stream)
	if err := s.Purge(rtCtx(t), jetstream.WithPurgeKeep(5)); err != nil {
		t.Fatal(err)
	}
	if _, err := NewConsumer(rtCtx(t), ctSource(t, e, stream), ConsumerConfig{Resume: Position{0: Pos(1, MaxRecordsPerMessage-1), 1: Pos(2, 0)}}); !errors.Is(err, ErrTrimmed) {
		t.Fatalf("resumed before the trim point: %v", err)
	}
	// Resumed right at the trim point (after all of the last trimmed
	// message), nothing is lost: no error.
	c, err = NewConsumer(rtCtx(t), ctSource(t, e, stream), ConsumerConfig{Resume: Position{0: Pos(15, MaxRecordsPerMessage-1), 1: Pos(15, MaxRecordsPerMessage-1)}})
	if err != nil {
		t.Fatalf("resumed at the trim point: %v", err)
	}
	_ = c.Close()
}

// TestConsumerOverHTTP: the same consumer over the Streams API (what
// godwit tail uses) reads the same records, and positions mean the same
// on both sources.
func TestConsumerOverHTTP(t *testing.T) {
	e := rtStart(t, 3)
	stream := ctTable(e, "http", ViewNewImage)
	ctWrite(e, "http", 7, 0, 60)
	e.publish()
	arn, err := LatestStreamARN(rtCtx(t), e.dds, "http")
	if err != nil || arn != e.arn("http") {
		t.Fatalf("LatestStreamARN %q %v", arn, err)
	}

	reg := prometheus.NewRegistry()
	viaJS, err := NewConsumer(rtCtx(t), ctSource(t, e, stream), ConsumerConfig{Name: "js", Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer viaJS.Close()
	first := ctNext(t, viaJS, 25)
	pos := viaJS.Position()
	if got := ctCounter(t, reg, "godwit_streams_consumer_records_total"); got != 25 {
		t.Errorf("consumer_records_total %v, want 25", got)
	}

	viaHTTP, err := NewConsumer(rtCtx(t), NewHTTPSource(e.dds, arn, HTTPSourceConfig{PollInterval: 10 * time.Millisecond}), ConsumerConfig{Resume: pos, Name: "http"})
	if err != nil {
		t.Fatal(err)
	}
	defer viaHTTP.Close()
	rest := ctNext(t, viaHTTP, 35)
	rest2 := ctNext(t, viaJS, 35)
	seen := map[uint64]bool{}
	for _, r := range first {
		seen[r.Seq] = true
	}
	bySeq := map[uint64]Record{}
	for _, r := range rest2 {
		bySeq[r.Seq] = r
	}
	for _, r := range rest {
		if seen[r.Seq] {
			t.Fatalf("record %d delivered again over HTTP", r.Seq)
		}
		seen[r.Seq] = true
		js, ok := bySeq[r.Seq]
		if !ok || r.Change != nil || r.ShardID != js.ShardID || r.Partition != js.Partition {
			t.Fatalf("HTTP record %d: %+v vs %+v", r.Seq, r, js)
		}
		a, _ := js.Event.MarshalJSON()
		b, _ := r.Event.MarshalJSON()
		if string(a) != string(b) {
			t.Fatalf("record %d differs:\nJetStream %s\nHTTP      %s", r.Seq, a, b)
		}
	}
	if len(seen) != 60 {
		t.Fatalf("%d records, want 60", len(seen))
	}
}

// ctCounter is the value of a counter (the sum over its series) in reg.
func ctCounter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				v += m.GetCounter().GetValue()
			}
		}
	}
	return v
}

// BenchmarkConsumerTail measures a caught-up JetStream consumer: one record
// published, then Next returns it (per op: publish + delivery).
func BenchmarkConsumerTail(b *testing.B) {
	e := rtStart(b, 1)
	e.createTable("bench", ViewNewImage, false)
	info, _ := e.db.Table("bench")
	src, err := NewJetStreamSource(rtCtx(b), e.js, StreamName(info.ID, info.Stream.Label), JetStreamSourceConfig{})
	if err != nil {
		b.Fatal(err)
	}
	c, err := NewConsumer(rtCtx(b), src, ConsumerConfig{From: Latest})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	subj := Subject(rtRegion, info.ID, info.Stream.Label, 0)
	ch := &engine.Change{TableID: info.ID, Table: "bench", StreamLabel: info.Stream.Label, EventName: engine.EventInsert,
		Keys: attr.Item{"pk": attr.Str("k")}, NewImage: attr.Item{"pk": attr.Str("k")}, Origin: rtRegion}
	data := ch.AppendBinary(nil)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.js.Publish(ctx, subj, data); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Next(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSourceSkipOriginAndChangesOnly: a source told to skip an origin
// hands out that origin's records undecoded (position, outbox sequence and
// origin from the headers, no images, no event), and ChangesOnly leaves
// the event unbuilt; both see the same records as a plain source.
func TestSourceSkipOriginAndChangesOnly(t *testing.T) {
	e := rtStart(t, 3)
	stream := ctTable(e, "skips", ViewNewImage)
	ctWrite(e, "skips", 4, 0, 20)
	e.publish()
	read := func(cfg JetStreamSourceConfig) []Record {
		t.Helper()
		cfg.IdleWait = 50 * time.Millisecond
		src, err := NewJetStreamSource(rtCtx(t), e.js, stream, cfg)
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewConsumer(rtCtx(t), src, ConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		recs := ctNext(t, c, 20)
		slices.SortFunc(recs, func(a, b Record) int { return cmp.Compare(a.Seq, b.Seq) })
		return recs
	}
	full := read(JetStreamSourceConfig{})
	var mu sync.Mutex
	var asked []string
	skipped := read(JetStreamSourceConfig{SkipOrigin: func(o string) bool {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, o)
		return true
	}})
	lean := read(JetStreamSourceConfig{ChangesOnly: true})
	for i, f := range full {
		s, l := skipped[i], lean[i]
		if f.Origin == "" || f.Event.EventID == "" || f.Change.NewImage == nil {
			t.Fatalf("plain record %d: %+v", i, f)
		}
		if s.Seq != f.Seq || s.Partition != f.Partition || s.Origin != f.Origin ||
			s.Change.Seq != f.Change.Seq || s.Change.Partition != f.Change.Partition || s.Change.Origin != f.Origin {
			t.Fatalf("skipped record %d: %+v %+v, plain %+v %+v", i, s, s.Change, f, f.Change)
		}
		if s.Change.NewImage != nil || s.Event.EventID != "" {
			t.Fatalf("skipped record %d was decoded: %+v", i, s)
		}
		if l.Event.EventID != "" || ctNewValue(l) != ctNewValue(f) || l.Change.Seq != f.Change.Seq {
			t.Fatalf("ChangesOnly record %d: %+v, plain %+v", i, l, f)
		}
	}
	if len(asked) < 20 || asked[0] != full[0].Origin {
		t.Fatalf("SkipOrigin was asked %v", asked)
	}
}

// TestShardReaderCloseDeletesConsumer: closing a reader removes its
// JetStream consumer at once, so readers opened and closed over and over
// (a replicator re-reading a partition) do not pile up consumers until
// their inactivity threshold.
func TestShardReaderCloseDeletesConsumer(t *testing.T) {
	e := rtStart(t, 2)
	stream := ctTable(e, "readers", ViewKeysOnly)
	ctWrite(e, "readers", 5, 0, 10)
	e.publish()
	src := ctSource(t, e, stream)
	shards, err := src.Shards(rtCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.js.Stream(rtCtx(t), stream)
	if err != nil {
		t.Fatal(err)
	}
	consumers := func() int {
		info, err := s.Info(rtCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Consumers
	}
	for i := range 20 {
		r, _, err := src.Open(rtCtx(t), shards[i%len(shards)], TrimHorizon, 0)
		if err != nil {
			t.Fatal(err)
		}
		if n := consumers(); n != 1 {
			t.Fatalf("open reader %d: %d consumers, want 1", i, n)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if n := consumers(); n != 0 {
			t.Fatalf("after closing reader %d: %d consumers, want 0", i, n)
		}
	}
}
