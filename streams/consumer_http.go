package streams

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/godwit-db/godwit/engine/attr"
	"github.com/godwit-db/godwit/internal/backoff"
)

// HTTPSource is a Source reading one table stream through the DynamoDB
// Streams API (a godwit server's, over HTTP) with the aws-sdk-go-v2
// dynamodbstreams client: the path of `godwit tail --endpoint`. Shard
// positions are the record positions godwit's sequence numbers encode
// (ParseSequenceNumber), so a record's Seq means the same on both sources.
// Its positions are always records' own (it resumes with
// AFTER_SEQUENCE_NUMBER, which needs one); a JetStreamSource watermark
// (a position that is not a record's) is not a valid start for it.
type HTTPSource struct {
	client *dynamodbstreams.Client
	arn    string
	cfg    HTTPSourceConfig
}

// HTTPSourceConfig tunes an HTTPSource. Zero fields take their defaults.
type HTTPSourceConfig struct {
	// Limit is GetRecords' Limit. Default 1000.
	Limit int32
	// PollInterval is the pause after a GetRecords that found nothing.
	// Default 200ms.
	PollInterval time.Duration
}

var _ Source = (*HTTPSource)(nil)

// NewHTTPSource returns a Source for the stream with ARN streamARN.
func NewHTTPSource(client *dynamodbstreams.Client, streamARN string, cfg HTTPSourceConfig) *HTTPSource {
	if cfg.Limit <= 0 || cfg.Limit > 1000 {
		cfg.Limit = 1000
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 200 * time.Millisecond
	}
	return &HTTPSource{client: client, arn: streamARN, cfg: cfg}
}

// LatestStreamARN returns the ARN of table's most recent stream (enabled or
// not) as ListStreams reports it, or "" when the table has none.
func LatestStreamARN(ctx context.Context, client *dynamodbstreams.Client, table string) (string, error) {
	in := &dynamodbstreams.ListStreamsInput{TableName: aws.String(table)}
	var best, bestLabel string
	for {
		out, err := client.ListStreams(ctx, in)
		if err != nil {
			return "", fmt.Errorf("streams: list streams of %s: %w", table, err)
		}
		for _, s := range out.Streams {
			if l := aws.ToString(s.StreamLabel); aws.ToString(s.TableName) == table && l >= bestLabel {
				best, bestLabel = aws.ToString(s.StreamArn), l
			}
		}
		if out.LastEvaluatedStreamArn == nil {
			return best, nil
		}
		in.ExclusiveStartStreamArn = out.LastEvaluatedStreamArn
	}
}

// Shards pages through DescribeStream.
func (s *HTTPSource) Shards(ctx context.Context) ([]Shard, error) {
	in := &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(s.arn)}
	var out []Shard
	for {
		d, err := s.client.DescribeStream(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("streams: describe stream %s: %w", s.arn, err)
		}
		for _, sh := range d.StreamDescription.Shards {
			id := aws.ToString(sh.ShardId)
			_, part, ok := ParseShardID(id)
			if !ok {
				part = len(out) // NB: not a godwit shard id; any distinct number serves
			}
			closed := sh.SequenceNumberRange != nil && sh.SequenceNumberRange.EndingSequenceNumber != nil
			out = append(out, Shard{ID: id, Partition: part, Closed: closed})
		}
		if d.StreamDescription.LastEvaluatedShardId == nil {
			return out, nil
		}
		in.ExclusiveStartShardId = d.StreamDescription.LastEvaluatedShardId
	}
}

// Open gets a shard iterator: AFTER_SEQUENCE_NUMBER for a saved position,
// else TRIM_HORIZON or LATEST. The start it reports is always 0 (unknown):
// the API's iterators are opaque.
func (s *HTTPSource) Open(ctx context.Context, sh Shard, from StartFrom, after uint64) (ShardReader, uint64, error) {
	r := &httpShardReader{src: s, shard: sh, from: from, pos: after}
	if err := r.reopen(ctx); err != nil {
		return nil, 0, err
	}
	return r, 0, nil
}

type httpShardReader struct {
	src   *HTTPSource
	shard Shard
	from  StartFrom
	pos   uint64  // the position of the last record returned
	iter  *string // nil: the shard is closed and fully read
}

func (r *httpShardReader) reopen(ctx context.Context) error {
	in := &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(r.src.arn), ShardId: aws.String(r.shard.ID)}
	switch {
	case r.pos > 0:
		in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
		in.SequenceNumber = aws.String(SequenceNumber(r.pos))
	case r.from == Latest:
		in.ShardIteratorType = types.ShardIteratorTypeLatest
	default:
		in.ShardIteratorType = types.ShardIteratorTypeTrimHorizon
	}
	out, err := r.src.client.GetShardIterator(ctx, in)
	if err != nil {
		return httpErr(err, "get shard iterator for "+r.shard.ID)
	}
	r.iter = out.ShardIterator
	return nil
}

