package main

import (
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
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/godwit-db/godwit/test/bench/benchkit"
)

func main() {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	err := mainErr(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case errors.Is(err, errFailed):
		fmt.Fprintln(os.Stderr, "streamlat:", err)
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "streamlat:", err)
		os.Exit(2)
	}
}

// errFailed marks a run that measured but lost or duplicated records.
var errFailed = errors.New("FAILED")

type config struct {
	endpoint, natsURL, region, table string
	readers                          []string
	rate                             float64
	duration, warmup, drain          time.Duration
	pollWait, timeout                time.Duration
	conns, itemSize                  int
	createOnly, stream               bool
}

var tableNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("streamlat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	var readers string
	fs.StringVar(&c.endpoint, "endpoint", "http://127.0.0.1:8000", "godwit's API URL")
	fs.StringVar(&c.natsURL, "nats", "nats://127.0.0.1:4222", "godwit's embedded NATS URL (godwit serve --nats-listen)")
	fs.StringVar(&c.region, "region", "us-east-1", "godwit's region (serve --region)")
	fs.StringVar(&c.table, "table", "streamlat", "table name (created if missing)")
	fs.StringVar(&readers, "readers", "consumer,api", "readers to run at the same time: consumer, api or both (comma-separated)")
	fs.Float64Var(&c.rate, "rate", 1000, "PutItems per second offered (open loop)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured writing time")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "writing time before the measured window (records must arrive, not in the percentiles)")
	fs.DurationVar(&c.drain, "drain", 30*time.Second, "how long after the last put the readers may take to receive every record")
	fs.DurationVar(&c.pollWait, "poll-wait", time.Millisecond, "api reader: pause after a GetRecords that returned nothing")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "per-request timeout (connect and response headers)")
	fs.IntVar(&c.conns, "conns", 64, "writer connections (most puts in flight)")
	fs.IntVar(&c.itemSize, "item-size", 100, "approximate item size in bytes")
	fs.BoolVar(&c.createOnly, "create-only", false, "only create the table and wait until it is ACTIVE (for loadgen -table)")
	fs.BoolVar(&c.stream, "stream", true, "with -create-only: create the table with a NEW_AND_OLD_IMAGES stream")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	for r := range strings.SplitSeq(readers, ",") {
		switch r = strings.TrimSpace(r); r {
		case "consumer", "api":
			c.readers = append(c.readers, r)
		case "both":
			c.readers = append(c.readers, "consumer", "api")
		default:
			errs = append(errs, fmt.Errorf("-readers: unknown reader %q (want consumer, api or both)", r))
		}
	}
	if !tableNamePattern.MatchString(c.table) {
		errs = append(errs, fmt.Errorf("-table %q: want 3-255 of a-z A-Z 0-9 _ . -", c.table))
	}
	if c.rate <= 0 || c.rate > 1e6 {
		errs = append(errs, fmt.Errorf("-rate %v: want 0 < rate ≤ 1e6", c.rate))
	}
	if c.duration <= 0 || c.warmup < 0 || c.drain <= 0 || c.pollWait < 0 || c.timeout <= 0 {
		errs = append(errs, errors.New("-duration, -drain and -timeout must be positive; -warmup and -poll-wait not negative"))
	}
	if c.rate*(c.duration+c.warmup).Seconds() > 50e6 {
		errs = append(errs, errors.New("-rate × (-duration + -warmup) above 50M items"))
	}
	if c.conns < 1 || c.conns > 4096 {
		errs = append(errs, fmt.Errorf("-conns %d: want 1..4096", c.conns))
	}
	if c.itemSize < 0 || c.itemSize > 300000 {
		errs = append(errs, fmt.Errorf("-item-size %d: want 0..300000", c.itemSize))
	}
	return c, errors.Join(errs...)
}

