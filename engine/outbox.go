package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/godwit-db/godwit/engine/attr"
)

// EventListener receives the engine's notifications (pebble EventListener
// style). Callbacks run on engine goroutines and must not block: they
// should only signal the work they start.
type EventListener struct {
	// ChangesCommitted is called after a group commit made changes up to
	// lastSeq of (tableID, partition) durable in the outbox, in commit
	// order per partition. entries, when not nil, are the entries that
	// commit appended, exactly as ReadOutboxRaw would return them, ending
	// at lastSeq: a publisher that is keeping up takes them from here
	// instead of reading them back (their Data is a fresh buffer it may
	// keep). nil means the engine did not collect them.
	ChangesCommitted func(tableID uint32, partition int, lastSeq uint64, entries []OutboxEntry)
	// TableChanged is called after a table's definition changed (created,
	// updated, deleted), with its name.
	TableChanged func(table string)
}

func (db *DB) notifyChanges(tableID uint32, part int, lastSeq uint64, entries []OutboxEntry) {
	if f := db.cfg.Listener.ChangesCommitted; f != nil {
		f(tableID, part, lastSeq, entries)
	}
}

// maxHandedEntries bounds the entries one notification carries; a group
// that appended more is announced without them.
const maxHandedEntries = 4096

// committedEntries returns the outbox entries (after, upto] of a partition
// as batch b holds them, parsed as ReadOutboxRaw parses them, with their
// Data copied into one fresh buffer; nil unless b holds exactly those
// entries, in order, and at most maxHandedEntries of them.
func committedEntries(b *pebble.Batch, tableID uint32, part int, after, upto uint64) []OutboxEntry {
	if upto <= after || upto-after > maxHandedEntries {
		return nil
	}
	prefix := outboxKey(tableID, part, 0)
	prefix = prefix[:len(prefix)-8]
	// NB: two passes over the batch: the first sizes the buffer, so that
	// the entries' Data can point into it as it is filled.
	size, n := 0, 0
	r := b.Reader()
	for {
		kind, k, v, ok, err := r.Next()
		if err != nil {
			return nil
		}
		if !ok {
			break
		}
		if len(k) == len(prefix)+8 && bytes.HasPrefix(k, prefix) {
			if kind != pebble.InternalKeyKindSet || binary.BigEndian.Uint64(k[len(prefix):]) != after+uint64(n)+1 {
				return nil
			}
			size += len(v)
			n++
		}
	}
	if uint64(n) != upto-after {
		return nil
	}
	buf := make([]byte, 0, size)
	out := make([]OutboxEntry, 0, n)
	var label, origin string
	r = b.Reader()
	for {
		_, k, v, ok, err := r.Next()
		if err != nil || !ok {
			break
		}
		if len(k) != len(prefix)+8 || !bytes.HasPrefix(k, prefix) {
			continue
		}
		start := len(buf)
		buf = append(buf, v...)
		e, err := parseOutboxEntry(buf[start:len(buf):len(buf)], label, origin)
		if err != nil {
			return nil
		}
		label, origin = e.StreamLabel, e.Origin
		out = append(out, e)
	}
	if len(out) != n {
		return nil
	}
	return out
}

func (db *DB) notifyTable(name string) {
	if f := db.cfg.Listener.TableChanged; f != nil {
		f(name)
	}
}

func outboxKey(tableID uint32, part int, seq uint64) []byte {
	k := binary.BigEndian.AppendUint16(tablePrefix(prefixOutbox, tableID), uint16(part))
	return binary.BigEndian.AppendUint64(k, seq)
}

// recordChange appends w's change record to the partition's outbox when the
// table has a stream. d.Seq is the partition's running sequence.
func (db *DB) recordChange(b *pebble.Batch, d *partStats, m *tableMeta, w *itemWrite) error {
	if m.Stream == nil || !m.Stream.Enabled {
		return nil
	}
	d.Seq++
	c := Change{
		TableID:     m.ID,
		Table:       m.Name,
		StreamLabel: m.Stream.Label,
		Partition:   w.key.part,
		Seq:         d.Seq,
		Keys:        w.key.item(m),
		OldImage:    w.old,
		NewImage:    w.new,
		Version:     w.version,
		PrevVersion: w.prev,
		Origin:      w.version.Region,
		CreatedAt:   db.clock.PhysicalNow().UnixNano(),
		TTL:         w.ttl,
		AccessKeyID: w.accessKey,
	}
	switch {
	case w.old == nil:
		c.EventName = EventInsert
	case w.new == nil:
		c.EventName = EventRemove
	default:
		c.EventName = EventModify
	}
	// NB: Set copies the key and value into the batch; the buffer is reused.
	buf := changeBufs.Get().(*[]byte)
	*buf = c.AppendBinary((*buf)[:0])
	err := b.Set(outboxKey(m.ID, w.key.part, d.Seq), *buf, nil)
	if cap(*buf) <= 64<<10 {
		changeBufs.Put(buf)
	}
	return err
}

