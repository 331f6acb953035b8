package sinks

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/godwit-db/godwit/conflict"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var errFunction = errors.New("handler failed")

func hasValue(b *Batch, t testing.TB, v string) bool {
	for _, r := range b.Records {
		if decodeRecord(t, r).v == v {
			return true
		}
	}
	return false
}

// readFailures reads the failure records of a file: destination.
func readFailures(t *testing.T, path string) []FailureRecord {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []FailureRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var r FailureRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("failure record %s: %v", sc.Bytes(), err)
		}
		out = append(out, r)
	}
	return out
}

// payloadValues are the values of a failure record's payload records.
func payloadValues(t *testing.T, r FailureRecord) []string {
	var ev struct{ Records []json.RawMessage }
	if err := json.Unmarshal(r.Payload, &ev); err != nil {
		t.Fatalf("payload %s: %v", r.Payload, err)
	}
	var out []string
	for _, e := range ev.Records {
		out = append(out, decodeRecord(t, Record{Event: e, SequenceNumber: seqOf(t, e)}).v)
	}
	return out
}

func seqOf(t *testing.T, e json.RawMessage) string {
	var ev struct {
		Dynamodb struct{ SequenceNumber string }
	}
	if err := json.Unmarshal(e, &ev); err != nil {
		t.Fatal(err)
	}
	return ev.Dynamodb.SequenceNumber
}

// A function error bisects the batch until the bad record is alone; only
// it is discarded (to the on-failure destination), the rest delivered.
func TestBisectOnFunctionError(t *testing.T) {
	e := newEnv(t, 1, nil)
	for _, v := range vals("v", 8) {
		e.put("k", v, "")
	}
	e.waitPublished(8)
	dlq := filepath.Join(t.TempDir(), "dlq", "failures.jsonl")
	m := mapping("bisect")
	m.BatchSize = 8
	m.MaximumBatchingWindowInSeconds = 1
	m.BisectBatchOnFunctionError = true
	m.MaximumRetryAttempts = 0
	m.OnFailureDestination = "file:" + dlq
	tg := &scripted{t: t, script: func(_ int, b *Batch) (Result, error) {
		if hasValue(b, t, "v5") {
			return Result{}, errFunction
		}
		return Result{}, nil
	}}
	c := e.start(e.config(m, tg))
	eventually(t, 10*time.Second, "v7 delivered", func() bool { return slices.Contains(values(tg.delivered()), "v7") && len(tg.snapshot()) >= 7 })
	var got [][]string
	for _, call := range tg.snapshot() {
		got = append(got, values(call.recs))
	}
	want := [][]string{
		vals("v", 8),
		{"v0", "v1", "v2", "v3"},
		{"v4", "v5", "v6", "v7"},
		{"v4", "v5"},
		{"v4"},
		{"v5"},
		{"v6", "v7"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("calls\n got %v\nwant %v", got, want)
	}
	eventually(t, 5*time.Second, "failure record", func() bool { return len(readFailures(t, dlq)) == 1 })
	fr := readFailures(t, dlq)[0]
	if fr.RequestContext.Condition != ConditionRetryAttemptsExhausted || fr.DDBStreamBatchInfo.BatchSize != 1 ||
		fr.RequestContext.ApproximateInvokeCount != 4 || fr.ResponseContext.FunctionError != "Unhandled" ||
		fr.RequestContext.FunctionARN != "arn:aws:lambda:us-test-1:000000000000:function:bisect" || fr.Version != "1.0" {
		t.Fatalf("failure record %+v", fr)
	}
	if pv := payloadValues(t, fr); !slices.Equal(pv, []string{"v5"}) {
		t.Fatalf("failure payload %v", pv)
	}
	if fr.DDBStreamBatchInfo.StartSequenceNumber != tg.snapshot()[5].recs[0].seq || fr.DDBStreamBatchInfo.StreamARN == "" {
		t.Fatalf("batch info %+v", fr.DDBStreamBatchInfo)
	}
	if n := testutil.ToFloat64(c.m.bisects); n != 3 {
		t.Errorf("bisects_total %v, want 3", n)
	}
	if n := testutil.ToFloat64(c.m.deadLettered); n != 1 {
		t.Errorf("dead_lettered_records_total %v, want 1", n)
	}
}

// After MaximumRetryAttempts retries the batch goes to the on-failure
// destination (a file, or a NATS subject) and the shard moves on.
func TestRetryExhaustionOnFailure(t *testing.T) {
	for _, kind := range []string{"file", "nats-jetstream", "nats-core"} {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, 1, nil)
			m := mapping("retry-" + kind)
			m.BatchSize = 1
			m.MaximumRetryAttempts = 2
			var read func() []FailureRecord
			switch kind {
			case "file":
				path := filepath.Join(t.TempDir(), "f.jsonl")
				m.OnFailureDestination = "file:" + path
				read = func() []FailureRecord { return readFailures(t, path) }
			case "nats-jetstream":
				m.OnFailureDestination = "nats:orders.dlq"
				s, err := e.js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "DLQ", Subjects: []string{"orders.dlq"}})
				if err != nil {
					t.Fatal(err)
				}
				read = func() []FailureRecord {
					var out []FailureRecord
					for seq := uint64(1); ; seq++ {
						msg, err := s.GetMsg(context.Background(), seq)
						if err != nil {
							return out
						}
						var r FailureRecord
						if err := json.Unmarshal(msg.Data, &r); err != nil {
							t.Fatal(err)
						}
						out = append(out, r)
					}
				}
			case "nats-core":
				m.OnFailureDestination = "nats:orders.dlq"
				ch := make(chan []byte, 10)
				sub, err := e.js.Conn().Subscribe("orders.dlq", func(msg *nats.Msg) { ch <- msg.Data })
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = sub.Unsubscribe() })
				var got []FailureRecord
				read = func() []FailureRecord {
					for {
						select {
						case b := <-ch:
							var r FailureRecord
							if err := json.Unmarshal(b, &r); err != nil {
								t.Fatal(err)
							}
							got = append(got, r)
						default:
							return got
						}
					}
				}
			}
			tg := &scripted{t: t, script: func(_ int, b *Batch) (Result, error) {
				if hasValue(b, t, "bad") {
					return Result{}, errFunction
				}
				return Result{}, nil
			}}
			c := e.start(e.config(m, tg))
			e.put("a", "ok1", "")
			e.put("b", "bad", "")
			e.put("c", "ok2", "")
			tg.waitValues("ok1", "ok2")
			if got := values(tg.delivered()); !slices.Equal(got, []string{"ok1", "bad", "bad", "bad", "ok2"}) {
				t.Fatalf("delivered %v, want ok1, bad ×3 (1 + 2 retries), ok2", got)
			}
			eventually(t, 5*time.Second, "failure record", func() bool { return len(read()) > 0 })
			frs := read()
			if len(frs) != 1 {
				t.Fatalf("%d failure records", len(frs))
			}
			fr := frs[0]
			if fr.RequestContext.Condition != ConditionRetryAttemptsExhausted || fr.RequestContext.ApproximateInvokeCount != 3 ||
				!slices.Equal(payloadValues(t, fr), []string{"bad"}) || fr.ResponseContext.ErrorMessage != errFunction.Error() {
				t.Fatalf("failure record %+v", fr)
			}
			if n := testutil.ToFloat64(c.m.invocations.WithLabelValues(outcomeFunctionError)); n != 3 {
				t.Errorf("function_error invocations %v, want 3", n)
			}
		})
	}
}

