package globaltables

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/streams"
	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Peer is how a Manager reaches one peer region, over NATS only.
type Peer struct {
	// Conn carries control requests to the peer (gw.ctl.<peer>.*) and
	// backfill snapshots. A peer reached through the local NATS (a
	// supercluster or leaf nodes with JetStream domains) shares the local
	// connection. Required.
	Conn *nats.Conn
	// JetStream reads the peer's table streams (on Conn, or on the local
	// connection with the peer's JetStream domain). Required.
	JetStream jetstream.JetStream
}

// Timing is how often a Manager and its drivers act. DefaultTiming suits
// regions on a WAN; TestTiming keeps tests on loopback fast.
type Timing struct {
	// ReconcileInterval is how often every replica set is pushed to its
	// members and missing drivers are started. Default 5s.
	ReconcileInterval time.Duration
	// RequestTimeout bounds one control request to a peer (and a driver's
	// start). Default 5s.
	RequestTimeout time.Duration
	// BackfillRetry is the wait before a failed backfill is tried again.
	// Default 5s.
	BackfillRetry time.Duration
	// DriverTick and DriverRetry are DriverConfig's TickInterval and
	// RetryInterval. Defaults 100ms and 1s.
	DriverTick, DriverRetry time.Duration
	// SourceIdleWait is how long a driver's read of an idle peer stream
	// waits for a record (streams.JetStreamSourceConfig.IdleWait). Default
	// the streams package's.
	SourceIdleWait time.Duration
}

// DefaultTiming returns the production timing.
func DefaultTiming() Timing {
	return Timing{ReconcileInterval: 5 * time.Second, RequestTimeout: 5 * time.Second, BackfillRetry: 5 * time.Second,
		DriverTick: 100 * time.Millisecond, DriverRetry: time.Second}
}

// TestTiming returns a timing for regions on one machine (tests, demos).
func TestTiming() Timing {
	return Timing{ReconcileInterval: 100 * time.Millisecond, RequestTimeout: 2 * time.Second,
		BackfillRetry: 200 * time.Millisecond, DriverTick: 20 * time.Millisecond, DriverRetry: 50 * time.Millisecond,
		SourceIdleWait: 100 * time.Millisecond}
}

func (t Timing) withDefaults() Timing {
	d := DefaultTiming()
	for _, f := range []struct{ v, d *time.Duration }{
		{&t.ReconcileInterval, &d.ReconcileInterval}, {&t.RequestTimeout, &d.RequestTimeout},
		{&t.BackfillRetry, &d.BackfillRetry}, {&t.DriverTick, &d.DriverTick}, {&t.DriverRetry, &d.DriverRetry},
	} {
		if *f.v == 0 {
			*f.v = *f.d
		}
	}
	return t
}

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	// DB is the local engine. Required.
	DB *engine.DB
	// Conn is the local NATS connection; the control subjects
	// gw.ctl.<region>.<verb> are served on it. Required.
	Conn *nats.Conn
	// Peers are the other regions by name. A table can be replicated to
	// these regions only.
	Peers map[string]Peer
	// Timing: zero fields take DefaultTiming's.
	Timing Timing
	// Conflicts, if set, is passed to every driver (DriverConfig.Conflicts).
	Conflicts *ConflictLog
	// Logger is named "globaltables.manager". Default a null logger.
	Logger hclog.Logger
	// Registerer receives the drivers' metrics. Default none.
	Registerer prometheus.Registerer
}

// Validate reports every problem with c at once.
func (c ManagerConfig) Validate() error {
	var errs []error
	if c.DB == nil {
		errs = append(errs, errors.New("globaltables: manager DB is required"))
	}
	if c.Conn == nil {
		errs = append(errs, errors.New("globaltables: manager Conn is required"))
	}
	names := make([]string, 0, len(c.Peers))
	for n := range c.Peers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := c.Peers[n]
		if c.DB != nil && n == c.DB.Region() {
			errs = append(errs, fmt.Errorf("globaltables: peer %s is the local region", n))
		}
		if !regionName(n) {
			errs = append(errs, fmt.Errorf("globaltables: peer name %q is not a region name", n))
		}
		if p.Conn == nil || p.JetStream == nil {
			errs = append(errs, fmt.Errorf("globaltables: peer %s needs a Conn and a JetStream", n))
		}
	}
	if err := c.Timing.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Validate reports every negative duration of t at once.
