package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/textproto"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The tail cache. GetRecords at an open shard's end asks for the records
// that the publisher of the same process has just had acknowledged; the
// tail cache lets the Streams API answer from memory instead of a
// JetStream direct get (a request through the NATS server that loads
// messages from its file store).
//
// Each partition (pubShard) has one tailCache. It holds a run: the
// stream sequence pred of the partition subject's message just before the
// run (0: none), and the messages after it, in order, as (stream
// sequence, body, record count, size). It caches whole messages, as
// published (a message may carry several records: layout.go), and answers
// by message like a batch direct get; GetRecords then cuts both answers
// into records the same way, so a page that starts or ends in the middle
// of a message is the same from either. Its claim is that the subject holds, after pred,
// exactly the run's messages plus those the publisher has sent and not
// yet seen acknowledged (sent), and nothing else. The claim is made true
// like this:
//
//   - prime: with nothing of the partition in flight, the worker reads
//     the subject's last message from the stream's leader (never a direct
//     get, which a lagging replica may answer) and the stream's creation
//     time; that message is pred. A primed cache does not serve yet.
//   - sending: before each publish the worker appends the message to sent
//     (so no message can be in JetStream and unknown to the cache).
//   - acked: the publisher's ack handler, for each ack, pops the front of
//     sent; it must be the acknowledged message (named by the outbox
//     sequence of its last record), in the current ack epoch,
//     a success that is not a duplicate, at a stream sequence above the
//     run's last. The message joins the run (and the cache goes live: the
//     first such ack also proves that no late message of an earlier epoch
//     landed after prime's read, since republishing one would be a
//     duplicate). Anything else empties the cache (cold).
//
// A cold cache serves nothing until the worker primes it again, at its
// next publish (at most once per PollInterval, at once after a resync or a
// label change). The cache is emptied by every unsync (publish failure,
// restart, resync, the table's deletion), a publish error, a duplicate or
// failed ack, an ack out of order or of another epoch, and the disabling
// of its stream; and it serves nothing after the publisher's connection
// was lost since prime (a NATS server may have lost its unsynced tail), to
// readers of another stream (label) or of another incarnation of the same
// stream (its creation time), or for a disabled stream.
//
// A read "from sequence X" is answered only when X > pred (and X > 0):
// every message of the subject at or after X is then in the run or in
// flight. It returns the run's entries at or after X, up to the limit,
// cut at maxBytes exactly as a batch direct get cuts (the message that
// reaches maxBytes of subject + stored header + body is the last). X is a
// JetStream sequence: GetRecords asks from its position's message. Its
// pending count is the run's entries after the page plus the messages in
// flight, so "nothing pending" (which lets GetRecords move an idle
// iterator to the stream's last sequence) is said only when the subject
// truly holds nothing more.
//
// The run is bounded by maxRecords (records, not messages: a message of n
// records counts n) and maxBytes (bodies); the oldest messages are
// evicted whole, which moves pred forward. Bodies are the published
// messages' own buffers, never copied (for one record the outbox entry's
// own, which ReadOutboxRaw hands over fresh; entries read together share
// one buffer of a few KiB, so the memory held can exceed maxBytes by about
// one such buffer, plus what is in flight). The publisher must therefore
// never reuse a message body it has passed to track.
//
// NB: the claim rests on the publisher's own premises: only this
// publisher writes its partitions' subjects, and no record published
// before a resync can be stored after the resync read JetStream's
// position. Messages deleted from the stream by hand are still served.
type tailCache struct {
	maxRecords, maxBytes int            // set at creation; maxRecords 0: off
	lost                 *atomic.Uint64 // Publisher.lost

	mu      sync.Mutex
	state   tailState
	stream  string    // the JetStream stream of the run
	created time.Time // its creation time (incarnation)
	epoch   uint64    // the worker's ack epoch at prime
	lostAt  uint64    // Publisher.lost at prime
	pred    uint64
	bytes   int // sum of the run's body lengths
	recs    int // sum of the run's record counts
	ents    tailRing[tailEntry]
	sent    tailRing[tailSent]
}

type tailState uint8

const (
	tailCold   tailState = iota // no run: reads go to JetStream
	tailPrimed                  // pred known; serves once the first ack confirms it
	tailLive                    // serves reads after pred
)

// tailEntry is one message of the run.
type tailEntry struct {
	seq  uint64 // JetStream stream sequence
	data []byte // the body (layout.go: one record, or n framed)
	n    int    // its records (MessageCount of its headers)
	size int    // subject + stored header + body, as a direct get counts it
}

// tailSent is a message published and not yet acknowledged.
type tailSent struct {
	out  uint64 // the outbox sequence of its last record (what the ack's reply subject names)
	data []byte
	n    int
	size int
}

