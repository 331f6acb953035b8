package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/streams"
	"github.com/godwit-db/godwit/test/harness"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestStreamSurvivesKill9 drives writes (PutItem and UpdateItem) from
// concurrent aws-sdk-go-v2 clients into a table with a stream, SIGKILLs
// the server at a random moment, restarts it on the same data directory
// and reads the table stream's JetStream stream through the NATS listener:
// every acknowledged write appears exactly once, in per-item order, and a
// write whose acknowledgement was lost appears iff the table shows it.
func TestStreamSurvivesKill9(t *testing.T) {
	for _, seed := range []int64{time.Now().UnixNano(), 1, 20261121} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Logf("seed %d", seed)
			scRun(t, seed)
		})
	}
}

// scWriter is one client's view: per key, the last value acknowledged and
// the value of the write in flight when the server died (0 if none).
type scWriter struct {
	acked    map[string]int
	inflight map[string]int
}

func scRun(t *testing.T, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	dir := t.TempDir()
	natsAddr := harness.FreeAddr(t)
	flags := []string{"--nats-listen", natsAddr, "--partitions", "4"}
	p := harness.StartProcess(t, dir, flags...)
	cl := harness.NewClient(p.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := cl.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("streamed"),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
		StreamSpecification:  &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages},
	}); err != nil {
		t.Fatal(err)
	}

	const writers = 8
	out := make([]scWriter, writers)
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := range out {
		out[w] = scWriter{acked: map[string]int{}, inflight: map[string]int{}}
		wrng := rand.New(rand.NewSource(seed + int64(w)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := out[w]
			next := map[string]int{}
			for {
				k := fmt.Sprintf("w%d-%d", w, wrng.Intn(20)) // each writer owns 20 keys
				next[k]++
				v := next[k]
				var err error
				if wrng.Intn(2) == 0 {
					_, err = cl.PutItem(wctx, &dynamodb.PutItemInput{
						TableName: aws.String("streamed"),
						Item: map[string]types.AttributeValue{
							"pk": &types.AttributeValueMemberS{Value: k},
							"v":  &types.AttributeValueMemberN{Value: strconv.Itoa(v)},
						},
					})
				} else {
					_, err = cl.UpdateItem(wctx, &dynamodb.UpdateItemInput{
						TableName:                 aws.String("streamed"),
						Key:                       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: k}},
						UpdateExpression:          aws.String("SET v = :v"),
						ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.Itoa(v)}},
					})
				}
				if err != nil {
					// The kill (or the end of the run): this write's fate is
					// unknown, and the writer stops so that it stays the last.
					o.inflight[k] = v
					return
				}
				o.acked[k] = v
			}
		}()
	}
	// NB: a load duration, not a wait for an event.
	load := 500*time.Millisecond + time.Duration(rng.Int63n(int64(1500*time.Millisecond)))
	time.Sleep(load)
	p.Kill()
	stop()
	wg.Wait()
	acked, inflight := map[string]int{}, map[string]int{}
	total := 0
	for _, o := range out {
		for k, v := range o.acked {
			acked[k] = v
			total += v
		}
		for k, v := range o.inflight {
			inflight[k] = v
		}
	}
	t.Logf("%d acknowledged writes in %s", total, load)
	if total == 0 {
		t.Fatal("no write was acknowledged")
	}

	// Restart on the same data directory; the table is the truth.
	p = harness.StartProcess(t, dir, flags...)
	cl = harness.NewClient(p.URL)
	final := map[string]int{}
	for k := range scKeys(acked, inflight) {
		got, err := cl.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      aws.String("streamed"),
			Key:            map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: k}},
			ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := got.Item["v"].(*types.AttributeValueMemberN); ok {
			final[k], _ = strconv.Atoi(n.Value)
		}
		if final[k] < acked[k] || (final[k] > acked[k] && final[k] != inflight[k]) {
			t.Fatalf("%s: table shows v=%d, acknowledged %d, in flight %d", k, final[k], acked[k], inflight[k])
		}
	}

	// Read the stream until the publisher has caught up with the table.
	nc, err := nats.Connect("nats://" + natsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r := &scReader{js: scJetStream(t, nc), values: map[string][]int{}, events: map[string][]string{}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r.poll(t, ctx)
		if r.caughtUp(final) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream did not catch up with the table in 30s (read %d records)\nserver logs:\n%s", r.n, p.Logs())
		}
		time.Sleep(20 * time.Millisecond) // NB: a poll interval, not a wait for an event
	}

	for k, want := range final {
		vs := r.values[k]
		for i, v := range vs {
			if v != i+1 {
				t.Fatalf("%s: stream values %v: position %d holds %d (a gap, duplicate or reorder)", k, vs, i, v)
			}
			wantEvent := engine.EventModify
			if i == 0 {
				wantEvent = engine.EventInsert
			}
			if r.events[k][i] != wantEvent {
				t.Errorf("%s: record %d is %s, want %s", k, i+1, r.events[k][i], wantEvent)
			}
		}
		if len(vs) != want {
			t.Fatalf("%s: %d records, the table shows v=%d", k, len(vs), want)
		}
	}
	for k := range r.values {
		if _, ok := final[k]; !ok {
			t.Errorf("records for %s, which no client wrote", k)
		}
	}
	t.Logf("%d records checked", r.n)
}

