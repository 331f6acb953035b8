package auditlog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godwit-db/godwit/sinks"
	"github.com/godwit-db/godwit/sinks/auditlog"
	"github.com/godwit-db/godwit/sinks/sinkstest"
)

func TestConformance(t *testing.T) {
	sinkstest.Run(t, sinkstest.Harness{
		New: func(t *testing.T, _ *sinkstest.Gen) *sinkstest.Instance {
			dir := filepath.Join(t.TempDir(), "audit")
			away := dir + ".away"
			l, err := auditlog.New(auditlog.Config{Dir: dir, MaxBytes: 4 << 10})
			if err != nil {
				t.Fatal(err)
			}
			return &sinkstest.Instance{
				Target: l,
				Records: func(t *testing.T) []json.RawMessage {
					es, err := auditlog.ReadAll(dir)
					if err != nil {
						t.Fatal(err)
					}
					var out []json.RawMessage
					for _, e := range es {
						out = append(out, e.Record)
					}
					if rep, err := auditlog.Verify(dir); err != nil || !rep.OK() {
						t.Fatalf("the log does not verify: %v %v", err, rep.Problems)
					}
					return out
				},
				Down: func(t *testing.T) {
					if err := os.Rename(dir, away); err != nil {
						t.Fatal(err)
					}
				},
				Up: func(t *testing.T) {
					if err := os.Rename(away, dir); err != nil {
						t.Fatal(err)
					}
				},
			}
		},
	})
}

