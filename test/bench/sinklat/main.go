package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/godwit-db/godwit/test/bench/benchkit"
)

type config struct {
	mode      string
	godwit    string
	handler   string
	dir       string
	batchSize int
	handlers  int
	rate      float64
	duration  time.Duration
	warmup    time.Duration
	drain     time.Duration
	items     int
	itemSize  int
	conns     int
	timeout   time.Duration
}

var errFailed = errors.New("sinklat: run failed its checks")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := mainErr(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "sinklat:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("sinklat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.mode, "mode", "latency", "latency or audit")
	fs.StringVar(&c.godwit, "godwit", "godwit", "the godwit binary")
	fs.StringVar(&c.handler, "handler", "", "latency: the handler binary (test/bench/sinkhandler)")
	fs.StringVar(&c.dir, "dir", "", "directory for data, logs and the audit log (required; not a tmpfs)")
	fs.IntVar(&c.batchSize, "batch-size", 1, "the consumer's BatchSize")
	fs.IntVar(&c.handlers, "concurrency", 1, "latency: the function target's Concurrency (handler processes)")
	fs.Float64Var(&c.rate, "rate", 1000, "latency: PutItems per second (open loop)")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "latency: measured writing time")
	fs.DurationVar(&c.warmup, "warmup", 5*time.Second, "latency: writing before the measured window")
	fs.DurationVar(&c.drain, "drain", 10*time.Minute, "how long the sink may take to deliver everything after the writes")
	fs.IntVar(&c.items, "items", 100000, "audit: items loaded, then drained into the audit log")
	fs.IntVar(&c.itemSize, "item-size", 100, "approximate item size in bytes")
	fs.IntVar(&c.conns, "conns", 64, "writer connections")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "per-request timeout")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	switch c.mode {
	case "latency":
		if c.handler == "" {
			errs = append(errs, errors.New("-handler is required with -mode latency"))
		}
	case "audit":
	default:
		errs = append(errs, fmt.Errorf("-mode %q: want latency or audit", c.mode))
	}
	if c.dir == "" {
		errs = append(errs, errors.New("-dir is required"))
	}
	if c.batchSize < 1 || c.batchSize > 10000 {
		errs = append(errs, fmt.Errorf("-batch-size %d: want 1..10000", c.batchSize))
	}
	if c.handlers < 1 || c.handlers > 100 {
		errs = append(errs, fmt.Errorf("-concurrency %d: want 1..100", c.handlers))
	}
	if c.rate <= 0 || c.rate > 100000 {
		errs = append(errs, fmt.Errorf("-rate %v: want 0 < rate ≤ 100000", c.rate))
	}
	if c.duration <= 0 || c.warmup < 0 || c.drain <= 0 || c.timeout <= 0 {
		errs = append(errs, errors.New("durations must be positive (-warmup may be 0)"))
	}
	if c.items < 1 || c.itemSize < 30 || c.itemSize > 300000 || c.conns < 1 {
		errs = append(errs, errors.New("-items ≥ 1, -item-size 30..300000, -conns ≥ 1"))
	}
	return c, errors.Join(errs...)
}

func mainErr(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if cfg.dir, err = filepath.Abs(cfg.dir); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.dir, 0o755); err != nil {
		return err
	}
	var out any
	if cfg.mode == "latency" {
		out, err = runLatency(ctx, cfg, stderr)
	} else {
		out, err = runAudit(ctx, cfg, stderr)
	}
	if out != nil {
		line, jerr := json.Marshal(out)
		if jerr != nil {
			return jerr
		}
		fmt.Fprintf(stdout, "%s\n", line)
	}
	return err
}

