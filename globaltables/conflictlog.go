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

	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/engine/attr"
	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// The conflict log's JetStream layout (a persisted format: change it only
// with a new ConflictRecord.Format).
//
//	stream   GW_CONFLICTS                       one per region (its JetStream domain)
//	subject  gw.conflicts.<region>.<table>      '.' in the table name replaced by '_'
//	message  a ConflictRecord as JSON
//
// NB: one stream for all tables rather than one per table: there is one
// stream to create and one retention to apply, tables need no stream
// lifecycle (a deleted table's records age out), and a reader of one table
// filters by subject, which JetStream indexes. The subject is a coarse
// index only ("a.b" and "a_b" share one): readers keep the records whose
// Table field is theirs.
const (
	ConflictStream        = "GW_CONFLICTS"
	conflictRecordFormat  = 1
	conflictSubjectPrefix = "gw.conflicts."
)

// ConflictSubject is the subject of a table's conflict records in region.
func ConflictSubject(region, table string) string {
	return conflictSubjectPrefix + region + "." + strings.ReplaceAll(table, ".", "_")
}

// ConflictVersion is a conflict.Version in a conflict record.
type ConflictVersion struct {
	Wall    int64  `json:"wall"` // Unix nanoseconds
	Logical uint32 `json:"logical"`
	Region  string `json:"region"`
}

func conflictVersion(v conflict.Version) ConflictVersion {
	return ConflictVersion{Wall: v.Wall, Logical: v.Logical, Region: v.Region}
}

// Version returns v as a conflict.Version.
func (v ConflictVersion) Version() conflict.Version {
	return conflict.Version{Wall: v.Wall, Logical: v.Logical, Region: v.Region}
}

// ConflictRecord is one entry of the conflict log: a replicated change that
// last-writer-wins decided against a concurrent version, in the region that
// applied (or discarded) it. Images and the key are DynamoDB JSON; an image
// is null for a deleted item (a tombstone, or a delete).
type ConflictRecord struct {
	Format int    `json:"format"` // 1
	Table  string `json:"table"`
	// Key is the item's primary key.
	Key json.RawMessage `json:"key"`
	// Region is where the conflict was decided; Source is the peer whose
	// stream brought the incoming change.
	Region string `json:"region"`
	Source string `json:"source"`
	// Outcome is "remote-won" (the incoming change overwrote the stored
	// version) or "remote-lost" (it was discarded).
	Outcome string `json:"outcome"`
	// Winner is "incoming" or "stored"; WinnerVersion is its version.
	Winner        string          `json:"winner"`
	WinnerVersion ConflictVersion `json:"winnerVersion"`
	// Stored is what the key held in Region before the change.
	Stored        ConflictVersion `json:"stored"`
	StoredDeleted bool            `json:"storedDeleted"`
	StoredImage   json.RawMessage `json:"storedImage"`
	// Incoming is the replicated change; IncomingPrev the version it was
	// made over in its origin region.
	Incoming      ConflictVersion `json:"incoming"`
	IncomingPrev  ConflictVersion `json:"incomingPrev"`
	IncomingImage json.RawMessage `json:"incomingImage"`
	// Time is when Region decided it (its clock).
	Time time.Time `json:"time"`
}

// NewConflictRecord renders an engine conflict as a log record.
func NewConflictRecord(table, region, source string, c *engine.Conflict, at time.Time) ConflictRecord {
	img := func(it attr.Item) json.RawMessage {
		if it == nil {
			return json.RawMessage("null")
		}
		return attr.AppendItemJSON(nil, it)
	}
	r := ConflictRecord{
		Format: conflictRecordFormat, Table: table, Key: img(c.Keys), Region: region, Source: source,
		Outcome: c.Outcome.String(), Winner: "stored", WinnerVersion: conflictVersion(c.Winner()),
		Stored: conflictVersion(c.Stored), StoredDeleted: c.StoredDeleted, StoredImage: img(c.StoredImage),
		Incoming: conflictVersion(c.Incoming), IncomingPrev: conflictVersion(c.IncomingPrev),
		IncomingImage: img(c.IncomingImage), Time: at.UTC(),
	}
	if c.Incoming.After(c.Stored) {
		r.Winner = "incoming"
	}
	return r
}

// ConflictLogConfig configures a ConflictLog.
type ConflictLogConfig struct {
	// JetStream is a handle on the local region's NATS. Required.
	JetStream jetstream.JetStream
	// Region is the local region. Required.
	Region string
	// Retention is how long records are kept (the stream's MaxAge).
	// Default 7 days.
	Retention time.Duration
	// MaxBytes bounds the stream's size; the oldest records go first.
	// Default 256 MiB (reserved from the JetStream account); -1 for no bound.
	MaxBytes int64
	// Replicas is the stream's replica count (an external NATS cluster).
	// Default 1.
	Replicas int
	// Buffer bounds the records waiting to be published. Append never
	// blocks: a record that finds the buffer full is dropped and counted
	// (godwit_replication_conflict_log_dropped_total). Default 4096.
	Buffer int
	// PublishTimeout bounds one publish; a record whose publish fails
	// twice is dropped and counted. Default 5s.
	PublishTimeout time.Duration
	// Logger is named "globaltables.conflicts". Default a null logger.
	Logger hclog.Logger
	// Registerer receives the log's metrics. Default none.
	Registerer prometheus.Registerer
}

