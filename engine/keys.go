package engine

import (
	"encoding/binary"
	"hash/fnv"
	"math/bits"
)

// The Pebble keyspace. Every key starts with one of these prefix bytes. The
// layout is a persisted format: change it only with a new storeFormat.
//
//	catalog   0x01 | table name                                    -> table metadata (JSON, versioned)
//	meta      0x02 | name                                          -> store-wide values (format, next table id)
//	item      0x10 | table id (4) | partition (2) | key(pk) | key(sk) -> itemValue
//	index     0x11 | table id (4) | index id (2) | key(ipk) | key(isk) | key(pk) | key(sk) -> indexValue
//	stats     0x12 | table id (4) | partition (2)                   -> item count, bytes
//	outbox    0x13 | table id (4) | partition (2) | seq (8)         -> change record (streams)
//	tombstone 0x14 | table id (4) | partition (2) | key(pk) | key(sk) -> deleted item's version (replica.go)
//	applied   0x15 | table id (4) | source region | 0x00 | partition (2) -> replication position (replica.go)
//	dropped   0x02 | "dropped/" | table id (4)                    -> a deleted table's kept outbox (dropped.go)
//
// key(x) is attr.AppendKey: order-preserving and self-delimiting, so a
// partition's items sort by (pk, sk) in DynamoDB order.
const (
	prefixCatalog   byte = 0x01
	prefixMeta      byte = 0x02
	prefixItem      byte = 0x10
	prefixIndex     byte = 0x11
	prefixStats     byte = 0x12
	prefixOutbox    byte = 0x13
	prefixTombstone byte = 0x14
	prefixApplied   byte = 0x15
)

// storeFormat is the version of the whole keyspace layout, recorded under
// meta "format" when a store is created.
const storeFormat = 1

// Value formats: the first byte of every item and index value. Item value
// format 2 adds the version the item was written over (see item.go); both
// item formats are read.
const (
	itemValueFormat   byte = 2
	itemValueFormatV1 byte = 1
	indexValueFormat  byte = 1
)

func metaKey(name string) []byte { return append([]byte{prefixMeta}, name...) }

func catalogKey(table string) []byte { return append([]byte{prefixCatalog}, table...) }

// tablePrefix is the first key of a table's items (prefixItem) or index
// entries (prefixIndex).
func tablePrefix(prefix byte, tableID uint32) []byte {
	b := make([]byte, 5, 64)
	b[0] = prefix
	binary.BigEndian.PutUint32(b[1:], tableID)
	return b
}

// partitionPrefix is the first key of one partition's items.
func partitionPrefix(tableID uint32, part int) []byte {
	return binary.BigEndian.AppendUint16(tablePrefix(prefixItem, tableID), uint16(part))
}

// indexPrefix is the first key of one index's entries.
func indexPrefix(tableID uint32, indexID uint16) []byte {
	return binary.BigEndian.AppendUint16(tablePrefix(prefixIndex, tableID), indexID)
}

func statsKey(tableID uint32, part int) []byte {
	return binary.BigEndian.AppendUint16(tablePrefix(prefixStats, tableID), uint16(part))
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // p is all 0xff: no upper bound
}

// keyHash is the stable 64-bit hash of a partition key's encoded bytes. It
// picks the item's partition and its parallel-scan segment, so it is part of
// the persisted format.
func keyHash(encPK []byte) uint64 {
	h := fnv.New64a()
	h.Write(encPK)
	return h.Sum64()
}

// partitionOf maps a hash onto one of n partitions by range, so that
// partition order is hash order (parallel Scan segments are hash ranges).
func partitionOf(hash uint64, n int) int {
	hi, _ := bits.Mul64(hash, uint64(n))
	return int(hi)
}

// segmentOf maps a hash onto one of n Scan segments by range.
func segmentOf(hash uint64, n int) int { return partitionOf(hash, n) }