// tailResult is how a read went.
type tailResult uint8

const (
	tailHit tailResult = iota
	// tailMissCold: no live run of the stream is cached (restart, resync,
	// reconnect, another label or incarnation, nothing acknowledged since
	// prime, the cache emptied).
	tailMissCold
	tailMissBehind // the position is before the run
	tailResults    // how many results there are
)

// tailMissReasons label the misses metric.
var tailMissReasons = [tailResults]string{tailMissCold: "cold", tailMissBehind: "behind"}

func (t *tailCache) enabled() bool { return t.maxRecords > 0 }

// sending notes that the worker is about to publish message s of stream.
// It reports false, and notes nothing, when the cache is not primed (or
// live) for stream in the worker's ack epoch and under the connection-loss
// count lost.
func (t *tailCache) sending(stream string, epoch, lost uint64, s tailSent) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == tailCold || t.stream != stream || t.epoch != epoch || t.lostAt != lost {
		return false
	}
	t.sent.push(s)
	return true
}

// prime starts an empty run of stream after pred, the stream sequence of
// the subject's last message (0: none). The caller has nothing in flight
// and read lost before reading pred.
func (t *tailCache) prime(stream string, created time.Time, epoch, lost, pred uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.resetLocked()
	t.state, t.stream, t.created, t.epoch, t.lostAt, t.pred = tailPrimed, stream, created, epoch, lost, pred
}

// acked takes JetStream's answer to the publish of the message whose last
// record is outbox entry out, in ack epoch epoch: stored at stream
// sequence seq, or a duplicate, or err.
// It runs on the ack subscription's goroutine, before readers are
// signalled.
func (t *tailCache) acked(epoch, out, seq uint64, duplicate bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == tailCold {
		return
	}
	if err != nil || duplicate || epoch != t.epoch || t.sent.len() == 0 || t.sent.at(0).out != out || seq <= t.lastLocked() {
		t.resetLocked()
		return
	}
	s := t.sent.pop()
	t.ents.push(tailEntry{seq: seq, data: s.data, n: s.n, size: s.size})
	t.bytes += len(s.data)
	t.recs += s.n
	// NB: a message alone over the bounds is evicted too (pred moves to it).
	for t.ents.len() > 0 && (t.recs > t.maxRecords || t.bytes > t.maxBytes) {
		t.evictLocked()
	}
	t.state = tailLive
}

// lastLocked is the stream sequence of the run's newest message (pred when empty).
func (t *tailCache) lastLocked() uint64 {
	if n := t.ents.len(); n > 0 {
		return t.ents.at(n - 1).seq
	}
	return t.pred
}

func (t *tailCache) evictLocked() {
	e := t.ents.pop()
	t.bytes -= len(e.data)
	t.recs -= e.n
	t.pred = e.seq
}

// invalidate empties the cache (and releases its memory).
func (t *tailCache) invalidate() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.resetLocked()
}

// dropStream empties the cache if its run is of stream.
func (t *tailCache) dropStream(stream string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != tailCold && t.stream == stream {
		t.resetLocked()
	}
}

func (t *tailCache) resetLocked() {
	t.state, t.stream, t.created, t.pred, t.bytes, t.recs = tailCold, "", time.Time{}, 0, 0, 0
	t.ents.release()
	t.sent.release()
}

// read appends to dst the messages of stream (created at created) at or
// after stream sequence from, up to limit of them, cut at maxBytes as a
// batch direct get cuts, and returns the number of the subject's messages
// after them that may exist (0 only when there is none). Unless it
// returns tailHit, it appended nothing and the caller must read JetStream.
func (t *tailCache) read(stream string, created time.Time, from uint64, limit, maxBytes int, dst []storedMsg) ([]storedMsg, uint64, tailResult) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != tailLive || t.stream != stream || !t.created.Equal(created) || (t.lost != nil && t.lost.Load() != t.lostAt) {
		return dst, 0, tailMissCold
	}
	if from == 0 || from <= t.pred {
		return dst, 0, tailMissBehind
	}
	n := t.ents.len()
	i, hi := 0, n // the first entry at or after from
	for i < hi {
		m := int(uint(i+hi) >> 1)
		if t.ents.at(m).seq < from {
			i = m + 1
		} else {
			hi = m
		}
	}
	if dst == nil && i < n {
		dst = make([]storedMsg, 0, min(limit, n-i))
	}
	size := 0
	for taken := 0; i < n && taken < limit; taken++ {
		e := t.ents.at(i)
		i++
		dst = append(dst, storedMsg{seq: e.seq, data: e.data, n: e.n})
		if size += e.size; size >= maxBytes {
			break
		}
	}
	return dst, uint64(n-i) + uint64(t.sent.len()), tailHit
}

