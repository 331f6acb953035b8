package globaltables

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/streams"
	"github.com/nats-io/nats.go/jetstream"
)

// changeLocation is where outbox sequence N of one partition sits in a
// table stream.
type changeLocation struct {
	// StreamSeq is a record position (streams.Pos) S such that every
	// record of the partition with an outbox sequence above N is after S
	// (0: not found). When N is inside a message of several records, S is
	// N's own position in it; when the partition's oldest retained record
	// is N+1, S is the position just before it (the last possible index
	// of the message before, which resumes at that record).
	StreamSeq uint64
	// FirstChange is the outbox sequence of the oldest record of the
	// partition the stream retains (0: the stream holds none of it).
	FirstChange uint64
}

// msgSpan is the outbox sequences [first, last] one message carries.
type msgSpan struct {
	jsSeq       uint64
	first, last uint64
}

// readSpan returns the outbox sequences message m carries: its records are
// consecutive and HeaderSeq is the last one's (layout 2), so a message of
// N records covers [HeaderSeq-(N-1), HeaderSeq]. Without a usable HeaderSeq
// the records' own encodings tell.
func readSpan(m *jetstream.RawStreamMsg) (msgSpan, error) {
	n, err := streams.MessageCount(m.Header)
	if err != nil {
		return msgSpan{}, fmt.Errorf("globaltables: message %d: %w", m.Sequence, err)
	}
	last, err := strconv.ParseUint(m.Header.Get(streams.HeaderSeq), 10, 64)
	if err != nil || last < uint64(n) {
		recs, err := streams.SplitRecords(nil, n, m.Data)
		if err != nil {
			return msgSpan{}, fmt.Errorf("globaltables: message %d: %w", m.Sequence, err)
		}
		c, err := engine.DecodeChange(recs[len(recs)-1])
		if err != nil {
			return msgSpan{}, fmt.Errorf("globaltables: message %d: %w", m.Sequence, err)
		}
		if c.Seq < uint64(n) {
			return msgSpan{}, fmt.Errorf("globaltables: message %d: %d records ending at outbox seq %d", m.Sequence, n, c.Seq)
		}
		last = c.Seq
	}
	return msgSpan{jsSeq: m.Sequence, first: last - uint64(n-1), last: last}, nil
}

// locateChange places outbox sequence n of a partition (its subject) in
// stream s by binary search over the stream sequences, reading one message
// per probe with JetStream's "next message by subject" (O(log stream
// length) requests, nothing else read). It relies on a partition's records
// being in outbox order in the stream, which the publisher guarantees; a
// message may carry several consecutive records (streams layout 2), so the
// search finds the message whose span holds n and returns n's position in
// it.
//
// StreamSeq is 0 when the subject holds nothing, or when its oldest
// record is already past n+1 (then FirstChange tells the caller the
// records after n are lost).
func locateChange(ctx context.Context, s jetstream.Stream, subject string, n uint64) (changeLocation, error) {
	info, err := s.Info(ctx)
	if err != nil {
		return changeLocation{}, fmt.Errorf("globaltables: stream info: %w", err)
	}
	if info.State.LastSeq == 0 || info.State.Msgs == 0 {
		return changeLocation{}, nil
	}
	get := func(seq uint64) (msgSpan, bool, error) {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return msgSpan{}, false, nil
		}
		if err != nil {
			return msgSpan{}, false, fmt.Errorf("globaltables: get %s after %d: %w", subject, seq, err)
		}
		sp, err := readSpan(m)
		if err != nil {
			return msgSpan{}, false, fmt.Errorf("globaltables: %s: %w", subject, err)
		}
		return sp, true, nil
	}
	first, ok, err := get(max(info.State.FirstSeq, 1))
	if err != nil || !ok {
		return changeLocation{}, err
	}
	loc := changeLocation{FirstChange: first.first}
	switch {
	case first.first > n+1:
		return loc, nil
	case first.first == n+1:
		// NB: Pos(j, 0)-1 is Pos(j-1, MaxRecordsPerMessage-1): "after every
		// record of message j-1", never 0 since j >= 1.
		loc.StreamSeq = streams.Pos(first.jsSeq, 0) - 1
		return loc, nil
	}
	// Invariant: the message at best starts at an outbox sequence <= n;
	// every message of the subject at or after hi (if any before LastSeq)
	// starts past n.
	best, hi := first, info.State.LastSeq+1
	for best.jsSeq+1 < hi {
		mid := best.jsSeq + (hi-best.jsSeq)/2
		sp, ok, err := get(mid)
		switch {
		case err != nil:
			return changeLocation{}, err
		case !ok || sp.jsSeq >= hi || sp.first > n:
			hi = mid
		default:
			best = sp
		}
	}
	loc.StreamSeq = streams.Pos(best.jsSeq, int(min(n, best.last)-best.first))
	return loc, nil
}

// locateInTableStream is locateChange on the latest stream of region's table.
func locateInTableStream(ctx context.Context, js jetstream.JetStream, ts streams.TableStream, part int, n uint64) (changeLocation, error) {
	s, err := js.Stream(ctx, ts.Name)
	if err != nil {
		return changeLocation{}, fmt.Errorf("globaltables: stream %s: %w", ts.Name, err)
	}
	return locateChange(ctx, s, ts.Subject(part), n)
}
