package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// listeningLine is the documented form of serve's address line (text format).
var listeningLine = regexp.MustCompile(`listening: addr=(\S+)`)

// waitFor polls until cond returns a non-empty string or the deadline passes.
func waitFor(t *testing.T, what string, cond func() string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if s := cond(); s != "" {
			return s
		}
		time.Sleep(5 * time.Millisecond) // NB: a poll interval, not a wait for an event
	}
	t.Fatalf("timed out waiting for %s", what)
	return ""
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestServeInProcess(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.LogLevel = "debug"
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, logs) }()

	addr := waitFor(t, "the listening line", func() string {
		select {
		case err := <-done:
			t.Fatalf("serve returned early: %v\n%s", err, logs.String())
		default:
		}
		if m := listeningLine.FindStringSubmatch(logs.String()); m != nil {
			return m[1]
		}
		return ""
	})
	base := "http://" + addr

	if status, body := get(t, base+"/"); status != 200 || !strings.HasPrefix(body, "healthy") {
		t.Errorf("GET / = %d %q", status, body)
	}

	// One API call, so the request metrics have a series.
	req, _ := http.NewRequest(http.MethodPost, base+"/", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	listBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(listBody), "TableNames") {
		t.Errorf("ListTables = %d %s", resp.StatusCode, listBody)
	}

	// The Streams API shares the listener.
	req, _ = http.NewRequest(http.MethodPost, base+"/", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDBStreams_20120810.ListStreams")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	streamsBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(streamsBody), `"Streams":[]`) {
		t.Errorf("ListStreams = %d %s", resp.StatusCode, streamsBody)
	}

	status, metrics := get(t, base+"/metrics")
	for _, want := range []string{
		"go_goroutines",         // Go collector
		"process_open_fds",      // process collector
		"godwit_requests_total", // wire
		`operation="ListTables"`,
	} {
		if status != 200 || !strings.Contains(metrics, want) {
			t.Errorf("GET /metrics = %d, lacks %q", status, want)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not shut down")
	}
	if !strings.Contains(logs.String(), "stopped") {
		t.Errorf("no clean stop logged:\n%s", logs.String())
	}
	if _, err := http.Get(base + "/"); err == nil {
		t.Error("still accepting connections after shutdown")
	}
}

func TestServeJSONLogs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.LogFormat = "json"
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, logs) }()
	waitFor(t, "the JSON listening line", func() string {
		if m := regexp.MustCompile(`"@message":"listening"`).FindString(logs.String()); m != "" &&
			regexp.MustCompile(`"addr":"127\.0\.0\.1:\d+"`).MatchString(logs.String()) {
			return m
		}
		return ""
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

func TestServeListenError(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:-1"
	cfg.DataDir = t.TempDir()
	if err := serve(context.Background(), cfg, io.Discard); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("bad listen address: %v", err)
	}
}

func TestRunDispatch(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"version"}, exitOK, "godwit ", ""},
		{[]string{"help"}, exitOK, "serve", ""},
		{nil, exitUsage, "", "Usage:"},
		{[]string{"bogus"}, exitUsage, "", `unknown command "bogus"`},
		{[]string{"serve", "--partitions=0"}, exitUsage, "", "partitions: 0 out of range"},
		{[]string{"serve", "-h"}, exitOK, "", "Usage: godwit serve"},
		// tail's TABLE may come before or after its flags (parseTableArgs).
		{[]string{"tail"}, exitUsage, "", "Usage: godwit tail"},
		{[]string{"tail", "-h"}, exitOK, "", "Usage: godwit tail"},
		{[]string{"tail", "t1", "t2"}, exitUsage, "", "Usage: godwit tail"},
		{[]string{"tail", "t1", "--from", "nowhere"}, exitUsage, "", `--from "nowhere"`},
		{[]string{"tail", "--from", "nowhere", "t1"}, exitUsage, "", `--from "nowhere"`},
	} {
		var stdout, stderr bytes.Buffer
		code := run(ctx, c.args, &stdout, &stderr)
		if code != c.code || !strings.Contains(stdout.String(), c.stdout) || !strings.Contains(stderr.String(), c.stderr) {
			t.Errorf("run(%q) = %d\nstdout: %s\nstderr: %s", c.args, code, stdout.String(), stderr.String())
		}
	}
}

func TestRunServeUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, io.Discard, &stderr)
	}()
	waitFor(t, "serve to listen", func() string { return listeningLine.FindString(stderr.String()) })
	cancel() // what SIGTERM does through signal.NotifyContext in main
	if code := <-done; code != exitOK {
		t.Errorf("exit status %d after shutdown:\n%s", code, stderr.String())
	}
}
