package main

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godwit-db/godwit/sinks"
	"github.com/hashicorp/go-hclog"
)

func TestConsumersConfig(t *testing.T) {
	path := writeFile(t, `
consumers:
  - Name: ship-notify
    Table: Orders
    StartingPosition: TRIM_HORIZON
    BatchSize: 100
    MaximumBatchingWindowInSeconds: 2
    MaximumRetryAttempts: 3
    BisectBatchOnFunctionError: true
    DestinationConfig: {OnFailure: {Destination: "nats:orders.dlq"}}
    FilterCriteria: {Filters: [{Pattern: '{"dynamodb":{"NewImage":{"status":{"S":["SHIPPED"]}}}}'}]}
    FunctionResponseTypes: [ReportBatchItemFailures]
    Target: {Type: function, Command: ["./handler"]}
  - Name: audit
    Table: Orders
    StartingPosition: LATEST
    Enabled: false
    Target: {Type: auditlog, Dir: audit}
`)
	cfg, err := loadConfig([]string{"--config", path}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	cs := cfg.consumers()
	if len(cs) != 2 {
		t.Fatalf("%d consumers", len(cs))
	}
	m := cs[0].mapping()
	want := sinks.DefaultMapping()
	want.Name, want.Table, want.StartingPosition = "ship-notify", "Orders", sinks.TrimHorizon
	want.MaximumBatchingWindowInSeconds, want.MaximumRetryAttempts, want.BisectBatchOnFunctionError = 2, 3, true
	want.OnFailureDestination = "nats:orders.dlq"
	want.FilterPatterns = []string{`{"dynamodb":{"NewImage":{"status":{"S":["SHIPPED"]}}}}`}
	want.FunctionResponseTypes = []string{sinks.ReportBatchItemFailures}
	if m.Name != want.Name || m.BatchSize != 100 || m.MaximumBatchingWindowInSeconds != 2 || m.MaximumRetryAttempts != 3 ||
		!m.BisectBatchOnFunctionError || m.OnFailureDestination != want.OnFailureDestination ||
		!slices.Equal(m.FilterPatterns, want.FilterPatterns) || !slices.Equal(m.FunctionResponseTypes, want.FunctionResponseTypes) ||
		m.MaximumRecordAgeInSeconds != -1 || m.ParallelizationFactor != 1 || !m.Enabled || cs[0].Target.Type != "function" {
		t.Errorf("mapping %+v", m)
	}
	if a := cs[1].mapping(); a.Enabled || a.StartingPosition != sinks.Latest || a.MaximumRetryAttempts != -1 || a.BatchSize != 100 {
		t.Errorf("second mapping %+v", a)
	}
}

// Every problem of the consumers: section is reported at once, naming
// the consumer and the field; unknown keys are errors.
func TestConsumersConfigReportsEveryProblem(t *testing.T) {
	path := writeFile(t, `
consumers:
  - Name: one
    Table: Orders
    StartingPosition: AT_TIMESTAMP
    BatchSize: 0
    ParallelizationFactor: 11
    MaximumRetryAttempts: -2
    MaximumRecordAgeInSeconds: 30
    MaximumBatchingWindowInSeconds: 301
    TumblingWindowInSeconds: 901
    DestinationConfig: {OnFailure: {Destination: "arn:aws:sqs:us-east-1:1:q"}}
    FunctionResponseTypes: [Other]
    FilterCriteria: {Filters: [{Pattern: '{"a":"x"}'}]}
    Target: {Type: function}
  - Name: one
    Tabel: Orders
    Target: {}
`)
	_, err := loadConfig([]string{"--config", path}, &bytes.Buffer{})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		"field Tabel not found",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	// Without the unknown key, the values are checked, all at once.
	path = writeFile(t, strings.Replace(string(mustRead(t, path)), "Tabel: Orders", "StartingPosition: LATEST", 1))
	_, err = loadConfig([]string{"--config", path}, &bytes.Buffer{})
	if err == nil {
		t.Fatal("no error")
	}
	msg = err.Error()
	for _, want := range []string{
		`consumers[0] (one): StartingPosition: "AT_TIMESTAMP"`,
		"consumers[0] (one): BatchSize: 0 out of range 1..10000",
		"consumers[0] (one): ParallelizationFactor: 11",
		"consumers[0] (one): MaximumRetryAttempts: -2",
		"consumers[0] (one): MaximumRecordAgeInSeconds: 30",
		"consumers[0] (one): MaximumBatchingWindowInSeconds: 301",
		"consumers[0] (one): TumblingWindowInSeconds: 901",
		"consumers[0] (one): DestinationConfig.OnFailure.Destination:",
		`consumers[0] (one): FunctionResponseTypes: "Other"`,
		"consumers[0] (one): FilterCriteria: filter 1: filter: invalid pattern: a: must be an object or an array",
		`consumers[1] (one): Name: "one" is used by another consumer`,
		"consumers[1] (one): Table: is required",
		"consumers[0] (one): Target: function: Command is required",
		"consumers[1] (one): Target.Type is required",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

func TestPrintConsumers(t *testing.T) {
	var out bytes.Buffer
	printConsumers(&out, nil)
	if !strings.Contains(out.String(), "no consumers configured") {
		t.Errorf("empty: %q", out.String())
	}
	out.Reset()
	printConsumers(&out, []sinks.ConsumerStatus{{
		Name: "ship-notify", Table: "Orders", State: sinks.StateFailing, StreamLabel: "2026-01-02T03:04:05.678",
		IteratorAgeSeconds: 1.5, LastError: "handler failed", LastErrorAt: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC),
		Shards: []sinks.ShardStatus{{ShardID: "shardId-1", SequenceNumber: "100000000000000000042"}},
	}})
	for _, want := range []string{"ship-notify", "Orders", "failing", "2026-01-02T03:04:05.678", "1.5s",
		"2026-01-02T03:04:06Z handler failed", "shardId-1", "position 100000000000000000042"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// godwit serve answers GET /godwit/consumers, and godwit consumers reads it.
func TestServeConsumersEndpoint(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.NATSListen = "-"
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, logs) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	addr := waitFor(t, "the listening line", func() string {
		if m := listeningLine.FindStringSubmatch(logs.String()); m != nil {
			return m[1]
		}
		return ""
	})
	code, body := get(t, "http://"+addr+sinks.StatusPath)
	if code != 200 || !strings.Contains(body, `"Consumers": []`) {
		t.Fatalf("GET %s: %d %s", sinks.StatusPath, code, body)
	}
	var out, errOut bytes.Buffer
	if rc := run(context.Background(), []string{"consumers", "--endpoint", "http://" + addr}, &out, &errOut); rc != exitOK {
		t.Fatalf("godwit consumers: exit %d: %s", rc, errOut.String())
	}
	if !strings.Contains(out.String(), "no consumers configured") {
		t.Errorf("godwit consumers printed %q", out.String())
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// serve hands the consumers: section to the region: without it the section
// was validated and then ignored, and no consumer ran.
func TestRegionConfigCarriesConsumers(t *testing.T) {
	path := writeFile(t, `
consumers:
  - Name: audit
    Table: Orders
    StartingPosition: LATEST
    Target: {Type: auditlog, Dir: audit}
`)
	cfg, err := loadConfig([]string{"--config", path}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.regionConfig(hclog.NewNullLogger()).Consumers == nil {
		t.Error("regionConfig dropped the consumers: section")
	}
	empty, err := loadConfig(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if empty.regionConfig(hclog.NewNullLogger()).Consumers != nil {
		t.Error("regionConfig made consumers without a consumers: section")
	}
}
