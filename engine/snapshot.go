package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/attr"
)

// Consistent table snapshots for global tables (issue 4): the backfill of
// a new replica and the resync of a replica that fell behind a peer's
// stream retention.
//
// NB, atomicity: every commit of a partition (a group commit of the
// partition's sequencer, or a transaction holding it) writes the items,
// their tombstones, their outbox records, the partition's stats — whose Seq
// is the last outbox sequence assigned — and the applied positions of the
// replicated changes it carries in ONE Pebble batch. A Pebble snapshot
// therefore sees, for every partition, the data and the outbox position and
// applied positions that describe exactly that data. The outbox position is
// read from the stats key, not from the outbox itself, so it survives
// TrimOutbox (which only deletes outbox entries).

// SnapshotEntry is one item or tombstone of a table snapshot, in its stored
// form (the engine's binary codec, no JSON round trip).
type SnapshotEntry struct {
	// Tombstone is true for a deleted item's tombstone.
	Tombstone bool
	// Key is the item's key within its partition: attr.AppendKey of the
	// partition key, then of the sort key when the table has one.
	Key []byte
	// Value is the stored value: for an item, a format byte, its
	// conflict.Version and attr's binary item; for a tombstone, a format
	// byte, the delete's conflict.Version and the deletion time.
	Value []byte
}

// Size is the entry's encoded size, for chunking.
func (e SnapshotEntry) Size() int { return len(e.Key) + len(e.Value) + 8 }

// TableSnapshot is a consistent, read-only view of one table as of one
// instant: every partition's items and tombstones, its outbox position and
// the positions applied from every other region, all taken atomically. It
// pins a Pebble snapshot (sstables are kept until Close): close it soon.
// Safe for concurrent use.
type TableSnapshot struct {
	db      *DB
	snap    *pebble.Snapshot
	info    TableInfo
	outbox  []uint64
	applied map[string][]ReplicaPos
	items   int64
	bytes   int64

	closeOnce sync.Once
}

// SnapshotTable takes a consistent snapshot of a table. Only data made
// durable is seen: it waits for commits in flight when the snapshot is
// taken (at most one WAL sync).
func (db *DB) SnapshotTable(table string) (*TableSnapshot, error) {
	name := resolveTableName(table)
	t := db.table(name)
	if t == nil {
		return nil, apierr.TableNotFound(table)
	}
	snap := db.pebble.NewSnapshot()
	// NB: the table may have been deleted (its keyspace dropped) between
	// the lookup and the snapshot; a table still registered afterwards was
	// registered when the snapshot was taken.
	if db.table(name) != t {
		_ = snap.Close()
		return nil, apierr.TableNotFound(table)
	}
	t.awaitDurable()
	info, _ := db.tableInfo(t)
	s := &TableSnapshot{db: db, snap: snap, info: info, outbox: make([]uint64, info.Partitions), applied: map[string][]ReplicaPos{}}
	if err := s.load(); err != nil {
		_ = snap.Close()
		return nil, err
	}
	return s, nil
}

// load reads the partitions' stats and the applied positions.
func (s *TableSnapshot) load() error {
	for p := range s.outbox {
		v, closer, err := s.snap.Get(statsKey(s.info.ID, p))
		if errors.Is(err, pebble.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("engine: snapshot stats of %s/%d: %w", s.info.Name, p, err)
		}
		st := decodeStats(v)
		closer.Close()
		s.outbox[p] = st.Seq
		s.items += st.Items
		s.bytes += st.Bytes
	}
	prefix := tablePrefix(prefixApplied, s.info.ID)
	it, err := s.snap.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		rest := it.Key()[len(prefix):]
		i := bytes.IndexByte(rest, 0)
		if i < 0 || len(rest) != i+3 {
			return fmt.Errorf("engine: malformed applied key %x", it.Key())
		}
		source, part := string(rest[:i]), int(binary.BigEndian.Uint16(rest[i+1:]))
		if part >= s.info.Partitions {
			continue
		}
		pos, err := readAppliedPos(s.snap, it.Key())
		if err != nil {
			return err
		}
		ps := s.applied[source]
		if ps == nil {
			ps = make([]ReplicaPos, s.info.Partitions)
			s.applied[source] = ps
		}
		ps[part] = pos
	}
	return it.Error()
}

// Table is the table's info as of the snapshot.
func (s *TableSnapshot) Table() TableInfo { return s.info }

