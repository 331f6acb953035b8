package streams

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/godwit-db/godwit/engine"
	"github.com/nats-io/nats.go/jetstream"
)

// pubLabelTime is the time a stream label ("2006-01-02T15:04:05.000",
// UTC) names: the stream's enable time.
func pubLabelTime(label string) (time.Time, bool) {
	t, err := time.Parse("2006-01-02T15:04:05.000", label)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// pubStreamSpec is what a table stream's JetStream stream is made from.
type pubStreamSpec struct {
	region   string
	table    engine.TableInfo
	label    string
	viewType string // "" when unknown (a label no longer enabled)
}

// jsConfig is the JetStream configuration of a table stream: one stream
// named StreamName, one subject per partition, limits from cfg, and the
// layout's metadata. MetaCreated is the label's time, so that every
// process and region derives the same shard ids from it.
func (s pubStreamSpec) jsConfig(cfg PublisherConfig) jetstream.StreamConfig {
	created := time.Now()
	if t, ok := pubLabelTime(s.label); ok {
		created = t
	}
	t := s.table
	meta := map[string]string{
		MetaTable:      t.Name,
		MetaTableID:    strconv.FormatUint(uint64(t.ID), 10),
		MetaLabel:      s.label,
		MetaViewType:   s.viewType,
		MetaPartitions: strconv.Itoa(t.Partitions),
		MetaRegion:     s.region,
		MetaCreated:    strconv.FormatInt(created.UnixMilli(), 10),
		MetaHashKey:    t.HashKey + ":" + t.HashType.String(),
		MetaRangeKey:   "",
		MetaLayout:     layoutVersion,
	}
	if t.RangeKey != "" {
		meta[MetaRangeKey] = t.RangeKey + ":" + t.RangeType.String()
	}
	return jetstream.StreamConfig{
		Name:        StreamName(t.ID, s.label),
		Description: fmt.Sprintf("godwit stream %s of table %s", s.label, t.Name),
		Subjects:    []string{SubjectWildcard(s.region, t.ID, s.label)},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      cfg.Retention,
		MaxBytes:    cfg.MaxBytes,
		MaxMsgs:     -1,
		Duplicates:  cfg.DuplicateWindow,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		AllowDirect: true,
		Metadata:    meta,
	}
}

// ensureStream returns the JetStream stream of spec, creating it when
// missing. created is the stream's creation time, which tells its
// incarnations apart (a concurrent idempotent create returns the same
// one). With fixLimits, an existing stream whose limits (MaxAge,
// MaxBytes, Duplicates, Replicas) differ from cfg's is updated; its
// metadata is kept.
func ensureStream(ctx context.Context, js jetstream.JetStream, spec pubStreamSpec, cfg PublisherConfig, fixLimits bool) (s jetstream.Stream, created time.Time, err error) {
	want := spec.jsConfig(cfg)
	s, err = js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = js.Stream(ctx, want.Name) // created concurrently, differently
		}
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("create stream %s: %w", want.Name, err)
		}
		return s, s.CachedInfo().Created, nil
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("stream %s: %w", want.Name, err)
	}
	info := s.CachedInfo()
	have := info.Config
	if !fixLimits || (have.MaxAge == want.MaxAge && have.MaxBytes == want.MaxBytes &&
		have.Duplicates == want.Duplicates && have.Replicas == want.Replicas) {
		return s, info.Created, nil
	}
	have.MaxAge, have.MaxBytes, have.Duplicates, have.Replicas = want.MaxAge, want.MaxBytes, want.Duplicates, want.Replicas
	s, err = js.UpdateStream(ctx, have)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("update limits of stream %s: %w", want.Name, err)
	}
	return s, info.Created, nil
}

// disableStream marks a table stream's JetStream stream disabled at now
// (metadata MetaDisabled, Unix milliseconds), unless it already is;
// changed reports whether it did. The stream stays readable until MaxAge
// has removed its records. A missing stream is not an error.
func disableStream(ctx context.Context, js jetstream.JetStream, name string, now time.Time) (changed bool, err error) {
	s, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stream %s: %w", name, err)
	}
	cfg := s.CachedInfo().Config
	if cfg.Metadata[MetaDisabled] != "" {
		return false, nil
	}
	meta := make(map[string]string, len(cfg.Metadata)+1)
	for k, v := range cfg.Metadata {
		meta[k] = v
	}
	meta[MetaDisabled] = strconv.FormatInt(now.UnixMilli(), 10)
	cfg.Metadata = meta
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return false, fmt.Errorf("disable stream %s: %w", name, err)
	}
	return true, nil
}