// Read is one GetRecords, then a pause of PollInterval when it found nothing.
func (r *httpShardReader) Read(ctx context.Context) ([]Record, uint64, error) {
	if r.iter == nil {
		return nil, r.pos, io.EOF
	}
	out, err := r.src.client.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{
		ShardIterator: r.iter,
		Limit:         aws.Int32(r.src.cfg.Limit),
	})
	var expired *types.ExpiredIteratorException
	if errors.As(err, &expired) {
		// NB: an idle shard's iterator outlives its 15 minutes only if
		// nobody polls; take a new one where the old one stood.
		if err := r.reopen(ctx); err != nil {
			return nil, r.pos, err
		}
		return nil, r.pos, nil
	}
	if err != nil {
		return nil, r.pos, httpErr(err, "get records of "+r.shard.ID)
	}
	recs := make([]Record, 0, len(out.Records))
	for i := range out.Records {
		rec, err := recordOfAPI(&out.Records[i], r.shard)
		if err != nil {
			return nil, r.pos, err
		}
		recs = append(recs, rec)
		r.pos = rec.Seq
	}
	r.iter = out.NextShardIterator
	if len(recs) == 0 && r.iter != nil && !backoff.Sleep(ctx, r.src.cfg.PollInterval) {
		return nil, r.pos, ctx.Err()
	}
	return recs, r.pos, nil
}

func (r *httpShardReader) Close() error { return nil }

// httpErr maps the API's TrimmedDataAccessException to ErrTrimmed.
func httpErr(err error, what string) error {
	var trimmed *types.TrimmedDataAccessException
	if errors.As(err, &trimmed) {
		return fmt.Errorf("%w: %s: %v", ErrTrimmed, what, err)
	}
	return fmt.Errorf("streams: %s: %w", what, err)
}

// recordOfAPI converts a GetRecords record of shard sh.
func recordOfAPI(in *types.Record, sh Shard) (Record, error) {
	d := in.Dynamodb
	if d == nil {
		return Record{}, fmt.Errorf("streams: record %s of %s has no dynamodb member", aws.ToString(in.EventID), sh.ID)
	}
	seq, ok := ParseSequenceNumber(aws.ToString(d.SequenceNumber))
	if !ok {
		return Record{}, fmt.Errorf("streams: record %s of %s: sequence number %q is not godwit's", aws.ToString(in.EventID), sh.ID, aws.ToString(d.SequenceNumber))
	}
	ev := StreamRecord{
		EventID:      aws.ToString(in.EventID),
		EventName:    string(in.EventName),
		EventVersion: aws.ToString(in.EventVersion),
		EventSource:  aws.ToString(in.EventSource),
		AWSRegion:    aws.ToString(in.AwsRegion),
		Dynamodb: RecordData{
			Keys:           itemOfAPI(d.Keys),
			NewImage:       itemOfAPI(d.NewImage),
			OldImage:       itemOfAPI(d.OldImage),
			SequenceNumber: aws.ToString(d.SequenceNumber),
			SizeBytes:      aws.ToInt64(d.SizeBytes),
			StreamViewType: string(d.StreamViewType),
		},
	}
	if ev.Dynamodb.Keys == nil {
		ev.Dynamodb.Keys = attr.Item{}
	}
	if d.ApproximateCreationDateTime != nil {
		ev.Dynamodb.ApproximateCreationDateTime = d.ApproximateCreationDateTime.Unix()
	}
	if u := in.UserIdentity; u != nil {
		ev.UserIdentity = &Identity{Type: aws.ToString(u.Type), PrincipalID: aws.ToString(u.PrincipalId)}
	}
	return Record{ShardID: sh.ID, Partition: sh.Partition, Seq: seq, Event: ev}, nil
}

func itemOfAPI(m map[string]types.AttributeValue) attr.Item {
	if m == nil {
		return nil
	}
	it := make(attr.Item, len(m))
	for k, v := range m {
		it[k] = valueOfAPI(v)
	}
	return it
}

func valueOfAPI(v types.AttributeValue) attr.Value {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return attr.Value{Type: attr.S, S: v.Value}
	case *types.AttributeValueMemberN:
		return attr.Value{Type: attr.N, S: v.Value}
	case *types.AttributeValueMemberB:
		return attr.Value{Type: attr.B, B: v.Value}
	case *types.AttributeValueMemberBOOL:
		return attr.Value{Type: attr.BOOL, Bool: v.Value}
	case *types.AttributeValueMemberNULL:
		return attr.Value{Type: attr.NULL}
	case *types.AttributeValueMemberSS:
		return attr.Value{Type: attr.SS, Set: v.Value}
	case *types.AttributeValueMemberNS:
		return attr.Value{Type: attr.NS, Set: v.Value}
	case *types.AttributeValueMemberBS:
		return attr.Value{Type: attr.BS, BSet: v.Value}
	case *types.AttributeValueMemberM:
		m := make(map[string]attr.Value, len(v.Value))
		for k, e := range v.Value {
			m[k] = valueOfAPI(e)
		}
		return attr.Value{Type: attr.M, M: m}
	case *types.AttributeValueMemberL:
		l := make([]attr.Value, len(v.Value))
		for i, e := range v.Value {
			l[i] = valueOfAPI(e)
		}
		return attr.Value{Type: attr.L, L: l}
	}
	return attr.Value{} // an unknown member: encodes as null
}