// Records older than MaximumRecordAgeInSeconds are discarded with
// condition RecordAgeExceeded, even while retries are unlimited.
func TestMaximumRecordAge(t *testing.T) {
	clock := conflict.NewManualClock(time.Now())
	e := newEnv(t, 1, clock)
	path := filepath.Join(t.TempDir(), "f.jsonl")
	m := mapping("age")
	m.BatchSize = 1
	m.MaximumRecordAgeInSeconds = 60
	m.OnFailureDestination = "file:" + path
	tg := &scripted{t: t, script: func(_ int, b *Batch) (Result, error) {
		if hasValue(b, t, "old") {
			return Result{}, errFunction
		}
		return Result{}, nil
	}}
	e.start(e.config(m, tg))
	e.put("a", "old", "")
	tg.waitCalls(3)
	if got := values(tg.delivered()); slices.ContainsFunc(got, func(v string) bool { return v != "old" }) {
		t.Fatalf("delivered %v", got)
	}
	clock.Advance(61 * time.Second)
	e.put("b", "new", "")
	tg.waitValues("new")
	frs := readFailures(t, path)
	if len(frs) != 1 || frs[0].RequestContext.Condition != ConditionRecordAgeExceeded || !slices.Equal(payloadValues(t, frs[0]), []string{"old"}) {
		t.Fatalf("failure records %+v", frs)
	}
	if frs[0].RequestContext.ApproximateInvokeCount < 3 {
		t.Errorf("approximateInvokeCount %d, want ≥ 3", frs[0].RequestContext.ApproximateInvokeCount)
	}
}