func (t Timing) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"ReconcileInterval", t.ReconcileInterval}, {"RequestTimeout", t.RequestTimeout},
		{"BackfillRetry", t.BackfillRetry}, {"DriverTick", t.DriverTick},
		{"DriverRetry", t.DriverRetry}, {"SourceIdleWait", t.SourceIdleWait}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("globaltables: timing %s %v is negative", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// regionName reports whether s can be a region name in a NATS subject.
func regionName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ControlSubject is the subject on which region serves verb (request/reply,
// JSON bodies with a "format" version): gw.ctl.<region>.<verb>.
func ControlSubject(region, verb string) string { return "gw.ctl." + region + "." + verb }

// Control verbs.
const (
	verbSync   = "sync"   // here is my replica set of a table; answer with yours, merged
	verbCreate = "create" // create your replica of a table from this definition, then backfill
)

type driverKey struct{ peer, table string }

// Manager manages the replicas of this region's global tables: it serves
// UpdateTable's ReplicaUpdates and the Replicas of DescribeTable (engine
// ReplicaHooks), answers the other regions' control requests, keeps each
// table's replica set persisted in the engine, runs one Driver per (peer,
// table) and reconciles periodically so a peer that missed a change
// catches up. Safe for concurrent use.
type Manager struct {
	cfg   ManagerConfig
	log   hclog.Logger
	local string
	db    *engine.DB

	// opMu serialises the changes of replica sets (and their persistence).
	// NB: engine calls are made under opMu, never under mu: the engine
	// calls Describe with its own lock held, and Describe takes mu.
	opMu sync.Mutex

	mu        sync.Mutex
	sets      map[string]*ReplicaSet // by table; values are never modified, only replaced
	departed  map[string]*departure  // tables deleted here whose peers must still hear it
	drivers   map[driverKey]*Driver
	backfills map[string]bool // tables whose backfill is running
	deletedQ  []string        // tables DeleteTable removed, to handle in the loop

	kick   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	subs   []*nats.Subscription
}

// departure is the last replica set of a table deleted here, with the
// peers that acknowledged it.
type departure struct {
	set  *ReplicaSet
	told map[string]bool
}

// NewManager loads every table's replica set from the engine, serves the
// control subjects, installs the engine's ReplicaHooks and starts
// reconciling. Close undoes all of it.
func NewManager(cfg ManagerConfig) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Timing = cfg.Timing.withDefaults()
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		cfg: cfg, local: cfg.DB.Region(), db: cfg.DB,
		log:  cfg.Logger.Named("globaltables.manager"),
		sets: map[string]*ReplicaSet{}, departed: map[string]*departure{},
		drivers: map[driverKey]*Driver{}, backfills: map[string]bool{},
		kick: make(chan struct{}, 1), ctx: ctx, cancel: cancel,
	}
	for _, info := range cfg.DB.Tables() {
		data, _ := cfg.DB.ReplicaSet(info.Name)
		if len(data) == 0 {
			continue
		}
		s, err := unmarshalReplicaSet(data)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("globaltables: table %s: %w", info.Name, err)
		}
		m.sets[info.Name] = s
	}
	for verb, h := range map[string]nats.MsgHandler{verbSync: m.serveSync, verbCreate: m.serveCreate} {
		sub, err := cfg.Conn.Subscribe(ControlSubject(m.local, verb), h)
		if err != nil {
			m.unsubscribe()
			cancel()
			return nil, fmt.Errorf("globaltables: serve %s: %w", ControlSubject(m.local, verb), err)
		}
		m.subs = append(m.subs, sub)
	}
	if err := cfg.Conn.Flush(); err != nil {
		m.unsubscribe()
		cancel()
		return nil, fmt.Errorf("globaltables: subscribe to control subjects: %w", err)
	}
	cfg.DB.SetReplicaHooks(engine.ReplicaHooks{Describe: m.describe, Update: m.update, Deleted: m.deleted})
	m.wg.Add(1)
	go m.loop()
	m.log.Info("replica manager started", "region", m.local, "peers", m.peerNames(), "global-tables", len(m.sets))
	return m, nil
}

