package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/attr"
)

// Replication support for global tables (issue 4): tombstones, the
// last-writer-wins apply of changes made in other regions, and the applied
// positions recorded with them.
//
//	tombstone 0x14 | table id (4) | partition (2) | key(pk) | key(sk) -> format | conflict.Version | deleted-at (8, Unix ns) [| prev conflict.Version (format 2)]
//	applied   0x15 | table id (4) | source region | 0x00 | partition (2) -> format (1) | stream seq (8) | change seq (8)
//
// A deleted item of a replicated table leaves a tombstone carrying the
// delete's version, so that an older write arriving late from another region
// cannot resurrect it: a replicated change is applied iff its version is
// greater than the stored item's or tombstone's (conflict.Version's order
// ends in the region id, so every region decides the same way).
const (
	tombstoneFormat   byte = 2 // format 1 plus the version the delete replaced
	tombstoneFormatV1 byte = 1
	appliedFormat     byte = 2 // StreamSeq is a record position
	appliedFormatV1   byte = 1 // StreamSeq is a JetStream stream sequence
)

// layout1PosShift converts a JetStream stream sequence of a layout 1
// stream (one record per message) to its record's position:
// streams.Pos(seq, 0) = seq << 10. (engine does not import streams.)
const layout1PosShift = 10

// ReplicaPos is how far one partition of a peer region's stream has been
// applied: the last record covered, by its position in the stream
// (streams.Pos: JetStream stream sequence and index in the message) and by
// the peer's outbox sequence of the partition (0 when unknown). The zero
// ReplicaPos is the start of the stream.
type ReplicaPos struct {
	StreamSeq uint64
	ChangeSeq uint64
}

// ErrPositionMismatch is wrapped by ApplyRemote when the stored applied
// position is not the batch's from position: the batch was applied already
// (or another one was applied in between). Nothing is written; the caller
// must reload AppliedPosition and resume from there.
var ErrPositionMismatch = errors.New("engine: applied position does not match the batch's start")

func encodeAppliedPos(p ReplicaPos) []byte {
	b := binary.BigEndian.AppendUint64([]byte{appliedFormat}, p.StreamSeq)
	return binary.BigEndian.AppendUint64(b, p.ChangeSeq)
}

// readAppliedPos returns the applied position stored at key, zero if none.
func readAppliedPos(r pebble.Reader, key []byte) (ReplicaPos, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return ReplicaPos{}, nil
	}
	if err != nil {
		return ReplicaPos{}, err
	}
	defer closer.Close()
	switch {
	case len(v) == 17 && v[0] == appliedFormat:
		return ReplicaPos{StreamSeq: binary.BigEndian.Uint64(v[1:9]), ChangeSeq: binary.BigEndian.Uint64(v[9:])}, nil
	case len(v) == 17 && v[0] == appliedFormatV1:
		return ReplicaPos{StreamSeq: binary.BigEndian.Uint64(v[1:9]) << layout1PosShift, ChangeSeq: binary.BigEndian.Uint64(v[9:])}, nil
	case len(v) == 8: // NB: the first format, a bare stream sequence
		return ReplicaPos{StreamSeq: binary.BigEndian.Uint64(v) << layout1PosShift}, nil
	}
	return ReplicaPos{}, fmt.Errorf("engine: malformed applied position (%d bytes)", len(v))
}

func tombstoneKey(m *tableMeta, k *primaryKey) []byte {
	key := binary.BigEndian.AppendUint16(tablePrefix(prefixTombstone, m.ID), uint16(k.part))
	return append(key, k.enc...)
}

