package globaltables

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/streams"
	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// SnapshotServerConfig configures a SnapshotServer. Zero fields take their
// defaults.
type SnapshotServerConfig struct {
	// Conn is a connection to this region's NATS. Required.
	Conn *nats.Conn
	// DB is the local engine; its region names the subjects served. Required.
	DB *engine.DB
	// Logger is named "globaltables.snapshot". Default a null logger.
	Logger hclog.Logger
	// JetStream is this region's JetStream, used to place each snapshot's
	// outbox positions in the table's stream (so a new replica need not
	// re-read the whole retained stream). Default jetstream.New(Conn);
	// when that fails, positions carry outbox sequences only.
	JetStream jetstream.JetStream
	// IdleTimeout is how long a session may go without a request before
	// its snapshot is released. Default 1m.
	IdleTimeout time.Duration
	// MaxSessions bounds the sessions open at once (each pins a Pebble
	// snapshot). Default 8.
	MaxSessions int
	// ChunkBytes is the target size of a chunk's entries. Default 512 KiB,
	// capped by the connection's max payload less 64 KiB. A chunk always
	// carries at least one entry (an item is at most 400 KiB).
	ChunkBytes int
	// Workers bounds the requests served at once. Default 4.
	Workers int
}

// DefaultSnapshotServerConfig returns a config with every default filled in.
func DefaultSnapshotServerConfig() SnapshotServerConfig {
	return SnapshotServerConfig{
		Logger: hclog.NewNullLogger(), IdleTimeout: time.Minute, MaxSessions: 8, ChunkBytes: 512 << 10, Workers: 4,
	}
}

// Validate reports every problem with c at once.
func (c SnapshotServerConfig) Validate() error {
	var errs []error
	if c.Conn == nil {
		errs = append(errs, errors.New("globaltables: snapshot server Conn is required"))
	}
	if c.DB == nil {
		errs = append(errs, errors.New("globaltables: snapshot server DB is required"))
	}
	if c.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("globaltables: snapshot server IdleTimeout %v is negative", c.IdleTimeout))
	}
	if c.MaxSessions < 0 {
		errs = append(errs, fmt.Errorf("globaltables: snapshot server MaxSessions %d is negative", c.MaxSessions))
	}
	if c.ChunkBytes < 0 {
		errs = append(errs, fmt.Errorf("globaltables: snapshot server ChunkBytes %d is negative", c.ChunkBytes))
	}
	if c.Workers < 0 {
		errs = append(errs, fmt.Errorf("globaltables: snapshot server Workers %d is negative", c.Workers))
	}
	return errors.Join(errs...)
}

func (c SnapshotServerConfig) withDefaults() SnapshotServerConfig {
	d := DefaultSnapshotServerConfig()
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = d.MaxSessions
	}
	if c.ChunkBytes == 0 {
		c.ChunkBytes = d.ChunkBytes
	}
	if limit := int(c.Conn.MaxPayload()) - 64<<10; limit > 0 && c.ChunkBytes > limit {
		c.ChunkBytes = limit
	}
	if c.Workers == 0 {
		c.Workers = d.Workers
	}
	return c
}

// SnapshotServer serves consistent snapshots of this region's tables to
// other regions over NATS (see snapshot_proto.go for the protocol): a new
// replica's backfill, and a replica's resync after the stream it followed
// was trimmed. Each session holds an engine.TableSnapshot until it is
// closed or idle for IdleTimeout. Safe for concurrent use.
type SnapshotServer struct {
	cfg SnapshotServerConfig
	log hclog.Logger
	sub *nats.Subscription

	mu       sync.Mutex
	sessions map[string]*snapshotSession
	closed   bool

	work    chan struct{} // a slot per request being served
	stop    chan struct{}
	running sync.WaitGroup
}

type snapshotSession struct {
	id       string
	snap     *engine.TableSnapshot
	lastUsed time.Time
	busy     int  // requests being served
	closing  bool // closed while busy: released once idle
}

// NewSnapshotServer starts serving gw.ctl.<region>.snapshot.> on cfg.Conn.
// cfg is not modified.
func NewSnapshotServer(cfg SnapshotServerConfig) (*SnapshotServer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.JetStream == nil {
		if js, err := jetstream.New(cfg.Conn); err == nil {
			cfg.JetStream = js
		}
	}
	s := &SnapshotServer{
		cfg:      cfg,
		log:      cfg.Logger.Named("globaltables.snapshot").With("region", cfg.DB.Region()),
		sessions: map[string]*snapshotSession{},
		work:     make(chan struct{}, cfg.Workers),
		stop:     make(chan struct{}),
	}
	sub, err := cfg.Conn.Subscribe(SnapshotSubject(cfg.DB.Region(), "*"), s.dispatch)
	if err != nil {
		return nil, fmt.Errorf("globaltables: subscribe to snapshot requests: %w", err)
	}
	// NB: the subscription must be known to the server before a peer's
	// first request, or that request finds no responder.
	if err := cfg.Conn.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("globaltables: subscribe to snapshot requests: %w", err)
	}
	s.sub = sub
	s.running.Add(1)
	go s.janitor()
	return s, nil
}