func (m *Manager) unsubscribe() {
	for _, s := range m.subs {
		_ = s.Unsubscribe()
	}
	m.subs = nil
}

// Close stops serving, reconciling, backfilling and replicating; the
// engine's ReplicaHooks are removed. Idempotent.
func (m *Manager) Close() error {
	if m.ctx.Err() != nil {
		return nil
	}
	m.db.SetReplicaHooks(engine.ReplicaHooks{})
	m.unsubscribe()
	m.cancel()
	m.wg.Wait()
	m.mu.Lock()
	drivers := m.drivers
	m.drivers = map[driverKey]*Driver{}
	m.mu.Unlock()
	for _, d := range drivers {
		_ = d.Stop()
	}
	return nil
}

func (m *Manager) peerNames() []string {
	out := make([]string, 0, len(m.cfg.Peers))
	for n := range m.cfg.Peers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ReplicaSet returns a copy of the table's replica set, nil when the table
// is not global here.
func (m *Manager) ReplicaSet(table string) *ReplicaSet {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.sets[table]; s != nil {
		return s.clone()
	}
	return nil
}

// Drivers returns the status of every running driver.
func (m *Manager) Drivers() []DriverStatus {
	m.mu.Lock()
	ds := make([]*Driver, 0, len(m.drivers))
	for _, d := range m.drivers {
		ds = append(ds, d)
	}
	m.mu.Unlock()
	out := make([]DriverStatus, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.Status())
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Table < out[j].Table || out[i].Table == out[j].Table && out[i].Peer < out[j].Peer
	})
	return out
}

func (m *Manager) currentSet(table string) *ReplicaSet {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sets[table]
}

// Kick asks for a reconciliation now; it never blocks.
func (m *Manager) Kick() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// describe is the engine's Describe hook. NB: called with the engine's
// lock held: it reads memory only.
func (m *Manager) describe(table string) []any {
	m.mu.Lock()
	s := m.sets[table]
	m.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.describe(m.local)
}

// deleted is the engine's Deleted hook: the loop tells the peers.
func (m *Manager) deleted(table string) {
	m.mu.Lock()
	m.deletedQ = append(m.deletedQ, table)
	m.mu.Unlock()
	m.Kick()
}

// commit persists s as the table's replica set and publishes it (caller
// holds opMu). A set in which no other region is live any more makes the
// table regional again: not replicated, no set, its stream kept.
func (m *Manager) commit(table string, s *ReplicaSet) error {
	if s.Members[m.local].live() && len(s.Live(m.local)) == 0 {
		if err := m.db.SetReplicated(table, false); err != nil {
			return err
		}
		if err := m.db.SetReplicaSet(table, nil); err != nil {
			return err
		}
		m.mu.Lock()
		delete(m.sets, table)
		m.mu.Unlock()
		m.log.Info("table is regional again: no other replica left", "table", table)
		m.Kick()
		return nil
	}
	if err := m.db.SetReplicaSet(table, s.marshal()); err != nil {
		return err
	}
	m.mu.Lock()
	m.sets[table] = s
	m.mu.Unlock()
	m.Kick()
	return nil
}