func appliedKey(tableID uint32, source string, part int) []byte {
	k := append(tablePrefix(prefixApplied, tableID), source...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint16(k, uint16(part))
}

func encodeTombstone(v, prev conflict.Version, deletedAt int64) []byte {
	b := append([]byte{tombstoneFormat}, v.AppendBinary(nil)...)
	b = binary.BigEndian.AppendUint64(b, uint64(deletedAt))
	return prev.AppendBinary(b)
}

// tombstone is a decoded tombstone value.
type tombstone struct {
	stamp     conflict.Stamp
	deletedAt int64 // Unix ns, by this region's clock
}

func decodeTombstone(b []byte) (tombstone, error) {
	if len(b) == 0 || (b[0] != tombstoneFormat && b[0] != tombstoneFormatV1) {
		return tombstone{}, fmt.Errorf("engine: unknown tombstone format")
	}
	var ts tombstone
	v, rest, err := conflict.DecodeVersion(b[1:])
	if err != nil {
		return ts, err
	}
	if len(rest) < 8 {
		return ts, fmt.Errorf("engine: malformed tombstone")
	}
	ts.stamp.Version = v
	ts.deletedAt = int64(binary.BigEndian.Uint64(rest))
	if b[0] == tombstoneFormat {
		if ts.stamp.Prev, _, err = conflict.DecodeVersion(rest[8:]); err != nil {
			return ts, err
		}
		ts.stamp.PrevKnown = true
	}
	return ts, nil
}

// readTombstone returns the item's tombstone, if any.
func readTombstone(r pebble.Reader, key []byte) (tombstone, bool, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return tombstone{}, false, nil
	}
	if err != nil {
		return tombstone{}, false, err
	}
	defer closer.Close()
	ts, err := decodeTombstone(v)
	return ts, err == nil, err
}

// storedVersion is the version an incoming write must beat: the item's, or
// for an absent item of a replicated table its tombstone's.
func (db *DB) storedVersion(b pebble.Reader, m *tableMeta, k *primaryKey, itemVer conflict.Version, exists bool) (conflict.Version, error) {
	if exists || !m.Replicated {
		return itemVer, nil
	}
	ts, _, err := db.readTombstone(b, m, k)
	return ts.stamp.Version, err
}

// readTombstone returns the tombstone of an absent item of a replicated
// table, if it has one; its partition's tombstone set spares the read of
// one it certainly has not.
func (db *DB) readTombstone(b pebble.Reader, m *tableMeta, k *primaryKey) (tombstone, bool, error) {
	key := tombstoneKey(m, k)
	if !db.tombstoneSet(m.ID, k.part).mayHold(key) {
		return tombstone{}, false, nil
	}
	db.tombReads.Add(1)
	return readTombstone(b, key)
}

// writeTombstone records (or clears, for a live item) the tombstone of a
// replicated table's item in b.
func (db *DB) writeTombstone(b *pebble.Batch, m *tableMeta, w *itemWrite) error {
	if !m.Replicated {
		return nil
	}
	key := tombstoneKey(m, &w.key)
	set := db.tombstoneSet(m.ID, w.key.part)
	if w.new == nil {
		set.add(key)
		return b.Set(key, encodeTombstone(w.version, w.prev, db.clock.PhysicalNow().UnixNano()), nil)
	}
	// NB: most items have no tombstone (writing a live item clears it):
	// delete only one that may be there.
	if !set.mayHold(key) {
		return nil
	}
	set.remove(key)
	return b.Delete(key, nil)
}

// SetReplicated marks a table as replicated (a global table): its deletes
// leave tombstones and its writes are versioned against them. Replica
// management calls it; tests use it directly.
func (db *DB) SetReplicated(table string, on bool) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	t := db.tables[resolveTableName(table)]
	if t == nil {
		return apierr.TableNotFound(table)
	}
	m := t.m().clone()
	m.Replicated = on
	if err := db.saveMeta(t, m); err != nil {
		return err
	}
	// NB: a write already queued may have read the old metadata; waiting
	// for each partition to drain makes the flag hold for every later write.
	for _, p := range t.parts {
		if err := p.submit(func(*pebble.Batch, *partStats) error { return nil }); err != nil {
			return err
		}
	}
	return nil
}

// RemoteResult counts what ApplyRemote did.
type RemoteResult struct {
	Applied int // changes that won last-writer-wins and were written
	Stale   int // changes older than (or equal to) the stored version: skipped
	// Conflicts lists the changes last-writer-wins decided against a
	// concurrent version (a subset of Applied and Stale), in order; nil
	// when there was none.
	Conflicts []Conflict
	// ClockAhead counts changes whose version was further ahead of this
	// region's clock than Config.MaxClockOffset: they were applied or
	// skipped by their version as any other, but the clock did not follow
	// them. MaxAhead is the largest such lead.
	ClockAhead int
	MaxAhead   time.Duration
}