func logger(stderr io.Writer) func(string, ...any) {
	return func(f string, a ...any) {
		fmt.Fprintf(stderr, "[sinklat %s] %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(f, a...))
	}
}

func payload(size int) string { return strings.Repeat("x", max(size-20, 1)) }

// yamlString quotes s for YAML (a JSON string is a YAML string).
func yamlString(s string) string {
	b, _ := json.Marshal(s) // NB: cannot fail for a string.
	return string(b)
}

const table = "sinklat"

type latencyReport struct {
	Mode       string  `json:"mode"`
	BatchSize  int     `json:"batch_size"`
	Handlers   int     `json:"concurrency"`
	Rate       float64 `json:"rate"`
	AchievedPS float64 `json:"achieved_puts_per_sec"`
	DurationS  float64 `json:"duration_s"`
	Written    int     `json:"written"`
	Received   int     `json:"received"`
	Lost       int     `json:"lost"`
	Duplicates int64   `json:"duplicates"`
	Early      int     `json:"early"`
	Measured   int     `json:"measured"`
	P50        float64 `json:"p50_ms"`
	P99        float64 `json:"p99_ms"`
	P999       float64 `json:"p999_ms"`
	Max        float64 `json:"max_ms"`
	PutErrors  int64   `json:"put_errors"`
	PutP50     float64 `json:"put_p50_ms"`
	PutP99     float64 `json:"put_p99_ms"`
	Invocation float64 `json:"invocations"`
	MeanBatch  float64 `json:"mean_batch"`
	FirstError string  `json:"first_error,omitempty"`
	OK         bool    `json:"ok"`
}

func runLatency(ctx context.Context, cfg config, stderr io.Writer) (any, error) {
	log := logger(stderr)
	handler, err := filepath.Abs(cfg.handler)
	if err != nil {
		return nil, err
	}
	recvPath := filepath.Join(cfg.dir, "received.txt")
	conf := fmt.Sprintf(`consumers:
  - Name: bench
    Table: %s
    StartingPosition: TRIM_HORIZON
    BatchSize: %d
    MaximumBatchingWindowInSeconds: 0
    Target:
      Type: function
      Command: [%s]
      Env: {SINKHANDLER_OUT: %s}
      Timeout: 30s
      Concurrency: %d
`, table, cfg.batchSize, yamlString(handler), yamlString(recvPath), cfg.handlers)
	confPath := filepath.Join(cfg.dir, "godwit.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	g, err := benchkit.StartGodwit(ctx, benchkit.GodwitConfig{Bin: cfg.godwit, Region: "us-east-1",
		DataDir: filepath.Join(cfg.dir, "data"), Log: filepath.Join(cfg.dir, "godwit.log"), Extra: []string{"--config", confPath}})
	if err != nil {
		return nil, err
	}
	defer g.Stop(10 * time.Second)
	c, err := benchkit.NewClient(g.API, cfg.conns, cfg.timeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.CreateTable(ctx, table, true); err != nil {
		return nil, err
	}

	var nb [5]byte
	_, _ = rand.Read(nb[:])
	nonce := "S" + hex.EncodeToString(nb[:])
	skip := int(cfg.rate * cfg.warmup.Seconds())
	total := skip + int(cfg.rate*cfg.duration.Seconds())
	clk := benchkit.NewClock()
	recv := benchkit.NewTimeline(total)
	tail := &tailer{path: recvPath, nonce: nonce, clk: clk, recv: recv}

	// A probe: the handler is running and the consumer reads the stream.
	var buf bytes.Buffer
	probe := []byte(`{"TableName":"` + table + `","Item":{"pk":{"S":"` + nonce + `-probe"}}}`)
	if err := c.Call(ctx, "DynamoDB_20120810.PutItem", probe, nil, &buf); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := benchkit.PollUntil(ctx, 2*time.Minute, 10*time.Millisecond, func() (bool, error) {
		if g.Exited() {
			return false, fmt.Errorf("godwit exited; see %s", g.Log)
		}
		return tail.poll() && tail.probe, nil
	}); err != nil {
		return nil, fmt.Errorf("the probe item never reached the handler (see %s): %w", g.Log, err)
	}
	log("pipeline up (probe handled %v after its put); writing %.0f/s for %v (+%v warmup), BatchSize %d",
		time.Since(t0).Round(time.Millisecond), cfg.rate, cfg.duration, cfg.warmup, cfg.batchSize, cfg.handlers)

	before, _ := benchkit.Scrape(ctx, g.API)
	w := benchkit.NewWriter(c, "DynamoDB_20120810.PutItem", clk, total, func(id int) []byte {
		return []byte(`{"TableName":"` + table + `","Item":{"pk":{"S":"` + nonce + "-" + strconv.Itoa(id) +
			`"},"v":{"S":"` + payload(cfg.itemSize) + `"}}}`)
	})
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
				tail.poll()
			}
		}
	}()
	issued := w.Run(ctx, cfg.rate, 0, total, cfg.conns, nil)
	close(done)
	acked := w.Ack.N()
	_ = benchkit.PollUntil(ctx, cfg.drain, 20*time.Millisecond, func() (bool, error) {
		tail.poll()
		return recv.N() >= acked || g.Exited(), nil
	})
	after, _ := benchkit.Scrape(ctx, g.API)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	lat, early, missing := benchkit.Compare(w.Ack, recv, skip, issued)
	p := benchkit.Summarize(lat)
	put := benchkit.Summarize(benchkit.Durations(w.Due, w.Ack, skip, issued))
	inv := benchkit.Gauge(after, "godwit_sink_invocations_total", `consumer="bench"`, `outcome="ok"`) -
		benchkit.Gauge(before, "godwit_sink_invocations_total", `consumer="bench"`, `outcome="ok"`)
	rep := latencyReport{Mode: "latency", BatchSize: cfg.batchSize, Handlers: cfg.handlers, Rate: cfg.rate, DurationS: cfg.duration.Seconds(),
		AchievedPS: benchkit.AckRate(w.Due, w.Ack, skip, issued),
		Written:    acked, Received: acked - missing, Lost: missing, Duplicates: recv.Dup(), Early: early, Measured: p.N,
		P50: benchkit.Ms(p.P50), P99: benchkit.Ms(p.P99), P999: benchkit.Ms(p.P999), Max: benchkit.Ms(p.Max),
		PutErrors: w.Errs.Load(), PutP50: benchkit.Ms(put.P50), PutP99: benchkit.Ms(put.P99),
		Invocation: inv, FirstError: w.FirstError()}
	if inv > 0 {
		rep.MeanBatch = float64(recv.N()) / inv
	}
	rep.OK = rep.Lost == 0 && rep.Duplicates == 0
	log("BatchSize %d: written %d received %d lost %d dup %d early %d | put→handler p50 %.2fms p99 %.2fms p99.9 %.2fms max %.2fms | %.0f invocations, mean batch %.1f | put p50 %.2fms p99 %.2fms errors %d",
		cfg.batchSize, rep.Written, rep.Received, rep.Lost, rep.Duplicates, rep.Early, rep.P50, rep.P99, rep.P999, rep.Max,
		rep.Invocation, rep.MeanBatch, rep.PutP50, rep.PutP99, rep.PutErrors)
	if !rep.OK {
		return rep, fmt.Errorf("%w: %d acknowledged puts never reached the handler, %d duplicates", errFailed, rep.Lost, rep.Duplicates)
	}
	return rep, nil
}