func scKeys(ms ...map[string]int) map[string]bool {
	out := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			out[k] = true
		}
	}
	return out
}

func scJetStream(t *testing.T, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// scReader reads a table stream's records incrementally, in stream order.
type scReader struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	next   uint64
	n      int
	values map[string][]int    // key -> NewImage.v of its records, in order
	events map[string][]string // key -> event names, in order
}

func (r *scReader) poll(t *testing.T, ctx context.Context) {
	t.Helper()
	if r.stream == nil {
		var names []string
		l := r.js.StreamNames(ctx, jetstream.WithStreamListSubject("gw.us-east-1.>"))
		for n := range l.Name() {
			names = append(names, n)
		}
		if len(names) == 0 {
			return // not created yet
		}
		sort.Strings(names)
		if len(names) != 1 {
			t.Fatalf("streams %v, want one", names)
		}
		s, err := r.js.Stream(ctx, names[0])
		if err != nil {
			t.Fatal(err)
		}
		r.stream, r.next = s, 1
	}
	info, err := r.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for ; r.next <= info.State.LastSeq; r.next++ {
		m, err := r.stream.GetMsg(ctx, r.next)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			t.Fatalf("stream sequence %d is missing", r.next)
		}
		if err != nil {
			t.Fatal(err)
		}
		// NB: a message carries one record or several (streams layout 2);
		// Godwit-Seq is the outbox seq of its last one.
		n, err := streams.MessageCount(m.Header)
		if err != nil {
			t.Fatalf("message %d: %v", r.next, err)
		}
		recs, err := streams.SplitRecords(nil, n, m.Data)
		if err != nil {
			t.Fatalf("message %d: %v", r.next, err)
		}
		for i, rec := range recs {
			c, err := engine.DecodeChange(rec)
			if err != nil {
				t.Fatalf("message %d record %d: %v", r.next, i, err)
			}
			if i == n-1 {
				if got := m.Header.Get(streams.HeaderSeq); got != strconv.FormatUint(c.Seq, 10) {
					t.Fatalf("message %d: %s header %q for last outbox seq %d", r.next, streams.HeaderSeq, got, c.Seq)
				}
			}
			k := c.Keys["pk"].S
			v, _ := strconv.Atoi(c.NewImage["v"].S)
			r.values[k] = append(r.values[k], v)
			r.events[k] = append(r.events[k], c.EventName)
			r.n++
		}
	}
}

// caughtUp reports whether every key's last record shows the table's value.
func (r *scReader) caughtUp(final map[string]int) bool {
	for k, v := range final {
		vs := r.values[k]
		if v == 0 && len(vs) == 0 {
			continue
		}
		if len(vs) == 0 || vs[len(vs)-1] < v {
			return false
		}
	}
	return true
}