// ReportBatchItemFailures: the checkpoint moves to just before the lowest
// failed sequence number and the batch is retried from there; "" fails
// the whole batch; without the setting the list is ignored.
func TestPartialBatchFailure(t *testing.T) {
	for _, tc := range []struct {
		name      string
		report    bool
		ids       func(b *Batch) []string
		wantCalls [][]string
	}{
		{"lowest", true, func(b *Batch) []string { return []string{b.Records[3].SequenceNumber, b.Records[2].SequenceNumber} },
			[][]string{vals("v", 5), {"v2", "v3", "v4"}}},
		{"empty-id", true, func(b *Batch) []string { return []string{b.Records[3].SequenceNumber, ""} },
			[][]string{vals("v", 5), vals("v", 5)}},
		{"unknown-id", true, func(b *Batch) []string { return []string{"12345"} },
			[][]string{vals("v", 5), vals("v", 5)}},
		{"not-enabled", false, func(b *Batch) []string { return []string{b.Records[2].SequenceNumber} },
			[][]string{vals("v", 5)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 1, nil)
			for _, v := range vals("v", 5) {
				e.put("k", v, "")
			}
			e.waitPublished(5)
			m := mapping("partial")
			m.BatchSize = 5
			m.MaximumBatchingWindowInSeconds = 1
			if tc.report {
				m.FunctionResponseTypes = []string{ReportBatchItemFailures}
			}
			var cpAtRetry uint64
			tg := &scripted{t: t}
			tg.script = func(n int, b *Batch) (Result, error) {
				switch n {
				case 0:
					return Result{BatchItemFailures: tc.ids(b)}, nil
				case 1:
					cpAtRetry = e.checkpoint("partial").shard(0).Seq
				}
				return Result{}, nil
			}
			c := e.start(e.config(m, tg))
			tg.waitCalls(len(tc.wantCalls))
			all := tg.snapshot()[0].recs
			eventually(t, 5*time.Second, "checkpoint at the end", func() bool {
				return e.checkpoint("partial").shard(0).Seq >= seqNum(t, all[4].seq)
			})
			var got [][]string
			for _, call := range tg.snapshot() {
				got = append(got, values(call.recs))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.wantCalls) {
				t.Fatalf("calls %v, want %v", got, tc.wantCalls)
			}
			switch tc.name {
			case "lowest":
				if want := seqNum(t, all[1].seq); cpAtRetry != want {
					t.Fatalf("checkpoint at the retry %d, want %d (just before the lowest failure)", cpAtRetry, want)
				}
				if n := testutil.ToFloat64(c.m.invocations.WithLabelValues(outcomePartial)); n != 1 {
					t.Errorf("partial invocations %v", n)
				}
			case "empty-id", "unknown-id":
				if cpAtRetry >= seqNum(t, all[0].seq) {
					t.Fatalf("checkpoint at the retry %d passed the first record %s", cpAtRetry, all[0].seq)
				}
			}
		})
	}
}

// Transient errors retry with backoff without using up attempts; a
// function error does use them (MaximumRetryAttempts 0: discarded at once).
func TestTransientErrorsDoNotUseAttempts(t *testing.T) {
	e := newEnv(t, 1, nil)
	path := filepath.Join(t.TempDir(), "f.jsonl")
	m := mapping("transient")
	m.BatchSize = 1
	m.MaximumRetryAttempts = 0
	m.OnFailureDestination = "file:" + path
	tg := &scripted{t: t}
	tg.script = func(n int, b *Batch) (Result, error) {
		switch {
		case hasValue(b, t, "flaky") && n < 5:
			return Result{}, fmt.Errorf("connection refused: %w", ErrTransient)
		case hasValue(b, t, "broken"):
			return Result{}, errFunction
		}
		return Result{}, nil
	}
	c := e.start(e.config(m, tg))
	e.put("a", "flaky", "")
	e.put("b", "broken", "")
	e.put("c", "after", "")
	tg.waitValues("after")
	if got := values(tg.delivered()); !slices.Equal(got, []string{"flaky", "flaky", "flaky", "flaky", "flaky", "flaky", "broken", "after"}) {
		t.Fatalf("delivered %v", got)
	}
	frs := readFailures(t, path)
	if len(frs) != 1 || !slices.Equal(payloadValues(t, frs[0]), []string{"broken"}) {
		t.Fatalf("failure records %+v", frs)
	}
	if n := testutil.ToFloat64(c.m.invocations.WithLabelValues(outcomeTransient)); n != 5 {
		t.Errorf("transient invocations %v, want 5", n)
	}
}
