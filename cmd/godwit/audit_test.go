package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/godwit-db/godwit/sinks/auditlog"
	"github.com/godwit-db/godwit/sinks/sinkstest"
)

func TestAuditVerify(t *testing.T) {
	dir := t.TempDir()
	l, err := auditlog.New(auditlog.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Deliver(context.Background(), sinkstest.NewGen("Orders").Batch("", "", "")); err != nil {
		t.Fatal(err)
	}
	l.Close()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"audit", "verify", dir}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d on an untampered log: %s %s", code, out.String(), errb.String())
	}
	if !strings.HasPrefix(out.String(), "ok: 3 entries in 1 segments, last seq 3") {
		t.Fatalf("output %q", out.String())
	}

	seg := filepath.Join(dir, "audit-00000001.jsonl")
	b, _ := os.ReadFile(seg)
	if err := os.WriteFile(seg, bytes.Replace(b, []byte(`"seq":2,`), []byte(`"seq":7,`), 1), 0o640); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run(context.Background(), []string{"audit", "verify", dir}, &out, &errb); code != exitFailure {
		t.Fatalf("exit %d on a tampered log, want %d", code, exitFailure)
	}
	if !strings.Contains(out.String(), "audit-00000001.jsonl:2 (seq 7): entry does not verify") || !strings.Contains(out.String(), "TAMPERED") {
		t.Fatalf("output %q does not say where", out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"audit", "verify", "--json", dir}, &out, &errb); code != exitFailure {
		t.Fatalf("--json: exit %d", code)
	}
	var rep struct {
		OK       bool
		Problems []struct {
			File string
			Line int
		}
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.OK || len(rep.Problems) != 1 || rep.Problems[0].Line != 2 {
		t.Fatalf("--json output %s: %v", out.String(), err)
	}
	for _, args := range [][]string{{"audit"}, {"audit", "check", dir}, {"audit", "verify"}, {"audit", "verify", dir, "extra"}} {
		if code := run(context.Background(), args, &out, &errb); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
	}
	if code := run(context.Background(), []string{"audit", "verify", filepath.Join(dir, "missing")}, &out, &errb); code != exitFailure {
		t.Errorf("missing dir: exit %d, want %d", code, exitFailure)
	}
}
