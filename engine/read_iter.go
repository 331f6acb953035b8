package engine

import (
	"bytes"
	"context"
	"math"
	"math/bits"

	"github.com/cockroachdb/pebble/v2"
	"github.com/godwit-db/godwit/engine/attr"
	"github.com/godwit-db/godwit/engine/expr"
)

// The machinery Query and Scan share: turning key conditions into Pebble
// key ranges, and reading one page of entries with DynamoDB's paging,
// filtering, projection and capacity rules.

// maxPageBytes is the 1 MB of items (measured before the filter) after
// which a Query or Scan page stops.
const maxPageBytes = 1 << 20

// skOp is a sort-key condition's operator.
type skOp uint8

const (
	skNone skOp = iota
	skEQ
	skLT
	skLE
	skGT
	skGE
	skBetween
	skBeginsWith
)

// skCond is a Query's condition on the sort key: op with operands a (and b
// for BETWEEN), already checked against the key's type.
type skCond struct {
	op   skOp
	a, b attr.Value
}

// match reports whether sort-key value v satisfies c (used to check an
// ExclusiveStartKey against the query's range).
func (c skCond) match(v attr.Value) bool {
	cmp := func(x attr.Value) int {
		n, _ := attr.Compare(v, x)
		return n
	}
	switch c.op {
	case skEQ:
		return cmp(c.a) == 0
	case skLT:
		return cmp(c.a) < 0
	case skLE:
		return cmp(c.a) <= 0
	case skGT:
		return cmp(c.a) > 0
	case skGE:
		return cmp(c.a) >= 0
	case skBetween:
		return cmp(c.a) >= 0 && cmp(c.b) <= 0
	case skBeginsWith:
		if v.Type == attr.S {
			return len(v.S) >= len(c.a.S) && v.S[:len(c.a.S)] == c.a.S
		}
		return bytes.HasPrefix(v.B, c.a.B)
	}
	return true
}

// keyRange is the half-open range [lo, hi) of Pebble keys.
type keyRange struct{ lo, hi []byte }

// empty reports whether the range holds no key at all.
func (r keyRange) empty() bool { return r.hi != nil && bytes.Compare(r.lo, r.hi) >= 0 }

// sortKeyRange returns the range of the entries under prefix (which ends
// exactly where the encoded sort key begins) whose sort key satisfies c.
//
// NB: this relies only on attr.AppendKey being order-preserving and
// self-delimiting: every entry whose sort key equals v has prefix+enc(v) as
// a prefix, so prefixEnd(prefix+enc(v)) is the first key past all of them.
// begins_with(sk, p) is the range [enc(p), enc(succ(p))), succ(p) being the
// smallest string greater than every string that starts with p — this holds
// whatever bytes p contains (0x00 and 0xFF included).
func sortKeyRange(prefix []byte, c skCond) keyRange {
	end := prefixEnd(prefix)
	at := func(v attr.Value) []byte {
		return attr.AppendKey(append(make([]byte, 0, len(prefix)+16), prefix...), v)
	}
	switch c.op {
	case skEQ:
		k := at(c.a)
		return keyRange{k, prefixEnd(k)}
	case skLT:
		return keyRange{prefix, at(c.a)}
	case skLE:
		return keyRange{prefix, prefixEnd(at(c.a))}
	case skGT:
		return keyRange{prefixEnd(at(c.a)), end}
	case skGE:
		return keyRange{at(c.a), end}
	case skBetween:
		return keyRange{at(c.a), prefixEnd(at(c.b))}
	case skBeginsWith:
		if succ, ok := prefixSuccessor(c.a); ok {
			return keyRange{at(c.a), at(succ)}
		}
		return keyRange{at(c.a), end}
	}
	return keyRange{prefix, end}
}

// prefixSuccessor returns the smallest S or B value greater than every
// value that begins with v, or false when there is none (v is empty or all
// 0xFF bytes).
func prefixSuccessor(v attr.Value) (attr.Value, bool) {
	var raw []byte
	if v.Type == attr.S {
		raw = []byte(v.S)
	} else {
		raw = append([]byte(nil), v.B...)
	}
	for len(raw) > 0 && raw[len(raw)-1] == 0xFF {
		raw = raw[:len(raw)-1]
	}
	if len(raw) == 0 {
		return attr.Value{}, false
	}
	raw[len(raw)-1]++
	if v.Type == attr.S {
		// NB: the result may not be valid UTF-8; it is only ever encoded
		// as a bound, never stored or returned.
		return attr.Str(string(raw)), true
	}
	return attr.Bin(raw), true
}

// segmentHashes returns the inclusive range of key hashes that parallel
// Scan segment seg of total covers (segmentOf(h, total) == seg).
func segmentHashes(seg, total int) (lo, hi uint64) {
	lo = ceilFrac(uint64(seg), uint64(total))
	if seg+1 >= total {
		return lo, math.MaxUint64
	}
	return lo, ceilFrac(uint64(seg+1), uint64(total)) - 1
}

// ceilFrac returns ceil(n * 2^64 / d) for n < d.
func ceilFrac(n, d uint64) uint64 {
	q, r := bits.Div64(n, 0, d)
	if r != 0 {
		q++
	}
	return q
}