// OutboxPosition is the last outbox sequence assigned in partition part as
// of the snapshot: the snapshot holds the effect of every change up to it
// and of none after it. 0 when the partition never recorded a change.
func (s *TableSnapshot) OutboxPosition(part int) uint64 {
	if part < 0 || part >= len(s.outbox) {
		return 0
	}
	return s.outbox[part]
}

// Applied returns, for every other region this table has applied changes
// from, the applied position of each partition as of the snapshot (a copy).
func (s *TableSnapshot) Applied() map[string][]ReplicaPos {
	out := make(map[string][]ReplicaPos, len(s.applied))
	for r, ps := range s.applied {
		out[r] = append([]ReplicaPos(nil), ps...)
	}
	return out
}

// Estimate is the table's item count and size as of the snapshot (the
// partitions' running stats; tombstones are not counted).
func (s *TableSnapshot) Estimate() (items, bytes int64) { return s.items, s.bytes }

// Read returns the entries of partition part whose key sorts after after
// (nil: from the first), items and tombstones merged in key order, until
// their total Size passes maxBytes (at least one entry is returned when
// any is left). done reports that the partition has no entry past the last
// one returned. The entries' slices are the caller's.
func (s *TableSnapshot) Read(part int, after []byte, maxBytes int) (entries []SnapshotEntry, done bool, err error) {
	if part < 0 || part >= s.info.Partitions {
		return nil, false, fmt.Errorf("engine: table %s has no partition %d", s.info.Name, part)
	}
	itemPrefix := partitionPrefix(s.info.ID, part)
	tombPrefix := binary.BigEndian.AppendUint16(tablePrefix(prefixTombstone, s.info.ID), uint16(part))
	open := func(prefix []byte) (*pebble.Iterator, error) {
		lower := prefix
		if after != nil {
			lower = append(append(append([]byte(nil), prefix...), after...), 0)
		}
		it, err := s.snap.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(prefix)})
		if err != nil {
			return nil, err
		}
		it.First()
		return it, nil
	}
	items, err := open(itemPrefix)
	if err != nil {
		return nil, false, err
	}
	defer items.Close()
	tombs, err := open(tombPrefix)
	if err != nil {
		return nil, false, err
	}
	defer tombs.Close()
	size := 0
	var buf []byte
	add := func(tomb bool, key, value []byte) {
		if cap(buf)-len(buf) < len(key)+len(value) {
			buf = make([]byte, 0, max(64<<10, len(key)+len(value)))
		}
		n := len(buf)
		buf = append(buf, key...)
		k := buf[n:len(buf):len(buf)]
		n = len(buf)
		buf = append(buf, value...)
		e := SnapshotEntry{Tombstone: tomb, Key: k, Value: buf[n:len(buf):len(buf)]}
		entries = append(entries, e)
		size += e.Size()
	}
	for size < maxBytes || len(entries) == 0 {
		iv, tv := items.Valid(), tombs.Valid()
		if !iv && !tv {
			break
		}
		var ik, tk []byte
		if iv {
			ik = items.Key()[len(itemPrefix):]
		}
		if tv {
			tk = tombs.Key()[len(tombPrefix):]
		}
		switch c := bytes.Compare(ik, tk); {
		case iv && (!tv || c < 0):
			add(false, ik, items.Value())
			items.Next()
		case tv && (!iv || c > 0):
			add(true, tk, tombs.Value())
			tombs.Next()
		default:
			// NB: an item and a tombstone never share a key (a write clears
			// the tombstone in its batch); should they, the item is sent.
			add(false, ik, items.Value())
			items.Next()
			tombs.Next()
		}
	}
	if err := errors.Join(items.Error(), tombs.Error()); err != nil {
		return nil, false, err
	}
	return entries, !items.Valid() && !tombs.Valid(), nil
}

// Close releases the snapshot. Idempotent.
func (s *TableSnapshot) Close() error {
	var err error
	s.closeOnce.Do(func() { err = s.snap.Close() })
	return err
}

// SnapshotApplyOptions tunes ApplySnapshotChunk.
type SnapshotApplyOptions struct {
	// Record makes every entry that changes an item, and every swept item,
	// append a change record to the table's outbox (so it appears in this
	// region's stream). Off for the backfill of a new replica: copying a
	// peer's state is not a change made here. On for a resync: the items a
	// resync changes are changes this region's stream consumers have not
	// seen. A record keeps the origin of the version it carries, so other
	// regions' replicators never forward it back (no loops).
	Record bool
	// Sweep, when set, also deletes local items of the range it names that
	// the snapshot does not hold (see SnapshotSweep). For a resync.
	Sweep *SnapshotSweep
}

