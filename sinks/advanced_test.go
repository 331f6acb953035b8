package sinks

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/godwit-db/godwit/conflict"
)

// windowScript answers a tumbling-window invocation with state
// {"n": previous n + records}; its first invocation holding v1 answers
// without state (a failure).
func windowScript(t *testing.T, failedOnce *bool) func(int, *Batch) (Result, error) {
	return func(_ int, b *Batch) (Result, error) {
		if b.Window == nil {
			t.Errorf("no window in a tumbling-window batch")
			return Result{}, errFunction
		}
		if hasValue(b, t, "v1") && !*failedOnce {
			*failedOnce = true
			return Result{}, nil
		}
		var st struct{ N int }
		if err := json.Unmarshal(b.Window.State, &st); err != nil {
			t.Errorf("state %s: %v", b.Window.State, err)
		}
		return Result{State: json.RawMessage(fmt.Sprintf(`{"n":%d}`, st.N+len(b.Records)))}, nil
	}
}

type windowCall struct {
	vals         []string
	start        int64
	state        string
	final, early bool
}

func windowCalls(tg *scripted) []windowCall {
	var out []windowCall
	for _, c := range tg.snapshot() {
		wc := windowCall{vals: values(c.recs)}
		if c.window != nil {
			wc.start, wc.state = c.window.Start.Unix(), string(c.window.State)
			wc.final, wc.early = c.window.IsFinalInvokeForWindow, c.window.IsWindowTerminatedEarly
		}
		out = append(out, wc)
	}
	return out
}

// Tumbling windows: state flows from one invocation of a window to the
// next (a response without state is a failure, retried), survives a
// restart through the checkpoint, and a window ends with a final
// invocation when a later window's record arrives, or early when the
// shard ends.
func TestTumblingWindow(t *testing.T) {
	t0 := time.Now().Truncate(time.Minute)
	clock := conflict.NewManualClock(t0.Add(time.Second))
	e := newEnv(t, 1, clock)
	m := mapping("tumble")
	m.BatchSize = 1
	m.TumblingWindowInSeconds = 60
	failed := false
	tg := &scripted{t: t, script: windowScript(t, &failed)}
	c := e.start(e.config(m, tg))
	e.put("k", "v0", "")
	e.put("k", "v1", "")
	tg.waitCalls(3)
	eventually(t, 5*time.Second, "window state checkpointed", func() bool {
		w := e.checkpoint("tumble").shard(0).Window
		return w != nil && string(w.State) == `{"n":2}` && w.Start == t0.Unix()
	})
	_ = c.Close()
	want := []windowCall{
		{vals: []string{"v0"}, start: t0.Unix(), state: `{}`},
		{vals: []string{"v1"}, start: t0.Unix(), state: `{"n":1}`},
		{vals: []string{"v1"}, start: t0.Unix(), state: `{"n":1}`},
	}
	if got := windowCalls(tg); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("first run calls\n got %+v\nwant %+v", got, want)
	}

	tg2 := &scripted{t: t, script: windowScript(t, &failed)}
	e.start(e.config(m, tg2))
	clock.Set(t0.Add(61 * time.Second))
	e.put("k", "v2", "")
	tg2.waitValues("v2")
	setStream(t, e, false)
	tg2.waitCalls(3)
	want = []windowCall{
		{vals: nil, start: t0.Unix(), state: `{"n":2}`, final: true},
		{vals: []string{"v2"}, start: t0.Unix() + 60, state: `{}`},
		{vals: nil, start: t0.Unix() + 60, state: `{"n":1}`, final: true, early: true},
	}
	if got := windowCalls(tg2); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("second run calls\n got %+v\nwant %+v", got, want)
	}
}

