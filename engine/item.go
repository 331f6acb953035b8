package engine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/attr"
)

// Limits (reference §2.2).
const (
	maxItemSize      = 400 * 1024
	maxHashKeySize   = 2048
	maxRangeKeySize  = 1024
	maxIndexNameSize = 255
)

// encodeItemValue is the first stored form of an item (item value format
// 1): format byte, its conflict.Version, then attr's binary item encoding.
// Writes use encodeItemValuePrev; this one is kept for data whose previous
// version is unknown.
func encodeItemValue(v conflict.Version, it attr.Item) []byte {
	b := make([]byte, 0, 64)
	b = append(b, itemValueFormatV1)
	b = v.AppendBinary(b)
	return attr.AppendItem(b, it)
}

// encodeItemValuePrev is the stored form of an item (item value format 2):
// format byte, its conflict.Version, the version it was written over
// (conflict.Stamp.Prev), then attr's binary item encoding.
func encodeItemValuePrev(v, prev conflict.Version, it attr.Item) []byte {
	b := make([]byte, 0, 96)
	b = append(b, itemValueFormat)
	b = v.AppendBinary(b)
	b = prev.AppendBinary(b)
	return attr.AppendItem(b, it)
}

func decodeItemValue(b []byte) (conflict.Version, attr.Item, error) {
	st, it, err := decodeItemStamp(b)
	return st.Version, it, err
}

// decodeItemStamp decodes an item value of either format; PrevKnown tells
// which.
func decodeItemStamp(b []byte) (conflict.Stamp, attr.Item, error) {
	if len(b) == 0 || (b[0] != itemValueFormat && b[0] != itemValueFormatV1) {
		return conflict.Stamp{}, nil, fmt.Errorf("engine: unknown item value format")
	}
	var st conflict.Stamp
	v, rest, err := conflict.DecodeVersion(b[1:])
	if err != nil {
		return st, nil, err
	}
	st.Version = v
	if b[0] == itemValueFormat {
		if st.Prev, rest, err = conflict.DecodeVersion(rest); err != nil {
			return st, nil, err
		}
		st.PrevKnown = true
	}
	it, err := attr.DecodeItem(rest)
	return st, it, err
}

// itemBytes returns the attr encoding of the item inside a stored item
// value (either format), without decoding it.
func itemBytes(b []byte) ([]byte, conflict.Version, error) {
	if len(b) == 0 || (b[0] != itemValueFormat && b[0] != itemValueFormatV1) {
		return nil, conflict.Version{}, fmt.Errorf("engine: unknown item value format")
	}
	v, rest, err := conflict.DecodeVersion(b[1:])
	if err == nil && b[0] == itemValueFormat {
		_, rest, err = conflict.DecodeVersion(rest)
	}
	return rest, v, err
}

// readItem reads the item at key (nil if absent) and its version.
func readItem(r pebble.Reader, key []byte) (conflict.Version, attr.Item, error) {
	st, it, err := readItemStamp(r, key)
	return st.Version, it, err
}

// readItemStamp reads the item at key (nil if absent) with its version and
// the version it was written over.
func readItemStamp(r pebble.Reader, key []byte) (conflict.Stamp, attr.Item, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return conflict.Stamp{}, nil, nil
	}
	if err != nil {
		return conflict.Stamp{}, nil, err
	}
	defer closer.Close()
	return decodeItemStamp(v)
}

// primaryKey is an item's key, validated against its table.
type primaryKey struct {
	pk, sk attr.Value
	enc    []byte // attr.AppendKey(pk) + attr.AppendKey(sk)
	part   int
}

// itemKey is the Pebble key of the item.
func (k *primaryKey) itemKey(m *tableMeta) []byte {
	return append(partitionPrefix(m.ID, k.part), k.enc...)
}

// item returns the key attributes as an item.
func (k *primaryKey) item(m *tableMeta) attr.Item {
	it := attr.Item{m.HashKey: k.pk}
	if m.RangeKey != "" {
		it[m.RangeKey] = k.sk
	}
	return it
}

func (m *tableMeta) newKey(pk, sk attr.Value) primaryKey {
	enc := attr.AppendKey(make([]byte, 0, 32), pk)
	h := keyHash(enc)
	if m.RangeKey != "" {
		enc = attr.AppendKey(enc, sk)
	}
	return primaryKey{pk: pk, sk: sk, enc: enc, part: partitionOf(h, m.Partitions)}
}

// keyFromKey validates a request's Key (exactly the key attributes) and returns it.
func (m *tableMeta) keyFromKey(key attr.Item) (primaryKey, error) {
	want := 1
	if m.RangeKey != "" {
		want = 2
	}
	if len(key) != want {
		return primaryKey{}, apierr.Validation("The provided key element does not match the schema")
	}
	pk, sk, err := m.keyValues(key, false)
	if err != nil {
		return primaryKey{}, err
	}
	return m.newKey(pk, sk), nil
}

// keyFromItem extracts and validates the key of a whole item (PutItem).
func (m *tableMeta) keyFromItem(it attr.Item) (primaryKey, error) {
	pk, sk, err := m.keyValues(it, true)
	if err != nil {
		return primaryKey{}, err
	}
	return m.newKey(pk, sk), nil
}

func (m *tableMeta) keyValues(it attr.Item, inItem bool) (pk, sk attr.Value, err error) {
	pk, err = checkKeyAttr(it, m.HashKey, m.HashType, maxHashKeySize, "hashkey", inItem)
	if err != nil {
		return
	}
	if m.RangeKey != "" {
		sk, err = checkKeyAttr(it, m.RangeKey, m.RangeType, maxRangeKeySize, "rangekey", inItem)
	}
	return
}

