package sinkstest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/godwit-db/godwit/sinks"
)

// Caps says what a target's receiver can express; Run skips the checks a
// target cannot support.
type Caps struct {
	// Events: the receiver gets the whole Lambda event of each Deliver
	// (Batch.Event()), and Instance.Events returns them.
	Events bool
	// FunctionErrors: a receiver can fail a batch (ActionFail), which
	// Deliver reports as a function error (not ErrTransient).
	FunctionErrors bool
	// ItemFailures: a receiver can report batchItemFailures
	// (ActionFailItem, ActionBadItem), which Deliver returns in Result.
	ItemFailures bool
	// Throttle: a receiver can throttle (ActionThrottle), which Deliver
	// reports as ErrTransient.
	Throttle bool
}

// Instance is one target under test with its receiver.
type Instance struct {
	// Target is the target under test. Run closes it at the end.
	Target sinks.Target
	// Records returns every record the receiver has accepted so far, in
	// the order it accepted them, each as its record JSON (the element of
	// the event's Records array). Run polls it.
	Records func(t *testing.T) []json.RawMessage
	// Events returns every event the receiver has accepted (Caps.Events).
	Events func(t *testing.T) [][]byte
	// Down takes the receiver away (server stopped, process unable to
	// start, file gone); Up brings it back.
	Down, Up func(t *testing.T)
}

// Harness builds instances of one target.
type Harness struct {
	Caps Caps
	// New starts a fresh receiver and a target delivering to it, for gen's
	// table. Resources are released through t.Cleanup.
	New func(t *testing.T, gen *Gen) *Instance
	// Timeout bounds every wait in the suite. Default 20s.
	Timeout time.Duration
}

// Run runs the conformance suite against h.
func Run(t *testing.T, h Harness) {
	if h.Timeout == 0 {
		h.Timeout = 20 * time.Second
	}
	t.Run("Delivery", func(t *testing.T) { testDelivery(t, h) })
	t.Run("ConcurrentDelivery", func(t *testing.T) { testConcurrent(t, h) })
	t.Run("FunctionError", func(t *testing.T) {
		if !h.Caps.FunctionErrors {
			t.Skip("target cannot report function errors")
		}
		testFunctionError(t, h)
	})
	t.Run("ItemFailures", func(t *testing.T) {
		if !h.Caps.ItemFailures {
			t.Skip("target cannot report batch item failures")
		}
		testItemFailures(t, h)
	})
	t.Run("Throttle", func(t *testing.T) {
		if !h.Caps.Throttle {
			t.Skip("receiver cannot throttle")
		}
		testThrottle(t, h)
	})
	t.Run("Reconnect", func(t *testing.T) { testReconnect(t, h) })
}

