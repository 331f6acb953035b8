package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/godwit-db/godwit/test/bench/benchkit"
)

type partitionReport struct {
	Mode       string  `json:"mode"`
	Rate       float64 `json:"rate_per_region"`
	PartitionS float64 `json:"partition_s"`
	Victim     string  `json:"partitioned_region"`
	latStats
	// Writes acknowledged by the cut-off region during the cut.
	VictimWrites int `json:"victim_writes_during_cut"`
	// Seconds from the heal.
	DrainedS   float64 `json:"drained_s"`
	ConvergedS float64 `json:"converged_s"`
	ScanRounds int     `json:"scan_rounds"`
	ScanS      float64 `json:"last_scan_s"`
	Items      int     `json:"items"`
	Pending    float64 `json:"pending_records_at_convergence"`
	OK         bool    `json:"ok"`
}

func runPartition(ctx context.Context, cfg config, stderr io.Writer) (any, error) {
	log := logger(stderr)
	warm := int(cfg.rate * cfg.warmup.Seconds())
	total := warm + int(cfg.rate*(cfg.partition.Seconds()+30))
	w, err := startWorkload(ctx, cfg, total, log)
	if err != nil {
		return nil, err
	}
	defer w.stop()
	victim := len(w.cl.regions) - 1
	log("writing %.0f/s per region for %v, then cutting %s off for %v", cfg.rate, cfg.warmup, regionNames[victim], cfg.partition)
	w.write(ctx, 0, warm, nil)
	w.cl.partition(victim, true)
	log("partitioned %s", regionNames[victim])
	stop := make(chan struct{})
	timer := time.AfterFunc(cfg.partition, func() { close(stop) })
	defer timer.Stop()
	next := w.write(ctx, warm, total, stop)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	w.cl.partition(victim, false)
	heal := w.clk.Now()
	since := func() float64 { return time.Duration(w.clk.Now() - heal).Seconds() }
	log("healed after writing up to ids %v; waiting for the backlog", next)
	rep := partitionReport{Mode: "partition", Rate: cfg.rate, PartitionS: cfg.partition.Seconds(), Victim: regionNames[victim]}
	for id := warm; id < next[victim]; id++ {
		if w.writers[victim].Ack.Get(id) != 0 {
			rep.VictimWrites++
		}
	}
	drainErr := w.waitDrained(ctx, next, cfg.converge)
	rep.DrainedS = since()
	if drainErr != nil {
		log("not drained: %v (%d writes missing)", drainErr, w.missing(next))
	} else {
		log("drained %.2fs after the heal; comparing full scans", rep.DrainedS)
		deadline := time.Now().Add(cfg.converge)
		for {
			rep.ScanRounds++
			t0 := time.Now()
			same, n, diff, err := w.scansAgree(ctx)
			rep.ScanS = time.Since(t0).Seconds()
			if err != nil {
				return nil, err
			}
			if same {
				rep.ConvergedS, rep.Items = since(), n
				break
			}
			log("scan round %d: %s", rep.ScanRounds, diff)
			if time.Now().After(deadline) {
				break
			}
			if err := benchkit.Pause(ctx, time.Second); err != nil {
				return nil, err
			}
		}
		rep.Pending = w.pending(ctx)
	}
	rep.latStats = w.stats(next, 0)
	rep.OK = drainErr == nil && rep.ConvergedS > 0 && rep.Lost == 0 && rep.Duplicates == 0
	log("partition: victim wrote %d during the cut; drained %.2fs, converged %.2fs after the heal (%d scan rounds, last %.2fs, %d items); lost %d dup %d; replication p99 %.1fms max %.1fms",
		rep.VictimWrites, rep.DrainedS, rep.ConvergedS, rep.ScanRounds, rep.ScanS, rep.Items, rep.Lost, rep.Duplicates, rep.P99, rep.Max)
	if !rep.OK {
		return rep, fmt.Errorf("%w: drained=%v converged=%v lost=%d dup=%d", errFailed, drainErr == nil, rep.ConvergedS > 0, rep.Lost, rep.Duplicates)
	}
	return rep, nil
}

// scansAgree scans the table in every region at once and compares them
// item by item (attributes compared as canonical JSON).
func (w *workload) scansAgree(ctx context.Context) (same bool, items int, diff string, err error) {
	n := len(w.cl.regions)
	maps := make([]map[string][32]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m := map[string][32]byte{}
			errs[i] = w.cl.clients[i].ScanAll(ctx, table, func(raw json.RawMessage) error {
				var item map[string]json.RawMessage
				if err := json.Unmarshal(raw, &item); err != nil {
					return err
				}
				var pk struct{ S string }
				if err := json.Unmarshal(item["pk"], &pk); err != nil {
					return err
				}
				names := make([]string, 0, len(item))
				for k := range item {
					names = append(names, k)
				}
				slices.Sort(names)
				h := sha256.New()
				for _, k := range names {
					// NB: attribute values are compact JSON of one type
					// each; godwit renders the same value the same way.
					fmt.Fprintf(h, "%q=%s;", k, item[k])
				}
				var sum [32]byte
				copy(sum[:], h.Sum(nil))
				m[pk.S] = sum
				return nil
			})
			maps[i] = m
		})
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return false, 0, "", e
		}
	}
	for i := 1; i < n; i++ {
		missing, extra, differ := 0, 0, 0
		for k, h := range maps[0] {
			o, ok := maps[i][k]
			switch {
			case !ok:
				missing++
			case o != h:
				differ++
			}
		}
		for k := range maps[i] {
			if _, ok := maps[0][k]; !ok {
				extra++
			}
		}
		if missing+extra+differ > 0 {
			return false, 0, fmt.Sprintf("%s vs %s: %d items only in the first, %d only in the second, %d differ (%d vs %d items)",
				regionNames[0], regionNames[i], missing, extra, differ, len(maps[0]), len(maps[i])), nil
		}
	}
	return true, len(maps[0]), "", nil
}
