package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/godwit-db/godwit/sinks"
)

// ErrTooLarge: a record's message is over the server's or the stream's
// size limit (a function error).
var ErrTooLarge = errors.New("nats: record too large to publish")

// Headers set on every message besides Nats-Msg-Id.
const (
	HeaderTable          = "Godwit-Table"
	HeaderShardID        = "Godwit-Shard-Id"
	HeaderSequenceNumber = "Godwit-Sequence-Number"
	HeaderEventName      = "Godwit-Event-Name"
)

// Config configures a Target.
type Config struct {
	// Subject is the subject template (see the package doc). Required.
	Subject string
	// JetStream publishes with JetStream acks (durable) instead of core
	// NATS. Default false.
	JetStream bool
	// Timeout bounds the flush or the wait for a batch's acks. Default 5s.
	Timeout time.Duration
	// Logger receives the target's logs. Default a null logger.
	Logger hclog.Logger
}

// DefaultConfig returns a Config with every default filled in but Subject.
func DefaultConfig() Config { return Config{Timeout: 5 * time.Second} }

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if _, err := ParseSubject(c.Subject); err != nil {
		errs = append(errs, fmt.Errorf("nats: Subject: %w", err))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("nats: Timeout %s is negative", c.Timeout))
	}
	return errors.Join(errs...)
}

// Target republishes records on a NATS connection. Safe for concurrent use.
type Target struct {
	cfg  Config
	nc   *natsgo.Conn
	js   jetstream.JetStream
	subj Template
	log  hclog.Logger
}

var _ sinks.Target = (*Target)(nil)

