package sinks

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/godwit-db/godwit/streams"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Every record is delivered once, in order, as Lambda's event record
// (GetRecords record + eventSourceARN), and the checkpoint ends at the
// last record of each shard.
func TestDeliversInOrderAndCheckpoints(t *testing.T) {
	e := newEnv(t, 2, nil)
	tg := &scripted{t: t}
	c := e.start(e.config(mapping("basic"), tg))
	want := vals("v", 20)
	for i, v := range want {
		e.put("k"+strconv.Itoa(i%4), v, "")
	}
	tg.waitValues(want...)
	got := tg.delivered()
	if len(got) != len(want) {
		t.Fatalf("delivered %d records, want %d: %v", len(got), len(want), values(got))
	}
	ts, _, err := streams.LatestTableStream(context.Background(), e.js, testRegion, testTable)
	if err != nil {
		t.Fatal(err)
	}
	arn := ts.ARN("000000000000")
	lastBy := map[string]int{}
	maxSeq := map[string]uint64{}
	for _, call := range tg.snapshot() {
		for i, r := range call.recs {
			if r.arn != arn {
				t.Errorf("eventSourceARN %q, want %q", r.arn, arn)
			}
			n, _ := strconv.Atoi(strings.TrimPrefix(r.v, "v"))
			prev, seen := lastBy[r.pk]
			if wantName := map[bool]string{false: "INSERT", true: "MODIFY"}[seen]; r.name != wantName {
				t.Errorf("%s: eventName %q, want %q", r.v, r.name, wantName)
			}
			if seen && n <= prev {
				t.Errorf("key %s: %s after v%d", r.pk, r.v, prev)
			}
			lastBy[r.pk] = n
			if i > 0 && seqNum(t, r.seq) <= seqNum(t, call.recs[i-1].seq) {
				t.Errorf("batch out of sequence order")
			}
			maxSeq[call.shard] = max(maxSeq[call.shard], seqNum(t, r.seq))
		}
	}
	// The event of a batch is {"Records":[...]} with the records as delivered.
	ev, err := (&Batch{Records: []Record{{Event: json.RawMessage(`{"a":1}`)}}}).Event()
	if err != nil || string(ev) != `{"Records":[{"a":1}]}` {
		t.Fatalf("event %s %v", ev, err)
	}
	eventually(t, 5*time.Second, "checkpoint at the last records", func() bool {
		cp := e.checkpoint("basic")
		if cp == nil || cp.Stream != ts.Name || cp.Label != ts.Label {
			return false
		}
		for p := range 2 {
			if cp.shard(p).Seq < maxSeq[ts.ShardID(p)] {
				return false
			}
		}
		return true
	})
	st := c.Status()
	if st.State != StateRunning || len(st.Shards) != 2 || st.StreamARN != arn {
		t.Fatalf("status %+v", st)
	}
	if n := testutil.ToFloat64(c.m.records); n != 20 {
		t.Errorf("records_total %v, want 20", n)
	}
}

// TRIM_HORIZON starts at the oldest record, LATEST after the newest when
// the consumer first starts; LATEST is resolved once and checkpointed, so
// a restart before any record does not skip what was written meanwhile.
func TestStartingPosition(t *testing.T) {
	e := newEnv(t, 1, nil)
	e.put("a", "old1", "")
	e.put("a", "old2", "")
	e.waitPublished(2)

	th := &scripted{t: t}
	e.start(e.config(mapping("th"), th))
	m := mapping("latest")
	m.StartingPosition = Latest
	lt := &scripted{t: t}
	lc := e.start(e.config(m, lt))
	eventually(t, 5*time.Second, "latest checkpointed", func() bool { return e.checkpoint("latest") != nil })
	_ = lc.Close()
	e.put("a", "new1", "") // written while the LATEST consumer is down
	lt2 := &scripted{t: t}
	e.start(e.config(m, lt2))
	e.put("a", "new2", "")
	th.waitValues("old1", "old2", "new1", "new2")
	lt2.waitValues("new1", "new2")
	if got := values(th.delivered()); !slices.Equal(got, []string{"old1", "old2", "new1", "new2"}) {
		t.Errorf("TRIM_HORIZON delivered %v", got)
	}
	if got := values(lt2.delivered()); !slices.Equal(got, []string{"new1", "new2"}) {
		t.Errorf("LATEST (restarted) delivered %v", got)
	}
	if got := lt.delivered(); len(got) != 0 {
		t.Errorf("LATEST (first run) delivered %v", values(got))
	}
}

// BatchSize caps a batch; with window 0 a batch takes what is waiting.
func TestBatchSize(t *testing.T) {
	e := newEnv(t, 1, nil)
	for _, v := range vals("v", 7) {
		e.put("k", v, "")
	}
	e.waitPublished(7)
	m := mapping("size")
	m.BatchSize = 3
	m.MaximumBatchingWindowInSeconds = 1 // NB: the full batches fill long before it ends
	tg := &scripted{t: t}
	e.start(e.config(m, tg))
	tg.waitValues(vals("v", 7)...)
	var sizes []int
	for _, c := range tg.snapshot() {
		sizes = append(sizes, len(c.recs))
	}
	if !slices.Equal(sizes, []int{3, 3, 1}) {
		t.Fatalf("batch sizes %v, want [3 3 1]", sizes)
	}
}

