package sinks

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/sinks/filter"
	"github.com/godwit-db/godwit/streams"
	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Starting positions (Mapping.StartingPosition).
const (
	TrimHorizon = "TRIM_HORIZON"
	Latest      = "LATEST"
)

// ReportBatchItemFailures is the one FunctionResponseTypes value.
const ReportBatchItemFailures = "ReportBatchItemFailures"

// Limits of the event source mapping parameters (reference §6.1).
const (
	MaxBatchSize                  = 10000
	MaxBatchingWindowInSeconds    = 300
	MaxParallelizationFactor      = 10
	MaxRetryAttempts              = 10000
	MinRecordAgeInSeconds         = 60
	MaxRecordAgeInSeconds         = 604800
	MaxTumblingWindowInSeconds    = 900
	MaxPayloadBytes               = 6 << 20 // a synchronous invoke's payload
	maxWindowStateBytes           = 1 << 20
	defaultBatchSize              = 100
	defaultParallelizationFactor  = 1
	defaultMaximumRetryAttempts   = -1
	defaultMaximumRecordAgeInSecs = -1
)

// Mapping is one event source mapping's parameters, with AWS's names,
// defaults and ranges (reference §6.1). Start from DefaultMapping: the
// zero value of MaximumRetryAttempts (0: no retry) and of
// MaximumRecordAgeInSeconds (invalid) are not the defaults.
type Mapping struct {
	// Name names the consumer: its checkpoint key, metrics label and the
	// functionArn of its failure records. Letters, digits, '-' and '_'.
	// Required.
	Name string
	// Table is the table whose stream is read (in the local region). Required.
	Table string
	// StartingPosition is TRIM_HORIZON or LATEST; it applies only when the
	// consumer has no checkpoint yet. Required.
	StartingPosition string
	// BatchSize is the most records per invocation, 1..10000. Default 100.
	BatchSize int
	// MaximumBatchingWindowInSeconds is how long a batch may wait for more
	// records once its first one is there, 0..300. Default 0.
	MaximumBatchingWindowInSeconds int
	// ParallelizationFactor is how many batches of one shard may be in
	// flight at once, 1..10; an item key's records always go to the same
	// slot. Default 1.
	ParallelizationFactor int
	// BisectBatchOnFunctionError splits a failing batch in two and retries
	// each half. Default false.
	BisectBatchOnFunctionError bool
	// MaximumRetryAttempts bounds the retries after a function error,
	// -1 (until the record expires) .. 10000. Default -1.
	MaximumRetryAttempts int
	// MaximumRecordAgeInSeconds discards records older than this, -1
	// (until they leave the stream) or 60..604800. Default -1.
	MaximumRecordAgeInSeconds int
	// OnFailureDestination is DestinationConfig.OnFailure.Destination:
	// "nats:SUBJECT" or "file:PATH" ("" for none). Default none.
	OnFailureDestination string
	// FunctionResponseTypes is [] or ["ReportBatchItemFailures"].
	FunctionResponseTypes []string
	// FilterPatterns are FilterCriteria.Filters[].Pattern: EventBridge
	// patterns (package filter), ORed. None: every record is delivered.
	FilterPatterns []string
	// TumblingWindowInSeconds, 0..900, groups records into windows of
	// their ApproximateCreationDateTime with state carried between
	// invocations. 0 (the default) means none.
	TumblingWindowInSeconds int
	// Enabled false keeps the checkpoint but reads nothing. Default true.
	Enabled bool
}

// DefaultMapping returns a Mapping with AWS's defaults (Name, Table and
// StartingPosition left empty: they are required).
func DefaultMapping() Mapping {
	return Mapping{
		BatchSize:                 defaultBatchSize,
		ParallelizationFactor:     defaultParallelizationFactor,
		MaximumRetryAttempts:      defaultMaximumRetryAttempts,
		MaximumRecordAgeInSeconds: defaultMaximumRecordAgeInSecs,
		Enabled:                   true,
	}
}