// DefaultConflictLogConfig returns a ConflictLogConfig with every default
// filled in (JetStream and Region empty).
func DefaultConflictLogConfig() ConflictLogConfig {
	return ConflictLogConfig{
		Retention: 7 * 24 * time.Hour, MaxBytes: 256 << 20, Replicas: 1, Buffer: 4096,
		PublishTimeout: 5 * time.Second, Logger: hclog.NewNullLogger(),
	}
}

// Validate reports every problem with c at once.
func (c ConflictLogConfig) Validate() error {
	var errs []error
	if c.JetStream == nil {
		errs = append(errs, errors.New("globaltables: conflict log JetStream is required"))
	}
	if c.Region == "" {
		errs = append(errs, errors.New("globaltables: conflict log Region is required"))
	}
	if c.Retention < 0 {
		errs = append(errs, fmt.Errorf("globaltables: conflict log Retention %v is negative", c.Retention))
	}
	if c.MaxBytes < -1 {
		errs = append(errs, fmt.Errorf("globaltables: conflict log MaxBytes %d is invalid", c.MaxBytes))
	}
	if c.Replicas < 0 || c.Buffer < 0 || c.PublishTimeout < 0 {
		errs = append(errs, errors.New("globaltables: conflict log Replicas, Buffer and PublishTimeout must not be negative"))
	}
	return errors.Join(errs...)
}

func (c ConflictLogConfig) withDefaults() ConflictLogConfig {
	d := DefaultConflictLogConfig()
	if c.Retention == 0 {
		c.Retention = d.Retention
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = d.MaxBytes
	}
	if c.Replicas == 0 {
		c.Replicas = d.Replicas
	}
	if c.Buffer == 0 {
		c.Buffer = d.Buffer
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = d.PublishTimeout
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	return c
}

// ConflictLog appends conflict records to the local region's conflict
// stream, asynchronously: Append hands a record to a bounded buffer and
// returns at once; one goroutine publishes. Shared by every Driver of a
// region. Safe for concurrent use.
type ConflictLog struct {
	cfg     ConflictLogConfig
	log     hclog.Logger
	queue   chan ConflictRecord
	dropped *prometheus.CounterVec
	logged  *prometheus.CounterVec
	idBase  string

	mu       sync.Mutex // guards closed
	closed   bool
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// NewConflictLog starts the log's publisher. The conflict stream is
// created (or updated to cfg) when the first record is published, so a
// region that never meets a conflict has no conflict stream.
func NewConflictLog(cfg ConflictLogConfig) (*ConflictLog, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var id [6]byte
	_, _ = rand.Read(id[:])
	l := &ConflictLog{
		cfg:    cfg,
		log:    cfg.Logger.Named("globaltables.conflicts"),
		queue:  make(chan ConflictRecord, cfg.Buffer),
		idBase: hex.EncodeToString(id[:]),
		dropped: registerVec(cfg.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "godwit", Subsystem: "replication", Name: "conflict_log_dropped_total",
			Help: "Conflict records not written to the conflict log (buffer full, or the publish failed); the conflict is still counted in godwit_replication_conflicts_total.",
		}, []string{"table"})),
		logged: registerVec(cfg.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "godwit", Subsystem: "replication", Name: "conflict_log_records_total",
			Help: "Conflict records written to the conflict log.",
		}, []string{"table"})),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go l.run()
	return l, nil
}

// ensureStream creates or updates the conflict stream.
func (l *ConflictLog) ensureStream() error {
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.PublishTimeout)
	defer cancel()
	_, err := l.cfg.JetStream.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        ConflictStream,
		Description: "godwit replication conflicts of region " + l.cfg.Region,
		Subjects:    []string{conflictSubjectPrefix + l.cfg.Region + ".*"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      l.cfg.Retention,
		MaxBytes:    l.cfg.MaxBytes,
		MaxMsgs:     -1,
		Storage:     jetstream.FileStorage,
		Replicas:    l.cfg.Replicas,
		AllowDirect: true,
	})
	if err != nil {
		return fmt.Errorf("globaltables: create the conflict stream: %w", err)
	}
	return nil
}

// Append queues rec for the log without blocking and reports whether it
// was queued; a record that finds the buffer full (or the log closed) is
// dropped and counted.
func (l *ConflictLog) Append(rec ConflictRecord) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		select {
		case l.queue <- rec:
			return true
		default:
		}
	}
	l.dropped.WithLabelValues(rec.Table).Inc()
	return false
}

