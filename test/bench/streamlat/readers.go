package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/godwit-db/godwit/engine/attr"
	"github.com/godwit-db/godwit/streams"
	"github.com/godwit-db/godwit/test/bench/benchkit"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// reader follows every shard of the run's table stream and records, for
// each of the run's items, when its record arrived.
type reader struct {
	name string
	recv *benchkit.Timeline
	// run reads until ctx is done (then returns nil) or fails.
	run   func(ctx context.Context) error
	close func()
}

// recordKey files a record of item pk, arrived at t, in recv.
func recordKey(recv *benchkit.Timeline, nonce, pk string, t int64) {
	if id, ok := parseItemKey(pk, nonce); ok {
		recv.Set(id, t)
	}
}

// openConsumerReader opens the consumer library at the end of the table's
// stream with label (JetStream via natsURL), so that it sees every record
// written after it returns.
func openConsumerReader(ctx context.Context, natsURL, region, table, label, nonce string, clk benchkit.Clock, recv *benchkit.Timeline) (*reader, error) {
	nc, err := nats.Connect(natsURL, nats.Name("streamlat"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", natsURL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	// NB: the publisher creates the JetStream stream after the catalog
	// change; wait for it.
	var ts streams.TableStream
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, ok, err := streams.LatestTableStream(ctx, js, region, table)
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("find the stream of %s: %w", table, err)
		}
		if ok && (label == "" || s.Label == label) {
			ts = s
			break
		}
		if time.Now().After(deadline) {
			nc.Close()
			return nil, fmt.Errorf("no JetStream stream for table %s label %q in region %s after 30s", table, label, region)
		}
		if err := benchkit.Pause(ctx, 50*time.Millisecond); err != nil {
			nc.Close()
			return nil, err
		}
	}
	src, err := streams.NewJetStreamSource(ctx, js, ts.Name, streams.JetStreamSourceConfig{})
	if err != nil {
		nc.Close()
		return nil, err
	}
	c, err := streams.NewConsumer(ctx, src, streams.ConsumerConfig{From: streams.Latest, Name: "streamlat"})
	if err != nil {
		nc.Close()
		return nil, err
	}
	run := func(ctx context.Context) error {
		for {
			recs, err := c.NextBatch(ctx, 256)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return fmt.Errorf("consumer: %w", err)
			}
			t := clk.Now()
			for i := range recs {
				if v, ok := recs[i].Event.Dynamodb.Keys["pk"]; ok && v.Type == attr.S {
					recordKey(recv, nonce, v.S, t)
				}
			}
		}
	}
	return &reader{name: "consumer", recv: recv, run: run, close: func() { c.Close(); nc.Close() }}, nil
}

// openAPIReader takes a LATEST iterator on every shard of the stream arn
// through the DynamoDB Streams API, so that it sees every record written
// after it returns. Each shard is then polled by its own goroutine: again
// at once after records came back, after pollWait when none did.
func openAPIReader(ctx context.Context, cl *benchkit.Client, arn, nonce string, pollWait time.Duration, clk benchkit.Clock, recv *benchkit.Timeline) (*reader, error) {
	var buf bytes.Buffer
	var shardIDs []string
	req := map[string]any{"StreamArn": arn}
	// NB: a stream just enabled has no shards until the publisher has
	// created its JetStream stream (ENABLING): ask again for a while.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var d struct {
			StreamDescription struct {
				Shards               []struct{ ShardId string }
				LastEvaluatedShardId *string
			}
		}
		if err := cl.Call(ctx, "DynamoDBStreams_20120810.DescribeStream", req, &d, &buf); err != nil {
			return nil, fmt.Errorf("describe stream: %w", err)
		}
		for _, s := range d.StreamDescription.Shards {
			shardIDs = append(shardIDs, s.ShardId)
		}
		if len(shardIDs) == 0 && d.StreamDescription.LastEvaluatedShardId == nil && time.Now().Before(deadline) {
			if benchkit.Pause(ctx, 10*time.Millisecond) != nil {
				return nil, ctx.Err()
			}
			continue
		}
		if d.StreamDescription.LastEvaluatedShardId == nil {
			break
		}
		req["ExclusiveStartShardId"] = *d.StreamDescription.LastEvaluatedShardId
	}
	if len(shardIDs) == 0 {
		return nil, fmt.Errorf("stream %s has no shards", arn)
	}
	iters := make([]string, len(shardIDs))
	for i, id := range shardIDs {
		var out struct{ ShardIterator string }
		err := cl.Call(ctx, "DynamoDBStreams_20120810.GetShardIterator",
			map[string]string{"StreamArn": arn, "ShardId": id, "ShardIteratorType": "LATEST"}, &out, &buf)
		if err != nil {
			return nil, fmt.Errorf("shard iterator of %s: %w", id, err)
		}
		iters[i] = out.ShardIterator
	}
	pollShard := func(ctx context.Context, it string) error {
		var buf bytes.Buffer
		for it != "" {
			var out struct {
				Records []struct {
					Dynamodb struct {
						Keys struct {
							PK struct{ S string } `json:"pk"`
						}
					} `json:"dynamodb"`
				}
				NextShardIterator string
			}
			// NB: a bare body, no reflection on the way out.
			body := append(append([]byte(`{"ShardIterator":"`), it...), `","Limit":1000}`...)
			err := cl.Call(ctx, "DynamoDBStreams_20120810.GetRecords", body, &out, &buf)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return fmt.Errorf("GetRecords: %w", err)
			}
			t := clk.Now()
			for i := range out.Records {
				recordKey(recv, nonce, out.Records[i].Dynamodb.Keys.PK.S, t)
			}
			it = out.NextShardIterator
			if len(out.Records) == 0 {
				if benchkit.Pause(ctx, pollWait) != nil {
					return nil
				}
			}
		}
		return nil // the shard was closed
	}
	run := func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var wg sync.WaitGroup
		errs := make([]error, len(iters))
		for i, it := range iters {
			wg.Go(func() {
				if errs[i] = pollShard(ctx, it); errs[i] != nil {
					cancel()
				}
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	return &reader{name: "api", recv: recv, run: run, close: func() {}}, nil
}
