package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := mainErr(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
		}
		os.Exit(2)
	}
}

// parseFlags turns the command line into a config.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	var op string
	var seed int64
	fs.StringVar(&c.endpoint, "endpoint", "http://127.0.0.1:8000", "server URL")
	fs.StringVar(&c.label, "label", "", `name of the target in the report (default: the endpoint)`)
	fs.StringVar(&op, "op", "put", `op mix, e.g. "put" or "put=50,get=30,query=10,update=10" (ops: put, get, query, update, delete)`)
	fs.IntVar(&c.itemSize, "item-size", 100, "item size in bytes by DynamoDB's rule (attribute names + values)")
	fs.IntVar(&c.conns, "conns", 64, "keep-alive connections (= concurrent requests)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured time")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured time before the measured window")
	fs.IntVar(&c.keys.n, "keys", 100000, "key space: ops pick items uniformly from 0..keys-1")
	fs.IntVar(&c.keys.perPK, "per-pk", 10, "items per partition key (what a Query returns)")
	fs.IntVar(&c.preload, "preload", 0, "write items 0..N-1 before the warmup (for get/query)")
	fs.IntVar(&c.load, "load", 0, "only write items 0..N-1 as fast as possible and report that as op \"load\"")
	fs.StringVar(&c.table, "table", "bench", "table name")
	fs.BoolVar(&c.create, "create", false, "create the table (pk S HASH, sk S RANGE, PAY_PER_REQUEST) if missing and wait for ACTIVE")
	fs.Float64Var(&c.rate, "rate", 0, "open loop: total ops/s to offer (0 = closed loop, as fast as the connections go)")
	fs.Int64Var(&seed, "seed", 0, "random seed (0 = from the clock; the seed used is in the report)")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "per-request timeout (connect and response headers)")
	fs.DurationVar(&c.readyTimeout, "ready-timeout", 30*time.Second, "how long to wait for the endpoint to answer at start")
	fs.DurationVar(&c.loadTimeout, "load-timeout", 15*time.Minute, "bound on a -preload or -load phase")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.label == "" {
		c.label = c.endpoint
	}
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	c.seed = uint64(seed)
	if c.load == 0 {
		m, err := parseMix(op)
		if err != nil {
			return config{}, fmt.Errorf("-op: %w", err)
		}
		c.mix = m
	}
	return c, c.validate()
}

// mainErr runs one loadgen invocation: wait for the endpoint, optionally
// create the table, preload, then either load or measure, and print the
// report lines.
func mainErr(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	r, err := newRunner(ctx, cfg)
	if err != nil {
		return err
	}
	defer r.c.close()
	if err := r.waitReady(ctx); err != nil {
		return err
	}
	if cfg.create {
		if err := r.createTable(ctx); err != nil {
			return err
		}
	}
	if cfg.preload > 0 {
		st, took, err := r.load(cfg.preload)
		rep := buildReport(cfg, "preload", st, took)
		fmt.Fprintln(stderr, humanLine(rep))
		if err != nil {
			return err
		}
		if st.errs > 0 {
			return fmt.Errorf("preload: %d of %d puts failed; first: %s", st.errs, cfg.preload, st.firstErr)
		}
	}
	var rep report
	if cfg.load > 0 {
		st, took, err := r.load(cfg.load)
		if err != nil {
			return err
		}
		rep = buildReport(cfg, "load", st, took)
	} else {
		st, window := r.measure()
		if r.stop.Load() {
			return errors.New("interrupted")
		}
		rep = buildReport(cfg, cfg.mix.String(), st, window)
	}
	fmt.Fprintln(stderr, humanLine(rep))
	line, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "%s\n", line)
	return err
}
