package sinks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/godwit-db/godwit/streams"
)

// checkpointVersion is the format version of a stored checkpoint. Version
// 2 holds record positions (streams.Pos: a message may carry several
// records); version 1 held JetStream stream sequences of one-record
// messages, and is read as the position of each message's only record,
// Pos(seq, 0), which covers exactly the same records.
const checkpointVersion = 2

// Checkpoint is how far one consumer got: the table stream it reads and,
// per partition (shard), the record position (streams.Pos) up to which
// every record was delivered, discarded or filtered out. Stored as JSON under
// the consumer's name in the checkpoint bucket; a partition missing from
// Shards starts at the stream's oldest record.
type Checkpoint struct {
	Version int    `json:"version"`
	Table   string `json:"table"`
	Stream  string `json:"stream"` // the JetStream stream name
	Label   string `json:"label"`
	TableID uint32 `json:"tableId"`
	// Shards is keyed by partition number (decimal).
	Shards map[string]ShardCheckpoint `json:"shards"`
}

// ShardCheckpoint is one shard's position.
type ShardCheckpoint struct {
	// Seq is a record position (streams.Pos), as the consumer library's
	// Record.Seq; 0 is before the first record.
	Seq uint64 `json:"seq"`
	// Window is the open tumbling window, if any.
	Window *WindowCheckpoint `json:"window,omitempty"`
}

// WindowCheckpoint is an open tumbling window: its start (epoch seconds)
// and the state the last invocation returned.
type WindowCheckpoint struct {
	Start int64           `json:"start"`
	State json.RawMessage `json:"state"`
}

func (cp *Checkpoint) shard(p int) ShardCheckpoint {
	return cp.Shards[strconv.Itoa(p)]
}

// checkpoints reads and writes checkpoints in a JetStream KV bucket.
type checkpoints struct {
	kv jetstream.KeyValue
}

func openCheckpoints(ctx context.Context, js jetstream.JetStream, bucket string) (*checkpoints, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      bucket,
			Description: "godwit sinks: consumer checkpoints",
			History:     1,
			Storage:     jetstream.FileStorage,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("sinks: checkpoint bucket %s: %w", bucket, err)
	}
	return &checkpoints{kv: kv}, nil
}

// load returns the consumer's checkpoint, or nil when it has none.
func (c *checkpoints) load(ctx context.Context, name string) (*Checkpoint, error) {
	e, err := c.kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sinks: load checkpoint %s: %w", name, err)
	}
	var cp Checkpoint
	if err := json.Unmarshal(e.Value(), &cp); err != nil {
		return nil, fmt.Errorf("sinks: checkpoint %s: %w", name, err)
	}
	switch cp.Version {
	case checkpointVersion:
	case 1:
		for k, sc := range cp.Shards {
			if sc.Seq > 0 {
				sc.Seq = streams.Pos(sc.Seq, 0)
				cp.Shards[k] = sc
			}
		}
		cp.Version = checkpointVersion
	default:
		return nil, fmt.Errorf("sinks: checkpoint %s has format version %d, this godwit reads %d", name, cp.Version, checkpointVersion)
	}
	if cp.Shards == nil {
		cp.Shards = map[string]ShardCheckpoint{}
	}
	return &cp, nil
}

// put stores an encoded checkpoint under name.
func (c *checkpoints) put(ctx context.Context, name string, b []byte) error {
	if _, err := c.kv.Put(ctx, name, b); err != nil {
		return fmt.Errorf("sinks: save checkpoint %s: %w", name, err)
	}
	return nil
}

// LoadCheckpoint reads consumer name's checkpoint from bucket (nil, nil
// when there is none): for status tools and tests.
func LoadCheckpoint(ctx context.Context, js jetstream.JetStream, bucket, name string) (*Checkpoint, error) {
	c, err := openCheckpoints(ctx, js, bucket)
	if err != nil {
		return nil, err
	}
	return c.load(ctx, name)
}