// track tells the tail cache that msg, whose last record is outbox entry
// out, is about to be published (a message of one or several records:
// HeaderCount, layout.go). The cache keeps msg.Data: the caller must not
// modify it afterwards. A cache without a run of the label's stream for the current
// ack epoch and connection is primed first, at most once per PollInterval
// (at once after a resync or a label change): with nothing in flight, the
// subject's last message is read from the stream's leader. A failed read
// only leaves the cache cold; a failed settle is the publish's failure.
func (w *pubWorker) track(ctx context.Context, names *labelNames, out uint64, msg *nats.Msg) error {
	n, err := MessageCount(msg.Header)
	if err != nil {
		w.tail.invalidate() // NB: cannot happen; never cache what cannot be read back
		return nil
	}
	s := tailSent{out: out, data: msg.Data, n: n, size: len(names.subject) + storedHeaderLen(msg.Header) + len(msg.Data)}
	epoch := w.acks.epoch
	if w.tail.sending(names.stream, epoch, w.p.lost.Load(), s) {
		return nil
	}
	now := time.Now()
	if now.Before(w.tailRetry) {
		return nil
	}
	w.tailRetry = now.Add(w.p.cfg.PollInterval)
	if err := w.settleAll(ctx); err != nil {
		return err
	}
	lost := w.p.lost.Load() // NB: before the read, so a loss during it counts
	rctx, cancel := w.p.requestCtx(ctx)
	created, last, err := subjectTail(rctx, w.p.js, names.stream, names.subject)
	cancel()
	if err != nil {
		w.logger().Debug("tail cache not primed; will retry", "error", err)
		return nil
	}
	w.tail.prime(names.stream, created, epoch, lost, last)
	w.tail.sending(names.stream, epoch, lost, s)
	return nil
}

// tailRing is a FIFO in a circular slice, grown by doubling.
type tailRing[T any] struct {
	buf     []T
	head, n int
}

func (r *tailRing[T]) len() int { return r.n }

// at is the i-th element from the front (i < len).
func (r *tailRing[T]) at(i int) *T {
	j := r.head + i
	if j >= len(r.buf) {
		j -= len(r.buf)
	}
	return &r.buf[j]
}

func (r *tailRing[T]) push(v T) {
	if r.n == len(r.buf) {
		nb := make([]T, max(8, 2*len(r.buf)))
		for i := 0; i < r.n; i++ {
			nb[i] = *r.at(i)
		}
		r.buf, r.head = nb, 0
	}
	*r.at(r.n) = v
	r.n++
}

// pop removes the front element (len > 0).
func (r *tailRing[T]) pop() T {
	var zero T
	v := r.buf[r.head]
	r.buf[r.head] = zero // NB: do not pin the body
	if r.head++; r.head == len(r.buf) {
		r.head = 0
	}
	r.n--
	return v
}

// release empties the ring and drops its array.
func (r *tailRing[T]) release() { *r = tailRing[T]{} }

// storedHeaderLen is the length of the header block that nats.go encodes
// for h (nats.Msg's headerBytes), which JetStream stores unchanged: what
// a batch direct get counts of a message's header against max_bytes.
func storedHeaderLen(h nats.Header) int {
	n := len("NATS/1.0\r\n") + len("\r\n")
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(textproto.TrimString(v)) + len(": \r\n")
		}
	}
	return n
}

// subjectTail reads the creation time of stream and the stream sequence
// of its last message on subject (0 when it has none), both from the
// stream's leader.
func subjectTail(ctx context.Context, js jetstream.JetStream, stream, subject string) (created time.Time, last uint64, err error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	created = s.CachedInfo().Created
	// NB: STREAM.MSG.GET, not DIRECT.GET: with AllowDirect a lagging
	// replica of an R3 stream may answer a direct get, and the run must
	// start at the subject's true last message.
	req, _ := json.Marshal(struct {
		LastBySubj string `json:"last_by_subj"`
	}{subject}) // NB: marshalling this struct cannot fail.
	resp, err := js.Conn().RequestWithContext(ctx, jsAPIPrefix(js)+"STREAM.MSG.GET."+stream, req)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("last message on %s: %w", subject, err)
	}
	var r struct {
		Message *struct {
			Seq uint64 `json:"seq"`
		} `json:"message"`
		Error *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return time.Time{}, 0, fmt.Errorf("last message on %s: %w", subject, err)
	}
	switch {
	case r.Error != nil && r.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound:
		return created, 0, nil
	case r.Error != nil:
		return time.Time{}, 0, fmt.Errorf("last message on %s: %w", subject, r.Error)
	case r.Message == nil:
		return time.Time{}, 0, errors.New("last message on " + subject + ": malformed answer")
	}
	return created, r.Message.Seq, nil
}
