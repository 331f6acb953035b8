package globaltables

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/godwit-db/godwit/engine"
	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
)

// BackfillConfig configures Backfill. Zero fields take their defaults.
type BackfillConfig struct {
	// Peer is the region to copy the table from. Required.
	Peer string
	// PeerConn is a connection to a NATS that reaches the peer's snapshot
	// server (gw.ctl.<peer>.snapshot.>). Required.
	PeerConn *nats.Conn
	// DB is the local engine; the table must exist with the peer's key
	// schema and partition count. Required.
	DB *engine.DB
	// Table is the table's name, the same in both regions. Required.
	Table string
	// Logger is named "globaltables.backfill". Default a null logger.
	Logger hclog.Logger
	// Progress, when set, is called after each chunk is applied with the
	// entries applied so far and the total expected (an estimate: the
	// peer's item count, tombstones not included).
	Progress func(done, total int64)
	// Resync marks the resynchronisation of a replica that fell behind the
	// peer's stream, instead of the backfill of a new one: the entries
	// that change local items are recorded in the local stream; local
	// items the snapshot lacks are swept by the rule of
	// engine.SnapshotSweep; and only the peer's own positions are stored
	// (this region's other drivers keep theirs).
	Resync bool
	// RequestTimeout bounds each request to the peer. Default 30s.
	RequestTimeout time.Duration
	// Retries is how many times a request that timed out is repeated
	// (chunk requests are idempotent). Default 3.
	Retries int
}

// Validate reports every problem with c at once.
func (c BackfillConfig) Validate() error {
	var errs []error
	if c.Peer == "" {
		errs = append(errs, errors.New("globaltables: backfill Peer region is required"))
	}
	if c.PeerConn == nil {
		errs = append(errs, errors.New("globaltables: backfill PeerConn is required"))
	}
	if c.DB == nil {
		errs = append(errs, errors.New("globaltables: backfill DB is required"))
	} else if c.Peer != "" && c.Peer == c.DB.Region() {
		errs = append(errs, fmt.Errorf("globaltables: backfill Peer %s is the local region", c.Peer))
	}
	if c.Table == "" {
		errs = append(errs, errors.New("globaltables: backfill Table is required"))
	}
	if c.RequestTimeout < 0 {
		errs = append(errs, fmt.Errorf("globaltables: backfill RequestTimeout %v is negative", c.RequestTimeout))
	}
	if c.Retries < 0 {
		errs = append(errs, fmt.Errorf("globaltables: backfill Retries %d is negative", c.Retries))
	}
	return errors.Join(errs...)
}

func (c BackfillConfig) withDefaults() BackfillConfig {
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.Retries == 0 {
		c.Retries = 3
	}
	return c
}

// BackfillStats says what a Backfill did.
type BackfillStats struct {
	Items      int64 // item entries received
	Tombstones int64 // tombstone entries received
	Bytes      int64 // chunk bytes received
	Applied    int64 // entries that won last-writer-wins here
	Swept      int64 // local items deleted because the peer had deleted them (Resync)
	Elapsed    time.Duration
	// Positions are the peer's own positions stored, per partition.
	Positions []engine.ReplicaPos
}

// ErrSchemaMismatch is wrapped by Backfill when the peer's table has
// another key schema or partition count than the local one.
var ErrSchemaMismatch = errors.New("globaltables: the peer's table has another key schema or partition count")

