package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// config is one loadgen invocation. See the flag definitions in main.go for
// defaults.
type config struct {
	endpoint     string
	label        string // "target" in the report; defaults to endpoint
	mix          mix
	itemSize     int
	conns        int
	duration     time.Duration
	warmup       time.Duration
	keys         keyspace
	preload      int // items 0..preload-1 written before the warmup
	load         int // if > 0: only write items 0..load-1 and report that
	table        string
	create       bool
	rate         float64 // ops/s over all connections; 0 means closed loop
	seed         uint64
	timeout      time.Duration // per request (connect and response headers)
	readyTimeout time.Duration // how long to wait for the endpoint to answer
	loadTimeout  time.Duration // bound on a preload or load phase
}

// validate reports every problem with c at once.
func (c config) validate() error {
	var errs []error
	if c.itemSize < 1 || c.itemSize > 400*1024 {
		errs = append(errs, fmt.Errorf("item-size must be in 1..409600, got %d", c.itemSize))
	}
	if c.conns < 1 || c.conns > 10000 {
		errs = append(errs, fmt.Errorf("conns must be in 1..10000, got %d", c.conns))
	}
	if c.load == 0 && c.duration <= 0 {
		errs = append(errs, fmt.Errorf("duration must be positive, got %s", c.duration))
	}
	if c.warmup < 0 {
		errs = append(errs, fmt.Errorf("warmup must not be negative, got %s", c.warmup))
	}
	if err := c.keys.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.preload < 0 || c.preload > maxKeys {
		errs = append(errs, fmt.Errorf("preload must be in 0..%d, got %d", maxKeys, c.preload))
	}
	if c.load < 0 || c.load > maxKeys {
		errs = append(errs, fmt.Errorf("load must be in 0..%d, got %d", maxKeys, c.load))
	}
	if !validTableName(c.table) {
		errs = append(errs, fmt.Errorf("table %q: want 3..255 characters of [a-zA-Z0-9_.-]", c.table))
	}
	if c.rate < 0 {
		errs = append(errs, fmt.Errorf("rate must not be negative, got %g", c.rate))
	}
	if c.timeout <= 0 || c.readyTimeout <= 0 || c.loadTimeout <= 0 {
		errs = append(errs, errors.New("timeout, ready-timeout and load-timeout must be positive"))
	}
	if c.load == 0 && len(c.mix.kinds) == 0 {
		errs = append(errs, errors.New("op mix is empty"))
	}
	return errors.Join(errs...)
}

// stats is what one worker observed. Workers own their stats; they are merged
// after all workers stop.
type stats struct {
	lat      [numOpKinds]*hist // successful ops only; nil for ops not in the mix
	ok       int64
	errs     int64
	errKinds map[string]int64
	firstErr string
	gets     int64 // successful GetItems
	misses   int64 // successful GetItems that returned no Item
	queries  int64 // successful Queries
	empty    int64 // successful Queries that returned no items
}

func newStats() *stats { return &stats{errKinds: map[string]int64{}} }

func (s *stats) hist(k opKind) *hist {
	if s.lat[k] == nil {
		s.lat[k] = new(hist)
	}
	return s.lat[k]
}

// add records one completed op. errKind is "" on success.
func (s *stats) add(k opKind, d time.Duration, o outcome) {
	if o.errKind != "" {
		s.errs++
		s.errKinds[o.errKind]++
		if s.firstErr == "" {
			s.firstErr = o.detail
		}
		return
	}
	s.ok++
	s.hist(k).record(d)
	switch k {
	case opGet:
		s.gets++
		if !o.hit {
			s.misses++
		}
	case opQuery:
		s.queries++
		if !o.hit {
			s.empty++
		}
	}
}

func (s *stats) merge(o *stats) {
	for k, h := range o.lat {
		if h != nil {
			s.hist(opKind(k)).merge(h)
		}
	}
	s.ok += o.ok
	s.errs += o.errs
	for k, n := range o.errKinds {
		s.errKinds[k] += n
	}
	if s.firstErr == "" {
		s.firstErr = o.firstErr
	}
	s.gets += o.gets
	s.misses += o.misses
	s.queries += o.queries
	s.empty += o.empty
}

// all returns the latency histogram over every op kind.
func (s *stats) all() *hist {
	h := new(hist)
	for _, x := range s.lat {
		if x != nil {
			h.merge(x)
		}
	}
	return h
}

