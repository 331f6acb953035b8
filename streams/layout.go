package streams

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
)

// The JetStream layout of godwit's change streams. It is a persisted
// format shared by the publisher, the Streams API, the consumer library and
// other regions' replicators: change it only with a new layoutVersion.
//
//	stream   GW_<tableID>_<label>          one JetStream stream per table stream (per enable)
//	subject  gw.<region>.<tableID>.<label>.<partition>
//	message  one or more consecutive records of the partition; headers below
//
// <label> is the stream label with its punctuation removed
// ("2026-11-21T14:27:59.123" -> "20261121T142759123"). One subject per
// table partition keeps each partition's records in order; a partition is
// a DynamoDB Streams shard.
//
// Layout 2 lets one message carry several records: every JetStream
// message costs the server the same work (parse, dedupe, store, ack)
// whatever its size, and that per-message work was a fifth of a streamed
// PutItem's CPU. A message carries up to MaxRecordsPerMessage records of
// one partition, one stream label and one origin, with consecutive outbox
// sequences. A message of one record is exactly a layout 1 message, so
// layout 1 streams read the same way.
//
// Body: one record is its engine.Change encoding (AppendBinary); several
// (HeaderCount present, > 1) are each a uvarint length followed by the
// encoding (AppendRecord, SplitRecords).
//
// A record's position within its stream is Pos(jsSeq, index): the
// message's JetStream stream sequence shifted left by posBits, plus the
// record's index in the message. Positions grow with the stream and are
// what SequenceNumber renders, what iterators, consumers and checkpoints
// hold, and what the records' Seq fields carry.
const layoutVersion = "2"

// Message headers.
const (
	// HeaderMsgID is JetStream's deduplication id:
	// <tableID>.<label>.<partition>.<outbox seq of the message's first record>.
	HeaderMsgID = "Nats-Msg-Id"
	// HeaderOrigin names the region where the message's changes were
	// originally made (never a user attribute): replicators forward only
	// their peer's own changes.
	HeaderOrigin = "Godwit-Origin"
	// HeaderSeq is the engine outbox sequence of the message's last record
	// within its partition (the records' sequences are consecutive).
	HeaderSeq = "Godwit-Seq"
	// HeaderCount is the number of records in the message, present only
	// when it is more than one.
	HeaderCount = "Godwit-Count"
	// HeaderLayout is layoutVersion.
	HeaderLayout = "Godwit-Layout"
)

// posBits is how many low bits of a position hold the record's index.
const posBits = 10

// MaxRecordsPerMessage bounds the records of one message.
const MaxRecordsPerMessage = 1 << posBits

// Pos is the position of the index-th record of the message at JetStream
// stream sequence jsSeq.
func Pos(jsSeq uint64, index int) uint64 { return jsSeq<<posBits | uint64(index) }

// SplitPos inverts Pos.
func SplitPos(pos uint64) (jsSeq uint64, index int) {
	return pos >> posBits, int(pos & (MaxRecordsPerMessage - 1))
}

// MessageCount is the number of records a message with these headers
// carries (1 without HeaderCount), or an error for a malformed count.
func MessageCount(h nats.Header) (int, error) {
	v := h.Get(HeaderCount)
	if v == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxRecordsPerMessage {
		return 0, fmt.Errorf("streams: bad %s header %q", HeaderCount, v)
	}
	return n, nil
}

// AppendRecord appends one record to the body of a message of several.
func AppendRecord(body, rec []byte) []byte {
	body = binary.AppendUvarint(body, uint64(len(rec)))
	return append(body, rec...)
}

// SplitRecords appends to dst the records of a message of count records
// (MessageCount) with body data: subslices of data, not copies.
func SplitRecords(dst [][]byte, count int, data []byte) ([][]byte, error) {
	if count == 1 {
		return append(dst, data), nil
	}
	for i := 0; i < count; i++ {
		n, k := binary.Uvarint(data)
		if k <= 0 || n > uint64(len(data)-k) {
			return dst, fmt.Errorf("streams: message body: record %d of %d is truncated", i, count)
		}
		dst = append(dst, data[k:k+int(n)])
		data = data[k+int(n):]
	}
	if len(data) != 0 {
		return dst, fmt.Errorf("streams: message body: %d bytes after its %d records", len(data), count)
	}
	return dst, nil
}

