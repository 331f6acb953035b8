package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/godwit-db/godwit/test/bench/benchkit"
)

const table = "replat"

// workload is a three-region global table with a writer per region and a
// stream reader per region.
type workload struct {
	cfg     config
	cl      *cluster
	clk     benchkit.Clock
	nonce   string
	total   int
	writers []*benchkit.Writer
	// recv[dest][origin]: when origin's write id appeared in dest's stream.
	recv    [][]*benchkit.Timeline
	readers []*streamReader

	stopReaders context.CancelFunc
	readWG      sync.WaitGroup
	readErrs    []error
}

// shared reports whether write id goes to a shared key.
func (w *workload) shared(id int) bool { return w.cfg.sharedEvery > 0 && id%w.cfg.sharedEvery == 0 }

func (w *workload) pk(region, id int) string {
	if w.shared(id) {
		// NB: each region walks the shared keys from its own offset, so
		// that the regions do not all write one key at the same moment.
		k := (id/w.cfg.sharedEvery + region*w.cfg.sharedKeys/3) % w.cfg.sharedKeys
		return w.nonce + "-s" + strconv.Itoa(k)
	}
	return w.nonce + "-r" + strconv.Itoa(region) + "-" + strconv.Itoa(id)
}

func (w *workload) body(region int) func(id int) []byte {
	pl := payload(w.cfg.itemSize)
	return func(id int) []byte {
		return []byte(`{"TableName":"` + table + `","Item":{"pk":{"S":"` + w.pk(region, id) +
			`"},"w":{"S":"` + writeID(region, id) + `"},"v":{"S":"` + pl + `"}}}`)
	}
}

// startWorkload starts three regions, makes the global table and opens a
// reader on every region's stream. total is the most writes per region.
func startWorkload(ctx context.Context, cfg config, total int, log func(string, ...any)) (*workload, error) {
	cl, err := startCluster(ctx, cfg, 3)
	if err != nil {
		return nil, err
	}
	w := &workload{cfg: cfg, cl: cl, nonce: nonce(), total: total}
	log("three regions up: %s %s %s; creating the global table", cl.regions[0].API, cl.regions[1].API, cl.regions[2].API)
	t0 := time.Now()
	if err := cl.globalTable(ctx, table); err != nil {
		cl.stop()
		return nil, err
	}
	log("global table ACTIVE in all regions after %v", time.Since(t0).Round(time.Millisecond))
	w.clk = benchkit.NewClock()
	n := len(cl.regions)
	w.recv = make([][]*benchkit.Timeline, n)
	rctx, cancel := context.WithCancel(context.Background())
	w.stopReaders = cancel
	for d := range n {
		w.recv[d] = make([]*benchkit.Timeline, n)
		for o := range n {
			if o != d {
				w.recv[d][o] = benchkit.NewTimeline(total)
			}
		}
		desc, err := cl.clients[d].Describe(ctx, table)
		if err != nil {
			w.stop()
			return nil, err
		}
		r, err := openReader(ctx, cl.regions[d], d, table, desc.Label(), w.clk, w.recv[d])
		if err != nil {
			w.stop()
			return nil, err
		}
		w.readers = append(w.readers, r)
	}
	w.readErrs = make([]error, n)
	for i, r := range w.readers {
		w.readWG.Go(func() { w.readErrs[i] = r.run(rctx, w.clk) })
	}
	for o := range n {
		w.writers = append(w.writers, benchkit.NewWriter(cl.clients[o], "DynamoDB_20120810.PutItem", w.clk, total, w.body(o)))
	}
	return w, nil
}

// write runs every region's writer on ids [from, to) at the configured
// rate, all at once, until done or stop is closed; it returns the next id
// of each.
func (w *workload) write(ctx context.Context, from, to int, stop <-chan struct{}) []int {
	next := make([]int, len(w.writers))
	var wg sync.WaitGroup
	for i, wr := range w.writers {
		wg.Go(func() { next[i] = wr.Run(ctx, w.cfg.rate, from, to, w.cfg.conns, stop) })
	}
	wg.Wait()
	return next
}

