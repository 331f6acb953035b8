package engine

import (
	"crypto/sha256"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/attr"
)

// Digests for replica verification (godwit verify): ranged hashes over a
// partition's items and tombstones, comparable between regions.
//
// Each entry (a live item or a tombstone) hashes to
//
//	SHA-256( digestFormat | key(pk)key(sk) | conflict.Version | 1 | attr item encoding )   item
//	SHA-256( digestFormat | key(pk)key(sk) | conflict.Version | 0 )                        tombstone
//
// and falls in bucket keyHash(key(pk)key(sk)) mod buckets. A bucket's
// digest is the XOR of its entries' hashes and their count: independent of
// order, and equal in two regions iff they hold the same keys at the same
// versions with the same items (up to SHA-256 collisions). The item
// encoding is canonical (attributes sorted), and the version a write was
// made over is left out, so data written with either item value format
// hashes alike. Replicas converge on versions too, so equal data written
// independently in two regions (different versions) differs.
const digestFormat byte = 1

// MaxDigestBuckets bounds the buckets of one TableDigest.
const MaxDigestBuckets = 1 << 16

// BucketDigest is the digest of one bucket of a partition.
type BucketDigest struct {
	Count int
	Hash  [sha256.Size]byte
}

// DigestEntry is one entry of a bucket: an item, or a tombstone (Deleted).
type DigestEntry struct {
	Key     attr.Item // the primary key attributes
	Version conflict.Version
	Deleted bool
	Hash    [sha256.Size]byte
}

// TableDigest returns the digests of buckets buckets of one partition of a
// table, from one consistent snapshot (items and tombstones alike). It
// reads the whole partition; it does not block writers.
func (db *DB) TableDigest(table string, part, buckets int) ([]BucketDigest, error) {
	out := make([]BucketDigest, max(buckets, 0))
	err := db.digestScan(table, part, buckets, -1, func(bucket int, _ []byte, e *DigestEntry) error {
		d := &out[bucket]
		d.Count++
		for i := range d.Hash {
			d.Hash[i] ^= e.Hash[i]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DigestKeys lists the entries of one bucket of TableDigest(table, part,
// buckets), in key order (items before tombstones).
func (db *DB) DigestKeys(table string, part, bucket, buckets int) ([]DigestEntry, error) {
	var out []DigestEntry
	if bucket < 0 || bucket >= buckets {
		return nil, fmt.Errorf("engine: digest bucket %d out of range 0..%d", bucket, buckets-1)
	}
	err := db.digestScan(table, part, buckets, bucket, func(_ int, _ []byte, e *DigestEntry) error {
		out = append(out, *e)
		return nil
	})
	return out, err
}

// digestScan calls fn with every entry of a partition (of bucket only,
// when bucket ≥ 0). e.Key is set only when bucket ≥ 0.
func (db *DB) digestScan(table string, part, buckets, bucket int, fn func(bucket int, enc []byte, e *DigestEntry) error) error {
	t := db.table(resolveTableName(table))
	if t == nil {
		return apierr.TableNotFound(table)
	}
	if part < 0 || part >= len(t.parts) {
		return fmt.Errorf("engine: table %s has no partition %d", table, part)
	}
	if buckets < 1 || buckets > MaxDigestBuckets {
		return fmt.Errorf("engine: digest buckets %d out of range 1..%d", buckets, MaxDigestBuckets)
	}
	m := t.m()
	snap := db.pebble.NewSnapshot()
	defer snap.Close()
	var e DigestEntry
	buf := make([]byte, 0, 256)
	scan := func(prefix []byte, tomb bool) error {
		it, err := snap.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
		if err != nil {
			return err
		}
		defer it.Close()
		for it.First(); it.Valid(); it.Next() {
			enc := it.Key()[len(prefix):]
			b := int(keyHash(enc) % uint64(buckets))
			if bucket >= 0 && b != bucket {
				continue
			}
			e = DigestEntry{Deleted: tomb}
			buf = append(buf[:0], digestFormat)
			buf = append(buf, enc...)
			if tomb {
				ts, err := decodeTombstone(it.Value())
				if err != nil {
					return fmt.Errorf("engine: tombstone %x: %w", it.Key(), err)
				}
				e.Version = ts.stamp.Version
				buf = e.Version.AppendBinary(buf)
				buf = append(buf, 0)
			} else {
				item, v, err := itemBytes(it.Value())
				if err != nil {
					return fmt.Errorf("engine: item %x: %w", it.Key(), err)
				}
				e.Version = v
				buf = e.Version.AppendBinary(buf)
				buf = append(buf, 1)
				buf = append(buf, item...)
			}
			e.Hash = sha256.Sum256(buf)
			if bucket >= 0 {
				if e.Key, err = m.decodeKeyEnc(enc); err != nil {
					return fmt.Errorf("engine: key %x: %w", it.Key(), err)
				}
			}
			if err := fn(b, enc, &e); err != nil {
				return err
			}
		}
		return it.Error()
	}
	if err := scan(partitionPrefix(m.ID, part), false); err != nil {
		return err
	}
	return scan(tombstonePartPrefix(m.ID, part), true)
}

func tombstonePartPrefix(tableID uint32, part int) []byte {
	b := tablePrefix(prefixTombstone, tableID)
	return append(b, byte(part>>8), byte(part))
}

// decodeKeyEnc decodes a primary key's encoding (key(pk) key(sk)).
func (m *tableMeta) decodeKeyEnc(enc []byte) (attr.Item, error) {
	pk, rest, err := attr.DecodeKey(m.HashType, enc)
	if err != nil {
		return nil, err
	}
	it := attr.Item{m.HashKey: pk}
	if m.RangeKey != "" {
		sk, r, err := attr.DecodeKey(m.RangeType, rest)
		if err != nil {
			return nil, err
		}
		it[m.RangeKey], rest = sk, r
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("engine: %d bytes after the key", len(rest))
	}
	return it, nil
}