// Stream metadata keys (JetStream StreamConfig.Metadata).
const (
	MetaTable      = "godwit-table"
	MetaTableID    = "godwit-table-id"
	MetaLabel      = "godwit-label"
	MetaViewType   = "godwit-view-type"
	MetaPartitions = "godwit-partitions"
	MetaRegion     = "godwit-region"
	MetaCreated    = "godwit-created-ms" // stream creation, Unix milliseconds
	MetaDisabled   = "godwit-disabled-ms"
	MetaHashKey    = "godwit-hash-key"  // name:type, e.g. "pk:S"
	MetaRangeKey   = "godwit-range-key" // name:type or ""
	MetaLayout     = "godwit-layout"
)

// compactLabel removes the label's punctuation so it can sit in names and subjects.
func compactLabel(label string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r == 'T' {
			return r
		}
		return -1
	}, label)
}

// StreamName is the JetStream stream holding a table stream's records.
func StreamName(tableID uint32, label string) string {
	return fmt.Sprintf("GW_%d_%s", tableID, compactLabel(label))
}

// Subject is the subject of one partition's records.
func Subject(region string, tableID uint32, label string, partition int) string {
	return fmt.Sprintf("gw.%s.%d.%s.%d", region, tableID, compactLabel(label), partition)
}

// SubjectWildcard matches every partition subject of a table stream.
func SubjectWildcard(region string, tableID uint32, label string) string {
	return fmt.Sprintf("gw.%s.%d.%s.*", region, tableID, compactLabel(label))
}

// MsgID is the deduplication id of the message whose first record has
// outbox sequence seq.
func MsgID(tableID uint32, label string, partition int, seq uint64) string {
	return fmt.Sprintf("%d.%s.%d.%d", tableID, compactLabel(label), partition, seq)
}

// ShardID is the DynamoDB Streams shard id of a partition's subject:
// "shardId-" + 20-digit creation time in ms + "-" + 8 hex digits of the
// partition, so lexicographic order is creation order, then partition order.
func ShardID(createdMs int64, partition int) string {
	return fmt.Sprintf("shardId-%020d-%08x", createdMs, partition)
}

// ParseShardID returns the partition of a shard id made by ShardID.
func ParseShardID(id string) (createdMs int64, partition int, ok bool) {
	if len(id) != len("shardId-")+20+1+8 || !strings.HasPrefix(id, "shardId-") || id[28] != '-' {
		return 0, 0, false
	}
	ms, err := strconv.ParseInt(id[8:28], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	p, err := strconv.ParseUint(id[29:], 16, 32)
	if err != nil {
		return 0, 0, false
	}
	return ms, int(p), true
}

// SequenceNumber renders a record position (Pos) as a DynamoDB Streams
// SequenceNumber: "1" followed by the position zero-padded to 20 digits, so
// it always has 21 digits, never starts with 0, and grows as a big integer
// (and as a string) with the position within a shard.
func SequenceNumber(pos uint64) string {
	return fmt.Sprintf("1%020d", pos)
}

var seqBase = new(big.Int).Exp(big.NewInt(10), big.NewInt(20), nil)

// ParseSequenceNumber inverts SequenceNumber, returning the position. It
// accepts any decimal string of 21 to 40 digits (as AWS does) and reports
// ok=false for one that no godwit stream could have issued.
func ParseSequenceNumber(s string) (pos uint64, ok bool) {
	if len(s) < 21 || len(s) > 40 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, _ := new(big.Int).SetString(s, 10)
	n.Sub(n, seqBase)
	if n.Sign() < 0 || !n.IsUint64() {
		return 0, false
	}
	return n.Uint64(), true
}

// StreamARN is a table stream's ARN.
func StreamARN(region, account, table, label string) string {
	return fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s/stream/%s", region, account, table, label)
}

// ParseStreamARN splits a stream ARN into its table and label.
func ParseStreamARN(arn string) (region, account, table, label string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "dynamodb" || !strings.HasPrefix(parts[5], "table/") {
		return "", "", "", "", false
	}
	rest := strings.TrimPrefix(parts[5], "table/")
	i := strings.Index(rest, "/stream/")
	if i <= 0 || i+len("/stream/") >= len(rest) {
		return "", "", "", "", false
	}
	return parts[3], parts[4], rest[:i], rest[i+len("/stream/"):], true
}