func checkKeyAttr(it attr.Item, name string, t attr.Type, max int, what string, inItem bool) (attr.Value, error) {
	v, ok := it[name]
	if !ok {
		if inItem {
			return v, apierr.Validation("One or more parameter values were invalid: Missing the key %s in the item", name)
		}
		return v, apierr.Validation("The provided key element does not match the schema")
	}
	if v.Type != t {
		if inItem {
			return v, apierr.Validation("One or more parameter values were invalid: Type mismatch for key %s expected: %s actual: %s", name, t, v.Type)
		}
		return v, apierr.Validation("The provided key element does not match the schema")
	}
	if (t == attr.S && v.S == "") || (t == attr.B && len(v.B) == 0) {
		return v, apierr.Validation("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty %s value. Key: %s", emptyWhat(t), name)
	}
	size := len(v.S)
	if t == attr.B {
		size = len(v.B)
	}
	if t != attr.N && size > max {
		return v, keySizeError(what)
	}
	return v, nil
}

// keySizeError is DynamoDB's answer to a key value over its size limit;
// what is "hashkey" or "rangekey". NB: both texts are AWS's, quirks included
// (no space in "of2048", "all range keys" although there is only one).
func keySizeError(what string) error {
	if what == "rangekey" {
		return apierr.Validation("One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of %d bytes", maxRangeKeySize)
	}
	return apierr.Validation("One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of%d bytes", maxHashKeySize)
}

func emptyWhat(t attr.Type) string {
	if t == attr.B {
		return "binary"
	}
	return "string"
}

// checkItem validates a whole new item against the table: size and the
// types of secondary index key attributes.
func (m *tableMeta) checkItem(it attr.Item) error {
	if attr.ItemSize(it) > maxItemSize {
		return apierr.Validation("Item size has exceeded the maximum allowed size")
	}
	for _, ix := range m.Indexes {
		if !ix.maintained() {
			continue
		}
		if err := checkIndexAttr(it, ix, ix.HashKey, ix.HashType); err != nil {
			return err
		}
		if ix.RangeKey != "" {
			if err := checkIndexAttr(it, ix, ix.RangeKey, ix.RangeType); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkIndexAttr(it attr.Item, ix *indexMeta, name string, t attr.Type) error {
	v, ok := it[name]
	if !ok {
		return nil
	}
	if v.Type != t {
		return apierr.Validation("One or more parameter values were invalid: Type mismatch for Index Key %s Expected: %s Actual: %s IndexName: %s", name, t, v.Type, ix.Name)
	}
	if (t == attr.S && v.S == "") || (t == attr.B && len(v.B) == 0) {
		return apierr.Validation("One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty %s value. IndexName: %s, IndexKey: %s", emptyWhat(t), ix.Name, name)
	}
	return nil
}

// indexEntry returns the Pebble key and value of it's entry in ix, or nil if
// the item lacks the index's key attributes.
func (m *tableMeta) indexEntry(ix *indexMeta, k *primaryKey, it attr.Item) (key, val []byte) {
	hv, ok := it[ix.HashKey]
	if !ok || hv.Type != ix.HashType {
		return nil, nil
	}
	key = indexPrefix(m.ID, ix.ID)
	key = attr.AppendKey(key, hv)
	if ix.RangeKey != "" {
		rv, ok := it[ix.RangeKey]
		if !ok || rv.Type != ix.RangeType {
			return nil, nil
		}
		key = attr.AppendKey(key, rv)
	}
	key = append(key, k.enc...)
	val = append([]byte{indexValueFormat}, attr.AppendItem(nil, m.project(ix, it))...)
	return key, val
}

// project returns the attributes of it that ix stores.
func (m *tableMeta) project(ix *indexMeta, it attr.Item) attr.Item {
	if ix.ProjectionType == "ALL" {
		return it
	}
	out := make(attr.Item, 4+len(ix.NonKeyAttributes))
	for _, n := range []string{m.HashKey, m.RangeKey, ix.HashKey, ix.RangeKey} {
		if v, ok := it[n]; ok && n != "" {
			out[n] = v
		}
	}
	for _, n := range ix.NonKeyAttributes {
		if v, ok := it[n]; ok {
			out[n] = v
		}
	}
	return out
}

func decodeIndexValue(b []byte) (attr.Item, error) {
	if len(b) == 0 || b[0] != indexValueFormat {
		return nil, fmt.Errorf("engine: unknown index value format")
	}
	return attr.DecodeItem(b[1:])
}

// resolveTableName accepts a table name or a table ARN.
func resolveTableName(name string) string {
	if strings.HasPrefix(name, "arn:") {
		if i := strings.Index(name, ":table/"); i >= 0 {
			rest := name[i+len(":table/"):]
			if j := strings.IndexByte(rest, '/'); j >= 0 {
				rest = rest[:j]
			}
			return rest
		}
	}
	return name
}

// activeTable returns the named table for a data-plane operation. A
// missing table gets the answer AWS gives the data plane: the bare
// "Requested resource not found" (only the control plane names the table,
// "...: Table: X not found"; dynalite and boto3 logs agree).
func (db *DB) activeTable(name string) (*table, *tableMeta, error) {
	t := db.table(resolveTableName(name))
	if t == nil {
		return nil, nil, apierr.ResourceNotFound("Requested resource not found")
	}
	return t, t.m(), nil
}
