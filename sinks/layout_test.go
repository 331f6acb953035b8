package sinks

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/engine/attr"
	"github.com/godwit-db/godwit/streams"
)

// A version 1 checkpoint (JetStream sequences of one-record messages) is
// read as the positions of those messages' records; an unknown version is
// refused.
func TestCheckpointVersion1ReadsAsPositions(t *testing.T) {
	e := newEnv(t, 2, nil)
	ctx := context.Background()
	cps, err := openCheckpoints(ctx, e.js, "GODWIT_SINKS")
	if err != nil {
		t.Fatal(err)
	}
	v1 := `{"version":1,"table":"Orders","stream":"GW_1_X","label":"L","tableId":1,"shards":{"0":{"seq":7},"1":{"seq":0,"window":{"start":5,"state":{"n":1}}}}}`
	if err := cps.put(ctx, "old", []byte(v1)); err != nil {
		t.Fatal(err)
	}
	cp := e.checkpoint("old")
	if cp == nil || cp.Version != checkpointVersion || cp.Stream != "GW_1_X" {
		t.Fatalf("checkpoint %+v", cp)
	}
	if got := cp.shard(0).Seq; got != streams.Pos(7, 0) {
		t.Fatalf("shard 0 at %d, want Pos(7, 0) = %d", got, streams.Pos(7, 0))
	}
	if s1 := cp.shard(1); s1.Seq != 0 || s1.Window == nil || s1.Window.Start != 5 || string(s1.Window.State) != `{"n":1}` {
		t.Fatalf("shard 1 %+v", s1)
	}
	if err := cps.put(ctx, "future", []byte(`{"version":3,"shards":{}}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCheckpoint(ctx, e.js, "GODWIT_SINKS", "future"); err == nil {
		t.Fatal("a version 3 checkpoint was read")
	}
}

// publishBatch publishes changes (consecutive outbox seqs of one
// partition) as ONE layout 2 message on ts, and returns its stream seq.
func publishBatch(t *testing.T, e *env, ts streams.TableStream, changes []*engine.Change) uint64 {
	t.Helper()
	var body []byte
	for _, c := range changes {
		if len(changes) == 1 {
			body = c.AppendBinary(nil)
		} else {
			body = streams.AppendRecord(body, c.AppendBinary(nil))
		}
	}
	first, last := changes[0], changes[len(changes)-1]
	m := &nats.Msg{Subject: ts.Subject(first.Partition), Data: body, Header: nats.Header{}}
	m.Header.Set(streams.HeaderMsgID, streams.MsgID(ts.TableID, ts.Label, first.Partition, first.Seq))
	m.Header.Set(streams.HeaderOrigin, testRegion)
	m.Header.Set(streams.HeaderSeq, strconv.FormatUint(last.Seq, 10))
	m.Header.Set(streams.HeaderLayout, "2")
	if len(changes) > 1 {
		m.Header.Set(streams.HeaderCount, strconv.Itoa(len(changes)))
	}
	ack, err := e.js.PublishMsg(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// batchChanges returns INSERTs of items pk=<prefix><seq> with v=<prefix><seq>,
// outbox seqs first..last of partition 0 of ts.
func batchChanges(ts streams.TableStream, prefix string, first, last uint64) []*engine.Change {
	var out []*engine.Change
	for s := first; s <= last; s++ {
		k := fmt.Sprintf("%s%d", prefix, s)
		out = append(out, &engine.Change{
			TableID: ts.TableID, Table: ts.Table, StreamLabel: ts.Label, Partition: 0, Seq: s,
			EventName: engine.EventInsert, Keys: attr.Item{"pk": attr.Str(k)},
			NewImage: attr.Item{"pk": attr.Str(k), "v": attr.Str(k)},
			Origin:   testRegion, CreatedAt: time.Now().UnixNano(),
		})
	}
	return out
}

// Records of layout 2 messages (several per message) are each delivered
// once, in order; the checkpoint and the shard status end at the last
// record's position; a consumer restarted from a checkpoint in the middle
// of a message delivers the rest of it and what follows.
//
// NB: depends on the consumer library reading layout 2 (the readers
// branch): before it, a multi-record message is one undecodable record.
func TestDeliversLayout2Batches(t *testing.T) {
	e := newEnv(t, 1, nil)
	e.put("seed", "seed", "")
	e.waitPublished(1)
	ctx := context.Background()
	ts, ok, err := streams.LatestTableStream(ctx, e.js, testRegion, testTable)
	if err != nil || !ok {
		t.Fatalf("stream: %v", err)
	}
	j1 := publishBatch(t, e, ts, batchChanges(ts, "b", 2, 5))
	j2 := publishBatch(t, e, ts, batchChanges(ts, "b", 6, 6))
	j3 := publishBatch(t, e, ts, batchChanges(ts, "b", 7, 9))
	want := []string{"seed", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9"}
	wantSeq := []uint64{0, streams.Pos(j1, 0), streams.Pos(j1, 1), streams.Pos(j1, 2), streams.Pos(j1, 3),
		streams.Pos(j2, 0), streams.Pos(j3, 0), streams.Pos(j3, 1), streams.Pos(j3, 2)}

	tg := &scripted{t: t}
	c := e.start(e.config(mapping("batched"), tg))
	tg.waitValues(want...)
	got := tg.delivered()
	if !slices.Equal(values(got), want) {
		t.Fatalf("delivered %v, want %v", values(got), want)
	}
	for i := 1; i < len(got); i++ {
		if p := seqNum(t, got[i].seq); p != wantSeq[i] {
			t.Errorf("%s at position %d, want %d", got[i].v, p, wantSeq[i])
		}
	}
	// NB: a consumer that has taken a whole message holds the position
	// after all of it (index MaxRecordsPerMessage-1), which stays a valid
	// resume point once the message is trimmed.
	last := streams.Pos(j3, streams.MaxRecordsPerMessage-1)
	eventually(t, 5*time.Second, "checkpoint at the last record", func() bool {
		cp := e.checkpoint("batched")
		return cp != nil && cp.shard(0).Seq == last
	})
	eventually(t, 5*time.Second, "status at the last record", func() bool {
		st := c.Status()
		return len(st.Shards) == 1 && st.Shards[0].SequenceNumber == streams.SequenceNumber(last)
	})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart from a checkpoint inside the first batch (after b3).
	cps, err := openCheckpoints(ctx, e.js, "GODWIT_SINKS")
	if err != nil {
		t.Fatal(err)
	}
	mid := newCheckpoint(ts)
	mid.Shards["0"] = ShardCheckpoint{Seq: streams.Pos(j1, 1)}
	b, _ := json.Marshal(mid)
	if err := cps.put(ctx, "batched", b); err != nil {
		t.Fatal(err)
	}
	tg2 := &scripted{t: t}
	e.start(e.config(mapping("batched"), tg2))
	tg2.waitValues("b9")
	if got := values(tg2.delivered()); !slices.Equal(got, want[3:]) {
		t.Fatalf("after a mid-message checkpoint: delivered %v, want %v", got, want[3:])
	}
}