// report is one reader's result: the JSON line on stdout.
type report struct {
	Reader     string  `json:"reader"`
	Rate       float64 `json:"rate"`
	AchievedPS float64 `json:"achieved_puts_per_sec"`
	DurationS  float64 `json:"duration_s"`
	PollWaitMs float64 `json:"poll_wait_ms,omitempty"`
	Written    int     `json:"written"` // acknowledged puts
	Received   int     `json:"received"`
	Lost       int     `json:"lost"`
	Duplicates int64   `json:"duplicates"`
	Unacked    int     `json:"unacked_received"`
	Foreign    int64   `json:"foreign"`
	Early      int     `json:"early"`
	Measured   int     `json:"measured"`
	P50        float64 `json:"p50_ms"`
	P99        float64 `json:"p99_ms"`
	P999       float64 `json:"p999_ms"`
	Max        float64 `json:"max_ms"`
	Mean       float64 `json:"mean_ms"`
	PutErrors  int64   `json:"put_errors"`
	PutP50     float64 `json:"put_p50_ms"`
	PutP99     float64 `json:"put_p99_ms"`
	FirstError string  `json:"first_error,omitempty"`
	OK         bool    `json:"ok"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func mainErr(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	wc, err := benchkit.NewClient(cfg.endpoint, cfg.conns, cfg.timeout)
	if err != nil {
		return err
	}
	defer wc.Close()
	if err := wc.WaitReady(ctx, 60*time.Second); err != nil {
		return err
	}
	if cfg.createOnly {
		_, err := createTable(ctx, wc, cfg.table, cfg.stream)
		return err
	}
	desc, err := createTable(ctx, wc, cfg.table, true)
	if err != nil {
		return err
	}
	arn := desc.Table.LatestStreamArn
	label := ""
	if i := strings.LastIndex(arn, "/stream/"); i >= 0 {
		label = arn[i+len("/stream/"):]
	}

	var nb [6]byte
	_, _ = rand.Read(nb[:])
	nonce := "L" + hex.EncodeToString(nb[:])
	total := int(cfg.rate * (cfg.warmup + cfg.duration).Seconds())
	skip := int(cfg.rate * cfg.warmup.Seconds())
	clk := benchkit.NewClock()
	due, ack := benchkit.NewTimeline(total), benchkit.NewTimeline(total)

	rctx, stopReaders := context.WithCancel(ctx)
	defer stopReaders()
	var readers []*reader
	defer func() {
		for _, r := range readers {
			r.close()
		}
	}()
	rc, err := benchkit.NewClient(cfg.endpoint, 32, cfg.timeout)
	if err != nil {
		return err
	}
	defer rc.Close()
	for _, name := range cfg.readers {
		var r *reader
		if name == "consumer" {
			r, err = openConsumerReader(ctx, cfg.natsURL, cfg.region, cfg.table, label, nonce, clk, benchkit.NewTimeline(total))
		} else {
			r, err = openAPIReader(ctx, rc, arn, nonce, cfg.pollWait, clk, benchkit.NewTimeline(total))
		}
		if err != nil {
			return fmt.Errorf("%s reader: %w", name, err)
		}
		readers = append(readers, r)
	}
	readErrs := make([]error, len(readers))
	var rwg sync.WaitGroup
	for i, r := range readers {
		rwg.Go(func() {
			if readErrs[i] = r.run(rctx); readErrs[i] != nil {
				stopReaders()
			}
		})
	}

	fmt.Fprintf(stderr, "streamlat: %s at %.0f puts/s for %v (+%v warmup), readers %s, table %s, run %s\n",
		cfg.endpoint, cfg.rate, cfg.duration, cfg.warmup, strings.Join(cfg.readers, ","), cfg.table, nonce)
	w := &writer{cl: wc, table: cfg.table, nonce: nonce, payload: payload(cfg.itemSize), clk: clk, due: due, ack: ack}
	issued := w.run(rctx, cfg.rate, total, cfg.conns)

	// Wait until every reader has every acknowledged record, or the drain
	// bound passes.
	acked := ack.N()
	deadline := time.Now().Add(cfg.drain)
	for rctx.Err() == nil && time.Now().Before(deadline) {
		done := true
		for _, r := range readers {
			done = done && r.recv.N() >= acked && summarize(ack, r.recv, issued, skip).Lost == 0
		}
		if done {
			break
		}
		_ = benchkit.Pause(rctx, 10*time.Millisecond)
	}
	stopReaders()
	rwg.Wait()
	if err := errors.Join(readErrs...); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	putLat := benchkit.Durations(due, ack, skip, issued)
	slices.Sort(putLat)
	var failures []error
	for _, r := range readers {
		s := summarize(ack, r.recv, issued, skip)
		rep := report{
			Reader: r.name, Rate: cfg.rate, DurationS: cfg.duration.Seconds(),
			AchievedPS: benchkit.AckRate(due, ack, skip, issued),
			Written:    s.Acked, Received: s.Received, Lost: s.Lost, Duplicates: s.Duplicates,
			Unacked: s.Unacked, Foreign: s.Foreign, Early: s.Early, Measured: s.Measured,
			P50: ms(s.P50), P99: ms(s.P99), P999: ms(s.P999), Max: ms(s.Max), Mean: ms(s.Mean),
			PutErrors: w.errs.Load(), PutP50: ms(benchkit.Quantile(putLat, 0.5)), PutP99: ms(benchkit.Quantile(putLat, 0.99)),
			OK: s.failure() == nil,
		}
		if r.name == "api" {
			rep.PollWaitMs = ms(cfg.pollWait)
		}
		if e := w.firstErr.Load(); e != nil {
			rep.FirstError = *e
		}
		fmt.Fprintf(stderr, "streamlat: %-8s rate %.0f: written %d received %d lost %d dup %d early %d | visibility p50 %.2fms p99 %.2fms p99.9 %.2fms max %.2fms | put p50 %.2fms p99 %.2fms errors %d\n",
			rep.Reader, rep.Rate, rep.Written, rep.Received, rep.Lost, rep.Duplicates, rep.Early,
			rep.P50, rep.P99, rep.P999, rep.Max, rep.PutP50, rep.PutP99, rep.PutErrors)
		line, err := json.Marshal(rep)
		if err != nil {
			return fmt.Errorf("encode report: %w", err)
		}
		fmt.Fprintf(stdout, "%s\n", line)
		if err := s.failure(); err != nil {
			failures = append(failures, fmt.Errorf("%w: %s reader: %w", errFailed, r.name, err))
		}
	}
	return errors.Join(failures...)
}

// payload returns a string that makes an item about size bytes.
func payload(size int) string {
	n := max(size-20, 1) // NB: pk, sk, their names and v's name
	return strings.Repeat("x", n)
}

// writer issues the run's PutItems open loop: item i is due at i/rate after
// the start, whether or not earlier puts have been answered.
type writer struct {
	cl       *benchkit.Client
	table    string
	nonce    string
	payload  string
	clk      benchkit.Clock
	due, ack *benchkit.Timeline
	errs     atomic.Int64
	firstErr atomic.Pointer[string]
}

// run issues items 0..total-1 over conns connections, waits for their
// answers and returns how many it issued (fewer when ctx ends first).
func (w *writer) run(ctx context.Context, rate float64, total, conns int) (issued int) {
	ids := make(chan int, total)
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			for id := range ids {
				w.put(ctx, id)
			}
		})
	}
	start := w.clk.Now()
	interval := float64(time.Second) / rate
	for issued < total && ctx.Err() == nil {
		dueAt := start + int64(float64(issued)*interval)
		if d := time.Duration(dueAt - w.clk.Now()); d > 50*time.Microsecond {
			_ = benchkit.Pause(ctx, d)
		}
		w.due.Set(issued, dueAt)
		ids <- issued
		issued++
	}
	close(ids)
	wg.Wait()
	return issued
}

func (w *writer) put(ctx context.Context, id int) {
	var buf bytes.Buffer
	body := putBody(w.table, itemKey(w.nonce, id), w.payload)
	if err := w.cl.Call(ctx, "DynamoDB_20120810.PutItem", body, nil, &buf); err != nil {
		if ctx.Err() == nil {
			w.errs.Add(1)
			s := err.Error()
			w.firstErr.CompareAndSwap(nil, &s)
		}
		return
	}
	w.ack.Set(id, w.clk.Now())
}