// SnapshotSweep deletes, within one key range of one partition, the local
// items absent from the snapshot (neither as an item nor as a tombstone)
// that the snapshot's region must have seen and since deleted: an item
// whose version was made in region R is deleted iff Seen[R] covers the
// position at which R's change reached this region (this region's applied
// position of R, or for its own writes its outbox head). Otherwise the
// snapshot's region may simply not have received the item yet, and it is
// kept: a local write the peer never saw survives. A swept item leaves a
// tombstone carrying its own version, so only a newer write can bring it
// back.
type SnapshotSweep struct {
	// After is the range's exclusive lower bound (a key as in
	// SnapshotEntry.Key); nil from the partition's first key.
	After []byte
	// Through is the range's inclusive upper bound; nil to the partition's end.
	Through []byte
	// Seen is, per region, how far the snapshot's region had applied that
	// region's changes of this partition; for the snapshot's region
	// itself, its outbox position (ChangeSeq) as of the snapshot.
	Seen map[string]ReplicaPos
}

// SnapshotApplyResult counts what ApplySnapshotChunk did.
type SnapshotApplyResult struct {
	Applied int // entries newer than the local state: written
	Stale   int // entries older than (or equal to) the local state: skipped
	Swept   int // local items deleted by Sweep
}

// snapshotApplyGroup bounds how many entries one partition request
// carries, so that a large chunk does not hold the partition's writers up.
const snapshotApplyGroup = 256

// ApplySnapshotChunk applies entries (taken from a TableSnapshot of a peer
// region's replica of the table, all of partition part, in key order) to
// the local table with last-writer-wins, exactly as ApplyRemote decides
// for a replicated change: an item or tombstone is written iff its version
// is greater than the stored item's or tombstone's. No applied position
// moves (see RaiseAppliedPosition). Every entry is validated before
// anything is written; a malformed entry or one of another partition is an
// error and nothing is written. Entries are applied in groups of a few
// hundred, each atomically; applying a chunk again is harmless.
func (db *DB) ApplySnapshotChunk(table string, part int, entries []SnapshotEntry, opts SnapshotApplyOptions) (SnapshotApplyResult, error) {
	t := db.table(resolveTableName(table))
	if t == nil {
		return SnapshotApplyResult{}, apierr.TableNotFound(table)
	}
	if part < 0 || part >= len(t.parts) {
		return SnapshotApplyResult{}, fmt.Errorf("engine: table %s has no partition %d", table, part)
	}
	m := t.m()
	changes := make([]*Change, len(entries))
	keys := make([]primaryKey, len(entries))
	for i, e := range entries {
		k, c, err := m.decodeSnapshotEntry(e)
		if err != nil {
			return SnapshotApplyResult{}, fmt.Errorf("engine: snapshot entry %d of %s/%d: %w", i, table, part, err)
		}
		if k.part != part {
			return SnapshotApplyResult{}, fmt.Errorf("engine: snapshot entry %d of partition %d applied to %d (do both regions have the same partition count?)", i, k.part, part)
		}
		if i > 0 && bytes.Compare(entries[i-1].Key, e.Key) >= 0 {
			return SnapshotApplyResult{}, fmt.Errorf("engine: snapshot entries of %s/%d out of key order at %d", table, part, i)
		}
		keys[i], changes[i] = k, c
	}
	if len(entries) == 0 && opts.Sweep == nil {
		return SnapshotApplyResult{}, nil
	}
	var total SnapshotApplyResult
	for start := 0; start < len(entries) || start == 0; start += snapshotApplyGroup {
		end := min(start+snapshotApplyGroup, len(entries))
		var sweep *SnapshotSweep
		if opts.Sweep != nil {
			sw := *opts.Sweep
			if start > 0 {
				sw.After = entries[start-1].Key
			}
			if end < len(entries) {
				sw.Through = entries[end-1].Key
			}
			sweep = &sw
		}
		var res SnapshotApplyResult
		err := t.parts[part].submit(func(b *pebble.Batch, d *partStats) error {
			res = SnapshotApplyResult{}
			return db.applySnapshotGroup(b, d, t.m(), part, keys[start:end], changes[start:end], opts.Record, sweep, &res)
		})
		if err != nil {
			return total, err
		}
		total.Applied += res.Applied
		total.Stale += res.Stale
		total.Swept += res.Swept
		if end == len(entries) {
			break
		}
	}
	return total, nil
}

