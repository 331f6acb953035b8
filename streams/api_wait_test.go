package streams

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/godwit-db/godwit/engine/wire"
	"github.com/godwit-db/godwit/streams/embedded"
	"github.com/nats-io/nats.go/jetstream"
)

// waitEnv is a real publisher and a Streams API sharing its PublishSignal,
// both on one embedded NATS server.
type waitEnv struct {
	api   *API
	p     *Publisher
	arn   string
	id    uint32
	parts int
}

func waitStart(t *testing.T, recordsWait time.Duration) *waitEnv {
	t.Helper()
	s := pubNATS(t, t.TempDir(), embedded.NoListener)
	hook := &pubHook{}
	db := pubOpenDB(t, hook)
	p := pubStart(t, hook, db, pubConn(t, s), pubTestConfig())
	info := pubCreateTable(t, db, "waits", true)
	pubPut(t, db, "waits", "first", 1) // NB: makes the publisher create the JetStream stream
	pubCaughtUp(t, p)
	nc, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	api, err := NewAPI(db, js, APIConfig{
		Published: p, RecordsWait: recordsWait,
		IteratorKey: []byte("0123456789abcdef0123456789abcdef"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Close() })
	return &waitEnv{api: api, p: p, id: info.ID, parts: info.Partitions,
		arn: StreamARN(db.Region(), db.AccountID(), "waits", info.Stream.Label)}
}

// latest returns a LATEST iterator of every shard, by partition.
func (e *waitEnv) latest(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	out, err := e.api.DescribeStream(ctx, []byte(fmt.Sprintf(`{"StreamArn":%q}`, e.arn)))
	if err != nil {
		t.Fatal(err)
	}
	var desc struct {
		StreamDescription struct{ Shards []struct{ ShardId string } }
	}
	b, _ := json.Marshal(out)
	if err := json.Unmarshal(b, &desc); err != nil || len(desc.StreamDescription.Shards) != e.parts {
		t.Fatalf("describe stream: %s (%v)", b, err)
	}
	its := make([]string, e.parts)
	for _, sh := range desc.StreamDescription.Shards {
		_, part, ok := ParseShardID(sh.ShardId)
		if !ok {
			t.Fatalf("shard id %q", sh.ShardId)
		}
		out, err := e.api.GetShardIterator(ctx, []byte(fmt.Sprintf(
			`{"StreamArn":%q,"ShardId":%q,"ShardIteratorType":"LATEST"}`, e.arn, sh.ShardId)))
		if err != nil {
			t.Fatal(err)
		}
		its[part] = out.(*getShardIteratorOutput).ShardIterator
	}
	return its
}

type waitPage struct {
	Records []struct {
		Dynamodb struct {
			Keys map[string]map[string]string
		} `json:"dynamodb"`
	}
	NextShardIterator *string
}

func (e *waitEnv) getRecords(ctx context.Context, it string) (waitPage, error) {
	var page waitPage
	out, err := e.api.GetRecords(ctx, []byte(fmt.Sprintf(`{"ShardIterator":%q}`, it)))
	if err != nil {
		return page, err
	}
	b, ok := out.(wire.RawJSON)
	if !ok {
		return page, fmt.Errorf("GetRecords answered %T", out)
	}
	if err := json.Unmarshal(b, &page); err != nil {
		return page, fmt.Errorf("page %s: %w", b, err)
	}
	return page, nil
}

// TestAPIGetRecordsWaitsForPublish: a GetRecords at the end of an open
// shard, with the publisher's signal, holds its empty page and returns the
// shard's next record as soon as JetStream acknowledged it.
func TestAPIGetRecordsWaitsForPublish(t *testing.T) {
	e := waitStart(t, time.Minute) // NB: far longer than the test may take
	its := e.latest(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		part int
		page waitPage
		err  error
	}
	results := make(chan result, len(its))
	var wg sync.WaitGroup
	for part, it := range its {
		wg.Add(1)
		go func() {
			defer wg.Done()
			page, err := e.getRecords(ctx, it)
			results <- result{part, page, err}
		}()
	}
	// Every call has read its shard, found nothing and waits.
	pubEventually(t, 20*time.Second, "every GetRecords to wait", func() bool {
		for part := range its {
			if e.p.shards.get(e.id, part).signal.ch.Load() == nil {
				return false
			}
		}
		return true
	})
	select {
	case r := <-results:
		t.Fatalf("GetRecords of partition %d answered before anything was written: %+v, %v", r.part, r.page, r.err)
	default:
	}
	pubPut(t, e.p.db, "waits", "second", 2)
	r := <-results
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(r.page.Records) != 1 || r.page.Records[0].Dynamodb.Keys["pk"]["S"] != "second" || r.page.NextShardIterator == nil {
		t.Fatalf("partition %d: got %+v, want the record of \"second\" and a next iterator", r.part, r.page)
	}
	// The other shards' calls end with an empty page when their caller goes away.
	cancel()
	wg.Wait()
	close(results)
	for r := range results {
		if r.err != nil || len(r.page.Records) != 0 || r.page.NextShardIterator == nil {
			t.Errorf("partition %d after cancel: %+v, %v; want an empty page with a next iterator", r.part, r.page, r.err)
		}
	}
}

// TestAPIGetRecordsWaitEnds: with nothing published, the wait ends after
// RecordsWait with an empty page whose iterator reads the next record.
func TestAPIGetRecordsWaitEnds(t *testing.T) {
	e := waitStart(t, 20*time.Millisecond)
	its := e.latest(t)
	ctx := context.Background()
	next := make([]string, len(its))
	for part, it := range its {
		page, err := e.getRecords(ctx, it)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Records) != 0 || page.NextShardIterator == nil {
			t.Fatalf("partition %d: %+v, want an empty page with a next iterator", part, page)
		}
		next[part] = *page.NextShardIterator
	}
	pubPut(t, e.p.db, "waits", "third", 3)
	pubCaughtUp(t, e.p)
	var got []string
	for _, it := range next {
		page, err := e.getRecords(ctx, it)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			got = append(got, r.Dynamodb.Keys["pk"]["S"])
		}
	}
	if len(got) != 1 || got[0] != "third" {
		t.Fatalf("records after the waits: %q, want [third]", got)
	}
}