// missing counts, over every (origin, destination) pair, the acknowledged
// own-key writes of ids below issued[origin] not yet in the destination's
// stream.
func (w *workload) missing(issued []int) int {
	n := 0
	for d := range w.recv {
		for o, tl := range w.recv[d] {
			if tl == nil {
				continue
			}
			for id := range issued[o] {
				if !w.shared(id) && w.writers[o].Ack.Get(id) != 0 && tl.Get(id) == 0 {
					n++
				}
			}
		}
	}
	return n
}

// waitDrained polls until nothing is missing, a reader failed or timeout.
func (w *workload) waitDrained(ctx context.Context, issued []int, timeout time.Duration) error {
	return benchkit.PollUntil(ctx, timeout, 10*time.Millisecond, func() (bool, error) {
		if err := w.cl.alive(); err != nil {
			return false, err
		}
		if err := errors.Join(w.readErrs...); err != nil {
			return false, err
		}
		return w.missing(issued) == 0, nil
	})
}

// stats pools the latency of every pair over ids [skip, issued).
type latStats struct {
	Written    int     `json:"written"` // acknowledged writes, all regions
	Expected   int     `json:"expected"`
	Received   int     `json:"received"`
	Lost       int     `json:"lost"`
	Superseded int     `json:"superseded_shared"`
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
	AchievedPS float64 `json:"achieved_puts_per_sec_per_region"`
	FirstError string  `json:"first_error,omitempty"`
}

func (w *workload) stats(issued []int, skip int) latStats {
	var s latStats
	var lat, put []time.Duration
	var rate float64
	for o, wr := range w.writers {
		for id := range issued[o] {
			if wr.Ack.Get(id) != 0 {
				s.Written++
			}
		}
		put = append(put, benchkit.Durations(wr.Due, wr.Ack, skip, issued[o])...)
		rate += benchkit.AckRate(wr.Due, wr.Ack, skip, issued[o])
		s.PutErrors += wr.Errs.Load()
		if e := wr.FirstError(); e != "" && s.FirstError == "" {
			s.FirstError = e
		}
	}
	s.AchievedPS = rate / float64(len(w.writers))
	for d := range w.recv {
		for o, tl := range w.recv[d] {
			if tl == nil {
				continue
			}
			s.Duplicates += tl.Dup()
			for id := range issued[o] {
				a, r := w.writers[o].Ack.Get(id), tl.Get(id)
				if a == 0 {
					continue
				}
				s.Expected++
				switch {
				case r == 0 && w.shared(id):
					s.Superseded++
					continue
				case r == 0:
					s.Lost++
					continue
				}
				s.Received++
				x := time.Duration(r - a)
				if x < 0 {
					s.Early++
					x = 0
				}
				if id >= skip {
					lat = append(lat, x)
				}
			}
		}
	}
	p := benchkit.Summarize(lat)
	q := benchkit.Summarize(put)
	s.Measured = p.N
	s.P50, s.P99, s.P999, s.Max = benchkit.Ms(p.P50), benchkit.Ms(p.P99), benchkit.Ms(p.P999), benchkit.Ms(p.Max)
	s.PutP50, s.PutP99 = benchkit.Ms(q.P50), benchkit.Ms(q.P99)
	return s
}

// histogram sums godwit_replication_latency_seconds of the table over
// every region.
func (w *workload) histogram(ctx context.Context) (benchkit.Histogram, error) {
	var h benchkit.Histogram
	for _, g := range w.cl.regions {
		text, err := benchkit.Scrape(ctx, g.API)
		if err != nil {
			return h, err
		}
		h = h.Add(benchkit.ParseHistogram(text, "godwit_replication_latency_seconds", `table="`+table+`"`))
	}
	return h, nil
}

// pending sums godwit_replication_pending_records over every region.
func (w *workload) pending(ctx context.Context) float64 {
	sum := 0.0
	for _, g := range w.cl.regions {
		text, err := benchkit.Scrape(ctx, g.API)
		if err != nil {
			return math.NaN()
		}
		sum += benchkit.Gauge(text, "godwit_replication_pending_records")
	}
	return sum
}

func (w *workload) stop() {
	if w.stopReaders != nil {
		w.stopReaders()
	}
	w.readWG.Wait()
	for _, r := range w.readers {
		r.close()
	}
	w.cl.stop()
}

func logger(stderr interface{ Write([]byte) (int, error) }) func(string, ...any) {
	return func(f string, a ...any) {
		fmt.Fprintf(stderr, "[replat %s] %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(f, a...))
	}
}