// Conflict is a replicated change that last-writer-wins decided against a
// concurrent version (see conflict.Classify): the change overwrote a
// version stored here that it had not seen (Outcome conflict.RemoteWon), or
// it was discarded for a stored version that had not seen it
// (conflict.RemoteLost). Images are full items; an image is nil for a
// deleted item (a tombstone, or a delete). They are the engine's own maps:
// read them, do not modify them.
type Conflict struct {
	Outcome conflict.Outcome
	Keys    attr.Item
	// Stored is what the key held here before the change: an item, or a
	// tombstone (StoredDeleted, StoredImage nil).
	Stored        conflict.Version
	StoredDeleted bool
	StoredImage   attr.Item
	// Incoming is the replicated change: its version, the version it was
	// made over in its origin region, and its new image (nil for a delete).
	Incoming      conflict.Version
	IncomingPrev  conflict.Version
	IncomingImage attr.Item
}

// Winner is the version that last-writer-wins kept.
func (c *Conflict) Winner() conflict.Version {
	if c.Incoming.After(c.Stored) {
		return c.Incoming
	}
	return c.Stored
}

// ApplyRemote applies changes made in region source to one partition of a
// table, in order, each iff its version is newer than the stored item's or
// tombstone's, and records to as the applied position of (source,
// partition) in the same Pebble batch — so a change is applied exactly once
// even across crashes. The stored position must equal from (the zero
// ReplicaPos when none is stored), else nothing is written and the error
// wraps ErrPositionMismatch. Applied changes appear in this region's stream
// as ordinary records (their origin kept; a TTL delete becomes a plain
// REMOVE). Every change's key must hash to part here (the peer must have as
// many partitions); a change of another partition is an error and nothing
// is written. changes may be empty: only the position moves.
func (db *DB) ApplyRemote(table string, part int, source string, from, to ReplicaPos, changes []*Change) (RemoteResult, error) {
	a, err := db.StartApplyRemote(table, part, source, from, to, changes)
	if err != nil {
		return RemoteResult{}, err
	}
	return a.Result()
}

// RemoteApply is an ApplyRemote under way (DB.StartApplyRemote).
type RemoteApply struct {
	req *writeReq
	res RemoteResult
}

// Done is closed once the apply is durable or has failed.
func (a *RemoteApply) Done() <-chan struct{} { return a.req.done }

// Result waits for Done and reports what the apply did: ApplyRemote's
// result and error.
func (a *RemoteApply) Result() (RemoteResult, error) {
	<-a.req.done
	return a.res, a.req.err
}

// StartApplyRemote is ApplyRemote without the wait: it queues the apply on
// the partition and returns, so that a caller can hand the partition its
// next batch while this one's WAL sync is under way. The applies one
// goroutine starts on a partition run in the order it started them, each
// checking its from against the position its predecessor stored: once one
// fails, every later one of that source and partition fails with
// ErrPositionMismatch and writes nothing. A refusal known before queueing
// (no such table or partition) is returned at once.
func (db *DB) StartApplyRemote(table string, part int, source string, from, to ReplicaPos, changes []*Change) (*RemoteApply, error) {
	t := db.table(resolveTableName(table))
	if t == nil {
		return nil, apierr.TableNotFound(table)
	}
	if part < 0 || part >= len(t.parts) {
		return nil, fmt.Errorf("engine: table %s has no partition %d", table, part)
	}
	a := &RemoteApply{}
	p := t.parts[part]
	a.req = &writeReq{reports: true, done: make(chan struct{}), apply: func(b *pebble.Batch, d *partStats) error {
		m := t.m()
		res := &a.res
		*res = RemoteResult{}
		key := appliedKey(m.ID, source, part)
		stored, err := readAppliedPos(b, key)
		if err != nil {
			return err
		}
		if stored != from {
			return fmt.Errorf("%w: table %s partition %d from %s: stored %+v, batch from %+v",
				ErrPositionMismatch, table, part, source, stored, from)
		}
		// NB: the group's Pebble batch is shared with other writes and an
		// error does not undo what this request wrote: everything that can
		// be refused is checked before the first write.
		keys := make([]primaryKey, len(changes))
		for i, c := range changes {
			if c == nil {
				return fmt.Errorf("engine: replicated change %d is nil", i)
			}
			k, err := m.keyFromKey(c.Keys)
			if err != nil {
				return fmt.Errorf("engine: replicated change with a bad key: %w", err)
			}
			if k.part != part {
				return fmt.Errorf("engine: replicated change for partition %d applied to %d (do both regions have the same partition count?)", k.part, part)
			}
			if c.NewImage != nil {
				if err := m.checkItem(c.NewImage); err != nil {
					return fmt.Errorf("engine: replicated change with a bad new image: %w", err)
				}
			}
			keys[i] = k
		}
		for i, c := range changes {
			if err := db.applyRemoteOne(&p.items, b, d, m, keys[i], c, res); err != nil {
				return err
			}
		}
		return b.Set(key, encodeAppliedPos(to), nil)
	}}
	if err := p.enqueue(a.req); err != nil {
		return nil, err
	}
	return a, nil
}