func start(t *testing.T, h Harness) (*Instance, *Gen) {
	t.Helper()
	gen := NewGen("Orders")
	in := h.New(t, gen)
	t.Cleanup(func() {
		if err := in.Target.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return in, gen
}

// DeliverRetrying delivers b, retrying ErrTransient until timeout as the
// runtime would, and fails the test on any other error.
func DeliverRetrying(t *testing.T, tg sinks.Target, b *sinks.Batch, timeout time.Duration) sinks.Result {
	t.Helper()
	res, err := deliverRetrying(tg, b, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func deliverRetrying(tg sinks.Target, b *sinks.Batch, timeout time.Duration) (sinks.Result, error) {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		res, err := tg.Deliver(ctx, b)
		cancel()
		if err == nil {
			return res, nil
		}
		if !errors.Is(err, sinks.ErrTransient) {
			return res, fmt.Errorf("Deliver: %w (want success)", err)
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("Deliver: still transient after %s: %w", timeout, err)
		}
		time.Sleep(20 * time.Millisecond) // NB: the runtime's backoff, not a wait for an event.
	}
}

// WaitRecords polls until the receiver holds n records and returns them;
// it fails the test if it holds more, or fewer by the timeout.
func WaitRecords(t *testing.T, in *Instance, n int, timeout time.Duration) []json.RawMessage {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := in.Records(t)
		if len(got) > n {
			t.Fatalf("receiver holds %d records, want %d", len(got), n)
		}
		if len(got) == n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver holds %d records after %s, want %d", len(got), timeout, n)
		}
		time.Sleep(5 * time.Millisecond) // NB: polling with a deadline.
	}
}

// canonical is js decoded and encoded again: equal JSON texts (whatever
// their escaping and spacing) have equal canonical forms.
func canonical(t *testing.T, js []byte) string {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(js))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("receiver got invalid JSON %q: %v", js, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// checkRecords fails unless got is want's records' events, in order.
func checkRecords(t *testing.T, got []json.RawMessage, want []*sinks.Batch) {
	t.Helper()
	var exp []json.RawMessage
	for _, b := range want {
		for _, r := range b.Records {
			exp = append(exp, r.Event)
		}
	}
	if len(got) != len(exp) {
		t.Fatalf("receiver got %d records, want %d", len(got), len(exp))
	}
	for i := range exp {
		if g, w := canonical(t, got[i]), canonical(t, exp[i]); g != w {
			t.Fatalf("record %d:\n got %s\nwant %s", i, g, w)
		}
	}
}

func testDelivery(t *testing.T, h Harness) {
	in, gen := start(t, h)
	batches := []*sinks.Batch{
		gen.Batch(ActionOK),
		gen.Batch(ActionOK, ActionOK, ActionOK, ActionOK, ActionOK, ActionOK, ActionOK),
		gen.Batch(ActionOK, ActionOK, ActionOK),
	}
	win := gen.Batch(ActionOK, ActionOK)
	win.Window = &sinks.Window{
		Start: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), End: time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC),
		State: json.RawMessage(`{"count":3}`), IsFinalInvokeForWindow: true,
	}
	batches = append(batches, win)
	for i, b := range batches {
		res := DeliverRetrying(t, in.Target, b, h.Timeout)
		if len(res.BatchItemFailures) != 0 {
			t.Fatalf("batch %d: BatchItemFailures %q, want none", i, res.BatchItemFailures)
		}
	}
	checkRecords(t, WaitRecords(t, in, 13, h.Timeout), batches)
	if !h.Caps.Events {
		return
	}
	evs := in.Events(t)
	if len(evs) != len(batches) {
		t.Fatalf("receiver got %d events, want %d", len(evs), len(batches))
	}
	for i, b := range batches {
		want, err := b.Event()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(evs[i], want) {
			t.Fatalf("event %d:\n got %s\nwant %s", i, evs[i], want)
		}
	}
}