// Backfill copies the table from the peer region into the local one from a
// consistent snapshot, then stores where replication from each region
// resumes. It pulls the snapshot chunk by chunk from the peer's
// SnapshotServer and applies each with last-writer-wins
// (engine.ApplySnapshotChunk: a local item newer than the snapshot's
// stays). Then, never lowering a position a driver already reached
// (engine.RaiseAppliedPosition), it stores for the peer the snapshot's own
// outbox position (with its stream sequence when the peer could place it)
// and, unless cfg.Resync, for every third region the position the peer had
// applied: changes made after the snapshot, in the peer or elsewhere, are
// then read from the streams, and any overlap is harmless.
//
// A failed or cancelled Backfill may be run again from the start; the
// positions are stored only once every chunk is applied.
func Backfill(ctx context.Context, cfg BackfillConfig) (BackfillStats, error) {
	if err := cfg.Validate(); err != nil {
		return BackfillStats{}, err
	}
	cfg = cfg.withDefaults()
	start := time.Now()
	log := cfg.Logger.Named("globaltables.backfill").With("peer", cfg.Peer, "table", cfg.Table, "resync", cfg.Resync)
	info, ok := cfg.DB.Table(cfg.Table)
	if !ok {
		return BackfillStats{}, fmt.Errorf("globaltables: no local table %s", cfg.Table)
	}
	c := &snapshotClient{conn: cfg.PeerConn, peer: cfg.Peer, timeout: cfg.RequestTimeout, retries: cfg.Retries}
	open, err := c.open(ctx, cfg.Table)
	if err != nil {
		return BackfillStats{}, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), cfg.RequestTimeout)
		defer cancel()
		if err := c.close(cctx, open.Session); err != nil {
			log.Debug("closing the snapshot session failed", "error", err)
		}
	}()
	if err := checkSchema(info, open); err != nil {
		return BackfillStats{}, err
	}
	log.Info("backfill started", "session", open.Session, "items", open.Items, "bytes", open.Bytes)
	st := BackfillStats{Positions: make([]engine.ReplicaPos, info.Partitions)}
	for p := 0; p < info.Partitions; p++ {
		var seen map[string]engine.ReplicaPos
		if cfg.Resync {
			seen = map[string]engine.ReplicaPos{cfg.Peer: open.Positions[p].pos()}
			for region, ps := range open.Applied {
				if p < len(ps) {
					seen[region] = ps[p].pos()
				}
			}
		}
		var after []byte
		for {
			entries, done, n, err := c.next(ctx, open.Session, p, after)
			if err != nil {
				return st, err
			}
			st.Bytes += int64(n)
			opts := engine.SnapshotApplyOptions{Record: cfg.Resync}
			if cfg.Resync {
				sw := &engine.SnapshotSweep{After: after, Seen: seen}
				if !done && len(entries) > 0 {
					sw.Through = entries[len(entries)-1].Key
				}
				opts.Sweep = sw
			}
			res, err := cfg.DB.ApplySnapshotChunk(cfg.Table, p, entries, opts)
			if err != nil {
				return st, fmt.Errorf("globaltables: apply snapshot chunk of partition %d: %w", p, err)
			}
			for _, e := range entries {
				if e.Tombstone {
					st.Tombstones++
				} else {
					st.Items++
				}
			}
			st.Applied += int64(res.Applied)
			st.Swept += int64(res.Swept)
			if cfg.Progress != nil {
				cfg.Progress(st.Items+st.Tombstones, max(open.Items, st.Items))
			}
			if done {
				break
			}
			if len(entries) == 0 {
				return st, fmt.Errorf("globaltables: the peer sent an empty chunk of partition %d that is not its last", p)
			}
			after = entries[len(entries)-1].Key
		}
	}
	for p := 0; p < info.Partitions; p++ {
		pos, err := cfg.DB.RaiseAppliedPosition(cfg.Table, cfg.Peer, p, open.Positions[p].pos())
		if err != nil {
			return st, fmt.Errorf("globaltables: store the position of partition %d: %w", p, err)
		}
		st.Positions[p] = pos
		if cfg.Resync {
			continue
		}
		for region, ps := range open.Applied {
			if region == cfg.DB.Region() || region == cfg.Peer || p >= len(ps) || ps[p] == (snapshotPos{}) {
				continue
			}
			if _, err := cfg.DB.RaiseAppliedPosition(cfg.Table, region, p, ps[p].pos()); err != nil {
				return st, fmt.Errorf("globaltables: store the position of %s, partition %d: %w", region, p, err)
			}
		}
	}
	st.Elapsed = time.Since(start)
	log.Info("backfill done", "items", st.Items, "tombstones", st.Tombstones, "applied", st.Applied,
		"swept", st.Swept, "bytes", st.Bytes, "elapsed", st.Elapsed)
	return st, nil
}

// checkSchema refuses a peer table that could not be a replica of the local one.
func checkSchema(local engine.TableInfo, open *snapshotOpenReply) error {
	if open.Partitions != local.Partitions || len(open.Positions) != local.Partitions ||
		open.HashKey != local.HashKey || open.HashType != local.HashType.String() ||
		open.RangeKey != local.RangeKey || open.RangeType != local.RangeType.String() {
		return fmt.Errorf("%w: %s in %s has %d partitions, key %s:%s %s:%s; here %d partitions, key %s:%s %s:%s",
			ErrSchemaMismatch, local.Name, open.Region, open.Partitions, open.HashKey, open.HashType, open.RangeKey, open.RangeType,
			local.Partitions, local.HashKey, local.HashType, local.RangeKey, local.RangeType)
	}
	return nil
}

// snapshotClient speaks the snapshot protocol to one peer.
type snapshotClient struct {
	conn    *nats.Conn
	peer    string
	timeout time.Duration
	retries int
}

// request sends data to the peer's op subject and returns the reply,
// repeating it after a timeout (every request is idempotent but open,
// whose repetition at worst leaves a session to expire).
func (c *snapshotClient) request(ctx context.Context, op string, data []byte) (*nats.Msg, error) {
	subject := SnapshotSubject(c.peer, op)
	for attempt := 0; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, c.timeout)
		m, err := c.conn.RequestWithContext(rctx, subject, data)
		cancel()
		switch {
		case err == nil:
			return m, replyError(m)
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, nats.ErrNoResponders):
			return nil, fmt.Errorf("globaltables: no snapshot server answers %s: %w", subject, err)
		case attempt >= c.retries:
			return nil, fmt.Errorf("globaltables: %s: %w", subject, err)
		}
	}
}

func (c *snapshotClient) open(ctx context.Context, table string) (*snapshotOpenReply, error) {
	req, _ := json.Marshal(snapshotOpenRequest{V: snapshotProtoVersion, Table: table})
	m, err := c.request(ctx, "open", req)
	if err != nil {
		return nil, err
	}
	var rep snapshotOpenReply
	if err := json.Unmarshal(m.Data, &rep); err != nil || rep.V != snapshotProtoVersion || rep.Session == "" {
		return nil, fmt.Errorf("globaltables: malformed snapshot open reply from %s (v%d): %v", c.peer, rep.V, err)
	}
	return &rep, nil
}

// next returns the entries of partition p after key after, whether the
// partition is done, and the reply's size.
func (c *snapshotClient) next(ctx context.Context, session string, p int, after []byte) ([]engine.SnapshotEntry, bool, int, error) {
	req, _ := json.Marshal(snapshotNextRequest{V: snapshotProtoVersion, Session: session, Partition: p, After: after})
	m, err := c.request(ctx, "next", req)
	if err != nil {
		return nil, false, 0, err
	}
	entries, done, err := decodeChunk(m.Data)
	if err != nil {
		return nil, false, 0, fmt.Errorf("%w from %s, partition %d", err, c.peer, p)
	}
	return entries, done, len(m.Data), nil
}

func (c *snapshotClient) close(ctx context.Context, session string) error {
	req, _ := json.Marshal(snapshotCloseRequest{V: snapshotProtoVersion, Session: session})
	_, err := c.request(ctx, "close", req)
	return err
}