// changeBufs holds recordChange's encoding buffers.
var changeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// ReadOutbox returns up to max changes of a partition's outbox with
// sequence greater than after, in sequence order.
func (db *DB) ReadOutbox(tableID uint32, part int, after uint64, max int) ([]*Change, error) {
	lo := outboxKey(tableID, part, after+1)
	hi := prefixEnd(outboxKey(tableID, part, 0)[:7])
	it, err := db.pebble.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []*Change
	for it.First(); it.Valid() && len(out) < max; it.Next() {
		c, err := DecodeChange(it.Value())
		if err != nil {
			return out, fmt.Errorf("engine: outbox %d/%d at %x: %w", tableID, part, it.Key(), err)
		}
		out = append(out, c)
	}
	return out, it.Error()
}

// TrimOutbox deletes a partition's outbox entries up to and including upto.
// Idempotent; the deletion need not be synced (a lost trim re-publishes
// entries that the publisher deduplicates).
func (db *DB) TrimOutbox(tableID uint32, part int, upto uint64) error {
	return db.pebble.DeleteRange(outboxKey(tableID, part, 0), outboxKey(tableID, part, upto+1), pebble.NoSync)
}

// OutboxHead returns the last sequence assigned in a partition's outbox
// (as of the partition's last commit), or false if the table does not exist.
func (db *DB) OutboxHead(table string, part int) (uint64, bool) {
	t := db.table(table)
	if t == nil || part < 0 || part >= len(t.parts) {
		return 0, false
	}
	return t.parts[part].currentStats().Seq, true
}

// TableInfo is what other packages (streams, global tables) need to know
// about a table.
type TableInfo struct {
	Name       string
	ID         uint32
	Partitions int
	CreatedAt  float64 // epoch seconds
	HashKey    string
	HashType   attr.Type
	RangeKey   string // "" when the table has no sort key
	RangeType  attr.Type
	// Stream is the enabled stream, nil when none is enabled.
	Stream *StreamInfo
	// LatestStreamLabel is the label of the last stream enabled (kept after disabling).
	LatestStreamLabel string
	// LatestStreamViewType is the view type of that stream.
	LatestStreamViewType string
	// Dropped marks a deleted table whose outbox is kept until published
	// (see DroppedTables).
	Dropped bool
}

// StreamInfo is a table's enabled stream.
type StreamInfo struct {
	Label    string
	ViewType string
}

// Table returns a table's info, or false if it does not exist.
func (db *DB) Table(name string) (TableInfo, bool) {
	t := db.table(resolveTableName(name))
	if t == nil {
		return TableInfo{}, false
	}
	return db.tableInfo(t)
}

func (db *DB) tableInfo(t *table) (TableInfo, bool) {
	m := t.m()
	info := TableInfo{
		Name: m.Name, ID: m.ID, Partitions: m.Partitions, CreatedAt: m.CreatedAt,
		HashKey: m.HashKey, HashType: m.HashType, RangeKey: m.RangeKey, RangeType: m.RangeType,
		LatestStreamLabel: m.LatestStreamLabel,
	}
	if m.Stream != nil {
		info.LatestStreamViewType = m.Stream.ViewType
		if m.Stream.Enabled {
			info.Stream = &StreamInfo{Label: m.Stream.Label, ViewType: m.Stream.ViewType}
		}
	}
	return info, true
}

// Tables returns every table's info, sorted by name.
func (db *DB) Tables() []TableInfo {
	names := db.tableNames()
	out := make([]TableInfo, 0, len(names))
	for _, n := range names {
		if info, ok := db.Table(n); ok {
			out = append(out, info)
		}
	}
	return out
}

// Region is the region this DB stamps its writes with.
func (db *DB) Region() string { return db.cfg.Region }

// AccountID is the account id used in ARNs.
func (db *DB) AccountID() string { return db.cfg.AccountID }

// OutboxEntry is one outbox entry as stored, for a publisher that forwards
// it without decoding it: Data is the entry's Change in AppendBinary
// encoding (the stored value), and the other fields are the few the
// publisher needs, parsed from it without decoding the images.
type OutboxEntry struct {
	Seq         uint64
	StreamLabel string
	Origin      string
	CreatedAt   int64 // Unix nanoseconds
	Data        []byte
}

