// Package streamstest starts, for tests, what readers of table streams
// need: an embedded NATS server, an engine whose changes a publisher
// carries to it, and tables with a stream. The tests of globaltables and
// sinks share it; everything runs in the test's process, on temporary
// directories, with no listener.
package streamstest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/streams"
	"github.com/godwit-db/godwit/streams/embedded"
	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Config says what Start starts. Zero fields take their defaults.
type Config struct {
	// Region is the engine's region and the server's JetStream domain.
	// Default "us-east-1".
	Region string
	// Partitions is the partition count of new tables. Default 4.
	Partitions int
	// Clock is the engine's physical clock. Default the system clock.
	Clock conflict.PhysicalClock
	// Engine, when set, adjusts the engine's configuration last.
	Engine func(*engine.Config)
}

// Region is one started region; Start stops it at the test's cleanup.
type Region struct {
	Server *embedded.Server
	DB     *engine.DB
	// JS is a JetStream context on a client connection of its own.
	JS jetstream.JetStream
}

// Logger is a debug logger to stderr when GODWIT_TEST_LOG is set, else
// nil (no logging).
func Logger() hclog.Logger {
	if os.Getenv("GODWIT_TEST_LOG") == "" {
		return nil
	}
	return hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: os.Stderr})
}

// Start starts an embedded NATS server, an engine (fsync off, TTL sweeps
// off) and its stream publisher, which polls every 5 ms and trims nothing
// for an hour.
func Start(t testing.TB, cfg Config) *Region {
	t.Helper()
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 4
	}
	if cfg.Clock == nil {
		cfg.Clock = conflict.SystemClock{}
	}
	srv, err := embedded.Start(embedded.Config{StoreDir: t.TempDir(), Listen: embedded.NoListener, Domain: cfg.Region, MaxStore: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	// NB: the publisher's connection must not buffer across reconnects
	// (streams.Publisher.Start requires it).
	pubConn, err := srv.Connect(nats.ReconnectBufSize(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pubConn.Close)
	pub, err := streams.NewPublisher(streams.PublisherConfig{
		PollInterval: 5 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		MaxBytes: 64 << 20, SyncInterval: time.Hour, Registerer: prometheus.NewRegistry(), Logger: Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ecfg := engine.Config{
		Dir: t.TempDir(), Region: cfg.Region, DefaultPartitions: cfg.Partitions, NoSync: true,
		TTLSweepInterval: -1, Listener: pub.Listener(), Clock: cfg.Clock,
	}
	if cfg.Engine != nil {
		cfg.Engine(&ecfg)
	}
	db, err := engine.Open(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := pub.Start(db, pubConn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = pub.Stop(ctx)
	})
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &Region{Server: srv, DB: db, JS: js}
}

// CreateStreamedTable creates table name, keyed by a string attribute pk,
// with a NEW_AND_OLD_IMAGES stream.
func (r *Region) CreateStreamedTable(t testing.TB, name string) {
	t.Helper()
	on := true
	if _, err := r.DB.CreateTable(context.Background(), &engine.CreateTableInput{
		TableName:            name,
		AttributeDefinitions: []engine.AttributeDefinition{{AttributeName: "pk", AttributeType: "S"}},
		KeySchema:            []engine.KeySchemaElement{{AttributeName: "pk", KeyType: "HASH"}},
		BillingMode:          "PAY_PER_REQUEST",
		StreamSpecification:  &engine.StreamSpecification{StreamEnabled: &on, StreamViewType: "NEW_AND_OLD_IMAGES"},
	}); err != nil {
		t.Fatal(err)
	}
}

// ReadStream returns every record of the JetStream stream name, read
// through the consumer library from the trim horizon. It stops once every
// message the stream held when it was called was started and each
// partition's last record read ends its message: a message may carry
// several records, and Record.Pending counts the rest of the message
// exactly, so counting messages alone would stop inside the last one.
func ReadStream(ctx context.Context, js jetstream.JetStream, name string) ([]streams.Record, error) {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	src, err := streams.NewJetStreamSource(ctx, js, name, streams.JetStreamSourceConfig{IdleWait: 50 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	c, err := streams.NewConsumer(ctx, src, streams.ConsumerConfig{From: streams.TrimHorizon})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var out []streams.Record
	msgs := map[uint64]bool{}
	pending := map[int]uint64{}
	done := func() bool {
		if uint64(len(msgs)) < info.State.Msgs {
			return false
		}
		for _, n := range pending {
			if n != 0 {
				return false
			}
		}
		return true
	}
	for !done() {
		recs, err := c.NextBatch(ctx, 512)
		if err != nil {
			return out, fmt.Errorf("streamstest: after %d records of %d of %d messages of %s: %w", len(out), len(msgs), info.State.Msgs, name, err)
		}
		for _, rec := range recs {
			jsSeq, _ := streams.SplitPos(rec.Seq)
			msgs[jsSeq] = true
			pending[rec.Partition] = rec.Pending
			out = append(out, rec)
		}
	}
	return out, nil
}
