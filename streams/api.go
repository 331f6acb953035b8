package streams

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/wire"
	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// TargetPrefix is the X-Amz-Target prefix of the DynamoDB Streams API.
const TargetPrefix = "DynamoDBStreams_20120810"

// Catalog is what the Streams API needs to know of the engine's tables.
// *engine.DB implements it.
type Catalog interface {
	Region() string
	AccountID() string
	Table(name string) (engine.TableInfo, bool)
	Tables() []engine.TableInfo
}

var _ Catalog = (*engine.DB)(nil)

// APIConfig configures the Streams API. The zero value of each field means
// its default.
type APIConfig struct {
	// Clock judges iterator expiry. Default the system clock.
	Clock conflict.PhysicalClock
	// IteratorTTL is how long a shard iterator may be used after it was
	// issued. Default 15 minutes (AWS's).
	IteratorTTL time.Duration
	// IteratorKey signs shard iterators (at least 16 bytes). Default: a
	// random key kept in the JetStream key-value bucket GODWIT_STREAMS,
	// created on first use, so iterators survive restarts.
	IteratorKey []byte
	// StateMaxAge bounds how old the stream state (first and last sequence,
	// disabled or not) that GetRecords relies on may be. A stale state
	// costs nothing but an extra empty page at a shard's end. Default 50ms.
	StateMaxAge time.Duration
	// Timeout bounds the NATS requests of one API call. Default 5s.
	Timeout time.Duration
	// Published, when set (the Publisher of the same process), lets
	// GetRecords wait for records instead of answering an empty page at
	// once: see RecordsWait.
	Published PublishSignal
	// RecordsWait is how long GetRecords holds an open shard's empty page,
	// waiting for Published to report a new record of the shard, which it
	// then returns at once. A client polling the shard's end thus gets
	// each record as soon as JetStream has it, and polls less. Only with
	// Published; negative: never wait. Default 100ms.
	RecordsWait time.Duration
	// NoTailCache makes GetRecords always read JetStream. By default, when
	// Published is a Publisher keeping tail caches, a shard's newest records
	// are answered from its cache whenever that is exactly JetStream's
	// answer (tailcache.go).
	NoTailCache bool
	// Logger is named "streams.api". Default a null logger.
	Logger hclog.Logger
	// Registerer receives the API's metrics. Default none.
	Registerer prometheus.Registerer
}

// DefaultAPIConfig returns an APIConfig with every default filled in
// (IteratorKey stays nil: it is loaded from JetStream).
func DefaultAPIConfig() APIConfig {
	return APIConfig{
		Clock:       conflict.SystemClock{},
		IteratorTTL: 15 * time.Minute,
		StateMaxAge: 50 * time.Millisecond,
		Timeout:     5 * time.Second,
		RecordsWait: 100 * time.Millisecond,
		Logger:      hclog.NewNullLogger(),
	}
}

// Validate reports every problem with c at once.
func (c APIConfig) Validate() error {
	var errs []error
	if c.IteratorKey != nil && len(c.IteratorKey) < 16 {
		errs = append(errs, fmt.Errorf("streams: IteratorKey is %d bytes, want at least 16", len(c.IteratorKey)))
	}
	if c.IteratorTTL < 0 {
		errs = append(errs, fmt.Errorf("streams: IteratorTTL %v is negative", c.IteratorTTL))
	}
	if c.StateMaxAge < 0 {
		errs = append(errs, fmt.Errorf("streams: StateMaxAge %v is negative", c.StateMaxAge))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("streams: Timeout %v is negative", c.Timeout))
	}
	return errors.Join(errs...)
}