// tailer reads the handler's "pk recvUnixNano" lines as they are appended.
type tailer struct {
	path  string
	nonce string
	clk   benchkit.Clock
	recv  *benchkit.Timeline
	off   int64
	rest  []byte
	probe bool
}

// poll reads what was appended since the last poll; it reports whether
// it could read the file.
func (t *tailer) poll() bool {
	f, err := os.Open(t.path)
	if err != nil {
		return false
	}
	defer f.Close()
	if _, err := f.Seek(t.off, io.SeekStart); err != nil {
		return false
	}
	b, err := io.ReadAll(bufio.NewReader(f))
	if err != nil {
		return false
	}
	t.off += int64(len(b))
	b = append(t.rest, b...)
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		t.line(string(b[:i]))
		b = b[i+1:]
	}
	t.rest = append([]byte(nil), b...)
	return true
}

func (t *tailer) line(l string) {
	pk, ts, ok := strings.Cut(l, " ")
	if !ok {
		return
	}
	rest, ok := strings.CutPrefix(pk, t.nonce+"-")
	if !ok {
		return
	}
	if rest == "probe" {
		t.probe = true
		return
	}
	id, err1 := strconv.Atoi(rest)
	ns, err2 := strconv.ParseInt(ts, 10, 64)
	if err1 == nil && err2 == nil {
		t.recv.Set(id, t.clk.FromUnixNano(ns))
	}
}

