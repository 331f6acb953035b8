package streams

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"

	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/engine/attr"
)

// Stream view types (StreamSpecification.StreamViewType).
const (
	ViewKeysOnly        = "KEYS_ONLY"
	ViewNewImage        = "NEW_IMAGE"
	ViewOldImage        = "OLD_IMAGE"
	ViewNewAndOldImages = "NEW_AND_OLD_IMAGES"
)

// Constant members of every record (reference §4.3).
const (
	eventVersion    = "1.1"
	eventSource     = "aws:dynamodb"
	ttlIdentityType = "Service"
	ttlPrincipal    = "dynamodb.amazonaws.com"
)

// StreamRecord is one change as DynamoDB Streams' GetRecords returns it
// (reference §4.3): the shape `godwit tail` prints and the HTTP API sends.
// Its JSON form (MarshalJSON) is exactly the wire form; it decodes with
// encoding/json.
type StreamRecord struct {
	EventID      string     `json:"eventID"`
	EventName    string     `json:"eventName"`
	EventVersion string     `json:"eventVersion"`
	EventSource  string     `json:"eventSource"`
	AWSRegion    string     `json:"awsRegion"`
	Dynamodb     RecordData `json:"dynamodb"`
	// UserIdentity is set only on deletes made by the serving region's TTL sweeper.
	UserIdentity *Identity `json:"userIdentity,omitempty"`
}

// RecordData is a StreamRecord's "dynamodb" member.
type RecordData struct {
	// ApproximateCreationDateTime is in whole epoch seconds (rounded down),
	// sent as a JSON integer.
	ApproximateCreationDateTime int64     `json:"ApproximateCreationDateTime"`
	Keys                        attr.Item `json:"Keys"`
	NewImage                    attr.Item `json:"NewImage,omitempty"`
	OldImage                    attr.Item `json:"OldImage,omitempty"`
	SequenceNumber              string    `json:"SequenceNumber"`
	SizeBytes                   int64     `json:"SizeBytes"`
	StreamViewType              string    `json:"StreamViewType"`
}

// Identity is a StreamRecord's userIdentity.
type Identity struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId"`
}

// NewStreamRecord renders change c, stored at position pos (Pos) of the
// table stream named streamName, as DynamoDB Streams shows it in a stream of
// view type viewType served by region (its SequenceNumber is
// SequenceNumber(pos)):
//
//   - images are cut to the view type (KEYS_ONLY none, NEW_IMAGE only
//     NewImage, OLD_IMAGE only OldImage); an INSERT never has an OldImage
//     and a REMOVE never a NewImage, because the change has none;
//   - userIdentity marks a TTL delete only in the region whose sweeper made
//     it (c.Origin == region), never in a replica's stream;
//   - eventID is 32 hex digits derived from (region, streamName, pos), so a
//     record read twice has the same id and no two records share one.
func NewStreamRecord(c *engine.Change, pos uint64, streamName, viewType, region string) StreamRecord {
	r := StreamRecord{
		EventID:      eventID(region, streamName, pos),
		EventName:    c.EventName,
		EventVersion: eventVersion,
		EventSource:  eventSource,
		AWSRegion:    region,
		Dynamodb: RecordData{
			ApproximateCreationDateTime: floorDiv(c.CreatedAt, 1e9),
			Keys:                        c.Keys,
			SequenceNumber:              SequenceNumber(pos),
			StreamViewType:              viewType,
		},
	}
	if r.Dynamodb.Keys == nil {
		r.Dynamodb.Keys = attr.Item{}
	}
	switch viewType {
	case ViewNewImage:
		r.Dynamodb.NewImage = c.NewImage
	case ViewOldImage:
		r.Dynamodb.OldImage = c.OldImage
	case ViewNewAndOldImages:
		r.Dynamodb.NewImage = c.NewImage
		r.Dynamodb.OldImage = c.OldImage
	}
	size := attr.ItemSize(r.Dynamodb.Keys) + attr.ItemSize(r.Dynamodb.NewImage) + attr.ItemSize(r.Dynamodb.OldImage)
	r.Dynamodb.SizeBytes = max(int64(size), 1) // NB: the model's PositiveLongObject: at least 1.
	if c.TTL && c.Origin == region {
		r.UserIdentity = &Identity{Type: ttlIdentityType, PrincipalID: ttlPrincipal}
	}
	return r
}

// floorDiv is a/b rounded toward negative infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func eventID(region, streamName string, seq uint64) string {
	h := sha256.New()
	h.Write([]byte(region))
	h.Write([]byte{0})
	h.Write([]byte(streamName))
	h.Write([]byte{0})
	h.Write(strconv.AppendUint(nil, seq, 10))
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// MarshalJSON is AppendJSON for encoding/json.
func (r StreamRecord) MarshalJSON() ([]byte, error) { return r.AppendJSON(nil), nil }

// AppendJSON appends r's wire form (members in AWS's order; images with
// their attribute names sorted).
func (r *StreamRecord) AppendJSON(b []byte) []byte {
	b = append(b, `{"eventID":`...)
	b = appendJSONText(b, r.EventID)
	b = append(b, `,"eventName":`...)
	b = appendJSONText(b, r.EventName)
	b = append(b, `,"eventVersion":`...)
	b = appendJSONText(b, r.EventVersion)
	b = append(b, `,"eventSource":`...)
	b = appendJSONText(b, r.EventSource)
	b = append(b, `,"awsRegion":`...)
	b = appendJSONText(b, r.AWSRegion)
	d := &r.Dynamodb
	b = append(b, `,"dynamodb":{"ApproximateCreationDateTime":`...)
	b = strconv.AppendInt(b, d.ApproximateCreationDateTime, 10)
	b = append(b, `,"Keys":`...)
	b = attr.AppendItemJSON(b, d.Keys)
	if d.NewImage != nil {
		b = append(b, `,"NewImage":`...)
		b = attr.AppendItemJSON(b, d.NewImage)
	}
	if d.OldImage != nil {
		b = append(b, `,"OldImage":`...)
		b = attr.AppendItemJSON(b, d.OldImage)
	}
	b = append(b, `,"SequenceNumber":`...)
	b = appendJSONText(b, d.SequenceNumber)
	b = append(b, `,"SizeBytes":`...)
	b = strconv.AppendInt(b, d.SizeBytes, 10)
	b = append(b, `,"StreamViewType":`...)
	b = appendJSONText(b, d.StreamViewType)
	b = append(b, '}')
	if r.UserIdentity != nil {
		b = append(b, `,"userIdentity":{"type":`...)
		b = appendJSONText(b, r.UserIdentity.Type)
		b = append(b, `,"principalId":`...)
		b = appendJSONText(b, r.UserIdentity.PrincipalID)
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendJSONText appends s as a JSON string. The strings here are names and
// identifiers; anything beyond plain printable ASCII takes encoding/json's path.
func appendJSONText(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // NB: marshalling a string cannot fail.
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
