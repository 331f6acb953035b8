package main

import (
	"bytes"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		in := append([]float64(nil), tc.in...)
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %g, want %g", tc.in, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Fatalf("median reordered its input")
			}
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing should be NaN")
	}
}

const sample = `
{"target":"ceiling","op":"put","ops_per_sec":40000,"p50_ms":1,"p99_ms":4,"p999_ms":9,"errors":0,"conns":64,"duration_s":10,"item_size":100,"keys":100000}
{"target":"dynalite","op":"put","ops_per_sec":10000,"p50_ms":5,"p99_ms":20,"p999_ms":30,"errors":0}
{"target":"godwit","op":"put","ops_per_sec":20000,"p50_ms":2,"p99_ms":10,"p999_ms":15,"errors":1}
{"target":"godwit","op":"put","ops_per_sec":30000,"p50_ms":3,"p99_ms":8,"p999_ms":16,"errors":0}
{"target":"godwit","op":"put","ops_per_sec":25000,"p50_ms":9,"p99_ms":9,"p999_ms":99,"errors":2}
{"target":"godwit","op":"get","ops_per_sec":50000,"p50_ms":1,"p99_ms":2,"p999_ms":3,"errors":0,"get_misses":7}
{"kind":"rss","target":"godwit","items":1000000,"item_size":100,"load_ops_per_sec":12345,"load_errors":0,"vmrss_kb":204800,"vmhwm_kb":307200,"data_dir_kb":153600,"note":""}
`

func TestRender(t *testing.T) {
	recs, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	out := render(recs, "godwit", []string{"dynalite", "ceiling"})
	t.Log("\n" + out)
	for _, want := range []string{
		"Medians of 3 run(s) each; 64 connections, 10s measured per run, closed loop, 100-byte items, 100000 keys.",
		// Each column's median independently, errors summed.
		"| put | godwit | 25000 | 3.00 | 9.00 | 16.00 | 3 |",
		"| put | dynalite | 10000 | 5.00 | 20.00 | 30.00 | 0 |",
		"| op | godwit/dynalite ops/s | godwit/dynalite p99 | godwit/ceiling ops/s | godwit/ceiling p99 |",
		"| put | 2.50× | 0.45× | 0.62× | 2.25× |",
		// No baseline ran get.
		"| get | – | – | – | – |",
		"godwit get 7",
		"| godwit | 1000000 | 100 | 12345 | 0 | 200 | 300 | 150 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Targets of one op stay together, ops in first-seen order.
	if strings.Index(out, "| put | godwit") > strings.Index(out, "| get | godwit") {
		t.Error("ops out of order")
	}
}

func TestRenderWithoutSubject(t *testing.T) {
	recs, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	out := render(recs, "nobody", []string{"ceiling"})
	if strings.Contains(out, "nobody/") {
		t.Errorf("ratio table printed for a subject with no runs:\n%s", out)
	}
	if render(nil, "godwit", nil) != "" {
		t.Error("no records should give no output")
	}
}

func TestParseRejectsGarbage(t *testing.T) {
	for _, in := range []string{"not json", `{"op":"put"}`, `{"target":"x"}`, `[1,2]`, `{"target":"x","op":"put","ops_per_sec":"fast"}`} {
		if _, err := parse(strings.NewReader("\n" + in + "\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("parse(%q) = %v, want an error naming line 2", in, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sample)
	f.Add(`{"target":"x","op":"y"}`)
	f.Fuzz(func(t *testing.T, in string) {
		recs, err := parse(strings.NewReader(in))
		if err != nil {
			return
		}
		_ = render(recs, "godwit", []string{"dynalite", "ceiling"})
	})
}

func TestMainReadsFilesAndStdin(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.jsonl")
	if err := os.WriteFile(path, []byte(sample), 0o600); err != nil {
		t.Fatal(err)
	}
	var fromFile, fromStdin bytes.Buffer
	if err := mainErr([]string{path}, strings.NewReader(""), &fromFile, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := mainErr(nil, strings.NewReader(sample), &fromStdin, io.Discard); err != nil {
		t.Fatal(err)
	}
	if fromFile.Len() == 0 || fromFile.String() != fromStdin.String() {
		t.Fatalf("file and stdin disagree:\n%s\n---\n%s", fromFile.String(), fromStdin.String())
	}
	if err := mainErr([]string{filepath.Join(t.TempDir(), "missing")}, nil, io.Discard, io.Discard); err == nil {
		t.Fatal("missing file accepted")
	}
}
