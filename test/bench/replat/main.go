package main

import (
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
	"strings"
	"syscall"
	"time"
)

type config struct {
	mode        string
	godwit      string
	dir         string
	godwitArgs  []string
	rate        float64
	duration    time.Duration
	warmup      time.Duration
	partition   time.Duration
	drain       time.Duration
	converge    time.Duration
	sharedEvery int
	sharedKeys  int
	items       int
	itemSize    int
	conns       int
	timeout     time.Duration
}

var errFailed = errors.New("replat: run failed its checks")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := mainErr(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "replat:", err)
		if strings.Contains(err.Error(), "usage:") {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	var extra string
	fs := flag.NewFlagSet("replat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.mode, "mode", "latency", "latency, partition or backfill")
	fs.StringVar(&c.godwit, "godwit", "godwit", "the godwit binary")
	fs.StringVar(&c.dir, "dir", "", "directory for data dirs and logs (required; not a tmpfs, or fsync is free)")
	fs.StringVar(&extra, "godwit-args", "", "extra `godwit serve` arguments (space-separated)")
	fs.Float64Var(&c.rate, "rate", 1000, "PutItems per second per region (open loop)")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "latency: measured writing time")
	fs.DurationVar(&c.warmup, "warmup", 5*time.Second, "writing before the measured window (latency) or before the cut (partition)")
	fs.DurationVar(&c.partition, "partition", 60*time.Second, "partition: how long the last region is cut off while everyone writes")
	fs.DurationVar(&c.drain, "drain", 60*time.Second, "latency: how long after the writers stop every write may take to arrive")
	fs.DurationVar(&c.converge, "converge", 10*time.Minute, "partition: bound on drain and convergence after the heal")
	fs.IntVar(&c.sharedEvery, "shared-every", 10, "every n-th write of a region goes to a shared key (0: none)")
	fs.IntVar(&c.sharedKeys, "shared-keys", 100, "number of keys all regions write")
	fs.IntVar(&c.items, "items", 200000, "backfill: items in the table")
	fs.IntVar(&c.itemSize, "item-size", 100, "approximate item size in bytes")
	fs.IntVar(&c.conns, "conns", 64, "connections per region client (most requests in flight)")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "per-request timeout")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	c.godwitArgs = strings.Fields(extra)
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("usage: unexpected arguments %q", fs.Args()))
	}
	switch c.mode {
	case "latency", "partition", "backfill":
	default:
		errs = append(errs, fmt.Errorf("usage: -mode %q: want latency, partition or backfill", c.mode))
	}
	if c.dir == "" {
		errs = append(errs, errors.New("usage: -dir is required"))
	}
	if c.rate <= 0 || c.rate > 100000 {
		errs = append(errs, fmt.Errorf("usage: -rate %v: want 0 < rate ≤ 100000", c.rate))
	}
	if c.duration <= 0 || c.warmup < 0 || c.partition <= 0 || c.drain <= 0 || c.converge <= 0 || c.timeout <= 0 {
		errs = append(errs, errors.New("usage: durations must be positive (-warmup may be 0)"))
	}
	if c.sharedEvery < 0 || c.sharedKeys < 1 {
		errs = append(errs, errors.New("usage: -shared-every ≥ 0 and -shared-keys ≥ 1"))
	}
	if c.items < 1 || c.items > 50_000_000 {
		errs = append(errs, fmt.Errorf("usage: -items %d: want 1..50M", c.items))
	}
	if c.itemSize < 30 || c.itemSize > 300000 {
		errs = append(errs, fmt.Errorf("usage: -item-size %d: want 30..300000", c.itemSize))
	}
	if c.conns < 1 || c.conns > 4096 {
		errs = append(errs, fmt.Errorf("usage: -conns %d: want 1..4096", c.conns))
	}
	return c, errors.Join(errs...)
}

func mainErr(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.dir, 0o755); err != nil {
		return err
	}
	var out any
	switch cfg.mode {
	case "latency":
		out, err = runLatency(ctx, cfg, stderr)
	case "partition":
		out, err = runPartition(ctx, cfg, stderr)
	case "backfill":
		out, err = runBackfill(ctx, cfg, stderr)
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

// nonce names a run's keys, so that runs never mix.
func nonce() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return "R" + hex.EncodeToString(b[:])
}

// payload makes an item about size bytes (pk, w and their names aside).
func payload(size int) string { return strings.Repeat("x", max(size-30, 1)) }