// Close stops serving, waits for the requests being served and releases
// every session's snapshot. Idempotent.
func (s *SnapshotServer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	err := s.sub.Unsubscribe()
	if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrBadSubscription) {
		err = nil
	}
	close(s.stop)
	s.running.Wait()
	s.mu.Lock()
	for id, ss := range s.sessions {
		_ = ss.snap.Close()
		delete(s.sessions, id)
	}
	s.mu.Unlock()
	return err
}

// Sessions is the number of sessions open (for tests and status).
func (s *SnapshotServer) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// janitor releases idle sessions.
func (s *SnapshotServer) janitor() {
	defer s.running.Done()
	t := time.NewTicker(max(s.cfg.IdleTimeout/4, 5*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.mu.Lock()
			for id, ss := range s.sessions {
				if ss.busy == 0 && now.Sub(ss.lastUsed) > s.cfg.IdleTimeout {
					_ = ss.snap.Close()
					delete(s.sessions, id)
					s.log.Info("snapshot session expired", "session", id, "table", ss.snap.Table().Name)
				}
			}
			s.mu.Unlock()
		}
	}
}

// dispatch runs on the subscription's goroutine: it hands the request to
// a worker, or serves it inline when all are busy (which slows the
// subscription down instead of queueing without bound).
func (s *SnapshotServer) dispatch(m *nats.Msg) {
	select {
	case <-s.stop:
		return
	default:
	}
	select {
	case s.work <- struct{}{}:
		s.running.Add(1)
		go func() {
			defer s.running.Done()
			defer func() { <-s.work }()
			s.serve(m)
		}()
	default:
		s.serve(m)
	}
}

// serve answers one request; it never panics on input.
func (s *SnapshotServer) serve(m *nats.Msg) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic serving a snapshot request", "subject", m.Subject, "panic", r)
			s.replyError(m, codeInternal, "internal error")
		}
	}()
	if m.Reply == "" {
		return // not a request: nobody to answer
	}
	switch op := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]; op {
	case "open":
		s.open(m)
	case "next":
		s.next(m)
	case "close":
		s.closeSession(m)
	default:
		s.replyError(m, codeBadRequest, fmt.Sprintf("unknown operation %q", op))
	}
}

func (s *SnapshotServer) replyError(m *nats.Msg, code, msg string) {
	r := nats.NewMsg(m.Reply)
	r.Header.Set(HeaderError, code)
	r.Data = []byte(msg)
	if err := m.RespondMsg(r); err != nil {
		s.log.Debug("reply failed", "error", err)
	}
}

func (s *SnapshotServer) replyJSON(m *nats.Msg, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.replyError(m, codeInternal, err.Error())
		return
	}
	if err := m.Respond(b); err != nil {
		s.log.Debug("reply failed", "error", err)
	}
}

// decodeSnapshotRequest parses a JSON snapshot request of protocol version 1.
func decodeSnapshotRequest(data []byte, v any) error {
	var hdr struct {
		V int `json:"v"`
	}
	if err := json.Unmarshal(data, &hdr); err != nil {
		return fmt.Errorf("malformed request: %v", err)
	}
	if hdr.V != snapshotProtoVersion {
		return fmt.Errorf("protocol version %d is not supported (want %d)", hdr.V, snapshotProtoVersion)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("malformed request: %v", err)
	}
	return nil
}

func (s *SnapshotServer) open(m *nats.Msg) {
	var req snapshotOpenRequest
	if err := decodeSnapshotRequest(m.Data, &req); err != nil {
		s.replyError(m, codeBadRequest, err.Error())
		return
	}
	if req.Table == "" {
		s.replyError(m, codeBadRequest, "table is required")
		return
	}
	s.mu.Lock()
	full := len(s.sessions) >= s.cfg.MaxSessions
	s.mu.Unlock()
	if full {
		s.replyError(m, codeTooManySessions, fmt.Sprintf("%d snapshot sessions are open", s.cfg.MaxSessions))
		return
	}
	snap, err := s.cfg.DB.SnapshotTable(req.Table)
	if err != nil {
		if ae := apierr.As(err); ae != nil && ae.Code == apierr.TableNotFound(req.Table).Code {
			s.replyError(m, codeTableNotFound, ae.Message)
			return
		}
		s.replyError(m, codeInternal, err.Error())
		return
	}
	info := snap.Table()
	rep := snapshotOpenReply{
		V: snapshotProtoVersion, Session: newSessionID(), Region: s.cfg.DB.Region(), Table: info.Name,
		Partitions: info.Partitions, HashKey: info.HashKey, HashType: info.HashType.String(),
		RangeKey: info.RangeKey, RangeType: info.RangeType.String(),
		Positions: make([]snapshotPos, info.Partitions), IdleTimeoutMs: s.cfg.IdleTimeout.Milliseconds(),
	}
	rep.Items, rep.Bytes = snap.Estimate()
	s.placePositions(info, snap, rep.Positions)
	if applied := snap.Applied(); len(applied) > 0 {
		rep.Applied = make(map[string][]snapshotPos, len(applied))
		for region, ps := range applied {
			out := make([]snapshotPos, len(ps))
			for i, p := range ps {
				out[i] = wirePos(p)
			}
			rep.Applied[region] = out
		}
	}
	s.mu.Lock()
	if s.closed || len(s.sessions) >= s.cfg.MaxSessions {
		s.mu.Unlock()
		_ = snap.Close()
		s.replyError(m, codeTooManySessions, fmt.Sprintf("%d snapshot sessions are open", s.cfg.MaxSessions))
		return
	}
	s.sessions[rep.Session] = &snapshotSession{id: rep.Session, snap: snap, lastUsed: time.Now()}
	s.mu.Unlock()
	s.log.Info("snapshot session opened", "session", rep.Session, "table", info.Name, "items", rep.Items)
	s.replyJSON(m, rep)
}

