package globaltables

import (
	"context"
	"fmt"
	"time"
)

// Resync after trim (issue 4, scope 6). When the peer's stream no longer
// holds records this region needs (an outage longer than the stream's
// retention), the core reports a Resync and the driver, instead of
// silently diverging, resynchronises the table from a consistent snapshot
// of the peer (Backfill with Resync: last-writer-wins per entry, the
// changes recorded in the local stream, local items the peer deleted
// meanwhile swept, the peer's positions raised to the snapshot's), then
// restores the core from the new positions and goes on reading the
// stream. See docs/global-tables.md, "Backfill and resync".

// resync resynchronises the table from a snapshot of the peer, then
// restores the core. On failure the driver retries after RetryInterval
// (the restore finds the stream still trimmed and asks again).
func (r *driverRun) resync(ctx context.Context, rs Resync) {
	d := r.d
	d.log.Warn("the peer's stream no longer holds records this region needs: resynchronising the table from a snapshot of the peer",
		"partition", rs.Partition, "after", rs.After, "first-available", rs.FirstAvailable, "reason", rs.Reason)
	r.closeReader()
	r.settle()
	d.m.resync.Set(1)
	d.update(func(s *DriverStatus) { s.Resync = &rs })
	if since := time.Since(r.resyncedAt); since < d.cfg.RetryInterval {
		// NB: a stream trimmed faster than this region reads it would
		// otherwise make the driver copy the peer's table in a loop.
		r.fail(fmt.Errorf("resync needed again %v after the last one; retrying in %v", since.Round(time.Millisecond), d.cfg.RetryInterval))
		return
	}
	st, err := Backfill(ctx, BackfillConfig{
		Peer: d.cfg.Peer, PeerConn: d.cfg.PeerConn, DB: d.cfg.DB, Table: d.cfg.Table,
		Logger: d.cfg.Logger, Resync: true,
	})
	if err != nil {
		if ctx.Err() == nil {
			r.fail(fmt.Errorf("resync from a snapshot of %s: %w", d.cfg.Peer, err))
		}
		return
	}
	r.resyncedAt = time.Now()
	d.m.resync.Set(0)
	d.m.resyncs.Inc()
	d.update(func(s *DriverStatus) {
		s.Resync, s.LastResync = nil, &st
		s.Resyncs++
	})
	d.log.Warn("table resynchronised from a snapshot of the peer", "items", st.Items, "tombstones", st.Tombstones,
		"applied", st.Applied, "swept", st.Swept, "elapsed", st.Elapsed)
	if err := r.restore(ctx); err != nil && ctx.Err() == nil {
		r.fail(err)
	}
}

// placePositions learns the stream sequence of every position that knows
// only the peer's outbox sequence (a backfill's, when the peer could not
// place it), stores it (so that the next ApplyRemote's from matches) and
// updates positions. It returns the partitions whose next record the
// stream no longer holds, with the outbox sequence of the oldest record
// it does hold, for TrimmedChange. A failure to look is logged: reading
// from the oldest retained record is correct, only slower.
func (r *driverRun) placePositions(ctx context.Context, positions map[int]Pos) map[int]uint64 {
	lost := map[int]uint64{}
	for p, pos := range positions {
		if pos.StreamSeq != 0 || pos.ChangeSeq == 0 {
			continue
		}
		loc, err := r.locate(ctx, p, pos.ChangeSeq)
		if err != nil {
			r.d.log.Debug("position not placed in the peer's stream", "partition", p, "error", err)
			continue
		}
		if loc.FirstChange > pos.ChangeSeq+1 {
			lost[p] = loc.FirstChange
			continue
		}
		if loc.StreamSeq == 0 {
			continue
		}
		stored, err := r.d.cfg.DB.RaiseAppliedPosition(r.d.cfg.Table, r.d.cfg.Peer, p, Pos{StreamSeq: loc.StreamSeq, ChangeSeq: pos.ChangeSeq})
		if err != nil {
			r.d.log.Debug("placed position not stored", "partition", p, "error", err)
			continue
		}
		positions[p] = stored
	}
	return lost
}

// checkLost tells the core whether the peer's stream still holds the
// record after outbox sequence n of partition p (its accepted position's):
// for a partition re-read from the oldest retained record because its
// stream position is unknown, or whose last accepted message was trimmed
// (its later records may have gone with it). A subject with nothing left
// tells nothing.
func (r *driverRun) checkLost(ctx context.Context, p int, n uint64) {
	loc, err := r.locate(ctx, p, n)
	if err != nil {
		r.d.log.Debug("oldest retained record not found", "partition", p, "error", err)
		return
	}
	if loc.FirstChange > 0 {
		r.core.TrimmedChange(p, loc.FirstChange)
	}
}

func (r *driverRun) locate(ctx context.Context, p int, n uint64) (changeLocation, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return locateInTableStream(ctx, r.d.cfg.PeerJetStream, r.src.TableStream(), p, n)
}
