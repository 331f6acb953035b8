package engine

import (
	"encoding/binary"
	"errors"

	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine/attr"
)

// Event names of a Change, as DynamoDB Streams names them.
const (
	EventInsert = "INSERT"
	EventModify = "MODIFY"
	EventRemove = "REMOVE"
)

// Change is one committed item change: the record the outbox holds and the
// streams package publishes. It is written in the same Pebble batch as the
// item it describes, so a change is durable exactly when its write is.
//
// Images are always full items (keys included); which of them a stream
// shows is the stream's view type, applied when it is read.
type Change struct {
	TableID     uint32
	Table       string
	StreamLabel string // the stream the change belongs to; "" when the table has none
	Partition   int
	Seq         uint64 // per-partition outbox sequence: 1, 2, 3, ... with no gaps
	EventName   string // EventInsert, EventModify or EventRemove
	Keys        attr.Item
	OldImage    attr.Item // nil for INSERT
	NewImage    attr.Item // nil for REMOVE
	Version     conflict.Version
	// PrevVersion is the version the write replaced in the region that
	// made it: the item's, or (on a replicated table) its tombstone's; the
	// zero Version for a write over nothing. A replicated write keeps its
	// origin's PrevVersion, so it is a property of Version. Conflict
	// detection compares it with the version stored where the change is
	// applied (conflict.Classify). Zero in records of change format 1.
	PrevVersion conflict.Version
	Origin      string // region where the write was made (Version.Region for local writes)
	CreatedAt   int64  // approximate creation time, Unix nanoseconds
	TTL         bool   // a delete made by this region's TTL sweeper
	AccessKeyID string // the access key that made the write, when known
}

// changeFormat is the first byte of an encoded Change. Format 2 appends
// PrevVersion to format 1; both are decoded.
const (
	changeFormat   byte = 2
	changeFormatV1 byte = 1
)

var errBadChange = errors.New("engine: malformed change record")

// AppendBinary appends c's stored form.
func (c *Change) AppendBinary(b []byte) []byte {
	b = append(b, changeFormat)
	b = binary.BigEndian.AppendUint32(b, c.TableID)
	b = appendString(b, c.Table)
	b = appendString(b, c.StreamLabel)
	b = binary.AppendUvarint(b, uint64(c.Partition))
	b = binary.AppendUvarint(b, c.Seq)
	b = appendString(b, c.EventName)
	b = appendItem(b, c.Keys)
	b = appendItem(b, c.OldImage)
	b = appendItem(b, c.NewImage)
	b = c.Version.AppendBinary(b)
	b = appendString(b, c.Origin)
	b = binary.AppendVarint(b, c.CreatedAt)
	flags := byte(0)
	if c.TTL {
		flags |= 1
	}
	b = append(b, flags)
	b = appendString(b, c.AccessKeyID)
	return c.PrevVersion.AppendBinary(b)
}

// DecodeChange decodes a Change written by AppendBinary.
func DecodeChange(b []byte) (*Change, error) {
	if len(b) < 5 || (b[0] != changeFormat && b[0] != changeFormatV1) {
		return nil, errBadChange
	}
	c := &Change{TableID: binary.BigEndian.Uint32(b[1:5])}
	d := decoder{b: b[5:]}
	c.Table = d.string()
	c.StreamLabel = d.string()
	c.Partition = int(d.uvarint())
	c.Seq = d.uvarint()
	c.EventName = d.string()
	c.Keys = d.item()
	c.OldImage = d.item()
	c.NewImage = d.item()
	if d.err == nil {
		var err error
		c.Version, d.b, err = conflict.DecodeVersion(d.b)
		if err != nil {
			d.err = err
		}
	}
	c.Origin = d.string()
	c.CreatedAt = d.varint()
	if d.err == nil && len(d.b) > 0 {
		c.TTL = d.b[0]&1 != 0
		d.b = d.b[1:]
	} else {
		d.err = errBadChange
	}
	c.AccessKeyID = d.string()
	if d.err == nil && b[0] == changeFormat {
		var err error
		if c.PrevVersion, d.b, err = conflict.DecodeVersion(d.b); err != nil {
			d.err = err
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return c, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendItem writes a length-prefixed item; a nil item has length 0.
func appendItem(b []byte, it attr.Item) []byte {
	if it == nil {
		return binary.AppendUvarint(b, 0)
	}
	// NB: encoded in place after a one-byte length, which is widened
	// (moving the encoding) when the item takes 128 bytes or more: no
	// temporary buffer per image.
	start := len(b)
	b = attr.AppendItem(append(b, 0), it)
	n := len(b) - start - 1
	var lenBuf [binary.MaxVarintLen64]byte
	l := binary.PutUvarint(lenBuf[:], uint64(n))
	if l > 1 {
		b = append(b, lenBuf[:l-1]...)
		copy(b[start+l:], b[start+1:start+1+n])
	}
	copy(b[start:], lenBuf[:l])
	return b
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errBadChange
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errBadChange
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if uint64(len(d.b)) < n {
		d.err = errBadChange
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) item() attr.Item {
	raw := d.bytes()
	if d.err != nil || len(raw) == 0 {
		return nil
	}
	it, err := attr.DecodeItem(raw)
	if err != nil {
		d.err = err
	}
	return it
}