// placePositions fills each partition's outbox position and, when the
// table's stream can tell, the stream sequence after which its next
// records are (see locateChange).
func (s *SnapshotServer) placePositions(info engine.TableInfo, snap *engine.TableSnapshot, out []snapshotPos) {
	for p := range out {
		out[p].ChangeSeq = snap.OutboxPosition(p)
	}
	if s.cfg.JetStream == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ts, ok, err := streams.LatestTableStream(ctx, s.cfg.JetStream, s.cfg.DB.Region(), info.Name)
	if err != nil || !ok || ts.Partitions != info.Partitions {
		s.log.Debug("snapshot positions not placed in the stream", "table", info.Name, "found", ok, "error", err)
		return
	}
	for p := range out {
		loc, err := locateInTableStream(ctx, s.cfg.JetStream, ts, p, out[p].ChangeSeq)
		if err != nil {
			s.log.Debug("snapshot position not placed in the stream", "table", info.Name, "partition", p, "error", err)
			continue
		}
		out[p].StreamSeq = loc.StreamSeq
	}
}

// session returns the named session marked busy; release it with done.
func (s *SnapshotServer) session(id string) *snapshotSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[id]
	if ss == nil || ss.closing {
		return nil
	}
	ss.busy++
	return ss
}

func (s *SnapshotServer) done(ss *snapshotSession) {
	s.mu.Lock()
	ss.busy--
	if !ss.closing {
		ss.lastUsed = time.Now()
	}
	s.mu.Unlock()
}

func (s *SnapshotServer) next(m *nats.Msg) {
	var req snapshotNextRequest
	if err := decodeSnapshotRequest(m.Data, &req); err != nil {
		s.replyError(m, codeBadRequest, err.Error())
		return
	}
	ss := s.session(req.Session)
	if ss == nil {
		s.replyError(m, codeSessionNotFound, fmt.Sprintf("no snapshot session %q (expired or closed)", req.Session))
		return
	}
	defer s.done(ss)
	if req.Partition < 0 || req.Partition >= ss.snap.Table().Partitions {
		s.replyError(m, codeBadRequest, fmt.Sprintf("partition %d is out of range", req.Partition))
		return
	}
	entries, done, err := ss.snap.Read(req.Partition, req.After, s.cfg.ChunkBytes)
	if err != nil {
		s.replyError(m, codeInternal, err.Error())
		return
	}
	size := 16
	for _, e := range entries {
		size += e.Size()
	}
	if err := m.Respond(appendChunk(make([]byte, 0, size), entries, done)); err != nil {
		s.log.Warn("snapshot chunk reply failed", "session", ss.id, "error", err)
	}
}

func (s *SnapshotServer) closeSession(m *nats.Msg) {
	var req snapshotCloseRequest
	if err := decodeSnapshotRequest(m.Data, &req); err != nil {
		s.replyError(m, codeBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	ss := s.sessions[req.Session]
	idle := ss != nil && ss.busy == 0
	switch {
	case idle:
		delete(s.sessions, req.Session)
	case ss != nil:
		// NB: a request still reads it; the janitor releases it once idle.
		ss.closing, ss.lastUsed = true, time.Time{}
	}
	s.mu.Unlock()
	if ss == nil {
		s.replyError(m, codeSessionNotFound, fmt.Sprintf("no snapshot session %q (expired or closed)", req.Session))
		return
	}
	if idle {
		_ = ss.snap.Close()
		s.log.Info("snapshot session closed", "session", ss.id, "table", ss.snap.Table().Name)
	}
	s.replyJSON(m, snapshotCloseReply{V: snapshotProtoVersion})
}

func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
