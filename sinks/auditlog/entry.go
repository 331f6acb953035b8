package auditlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"time"
)

// FormatVersion is the v of every entry and of the head file.
const FormatVersion = 1

// GenesisHash is the prev of the first entry of a log.
var GenesisHash = string(bytes.Repeat([]byte{'0'}, 64))

// Entry is one line of the log.
type Entry struct {
	V    int    `json:"v"`
	Seq  uint64 `json:"seq"`
	Time string `json:"time"` // when the entry was appended, RFC 3339 UTC with nanoseconds
	// Consumer, Table and ShardID locate the record.
	Consumer string `json:"consumer"`
	Table    string `json:"table"`
	ShardID  string `json:"shardId"`
	// EventID, EventName and SequenceNumber are the record's.
	EventID        string `json:"eventID"`
	EventName      string `json:"eventName"`
	SequenceNumber string `json:"sequenceNumber"`
	// Identity is who made the change.
	Identity Identity `json:"identity"`
	// Record is the stream record exactly as a Lambda event carries it:
	// keys and images (as the stream's view type has them) are in
	// record.dynamodb.
	Record json.RawMessage `json:"record"`
	// Prev is the previous entry's Hash (GenesisHash for the first).
	Prev string `json:"prev"`
	// Hash is the hex SHA-256 of the line without its hash member: the
	// bytes up to `,"hash":` followed by `}`.
	Hash string `json:"hash"`
}

// Identity is the writer of a change.
type Identity struct {
	// AccessKeyID is the access key that made the write, when known.
	AccessKeyID string `json:"accessKeyId,omitempty"`
	// OriginRegion is the region where the write was made (a replicated
	// write names its source region).
	OriginRegion string `json:"originRegion,omitempty"`
	// Type and PrincipalID are the record's userIdentity (a TTL delete:
	// Service, dynamodb.amazonaws.com).
	Type        string `json:"type,omitempty"`
	PrincipalID string `json:"principalId,omitempty"`
}

// hashMember is what separates an entry's body from its hash.
var hashMember = []byte(`,"hash":"`)

// encodeLine returns e's line (with its newline) and its hash. e.Hash is ignored.
func encodeLine(e Entry) ([]byte, string, error) {
	e.Hash = ""
	type noHash struct {
		V              int             `json:"v"`
		Seq            uint64          `json:"seq"`
		Time           string          `json:"time"`
		Consumer       string          `json:"consumer"`
		Table          string          `json:"table"`
		ShardID        string          `json:"shardId"`
		EventID        string          `json:"eventID"`
		EventName      string          `json:"eventName"`
		SequenceNumber string          `json:"sequenceNumber"`
		Identity       Identity        `json:"identity"`
		Record         json.RawMessage `json:"record"`
		Prev           string          `json:"prev"`
	}
	body, err := json.Marshal(noHash{e.V, e.Seq, e.Time, e.Consumer, e.Table, e.ShardID, e.EventID, e.EventName,
		e.SequenceNumber, e.Identity, e.Record, e.Prev})
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])
	line := make([]byte, 0, len(body)+len(hashMember)+len(h)+3)
	line = append(line, body[:len(body)-1]...)
	line = append(line, hashMember...)
	line = append(line, h...)
	line = append(line, '"', '}', '\n')
	return line, h, nil
}

// errBadLine: a line is not an entry, or its hash does not match it.
var errBadLine = errors.New("auditlog: bad entry")

// decodeLine parses line (without its newline) and checks its own hash.
func decodeLine(line []byte) (Entry, error) {
	var e Entry
	i := bytes.LastIndex(line, hashMember)
	if i < 0 || !bytes.HasSuffix(line, []byte(`"}`)) {
		return e, fmt.Errorf("%w: no hash member at the end", errBadLine)
	}
	if err := json.Unmarshal(line, &e); err != nil {
		return e, fmt.Errorf("%w: %v", errBadLine, err)
	}
	body := make([]byte, 0, i+1)
	body = append(body, line[:i]...)
	body = append(body, '}')
	sum := sha256.Sum256(body)
	if got := hex.EncodeToString(sum[:]); got != e.Hash || i+len(hashMember)+len(got)+2 != len(line) {
		return e, fmt.Errorf("%w: hash %s does not match the entry (it hashes to %s)", errBadLine, short(e.Hash), short(got))
	}
	if e.V != FormatVersion {
		return e, fmt.Errorf("%w: format version %d", errBadLine, e.V)
	}
	return e, nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// Segment files are named segmentPrefix + 8-digit number + segmentSuffix,
// numbered from 1 without gaps.
const (
	segmentPrefix = "audit-"
	segmentSuffix = ".jsonl"
	headName      = "head.json"
	headSize      = 256
)

var segmentPattern = regexp.MustCompile(`^audit-(\d{8,})\.jsonl$`)

func segmentName(n int) string { return fmt.Sprintf("%s%08d%s", segmentPrefix, n, segmentSuffix) }

// segment is a segment file found in a directory.
type segment struct {
	n    int
	name string
}

// listSegments returns dir's segments in number order.
func listSegments(dir string) ([]segment, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []segment
	for _, de := range des {
		m := segmentPattern.FindStringSubmatch(de.Name())
		if m == nil || !de.Type().IsRegular() {
			continue
		}
		n, err := strconv.Atoi(m[1])
		if err != nil {
			continue
		}
		segs = append(segs, segment{n: n, name: de.Name()})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].n < segs[j].n })
	return segs, nil
}

// head is the head file: where the log ended at the last completed Deliver.
type head struct {
	V       int    `json:"v"`
	Segment string `json:"segment"`
	Seq     uint64 `json:"seq"`
	Hash    string `json:"hash"`
}

// encodeHead returns the head file's fixed-size content: one write of one
// sector's worth, so it is replaced whole or not at all.
func encodeHead(h head) []byte {
	b, _ := json.Marshal(h) // NB: cannot fail.
	out := bytes.Repeat([]byte{' '}, headSize)
	copy(out, b)
	out[headSize-1] = '\n'
	return out
}

// readHead reads dir's head file; ok is false if there is none.
func readHead(dir string) (h head, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, headName))
	if errors.Is(err, os.ErrNotExist) {
		return h, false, nil
	}
	if err != nil {
		return h, false, err
	}
	if err := json.Unmarshal(bytes.TrimSpace(b), &h); err != nil {
		return h, true, fmt.Errorf("auditlog: %s: %w", headName, err)
	}
	return h, true, nil
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// EncodeLine returns the line (newline included) that e is written as,
// with e.Hash recomputed. For tools that rewrite or forge entries (tests).
func EncodeLine(e Entry) ([]byte, error) {
	l, _, err := encodeLine(e)
	return l, err
}
