package streams

import (
	"context"
	"fmt"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/engine/attr"
	"github.com/godwit-db/godwit/streams/embedded"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkPublisherDrain measures the publisher's cost per record: b.N
// changes are committed with the publisher stopped, then it is started
// and timed until its backlog is 0. cpu-µs/rec is the whole process's CPU
// (publisher, NATS client and the embedded server storing the messages)
// per record, the figure that competes with puts for the cores.
func BenchmarkPublisherDrain(b *testing.B) {
	for _, listen := range []string{"127.0.0.1:0", embedded.NoListener} {
		name := "tcp"
		if listen == embedded.NoListener {
			name = "inprocess"
		}
		b.Run(name, func(b *testing.B) { benchPublisherDrain(b, listen) })
	}
}

func benchPublisherDrain(b *testing.B, listen string) {
	srv, err := embedded.Start(embedded.Config{StoreDir: b.TempDir(), Listen: listen, Domain: pubRegion, MaxStore: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Shutdown)
	nc, err := srv.Connect(nats.ReconnectBufSize(-1))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	hook := &pubHook{}
	db, err := engine.Open(engine.Config{
		Dir: b.TempDir(), Region: pubRegion, DefaultPartitions: 4, NoSync: true,
		TTLSweepInterval: -1, Listener: hook.listener(),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	in := &engine.CreateTableInput{
		TableName:            "bench",
		AttributeDefinitions: []engine.AttributeDefinition{{AttributeName: "pk", AttributeType: "S"}},
		KeySchema:            []engine.KeySchemaElement{{AttributeName: "pk", KeyType: "HASH"}},
		BillingMode:          "PAY_PER_REQUEST",
		StreamSpecification:  &engine.StreamSpecification{StreamEnabled: pubPtr(true), StreamViewType: "NEW_AND_OLD_IMAGES"},
	}
	if _, err := db.CreateTable(context.Background(), in); err != nil {
		b.Fatal(err)
	}
	pad := attr.Str(fmt.Sprintf("%0100d", 0)) // ~ the throughput benchmark's 100-byte items
	for i := 0; i < b.N; i++ {
		put := &engine.PutItemInput{Item: attr.Item{"pk": attr.Str("k" + strconv.Itoa(i)), "pad": pad}}
		put.TableName = "bench"
		if _, err := db.PutItem(context.Background(), put); err != nil {
			b.Fatal(err)
		}
	}
	cfg := pubTestConfig()
	cfg.Registerer = prometheus.NewRegistry()
	cfg.PollInterval = time.Second
	p, err := NewPublisher(cfg)
	if err != nil {
		b.Fatal(err)
	}
	hook.p.Store(p)
	cpu0 := processCPU()
	b.ResetTimer()
	if err := p.Start(db, nc); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for p.Backlog() != 0 {
		if time.Now().After(deadline) {
			b.Fatalf("backlog %d after a minute", p.Backlog())
		}
		time.Sleep(time.Millisecond) // NB: a poll interval, not a wait for an event
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/rec")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.Stop(ctx)
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
