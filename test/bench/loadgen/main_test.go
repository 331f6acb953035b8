package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeDB is a tiny in-test DynamoDB: it stores PutItem keys, answers GetItem
// from them, fails puts whose sort key is s000007 (400 ValidationException)
// or s000008 (500 InternalServerError), and reports CREATING for the first
// two DescribeTable calls.
type fakeDB struct {
	mu        sync.Mutex
	targets   map[string]int
	puts      map[string]int // "pk/sk" -> times written
	describes int
	badAuth   int
}

func newFakeDB(t *testing.T) (*fakeDB, string) {
	f := &fakeDB{targets: map[string]int{}, puts: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func (f *fakeDB) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	target := r.Header.Get("X-Amz-Target")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.targets[target]++
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-amz-json-1.0" ||
		!strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=") || r.Header.Get("X-Amz-Date") == "" {
		f.badAuth++
		writeJSON(w, 400, `{"__type":"com.amazon.coral.service#MissingAuthenticationTokenException"}`)
		return
	}
	var req struct {
		Item, Key map[string]map[string]string
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, 400, `{"__type":"com.amazon.coral.service#SerializationException"}`)
		return
	}
	switch target {
	case targetDescribeTable:
		f.describes++
		if f.describes <= 2 {
			writeJSON(w, 200, `{"Table":{"TableStatus":"CREATING"}}`)
		} else {
			writeJSON(w, 200, `{"Table":{"TableStatus":"ACTIVE"}}`)
		}
	case "DynamoDB_20120810.PutItem":
		k := req.Item["pk"]["S"] + "/" + req.Item["sk"]["S"]
		switch req.Item["sk"]["S"] {
		case "s000007":
			writeJSON(w, 400, `{"__type":"com.amazonaws.dynamodb.v20120810#ValidationException","message":"no sevens"}`)
		case "s000008":
			writeJSON(w, 500, `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError"}`)
		default:
			f.puts[k]++
			writeJSON(w, 200, `{}`)
		}
	case "DynamoDB_20120810.GetItem":
		if f.puts[req.Key["pk"]["S"]+"/"+req.Key["sk"]["S"]] > 0 {
			writeJSON(w, 200, `{"Item":{"pk":{"S":"x"}}}`)
		} else {
			writeJSON(w, 200, `{}`)
		}
	default:
		writeJSON(w, 200, `{}`)
	}
}

// runLoadgen runs one invocation and decodes its JSON line.
func runLoadgen(t *testing.T, args ...string) (report, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := mainErr(context.Background(), args, &stdout, &stderr)
	t.Logf("stderr: %s", stderr.String())
	if err != nil {
		return report{}, err
	}
	var rep report
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want exactly one JSON line on stdout, got %q", stdout.String())
	}
	if err := json.Unmarshal([]byte(lines[0]), &rep); err != nil {
		t.Fatalf("stdout is not a JSON report: %v: %q", err, stdout.String())
	}
	return rep, nil
}

func TestLoadWritesEveryItemOnceAndCountsErrors(t *testing.T) {
	f, url := newFakeDB(t)
	rep, err := runLoadgen(t, "-endpoint", url, "-label", "fake", "-create", "-load", "1000", "-keys", "1000", "-conns", "8", "-seed", "42")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Target != "fake" || rep.Op != "load" || rep.Seed != 42 {
		t.Errorf("report header: %+v", rep)
	}
	// Item i has sk i%10, so one in ten fails with 400 and one in ten with 500.
	if rep.Ops != 800 || rep.Errors != 200 {
		t.Errorf("ops %d errors %d, want 800 and 200", rep.Ops, rep.Errors)
	}
	if rep.ErrorKinds["400 ValidationException"] != 100 || rep.ErrorKinds["500 InternalServerError"] != 100 || len(rep.ErrorKinds) != 2 {
		t.Errorf("error kinds %v", rep.ErrorKinds)
	}
	if !strings.Contains(rep.FirstError, "HTTP 400") && !strings.Contains(rep.FirstError, "HTTP 500") {
		t.Errorf("first error %q", rep.FirstError)
	}
	if rep.OpsPerSec <= 0 || rep.P50 <= 0 || rep.P50 > rep.P99 || rep.P99 > rep.P999 || rep.P999 > rep.MaxMs {
		t.Errorf("implausible figures: %+v", rep)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.puts) != 800 {
		t.Errorf("server stored %d distinct items, want 800", len(f.puts))
	}
	for k, n := range f.puts {
		if n != 1 {
			t.Errorf("item %s written %d times", k, n)
		}
	}
	if f.describes != 3 || f.targets[targetCreateTable] != 1 {
		t.Errorf("CreateTable %d, DescribeTable %d: want 1 and 3 (poll until ACTIVE)", f.targets[targetCreateTable], f.describes)
	}
	if f.badAuth != 0 {
		t.Errorf("%d requests lacked the protocol headers", f.badAuth)
	}
}