// readPage reads one Query or Scan page. The zero value is not usable:
// fill the configuration fields, then call scan for each key range in
// order until it reports the page full.
type readPage struct {
	ctx  context.Context
	snap *pebble.Snapshot
	m    *tableMeta
	// ix is the index read, nil for the table itself.
	ix *indexMeta
	// fetch reads each index entry's base item (an LSI asked for attributes
	// it does not project); filter and projection then see the base item.
	fetch  bool
	filter expr.Cond
	proj   expr.Projection
	// indexView returns fetched base items cut down to the index's
	// projection (ALL_PROJECTED_ATTRIBUTES with a fetch for the filter).
	indexView bool
	// countOnly is Select COUNT: items are counted, not returned.
	countOnly bool
	// limit is Limit (0: none).
	limit int

	// Results.
	items     []attr.Item
	count     int // items that passed the filter
	scanned   int // entries evaluated
	bytes     int // size of the entries evaluated (the 1 MB cap)
	baseBytes int // size of the base items fetched (fetch only)
	last      attr.Item
	// full is set when the page stopped at Limit or at 1 MB: it then has a
	// LastEvaluatedKey even if nothing follows.
	full bool
}

// keyFilter, when set, tells scan to skip an entry (without counting it)
// given its Pebble key: parallel Scan segments drop other segments' keys.
type keyFilter func(key []byte) (bool, error)

// scan reads the entries of r in key order (reverse: descending) through
// visit, until the range ends or the page is full. It returns whether the
// page is full.
func (p *readPage) scan(r keyRange, reverse bool, accept keyFilter) (bool, error) {
	if p.full || r.empty() {
		return p.full, nil
	}
	it, err := p.snap.NewIter(&pebble.IterOptions{LowerBound: r.lo, UpperBound: r.hi})
	if err != nil {
		return false, err
	}
	defer it.Close()
	valid := it.First()
	if reverse {
		valid = it.Last()
	}
	for n := 0; valid; n++ {
		if n&255 == 255 {
			if err := p.ctx.Err(); err != nil {
				return false, err
			}
		}
		ok := true
		if accept != nil {
			if ok, err = accept(it.Key()); err != nil {
				return false, err
			}
		}
		if ok {
			v, err := it.ValueAndErr()
			if err != nil {
				return false, err
			}
			if err := p.visit(v); err != nil {
				return false, err
			}
			if p.full {
				return true, nil
			}
		}
		if reverse {
			valid = it.Prev()
		} else {
			valid = it.Next()
		}
	}
	return false, it.Error()
}

// visit evaluates one stored entry (an item value, or an index value).
func (p *readPage) visit(val []byte) error {
	var item attr.Item
	var err error
	if p.ix == nil {
		_, item, err = decodeItemValue(val)
	} else {
		item, err = decodeIndexValue(val)
	}
	if err != nil {
		return err
	}
	p.scanned++
	p.bytes += attr.ItemSize(item)
	p.last = p.keyOf(item)
	full := item
	if p.fetch {
		full, err = p.baseItem(item)
		if err != nil {
			return err
		}
	}
	if full != nil && (p.filter == nil || p.filter.Eval(full)) {
		p.count++
		if !p.countOnly {
			out := full
			if p.indexView {
				out = p.m.project(p.ix, full)
			}
			if p.proj != nil {
				out = p.proj.Apply(full)
				if out == nil {
					out = attr.Item{}
				}
			}
			p.items = append(p.items, out)
		}
	}
	if (p.limit > 0 && p.scanned >= p.limit) || p.bytes >= maxPageBytes {
		p.full = true
	}
	return nil
}

// baseItem reads the table item an index entry points at (nil if it is
// gone, which a snapshot read never sees: entries and items commit together).
func (p *readPage) baseItem(entry attr.Item) (attr.Item, error) {
	pk, sk, err := p.m.keyValues(entry, false)
	if err != nil {
		return nil, err
	}
	k := p.m.newKey(pk, sk)
	_, item, err := readItem(p.snap, k.itemKey(p.m))
	if err != nil || item == nil {
		return nil, err
	}
	p.baseBytes += attr.ItemSize(item)
	return item, nil
}

// keyOf returns the LastEvaluatedKey form of an entry: the table's key
// attributes, plus the index's when reading an index.
func (p *readPage) keyOf(item attr.Item) attr.Item {
	k := make(attr.Item, 4)
	for _, n := range []string{p.m.HashKey, p.m.RangeKey} {
		if v, ok := item[n]; ok && n != "" {
			k[n] = v
		}
	}
	if p.ix != nil {
		for _, n := range []string{p.ix.HashKey, p.ix.RangeKey} {
			if v, ok := item[n]; ok && n != "" {
				k[n] = v
			}
		}
	}
	return k
}

// lastEvaluatedKey is the page's LastEvaluatedKey (nil when the range was
// exhausted before Limit or 1 MB).
func (p *readPage) lastEvaluatedKey() attr.Item {
	if !p.full {
		return nil
	}
	return p.last
}

// itemsOut is the response's Items: always a list (possibly empty), except
// for Select COUNT, which has none.
func (p *readPage) itemsOut() []attr.Item {
	if p.countOnly {
		return nil
	}
	if p.items == nil {
		return []attr.Item{}
	}
	return p.items
}

// meter returns the page's read capacity: the sizes read summed, then
// rounded up to 4 KB once (the index's for an index read, the base items'
// for fetched ones).
func (p *readPage) meter(tableName string, consistent bool) capacityMeter {
	c := capacityMeter{table: tableName, read: true}
	if p.ix == nil {
		c.units = readUnits(p.bytes, consistent)
		return c
	}
	c.addIndex(p.ix.Name, readUnits(p.bytes, consistent))
	if p.fetch {
		c.units = readUnits(p.baseBytes, consistent)
	}
	return c
}

// splitKey returns the encoded partition key at the front of b (the part of
// a Pebble key after its table, partition or index prefix).
func splitKey(t attr.Type, b []byte) ([]byte, error) {
	_, rest, err := attr.DecodeKey(t, b)
	if err != nil {
		return nil, err
	}
	return b[:len(b)-len(rest)], nil
}