// New returns a Target publishing on nc, which the caller owns (Close
// does not close it). The caller's Config is not modified.
func New(nc *natsgo.Conn, cfg Config) (*Target, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if nc == nil {
		return nil, errors.New("nats: no connection")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultConfig().Timeout
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	t := &Target{cfg: cfg, nc: nc, log: cfg.Logger.Named("nats").With("subject", cfg.Subject)}
	t.subj, _ = ParseSubject(cfg.Subject) // validated above
	if cfg.JetStream {
		js, err := jetstream.New(nc)
		if err != nil {
			return nil, fmt.Errorf("nats: jetstream: %w", err)
		}
		t.js = js
	}
	return t, nil
}

// recordMeta is what a record's JSON says about the subject and headers.
type recordMeta struct {
	EventID   string `json:"eventID"`
	EventName string `json:"eventName"`
	AWSRegion string `json:"awsRegion"`
}

func (t *Target) messages(b *sinks.Batch) ([]*natsgo.Msg, error) {
	msgs := make([]*natsgo.Msg, 0, len(b.Records))
	for i := range b.Records {
		r := &b.Records[i]
		var m recordMeta
		if err := json.Unmarshal(r.Event, &m); err != nil {
			return nil, fmt.Errorf("nats: record %s: %w", r.SequenceNumber, err)
		}
		id := m.EventID
		if id == "" {
			id = b.StreamARN + "/" + r.SequenceNumber
		}
		msg := natsgo.NewMsg(t.subj.Render(Values{Table: b.Table, EventName: m.EventName, Region: m.AWSRegion, ShardID: b.ShardID, Consumer: b.Consumer}))
		msg.Data = r.Event
		msg.Header.Set(natsgo.MsgIdHdr, id)
		msg.Header.Set(HeaderTable, b.Table)
		msg.Header.Set(HeaderShardID, b.ShardID)
		msg.Header.Set(HeaderSequenceNumber, r.SequenceNumber)
		msg.Header.Set(HeaderEventName, m.EventName)
		msgs = append(msgs, msg)
	}
	return msgs, nil
}

// classify maps a NATS error to ErrTooLarge or ErrTransient.
func classify(err error) error {
	if errors.Is(err, natsgo.ErrMaxPayload) || errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum) {
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum {
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	return fmt.Errorf("%w: nats: %w", sinks.ErrTransient, err)
}

// Deliver publishes every record of b in order (see the package doc).
func (t *Target) Deliver(ctx context.Context, b *sinks.Batch) (sinks.Result, error) {
	msgs, err := t.messages(b)
	if err != nil {
		return sinks.Result{}, err
	}
	if st := t.nc.Status(); st != natsgo.CONNECTED {
		return sinks.Result{}, fmt.Errorf("%w: nats: connection is %s", sinks.ErrTransient, st)
	}
	// NB: a record over the server's limit would only fail in the
	// background (async publish) or kill the connection: check first.
	if max := t.nc.MaxPayload(); max > 0 {
		for _, m := range msgs {
			if size := int64(len(m.Data) + len(m.Subject) + headerSize(m)); size > max {
				return sinks.Result{}, fmt.Errorf("%w: %s is %d bytes, the server takes %d", ErrTooLarge, m.Header.Get(HeaderSequenceNumber), size, max)
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	if t.js == nil {
		for _, m := range msgs {
			if err := t.nc.PublishMsg(m); err != nil {
				return sinks.Result{}, classify(err)
			}
		}
		if err := t.nc.FlushWithContext(ctx); err != nil {
			return sinks.Result{}, classify(err)
		}
		return sinks.Result{}, nil
	}
	futs := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		f, err := t.js.PublishMsgAsync(m)
		if err != nil {
			return sinks.Result{}, classify(err)
		}
		futs = append(futs, f)
	}
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return sinks.Result{}, classify(err)
		case <-ctx.Done():
			return sinks.Result{}, classify(fmt.Errorf("waiting for acks: %w", ctx.Err()))
		}
	}
	return sinks.Result{}, nil
}

func headerSize(m *natsgo.Msg) int {
	n := 12 // NATS/1.0\r\n + final \r\n
	for k, vs := range m.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// Close does nothing: the connection belongs to the caller. JetStream
// acks still pending belong to Delivers that have not returned.
func (t *Target) Close() error { return nil }

// Values fill a subject template.
type Values struct {
	Table, EventName, Region, ShardID, Consumer string
}

// Template is a parsed subject template.
type Template struct {
	parts []part
}

type part struct {
	lit string
	ph  string // placeholder name, "" for a literal
}

var placeholders = map[string]bool{"table": true, "eventName": true, "region": true, "shardId": true, "consumer": true}

// ParseSubject parses and validates a subject template.
func ParseSubject(s string) (Template, error) {
	var t Template
	if s == "" {
		return t, errors.New("required")
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" {
			return t, fmt.Errorf("%q has an empty token", s)
		}
	}
	rest := s
	for rest != "" {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			t.parts = append(t.parts, part{lit: rest})
			break
		}
		if rest[i] == '}' {
			return t, fmt.Errorf("%q: '}' without '{'", s)
		}
		if i > 0 {
			t.parts = append(t.parts, part{lit: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return t, fmt.Errorf("%q: '{' without '}'", s)
		}
		name := rest[i+1 : i+j]
		if !placeholders[name] {
			return t, fmt.Errorf("%q: unknown placeholder {%s} (want {table}, {eventName}, {region}, {shardId} or {consumer})", s, name)
		}
		t.parts = append(t.parts, part{ph: name})
		rest = rest[i+j+1:]
	}
	for _, p := range t.parts {
		if p.ph == "" && strings.ContainsAny(p.lit, "*> \t\r\n") {
			return t, fmt.Errorf("%q: wildcards and whitespace are not allowed in a subject to publish to", s)
		}
	}
	return t, nil
}

// Render fills the template.
func (t Template) Render(v Values) string {
	var sb strings.Builder
	for _, p := range t.parts {
		switch p.ph {
		case "":
			sb.WriteString(p.lit)
		case "table":
			sb.WriteString(token(v.Table))
		case "eventName":
			sb.WriteString(token(v.EventName))
		case "region":
			sb.WriteString(token(v.Region))
		case "shardId":
			sb.WriteString(token(v.ShardID))
		case "consumer":
			sb.WriteString(token(v.Consumer))
		}
	}
	return sb.String()
}

// token makes s safe inside one subject token.
func token(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '.', r == '*', r == '>', r <= ' ', r == 0x7f:
			return '_'
		}
		return r
	}, s)
}