// applyRemoteOne applies c iff it wins last-writer-wins and adds what
// happened to res.
func (db *DB) applyRemoteOne(src itemSource, b *pebble.Batch, d *partStats, m *tableMeta, k primaryKey, c *Change, res *RemoteResult) error {
	key := k.itemKey(m)
	stored, old, err := src.readStamp(key)
	if err != nil {
		return err
	}
	deleted := false
	if old == nil && m.Replicated {
		ts, found, err := db.readTombstone(b, m, &k)
		if err != nil {
			return err
		}
		stored, deleted = ts.stamp, found
	}
	// NB: a format 1 change carries no PrevVersion; it reads as made over
	// nothing (see Change.PrevVersion).
	outcome := conflict.Classify(stored, conflict.Stamp{Version: c.Version, Prev: c.PrevVersion, PrevKnown: true})
	if outcome.Conflict() {
		res.Conflicts = append(res.Conflicts, Conflict{
			Outcome: outcome, Keys: k.item(m),
			Stored: stored.Version, StoredDeleted: deleted, StoredImage: old,
			Incoming: c.Version, IncomingPrev: c.PrevVersion, IncomingImage: c.NewImage,
		})
	}
	// NB: a version too far ahead of this region's clock is applied or
	// skipped like any other (every region must decide alike), but the
	// clock does not follow it: later local writes still beat it through
	// NextAfter, which does not follow it either.
	if err := db.clock.Update(c.Version); err != nil {
		var off *conflict.ErrClockOffset
		if errors.As(err, &off) {
			res.ClockAhead++
			res.MaxAhead = max(res.MaxAhead, time.Duration(off.Remote-off.Local))
		}
	}
	if !outcome.Applies() {
		res.Stale++
		return nil
	}
	res.Applied++
	// The change's origin is its version's region, which recordChange keeps.
	w := &itemWrite{key: k, old: old, new: c.NewImage, version: c.Version, prev: c.PrevVersion, changed: true}
	if old != nil {
		w.oldSize = attr.ItemSize(old)
	}
	if w.new != nil {
		if err := m.checkItem(w.new); err != nil {
			return err
		}
		w.newSize = attr.ItemSize(w.new)
		v := encodeItemValuePrev(w.version, w.prev, w.new)
		if err := b.Set(key, v, nil); err != nil {
			return err
		}
		src.wrote(key, v)
		if old == nil {
			d.Items++
		}
		d.Bytes += int64(w.newSize - w.oldSize)
	} else if old != nil {
		if err := b.Delete(key, nil); err != nil {
			return err
		}
		src.wrote(key, nil)
		d.Items--
		d.Bytes -= int64(w.oldSize)
	}
	if err := db.writeIndexes(b, m, w); err != nil {
		return err
	}
	if err := db.writeTombstone(b, m, w); err != nil {
		return err
	}
	if old == nil && w.new == nil {
		return nil // a newer delete of an item we never had: tombstone only
	}
	return db.recordChange(b, d, m, w)
}

// AppliedPosition returns the position recorded by the last ApplyRemote of
// (source, partition) for the table, the zero ReplicaPos if none.
func (db *DB) AppliedPosition(table, source string, part int) (ReplicaPos, error) {
	t := db.table(resolveTableName(table))
	if t == nil {
		return ReplicaPos{}, apierr.TableNotFound(table)
	}
	return readAppliedPos(db.pebble, appliedKey(t.m().ID, source, part))
}

// ItemVersion returns the stored version of an item, or of its tombstone
// (deleted reports which); ok is false when neither exists. For
// verification and tests.
func (db *DB) ItemVersion(table string, key attr.Item) (v conflict.Version, deleted, ok bool, err error) {
	t := db.table(resolveTableName(table))
	if t == nil {
		return v, false, false, apierr.TableNotFound(table)
	}
	m := t.m()
	k, err := m.keyFromKey(key)
	if err != nil {
		return v, false, false, err
	}
	ver, item, err := readItem(db.pebble, k.itemKey(m))
	if err != nil || item != nil {
		return ver, false, item != nil, err
	}
	ts, found, err := readTombstone(db.pebble, tombstoneKey(m, &k))
	return ts.stamp.Version, found, found, err
}