// outcome is the result of one request.
type outcome struct {
	errKind string // "" on success
	detail  string // human-readable error, for the first error only
	hit     bool   // GetItem returned an Item; Query returned items
}

// worker issues requests on behalf of one connection slot.
type worker struct {
	c     *client
	tmpl  *[numOpKinds]template
	ks    keyspace
	pool  payloadPool
	rng   *rand.Rand
	resp  bytes.Buffer
	bufSz int
}

var (
	itemField = []byte(`"Item"`)
	noItems   = []byte(`"Count":0`)
	itemsList = []byte(`"Items"`)
)

// issue sends op k for item index i and classifies the answer.
func (w *worker) issue(k opKind, i int) outcome {
	pk, sk := w.ks.split(i)
	var val []byte
	if k == opPut || k == opUpdate {
		val = w.pool.window(w.rng)
	}
	// NB: a fresh buffer per request: the transport may still hold the
	// previous body (see client.do), and a ~200-byte allocation is noise next
	// to an HTTP round trip.
	body := w.tmpl[k].render(make([]byte, 0, w.bufSz), pk, sk, val)
	status, err := w.c.do(opTargets[k], body, &w.resp)
	if err != nil {
		return outcome{errKind: classifyErr(err), detail: err.Error()}
	}
	if status >= 400 {
		b := w.resp.Bytes()
		if len(b) > 300 {
			b = b[:300]
		}
		return outcome{errKind: classifyStatus(status, w.resp.Bytes()), detail: fmt.Sprintf("HTTP %d: %s", status, b)}
	}
	b := w.resp.Bytes()
	switch k {
	case opGet:
		return outcome{hit: bytes.Contains(b, itemField)}
	case opQuery:
		return outcome{hit: bytes.Contains(b, itemsList) && !bytes.Contains(b, noItems)}
	}
	return outcome{}
}

// runner drives workers against one endpoint.
type runner struct {
	cfg  config
	c    *client
	tmpl [numOpKinds]template
	pool payloadPool
	stop atomic.Bool // set when the context is cancelled
}

func newRunner(ctx context.Context, cfg config) (*runner, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c, err := newClient(cfg.endpoint, cfg.conns, cfg.timeout)
	if err != nil {
		return nil, err
	}
	tmpl, err := bodyTemplates(cfg.table)
	if err != nil {
		return nil, err
	}
	r := &runner{
		cfg:  cfg,
		c:    c,
		tmpl: tmpl,
		pool: newPayloadPool(rand.New(rand.NewPCG(cfg.seed, 0x9e3779b97f4a7c15)), payloadLen(cfg.itemSize)),
	}
	context.AfterFunc(ctx, func() { r.stop.Store(true) })
	return r, nil
}

func (r *runner) newWorker(id int) *worker {
	return &worker{
		c:     r.c,
		tmpl:  &r.tmpl,
		ks:    r.cfg.keys,
		pool:  r.pool,
		rng:   rand.New(rand.NewPCG(r.cfg.seed, uint64(id)+1)),
		bufSz: 256 + r.pool.n,
	}
}