func testConcurrent(t *testing.T, h Harness) {
	in, gen := start(t, h)
	const workers, perWorker = 4, 3
	// Each worker owns one item key, as the runtime's parallel slots do:
	// the receiver must see each key's records in order.
	batches := make([][]*sinks.Batch, workers)
	for w := range workers {
		for range perWorker {
			batches[w] = append(batches[w], gen.KeyedBatch(fmt.Sprintf("key-%d", w), 2))
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for _, b := range batches[w] {
				if _, err := deliverRetrying(in.Target, b, h.Timeout); err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	got := WaitRecords(t, in, workers*perWorker*2, h.Timeout)
	// Group what arrived by key and compare with each worker's sequence.
	byKey := map[string][]string{}
	for _, r := range got {
		var rec struct {
			Dynamodb struct {
				Keys struct {
					PK struct{ S string } `json:"pk"`
				}
				SequenceNumber string
			} `json:"dynamodb"`
		}
		if err := json.Unmarshal(r, &rec); err != nil {
			t.Fatal(err)
		}
		byKey[rec.Dynamodb.Keys.PK.S] = append(byKey[rec.Dynamodb.Keys.PK.S], rec.Dynamodb.SequenceNumber)
	}
	for w := range workers {
		var want []string
		for _, b := range batches[w] {
			for _, r := range b.Records {
				want = append(want, r.SequenceNumber)
			}
		}
		if g := byKey[fmt.Sprintf("key-%d", w)]; !slices.Equal(g, want) {
			t.Errorf("key-%d: got sequence %q, want %q", w, g, want)
		}
	}
}

func deliverOnce(t *testing.T, h Harness, tg sinks.Target, b *sinks.Batch) (sinks.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), h.Timeout)
	defer cancel()
	return tg.Deliver(ctx, b)
}

func testFunctionError(t *testing.T, h Harness) {
	in, gen := start(t, h)
	DeliverRetrying(t, in.Target, gen.Batch(ActionOK), h.Timeout) // the receiver is up
	_, err := deliverOnce(t, h, in.Target, gen.Batch(ActionOK, ActionFail, ActionOK))
	if err == nil {
		t.Fatal("Deliver of a failing batch: nil error, want a function error")
	}
	if errors.Is(err, sinks.ErrTransient) {
		t.Fatalf("Deliver of a failing batch: %v; want a function error, not ErrTransient", err)
	}
	ok := gen.Batch(ActionOK, ActionOK)
	DeliverRetrying(t, in.Target, ok, h.Timeout)
	got := WaitRecords(t, in, 3, h.Timeout)
	checkRecords(t, got[1:], []*sinks.Batch{ok})
}

func testItemFailures(t *testing.T, h Harness) {
	in, gen := start(t, h)
	b := gen.Batch(ActionOK, ActionFailItem, ActionOK, ActionFailItem)
	res := DeliverRetrying(t, in.Target, b, h.Timeout)
	want := []string{b.Records[1].SequenceNumber, b.Records[3].SequenceNumber}
	if !slices.Equal(res.BatchItemFailures, want) {
		t.Fatalf("BatchItemFailures %q, want %q", res.BatchItemFailures, want)
	}
	res = DeliverRetrying(t, in.Target, gen.Batch(ActionOK, ActionBadItem), h.Timeout)
	if !slices.Equal(res.BatchItemFailures, []string{""}) {
		t.Fatalf("BatchItemFailures %q, want [\"\"] (full failure)", res.BatchItemFailures)
	}
	res = DeliverRetrying(t, in.Target, gen.Batch(ActionOK), h.Timeout)
	if len(res.BatchItemFailures) != 0 {
		t.Fatalf("BatchItemFailures %q for a clean batch, want none", res.BatchItemFailures)
	}
}

func testThrottle(t *testing.T, h Harness) {
	in, gen := start(t, h)
	DeliverRetrying(t, in.Target, gen.Batch(ActionOK), h.Timeout)
	_, err := deliverOnce(t, h, in.Target, gen.Batch(ActionThrottle))
	if !errors.Is(err, sinks.ErrTransient) {
		t.Fatalf("Deliver of a throttled batch: %v, want ErrTransient", err)
	}
}

func testReconnect(t *testing.T, h Harness) {
	in, gen := start(t, h)
	first := gen.Batch(ActionOK, ActionOK)
	DeliverRetrying(t, in.Target, first, h.Timeout)
	WaitRecords(t, in, 2, h.Timeout)

	in.Down(t)
	lost := gen.Batch(ActionOK)
	for range 2 { // twice: a target must keep failing, not give up or panic
		_, err := deliverOnce(t, h, in.Target, lost)
		if !errors.Is(err, sinks.ErrTransient) {
			t.Fatalf("Deliver while the receiver is down: %v, want ErrTransient", err)
		}
	}
	in.Up(t)
	DeliverRetrying(t, in.Target, lost, h.Timeout)
	after := gen.Batch(ActionOK, ActionOK, ActionOK)
	DeliverRetrying(t, in.Target, after, h.Timeout)
	checkRecords(t, WaitRecords(t, in, 6, h.Timeout), []*sinks.Batch{first, lost, after})
}