// ParallelizationFactor > 1: batches of one shard are delivered
// concurrently, yet each item key's records arrive in order, and the
// checkpoint never passes a record still in flight. Randomized.
func TestParallelizationKeepsKeyOrder(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	e := newEnv(t, 2, nil)
	m := mapping("parallel")
	m.ParallelizationFactor = 4
	m.BatchSize = 1 + rng.Intn(4)

	var mu sync.Mutex
	inflight, maxInflight := 0, 0
	okBy := map[string][]int{} // per key, values delivered successfully
	failRNG := rand.New(rand.NewSource(seed + 1))
	tg := &scripted{t: t}
	tg.script = func(_ int, b *Batch) (Result, error) {
		mu.Lock()
		inflight++
		maxInflight = max(maxInflight, inflight)
		fail := failRNG.Intn(5) == 0
		mu.Unlock()
		defer func() {
			mu.Lock()
			inflight--
			mu.Unlock()
		}()
		cp := e.checkpoint("parallel")
		part, _ := strconv.Atoi(b.ShardID[len(b.ShardID)-1:])
		for _, r := range b.Records {
			if cp != nil && cp.shard(part).Seq >= seqNum(t, r.SequenceNumber) {
				t.Errorf("checkpoint %d passed record %s in flight", cp.shard(part).Seq, r.SequenceNumber)
			}
		}
		// NB: give another slot the chance to overlap this call.
		deadline := time.Now().Add(50 * time.Millisecond)
		for time.Now().Before(deadline) {
			mu.Lock()
			n := inflight
			mu.Unlock()
			if n > 1 {
				break
			}
			time.Sleep(time.Millisecond) // NB: a poll interval
		}
		if fail {
			return Result{}, errFunction
		}
		mu.Lock()
		for _, r := range b.Records {
			d := decodeRecord(t, r)
			n, _ := strconv.Atoi(d.v)
			okBy[d.pk] = append(okBy[d.pk], n)
		}
		mu.Unlock()
		return Result{}, nil
	}
	e.start(e.config(m, tg))
	written := map[string][]int{}
	const writes = 120
	for i := range writes {
		k := "k" + strconv.Itoa(rng.Intn(10))
		e.put(k, strconv.Itoa(i), "")
		written[k] = append(written[k], i)
	}
	eventually(t, 20*time.Second, "every record delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, v := range okBy {
			n += len(v)
		}
		return n >= writes
	})
	mu.Lock()
	defer mu.Unlock()
	for k, want := range written {
		if !slices.Equal(okBy[k], want) {
			t.Errorf("key %s: delivered %v, want %v", k, okBy[k], want)
		}
	}
	if maxInflight < 2 {
		t.Errorf("at most %d batch in flight at once; want concurrent slots", maxInflight)
	}
}

// Closing the runtime while a batch is in flight, then starting again
// from the checkpoint: the batch is delivered again, nothing is skipped,
// and each key's records come in order.
func TestRestartMidBatchNoGap(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	e := newEnv(t, 2, nil)
	written := map[string][]int{}
	const writes = 60
	for i := range writes {
		k := "k" + strconv.Itoa(rng.Intn(6))
		e.put(k, strconv.Itoa(i), "")
		written[k] = append(written[k], i)
	}
	e.waitPublished(writes)
	m := mapping("restart")
	m.ParallelizationFactor = 2
	m.BatchSize = 4
	inFlight := make(chan []string, 1)
	tg1 := &scripted{t: t}
	blockCtx := make(chan struct{})
	tg1.script = func(n int, b *Batch) (Result, error) {
		if n < 3 {
			return Result{}, nil
		}
		var vs []string
		for _, r := range b.Records {
			vs = append(vs, decodeRecord(t, r).v)
		}
		select {
		case inFlight <- vs:
		default:
		}
		<-blockCtx
		return Result{}, context.Canceled
	}
	c1 := e.start(e.config(m, tg1))
	blocked := <-inFlight
	go func() {
		// NB: Close cancels the in-flight Deliver's ctx; this target
		// ignores its ctx, so release it once the close began.
		close(blockCtx)
	}()
	_ = c1.Close()
	ok1 := map[string][]int{}
	for i, call := range tg1.snapshot() {
		if i >= 3 {
			continue
		}
		for _, r := range call.recs {
			n, _ := strconv.Atoi(r.v)
			ok1[r.pk] = append(ok1[r.pk], n)
		}
	}

	tg2 := &scripted{t: t}
	e.start(e.config(m, tg2))
	eventually(t, 10*time.Second, "every record delivered after the restart", func() bool {
		got := map[string]int{}
		for _, r := range tg2.delivered() {
			got[r.pk]++
		}
		for k, w := range written {
			if got[k]+len(ok1[k]) < len(w) {
				return false
			}
		}
		return true
	})
	again := map[string]bool{}
	by2 := map[string][]int{}
	for _, r := range tg2.delivered() {
		n, _ := strconv.Atoi(r.v)
		by2[r.pk] = append(by2[r.pk], n)
		again[r.v] = true
	}
	for _, v := range blocked {
		if !again[v] {
			t.Errorf("record %s of the batch in flight at close was not delivered again", v)
		}
	}
	for k, want := range written {
		got := by2[k]
		if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Errorf("key %s: delivered out of order after restart: %v", k, got)
		}
		// No gap: what the first run delivered, then the second run from
		// where it resumes, covers every write of the key in order.
		seen := map[int]bool{}
		for _, n := range ok1[k] {
			seen[n] = true
		}
		for _, n := range got {
			seen[n] = true
		}
		for _, n := range want {
			if !seen[n] {
				t.Errorf("key %s: record %d never delivered", k, n)
			}
		}
		// The first run delivered a prefix of the key's records; the
		// second starts at or before the first record after it.
		if !slices.Equal(ok1[k], want[:len(ok1[k])]) {
			t.Errorf("key %s: first run delivered %v, not a prefix of %v", k, ok1[k], want)
		}
		if next := len(ok1[k]); next < len(want) && (len(got) == 0 || got[0] > want[next]) {
			t.Errorf("key %s: second run starts at %v, after %d (gap)", k, got, want[next])
		}
	}
}
