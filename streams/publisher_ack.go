package streams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// pubAcks collects a worker's JetStream publish acknowledgements. Each
// record is published with a reply subject <inbox>.<epoch>.<seq> on a
// subscription of the worker's own, so that an ack costs one small message
// and a map entry, not nats.go's per-message future, reply registration
// and timeout timer. The epoch changes at every unsync: an ack of a record
// published before it is dropped (it can only confirm what the resync reads
// from JetStream anyway).
//
// The subscription's handler only parses and queues; everything else is
// the worker goroutine's.
type pubAcks struct {
	inbox string // "<unique inbox>.", "" before subscribe
	sub   *nats.Subscription
	wake  chan struct{}  // 1-buffered: acks were queued, or the connection was lost
	lost  *atomic.Uint64 // Publisher.lost
	// signal is fired by every successful ack: the record is readable.
	signal *pubSignal
	// tail, when not nil, is told every ack before signal fires, so that
	// a reader woken by it finds the record in the cache.
	tail *tailCache

	mu     sync.Mutex
	queued []pubAck // guarded by mu

	// The worker goroutine's.
	epoch    uint64
	epochStr string
	spare    []pubAck
	got      map[uint64]pubAck // this epoch's acks not yet waited for, by seq
	timer    *time.Timer
}

// pubAck is JetStream's answer to one publish.
type pubAck struct {
	epoch, seq uint64
	duplicate  bool
	err        error
}

// subscribe creates the reply subscription once.
func (a *pubAcks) subscribe(nc *nats.Conn) error {
	if a.sub != nil {
		return nil
	}
	inbox := nc.NewRespInbox() + "."
	a.inbox = inbox
	a.got = map[uint64]pubAck{}
	a.epochStr = strconv.FormatUint(a.epoch, 10) + "."
	sub, err := nc.Subscribe(inbox+">", a.handle)
	if err != nil {
		a.inbox = ""
		return fmt.Errorf("subscribe to publish acks: %w", err)
	}
	a.sub = sub
	return nil
}

// close drops the subscription.
func (a *pubAcks) close() {
	if a.sub != nil {
		_ = a.sub.Unsubscribe()
		a.sub = nil
	}
}

// reply is the reply subject of seq's publish in the current epoch.
func (a *pubAcks) reply(seq uint64) string {
	return a.inbox + a.epochStr + strconv.FormatUint(seq, 10)
}

// newEpoch forgets every ack received or still to come.
func (a *pubAcks) newEpoch() {
	a.epoch++
	a.epochStr = strconv.FormatUint(a.epoch, 10) + "."
	clear(a.got)
}

// handle runs on the subscription's goroutine.
func (a *pubAcks) handle(m *nats.Msg) {
	rest, ok := strings.CutPrefix(m.Subject, a.inbox)
	if !ok {
		return
	}
	es, ss, ok := strings.Cut(rest, ".")
	if !ok {
		return
	}
	epoch, err1 := strconv.ParseUint(es, 10, 64)
	seq, err2 := strconv.ParseUint(ss, 10, 64)
	if err1 != nil || err2 != nil {
		return
	}
	r := pubAck{epoch: epoch, seq: seq}
	var streamSeq uint64
	streamSeq, r.duplicate, r.err = parsePubAck(m)
	if a.tail != nil {
		// NB: before the ack is queued for the worker, so that once the
		// worker has settled a record its ack has reached the cache.
		a.tail.acked(epoch, seq, streamSeq, r.duplicate, r.err)
	}
	a.mu.Lock()
	a.queued = append(a.queued, r)
	a.mu.Unlock()
	poke(a.wake)
	if r.err == nil && a.signal != nil {
		a.signal.fire()
	}
}

// parsePubAck reads a JetStream publish answer: a PubAck (the stream
// sequence of the message, the original's for a duplicate), an API error,
// or a no-responders status (no stream listens on the subject).
func parsePubAck(m *nats.Msg) (seq uint64, duplicate bool, err error) {
	if len(m.Data) == 0 {
		if st := m.Header.Get("Status"); st != "" {
			if st == "503" {
				return 0, false, jetstream.ErrNoStreamResponse
			}
			return 0, false, fmt.Errorf("nats status %s %s", st, m.Header.Get("Description"))
		}
		return 0, false, errors.New("empty publish acknowledgement")
	}
	if bytes.Contains(m.Data, []byte(`"error"`)) {
		var resp struct {
			Error *jetstream.APIError `json:"error"`
		}
		if jerr := json.Unmarshal(m.Data, &resp); jerr != nil || resp.Error == nil {
			return 0, false, fmt.Errorf("malformed publish acknowledgement %q", m.Data)
		}
		return 0, false, resp.Error
	}
	i := bytes.Index(m.Data, []byte(`"seq":`))
	if i < 0 {
		return 0, false, fmt.Errorf("malformed publish acknowledgement %q", m.Data)
	}
	digits := 0
	// NB: nats-server writes the number right after the colon; JSON
	// allows spaces there, which are skipped.
	for _, c := range bytes.TrimLeft(m.Data[i+len(`"seq":`):], " \t\r\n") {
		if c < '0' || c > '9' {
			break
		}
		if seq > (1<<64-1-uint64(c-'0'))/10 {
			return 0, false, fmt.Errorf("malformed publish acknowledgement %q", m.Data)
		}
		seq = seq*10 + uint64(c-'0')
		digits++
	}
	if digits == 0 {
		return 0, false, fmt.Errorf("malformed publish acknowledgement %q", m.Data)
	}
	return seq, ackDuplicate(m.Data), nil
}

// ackDuplicate reports whether a PubAck says "duplicate": true (the server
// writes a space after the colon; any spacing there is accepted).
func ackDuplicate(b []byte) bool {
	i := bytes.Index(b, []byte(`"duplicate":`))
	if i < 0 {
		return false
	}
	return bytes.HasPrefix(bytes.TrimLeft(b[i+len(`"duplicate":`):], " \t\r\n"), []byte("true"))
}

// collect moves queued acks of the current epoch into got; it reports
// whether any ack was queued.
func (a *pubAcks) collect() bool {
	a.mu.Lock()
	q := a.queued
	a.queued = a.spare[:0]
	a.mu.Unlock()
	for _, r := range q {
		if r.epoch == a.epoch {
			a.got[r.seq] = r
		}
	}
	clear(q)
	a.spare = q[:0]
	return len(q) > 0
}

// wait returns seq's ack (or the error JetStream answered), waiting until
// deadline (then jetstream.ErrAsyncPublishTimeout), the connection was
// lost since the record was published, when lost was lost's count (then
// nats.ErrDisconnected: its ack may never come), or ctx is done.
func (a *pubAcks) wait(ctx context.Context, seq uint64, deadline time.Time, lost uint64) (pubAck, error) {
	if a.sub == nil {
		return pubAck{}, errors.New("no acknowledgement subscription")
	}
	for {
		if r, ok := a.got[seq]; ok {
			delete(a.got, seq)
			return r, r.err
		}
		if a.collect() {
			continue
		}
		if a.lost.Load() != lost {
			return pubAck{}, nats.ErrDisconnected
		}
		d := time.Until(deadline)
		if d <= 0 {
			return pubAck{}, jetstream.ErrAsyncPublishTimeout
		}
		if a.timer == nil {
			a.timer = time.NewTimer(d)
		} else {
			a.timer.Reset(d)
		}
		select {
		case <-a.wake:
		case <-a.timer.C:
		case <-ctx.Done():
			a.timer.Stop()
			return pubAck{}, ctx.Err()
		}
		a.timer.Stop()
	}
}
