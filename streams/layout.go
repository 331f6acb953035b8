package streams

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// The JetStream layout of godwit's change streams. It is a persisted
// format shared by the publisher, the Streams API, the consumer library and
// other regions' replicators: change it only with a new layoutVersion.
//
//	stream   GW_<tableID>_<label>          one JetStream stream per table stream (per enable)
//	subject  gw.<region>.<tableID>.<label>.<partition>
//	message  body: engine.Change (AppendBinary); headers below
//
// <label> is the stream label with its punctuation removed
// ("2026-11-21T14:27:59.123" -> "20261121T142759123"). One subject per
// table partition keeps each partition's records in order; a partition is
// a DynamoDB Streams shard.
const layoutVersion = "1"

// Message headers.
const (
	// HeaderMsgID is JetStream's deduplication id: <tableID>.<label>.<partition>.<outbox seq>.
	HeaderMsgID = "Nats-Msg-Id"
	// HeaderOrigin names the region where the change was originally made
	// (never a user attribute): replicators forward only their peer's own changes.
	HeaderOrigin = "Godwit-Origin"
	// HeaderSeq is the engine outbox sequence of the change within its partition.
	HeaderSeq = "Godwit-Seq"
	// HeaderLayout is layoutVersion.
	HeaderLayout = "Godwit-Layout"
)

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

// MsgID is the deduplication id of a change.
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

// SequenceNumber renders a JetStream stream sequence as a DynamoDB Streams
// SequenceNumber: "1" followed by the sequence zero-padded to 20 digits, so
// it always has 21 digits, never starts with 0, and grows as a big integer
// (and as a string) with the JetStream sequence within a shard.
func SequenceNumber(jsSeq uint64) string {
	return fmt.Sprintf("1%020d", jsSeq)
}

var seqBase = new(big.Int).Exp(big.NewInt(10), big.NewInt(20), nil)

// ParseSequenceNumber inverts SequenceNumber. It accepts any decimal string
// of 21 to 40 digits (as AWS does) and reports ok=false for one that no
// godwit stream could have issued.
func ParseSequenceNumber(s string) (jsSeq uint64, ok bool) {
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