// applySnapshotGroup runs on the partition goroutine.
func (db *DB) applySnapshotGroup(b *pebble.Batch, d *partStats, m *tableMeta, part int, keys []primaryKey, changes []*Change, record bool, sweep *SnapshotSweep, res *SnapshotApplyResult) error {
	head := d.Seq // the last local outbox sequence before this request
	am := m
	if !record {
		// NB: applyRemoteOne appends a change record only when the table
		// has a stream: a copy of the metadata without one applies the
		// entry without a record.
		c := *m
		c.Stream = nil
		am = &c
	}
	// NB: the sweep reads before anything is written (an error must leave
	// b untouched): it collects the local keys to delete first.
	var swept []sweptItem
	if sweep != nil {
		var err error
		if swept, err = db.collectSweep(b, m, part, keys, head, sweep); err != nil {
			return err
		}
	}
	// NB: a snapshot copies state; what last-writer-wins decides here is
	// not a replicated change meeting a concurrent one, so its conflicts
	// are not reported.
	var rr RemoteResult
	for i, c := range changes {
		if err := db.applyRemoteOne(batchItems{b}, b, d, am, keys[i], c, &rr); err != nil {
			return err
		}
	}
	res.Applied += rr.Applied
	res.Stale += rr.Stale
	for _, s := range swept {
		w := &itemWrite{key: s.key, old: s.item, version: s.version, changed: true, oldSize: attr.ItemSize(s.item)}
		if err := b.Delete(s.key.itemKey(m), nil); err != nil {
			return err
		}
		d.Items--
		d.Bytes -= int64(w.oldSize)
		if err := db.writeIndexes(b, m, w); err != nil {
			return err
		}
		if err := db.writeTombstone(b, m, w); err != nil {
			return err
		}
		if record {
			if err := db.recordChange(b, d, m, w); err != nil {
				return err
			}
		}
		res.Swept++
	}
	return nil
}

type sweptItem struct {
	key     primaryKey
	item    attr.Item
	version conflict.Version
}

// collectSweep returns the local items of sweep's range that keys (sorted)
// does not hold and that the snapshot's region must have deleted.
func (db *DB) collectSweep(r pebble.Reader, m *tableMeta, part int, keys []primaryKey, head uint64, sweep *SnapshotSweep) ([]sweptItem, error) {
	prefix := partitionPrefix(m.ID, part)
	lower := prefix
	if sweep.After != nil {
		lower = append(append(append([]byte(nil), prefix...), sweep.After...), 0)
	}
	upper := prefixEnd(prefix)
	if sweep.Through != nil {
		upper = append(append(append([]byte(nil), prefix...), sweep.Through...), 0)
	}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	local := map[string]ReplicaPos{}
	var out []sweptItem
	i := 0
	for it.First(); it.Valid(); it.Next() {
		enc := it.Key()[len(prefix):]
		i += sort.Search(len(keys)-i, func(j int) bool { return bytes.Compare(keys[i+j].enc, enc) >= 0 })
		if i < len(keys) && bytes.Equal(keys[i].enc, enc) {
			continue // in the snapshot: last-writer-wins decides
		}
		ver, item, err := decodeItemValue(it.Value())
		if err != nil {
			return nil, fmt.Errorf("engine: sweep %s/%d at %x: %w", m.Name, part, enc, err)
		}
		pos, ok := local[ver.Region]
		if !ok {
			if ver.Region == db.Region() {
				pos = ReplicaPos{ChangeSeq: head}
			} else if pos, err = readAppliedPos(r, appliedKey(m.ID, ver.Region, part)); err != nil {
				return nil, err
			}
			local[ver.Region] = pos
		}
		seen, ok := sweep.Seen[ver.Region]
		if !ok || !seen.Covers(pos) {
			continue // the snapshot's region may not have had it yet: keep
		}
		k, err := m.keyFromEnc(bytes.Clone(enc))
		if err != nil {
			return nil, fmt.Errorf("engine: sweep %s/%d: %w", m.Name, part, err)
		}
		out = append(out, sweptItem{key: k, item: item, version: ver})
	}
	return out, it.Error()
}