// With a batching window, records arriving within it after the first one
// share its batch; without one, the first record goes alone.
func TestBatchingWindow(t *testing.T) {
	for _, window := range []int{0, 3} {
		t.Run(strconv.Itoa(window), func(t *testing.T) {
			e := newEnv(t, 1, nil)
			m := mapping("window")
			m.MaximumBatchingWindowInSeconds = window
			first := make(chan struct{})
			release := make(chan struct{})
			tg := &scripted{t: t}
			// The target holds nothing back; the test writes the second
			// batch of records only once the first record reached the
			// slot (it is in the first batch, seen by the script).
			tg.script = func(n int, b *Batch) (Result, error) {
				if n == 0 && window == 0 {
					close(first)
					<-release
				}
				return Result{}, nil
			}
			c := e.start(e.config(m, tg))
			e.put("k", "v0", "")
			if window == 0 {
				<-first
			} else {
				eventually(t, 5*time.Second, "first record read", func() bool { return testutil.ToFloat64(c.m.records) == 1 })
			}
			for _, v := range vals("w", 4) {
				e.put("k", v, "")
			}
			if window == 0 {
				close(release)
			}
			tg.waitValues("v0", "w0", "w1", "w2", "w3")
			calls := tg.snapshot()
			if window == 0 && len(calls[0].recs) != 1 {
				t.Fatalf("window 0: first batch %v, want the first record alone", values(calls[0].recs))
			}
			if window > 0 && len(calls[0].recs) != 5 {
				t.Fatalf("window %ds: first batch %v, want all 5 records", window, values(calls[0].recs))
			}
		})
	}
}

// Records no filter matches are never delivered, and the checkpoint moves
// past them.
func TestFilterDropsAndCheckpoints(t *testing.T) {
	e := newEnv(t, 1, nil)
	m := mapping("filtered")
	m.FilterPatterns = []string{`{"dynamodb":{"NewImage":{"status":{"S":["SHIPPED"]}}}}`, `{"eventName":["REMOVE"]}`}
	tg := &scripted{t: t}
	c := e.start(e.config(m, tg))
	e.put("a", "1", "NEW")
	e.put("b", "2", "SHIPPED")
	e.put("c", "3", "NEW")
	e.put("d", "4", "SHIPPED")
	e.put("e", "5", "NEW")
	e.waitPublished(5)
	tg.waitValues("2", "4")
	ts, _, _ := streams.LatestTableStream(context.Background(), e.js, testRegion, testTable)
	s, _ := e.js.Stream(context.Background(), ts.Name)
	info, _ := s.Info(context.Background())
	eventually(t, 5*time.Second, "checkpoint past the last (filtered) record", func() bool {
		cp := e.checkpoint("filtered")
		return cp != nil && cp.shard(0).Seq >= streams.Pos(info.State.LastSeq, 0)
	})
	if got := values(tg.delivered()); !slices.Equal(got, []string{"2", "4"}) {
		t.Fatalf("delivered %v, want [2 4]", got)
	}
	if n := testutil.ToFloat64(c.m.filtered); n != 3 {
		t.Fatalf("filtered_records_total %v, want 3", n)
	}
}

// A disabled consumer reads nothing and keeps its checkpoint; enabled
// again it resumes after it.
func TestDisabledKeepsCheckpoint(t *testing.T) {
	e := newEnv(t, 1, nil)
	m := mapping("toggle")
	tg := &scripted{t: t}
	c := e.start(e.config(m, tg))
	e.put("k", "a", "")
	e.put("k", "b", "")
	tg.waitValues("a", "b")
	eventually(t, 5*time.Second, "checkpoint", func() bool {
		cp := e.checkpoint("toggle")
		return cp != nil && cp.shard(0).Seq >= seqNum(t, tg.delivered()[1].seq)
	})
	_ = c.Close()
	before := e.checkpoint("toggle")

	m.Enabled = false
	off := &scripted{t: t}
	dc := e.start(e.config(m, off))
	e.put("k", "c", "")
	e.waitPublished(3)
	eventually(t, 10*time.Second, "disabled status with the kept position", func() bool {
		st := dc.Status()
		return st.State == StateDisabled && len(st.Shards) == 1 && st.Shards[0].SequenceNumber == streams.SequenceNumber(before.shard(0).Seq)
	})
	_ = dc.Close()
	if after := e.checkpoint("toggle"); after.shard(0).Seq != before.shard(0).Seq {
		t.Fatalf("checkpoint moved while disabled: %d -> %d", before.shard(0).Seq, after.shard(0).Seq)
	}
	if n := len(off.snapshot()); n != 0 {
		t.Fatalf("disabled consumer delivered %d batches", n)
	}

	m.Enabled = true
	on := &scripted{t: t}
	e.start(e.config(m, on))
	on.waitValues("c")
	if got := values(on.delivered()); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("re-enabled consumer delivered %v, want [c]", got)
	}
}

// A table whose stream is disabled and enabled again: the old stream is
// drained, then the new one read from its start.
func TestFollowsNextStream(t *testing.T) {
	e := newEnv(t, 2, nil)
	tg := &scripted{t: t}
	e.start(e.config(mapping("follow"), tg))
	e.put("a", "1", "")
	e.put("b", "2", "")
	tg.waitValues("1", "2")
	setStream(t, e, false)
	setStream(t, e, true)
	e.put("a", "3", "")
	e.put("b", "4", "")
	tg.waitValues("3", "4")
	got := values(tg.delivered())
	if len(got) != 4 {
		t.Fatalf("delivered %v", got)
	}
	all, err := streams.ListTableStreams(context.Background(), e.js, testRegion)
	if err != nil || len(all) != 2 {
		t.Fatalf("streams %v %v", all, err)
	}
	eventually(t, 5*time.Second, "checkpoint on the new stream", func() bool {
		cp := e.checkpoint("follow")
		return cp != nil && cp.Stream == all[1].Name
	})
}