// merge folds a peer's copy of a table's set into ours and returns ours.
func (m *Manager) merge(table string, in *ReplicaSet) *ReplicaSet {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	cur := m.currentSet(table)
	if cur == nil {
		m.mu.Lock()
		defer m.mu.Unlock()
		if d := m.departed[table]; d != nil {
			d.set.Merge(in)
			return d.set.clone()
		}
		// NB: a set that counts this region as a replica it no longer has
		// (its departure was forgotten in a restart): answer that it left.
		// CREATING is not answered so: the create may still be on its way.
		if in == nil {
			return nil
		}
		if own := in.Members[m.local]; own.Status == StatusActive || own.Status == StatusDeleting {
			d := in.clone()
			d.set(m.local, m.local, Member{Status: StatusDeleted})
			return d
		}
		return nil
	}
	next := cur.clone()
	if !next.Merge(in) {
		return cur
	}
	if err := m.commit(table, next); err != nil {
		m.log.Error("store the replica set", "table", table, "error", err)
		return cur
	}
	return next
}

// ---- control messages ----

// controlFormat is the version of the control messages' JSON.
const controlFormat = 1

type controlRequest struct {
	Format     int                     `json:"format"`
	From       string                  `json:"from"`
	Table      string                  `json:"table"`
	Set        *ReplicaSet             `json:"set,omitempty"`
	Definition *engine.TableDefinition `json:"definition,omitempty"` // create
}

type controlReply struct {
	Format int         `json:"format"`
	Set    *ReplicaSet `json:"set,omitempty"`
	Error  string      `json:"error,omitempty"`
	// Exists is set when a create found a table of that name that is not a
	// replica of the global table.
	Exists bool `json:"exists,omitempty"`
}

func (m *Manager) respond(msg *nats.Msg, r controlReply) {
	r.Format = controlFormat
	b, _ := json.Marshal(r)
	if err := msg.Respond(b); err != nil {
		m.log.Debug("control reply not sent", "subject", msg.Subject, "error", err)
	}
}

func decodeRequest(msg *nats.Msg) (*controlRequest, error) {
	var req controlRequest
	if err := json.Unmarshal(msg.Data, &req); err != nil {
		return nil, fmt.Errorf("decode control request: %w", err)
	}
	if req.Format != controlFormat {
		return nil, fmt.Errorf("control request format %d, want %d", req.Format, controlFormat)
	}
	if req.Table == "" || req.From == "" {
		return nil, errors.New("control request without a table or a sender")
	}
	if req.Set != nil && req.Set.Members == nil {
		req.Set.Members = map[string]Member{}
	}
	return &req, nil
}

func (m *Manager) serveSync(msg *nats.Msg) {
	req, err := decodeRequest(msg)
	if err != nil {
		m.respond(msg, controlReply{Error: err.Error()})
		return
	}
	m.respond(msg, controlReply{Set: m.merge(req.Table, req.Set)})
}

func (m *Manager) serveCreate(msg *nats.Msg) {
	req, err := decodeRequest(msg)
	if err == nil && (req.Definition == nil || req.Set == nil) {
		err = errors.New("create without a definition or a replica set")
	}
	if err != nil {
		m.respond(msg, controlReply{Error: err.Error()})
		return
	}
	m.respond(msg, m.create(req))
}

// create makes this region's replica of a table at a peer's request:
// idempotent while the replica exists.
func (m *Manager) create(req *controlRequest) controlReply {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if cur := m.currentSet(req.Table); cur != nil {
		next := cur.clone()
		if next.Merge(req.Set) {
			if err := m.commit(req.Table, next); err != nil {
				return controlReply{Error: err.Error()}
			}
			return controlReply{Set: next}
		}
		return controlReply{Set: cur}
	}
	if _, ok := m.db.Table(req.Table); ok {
		return controlReply{Exists: true, Error: fmt.Sprintf("table %s already exists in %s", req.Table, m.local)}
	}
	s := req.Set.clone()
	s.Table = req.Table
	if mem := s.Members[m.local]; mem.Status != StatusCreating {
		return controlReply{Error: fmt.Sprintf("%s is not CREATING in the request's replica set", m.local)}
	}
	src := s.Members[m.local].Source
	if src == "" {
		src = req.From
	}
	// NB: this region's own write acknowledges the create: the creator
	// stops re-sending it once it sees an entry by us.
	s.set(m.local, m.local, Member{Status: StatusCreating, Source: src})
	if err := m.db.CreateReplicaTable(m.ctx, *req.Definition, s.marshal()); err != nil {
		return controlReply{Error: err.Error()}
	}
	m.mu.Lock()
	m.sets[req.Table] = s
	delete(m.departed, req.Table)
	m.mu.Unlock()
	m.log.Info("replica created; backfilling", "table", req.Table, "source", src)
	m.Kick()
	return controlReply{Set: s}
}

