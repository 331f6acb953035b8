package sinks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Discard conditions of an OnFailure record.
const (
	// ConditionRetryAttemptsExhausted is AWS's name: MaximumRetryAttempts
	// ran out.
	ConditionRetryAttemptsExhausted = "RetryAttemptsExhausted"
	// ConditionRecordAgeExceeded is godwit's name for a discard because a
	// record outlived MaximumRecordAgeInSeconds (or the stream's
	// retention); AWS does not document its own.
	ConditionRecordAgeExceeded = "RecordAgeExceeded"
)

// FailureRecord is what a discarded batch sends to the OnFailure
// destination: AWS's OnFailure record (reference §6.3) plus, as for an S3
// destination, the invocation's payload (the event the function got).
type FailureRecord struct {
	RequestContext struct {
		RequestID              string `json:"requestId"`
		FunctionARN            string `json:"functionArn"`
		Condition              string `json:"condition"`
		ApproximateInvokeCount int    `json:"approximateInvokeCount"`
	} `json:"requestContext"`
	ResponseContext struct {
		StatusCode      int    `json:"statusCode"`
		ExecutedVersion string `json:"executedVersion"`
		FunctionError   string `json:"functionError,omitempty"`
		// ErrorMessage is a godwit extension: the last delivery error.
		ErrorMessage string `json:"errorMessage,omitempty"`
	} `json:"responseContext"`
	Version            string         `json:"version"`
	Timestamp          string         `json:"timestamp"`
	DDBStreamBatchInfo DDBStreamBatch `json:"DDBStreamBatchInfo"`
	// Payload is the event of the discarded records ({"Records":[...]}).
	Payload json.RawMessage `json:"payload"`
}

// DDBStreamBatch is a FailureRecord's DDBStreamBatchInfo.
type DDBStreamBatch struct {
	ShardID                         string `json:"shardId"`
	StartSequenceNumber             string `json:"startSequenceNumber"`
	EndSequenceNumber               string `json:"endSequenceNumber"`
	ApproximateArrivalOfFirstRecord string `json:"approximateArrivalOfFirstRecord"`
	ApproximateArrivalOfLastRecord  string `json:"approximateArrivalOfLastRecord"`
	BatchSize                       int    `json:"batchSize"`
	StreamARN                       string `json:"streamArn"`
}

// newFailureRecord describes the discard of b's records.
func newFailureRecord(b *Batch, functionARN, condition string, invokes int, lastErr error, now time.Time) ([]byte, error) {
	var r FailureRecord
	r.RequestContext.RequestID = newRequestID()
	r.RequestContext.FunctionARN = functionARN
	r.RequestContext.Condition = condition
	r.RequestContext.ApproximateInvokeCount = invokes
	r.ResponseContext.StatusCode = 200
	r.ResponseContext.ExecutedVersion = "$LATEST"
	if lastErr != nil {
		r.ResponseContext.ErrorMessage = lastErr.Error()
		if !errors.Is(lastErr, ErrTransient) {
			r.ResponseContext.FunctionError = "Unhandled"
		}
	}
	r.Version = "1.0"
	r.Timestamp = now.UTC().Format("2006-01-02T15:04:05.000Z")
	info := &r.DDBStreamBatchInfo
	info.ShardID = b.ShardID
	info.StreamARN = b.StreamARN
	info.BatchSize = len(b.Records)
	if n := len(b.Records); n > 0 {
		info.StartSequenceNumber = b.Records[0].SequenceNumber
		info.EndSequenceNumber = b.Records[n-1].SequenceNumber
		info.ApproximateArrivalOfFirstRecord = b.Records[0].Arrival.UTC().Format(time.RFC3339)
		info.ApproximateArrivalOfLastRecord = b.Records[n-1].Arrival.UTC().Format(time.RFC3339)
	}
	ev, err := b.Event()
	if err != nil {
		return nil, err
	}
	r.Payload = ev
	return json.Marshal(&r)
}

// newRequestID returns a random UUID (version 4) string.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // NB: crypto/rand.Read never fails (Go ≥ 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// failureSink writes failure records to a destination.
type failureSink interface {
	write(ctx context.Context, rec []byte) error
}

func newFailureSink(d string, js jetstream.JetStream) (failureSink, error) {
	if d == "" {
		return nil, nil
	}
	dest, err := parseDestination(d)
	if err != nil {
		return nil, err
	}
	if dest.kind == "nats" {
		return &natsFailureSink{js: js, subject: dest.arg}, nil
	}
	return &fileFailureSink{path: dest.arg}, nil
}

// natsWriteTimeout bounds one write to a nats: destination (it is retried).
const natsWriteTimeout = 10 * time.Second

// natsFailureSink publishes each failure record to a subject: through
// JetStream (waiting for the stream's ack) when a stream captures the
// subject, else as a plain NATS message, flushed to the server.
type natsFailureSink struct {
	js      jetstream.JetStream
	subject string
}

func (s *natsFailureSink) write(ctx context.Context, rec []byte) error {
	ctx, cancel := context.WithTimeout(ctx, natsWriteTimeout)
	defer cancel()
	// NB: a JetStream publish to a subject no stream captures would wait
	// for an ack that a plain subscriber never sends: look first.
	_, err := s.js.StreamNameBySubject(ctx, s.subject)
	switch {
	case err == nil:
		if _, err := s.js.Publish(ctx, s.subject, rec); err != nil {
			return fmt.Errorf("sinks: publish failure record to %s: %w", s.subject, err)
		}
		return nil
	case !errors.Is(err, jetstream.ErrStreamNotFound):
		return fmt.Errorf("sinks: failure destination %s: %w", s.subject, err)
	}
	// NB: no stream holds the subject: a plain publish reaches whoever
	// subscribes now, which is all NATS can offer.
	nc := s.js.Conn()
	if err := nc.Publish(s.subject, rec); err != nil {
		return fmt.Errorf("sinks: publish failure record to %s: %w", s.subject, err)
	}
	if err := nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("sinks: flush failure record to %s: %w", s.subject, err)
	}
	return nil
}

// fileFailureSink appends each failure record as one JSON line and fsyncs.
type fileFailureSink struct {
	path string
	mu   sync.Mutex
}

func (s *fileFailureSink) write(_ context.Context, rec []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if dir := filepath.Dir(s.path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("sinks: failure destination: %w", err)
		}
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("sinks: failure destination: %w", err)
	}
	line := append(append(make([]byte, 0, len(rec)+1), rec...), '\n')
	_, werr := f.Write(line)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("sinks: write failure record to %s: %w", s.path, err)
	}
	return nil
}