// Close publishes what is queued (bounded by ctx) and stops the log.
// Records still queued when ctx ends are dropped and counted. Idempotent.
func (l *ConflictLog) Close(ctx context.Context) error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.queue)
	}
	l.mu.Unlock()
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
	}
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
	return ctx.Err()
}

func (l *ConflictLog) run() {
	defer close(l.done)
	var n uint64
	haveStream := false
	for rec := range l.queue {
		select {
		case <-l.stop:
			l.dropped.WithLabelValues(rec.Table).Inc()
			continue
		default:
		}
		n++
		var err error
		if !haveStream {
			if err = l.ensureStream(); err == nil {
				haveStream = true
			}
		}
		var data []byte
		if err == nil {
			data, err = json.Marshal(rec)
		}
		if err == nil {
			id := fmt.Sprintf("%s-%d", l.idBase, n)
			for attempt := 0; attempt < 2; attempt++ {
				if err = l.publish(ConflictSubject(rec.Region, rec.Table), data, id); err == nil {
					break
				}
			}
		}
		if err != nil {
			l.log.Warn("conflict record dropped", "table", rec.Table, "error", err)
			l.dropped.WithLabelValues(rec.Table).Inc()
			continue
		}
		l.logged.WithLabelValues(rec.Table).Inc()
	}
}

func (l *ConflictLog) publish(subject string, data []byte, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.PublishTimeout)
	defer cancel()
	go func() {
		select {
		case <-l.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	// NB: the message id makes a retry after an ambiguous failure harmless
	// (JetStream deduplicates it within the stream's duplicate window).
	_, err := l.cfg.JetStream.Publish(ctx, subject, data, jetstream.WithMsgID(id))
	return err
}

// ConflictQuery selects conflict records to read.
type ConflictQuery struct {
	// Table is the table whose records are read. Required.
	Table string
	// Since, if not zero, skips records stored before it.
	Since time.Time
	// Follow keeps reading new records until ctx ends; otherwise reading
	// stops after the last record stored when it began.
	Follow bool
}

// ReadConflicts calls fn with each conflict record of q.Table in the
// conflict stream js holds (the region's own log), oldest first, with the
// record's JSON as stored. It returns nil after the last record (or, with
// Follow, when ctx ends), or fn's first error.
func ReadConflicts(ctx context.Context, js jetstream.JetStream, q ConflictQuery, fn func(rec ConflictRecord, raw []byte) error) error {
	if q.Table == "" {
		return errors.New("globaltables: ReadConflicts needs a table")
	}
	s, err := js.Stream(ctx, ConflictStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if !q.Follow {
			return nil // no conflict was ever logged here
		}
		return fmt.Errorf("globaltables: the region has no conflict log (stream %s) yet", ConflictStream)
	}
	if err != nil {
		return fmt.Errorf("globaltables: conflict stream: %w", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("globaltables: conflict stream: %w", err)
	}
	// The stream's one subject wildcard names the region it logs.
	subject := ""
	for _, sub := range info.Config.Subjects {
		if strings.HasPrefix(sub, conflictSubjectPrefix) && strings.HasSuffix(sub, ".*") {
			subject = strings.TrimSuffix(sub, "*") + strings.ReplaceAll(q.Table, ".", "_")
		}
	}
	if subject == "" {
		return fmt.Errorf("globaltables: stream %s is not a conflict log (subjects %v)", ConflictStream, info.Config.Subjects)
	}
	cc := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverAllPolicy}
	if !q.Since.IsZero() {
		since := q.Since
		cc.DeliverPolicy, cc.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	c, err := s.OrderedConsumer(ctx, cc)
	if err != nil {
		return fmt.Errorf("globaltables: read the conflict stream: %w", err)
	}
	if !q.Follow {
		ci, err := c.Info(ctx)
		if err != nil {
			return fmt.Errorf("globaltables: read the conflict stream: %w", err)
		}
		if ci.NumPending == 0 {
			return nil
		}
	}
	for {
		batch, err := c.Fetch(256, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("globaltables: read the conflict stream: %w", err)
		}
		for m := range batch.Messages() {
			var rec ConflictRecord
			// NB: a malformed record, or one of another table sharing the
			// subject, is skipped.
			if err := json.Unmarshal(m.Data(), &rec); err == nil && rec.Table == q.Table {
				if err := fn(rec, m.Data()); err != nil {
					return err
				}
			}
			if md, err := m.Metadata(); err == nil && md.NumPending == 0 && !q.Follow {
				return nil
			}
		}
		if err := batch.Error(); err != nil && ctx.Err() == nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return fmt.Errorf("globaltables: read the conflict stream: %w", err)
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}