// request sends a control request to peer and decodes the reply.
func (m *Manager) request(ctx context.Context, peer, verb string, req controlRequest) (*controlReply, error) {
	p, ok := m.cfg.Peers[peer]
	if !ok {
		return nil, fmt.Errorf("globaltables: %s is not a peer", peer)
	}
	if !p.Conn.IsConnected() {
		// NB: a request on a connection that is (re)connecting would wait
		// out the whole timeout; one peer down must not slow the others.
		return nil, fmt.Errorf("globaltables: %s: not connected to %s's NATS", verb, peer)
	}
	req.Format, req.From = controlFormat, m.local
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timing.RequestTimeout)
	defer cancel()
	msg, err := p.Conn.RequestWithContext(ctx, ControlSubject(peer, verb), b)
	if err != nil {
		return nil, fmt.Errorf("globaltables: %s request to %s: %w", verb, peer, err)
	}
	var r controlReply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		return nil, fmt.Errorf("globaltables: %s reply from %s: %w", verb, peer, err)
	}
	if r.Format != controlFormat {
		return nil, fmt.Errorf("globaltables: %s reply from %s has format %d, want %d", verb, peer, r.Format, controlFormat)
	}
	return &r, nil
}

// ---- the reconciliation loop ----

func (m *Manager) loop() {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.Timing.ReconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-m.kick:
		case <-t.C:
		}
		m.reconcile(m.ctx)
	}
}

