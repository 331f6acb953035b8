package sinks

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/engine/attr"
	"github.com/godwit-db/godwit/streams"
	"github.com/godwit-db/godwit/streams/embedded"
	"github.com/godwit-db/godwit/streams/streamstest"
	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	testRegion = "us-test-1"
	testTable  = "Orders"
)

// env is one region for a test: embedded NATS, an engine with its stream
// publisher, and a table with a NEW_AND_OLD_IMAGES stream.
type env struct {
	t     *testing.T
	srv   *embedded.Server
	db    *engine.DB
	js    jetstream.JetStream
	clock conflict.PhysicalClock
	reg   *prometheus.Registry
}

func testLogger() hclog.Logger { return streamstest.Logger() }

// newEnv starts a region with a table of the given partition count. A nil
// clock is the system clock.
func newEnv(t *testing.T, partitions int, clock conflict.PhysicalClock) *env {
	t.Helper()
	if clock == nil {
		clock = conflict.SystemClock{}
	}
	r := streamstest.Start(t, streamstest.Config{Region: testRegion, Partitions: partitions, Clock: clock})
	r.CreateStreamedTable(t, testTable)
	return &env{t: t, srv: r.Server, db: r.DB, js: r.JS, clock: clock, reg: prometheus.NewRegistry()}
}

// put writes item pk=k with attribute v (and status when not "").
func (e *env) put(k, v, status string) {
	e.t.Helper()
	item := attr.Item{"pk": attr.Str(k), "v": attr.Str(v)}
	if status != "" {
		item["status"] = attr.Str(status)
	}
	in := &engine.PutItemInput{Item: item}
	in.TableName = testTable
	if _, err := e.db.PutItem(context.Background(), in); err != nil {
		e.t.Fatalf("put %s=%s: %v", k, v, err)
	}
}

// waitPublished waits until the table's newest stream holds n records (a
// message may carry several).
func (e *env) waitPublished(n int) {
	e.t.Helper()
	eventually(e.t, 10*time.Second, fmt.Sprintf("%d records published", n), func() bool {
		ctx := context.Background()
		ts, ok, err := streams.LatestTableStream(ctx, e.js, testRegion, testTable)
		if err != nil || !ok {
			return false
		}
		s, err := e.js.Stream(ctx, ts.Name)
		if err != nil {
			return false
		}
		info, err := s.Info(ctx)
		if err != nil {
			return false
		}
		records := 0
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
			m, err := s.GetMsg(ctx, seq)
			if err != nil {
				return false
			}
			c, err := streams.MessageCount(m.Header)
			if err != nil {
				e.t.Fatalf("message %d: %v", seq, err)
			}
			records += c
		}
		return records >= n
	})
}

// config returns a consumer config with fast test timings.
func (e *env) config(m Mapping, target Target) ConsumerConfig {
	cfg := DefaultConsumerConfig()
	cfg.Mapping = m
	cfg.Target = target
	cfg.JetStream = e.js
	cfg.Region = testRegion
	cfg.Source = streams.JetStreamSourceConfig{IdleWait: 50 * time.Millisecond}
	cfg.DiscoverInterval = 20 * time.Millisecond
	cfg.RetryMin, cfg.RetryMax = 2*time.Millisecond, 20*time.Millisecond
	cfg.WindowGrace = 200 * time.Millisecond
	cfg.Clock = e.clock
	cfg.Logger = testLogger()
	cfg.Registerer = e.reg
	return cfg
}

// start builds and starts a consumer, closed at cleanup.
func (e *env) start(cfg ConsumerConfig) *Consumer {
	e.t.Helper()
	c, err := NewConsumer(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = c.Close() })
	return c
}

func (e *env) checkpoint(name string) *Checkpoint {
	e.t.Helper()
	cp, err := LoadCheckpoint(context.Background(), e.js, "GODWIT_SINKS", name)
	if err != nil {
		e.t.Fatal(err)
	}
	return cp
}

func mapping(name string) Mapping {
	m := DefaultMapping()
	m.Name, m.Table, m.StartingPosition = name, testTable, TrimHorizon
	return m
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond) // NB: a poll interval, not a wait for an event
	}
}

// rec is a delivered record, decoded.
type rec struct {
	seq, name, pk, v, status string
	arn                      string
}