func TestMeasureMixReportsPerOpAndMisses(t *testing.T) {
	f, url := newFakeDB(t)
	rep, err := runLoadgen(t, "-endpoint", url, "-op", "put=1,get=1", "-keys", "50", "-per-pk", "10",
		"-preload", "20", "-duration", "300ms", "-warmup", "50ms", "-conns", "4")
	if err == nil {
		t.Fatal("preload with failing puts must be fatal")
	}
	if !strings.Contains(err.Error(), "preload: 4 of 20 puts failed") {
		t.Fatalf("error %v", err)
	}

	rep, err = runLoadgen(t, "-endpoint", url, "-op", "put=1,get=1,query=1", "-keys", "50", "-per-pk", "10",
		"-duration", "300ms", "-warmup", "50ms", "-conns", "4")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Op != "put=1,get=1,query=1" || rep.Ops == 0 {
		t.Fatalf("report %+v", rep)
	}
	put, get, query := rep.PerOp["put"], rep.PerOp["get"], rep.PerOp["query"]
	if put.Ops == 0 || get.Ops == 0 || query.Ops == 0 || put.Ops+get.Ops+query.Ops != rep.Ops || len(rep.PerOp) != 3 {
		t.Errorf("per-op %+v, total %d", rep.PerOp, rep.Ops)
	}
	if rep.Gets != get.Ops || rep.GetMisses > rep.Gets {
		t.Errorf("gets %d misses %d, per-op gets %d", rep.Gets, rep.GetMisses, get.Ops)
	}
	// The fake answers every Query with {}: all of them are empty.
	if rep.Queries != query.Ops || rep.QueryEmpty != rep.Queries {
		t.Errorf("queries %d empty %d, per-op queries %d", rep.Queries, rep.QueryEmpty, query.Ops)
	}
	var kinds int64
	for _, n := range rep.ErrorKinds {
		kinds += n
	}
	if rep.Errors == 0 || kinds != rep.Errors {
		t.Errorf("errors %d, by kind %v", rep.Errors, rep.ErrorKinds)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for target := range f.targets {
		switch target {
		case "DynamoDB_20120810.PutItem", "DynamoDB_20120810.GetItem", "DynamoDB_20120810.Query", targetListTables:
		default:
			t.Errorf("unexpected op %s sent", target)
		}
	}
}

func TestOpenLoopHoldsTheRate(t *testing.T) {
	_, url := newFakeDB(t)
	rep, err := runLoadgen(t, "-endpoint", url, "-op", "get", "-rate", "400", "-duration", "500ms", "-warmup", "100ms", "-conns", "4")
	if err != nil {
		t.Fatal(err)
	}
	// 400/s for 0.5s is 200 ops due in the window; a few may land just
	// outside it. An open-loop generator never sends more than it was asked.
	if rep.Ops < 150 || rep.Ops > 210 || rep.Rate != 400 {
		t.Fatalf("ops %d at rate %g, want about 200", rep.Ops, rep.Rate)
	}
}

func TestUnreachableEndpoint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = runLoadgen(t, "-endpoint", "http://"+addr, "-ready-timeout", "200ms")
	if err == nil || !strings.Contains(err.Error(), "not answering") {
		t.Fatalf("error %v, want not answering", err)
	}
	c, err := newClient("http://"+addr, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.do(targetListTables, []byte("{}"), new(bytes.Buffer))
	if got := classifyErr(err); got != "transport connection refused" {
		t.Fatalf("classifyErr(%v) = %q", err, got)
	}
}

func TestFlagValidationReportsEveryProblem(t *testing.T) {
	_, err := parseFlags([]string{"-conns", "0", "-item-size", "0", "-table", "x", "-op", "put"}, io.Discard)
	if err == nil {
		t.Fatal("accepted bad flags")
	}
	for _, want := range []string{"conns", "item-size", "table"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if _, err := parseFlags([]string{"-op", "scan"}, io.Discard); err == nil || !strings.Contains(err.Error(), "unknown op") {
		t.Errorf("bad op: %v", err)
	}
	if _, err := newClient("https://x", 1, 1); err == nil {
		t.Error("accepted an https endpoint")
	}
}

func TestClassifyStatus(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   string
	}{
		{400, `{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"x"}`, "400 ConditionalCheckFailedException"},
		{400, `{"__type":"ThrottlingException"}`, "400 ThrottlingException"},
		{503, `<html>`, "503"},
		{500, `{}`, "500"},
		{413, ``, "413"},
	} {
		if got := classifyStatus(tc.status, []byte(tc.body)); got != tc.want {
			t.Errorf("classifyStatus(%d, %s) = %q, want %q", tc.status, tc.body, got, tc.want)
		}
	}
}