func (c APIConfig) withDefaults() APIConfig {
	d := DefaultAPIConfig()
	if c.Clock == nil {
		c.Clock = d.Clock
	}
	if c.IteratorTTL == 0 {
		c.IteratorTTL = d.IteratorTTL
	}
	if c.StateMaxAge == 0 {
		c.StateMaxAge = d.StateMaxAge
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.RecordsWait == 0 {
		c.RecordsWait = d.RecordsWait
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	return c
}

// API serves the DynamoDBStreams_20120810 operations over the table
// streams that the publisher keeps in JetStream. It holds no state of its
// own beyond caches: every answer is read from JetStream and the catalog
// (or the publisher's tail cache, which answers only what JetStream
// would). Safe for concurrent use.
type API struct {
	cat    Catalog
	js     jetstream.JetStream
	direct *directGetter
	tails  tailSource // nil: no tail cache
	cfg    APIConfig
	// codec signs iterators; nil until the key is loaded (keyMu).
	codec *iteratorCodec
	keyMu sync.Mutex
	log   hclog.Logger
	m     apiMetrics

	mu      sync.Mutex
	handles map[string]*streamHandle // by stream ARN
}

type apiMetrics struct {
	getRecords prometheus.Counter
	records    prometheus.Counter
	// tail counts the tail cache's answers (hit) and misses by reason.
	tail [tailResults]prometheus.Counter
}

// NewAPI returns the Streams API of cat's region, reading js (a handle on
// the region's JetStream domain). It needs no answer from NATS: unless
// cfg.IteratorKey is set, the iterator key is loaded (or created) in
// JetStream by the first call that needs it, so a server can start while
// an external NATS is still away.
func NewAPI(cat Catalog, js jetstream.JetStream, cfg APIConfig) (*API, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	direct, err := newDirectGetter(js.Conn(), jsAPIPrefix(js))
	if err != nil {
		return nil, err
	}
	a := &API{
		cat:     cat,
		js:      js,
		direct:  direct,
		cfg:     cfg,
		log:     cfg.Logger.Named("streams.api"),
		handles: map[string]*streamHandle{},
	}
	a.m.getRecords = registerVec(cfg.Registerer, prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "godwit", Subsystem: "streams", Name: "get_records_calls_total",
		Help: "GetRecords calls that returned a page (with or without records).",
	}))
	a.m.records = registerVec(cfg.Registerer, prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "godwit", Subsystem: "streams", Name: "get_records_records_total",
		Help: "Records returned by GetRecords.",
	}))
	a.registerTailMetrics(cfg.Registerer)
	if ts, ok := cfg.Published.(tailSource); ok && !cfg.NoTailCache && ts.tailCacheOn() {
		a.tails = ts
	}
	if cfg.IteratorKey != nil {
		a.codec = &iteratorCodec{key: append([]byte(nil), cfg.IteratorKey...)}
	}
	return a, nil
}

// iterators returns the iterator codec, loading the key on first use.
func (a *API) iterators(ctx context.Context) (*iteratorCodec, error) {
	a.keyMu.Lock()
	defer a.keyMu.Unlock()
	if a.codec == nil {
		key, err := loadIteratorKey(ctx, a.js)
		if err != nil {
			return nil, err
		}
		a.codec = &iteratorCodec{key: key}
	}
	return a.codec, nil
}

// Close releases the API's NATS subscription. The operations must not be
// called afterwards.
func (a *API) Close() error { return a.direct.close() }

// Operations returns the API's operations for wire.Server.Register(TargetPrefix, ...).
func (a *API) Operations() map[string]wire.Op {
	return map[string]wire.Op{
		"ListStreams":      a.ListStreams,
		"DescribeStream":   a.DescribeStream,
		"GetShardIterator": a.GetShardIterator,
		"GetRecords":       a.GetRecords,
	}
}

// ---- validation ----------------------------------------------------------

// apiChecks collects AWS's model-level violations ("1 validation error
// detected: ...") so they are reported together, as AWS does.
type apiChecks struct{ msgs []string }

func (c *apiChecks) add(format string, args ...any) {
	c.msgs = append(c.msgs, fmt.Sprintf(format, args...))
}

func (c *apiChecks) err() error {
	switch len(c.msgs) {
	case 0:
		return nil
	case 1:
		return apierr.Validation("1 validation error detected: %s", c.msgs[0])
	}
	return apierr.Validation("%d validation errors detected: %s", len(c.msgs), strings.Join(c.msgs, "; "))
}

func (c *apiChecks) notNull(member string, present bool) {
	if !present {
		c.add("Value null at '%s' failed to satisfy constraint: Member must not be null", member)
	}
}

func (c *apiChecks) length(member string, v *string, lo, hi int) {
	if v == nil {
		return
	}
	if len(*v) < lo {
		c.add("Value '%s' at '%s' failed to satisfy constraint: Member must have length greater than or equal to %d", *v, member, lo)
	}
	if len(*v) > hi {
		c.add("Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", *v, member, hi)
	}
}

func (c *apiChecks) intRange(member string, v *int64, lo, hi int64) {
	if v == nil {
		return
	}
	if *v < lo {
		c.add("Value '%d' at '%s' failed to satisfy constraint: Member must have value greater than or equal to %d", *v, member, lo)
	}
	if *v > hi {
		c.add("Value '%d' at '%s' failed to satisfy constraint: Member must have value less than or equal to %d", *v, member, hi)
	}
}

func (c *apiChecks) enum(member string, v *string, allowed ...string) {
	if v == nil {
		return
	}
	for _, a := range allowed {
		if *v == a {
			return
		}
	}
	c.add("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]", *v, member, strings.Join(allowed, ", "))
}

var tableNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_.\-]+$`)

func (c *apiChecks) tableName(member string, v *string) {
	if v == nil {
		return
	}
	if !tableNamePattern.MatchString(*v) {
		c.add("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+", *v, member)
	}
	c.length(member, v, 3, 255)
}

// Model bounds (botocore's dynamodbstreams service model).
const (
	arnMin, arnMax           = 37, 1024
	shardIDMin, shardIDMax   = 28, 65
	seqMin, seqMax           = 21, 40
	iteratorMin, iteratorMax = 1, 2048
	maxRecordsPerCall        = 1000
	maxBytesPerCall          = 1 << 20
	maxShardsPerCall         = 100
	maxStreamsPerCall        = 100
)

func errInvalidARN() error { return apierr.Validation("Invalid StreamArn") }

func errStreamNotFound(arn string) error {
	return apierr.ResourceNotFound("Requested resource not found: Stream: %s not found", arn)
}

func errShardNotFound(shard string) error {
	return apierr.ResourceNotFound("Requested resource not found: Shard: %s not found", shard)
}

// parseARN checks a stream ARN's form: a godwit label and a valid table name.
func parseARN(arn string) (region, account, table, label string, err error) {
	region, account, table, label, ok := ParseStreamARN(arn)
	if !ok || !tableNamePattern.MatchString(table) || len(table) < 3 || len(table) > 255 {
		return "", "", "", "", errInvalidARN()
	}
	if _, perr := time.Parse(streamLabelLayout, label); perr != nil {
		return "", "", "", "", errInvalidARN()
	}
	return region, account, table, label, nil
}

// ---- stream handles --------------------------------------------------------

// streamHandle is a resolved table stream with a cached view of its state.
type streamHandle struct {
	arn    string
	ts     TableStream
	stream jetstream.Stream

	mu    sync.Mutex
	state streamState
	at    time.Time // when state was read; zero: never
}

// streamState is what a stream's info says of its contents.
type streamState struct {
	first, last uint64
	disabled    bool
	allowDirect bool
	created     time.Time // the stream's creation (tells its incarnations apart)
}

// refresh returns the stream's state, read at most maxAge ago (maxAge 0:
// read now). The state is always read before the caller's reads that rely
// on it, which is what makes watermarks derived from it sound.
func (h *streamHandle) refresh(ctx context.Context, maxAge time.Duration) (streamState, error) {
	h.mu.Lock()
	st, at := h.state, h.at
	h.mu.Unlock()
	if !at.IsZero() && maxAge > 0 && time.Since(at) < maxAge {
		return st, nil
	}
	now := time.Now()
	info, err := h.stream.Info(ctx)
	if err != nil {
		return streamState{}, err
	}
	ts, _ := parseTableStream(h.ts.Name, info.Config.Metadata)
	st = streamState{
		first:       info.State.FirstSeq,
		last:        info.State.LastSeq,
		disabled:    ts.DisabledMs != 0,
		allowDirect: info.Config.AllowDirect,
		created:     info.Created,
	}
	h.mu.Lock()
	if now.After(h.at) {
		h.state, h.at = st, now
	}
	if st.disabled && h.ts.DisabledMs == 0 {
		h.ts.DisabledMs = ts.DisabledMs
	}
	h.mu.Unlock()
	return st, nil
}

func (h *streamHandle) tableStream() TableStream {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ts
}

// errEnabling marks a stream the catalog has enabled but the publisher has
// not created in JetStream yet.
var errEnabling = errors.New("streams: stream enabling")

// resolve finds the stream an ARN names. For a stream that is enabled in
// the catalog but not yet in JetStream it returns errEnabling and the
// table's info.
func (a *API) resolve(ctx context.Context, arn string) (*streamHandle, engine.TableInfo, error) {
	region, account, table, label, err := parseARN(arn)
	if err != nil {
		return nil, engine.TableInfo{}, err
	}
	if region != a.cat.Region() || account != a.cat.AccountID() {
		return nil, engine.TableInfo{}, errStreamNotFound(arn)
	}
	a.mu.Lock()
	h := a.handles[arn]
	a.mu.Unlock()
	if h != nil {
		return h, engine.TableInfo{}, nil
	}

	info, tableOK := a.cat.Table(table)
	var found *TableStream
	if tableOK {
		name := StreamName(info.ID, label)
		s, err := a.js.Stream(ctx, name)
		switch {
		case err == nil:
			if ts, ok := parseTableStream(name, s.CachedInfo().Config.Metadata); ok && ts.Table == table && ts.Label == label && ts.Region == region {
				h = &streamHandle{arn: arn, ts: ts, stream: s}
			}
		case !errors.Is(err, jetstream.ErrStreamNotFound):
			return nil, engine.TableInfo{}, fmt.Errorf("streams: open stream %s: %w", name, err)
		}
	}
	if h == nil {
		// The table was deleted (or re-created under another id): look
		// for the label among the region's streams.
		all, err := listTableStreams(ctx, a.js, fmt.Sprintf("gw.%s.*.%s.*", region, compactLabel(label)), region)
		if err != nil {
			return nil, engine.TableInfo{}, err
		}
		for i := range all {
			if all[i].Table == table && all[i].Label == label && (found == nil || all[i].TableID > found.TableID) {
				found = &all[i]
			}
		}
		if found != nil {
			s, err := a.js.Stream(ctx, found.Name)
			if err != nil {
				return nil, engine.TableInfo{}, fmt.Errorf("streams: open stream %s: %w", found.Name, err)
			}
			h = &streamHandle{arn: arn, ts: *found, stream: s}
		}
	}
	if h == nil {
		if tableOK && info.Stream != nil && info.Stream.Label == label {
			return nil, info, errEnabling
		}
		return nil, engine.TableInfo{}, errStreamNotFound(arn)
	}
	a.mu.Lock()
	if prev := a.handles[arn]; prev != nil {
		h = prev
	} else {
		a.handles[arn] = h
	}
	a.mu.Unlock()
	return h, engine.TableInfo{}, nil
}

// state refreshes h's state; a stream gone from JetStream is forgotten and
// reported as ResourceNotFoundException.
func (a *API) state(ctx context.Context, h *streamHandle, maxAge time.Duration) (streamState, error) {
	st, err := h.refresh(ctx, maxAge)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		a.mu.Lock()
		if a.handles[h.arn] == h {
			delete(a.handles, h.arn)
		}
		a.mu.Unlock()
		return st, errStreamNotFound(h.arn)
	}
	if err != nil {
		return st, fmt.Errorf("streams: stream %s: %w", h.ts.Name, err)
	}
	return st, nil
}

// status is the StreamStatus of a resolved stream: DISABLED once the
// publisher sealed it; DISABLING while the catalog no longer has it enabled
// but the publisher has not sealed it yet; else ENABLED.
func (a *API) status(ts *TableStream, st streamState) string {
	if st.disabled || ts.DisabledMs != 0 {
		return "DISABLED"
	}
	info, ok := a.cat.Table(ts.Table)
	if !ok || info.ID != ts.TableID || info.Stream == nil || info.Stream.Label != ts.Label {
		return "DISABLING"
	}
	return "ENABLED"
}

func (a *API) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.cfg.Timeout)
}

// ---- ListStreams ------------------------------------------------------------

type listStreamsInput struct {
	TableName               *string `json:"TableName"`
	Limit                   *int64  `json:"Limit"`
	ExclusiveStartStreamArn *string `json:"ExclusiveStartStreamArn"`
}

type streamSummary struct {
	StreamArn   string `json:"StreamArn"`
	TableName   string `json:"TableName"`
	StreamLabel string `json:"StreamLabel"`
}

type listStreamsOutput struct {
	Streams                []streamSummary `json:"Streams"`
	LastEvaluatedStreamArn string          `json:"LastEvaluatedStreamArn,omitempty"`
}

// ListStreams lists the region's streams, sorted by ARN: every stream
// JetStream still holds (disabled ones included, until retention removes
// the publisher's stream) and those enabled in the catalog but not yet
// created. With TableName, only that table's; a table with neither a
// catalog entry nor a stream is ResourceNotFoundException.
func (a *API) ListStreams(ctx context.Context, body []byte) (any, error) {
	var in listStreamsInput
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	var c apiChecks
	c.tableName("tableName", in.TableName)
	c.intRange("limit", in.Limit, 1, maxStreamsPerCall)
	c.length("exclusiveStartStreamArn", in.ExclusiveStartStreamArn, arnMin, arnMax)
	if err := c.err(); err != nil {
		return nil, err
	}
	if in.ExclusiveStartStreamArn != nil {
		if _, _, _, _, err := parseARN(*in.ExclusiveStartStreamArn); err != nil {
			return nil, err
		}
	}
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	region, account := a.cat.Region(), a.cat.AccountID()
	all, err := ListTableStreams(ctx, a.js, region)
	if err != nil {
		return nil, err
	}
	byARN := map[string]streamSummary{}
	add := func(table, label string) {
		if in.TableName != nil && *in.TableName != table {
			return
		}
		arn := StreamARN(region, account, table, label)
		byARN[arn] = streamSummary{StreamArn: arn, TableName: table, StreamLabel: label}
	}
	for _, s := range all {
		add(s.Table, s.Label)
	}
	for _, t := range a.cat.Tables() {
		if t.Stream != nil {
			add(t.Name, t.Stream.Label)
		}
	}
	if in.TableName != nil && len(byARN) == 0 {
		if _, ok := a.cat.Table(*in.TableName); !ok {
			return nil, apierr.TableNotFound(*in.TableName)
		}
	}
	out := listStreamsOutput{Streams: make([]streamSummary, 0, len(byARN))}
	for _, s := range byARN {
		if in.ExclusiveStartStreamArn == nil || s.StreamArn > *in.ExclusiveStartStreamArn {
			out.Streams = append(out.Streams, s)
		}
	}
	sort.Slice(out.Streams, func(i, j int) bool { return out.Streams[i].StreamArn < out.Streams[j].StreamArn })
	limit := maxStreamsPerCall
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	if len(out.Streams) > limit {
		out.Streams = out.Streams[:limit]
		out.LastEvaluatedStreamArn = out.Streams[limit-1].StreamArn
	}
	return &out, nil
}

// ---- DescribeStream ---------------------------------------------------------

type describeStreamInput struct {
	StreamArn             *string `json:"StreamArn"`
	Limit                 *int64  `json:"Limit"`
	ExclusiveStartShardId *string `json:"ExclusiveStartShardId"`
	ShardFilter           *struct {
		Type    *string `json:"Type"`
		ShardId *string `json:"ShardId"`
	} `json:"ShardFilter"`
}

type keySchemaElement struct {
	AttributeName string `json:"AttributeName"`
	KeyType       string `json:"KeyType"`
}

type sequenceNumberRange struct {
	StartingSequenceNumber string `json:"StartingSequenceNumber"`
	EndingSequenceNumber   string `json:"EndingSequenceNumber,omitempty"`
}

type shardDescription struct {
	ShardId             string              `json:"ShardId"`
	ParentShardId       string              `json:"ParentShardId,omitempty"`
	SequenceNumberRange sequenceNumberRange `json:"SequenceNumberRange"`
}

type streamDescription struct {
	StreamArn               string             `json:"StreamArn"`
	StreamLabel             string             `json:"StreamLabel"`
	StreamStatus            string             `json:"StreamStatus"`
	StreamViewType          string             `json:"StreamViewType"`
	CreationRequestDateTime float64            `json:"CreationRequestDateTime"`
	TableName               string             `json:"TableName"`
	KeySchema               []keySchemaElement `json:"KeySchema"`
	Shards                  []shardDescription `json:"Shards"`
	LastEvaluatedShardId    string             `json:"LastEvaluatedShardId,omitempty"`
}

type describeStreamOutput struct {
	StreamDescription streamDescription `json:"StreamDescription"`
}

func keySchema(hashKey, rangeKey string) []keySchemaElement {
	ks := []keySchemaElement{{AttributeName: hashKey, KeyType: "HASH"}}
	if rangeKey != "" {
		ks = append(ks, keySchemaElement{AttributeName: rangeKey, KeyType: "RANGE"})
	}
	return ks
}

// DescribeStream describes a stream and pages through its shards, one per
// table partition, sorted by shard id. A shard's range starts at its oldest
// retained record (where its next record will go when it has none) and,
// once the stream is DISABLED, ends at its last record. ShardFilter
// CHILD_SHARDS always finds no children: partitions never split.
func (a *API) DescribeStream(ctx context.Context, body []byte) (any, error) {
	var in describeStreamInput
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	var c apiChecks
	c.notNull("streamArn", in.StreamArn != nil)
	c.length("streamArn", in.StreamArn, arnMin, arnMax)
	c.intRange("limit", in.Limit, 1, maxShardsPerCall)
	c.length("exclusiveStartShardId", in.ExclusiveStartShardId, shardIDMin, shardIDMax)
	if f := in.ShardFilter; f != nil {
		c.enum("shardFilter.type", f.Type, "CHILD_SHARDS")
		c.length("shardFilter.shardId", f.ShardId, shardIDMin, shardIDMax)
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	arn := *in.StreamArn
	h, info, err := a.resolve(ctx, arn)
	if errors.Is(err, errEnabling) {
		created, _ := time.Parse(streamLabelLayout, info.Stream.Label)
		return &describeStreamOutput{StreamDescription: streamDescription{
			StreamArn: arn, StreamLabel: info.Stream.Label, StreamStatus: "ENABLING",
			StreamViewType: info.Stream.ViewType, CreationRequestDateTime: float64(created.UnixMilli()) / 1e3,
			TableName: info.Name, KeySchema: keySchema(info.HashKey, info.RangeKey), Shards: []shardDescription{},
		}}, nil
	}
	if err != nil {
		return nil, err
	}
	st, err := a.state(ctx, h, 0)
	if err != nil {
		return nil, err
	}
	ts := h.tableStream()
	d := streamDescription{
		StreamArn:               arn,
		StreamLabel:             ts.Label,
		StreamStatus:            a.status(&ts, st),
		StreamViewType:          ts.ViewType,
		CreationRequestDateTime: float64(ts.CreatedMs) / 1e3,
		TableName:               ts.Table,
		KeySchema:               keySchema(ts.HashKey, ts.RangeKey),
		Shards:                  []shardDescription{},
	}
	if in.ShardFilter != nil {
		return &describeStreamOutput{StreamDescription: d}, nil
	}
	start := 0
	if in.ExclusiveStartShardId != nil {
		_, p, ok := ParseShardID(*in.ExclusiveStartShardId)
		if !ok || *in.ExclusiveStartShardId != ts.ShardID(p) || p >= ts.Partitions {
			// NB: AWS answers an unknown ExclusiveStartShardId with no shards.
			return &describeStreamOutput{StreamDescription: d}, nil
		}
		start = p + 1
	}
	limit := maxShardsPerCall
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	end := min(start+limit, ts.Partitions)
	for p := start; p < end; p++ {
		r, err := a.shardRange(ctx, h, &ts, p, st)
		if err != nil {
			return nil, err
		}
		d.Shards = append(d.Shards, shardDescription{ShardId: ts.ShardID(p), SequenceNumberRange: r})
	}
	if end < ts.Partitions {
		d.LastEvaluatedShardId = ts.ShardID(end - 1)
	}
	return &describeStreamOutput{StreamDescription: d}, nil
}

// shardRange is partition p's SequenceNumberRange: from the first record of
// its oldest retained message to, once closed, the last record of its last
// message.
func (a *API) shardRange(ctx context.Context, h *streamHandle, ts *TableStream, p int, st streamState) (sequenceNumberRange, error) {
	subj := ts.Subject(p)
	msgs, _, err := a.read(ctx, h, st, subj, st.first, 1, maxBytesPerCall)
	if err != nil {
		return sequenceNumberRange{}, err
	}
	if len(msgs) == 0 {
		// An empty shard: it starts where its next record would go (the
		// first record of the message after the stream's last); closed,
		// it ends there too.
		r := sequenceNumberRange{StartingSequenceNumber: SequenceNumber(Pos(st.last+1, 0))}
		if st.disabled {
			r.EndingSequenceNumber = r.StartingSequenceNumber
		}
		return r, nil
	}
	r := sequenceNumberRange{StartingSequenceNumber: SequenceNumber(Pos(msgs[0].seq, 0))}
	if st.disabled {
		m, err := h.stream.GetLastMsgForSubject(ctx, subj)
		if err != nil {
			return sequenceNumberRange{}, fmt.Errorf("streams: last message of %s: %w", subj, err)
		}
		n, err := MessageCount(m.Header)
		if err != nil {
			return sequenceNumberRange{}, fmt.Errorf("streams: last message of %s (%d): %w", subj, m.Sequence, err)
		}
		r.EndingSequenceNumber = SequenceNumber(Pos(m.Sequence, n-1))
	}
	return r, nil
}

// ---- GetShardIterator ------------------------------------------------------

type getShardIteratorInput struct {
	StreamArn         *string `json:"StreamArn"`
	ShardId           *string `json:"ShardId"`
	ShardIteratorType *string `json:"ShardIteratorType"`
	SequenceNumber    *string `json:"SequenceNumber"`
}

type getShardIteratorOutput struct {
	ShardIterator string `json:"ShardIterator"`
}

// Shard iterator types.
const (
	iterTrimHorizon = "TRIM_HORIZON"
	iterLatest      = "LATEST"
	iterAt          = "AT_SEQUENCE_NUMBER"
	iterAfter       = "AFTER_SEQUENCE_NUMBER"
)

// GetShardIterator issues an iterator (reference §4.2): TRIM_HORIZON at
// the oldest retained record, LATEST just after the newest, AT/AFTER a
// record's sequence number, which must be of this shard, not beyond its
// end, and not trimmed (TrimmedDataAccessException).
func (a *API) GetShardIterator(ctx context.Context, body []byte) (any, error) {
	var in getShardIteratorInput
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	var c apiChecks
	c.notNull("streamArn", in.StreamArn != nil)
	c.length("streamArn", in.StreamArn, arnMin, arnMax)
	c.notNull("shardId", in.ShardId != nil)
	c.length("shardId", in.ShardId, shardIDMin, shardIDMax)
	c.notNull("shardIteratorType", in.ShardIteratorType != nil)
	c.enum("shardIteratorType", in.ShardIteratorType, iterTrimHorizon, iterLatest, iterAt, iterAfter)
	c.length("sequenceNumber", in.SequenceNumber, seqMin, seqMax)
	if err := c.err(); err != nil {
		return nil, err
	}
	typ := *in.ShardIteratorType
	bySeq := typ == iterAt || typ == iterAfter
	switch {
	case bySeq && in.SequenceNumber == nil:
		return nil, apierr.Validation(`Missing required parameter "SequenceNumber"`)
	case !bySeq && in.SequenceNumber != nil:
		return nil, apierr.Validation("Iterator of this type should not have sequence number")
	}
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	arn, shardID := *in.StreamArn, *in.ShardId
	h, _, err := a.resolve(ctx, arn)
	if errors.Is(err, errEnabling) {
		return nil, errShardNotFound(shardID)
	}
	if err != nil {
		return nil, err
	}
	ts := h.tableStream()
	created, p, ok := ParseShardID(shardID)
	if !ok || created != ts.CreatedMs || p >= ts.Partitions {
		return nil, errShardNotFound(shardID)
	}
	var seq uint64
	if bySeq {
		if seq, ok = ParseSequenceNumber(*in.SequenceNumber); !ok || seq>>posBits == 0 {
			return nil, apierr.Validation("Invalid SequenceNumber: %s", *in.SequenceNumber)
		}
	}
	st, err := a.state(ctx, h, 0)
	if err != nil {
		return nil, err
	}
	it := shardIterator{arn: arn, tableID: ts.TableID, partition: p, createdMs: ts.CreatedMs}
	switch typ {
	case iterTrimHorizon:
		it.pos = 0
	case iterLatest:
		it.pos = Pos(st.last+1, 0)
	default:
		n, err := a.checkSequence(ctx, h, &ts, p, seq, typ == iterAfter, st)
		if err != nil {
			return nil, err
		}
		it.pos = seq
		if typ == iterAfter {
			// The record after seq: the next one of its message, or the
			// first of the next message (wherever it is on the subject).
			js, idx := SplitPos(seq)
			if n > 0 && idx+1 >= n {
				it.pos = Pos(js+1, 0)
			} else {
				it.pos = seq + 1 // NB: Pos(js, MaxRecordsPerMessage-1)+1 is Pos(js+1, 0)
			}
		}
	}
	codec, err := a.iterators(ctx)
	if err != nil {
		return nil, err
	}
	it.issuedMs = a.cfg.Clock.Now().UnixMilli()
	return &getShardIteratorOutput{ShardIterator: codec.encode(it)}, nil
}

// checkSequence validates an AT/AFTER sequence number (a record position)
// against the shard: its message must be retained (else
// TrimmedDataAccessException: a record whose message was trimmed is
// trimmed, for AFTER too), within the stream, on the shard's subject, and
// hold a record at its index (for AFTER, MaxRecordsPerMessage-1 is also
// accepted: after all of the message). It returns the message's record count (0
// when the message was removed meanwhile, which leaves reading from the
// position well defined).
func (a *API) checkSequence(ctx context.Context, h *streamHandle, ts *TableStream, p int, seq uint64, after bool, st streamState) (int, error) {
	js, idx := SplitPos(seq)
	if js < st.first {
		return 0, apierr.TrimmedDataAccess("The requested sequence number %s is older than the trim horizon of shard %s", SequenceNumber(seq), ts.ShardID(p))
	}
	if js > st.last {
		return 0, apierr.Validation("Invalid SequenceNumber %s: beyond the end of shard %s", SequenceNumber(seq), ts.ShardID(p))
	}
	m, err := h.stream.GetMsg(ctx, js)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return 0, nil // NB: removed meanwhile; reading from it is still well defined
	case err != nil:
		return 0, fmt.Errorf("streams: get message %d of %s: %w", js, ts.Name, err)
	case m.Subject != ts.Subject(p):
		return 0, apierr.Validation("Invalid SequenceNumber %s: it is not a record of shard %s", SequenceNumber(seq), ts.ShardID(p))
	}
	n, err := MessageCount(m.Header)
	if err != nil {
		return 0, fmt.Errorf("streams: message %d of %s: %w", js, ts.Name, err)
	}
	if idx >= n && !(after && idx == MaxRecordsPerMessage-1) {
		// NB: AFTER Pos(js, MaxRecordsPerMessage-1) means "after all of
		// message js" whatever its count: the position a Consumer holds
		// once it has read a whole message, which HTTPSource resumes from.
		return 0, apierr.Validation("Invalid SequenceNumber %s: it is not a record of shard %s", SequenceNumber(seq), ts.ShardID(p))
	}
	return n, nil
}

// ---- GetRecords -------------------------------------------------------------

type getRecordsInput struct {
	ShardIterator *string `json:"ShardIterator"`
	Limit         *int64  `json:"Limit"`
}

// GetRecords returns the records at an iterator (reference §4.2): at most
// Limit (default 1000) and about 1 MB of them; "Records" is always present;
// NextShardIterator is always present on an open shard and left out only
// at the end of a closed one; it never points back at a record returned.
// Limit and the 1 MB cap count records: a page may end inside a message
// (of several records), and the next iterator then points at the next
// record of that message.
func (a *API) GetRecords(ctx context.Context, body []byte) (any, error) {
	var in getRecordsInput
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	var c apiChecks
	c.notNull("shardIterator", in.ShardIterator != nil)
	c.length("shardIterator", in.ShardIterator, iteratorMin, iteratorMax)
	c.intRange("limit", in.Limit, 1, maxRecordsPerCall)
	if err := c.err(); err != nil {
		return nil, err
	}
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	codec, err := a.iterators(ctx)
	if err != nil {
		return nil, err
	}
	it, err := codec.decode(*in.ShardIterator)
	if err != nil {
		return nil, apierr.Validation("Invalid ShardIterator")
	}
	now := a.cfg.Clock.Now()
	if age := now.UnixMilli() - it.issuedMs; age > a.cfg.IteratorTTL.Milliseconds() {
		return nil, apierr.ExpiredIterator(
			"Iterator expired. The iterator was created at time %s while right now it is %s which is further in the future than the tolerated delay of %d milliseconds.",
			time.UnixMilli(it.issuedMs).UTC().Format(time.RFC1123), now.UTC().Format(time.RFC1123), a.cfg.IteratorTTL.Milliseconds())
	}
	h, _, err := a.resolve(ctx, it.arn)
	if errors.Is(err, errEnabling) {
		return nil, errStreamNotFound(it.arn)
	}
	if err != nil {
		return nil, err
	}
	ts := h.tableStream()
	if ts.TableID != it.tableID || ts.CreatedMs != it.createdMs || it.partition >= ts.Partitions {
		return nil, errShardNotFound(ts.ShardID(it.partition))
	}
	st, err := a.state(ctx, h, a.cfg.StateMaxAge)
	if err != nil {
		return nil, err
	}
	fromJs, fromIdx := SplitPos(it.pos)
	if it.pos != 0 && fromJs < st.first {
		return nil, apierr.TrimmedDataAccess("The data at the iterator's position in shard %s has been trimmed", ts.ShardID(it.partition))
	}
	limit := maxRecordsPerCall
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	subj := ts.Subject(it.partition)
	var gen uint64
	wait := a.cfg.Published != nil && a.cfg.RecordsWait > 0 && !st.disabled
	if wait {
		gen = a.cfg.Published.Generation(ts.TableID, it.partition) // NB: before the read
	}
	// NB: limit messages always hold limit records (but for the records of
	// the first message before the iterator's index).
	sh := shardRead{h: h, st: st, stream: ts.Name, subj: subj, tableID: ts.TableID, part: it.partition, from: fromJs, limit: limit}
	msgs, pending, err := a.readShard(ctx, &sh)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 && wait {
		if msgs, pending, err = a.awaitRecords(ctx, &sh, gen); err != nil {
			return nil, err
		}
	}

	// The page: the records from the iterator's position on, across
	// messages, cut at limit records and at about 1 MB of JSON, possibly
	// in the middle of a message. next is the position of the first
	// record not returned.
	b := make([]byte, 0, 256+512*len(msgs))
	b = append(b, `{"Records":[`...)
	taken, size := 0, 0
	region := a.cat.Region()
	next := it.pos
	full := false // the page stopped before the end of what was read
	var bodies [][]byte
	for mi := range msgs {
		m := &msgs[mi]
		n, err := m.count()
		if err == nil {
			bodies, err = SplitRecords(bodies[:0], n, m.data)
		}
		if err != nil {
			a.log.Error("malformed message in stream", "stream", ts.Name, "seq", m.seq, "error", err)
			return nil, fmt.Errorf("streams: %s message %d: %w", ts.Name, m.seq, err)
		}
		i := 0
		if m.seq == fromJs {
			i = fromIdx // NB: may be ≥ n for a stale position: then none of it
		}
		for ; i < n; i++ {
			if taken == limit {
				full = true
				break
			}
			pos := Pos(m.seq, i)
			ch, err := engine.DecodeChange(bodies[i])
			if err != nil {
				a.log.Error("undecodable record in stream", "stream", ts.Name, "seq", m.seq, "index", i, "error", err)
				return nil, fmt.Errorf("streams: %s message %d record %d: %w", ts.Name, m.seq, i, err)
			}
			rec := NewStreamRecord(ch, pos, ts.Name, ts.ViewType, region)
			mark := len(b)
			if taken > 0 {
				b = append(b, ',')
			}
			b = rec.AppendJSON(b)
			if taken > 0 && size+len(b)-mark > maxBytesPerCall {
				b = b[:mark] // NB: the page is full; this record starts the next one
				full = true
				break
			}
			size += len(b) - mark
			taken++
			next = pos + 1
		}
		if full {
			break
		}
		next = Pos(m.seq+1, 0) // NB: all of m is returned (or was before the position)
	}
	b = append(b, ']')

	// The next position: after the last record returned; when the whole
	// rest of the subject was returned, after everything the stream held
	// when its state was read (st was read before the messages, so the
	// subject holds nothing in between; the tail cache says "nothing
	// pending" only when the subject holds nothing more as it answers,
	// which is after st was read too). Idle shards thus keep up with the
	// stream and never look trimmed.
	atEnd := !full && pending == 0
	if atEnd {
		next = max(next, Pos(st.last+1, 0))
	}
	if !(atEnd && st.disabled) {
		nit := it
		nit.pos, nit.issuedMs = next, now.UnixMilli()
		b = append(b, `,"NextShardIterator":`...)
		b = appendJSONText(b, codec.encode(nit))
	}
	b = append(b, '}')
	a.m.getRecords.Inc()
	a.m.records.Add(float64(taken))
	return wire.RawJSON(b), nil
}