func decodeRecord(t testing.TB, r Record) rec {
	var ev struct {
		EventName      string `json:"eventName"`
		EventSourceARN string `json:"eventSourceARN"`
		Dynamodb       struct {
			SequenceNumber string `json:"SequenceNumber"`
			NewImage       map[string]map[string]string
		} `json:"dynamodb"`
	}
	if err := json.Unmarshal(r.Event, &ev); err != nil {
		t.Fatalf("record event %s: %v", r.Event, err)
	}
	if ev.Dynamodb.SequenceNumber != r.SequenceNumber {
		t.Errorf("record SequenceNumber %s, event says %s", r.SequenceNumber, ev.Dynamodb.SequenceNumber)
	}
	return rec{
		seq: r.SequenceNumber, name: ev.EventName, arn: ev.EventSourceARN,
		pk: ev.Dynamodb.NewImage["pk"]["S"], v: ev.Dynamodb.NewImage["v"]["S"], status: ev.Dynamodb.NewImage["status"]["S"],
	}
}

// call is one Deliver the scripted target saw.
type call struct {
	recs   []rec
	window *Window
	shard  string
}

// scripted is a Target that records every call and answers by script
// (nil script: success; with windows, echo a state counting records).
type scripted struct {
	t      testing.TB
	mu     sync.Mutex
	calls  []call
	script func(n int, b *Batch) (Result, error) // n counts calls from 0
	closed bool
}

var _ Target = (*scripted)(nil)

func (s *scripted) Deliver(ctx context.Context, b *Batch) (Result, error) {
	c := call{shard: b.ShardID}
	for _, r := range b.Records {
		c.recs = append(c.recs, decodeRecord(s.t, r))
	}
	if b.Window != nil {
		w := *b.Window
		c.window = &w
	}
	s.mu.Lock()
	n := len(s.calls)
	s.calls = append(s.calls, c)
	script := s.script
	s.mu.Unlock()
	if script == nil {
		return Result{}, nil
	}
	return script(n, b)
}

func (s *scripted) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

func (s *scripted) snapshot() []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]call(nil), s.calls...)
}

// delivered returns the records of every call, in call order.
func (s *scripted) delivered() []rec {
	var out []rec
	for _, c := range s.snapshot() {
		out = append(out, c.recs...)
	}
	return out
}

func (s *scripted) waitCalls(n int) []call {
	s.t.(*testing.T).Helper()
	eventually(s.t.(*testing.T), 10*time.Second, fmt.Sprintf("%d calls", n), func() bool { return len(s.snapshot()) >= n })
	return s.snapshot()
}

// waitValues waits until the delivered records include every value in want.
func (s *scripted) waitValues(want ...string) {
	s.t.(*testing.T).Helper()
	eventually(s.t.(*testing.T), 10*time.Second, fmt.Sprintf("values %v delivered", want), func() bool {
		got := map[string]bool{}
		for _, r := range s.delivered() {
			got[r.v] = true
		}
		for _, w := range want {
			if !got[w] {
				return false
			}
		}
		return true
	})
}

func seqNum(t testing.TB, s string) uint64 {
	n, ok := streams.ParseSequenceNumber(s)
	if !ok {
		t.Fatalf("bad sequence number %q", s)
	}
	return n
}

// sameMessage: sequence numbers a and b name records of one message (a
// shard status names the position after its message's last record).
func sameMessage(t testing.TB, a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	ja, _ := streams.SplitPos(seqNum(t, a))
	jb, _ := streams.SplitPos(seqNum(t, b))
	return ja == jb
}

func values(recs []rec) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.v
	}
	return out
}

func vals(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

// setStream enables or disables the table's stream (a new enable makes a
// new stream with a new label).
func setStream(t *testing.T, e *env, on bool) {
	t.Helper()
	spec := &engine.StreamSpecification{StreamEnabled: &on}
	if on {
		spec.StreamViewType = "NEW_AND_OLD_IMAGES"
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := e.db.UpdateTable(context.Background(), &engine.UpdateTableInput{TableName: testTable, StreamSpecification: spec})
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("set stream %v: %v", on, err)
		}
		time.Sleep(10 * time.Millisecond) // NB: a poll interval: the table may still be UPDATING
	}
}
