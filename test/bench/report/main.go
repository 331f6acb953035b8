package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
)

func main() {
	if err := mainErr(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "report:", err)
		}
		os.Exit(2)
	}
}

func mainErr(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	subject := fs.String("subject", "godwit", "target whose ratios to the baselines are reported")
	baselines := fs.String("baselines", "dynalite,ceiling", "comma-separated targets to compare the subject with")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var recs []record
	if fs.NArg() == 0 {
		r, err := parse(stdin)
		if err != nil {
			return fmt.Errorf("stdin: %w", err)
		}
		recs = r
	}
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		r, err := parse(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		recs = append(recs, r...)
	}
	var bl []string
	for _, b := range strings.Split(*baselines, ",") {
		if b = strings.TrimSpace(b); b != "" {
			bl = append(bl, b)
		}
	}
	_, err := io.WriteString(stdout, render(recs, *subject, bl))
	return err
}

// record is one JSON line: a loadgen run report, or (Kind "rss") a memory
// check written by run.sh.
type record struct {
	Kind      string  `json:"kind"`
	Target    string  `json:"target"`
	Op        string  `json:"op"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50       float64 `json:"p50_ms"`
	P99       float64 `json:"p99_ms"`
	P999      float64 `json:"p999_ms"`
	Errors    int64   `json:"errors"`
	Conns     int     `json:"conns"`
	DurationS float64 `json:"duration_s"`
	ItemSize  int     `json:"item_size"`
	Keys      int     `json:"keys"`
	Rate      float64 `json:"rate"`
	GetMisses int64   `json:"get_misses"`
	QueryEmpt int64   `json:"query_empty"`

	// Kind "rss" only.
	Items     int64   `json:"items"`
	LoadOps   float64 `json:"load_ops_per_sec"`
	LoadErrs  int64   `json:"load_errors"`
	VmRSSKB   int64   `json:"vmrss_kb"`
	VmHWMKB   int64   `json:"vmhwm_kb"`
	DataDirKB int64   `json:"data_dir_kb"`
	Note      string  `json:"note"`
}

// parse reads JSON lines; blank lines are skipped, anything else that is not
// a JSON object with a target is an error naming the line.
func parse(r io.Reader) ([]record, error) {
	var out []record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var rec record
		if err := json.Unmarshal(line, &rec); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if rec.Target == "" {
			return nil, fmt.Errorf("line %d: no target", n)
		}
		if rec.Kind == "" && rec.Op == "" {
			return nil, fmt.Errorf("line %d: no op", n)
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// median returns the median of xs (mean of the middle two for an even
// count), or NaN for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// summary is the medians of all runs of one (op, target).
type summary struct {
	op, target          string
	runs                int
	ops, p50, p99, p999 float64
	errors, misses      int64 // misses: GetItems without Item + empty Queries
}

type key struct{ op, target string }

// summarize groups bench records by (op, target) in first-seen order. Each
// column's median is taken independently (the p99 shown may come from a
// different run than the ops/s).
func summarize(recs []record) []summary {
	var order []key
	groups := map[key][]record{}
	for _, r := range recs {
		if r.Kind != "" {
			continue
		}
		k := key{r.Op, r.Target}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	// Keep each op's targets together, ops in first-seen order.
	var ops []string
	for _, k := range order {
		if !slices.Contains(ops, k.op) {
			ops = append(ops, k.op)
		}
	}
	var out []summary
	for _, op := range ops {
		for _, k := range order {
			if k.op != op {
				continue
			}
			g := groups[k]
			col := func(f func(record) float64) float64 {
				xs := make([]float64, len(g))
				for i, r := range g {
					xs[i] = f(r)
				}
				return median(xs)
			}
			s := summary{
				op: k.op, target: k.target, runs: len(g),
				ops:  col(func(r record) float64 { return r.OpsPerSec }),
				p50:  col(func(r record) float64 { return r.P50 }),
				p99:  col(func(r record) float64 { return r.P99 }),
				p999: col(func(r record) float64 { return r.P999 }),
			}
			for _, r := range g {
				s.errors += r.Errors
				s.misses += r.GetMisses + r.QueryEmpt
			}
			out = append(out, s)
		}
	}
	return out
}

func fmtOps(x float64) string {
	if math.IsNaN(x) {
		return "–"
	}
	return fmt.Sprintf("%.0f", x)
}

func fmtMs(x float64) string {
	if math.IsNaN(x) {
		return "–"
	}
	return fmt.Sprintf("%.2f", x)
}

// ratio formats a/b, or "–" when either is missing or b is zero.
func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// render produces the Markdown: a table of medians per (op, target), a
// table of the subject's throughput and p99 ratios to each baseline, then the
// memory checks if any.
func render(recs []record, subject string, baselines []string) string {
	var b strings.Builder
	sums := summarize(recs)
	if len(sums) > 0 {
		first := recs[slices.IndexFunc(recs, func(r record) bool { return r.Kind == "" })]
		mode := "closed loop"
		if first.Rate > 0 {
			mode = fmt.Sprintf("open loop at %g ops/s", first.Rate)
		}
		fmt.Fprintf(&b, "Medians of %d run(s) each; %d connections, %gs measured per run, %s, %d-byte items, %d keys.\n\n",
			maxRuns(sums), first.Conns, first.DurationS, mode, first.ItemSize, first.Keys)
		b.WriteString("| op | target | ops/s | p50 ms | p99 ms | p99.9 ms | errors |\n")
		b.WriteString("|---|---|---:|---:|---:|---:|---:|\n")
		for _, s := range sums {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %d |\n", s.op, s.target,
				fmtOps(s.ops), fmtMs(s.p50), fmtMs(s.p99), fmtMs(s.p999), s.errors)
		}
		b.WriteString(ratioTable(sums, subject, baselines))
		var miss []string
		for _, s := range sums {
			if s.misses > 0 {
				miss = append(miss, fmt.Sprintf("%s %s %d", s.target, s.op, s.misses))
			}
		}
		if len(miss) > 0 {
			b.WriteString("\nReads that found nothing (GetItem without Item, Query without items), summed over runs; " +
				"the ceiling always answers {}: " +
				strings.Join(miss, "; ") + ".\n")
		}
	}
	var rss []record
	for _, r := range recs {
		if r.Kind == "rss" {
			rss = append(rss, r)
		}
	}
	if len(rss) > 0 {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString("| memory check | items | item bytes | load ops/s | load errors | VmRSS MiB | VmHWM MiB | data dir MiB |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range rss {
			dir := "–"
			if r.DataDirKB > 0 {
				dir = fmt.Sprintf("%.0f", float64(r.DataDirKB)/1024)
			}
			name := r.Target
			if r.Note != "" {
				name += " (" + r.Note + ")"
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %.0f | %d | %.0f | %.0f | %s |\n", name, r.Items, r.ItemSize,
				r.LoadOps, r.LoadErrs, float64(r.VmRSSKB)/1024, float64(r.VmHWMKB)/1024, dir)
		}
	}
	return b.String()
}

// ratioTable renders, for every op the subject ran, its median ops/s and p99
// divided by each baseline's (ops/s above 1 and p99 below 1 favour the
// subject). It is empty when the subject has no results.
func ratioTable(sums []summary, subject string, baselines []string) string {
	find := func(op, target string) *summary {
		for i := range sums {
			if sums[i].op == op && sums[i].target == target {
				return &sums[i]
			}
		}
		return nil
	}
	var b strings.Builder
	for _, s := range sums {
		if s.target != subject {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("\n| op |")
			for _, bl := range baselines {
				fmt.Fprintf(&b, " %s/%s ops/s | %s/%s p99 |", subject, bl, subject, bl)
			}
			b.WriteString("\n|---|")
			for range baselines {
				b.WriteString("---:|---:|")
			}
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "| %s |", s.op)
		for _, bl := range baselines {
			if base := find(s.op, bl); base != nil {
				fmt.Fprintf(&b, " %s | %s |", ratio(s.ops, base.ops), ratio(s.p99, base.p99))
			} else {
				b.WriteString(" – | – |")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func maxRuns(s []summary) int {
	n := 0
	for _, x := range s {
		n = max(n, x.runs)
	}
	return n
}