type auditReport struct {
	Mode        string  `json:"mode"`
	BatchSize   int     `json:"batch_size"`
	Items       int     `json:"items"`
	LoadPS      float64 `json:"load_items_per_sec"`
	FirstSeen   uint64  `json:"entries_at_first_poll"`
	DrainS      float64 `json:"drain_s"`
	RecordsPS   float64 `json:"records_per_sec"`
	StartToDone float64 `json:"start_to_done_s"`
	Entries     uint64  `json:"entries"`
	Verified    bool    `json:"verified"`
	OK          bool    `json:"ok"`
}

func runAudit(ctx context.Context, cfg config, stderr io.Writer) (any, error) {
	log := logger(stderr)
	data := filepath.Join(cfg.dir, "data")
	gcfg := benchkit.GodwitConfig{Bin: cfg.godwit, Region: "us-east-1", DataDir: data, Log: filepath.Join(cfg.dir, "godwit.log")}
	g, err := benchkit.StartGodwit(ctx, gcfg)
	if err != nil {
		return nil, err
	}
	defer func() { g.Stop(10 * time.Second) }()
	c, err := benchkit.NewClient(g.API, cfg.conns, cfg.timeout)
	if err != nil {
		return nil, err
	}
	if _, err := c.CreateTable(ctx, table, true); err != nil {
		return nil, err
	}
	log("loading %d items into a table with a stream, no consumer yet", cfg.items)
	t0 := time.Now()
	if err := benchkit.BatchLoad(ctx, c, table, cfg.items, payload(cfg.itemSize), cfg.conns); err != nil {
		return nil, err
	}
	rep := auditReport{Mode: "audit", BatchSize: cfg.batchSize, Items: cfg.items, LoadPS: float64(cfg.items) / time.Since(t0).Seconds()}
	c.Close()
	// NB: a graceful stop publishes the whole outbox to the stream first.
	g.Stop(2 * time.Minute)

	auditDir := filepath.Join(cfg.dir, "audit")
	conf := fmt.Sprintf(`consumers:
  - Name: audit
    Table: %s
    StartingPosition: TRIM_HORIZON
    BatchSize: %d
    Target: {Type: auditlog, Dir: %s}
`, table, cfg.batchSize, yamlString(auditDir))
	confPath := filepath.Join(cfg.dir, "godwit.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	gcfg.Extra = []string{"--config", confPath}
	start := time.Now()
	if g, err = benchkit.StartGodwit(ctx, gcfg); err != nil {
		return nil, err
	}
	log("restarted with the auditlog consumer (BatchSize %d); draining", cfg.batchSize)
	var first time.Time
	var seq uint64
	err = benchkit.PollUntil(ctx, cfg.drain, 20*time.Millisecond, func() (bool, error) {
		if g.Exited() {
			return false, fmt.Errorf("godwit exited; see %s", g.Log)
		}
		b, err := os.ReadFile(filepath.Join(auditDir, "head.json"))
		if err != nil {
			return false, nil
		}
		var h struct{ Seq uint64 }
		if json.Unmarshal(bytes.TrimSpace(b), &h) != nil {
			return false, nil
		}
		seq = h.Seq
		if seq > 0 && first.IsZero() {
			first, rep.FirstSeen = time.Now(), seq
		}
		return seq >= uint64(cfg.items), nil
	})
	rep.Entries = seq
	if err != nil {
		return rep, fmt.Errorf("%w: %d of %d records in the audit log: %w", errFailed, seq, cfg.items, err)
	}
	rep.DrainS = time.Since(first).Seconds()
	rep.StartToDone = time.Since(start).Seconds()
	rep.RecordsPS = float64(uint64(cfg.items)-rep.FirstSeen) / rep.DrainS
	g.Stop(30 * time.Second)
	out, verr := exec.CommandContext(ctx, cfg.godwit, "audit", "verify", auditDir).CombinedOutput()
	rep.Verified = verr == nil
	rep.OK = rep.Verified && seq == uint64(cfg.items)
	log("audit: %d records drained in %.2fs after the first batch (%.0f records/s; %.2fs from the restart); load %.0f items/s; verify: %s",
		cfg.items, rep.DrainS, rep.RecordsPS, rep.StartToDone, rep.LoadPS, strings.TrimSpace(string(out)))
	if !rep.OK {
		return rep, fmt.Errorf("%w: %d entries for %d items, verify: %v", errFailed, seq, cfg.items, verr)
	}
	return rep, nil
}
