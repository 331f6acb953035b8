package streams

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// How GetRecords reads a shard: from the publisher's tail cache when it
// can answer exactly, else from JetStream (a batch direct get).

// tailSource is what the API reads tail caches from: the Publisher of
// the same process, given as APIConfig.Published.
type tailSource interface {
	// tailCacheOn reports whether the publisher keeps tail caches.
	tailCacheOn() bool
	// tailCache is a partition's tail cache.
	tailCache(tableID uint32, partition int) *tailCache
}

var _ tailSource = (*Publisher)(nil)

func (p *Publisher) tailCacheOn() bool { return p.cfg.TailCacheRecords > 0 }

func (p *Publisher) tailCache(tableID uint32, partition int) *tailCache {
	return &p.shards.get(tableID, partition).tail
}

func (a *API) registerTailMetrics(reg prometheus.Registerer) {
	a.m.tail[tailHit] = registerVec(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "godwit", Subsystem: "streams", Name: "get_records_cache_hits_total",
		Help: "Shard reads of GetRecords answered from the publisher's in-process tail cache.",
	}))
	misses := registerVec(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "godwit", Subsystem: "streams", Name: "get_records_cache_misses_total",
		Help: "Shard reads of GetRecords that the tail cache could not answer, read from JetStream instead: " +
			"cold (no cached run of the stream's partition: restart, resync, reconnect, another label, nothing acknowledged yet) " +
			"or behind (the position is older than the cached run).",
	}, []string{"reason"}))
	for r := tailMissCold; r < tailResults; r++ {
		a.m.tail[r] = misses.WithLabelValues(tailMissReasons[r])
	}
}

// shardRead is one GetRecords read of a shard: up to limit records of
// subj (partition part of stream) from stream sequence from, with the
// stream's state st read before.
type shardRead struct {
	h       *streamHandle
	st      streamState
	stream  string
	subj    string
	tableID uint32
	part    int
	from    uint64
	limit   int
}

// readShard reads r from the tail cache when it can answer (an open
// stream, the cache live for this stream and incarnation, from after the
// cached run's start), else from JetStream. Both answers are the same:
// the records, cut at the limit and at maxBytesPerCall as a batch direct
// get cuts, and whether more may follow (pending > 0).
func (a *API) readShard(ctx context.Context, r *shardRead) ([]storedMsg, uint64, error) {
	if a.tails != nil && !r.st.disabled {
		msgs, pending, res := a.tails.tailCache(r.tableID, r.part).read(r.stream, r.st.created, r.from, r.limit, maxBytesPerCall, nil)
		a.m.tail[res].Inc()
		if res == tailHit {
			return msgs, pending, nil
		}
	}
	return a.read(ctx, r.h, r.st, r.subj, r.from, r.limit, maxBytesPerCall)
}

// read reads up to limit messages of subj from sequence from, by direct
// get when the stream allows it.
func (a *API) read(ctx context.Context, h *streamHandle, st streamState, subj string, from uint64, limit, maxBytes int) ([]storedMsg, uint64, error) {
	if st.allowDirect {
		msgs, pending, err := a.direct.get(ctx, h.ts.Name, subj, from, limit, maxBytes)
		if !errors.Is(err, errNoDirect) {
			return msgs, pending, err
		}
	}
	return getMsgs(ctx, h.stream, subj, from, limit)
}

// awaitRecords waits up to RecordsWait for the publisher to report a
// record of the partition after generation gen, and reads the shard
// again after each report. It returns what the last read found (nothing
// when the wait ran out or the caller went away: an empty page, as
// without waiting).
func (a *API) awaitRecords(ctx context.Context, r *shardRead, gen uint64) ([]storedMsg, uint64, error) {
	t := time.NewTimer(a.cfg.RecordsWait)
	defer t.Stop()
	for {
		select {
		case <-a.cfg.Published.Wait(r.tableID, r.part, gen):
		case <-t.C:
			return nil, 0, nil
		case <-ctx.Done():
			return nil, 0, nil
		}
		gen = a.cfg.Published.Generation(r.tableID, r.part)
		msgs, pending, err := a.readShard(ctx, r)
		if err != nil || len(msgs) > 0 {
			return msgs, pending, err
		}
	}
}