// reconcile brings this region in line with its replica sets: tables
// deleted here are announced, a replica marked DELETING here is deleted, a
// CREATING one is backfilled, drivers run for exactly the live peers, and
// every set is pushed to its live members (their answers merged back).
func (m *Manager) reconcile(ctx context.Context) {
	m.mu.Lock()
	q := m.deletedQ
	m.deletedQ = nil
	m.mu.Unlock()
	for _, table := range q {
		m.leave(table)
	}
	m.mu.Lock()
	sets := make(map[string]*ReplicaSet, len(m.sets))
	for t, s := range m.sets {
		sets[t] = s
	}
	m.mu.Unlock()

	want := map[driverKey]bool{}
	tables := make([]string, 0, len(sets))
	for t := range sets {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	for _, table := range tables {
		s := sets[table]
		if ctx.Err() != nil {
			return
		}
		own := s.Members[m.local]
		switch own.Status {
		case StatusDeleting:
			m.deleteLocal(ctx, table)
			continue
		case StatusCreating:
			m.startBackfill(table, own.Source)
		case StatusActive:
			for _, p := range s.Live(m.local) {
				if st := s.Members[p].Status; st == StatusActive || st == StatusCreating {
					want[driverKey{p, table}] = true
				}
			}
		}
		m.push(ctx, table, s)
	}
	m.tellDeparted(ctx)
	m.syncDrivers(ctx, want)
}

// push sends the set to every live peer of it (a create to a replica this
// region asked for and that has not answered yet), merging the answers.
func (m *Manager) push(ctx context.Context, table string, s *ReplicaSet) {
	for _, p := range s.Live(m.local) {
		if _, ok := m.cfg.Peers[p]; !ok {
			m.log.Warn("a replica's region is not a configured peer; it cannot be reached", "table", table, "region", p)
			continue
		}
		mem := s.Members[p]
		verb := verbSync
		req := controlRequest{Table: table, Set: s}
		if mem.Status == StatusCreating && mem.Source == m.local && mem.By == m.local {
			def, err := m.db.TableDefinition(table)
			if err != nil {
				return // deleted meanwhile
			}
			verb, req.Definition = verbCreate, &def
		}
		r, err := m.request(ctx, p, verb, req)
		if err != nil {
			m.log.Debug("peer not reached", "table", table, "peer", p, "verb", verb, "error", err)
			continue
		}
		if r.Error != "" {
			m.log.Warn("peer refused", "table", table, "peer", p, "verb", verb, "error", r.Error)
			continue
		}
		if r.Set != nil {
			m.merge(table, r.Set)
		}
	}
}

// leave handles the deletion of a replicated table here (DeleteTable, or
// the removal of this replica): this region's entry becomes DELETED and the
// set is kept in memory until every live peer has heard it.
func (m *Manager) leave(table string) {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if _, ok := m.db.Table(table); ok {
		return // re-created meanwhile: not this deletion's business
	}
	m.mu.Lock()
	s := m.sets[table]
	delete(m.sets, table)
	m.mu.Unlock()
	m.stopDrivers(table)
	if s == nil {
		return
	}
	d := s.clone()
	d.set(m.local, m.local, Member{Status: StatusDeleted})
	if len(d.Live(m.local)) > 0 {
		m.mu.Lock()
		m.departed[table] = &departure{set: d, told: map[string]bool{}}
		m.mu.Unlock()
	}
	m.log.Info("replica deleted here; telling the other regions", "table", table, "regions", d.Live(m.local))
	m.Kick()
}

// deleteLocal deletes this region's replica, removed from another region.
func (m *Manager) deleteLocal(ctx context.Context, table string) {
	m.stopDrivers(table)
	_, err := m.db.DeleteTable(ctx, &engine.DeleteTableInput{TableName: table})
	if err != nil && !isNotFound(err) {
		m.log.Error("delete the removed replica", "table", table, "error", err)
		return
	}
	m.leave(table)
}

func isNotFound(err error) bool {
	_, ok := errAs(err)
	return ok
}

// tellDeparted pushes the sets of tables deleted here to their live
// members until each has answered.
func (m *Manager) tellDeparted(ctx context.Context) {
	m.mu.Lock()
	pending := map[string]*departure{}
	for t, d := range m.departed {
		pending[t] = d
	}
	m.mu.Unlock()
	for table, d := range pending {
		m.mu.Lock()
		s := d.set.clone()
		m.mu.Unlock()
		done := true
		for _, p := range s.Live(m.local) {
			m.mu.Lock()
			told := d.told[p]
			m.mu.Unlock()
			if told {
				continue
			}
			if _, ok := m.cfg.Peers[p]; !ok {
				continue
			}
			r, err := m.request(ctx, p, verbSync, controlRequest{Table: table, Set: s})
			if err != nil || r.Error != "" {
				done = false
				continue
			}
			m.mu.Lock()
			d.told[p] = true
			m.mu.Unlock()
		}
		if done {
			m.mu.Lock()
			if m.departed[table] == d {
				delete(m.departed, table)
			}
			m.mu.Unlock()
		}
	}
}

// startBackfill starts the backfill of a CREATING replica unless one runs.
func (m *Manager) startBackfill(table, source string) {
	m.mu.Lock()
	if m.backfills[table] {
		m.mu.Unlock()
		return
	}
	m.backfills[table] = true
	m.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer func() {
			m.mu.Lock()
			delete(m.backfills, table)
			m.mu.Unlock()
		}()
		m.backfill(table, source)
	}()
}