// namePattern keeps consumer names usable as JetStream KV keys and
// metric labels.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Validate reports every problem with m at once, each naming the field
// with AWS's name.
func (m Mapping) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	if !namePattern.MatchString(m.Name) {
		bad("Name", "%q must be 1-64 letters, digits, '-' or '_'", m.Name)
	}
	if m.Table == "" {
		bad("Table", "is required")
	}
	switch m.StartingPosition {
	case TrimHorizon, Latest:
	case "":
		bad("StartingPosition", "is required (TRIM_HORIZON or LATEST)")
	default:
		bad("StartingPosition", "%q is not TRIM_HORIZON or LATEST (AT_TIMESTAMP is not allowed for DynamoDB streams)", m.StartingPosition)
	}
	if m.BatchSize < 1 || m.BatchSize > MaxBatchSize {
		bad("BatchSize", "%d out of range 1..%d", m.BatchSize, MaxBatchSize)
	}
	if m.MaximumBatchingWindowInSeconds < 0 || m.MaximumBatchingWindowInSeconds > MaxBatchingWindowInSeconds {
		bad("MaximumBatchingWindowInSeconds", "%d out of range 0..%d", m.MaximumBatchingWindowInSeconds, MaxBatchingWindowInSeconds)
	}
	if m.ParallelizationFactor < 1 || m.ParallelizationFactor > MaxParallelizationFactor {
		bad("ParallelizationFactor", "%d out of range 1..%d", m.ParallelizationFactor, MaxParallelizationFactor)
	}
	if m.MaximumRetryAttempts < -1 || m.MaximumRetryAttempts > MaxRetryAttempts {
		bad("MaximumRetryAttempts", "%d out of range -1..%d", m.MaximumRetryAttempts, MaxRetryAttempts)
	}
	if a := m.MaximumRecordAgeInSeconds; a != -1 && (a < MinRecordAgeInSeconds || a > MaxRecordAgeInSeconds) {
		bad("MaximumRecordAgeInSeconds", "%d: want -1 or %d..%d", a, MinRecordAgeInSeconds, MaxRecordAgeInSeconds)
	}
	if d := m.OnFailureDestination; d != "" {
		if _, err := parseDestination(d); err != nil {
			bad("DestinationConfig.OnFailure.Destination", "%v", err)
		}
	}
	for _, t := range m.FunctionResponseTypes {
		if t != ReportBatchItemFailures {
			bad("FunctionResponseTypes", "%q is not %s", t, ReportBatchItemFailures)
		}
	}
	if _, err := filter.Compile(m.FilterPatterns); err != nil {
		for _, e := range unjoin(err) {
			bad("FilterCriteria", "%v", e)
		}
	}
	if m.TumblingWindowInSeconds < 0 || m.TumblingWindowInSeconds > MaxTumblingWindowInSeconds {
		bad("TumblingWindowInSeconds", "%d out of range 0..%d", m.TumblingWindowInSeconds, MaxTumblingWindowInSeconds)
	}
	if m.TumblingWindowInSeconds > 0 && m.ParallelizationFactor > 1 {
		// NB: a window's state is one chain of invocations per shard;
		// godwit does not split it across slots.
		bad("TumblingWindowInSeconds", "cannot be combined with ParallelizationFactor > 1")
	}
	return errors.Join(errs...)
}

// reportsItemFailures says whether FunctionResponseTypes holds
// ReportBatchItemFailures.
func (m Mapping) reportsItemFailures() bool {
	return slices.Contains(m.FunctionResponseTypes, ReportBatchItemFailures)
}

// unjoin splits an errors.Join error into its parts.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// ConsumerConfig is a Mapping plus what a Consumer needs to run it.
type ConsumerConfig struct {
	Mapping
	// Target receives the batches. Required. The Consumer does not close
	// it.
	Target Target
	// JetStream is the local region's JetStream: the table's streams,
	// the checkpoint bucket and nats: failure destinations. Required.
	JetStream jetstream.JetStream
	// Region is the local region (its table streams are read). Required.
	Region string
	// Account is the account id in ARNs. Default "000000000000".
	Account string
	// Bucket is the JetStream KV bucket holding checkpoints. Default
	// "GODWIT_SINKS".
	Bucket string
	// Source tunes the stream readers (IdleWait: how soon an idle shard
	// notices it was closed).
	Source streams.JetStreamSourceConfig
	// DiscoverInterval is how often a consumer waiting for its table's
	// stream (or the next one) looks again. Default 1s.
	DiscoverInterval time.Duration
	// RetryMin and RetryMax bound the exponential backoff between retries
	// of a failed invocation (transient or function error) and of stream
	// or destination errors. Defaults 100ms and 30s.
	RetryMin, RetryMax time.Duration
	// WindowGrace is how long after a tumbling window's end an idle shard
	// waits for late records before the window's final invocation.
	// Default 1s.
	WindowGrace time.Duration
	// Clock reads the time for record ages, iterator age and windows.
	// Default the system clock.
	Clock conflict.PhysicalClock
	// Logger is named "sinks". Default a null logger.
	Logger hclog.Logger
	// Registerer receives the consumer's metrics (label consumer). Default none.
	Registerer prometheus.Registerer
}

