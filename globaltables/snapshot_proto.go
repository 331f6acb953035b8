package globaltables

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/godwit-db/godwit/engine"
	"github.com/nats-io/nats.go"
)

// The snapshot transfer protocol, over NATS request-reply (no home-made
// network protocol). The source region serves
//
//	gw.ctl.<region>.snapshot.open   {"v":2,"table":T}                       -> snapshotOpenReply (JSON)
//	gw.ctl.<region>.snapshot.next   {"v":2,"session":S,"partition":P,"after":K} -> a chunk (binary, below)
//	gw.ctl.<region>.snapshot.close  {"v":2,"session":S}                     -> {"v":2}
//
// Requests and the open reply are JSON: small, rare, and readable with
// `nats req` when debugging. A chunk is binary, because it is the bulk of
// the transfer and its entries already are the engine's stored encoding
// (engine.SnapshotEntry), which JSON would have to base64:
//
//	format (1 byte, snapshotChunkFormat) | flags (1 byte: 1 = the partition is done)
//	| count (uvarint) | count × ( kind (1 byte: 0 item, 1 tombstone)
//	| len(key) (uvarint) | key | len(value) (uvarint) | value )
//
// The receiver pulls: it asks for the entries of one partition after the
// last key it got, so it sets the pace, and a request lost or repeated is
// harmless (next is a pure function of the session and the cursor). An
// error reply carries the header Godwit-Error (a code below) and the
// message as its body.
const (
	snapshotProtoVersion = 2 // 2: stream positions are record positions (streams layout 2)
	snapshotChunkFormat  = 1

	// HeaderError marks an error reply of the snapshot protocol; its value
	// is one of the codes below, the body the message.
	HeaderError = "Godwit-Error"

	codeBadRequest      = "BadRequest"
	codeTableNotFound   = "TableNotFound"
	codeSessionNotFound = "SessionNotFound"
	codeTooManySessions = "TooManySessions"
	codeInternal        = "Internal"
)

// SnapshotSubject is the subject of one snapshot operation ("open", "next"
// or "close") served by region.
func SnapshotSubject(region, op string) string { return "gw.ctl." + region + ".snapshot." + op }

type snapshotOpenRequest struct {
	V     int    `json:"v"`
	Table string `json:"table"`
}

type snapshotNextRequest struct {
	V         int    `json:"v"`
	Session   string `json:"session"`
	Partition int    `json:"partition"`
	After     []byte `json:"after,omitempty"` // the last key received; absent: from the start
}

type snapshotCloseRequest struct {
	V       int    `json:"v"`
	Session string `json:"session"`
}

// snapshotPos is an engine.ReplicaPos on the wire.
type snapshotPos struct {
	StreamSeq uint64 `json:"streamSeq,omitempty"`
	ChangeSeq uint64 `json:"changeSeq,omitempty"`
}

func (p snapshotPos) pos() engine.ReplicaPos {
	return engine.ReplicaPos{StreamSeq: p.StreamSeq, ChangeSeq: p.ChangeSeq}
}

func wirePos(p engine.ReplicaPos) snapshotPos {
	return snapshotPos{StreamSeq: p.StreamSeq, ChangeSeq: p.ChangeSeq}
}

type snapshotOpenReply struct {
	V          int    `json:"v"`
	Session    string `json:"session"`
	Region     string `json:"region"`
	Table      string `json:"table"`
	Partitions int    `json:"partitions"`
	HashKey    string `json:"hashKey"`
	HashType   string `json:"hashType"`
	RangeKey   string `json:"rangeKey,omitempty"`
	RangeType  string `json:"rangeType,omitempty"`
	// Positions is, per partition, the snapshot's own outbox position and,
	// when the server could place it in its stream, the stream sequence.
	Positions []snapshotPos `json:"positions"`
	// Applied is, per other region, the positions the source had applied.
	Applied map[string][]snapshotPos `json:"applied,omitempty"`
	// Items and Bytes estimate the table's size (tombstones not counted).
	Items         int64 `json:"items"`
	Bytes         int64 `json:"bytes"`
	IdleTimeoutMs int64 `json:"idleTimeoutMs"`
}

type snapshotCloseReply struct {
	V int `json:"v"`
}

// appendChunk encodes a chunk.
func appendChunk(dst []byte, entries []engine.SnapshotEntry, done bool) []byte {
	var flags byte
	if done {
		flags = 1
	}
	dst = append(dst, snapshotChunkFormat, flags)
	dst = binary.AppendUvarint(dst, uint64(len(entries)))
	for _, e := range entries {
		var kind byte
		if e.Tombstone {
			kind = 1
		}
		dst = append(dst, kind)
		dst = binary.AppendUvarint(dst, uint64(len(e.Key)))
		dst = append(dst, e.Key...)
		dst = binary.AppendUvarint(dst, uint64(len(e.Value)))
		dst = append(dst, e.Value...)
	}
	return dst
}

var errBadChunk = errors.New("globaltables: malformed snapshot chunk")

// decodeChunk decodes a chunk; the entries' slices point into b.
func decodeChunk(b []byte) (entries []engine.SnapshotEntry, done bool, err error) {
	if len(b) < 2 || b[0] != snapshotChunkFormat || b[1] > 1 {
		return nil, false, errBadChunk
	}
	done = b[1] == 1
	b = b[2:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) { // every entry takes at least 3 bytes
		return nil, false, errBadChunk
	}
	b = b[k:]
	bytesOf := func() ([]byte, bool) {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, false
		}
		out := b[k : k+int(l) : k+int(l)]
		b = b[k+int(l):]
		return out, true
	}
	entries = make([]engine.SnapshotEntry, 0, n)
	for i := uint64(0); i < n; i++ {
		if len(b) == 0 || b[0] > 1 {
			return nil, false, errBadChunk
		}
		e := engine.SnapshotEntry{Tombstone: b[0] == 1}
		b = b[1:]
		var ok1, ok2 bool
		e.Key, ok1 = bytesOf()
		e.Value, ok2 = bytesOf()
		if !ok1 || !ok2 {
			return nil, false, errBadChunk
		}
		entries = append(entries, e)
	}
	if len(b) != 0 {
		return nil, false, errBadChunk
	}
	return entries, done, nil
}

// SnapshotError is an error reply of a snapshot server.
type SnapshotError struct {
	Code    string
	Message string
}

func (e *SnapshotError) Error() string {
	return fmt.Sprintf("globaltables: snapshot server: %s: %s", e.Code, e.Message)
}

// ErrSessionNotFound is wrapped (via SnapshotError.Is) by replies about a
// session that expired, was closed, or never existed.
var ErrSessionNotFound = errors.New("globaltables: snapshot session not found")

// Is makes errors.Is(err, ErrSessionNotFound) hold for that code.
func (e *SnapshotError) Is(target error) bool {
	return target == ErrSessionNotFound && e.Code == codeSessionNotFound
}

// replyError returns the error a reply carries, nil if none.
func replyError(m *nats.Msg) error {
	if code := m.Header.Get(HeaderError); code != "" {
		return &SnapshotError{Code: code, Message: string(m.Data)}
	}
	return nil
}