// lastPublished is the Godwit-Seq of the last record the stream holds on
// subject, 0 when it holds none (or the stream does not exist).
func lastPublished(ctx context.Context, js jetstream.JetStream, stream, subject string) (uint64, error) {
	s, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	// NB: with AllowDirect this may be answered by a lagging replica of an
	// R3 stream; a stale (lower) answer only makes the publisher republish
	// records that the Nats-Msg-Id dedupe window then drops.
	msg, err := s.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last message on %s: %w", subject, err)
	}
	seq, err := strconv.ParseUint(msg.Header.Get(HeaderSeq), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("last message on %s (stream sequence %d) has no valid %s header: %q",
			subject, msg.Sequence, HeaderSeq, msg.Header.Get(HeaderSeq))
	}
	return seq, nil
}

// ---- the Publisher's tables and labels (its manager goroutine) ----

// pubTable is the manager's view of a table whose changes it publishes.
type pubTable struct {
	info     engine.TableInfo
	workers  []*pubWorker
	ensured  string                 // the current label whose stream is known to exist
	disables map[string]*pubDisable // label -> pending disable
	gone     bool                   // the table was deleted
}

// pubDisable marks a label's stream disabled once every partition has
// published its outbox up to heads (taken when the label stopped being
// current).
type pubDisable struct {
	heads []uint64
}

// reconcileEvery is how many polls pass between two reconciles when no
// table changed.
const reconcileEvery = 60

func (p *Publisher) manage() {
	defer p.wg.Done()
	tables := map[uint32]*pubTable{}
	reconciled := false
	tick := time.NewTicker(p.cfg.PollInterval)
	defer tick.Stop()
	for polls := 0; ; polls++ {
		if p.syncTables(tables) || polls%reconcileEvery == 0 {
			reconciled = false
		}
		if !reconciled {
			reconciled = p.reconcile(tables)
		}
		p.runDisables(tables)
		select {
		case <-p.ctx.Done():
			return
		case <-p.stopping:
			// NB: the workers finish their outboxes; pending disables are
			// found again by reconcile at the next Start.
			return
		case <-p.rescan:
		case <-tick.C:
		}
	}
}

// syncTables compares the engine's tables with tables: it starts the
// partitions of tables with a stream (or a past one), creates current
// labels' streams, schedules the disabling of labels no longer current and
// stops the partitions of deleted tables. It reports whether anything
// changed.
func (p *Publisher) syncTables(tables map[uint32]*pubTable) (changed bool) {
	seen := map[uint32]bool{}
	// NB: dropped tables (deleted, outbox not yet published) are handled as
	// tables whose stream was disabled; runDisables forgets them.
	for _, info := range append(p.db.Tables(), p.db.DroppedTables()...) {
		seen[info.ID] = true
		ts := tables[info.ID]
		if ts == nil {
			if info.Stream == nil && info.LatestStreamLabel == "" {
				continue // never had a stream: nothing to publish
			}
			ts = &pubTable{info: info, disables: map[string]*pubDisable{}}
			tables[info.ID] = ts
			p.startWorkers(ts)
			changed = true
			if info.Stream == nil {
				// Disabled before this publisher saw it enabled.
				p.scheduleDisable(ts, info.LatestStreamLabel)
			}
		}
		if old := ts.info.Stream; old != nil && (info.Stream == nil || info.Stream.Label != old.Label) {
			p.scheduleDisable(ts, old.Label)
			changed = true
		}
		ts.info = info
		if info.Stream != nil && ts.ensured != info.Stream.Label {
			spec := pubStreamSpec{region: p.region, table: info, label: info.Stream.Label, viewType: info.Stream.ViewType}
			if _, err := p.ensureStream(p.ctx, spec, true /* fixLimits */); err != nil {
				p.log.Warn("cannot create stream yet; will retry", "table", info.Name, "label", info.Stream.Label, "error", err)
			} else {
				ts.ensured = info.Stream.Label
			}
		}
	}
	for id, ts := range tables {
		if seen[id] || ts.gone {
			continue
		}
		// Deleted without an outbox to publish (or already forgotten).
		ts.gone, changed = true, true
		p.log.Info("table deleted; disabling its stream", "table", ts.info.Name, "table-id", id)
		p.stopWorkers(ts)
		if ts.info.Stream != nil {
			ts.disables[ts.info.Stream.Label] = &pubDisable{}
		}
		for _, j := range ts.disables {
			j.heads = nil // nothing left to wait for
		}
		ts.info.Stream = nil
	}
	return changed
}

func (p *Publisher) startWorkers(ts *pubTable) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for part := 0; part < ts.info.Partitions; part++ {
		sh := p.shards.get(ts.info.ID, part)
		var tail *tailCache
		if sh.tail.enabled() {
			tail = &sh.tail
		}
		w := &pubWorker{
			p: p, tableID: ts.info.ID, table: ts.info.Name, part: part,
			partLabel: strconv.Itoa(part),
			wake:      make(chan struct{}, 1),
			quit:      make(chan struct{}),
			acks:      pubAcks{wake: make(chan struct{}, 1), lost: &p.lost, signal: &sh.signal, tail: tail},
			tail:      tail,
		}
		ts.workers = append(ts.workers, w)
		p.workers[pubKey{ts.info.ID, part}] = w
		p.wg.Add(1)
		go w.run()
	}
}