// ReadOutboxRaw appends to dst up to max entries of a partition's outbox
// with sequence in (after, upto], in sequence order, and returns the
// extended slice. Entries' Data share one fresh buffer per call, which the
// caller owns (it is never reused). Equal labels and origins of
// consecutive entries share one string.
func (db *DB) ReadOutboxRaw(tableID uint32, part int, after, upto uint64, max int, dst []OutboxEntry) ([]OutboxEntry, error) {
	if upto <= after || max <= 0 {
		return dst, nil
	}
	start := len(dst)
	if upto-after <= outboxGetMax {
		// NB: a publisher keeping up reads a few entries just committed,
		// which are in the memtable: a point Get finds each there without
		// touching the sstables an iterator would have to seek in (every
		// sstable spanning the partition's outbox keys).
		var err error
		dst, err = db.getOutbox(tableID, part, after, min(upto, after+uint64(max)), dst)
		if err != nil {
			return dst, err
		}
		n := uint64(len(dst) - start)
		if after += n; after == upto || int(n) == max {
			return dst, nil
		}
		max -= int(n) // an entry is missing (trimmed): iterate over the rest
	}
	lo := outboxKey(tableID, part, after+1)
	var hi []byte
	if upto == ^uint64(0) {
		hi = prefixEnd(outboxKey(tableID, part, 0)[:7])
	} else {
		hi = outboxKey(tableID, part, upto+1)
	}
	it, err := db.pebble.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return dst, err
	}
	defer it.Close()
	start = len(dst)
	var buf []byte
	var label, origin string
	for it.First(); it.Valid() && len(dst)-start < max; it.Next() {
		v := it.Value()
		if buf == nil || cap(buf)-len(buf) < len(v) {
			// NB: one buffer for many entries; a new one when it is full
			// (earlier entries keep pointing into the old one).
			buf = make([]byte, 0, min(8<<10, len(v)*max)+len(v))
		}
		n := len(buf)
		buf = append(buf, v...)
		e, err := parseOutboxEntry(buf[n:len(buf):len(buf)], label, origin)
		if err != nil {
			return dst, fmt.Errorf("engine: outbox %d/%d at %x: %w", tableID, part, it.Key(), err)
		}
		label, origin = e.StreamLabel, e.Origin
		dst = append(dst, e)
	}
	return dst, it.Error()
}

// outboxGetMax is the largest range ReadOutboxRaw reads with point Gets.
const outboxGetMax = 16

// getOutbox appends the entries after+1, after+2, ... up to upto, stopping
// before the first that does not exist.
func (db *DB) getOutbox(tableID uint32, part int, after, upto uint64, dst []OutboxEntry) ([]OutboxEntry, error) {
	key := outboxKey(tableID, part, after+1)
	var label, origin string
	for seq := after + 1; seq <= upto; seq++ {
		binary.BigEndian.PutUint64(key[len(key)-8:], seq)
		v, closer, err := db.pebble.Get(key)
		if errors.Is(err, pebble.ErrNotFound) {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
		e, err := parseOutboxEntry(bytes.Clone(v), label, origin)
		_ = closer.Close()
		if err != nil {
			return dst, fmt.Errorf("engine: outbox %d/%d at %d: %w", tableID, part, seq, err)
		}
		label, origin = e.StreamLabel, e.Origin
		dst = append(dst, e)
	}
	return dst, nil
}

// parseOutboxEntry parses the header fields of an encoded Change, reusing
// label and origin when they are equal.
func parseOutboxEntry(b []byte, label, origin string) (OutboxEntry, error) {
	if len(b) < 5 || (b[0] != changeFormat && b[0] != changeFormatV1) {
		return OutboxEntry{}, errBadChange
	}
	e := OutboxEntry{Data: b}
	d := decoder{b: b[5:]}
	d.bytes() // table
	if l := d.bytes(); string(l) == label {
		e.StreamLabel = label
	} else {
		e.StreamLabel = string(l)
	}
	d.uvarint() // partition
	e.Seq = d.uvarint()
	d.bytes() // event name
	d.bytes() // keys
	d.bytes() // old image
	d.bytes() // new image
	if d.err == nil {
		// conflict.Version: format byte, 8+4 bytes, length-prefixed region.
		if len(d.b) < 13 {
			d.err = errBadChange
		} else {
			d.b = d.b[13:]
			d.bytes()
		}
	}
	if o := d.bytes(); string(o) == origin {
		e.Origin = origin
	} else {
		e.Origin = string(o)
	}
	e.CreatedAt = d.varint()
	if d.err != nil {
		return OutboxEntry{}, d.err
	}
	return e, nil
}
