package streams

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// A shard iterator is what GetShardIterator hands out and GetRecords takes
// back. It is opaque to clients and tamper-proof:
//
//	<stream ARN> "|1|" base64url( payload ‖ HMAC-SHA256(key, <ARN>|1|payload) )
//	payload = format(2) tableID(u32 BE) partition(uvarint) shardCreatedMs(varint)
//	          pos(uvarint) issuedMs(varint)
//
// (the "<ARN>|1|..." outline is AWS's own, localstack#8439). pos is the
// position (Pos) of the next record to read on the partition's subject; 0
// means the trim horizon, which is never "trimmed". issuedMs starts the
// 15-minute life. Format 1 (before layout 2) held the next JetStream
// sequence instead: it is still accepted, as the position Pos(seq, 0), so
// iterators issued before an upgrade keep working.
// An ARN is at most 1024 characters and the rest under 100, so an iterator
// stays well inside the 2048 characters AWS allows.
type shardIterator struct {
	arn       string
	tableID   uint32
	partition int
	createdMs int64
	pos       uint64
	issuedMs  int64
}

const (
	iteratorFormat   byte = 2
	iteratorFormatV1 byte = 1 // pos is a JetStream sequence
	iteratorSep           = "|1|"
	iteratorMACLen        = sha256.Size
)

var errBadIterator = errors.New("streams: malformed shard iterator")

// iteratorCodec signs and checks iterators with one key.
type iteratorCodec struct{ key []byte }

func (c iteratorCodec) mac(arn string, payload []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(arn))
	m.Write([]byte(iteratorSep))
	m.Write(payload)
	return m.Sum(nil)
}

// encode returns it's text.
func (c iteratorCodec) encode(it shardIterator) string {
	p := make([]byte, 0, 48)
	p = append(p, iteratorFormat)
	p = binary.BigEndian.AppendUint32(p, it.tableID)
	p = binary.AppendUvarint(p, uint64(it.partition))
	p = binary.AppendVarint(p, it.createdMs)
	p = binary.AppendUvarint(p, it.pos)
	p = binary.AppendVarint(p, it.issuedMs)
	p = append(p, c.mac(it.arn, p)...)
	return it.arn + iteratorSep + base64.RawURLEncoding.EncodeToString(p)
}

// decode parses and authenticates s. Any malformed or forged input is
// errBadIterator; it never panics.
func (c iteratorCodec) decode(s string) (shardIterator, error) {
	i := strings.LastIndex(s, iteratorSep)
	if i <= 0 {
		return shardIterator{}, errBadIterator
	}
	arn := s[:i]
	raw, err := base64.RawURLEncoding.DecodeString(s[i+len(iteratorSep):])
	if err != nil || len(raw) < 1+4+iteratorMACLen {
		return shardIterator{}, errBadIterator
	}
	payload, sum := raw[:len(raw)-iteratorMACLen], raw[len(raw)-iteratorMACLen:]
	if !hmac.Equal(sum, c.mac(arn, payload)) || payload[0] != iteratorFormat && payload[0] != iteratorFormatV1 {
		return shardIterator{}, errBadIterator
	}
	it := shardIterator{arn: arn, tableID: binary.BigEndian.Uint32(payload[1:5])}
	d := payload[5:]
	var ok bool
	var part uint64
	if part, d, ok = uvarint(d); !ok || part > 1<<16 {
		return shardIterator{}, errBadIterator
	}
	it.partition = int(part)
	if it.createdMs, d, ok = varint(d); !ok {
		return shardIterator{}, errBadIterator
	}
	if it.pos, d, ok = uvarint(d); !ok {
		return shardIterator{}, errBadIterator
	}
	if it.issuedMs, d, ok = varint(d); !ok || len(d) != 0 {
		return shardIterator{}, errBadIterator
	}
	if payload[0] == iteratorFormatV1 {
		if it.pos >= 1<<(64-posBits) {
			return shardIterator{}, errBadIterator
		}
		it.pos = Pos(it.pos, 0)
	}
	return it, nil
}

func uvarint(b []byte) (uint64, []byte, bool) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, false
	}
	return v, b[n:], true
}

func varint(b []byte) (int64, []byte, bool) {
	v, n := binary.Varint(b)
	if n <= 0 {
		return 0, nil, false
	}
	return v, b[n:], true
}

// The iterator key lives in a JetStream key-value bucket, so that iterators
// survive a restart of godwit (and would be shared by several nodes of one
// region) without anything in the data directory.
const (
	keyBucket      = "GODWIT_STREAMS"
	iteratorKeyKey = "iterator-hmac-key"
	iteratorKeyLen = 32
)

// loadIteratorKey returns the region's iterator key, creating it (32 random
// bytes) on first use. Concurrent first uses agree on one key: the bucket's
// Create is atomic.
func loadIteratorKey(ctx context.Context, js jetstream.JetStream) ([]byte, error) {
	kv, err := js.KeyValue(ctx, keyBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      keyBucket,
			Description: "godwit streams: secrets (shard iterator key)",
			History:     1,
			Storage:     jetstream.FileStorage,
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, keyBucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("streams: open key bucket %s: %w", keyBucket, err)
	}
	key := make([]byte, iteratorKeyLen)
	_, _ = rand.Read(key) // crypto/rand.Read never fails
	if _, err := kv.Create(ctx, iteratorKeyKey, key); err == nil {
		return key, nil
	} else if !errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("streams: store iterator key: %w", err)
	}
	e, err := kv.Get(ctx, iteratorKeyKey)
	if err != nil {
		return nil, fmt.Errorf("streams: read iterator key: %w", err)
	}
	if len(e.Value()) < 16 {
		return nil, fmt.Errorf("streams: iterator key in bucket %s is %d bytes, want at least 16", keyBucket, len(e.Value()))
	}
	return e.Value(), nil
}