// clock is a manual clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// writeLog writes batches of the given sizes into dir and returns the
// batches.
func writeLog(t *testing.T, cfg auditlog.Config, sizes ...int) []*sinks.Batch {
	t.Helper()
	l, err := auditlog.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	gen := sinkstest.NewGen("Orders")
	var out []*sinks.Batch
	for _, n := range sizes {
		acts := make([]string, n)
		b := gen.Batch(acts...)
		if _, err := l.Deliver(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestEntriesAndRotationBySize(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)}
	batches := writeLog(t, auditlog.Config{Dir: dir, MaxBytes: 3000, Now: clk.now}, 1, 4, 2, 5, 3)
	es, err := auditlog.ReadAll(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 15 {
		t.Fatalf("%d entries, want 15", len(es))
	}
	if n := len(segments(t, dir)); n < 3 {
		t.Fatalf("%d segments, want several (MaxBytes 3000)", n)
	}
	for _, s := range segments(t, dir) {
		if fi, _ := os.Stat(s); fi.Size() > 3000 {
			t.Errorf("%s is %d bytes, over MaxBytes", s, fi.Size())
		}
	}
	i := 0
	for _, b := range batches {
		for _, r := range b.Records {
			e := es[i]
			i++
			if e.Seq != uint64(i) || e.SequenceNumber != r.SequenceNumber || e.Table != "Orders" || e.ShardID != b.ShardID ||
				e.Consumer != b.Consumer || e.Time != "2026-03-04T05:06:07.000000008Z" {
				t.Fatalf("entry %d: %+v", i, e)
			}
			if e.EventName != r.Change.EventName || e.Identity.AccessKeyID != r.Change.AccessKeyID || e.Identity.OriginRegion != r.Change.Origin {
				t.Fatalf("entry %d: name %s identity %+v, change %s %q %q", i, e.EventName, e.Identity, r.Change.EventName, r.Change.AccessKeyID, r.Change.Origin)
			}
			if r.Change.TTL != (e.Identity.PrincipalID == "dynamodb.amazonaws.com") {
				t.Fatalf("entry %d: TTL %v but identity %+v", i, r.Change.TTL, e.Identity)
			}
			var rec, want any
			_ = json.Unmarshal(e.Record, &rec)
			_ = json.Unmarshal(r.Event, &want)
			if !jsonEqual(rec, want) {
				t.Fatalf("entry %d: record %s, want %s", i, e.Record, r.Event)
			}
		}
	}
	if es[0].Prev != auditlog.GenesisHash || es[1].Prev != es[0].Hash {
		t.Fatal("the chain does not start at genesis or does not link")
	}
	rep, err := auditlog.Verify(dir)
	if err != nil || !rep.OK() || rep.Entries != 15 || rep.LastSeq != 15 || rep.HeadSeq != 15 {
		t.Fatalf("Verify: %v %+v", err, rep)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestRotationByAgeAndResume(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)}
	cfg := auditlog.Config{Dir: dir, MaxAge: time.Hour, Now: clk.now}
	l, err := auditlog.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gen := sinkstest.NewGen("T")
	deliver := func(l *auditlog.Log) {
		t.Helper()
		if _, err := l.Deliver(context.Background(), gen.Batch("", "")); err != nil {
			t.Fatal(err)
		}
	}
	deliver(l)
	clk.t = clk.t.Add(59 * time.Minute)
	deliver(l)
	if n := len(segments(t, dir)); n != 1 {
		t.Fatalf("%d segments before MaxAge, want 1", n)
	}
	clk.t = clk.t.Add(time.Minute)
	deliver(l)
	if n := len(segments(t, dir)); n != 2 {
		t.Fatalf("%d segments at MaxAge, want 2", n)
	}
	l.Close()
	// Reopened, the chain and the segment's age carry on.
	l, err = auditlog.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	deliver(l)
	clk.t = clk.t.Add(time.Hour)
	deliver(l)
	l.Close()
	if n := len(segments(t, dir)); n != 3 {
		t.Fatalf("%d segments, want 3", n)
	}
	rep, err := auditlog.Verify(dir)
	if err != nil || !rep.OK() || rep.Entries != 10 {
		t.Fatalf("Verify: %v %+v", err, rep)
	}
}

// tamperCase builds a three-segment log, tampers with a copy, and
// checks where Verify reports it.
type tamperCase struct {
	name   string
	tamper func(t *testing.T, dir string, segs []string)
	// want are (file base name, line, msg substring) of the problems.
	want []problemWant
}

type problemWant struct {
	file string
	line int
	seq  uint64
	msg  string
}

func lines(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(b, []byte("\n"))
}

func writeLines(t *testing.T, path string, ls [][]byte) {
	t.Helper()
	if err := os.WriteFile(path, bytes.Join(ls, nil), 0o640); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	// 3 segments of 4 entries each: a batch of 4 per MaxAge.
	base := t.TempDir()
	clk := &clock{time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)}
	l, err := auditlog.New(auditlog.Config{Dir: base, MaxAge: time.Hour, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	gen := sinkstest.NewGen("Orders")
	for range 3 {
		if _, err := l.Deliver(context.Background(), gen.Batch("", "", "", "")); err != nil {
			t.Fatal(err)
		}
		clk.t = clk.t.Add(time.Hour)
	}
	l.Close()
	segs := segments(t, base)
	if len(segs) != 3 {
		t.Fatalf("%d segments, want 3", len(segs))
	}
	for _, s := range segs {
		if n := len(lines(t, s)) - 1; n != 4 {
			t.Fatalf("%s has %d entries, want 4", s, n)
		}
	}
	if rep, err := auditlog.Verify(base); err != nil || !rep.OK() || rep.Entries != 12 {
		t.Fatalf("untampered log: %v %+v", err, rep)
	}
	seg := func(n int) string { return filepath.Base(segs[n-1]) }
	for _, tc := range []tamperCase{
		{name: "edit-field", tamper: func(t *testing.T, dir string, segs []string) {
			ls := lines(t, segs[1])
			ls[1] = bytes.Replace(ls[1], []byte(`"table":"Orders"`), []byte(`"table":"Orderz"`), 1)
			writeLines(t, segs[1], ls)
		}, want: []problemWant{{seg(2), 2, 6, "does not verify"}}},
		{name: "edit-image-value", tamper: func(t *testing.T, dir string, segs []string) {
			ls := lines(t, segs[0])
			ls[2] = bytes.Replace(ls[2], []byte(`-12.5`), []byte(`-99.5`), 1)
			writeLines(t, segs[0], ls)
		}, want: []problemWant{{seg(1), 3, 3, "does not verify"}}},
		{name: "edit-and-rehash", tamper: func(t *testing.T, dir string, segs []string) {
			// A forger who recomputes the edited entry's hash breaks the
			// link to the next entry.
			ls := lines(t, segs[1])
			var e auditlog.Entry
			if err := json.Unmarshal(ls[1], &e); err != nil {
				t.Fatal(err)
			}
			e.Identity.AccessKeyID = "AKIDFORGED"
			ls[1] = rehash(t, e)
			writeLines(t, segs[1], ls)
		}, want: []problemWant{{seg(2), 3, 7, "chain broken"}}},
		{name: "delete-line", tamper: func(t *testing.T, dir string, segs []string) {
			ls := lines(t, segs[0])
			writeLines(t, segs[0], append(ls[:2:2], ls[3:]...))
		}, want: []problemWant{{seg(1), 3, 4, "seq 4 follows seq 2"}}},
		{name: "swap-lines", tamper: func(t *testing.T, dir string, segs []string) {
			ls := lines(t, segs[2])
			ls[1], ls[2] = ls[2], ls[1]
			writeLines(t, segs[2], ls)
		}, want: []problemWant{{seg(3), 2, 11, "chain broken"}, {seg(3), 3, 10, "chain broken"}, {seg(3), 4, 12, "chain broken"}}},
		{name: "truncate-mid-line", tamper: func(t *testing.T, dir string, segs []string) {
			fi, _ := os.Stat(segs[2])
			if err := os.Truncate(segs[2], fi.Size()-40); err != nil {
				t.Fatal(err)
			}
		}, want: []problemWant{{seg(3), 4, 12, "truncated entry"}, {seg(3), 0, 12, "records seq 12"}}},
		{name: "truncate-middle-segment", tamper: func(t *testing.T, dir string, segs []string) {
			fi, _ := os.Stat(segs[0])
			if err := os.Truncate(segs[0], fi.Size()-40); err != nil {
				t.Fatal(err)
			}
		}, want: []problemWant{{seg(1), 4, 4, "truncated entry"}}},
		{name: "delete-middle-segment", tamper: func(t *testing.T, dir string, segs []string) {
			if err := os.Remove(segs[1]); err != nil {
				t.Fatal(err)
			}
		}, want: []problemWant{{seg(3), 0, 0, seg(2) + " missing"}, {seg(3), 1, 9, "seq 9 follows seq 4"}}},
		{name: "rename-segment", tamper: func(t *testing.T, dir string, segs []string) {
			if err := os.Rename(segs[2], filepath.Join(dir, "audit-00000007.jsonl")); err != nil {
				t.Fatal(err)
			}
		}, want: []problemWant{{"audit-00000007.jsonl", 0, 0, "segments " + seg(3) + " to audit-00000006.jsonl missing"}}},
		{name: "delete-tail-lines", tamper: func(t *testing.T, dir string, segs []string) {
			ls := lines(t, segs[2])
			writeLines(t, segs[2], ls[:2])
		}, want: []problemWant{{seg(3), 0, 11, "entries from seq 11 on were removed"}}},
		{name: "delete-last-segment", tamper: func(t *testing.T, dir string, segs []string) {
			if err := os.Remove(segs[2]); err != nil {
				t.Fatal(err)
			}
		}, want: []problemWant{{seg(3), 0, 9, "ends at seq 8 (" + seg(2) + ":4)"}}},
		{name: "delete-head", tamper: func(t *testing.T, dir string, segs []string) {
			if err := os.Remove(filepath.Join(dir, "head.json")); err != nil {
				t.Fatal(err)
			}
		}, want: []problemWant{{"head.json", 0, 0, "head file missing"}}},
		{name: "empty-middle-segment", tamper: func(t *testing.T, dir string, segs []string) {
			if err := os.Truncate(segs[1], 0); err != nil {
				t.Fatal(err)
			}
		}, want: []problemWant{{seg(2), 0, 0, "empty segment"}, {seg(3), 1, 9, "seq 9 follows seq 4"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, base, dir)
			cs := segments(t, dir)
			tc.tamper(t, dir, cs)
			rep, err := auditlog.Verify(dir)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatal("tampering not detected")
			}
			if len(rep.Problems) != len(tc.want) {
				t.Fatalf("problems %q, want %d", rep.Problems, len(tc.want))
			}
			for i, w := range tc.want {
				p := rep.Problems[i]
				if p.File != w.file || p.Line != w.line || p.Seq != w.seq || !strings.Contains(p.Msg, w.msg) {
					t.Errorf("problem %d: %s, want %s:%d (seq %d): ...%s...", i, p, w.file, w.line, w.seq, w.msg)
				}
			}
		})
	}
}

func rehash(t *testing.T, e auditlog.Entry) []byte {
	t.Helper()
	l, err := auditlog.EncodeLine(e)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	des, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(from, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, de.Name()), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenTruncatesTornTail(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, auditlog.Config{Dir: dir}, 3)
	seg := segments(t, dir)[0]
	// A crash in the middle of the next batch's write: half a line.
	f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"v":1,"seq":4,"time":"2026-`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	l, err := auditlog.New(auditlog.Config{Dir: dir})
	if err != nil {
		t.Fatalf("open after a torn write: %v", err)
	}
	if _, err := l.Deliver(context.Background(), sinkstest.NewGen("T").Batch("", "")); err != nil {
		t.Fatal(err)
	}
	l.Close()
	rep, err := auditlog.Verify(dir)
	if err != nil || !rep.OK() || rep.Entries != 5 {
		t.Fatalf("Verify: %v %+v", err, rep)
	}
}

func TestOpenRefusesTamperedLog(t *testing.T) {
	for name, tamper := range map[string]func(t *testing.T, seg string){
		"edited": func(t *testing.T, seg string) {
			ls := lines(t, seg)
			ls[1] = bytes.Replace(ls[1], []byte(`"Orders"`), []byte(`"Orderz"`), 1)
			writeLines(t, seg, ls)
		},
		"tail-removed": func(t *testing.T, seg string) {
			ls := lines(t, seg)
			writeLines(t, seg, ls[:2])
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeLog(t, auditlog.Config{Dir: dir}, 3)
			tamper(t, segments(t, dir)[0])
			if _, err := auditlog.New(auditlog.Config{Dir: dir}); !errors.Is(err, auditlog.ErrTampered) {
				t.Fatalf("New: %v, want ErrTampered", err)
			}
		})
	}
}

func TestLogEmptiedUnderTheTargetIsNotRestarted(t *testing.T) {
	dir := t.TempDir()
	l, err := auditlog.New(auditlog.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	gen := sinkstest.NewGen("T")
	if _, err := l.Deliver(context.Background(), gen.Batch("", "")); err != nil {
		t.Fatal(err)
	}
	for _, s := range segments(t, dir) {
		os.Remove(s)
	}
	for range 2 {
		if _, err := l.Deliver(context.Background(), gen.Batch("")); !errors.Is(err, sinks.ErrTransient) {
			t.Fatalf("Deliver into an emptied log: %v, want ErrTransient", err)
		}
	}
	if len(segments(t, dir)) != 0 {
		t.Fatal("a new chain was started in the emptied directory")
	}
}

func TestValidate(t *testing.T) {
	err := auditlog.Config{MaxBytes: -1, MaxAge: -1}.Validate()
	for _, want := range []string{"Dir", "MaxBytes", "MaxAge"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
}
