package sinkstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/engine/attr"
	"github.com/godwit-db/godwit/sinks"
	"github.com/godwit-db/godwit/streams"
)

// Gen makes realistic batches of one table's stream: every attribute type,
// INSERT/MODIFY/REMOVE in turn, a TTL delete, writers' access keys, and
// sequence numbers that grow across batches. Not safe for concurrent use.
type Gen struct {
	// Region, Table and Consumer name the stream; set before the first Batch.
	Region, Table, Consumer string
	// ViewType is the stream's view type. Default NEW_AND_OLD_IMAGES.
	ViewType string

	seq uint64
}

// NewGen returns a generator for table in us-east-1.
func NewGen(table string) *Gen {
	return &Gen{Region: "us-east-1", Table: table, Consumer: "c1", ViewType: streams.ViewNewAndOldImages}
}

// StreamARN is the stream's ARN (every record's eventSourceARN).
func (g *Gen) StreamARN() string {
	return streams.StreamARN(g.Region, "000000000000", g.Table, "2026-01-02T03:04:05.678")
}

// ShardID is the one shard the generator's records come from.
func (g *Gen) ShardID() string { return streams.ShardID(1767323045678, 3) }

// Batch returns a batch with one record per action (see Action; "" is
// ActionOK). The item key of record i is "item-<seq>" unless Key is used.
func (g *Gen) Batch(actions ...string) *sinks.Batch {
	b := &sinks.Batch{Consumer: g.Consumer, Table: g.Table, StreamARN: g.StreamARN(), ShardID: g.ShardID()}
	for _, a := range actions {
		b.Records = append(b.Records, g.record(fmt.Sprintf("item-%d", g.seq+1), a))
	}
	return b
}

// KeyedBatch returns a batch of n ActionOK records, all for item key.
func (g *Gen) KeyedBatch(key string, n int) *sinks.Batch {
	b := &sinks.Batch{Consumer: g.Consumer, Table: g.Table, StreamARN: g.StreamARN(), ShardID: g.ShardID()}
	for range n {
		b.Records = append(b.Records, g.record(key, ActionOK))
	}
	return b
}

func mustItem(js string) attr.Item {
	it, err := attr.DecodeItemJSON([]byte(js))
	if err != nil {
		panic(fmt.Sprintf("sinkstest: bad item %s: %v", js, err))
	}
	return it
}

func (g *Gen) record(key, action string) sinks.Record {
	g.seq++
	seq := g.seq
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(seq) * time.Second)
	keys := mustItem(fmt.Sprintf(`{"pk":{"S":%q},"sk":{"N":"%d"}}`, key, seq%7))
	img := func(gen int) attr.Item {
		return mustItem(fmt.Sprintf(`{"pk":{"S":%q},"sk":{"N":"%d"},"action":{"S":%q},"gen":{"N":"%d"},
			"price":{"N":"-12.5"},"blob":{"B":"AAEC/w=="},"ok":{"BOOL":true},"none":{"NULL":true},
			"tags":{"SS":["a","b <&> \"q\""]},"nums":{"NS":["1","2.5"]},"bins":{"BS":["AQ==","Ag=="]},
			"list":{"L":[{"S":"x"},{"N":"1"},{"M":{"deep":{"L":[]}}}]},"map":{"M":{"k":{"S":"v\u00e9\u2028"}}}}`,
			key, seq%7, action, gen))
	}
	c := &engine.Change{
		TableID: 7, Table: g.Table, StreamLabel: "2026-01-02T03:04:05.678", Partition: 3, Seq: seq,
		Keys: keys, Version: conflict.Version{Wall: created.UnixNano(), Region: g.Region},
		Origin: g.Region, CreatedAt: created.UnixNano(),
	}
	switch {
	case seq%5 == 0: // a TTL delete
		c.EventName, c.OldImage, c.TTL = engine.EventRemove, img(1), true
	case seq%3 == 0:
		c.EventName, c.OldImage = engine.EventRemove, img(1)
		c.AccessKeyID = "AKIDREMOVER"
	case seq%2 == 0:
		c.EventName, c.OldImage, c.NewImage = engine.EventModify, img(1), img(2)
		c.AccessKeyID = "AKIDMODIFIER"
	default:
		c.EventName, c.NewImage = engine.EventInsert, img(1)
		if seq%4 == 1 {
			c.Origin = "eu-west-1" // a replicated write
		}
	}
	sr := streams.NewStreamRecord(c, seq, "godwit-7", g.ViewType, g.Region)
	return sinks.Record{
		SequenceNumber: sr.Dynamodb.SequenceNumber,
		Event:          LambdaRecord(sr, g.StreamARN()),
		Change:         c,
		Arrival:        created,
	}
}

// LambdaRecord is r as a Lambda event carries it: the GetRecords record
// with eventSourceARN after awsRegion (reference §6.2).
func LambdaRecord(r streams.StreamRecord, streamARN string) json.RawMessage {
	js := r.AppendJSON(nil)
	arn, _ := json.Marshal(streamARN)
	i := bytes.Index(js, []byte(`,"dynamodb":`))
	out := make([]byte, 0, len(js)+len(arn)+20)
	out = append(out, js[:i]...)
	out = append(out, `,"eventSourceARN":`...)
	out = append(out, arn...)
	return append(out, js[i:]...)
}