// backfill copies the table from source until it succeeds (or the replica
// goes), then makes this replica ACTIVE.
func (m *Manager) backfill(table, source string) {
	log := m.log.With("table", table, "source", source)
	for m.ctx.Err() == nil {
		s := m.currentSet(table)
		if s == nil || s.Members[m.local].Status != StatusCreating {
			return
		}
		p, ok := m.cfg.Peers[source]
		var err error
		var stats BackfillStats
		if !ok {
			err = fmt.Errorf("the source region %s is not a configured peer", source)
		} else {
			stats, err = Backfill(m.ctx, BackfillConfig{
				Peer: source, PeerConn: p.Conn, DB: m.db, Table: table, Logger: m.cfg.Logger,
				Progress: m.progress(table),
			})
		}
		if err == nil {
			m.opMu.Lock()
			if cur := m.currentSet(table); cur != nil && cur.Members[m.local].Status == StatusCreating {
				next := cur.clone()
				next.set(m.local, m.local, Member{Status: StatusActive})
				err = m.commit(table, next)
			}
			m.opMu.Unlock()
			if err == nil {
				log.Info("replica backfilled; ACTIVE", "items", stats.Items, "tombstones", stats.Tombstones,
					"bytes", stats.Bytes, "elapsed", stats.Elapsed)
				return
			}
		}
		if m.ctx.Err() != nil {
			return
		}
		log.Warn("backfill failed; retrying", "error", err, "retry-in", m.cfg.Timing.BackfillRetry)
		select {
		case <-m.ctx.Done():
			return
		case <-time.After(m.cfg.Timing.BackfillRetry):
		}
	}
}

// progress returns Backfill's Progress callback: it records the percentage
// in this region's entry (a new version at most once a second, so the
// other regions' DescribeTable show it too).
func (m *Manager) progress(table string) func(done, total int64) {
	var last time.Time
	return func(done, total int64) {
		if total <= 0 || time.Since(last) < time.Second {
			return
		}
		pct := int(min(done*100/total, 99))
		m.opMu.Lock()
		defer m.opMu.Unlock()
		cur := m.currentSet(table)
		if cur == nil {
			return
		}
		own := cur.Members[m.local]
		if own.Status != StatusCreating || own.Progress == pct {
			return
		}
		next := cur.clone()
		own.Progress = pct
		next.set(m.local, m.local, own)
		if err := m.commit(table, next); err == nil {
			last = time.Now()
		}
	}
}

// syncDrivers starts the wanted drivers that do not run and stops the
// others. A driver that cannot start yet (the peer's stream is not there,
// the peer is down) is tried again at the next reconciliation.
func (m *Manager) syncDrivers(ctx context.Context, want map[driverKey]bool) {
	m.mu.Lock()
	var stop []*Driver
	for k, d := range m.drivers {
		if !want[k] {
			stop = append(stop, d)
			delete(m.drivers, k)
		}
	}
	var start []driverKey
	for k := range want {
		if m.drivers[k] == nil {
			start = append(start, k)
		}
	}
	m.mu.Unlock()
	for _, d := range stop {
		_ = d.Stop()
	}
	sort.Slice(start, func(i, j int) bool {
		return start[i].table < start[j].table || start[i].table == start[j].table && start[i].peer < start[j].peer
	})
	for _, k := range start {
		if ctx.Err() != nil {
			return
		}
		d, err := m.startDriver(ctx, k)
		if err != nil {
			m.log.Debug("replication not started yet", "table", k.table, "peer", k.peer, "error", err)
			continue
		}
		m.mu.Lock()
		m.drivers[k] = d
		m.mu.Unlock()
	}
}

func (m *Manager) startDriver(ctx context.Context, k driverKey) (*Driver, error) {
	p, ok := m.cfg.Peers[k.peer]
	if !ok {
		return nil, fmt.Errorf("%s is not a configured peer", k.peer)
	}
	t := m.cfg.Timing
	d, err := NewDriver(DriverConfig{
		Peer: k.peer, Table: k.table, PeerJetStream: p.JetStream, DB: m.db,
		TickInterval: t.DriverTick, RetryInterval: t.DriverRetry,
		Source:     streams.JetStreamSourceConfig{IdleWait: t.SourceIdleWait},
		Conflicts:  m.cfg.Conflicts,
		Logger:     m.cfg.Logger,
		Registerer: m.cfg.Registerer,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, t.RequestTimeout)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// stopDrivers stops every driver of the table.
func (m *Manager) stopDrivers(table string) {
	m.mu.Lock()
	var stop []*Driver
	for k, d := range m.drivers {
		if k.table == table {
			stop = append(stop, d)
			delete(m.drivers, k)
		}
	}
	m.mu.Unlock()
	for _, d := range stop {
		_ = d.Stop()
	}
}
