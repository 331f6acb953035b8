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
	// StreamSeq is a stream sequence S such that every record of the
	// partition with an outbox sequence above N is after S (0: not found).
	StreamSeq uint64
	// FirstChange is the outbox sequence of the oldest record of the
	// partition the stream retains (0: the stream holds none of it).
	FirstChange uint64
}

// locateChange places outbox sequence n of a partition (its subject) in
// stream s by binary search over the stream sequences, reading one record
// per probe with JetStream's "next message by subject" (O(log stream
// length) requests, nothing else read). It relies on a partition's records
// being in outbox order in the stream, which the publisher guarantees.
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
	get := func(seq uint64) (uint64, uint64, bool, error) {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return 0, 0, false, nil
		}
		if err != nil {
			return 0, 0, false, fmt.Errorf("globaltables: get %s after %d: %w", subject, seq, err)
		}
		cs, err := strconv.ParseUint(m.Header.Get(streams.HeaderSeq), 10, 64)
		if err != nil || cs == 0 {
			c, derr := engine.DecodeChange(m.Data)
			if derr != nil {
				return 0, 0, false, fmt.Errorf("globaltables: record %d of %s: %w", m.Sequence, subject, derr)
			}
			cs = c.Seq
		}
		return m.Sequence, cs, true, nil
	}
	firstSeq, firstCS, ok, err := get(max(info.State.FirstSeq, 1))
	if err != nil || !ok {
		return changeLocation{}, err
	}
	loc := changeLocation{FirstChange: firstCS}
	switch {
	case firstCS > n+1:
		return loc, nil
	case firstCS == n+1:
		loc.StreamSeq = firstSeq - 1
		return loc, nil
	}
	// Invariant: the record at best has outbox sequence <= n; every record
	// of the subject at or after hi (if any before LastSeq) has one > n.
	best, hi := firstSeq, info.State.LastSeq+1
	for best+1 < hi {
		mid := best + (hi-best)/2
		seq, cs, ok, err := get(mid)
		switch {
		case err != nil:
			return changeLocation{}, err
		case !ok || seq >= hi || cs > n:
			hi = mid
		default:
			best = seq
		}
	}
	loc.StreamSeq = best
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