func (p *Publisher) stopWorkers(ts *pubTable) {
	p.mu.Lock()
	for _, w := range ts.workers {
		delete(p.workers, pubKey{w.tableID, w.part})
		close(w.quit)
	}
	p.mu.Unlock()
	p.m.forget(ts.info.Name, len(ts.workers))
	ts.workers = nil
}

// scheduleDisable arranges for label's stream to be marked disabled once
// the partitions have published what their outboxes hold now.
func (p *Publisher) scheduleDisable(ts *pubTable, label string) {
	if _, ok := ts.disables[label]; ok {
		return
	}
	j := &pubDisable{heads: make([]uint64, len(ts.workers))}
	for i := range ts.workers {
		j.heads[i], _ = p.db.OutboxHeadByID(ts.info.ID, i)
	}
	ts.disables[label] = j
	p.log.Debug("stream no longer current; disabling it once published", "table", ts.info.Name, "label", label)
}

// reconcile finds JetStream streams of this region that are not disabled
// and whose label is no longer current (disabled or deleted while the
// publisher was not running) and schedules their disabling. It reports
// whether the listing succeeded.
func (p *Publisher) reconcile(tables map[uint32]*pubTable) bool {
	ctx, cancel := p.requestCtx(p.ctx)
	defer cancel()
	lister := p.js.ListStreams(ctx, jetstream.WithStreamListSubject("gw."+p.region+".>"))
	type orphan struct {
		id    uint32
		label string
		name  string
	}
	var orphans []orphan
	for si := range lister.Info() {
		md := si.Config.Metadata
		if md[MetaRegion] != p.region || md[MetaDisabled] != "" || md[MetaLayout] == "" {
			continue
		}
		id, err := strconv.ParseUint(md[MetaTableID], 10, 32)
		if err != nil {
			continue
		}
		orphans = append(orphans, orphan{uint32(id), md[MetaLabel], si.Config.Name})
	}
	if err := lister.Err(); err != nil {
		p.log.Warn("cannot list streams yet; will retry", "error", err)
		return false
	}
	for _, o := range orphans {
		ts := tables[o.id]
		switch {
		case ts == nil:
			if _, ok := p.tableByID(o.id); ok {
				continue // a table without a current or past label: leave it
			}
			// Its table is gone: disable at once.
			ctx, cancel := p.requestCtx(p.ctx)
			_, err := disableStream(ctx, p.js, o.name, p.cfg.Now())
			cancel()
			if err != nil {
				p.log.Warn("cannot disable stream of a deleted table", "stream", o.name, "error", err)
				return false
			}
			p.log.Info("disabled stream of a deleted table", "stream", o.name)
		case ts.info.Stream == nil || ts.info.Stream.Label != o.label:
			p.scheduleDisable(ts, o.label)
		}
	}
	return true
}

func (p *Publisher) tableByID(id uint32) (engine.TableInfo, bool) {
	for _, t := range p.db.Tables() {
		if t.ID == id {
			return t, true
		}
	}
	return engine.TableInfo{}, false
}

// runDisables marks disabled every scheduled label whose partitions have
// published up to their heads, and forgets deleted tables once done.
func (p *Publisher) runDisables(tables map[uint32]*pubTable) {
	for id, ts := range tables {
		for label, j := range ts.disables {
			ready := true
			for i, h := range j.heads {
				if i < len(ts.workers) && ts.workers[i].done.Load() < h {
					ready = false
				}
			}
			if !ready {
				continue
			}
			ctx, cancel := p.requestCtx(p.ctx)
			changed, err := disableStream(ctx, p.js, StreamName(id, label), p.cfg.Now())
			cancel()
			if err != nil {
				p.log.Warn("cannot disable stream yet; will retry", "table", ts.info.Name, "label", label, "error", err)
				continue
			}
			if changed {
				p.log.Info("stream disabled", "table", ts.info.Name, "label", label)
			}
			for _, w := range ts.workers {
				if w.tail != nil {
					w.tail.dropStream(StreamName(id, label)) // NB: nothing more is published to it
				}
			}
			delete(ts.disables, label)
		}
		if ts.info.Dropped && len(ts.disables) == 0 {
			// Every label of the deleted table is published and disabled.
			p.stopWorkers(ts)
			if err := p.db.ForgetDropped(id); err != nil {
				p.log.Warn("cannot forget a deleted table's outbox yet; will retry", "table", ts.info.Name, "error", err)
				continue
			}
			p.log.Info("deleted table's stream published and disabled", "table", ts.info.Name, "table-id", id)
			delete(tables, id)
			continue
		}
		if ts.workers == nil && len(ts.disables) == 0 {
			delete(tables, id)
		}
	}
}
