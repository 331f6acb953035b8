package globaltables

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/streams"
	"github.com/godwit-db/godwit/streams/embedded"
)

// layout2JS is a bare embedded JetStream holding one change stream
// (stream "GW_LAYOUT2", subjects "lay.<partition>"), for tests that publish
// layout 2 messages by hand.
func layout2JS(t *testing.T) (jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	srv, err := embedded.Start(embedded.Config{StoreDir: t.TempDir(), Listen: embedded.NoListener})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "GW_LAYOUT2", Subjects: []string{"lay.*"}})
	if err != nil {
		t.Fatal(err)
	}
	return js, s
}

// publishLayout2 publishes the records of partition with outbox sequences
// [first, last] as ONE layout 2 message on subject, from origin, and
// returns its stream sequence. noSeq leaves out the Godwit-Seq header so
// that readers must decode the body.
func publishLayout2(t *testing.T, js jetstream.JetStream, subject string, partition int, origin string, first, last uint64, noSeq bool) uint64 {
	t.Helper()
	n := int(last - first + 1)
	var body []byte
	for cs := first; cs <= last; cs++ {
		c := &engine.Change{TableID: 1, Table: gtTable, Partition: partition, Seq: cs, EventName: engine.EventInsert, Origin: origin}
		enc := c.AppendBinary(nil)
		if n == 1 {
			body = enc
		} else {
			body = streams.AppendRecord(body, enc)
		}
	}
	m := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
	m.Header.Set(streams.HeaderMsgID, fmt.Sprintf("%s.%d", subject, first))
	m.Header.Set(streams.HeaderOrigin, origin)
	m.Header.Set(streams.HeaderLayout, "2")
	if !noSeq {
		m.Header.Set(streams.HeaderSeq, strconv.FormatUint(last, 10))
	}
	if n > 1 {
		m.Header.Set(streams.HeaderCount, strconv.Itoa(n))
	}
	ack, err := js.PublishMsg(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// TestLocateChangeInBatches places every outbox sequence of a partition
// whose records are published several to a message (layout 2), mixed
// with one-record messages, messages without Godwit-Seq and another
// partition's messages, before and after a trim.
func TestLocateChangeInBatches(t *testing.T) {
	js, s := layout2JS(t)
	const sub, other = "lay.0", "lay.1"
	type span struct {
		js          uint64
		first, last uint64
	}
	var spans []span
	pub := func(first, last uint64, noSeq bool) {
		spans = append(spans, span{publishLayout2(t, js, sub, 0, "b", first, last, noSeq), first, last})
	}
	pub(1, 1, false)
	publishLayout2(t, js, other, 1, "b", 1, 3, false)
	pub(2, 5, false)
	publishLayout2(t, js, other, 1, "b", 4, 4, false)
	pub(6, 7, true)
	pub(8, 8, false)
	pub(9, 12, false)
	publishLayout2(t, js, other, 1, "b", 5, 9, false)
	// posOf is the position of outbox sequence cs.
	posOf := func(cs uint64) uint64 {
		for _, sp := range spans {
			if cs >= sp.first && cs <= sp.last {
				return streams.Pos(sp.js, int(cs-sp.first))
			}
		}
		t.Fatalf("no record %d", cs)
		return 0
	}
	ctx := context.Background()
	check := func(n uint64, want changeLocation) {
		t.Helper()
		got, err := locateChange(ctx, s, sub, n)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if got != want {
			t.Fatalf("n=%d: located %+v, want %+v", n, got, want)
		}
	}
	check(0, changeLocation{StreamSeq: streams.Pos(spans[0].js, 0) - 1, FirstChange: 1})
	for n := uint64(1); n <= 12; n++ {
		check(n, changeLocation{StreamSeq: posOf(n), FirstChange: 1})
	}
	// Past the last record: after it.
	check(20, changeLocation{StreamSeq: posOf(12), FirstChange: 1})
	if got, _ := locateChange(ctx, s, "lay.7", 3); got != (changeLocation{}) {
		t.Fatalf("empty subject: located %+v", got)
	}

	// Trim everything before the batch 6..7: 2..5 are lost.
	if err := s.Purge(ctx, jetstream.WithPurgeSequence(spans[2].js)); err != nil {
		t.Fatal(err)
	}
	check(3, changeLocation{FirstChange: 6})
	check(4, changeLocation{FirstChange: 6})
	check(5, changeLocation{StreamSeq: streams.Pos(spans[2].js, 0) - 1, FirstChange: 6})
	for n := uint64(6); n <= 12; n++ {
		check(n, changeLocation{StreamSeq: posOf(n), FirstChange: 6})
	}
}

// TestReadSpanRejectsMalformed: a bad count or body is an error, not a
// wrong position.
func TestReadSpanRejectsMalformed(t *testing.T) {
	for name, m := range map[string]*jetstream.RawStreamMsg{
		"bad count":       {Sequence: 1, Header: nats.Header{streams.HeaderCount: {"0"}, streams.HeaderSeq: {"5"}}},
		"seq below count": {Sequence: 1, Header: nats.Header{streams.HeaderCount: {"3"}, streams.HeaderSeq: {"2"}}, Data: []byte{1, 2}},
		"bad body":        {Sequence: 1, Header: nats.Header{streams.HeaderCount: {"2"}}, Data: []byte{9, 1}},
	} {
		if sp, err := readSpan(m); err == nil {
			t.Errorf("%s: span %+v", name, sp)
		}
	}
}