// waitReady polls the endpoint with ListTables until it gives any HTTP
// answer, so a benchmark can start right after its server process.
func (r *runner) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(r.cfg.readyTimeout)
	var buf bytes.Buffer
	for {
		_, err := r.c.do(targetListTables, []byte(`{}`), &buf)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("endpoint %s not answering after %s: %w", r.cfg.endpoint, r.cfg.readyTimeout, err)
		}
		if err := pause(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// pause waits for d or until ctx is done.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// createTable creates the benchmark table (pk S HASH, sk S RANGE,
// PAY_PER_REQUEST) unless it exists, then polls DescribeTable until ACTIVE.
func (r *runner) createTable(ctx context.Context) error {
	body := `{"TableName":"` + r.cfg.table + `","AttributeDefinitions":[` +
		`{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"sk","AttributeType":"S"}],` +
		`"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}],` +
		`"BillingMode":"PAY_PER_REQUEST"}`
	var buf bytes.Buffer
	status, err := r.c.do(targetCreateTable, []byte(body), &buf)
	if err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	if status >= 400 && classifyStatus(status, buf.Bytes()) != "400 ResourceInUseException" {
		return fmt.Errorf("create table: HTTP %d: %s", status, buf.Bytes())
	}
	deadline := time.Now().Add(60 * time.Second)
	desc := []byte(`{"TableName":"` + r.cfg.table + `"}`)
	for {
		status, err := r.c.do(targetDescribeTable, desc, &buf)
		if err != nil {
			return fmt.Errorf("describe table: %w", err)
		}
		var d struct {
			Table struct{ TableStatus string }
		}
		if status == 200 && json.Unmarshal(buf.Bytes(), &d) == nil && d.Table.TableStatus == "ACTIVE" {
			return nil
		}
		if status >= 400 && classifyStatus(status, buf.Bytes()) != "400 ResourceNotFoundException" {
			return fmt.Errorf("describe table: HTTP %d: %s", status, buf.Bytes())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("table %s not ACTIVE after 60s (last answer: HTTP %d %s)", r.cfg.table, status, buf.Bytes())
		}
		if err := pause(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// load writes items 0..n-1 with PutItem over all connections, as fast as the
// server allows, and returns what it observed and how long it took.
func (r *runner) load(n int) (*stats, time.Duration, error) {
	var next atomic.Int64
	start := time.Now()
	deadline := start.Add(r.cfg.loadTimeout)
	per := make([]*stats, r.cfg.conns)
	var timedOut atomic.Bool
	var wg sync.WaitGroup
	for id := range per {
		st := newStats()
		per[id] = st
		w := r.newWorker(id)
		wg.Go(func() {
			for !r.stop.Load() {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				t0 := time.Now()
				if t0.After(deadline) {
					timedOut.Store(true)
					return
				}
				o := w.issue(opPut, int(i))
				st.add(opPut, time.Since(t0), o)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	total := newStats()
	for _, st := range per {
		total.merge(st)
	}
	switch {
	case timedOut.Load():
		return total, elapsed, fmt.Errorf("load: %d of %d items written before the %s load timeout", total.ok, n, r.cfg.loadTimeout)
	case r.stop.Load():
		return total, elapsed, errors.New("load: interrupted")
	}
	return total, elapsed, nil
}

// measure runs the op mix for warmup+duration and returns what completed
// inside the measured window [start+warmup, start+warmup+duration].
//
// Closed loop (rate 0): each connection sends its next request as soon as the
// previous answer arrives; latency is the round trip.
// Open loop (rate > 0): request n is due at start + n/rate whatever the
// server does, and its latency counts from the due time, so a stalled server
// shows up in the percentiles instead of silently lowering the offered load
// (coordinated omission).
func (r *runner) measure() (*stats, time.Duration) {
	cfg := r.cfg
	start := time.Now()
	mStart := start.Add(cfg.warmup)
	end := mStart.Add(cfg.duration)
	var ticket atomic.Int64
	per := make([]*stats, cfg.conns)
	var wg sync.WaitGroup
	for id := range per {
		st := newStats()
		per[id] = st
		w := r.newWorker(id)
		wg.Go(func() {
			for !r.stop.Load() {
				var t0 time.Time
				if cfg.rate > 0 {
					n := ticket.Add(1) - 1
					t0 = start.Add(time.Duration(float64(n) * float64(time.Second) / cfg.rate))
					if !t0.Before(end) {
						return
					}
					if d := time.Until(t0); d > 0 {
						time.Sleep(d)
					}
				} else {
					t0 = time.Now()
					if !t0.Before(end) {
						return
					}
				}
				k := cfg.mix.pick(w.rng)
				o := w.issue(k, w.rng.IntN(cfg.keys.n))
				t1 := time.Now()
				if t1.Before(mStart) || t1.After(end) {
					continue
				}
				st.add(k, t1.Sub(t0), o)
			}
		})
	}
	wg.Wait()
	window := cfg.duration
	if now := time.Now(); now.Before(end) { // interrupted
		window = max(now.Sub(mStart), time.Millisecond)
	}
	total := newStats()
	for _, st := range per {
		total.merge(st)
	}
	return total, window
}

// opReport is the latency summary of one op kind.
type opReport struct {
	Ops  int64   `json:"ops"`
	P50  float64 `json:"p50_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
}

// report is the JSON line loadgen prints per run. The first seven fields are
// the stable contract read by the report tool and run.sh.
type report struct {
	Target    string  `json:"target"`
	Op        string  `json:"op"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50       float64 `json:"p50_ms"`
	P99       float64 `json:"p99_ms"`
	P999      float64 `json:"p999_ms"`
	Errors    int64   `json:"errors"`

	Ops        int64               `json:"ops"`
	MeanMs     float64             `json:"mean_ms"`
	MaxMs      float64             `json:"max_ms"`
	DurationS  float64             `json:"duration_s"`
	Conns      int                 `json:"conns"`
	Rate       float64             `json:"rate,omitempty"`
	ItemSize   int                 `json:"item_size"`
	Keys       int                 `json:"keys"`
	Seed       uint64              `json:"seed"`
	ErrorKinds map[string]int64    `json:"error_kinds,omitempty"`
	FirstError string              `json:"first_error,omitempty"`
	Gets       int64               `json:"gets,omitempty"`
	GetMisses  int64               `json:"get_misses,omitempty"`
	Queries    int64               `json:"queries,omitempty"`
	QueryEmpty int64               `json:"query_empty,omitempty"`
	PerOp      map[string]opReport `json:"per_op,omitempty"`
}

func ms(d time.Duration) float64 { return roundTo(float64(d)/float64(time.Millisecond), 3) }

func roundTo(x float64, places int) float64 {
	p := 1.0
	for range places {
		p *= 10
	}
	if x >= 0 {
		return float64(int64(x*p+0.5)) / p
	}
	return -float64(int64(-x*p+0.5)) / p
}

// buildReport summarizes st observed over window.
func buildReport(cfg config, op string, st *stats, window time.Duration) report {
	h := st.all()
	rep := report{
		Target:     cfg.label,
		Op:         op,
		OpsPerSec:  roundTo(float64(st.ok)/window.Seconds(), 1),
		P50:        ms(h.quantile(0.50)),
		P99:        ms(h.quantile(0.99)),
		P999:       ms(h.quantile(0.999)),
		Errors:     st.errs,
		Ops:        st.ok,
		MeanMs:     ms(h.mean()),
		MaxMs:      ms(time.Duration(h.max)),
		DurationS:  roundTo(window.Seconds(), 3),
		Conns:      cfg.conns,
		Rate:       cfg.rate,
		ItemSize:   cfg.itemSize,
		Keys:       cfg.keys.n,
		Seed:       cfg.seed,
		FirstError: st.firstErr,
		Gets:       st.gets,
		GetMisses:  st.misses,
		Queries:    st.queries,
		QueryEmpty: st.empty,
	}
	if len(st.errKinds) > 0 {
		rep.ErrorKinds = st.errKinds
	}
	n := 0
	for _, x := range st.lat {
		if x != nil {
			n++
		}
	}
	if n > 1 {
		rep.PerOp = map[string]opReport{}
		for k, x := range st.lat {
			if x != nil {
				rep.PerOp[opKind(k).String()] = opReport{
					Ops: int64(x.n), P50: ms(x.quantile(0.5)), P99: ms(x.quantile(0.99)), P999: ms(x.quantile(0.999)),
				}
			}
		}
	}
	return rep
}

// humanLine renders rep as one line for people.
func humanLine(rep report) string {
	mode := "closed loop"
	if rep.Rate > 0 {
		mode = fmt.Sprintf("open loop at %g/s", rep.Rate)
	}
	s := fmt.Sprintf("%s %s: %.0f ops/s  p50 %.3fms  p99 %.3fms  p99.9 %.3fms  max %.3fms  errors %d  (%d ops in %.1fs, %d conns, %s, %dB items)",
		rep.Target, rep.Op, rep.OpsPerSec, rep.P50, rep.P99, rep.P999, rep.MaxMs, rep.Errors,
		rep.Ops, rep.DurationS, rep.Conns, mode, rep.ItemSize)
	if rep.Gets > 0 {
		s += fmt.Sprintf("  get misses %d/%d", rep.GetMisses, rep.Gets)
	}
	if rep.Queries > 0 {
		s += fmt.Sprintf("  empty queries %d/%d", rep.QueryEmpty, rep.Queries)
	}
	if len(rep.ErrorKinds) > 0 {
		kinds := make([]string, 0, len(rep.ErrorKinds))
		for k := range rep.ErrorKinds {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		s += "  error kinds:"
		for _, k := range kinds {
			s += fmt.Sprintf(" [%s]=%d", k, rep.ErrorKinds[k])
		}
		s += "  first: " + rep.FirstError
	}
	return s
}
