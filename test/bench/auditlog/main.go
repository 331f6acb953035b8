// Command auditlog measures the audit-log sink's append throughput:
// records per second with an fsync per batch, for batches of 1 and 100.
// It prints one line per batch size; the lead records them in
// docs/benchmarks.md. Run it alone (flock /tmp/bench.lock):
//
//	go run ./test/bench/auditlog -dir /path/on/the/target/disk -seconds 5
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/godwit-db/godwit/sinks/auditlog"
	"github.com/godwit-db/godwit/sinks/sinkstest"
)

func main() {
	dir := flag.String("dir", "", "directory for the logs (default a temporary one)")
	seconds := flag.Float64("seconds", 3, "duration of each run")
	flag.Parse()
	base := *dir
	if base == "" {
		d, err := os.MkdirTemp("", "godwit-auditbench-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer os.RemoveAll(d)
		base = d
	}
	for _, size := range []int{1, 100} {
		d, err := os.MkdirTemp(base, fmt.Sprintf("batch%d-", size))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		l, err := auditlog.New(auditlog.Config{Dir: d})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		gen := sinkstest.NewGen("Orders")
		acts := make([]string, size)
		var records, batchesDone int
		var lat []time.Duration
		end := time.Now().Add(time.Duration(*seconds * float64(time.Second)))
		for time.Now().Before(end) {
			b := gen.Batch(acts...)
			t0 := time.Now()
			if _, err := l.Deliver(context.Background(), b); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			lat = append(lat, time.Since(t0))
			records += size
			batchesDone++
		}
		_ = l.Close()
		var sum time.Duration
		for _, x := range lat {
			sum += x
		}
		fmt.Printf("auditlog batch=%d: %d records of ~1.3 KB in %d batches, %.0f records/s over Deliver time, mean Deliver (write+2 fsyncs) %s\n",
			size, records, batchesDone, float64(records)/sum.Seconds(), (sum / time.Duration(len(lat))).Round(time.Microsecond))
	}
}