// Covers reports whether p is at or past q in the same region's stream of
// one partition: by outbox sequence when both know it, else by stream
// sequence when both know that. The zero ReplicaPos is covered by any.
func (p ReplicaPos) Covers(q ReplicaPos) bool {
	switch {
	case q == ReplicaPos{}:
		return true
	case p.ChangeSeq > 0 && q.ChangeSeq > 0:
		return p.ChangeSeq >= q.ChangeSeq
	case p.StreamSeq > 0 && q.StreamSeq > 0:
		return p.StreamSeq >= q.StreamSeq
	}
	return false
}

// ahead reports whether p is past q: a greater outbox sequence, or the
// same one with a stream sequence learnt.
func (p ReplicaPos) ahead(q ReplicaPos) bool {
	if p.ChangeSeq != q.ChangeSeq {
		return p.ChangeSeq > q.ChangeSeq
	}
	return p.StreamSeq > q.StreamSeq
}

// keyFromEnc rebuilds a primary key from its encoded form (SnapshotEntry.Key).
func (m *tableMeta) keyFromEnc(enc []byte) (primaryKey, error) {
	pk, rest, err := attr.DecodeKey(m.HashType, enc)
	if err != nil {
		return primaryKey{}, err
	}
	var sk attr.Value
	if m.RangeKey != "" {
		if sk, rest, err = attr.DecodeKey(m.RangeType, rest); err != nil {
			return primaryKey{}, err
		}
	}
	if len(rest) != 0 {
		return primaryKey{}, fmt.Errorf("engine: %d bytes after the key", len(rest))
	}
	k := m.newKey(pk, sk)
	if !bytes.Equal(k.enc, enc) {
		return primaryKey{}, errors.New("engine: key not in canonical form")
	}
	return k, nil
}

// decodeSnapshotEntry validates e against the table and returns its key
// and the change that applies it.
func (m *tableMeta) decodeSnapshotEntry(e SnapshotEntry) (primaryKey, *Change, error) {
	k, err := m.keyFromEnc(e.Key)
	if err != nil {
		return primaryKey{}, nil, err
	}
	// NB: the copy keeps the version each entry was made over (its
	// PrevVersion), so conflict detection works on copied data too.
	if e.Tombstone {
		ts, err := decodeTombstone(e.Value)
		if err != nil {
			return primaryKey{}, nil, err
		}
		return k, &Change{Keys: k.item(m), Version: ts.stamp.Version, PrevVersion: ts.stamp.Prev}, nil
	}
	st, item, err := decodeItemStamp(e.Value)
	if err != nil {
		return primaryKey{}, nil, err
	}
	if err := m.checkItem(item); err != nil {
		return primaryKey{}, nil, err
	}
	ik, err := m.keyFromItem(item)
	if err != nil {
		return primaryKey{}, nil, err
	}
	if !bytes.Equal(ik.enc, k.enc) {
		return primaryKey{}, nil, errors.New("engine: the item's key attributes do not match its key")
	}
	return k, &Change{Keys: k.item(m), NewImage: item, Version: st.Version, PrevVersion: st.Prev}, nil
}

// RaiseAppliedPosition stores pos as the applied position of (source,
// part) unless the stored one already covers it (a driver applied past
// it), and returns the position stored afterwards. It never lowers a
// position. A backfill calls it once every chunk is applied.
func (db *DB) RaiseAppliedPosition(table, source string, part int, pos ReplicaPos) (ReplicaPos, error) {
	t := db.table(resolveTableName(table))
	if t == nil {
		return ReplicaPos{}, apierr.TableNotFound(table)
	}
	if part < 0 || part >= len(t.parts) {
		return ReplicaPos{}, fmt.Errorf("engine: table %s has no partition %d", table, part)
	}
	if source == "" || source == db.Region() || bytes.IndexByte([]byte(source), 0) >= 0 {
		return ReplicaPos{}, fmt.Errorf("engine: %q cannot be a source region", source)
	}
	var out ReplicaPos
	err := t.parts[part].submit(func(b *pebble.Batch, _ *partStats) error {
		key := appliedKey(t.m().ID, source, part)
		stored, err := readAppliedPos(b, key)
		if err != nil {
			return err
		}
		out = stored
		if !pos.ahead(stored) {
			return nil
		}
		out = pos
		return b.Set(key, encodeAppliedPos(pos), nil)
	})
	return out, err
}