// DefaultConsumerConfig returns a ConsumerConfig with DefaultMapping and
// every other default filled in.
func DefaultConsumerConfig() ConsumerConfig {
	return ConsumerConfig{
		Mapping:          DefaultMapping(),
		Account:          "000000000000",
		Bucket:           "GODWIT_SINKS",
		DiscoverInterval: time.Second,
		RetryMin:         100 * time.Millisecond,
		RetryMax:         30 * time.Second,
		WindowGrace:      time.Second,
		Clock:            conflict.SystemClock{},
		Logger:           hclog.NewNullLogger(),
	}
}

// Validate reports every problem with c at once, each prefixed with the
// consumer's name.
func (c ConsumerConfig) Validate() error {
	var errs []error
	if err := c.Mapping.Validate(); err != nil {
		errs = append(errs, unjoin(err)...)
	}
	if c.Target == nil {
		errs = append(errs, errors.New("Target: is required"))
	}
	if c.JetStream == nil {
		errs = append(errs, errors.New("JetStream: is required"))
	}
	if c.Region == "" {
		errs = append(errs, errors.New("Region: is required"))
	}
	if c.RetryMin < 0 || c.RetryMax < 0 || c.RetryMax > 0 && c.RetryMin > c.RetryMax {
		errs = append(errs, fmt.Errorf("RetryMin %v / RetryMax %v out of order", c.RetryMin, c.RetryMax))
	}
	if c.DiscoverInterval < 0 || c.WindowGrace < 0 {
		errs = append(errs, errors.New("DiscoverInterval and WindowGrace must not be negative"))
	}
	for i, e := range errs {
		errs[i] = fmt.Errorf("sinks: consumer %q: %w", c.Name, e)
	}
	return errors.Join(errs...)
}

func (c ConsumerConfig) withDefaults() ConsumerConfig {
	d := DefaultConsumerConfig()
	if c.Account == "" {
		c.Account = d.Account
	}
	if c.Bucket == "" {
		c.Bucket = d.Bucket
	}
	if c.DiscoverInterval == 0 {
		c.DiscoverInterval = d.DiscoverInterval
	}
	if c.RetryMin == 0 {
		c.RetryMin = d.RetryMin
	}
	if c.RetryMax == 0 {
		c.RetryMax = max(d.RetryMax, c.RetryMin)
	}
	if c.WindowGrace == 0 {
		c.WindowGrace = d.WindowGrace
	}
	if c.Clock == nil {
		c.Clock = d.Clock
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	c.FunctionResponseTypes = slices.Clone(c.FunctionResponseTypes)
	c.FilterPatterns = slices.Clone(c.FilterPatterns)
	return c
}

// destination is a parsed OnFailure destination.
type destination struct {
	kind string // "nats" or "file"
	arg  string // the subject or the path
}

func parseDestination(d string) (destination, error) {
	kind, arg, ok := strings.Cut(d, ":")
	if !ok || arg == "" {
		return destination{}, fmt.Errorf("%q is not nats:SUBJECT or file:PATH", d)
	}
	switch kind {
	case "nats":
		if strings.ContainsAny(arg, " \t\r\n*>") || strings.HasPrefix(arg, ".") || strings.HasSuffix(arg, ".") || strings.Contains(arg, "..") {
			return destination{}, fmt.Errorf("%q is not a valid NATS subject to publish to", arg)
		}
	case "file":
	default:
		return destination{}, fmt.Errorf("%q: the destination must be nats:SUBJECT or file:PATH (AWS ARNs are not supported)", d)
	}
	return destination{kind: kind, arg: arg}, nil
}
