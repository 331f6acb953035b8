package function_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/godwit-db/godwit/sinks"
	"github.com/godwit-db/godwit/sinks/function"
	"github.com/godwit-db/godwit/sinks/sinkstest"
)

// handlerBin is test/lambdahandler, built once by TestMain.
var handlerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "godwit-lambdahandler-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	handlerBin = filepath.Join(dir, "bootstrap")
	build := exec.Command("go", "build", "-o", handlerBin, "github.com/godwit-db/godwit/test/lambdahandler")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build test/lambdahandler:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func testLogger() hclog.Logger {
	if os.Getenv("GODWIT_TEST_LOG") == "" {
		return nil
	}
	return hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: os.Stderr})
}

// fixture is a Function running the test handler, with its record dir.
type fixture struct {
	f        *function.Function
	dir      string
	down     string
	restarts atomic.Int64
}

func newFixture(t *testing.T, mod func(*function.Config)) *fixture {
	t.Helper()
	fx := &fixture{dir: t.TempDir()}
	fx.down = filepath.Join(fx.dir, "down")
	cfg := function.Config{
		Name:        "orders-consumer",
		Command:     []string{handlerBin},
		Env:         map[string]string{"LAMBDAHANDLER_DIR": fx.dir, "LAMBDAHANDLER_DOWN": fx.down, "CUSTOM": "yes"},
		Region:      "eu-west-1",
		Timeout:     10 * time.Second,
		InitTimeout: 10 * time.Second,
		MinBackoff:  10 * time.Millisecond,
		MaxBackoff:  100 * time.Millisecond,
		OnRestart:   func(string) { fx.restarts.Add(1) },
		Logger:      testLogger(),
	}
	if mod != nil {
		mod(&cfg)
	}
	f, err := function.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fx.f = f
	return fx
}

// received reads the handler's log of successful invocations.
func (fx *fixture) received(t *testing.T) []receivedLine {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fx.dir, "received.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []receivedLine
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var r receivedLine
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("handler log line %q: %v", sc.Bytes(), err)
		}
		out = append(out, r)
	}
	return out
}

type receivedLine struct {
	Event          json.RawMessage   `json:"event"`
	RequestID      string            `json:"requestId"`
	FunctionARN    string            `json:"functionArn"`
	FunctionName   string            `json:"functionName"`
	MemoryMB       int               `json:"memoryMB"`
	DeadlineUnixMs int64             `json:"deadlineUnixMs"`
	PID            int               `json:"pid"`
	Env            map[string]string `json:"env"`
}

// killAll kills every handler process running and waits until the
// Function has seen them exit: a process's death noticed only after an
// event was handed to it counts as a crash during that invocation, and
// Down must make the handler unavailable, not crash an invocation.
func (fx *fixture) killAll(t *testing.T) {
	t.Helper()
	killed := fx.f.PIDs()
	for _, pid := range killed {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for slices.ContainsFunc(fx.f.PIDs(), func(p int) bool { return slices.Contains(killed, p) }) {
		if time.Now().After(deadline) {
			t.Fatalf("handlers %v still seen running after SIGKILL", killed)
		}
		time.Sleep(time.Millisecond) // NB: polling with a deadline.
	}
}

func TestConformance(t *testing.T) {
	sinkstest.Run(t, sinkstest.Harness{
		Caps: sinkstest.Caps{Events: true, FunctionErrors: true, ItemFailures: true},
		New: func(t *testing.T, _ *sinkstest.Gen) *sinkstest.Instance {
			fx := newFixture(t, func(c *function.Config) { c.Concurrency = 2 })
			events := func(t *testing.T) [][]byte {
				var out [][]byte
				for _, r := range fx.received(t) {
					out = append(out, r.Event)
				}
				return out
			}
			return &sinkstest.Instance{
				Target: fx.f,
				Events: events,
				Records: func(t *testing.T) []json.RawMessage {
					var out []json.RawMessage
					for _, e := range events(t) {
						var ev struct{ Records []json.RawMessage }
						if err := json.Unmarshal(e, &ev); err != nil {
							t.Fatal(err)
						}
						out = append(out, ev.Records...)
					}
					return out
				},
				Down: func(t *testing.T) {
					if err := os.WriteFile(fx.down, nil, 0o644); err != nil {
						t.Fatal(err)
					}
					fx.killAll(t)
				},
				Up: func(t *testing.T) {
					if err := os.Remove(fx.down); err != nil {
						t.Fatal(err)
					}
				},
			}
		},
	})
}

func deliver(t *testing.T, f *function.Function, b *sinks.Batch) (sinks.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return f.Deliver(ctx, b)
}

// TestLambdaContext checks what an aws-lambda-go handler sees of its
// invocation: request id, ARN, deadline, function name and environment.
func TestLambdaContext(t *testing.T) {
	fx := newFixture(t, func(c *function.Config) { c.Timeout = 7 * time.Second; c.MemoryMB = 256 })
	defer fx.f.Close()
	gen := sinkstest.NewGen("Orders")
	before := time.Now()
	sinkstest.DeliverRetrying(t, fx.f, gen.Batch(sinkstest.ActionOK), 20*time.Second)
	sinkstest.DeliverRetrying(t, fx.f, gen.Batch(sinkstest.ActionOK), 20*time.Second)
	got := fx.received(t)
	if len(got) != 2 {
		t.Fatalf("%d invocations, want 2", len(got))
	}
	r := got[0]
	if r.FunctionARN != "arn:aws:lambda:eu-west-1:000000000000:function:orders-consumer" || r.FunctionName != "orders-consumer" || r.MemoryMB != 256 {
		t.Fatalf("arn %q name %q memory %d", r.FunctionARN, r.FunctionName, r.MemoryMB)
	}
	if len(r.RequestID) != 36 || r.RequestID == got[1].RequestID {
		t.Fatalf("request ids %q, %q", r.RequestID, got[1].RequestID)
	}
	if d := time.UnixMilli(r.DeadlineUnixMs).Sub(before); d < 7*time.Second || d > time.Since(before)+7*time.Second {
		t.Fatalf("deadline %s after the first Deliver, want about 7s", d)
	}
	want := map[string]string{"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1", "_HANDLER": "bootstrap",
		"AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/orders-consumer", "TZ": ":UTC", "CUSTOM": "yes"}
	for k, v := range want {
		if r.Env[k] != v {
			t.Errorf("%s=%q, want %q", k, r.Env[k], v)
		}
	}
	if !strings.HasPrefix(r.Env["_X_AMZN_TRACE_ID"], "Root=1-") {
		t.Errorf("_X_AMZN_TRACE_ID %q", r.Env["_X_AMZN_TRACE_ID"])
	}
	if _, ok := r.Env["PATH"]; ok {
		t.Errorf("godwit's PATH leaked into the handler's environment")
	}
	if r.PID != got[1].PID {
		t.Errorf("the process was not reused: pids %d, %d", r.PID, got[1].PID)
	}
}

func TestFunctionErrorFromHandler(t *testing.T) {
	fx := newFixture(t, nil)
	defer fx.f.Close()
	gen := sinkstest.NewGen("Orders")
	sinkstest.DeliverRetrying(t, fx.f, gen.Batch(sinkstest.ActionOK), 20*time.Second)
	_, err := deliver(t, fx.f, gen.Batch(sinkstest.ActionFail))
	var fe *function.FunctionError
	if !errors.As(err, &fe) || fe.Message != "scripted failure" || fe.Type != "errorString" || errors.Is(err, sinks.ErrTransient) {
		t.Fatalf("err %#v, want the handler's error", err)
	}
	if n := fx.restarts.Load(); n != 0 {
		t.Fatalf("%d restarts after a returned error, want 0 (the process lives on)", n)
	}
}

func TestCrashIsFunctionErrorAndRestarts(t *testing.T) {
	fx := newFixture(t, nil)
	defer fx.f.Close()
	gen := sinkstest.NewGen("Orders")
	sinkstest.DeliverRetrying(t, fx.f, gen.Batch(sinkstest.ActionOK), 20*time.Second)
	_, err := deliver(t, fx.f, gen.Batch(sinkstest.ActionOK, sinkstest.ActionCrash))
	var fe *function.FunctionError
	if !errors.As(err, &fe) || fe.Type != "Runtime.ExitError" || !strings.Contains(fe.Message, "exit status 3") {
		t.Fatalf("err %v, want Runtime.ExitError with exit status 3", err)
	}
	sinkstest.DeliverRetrying(t, fx.f, gen.Batch(sinkstest.ActionOK), 20*time.Second)
	got := fx.received(t)
	if len(got) != 2 || got[0].PID == got[1].PID {
		t.Fatalf("invocations %d, pids before/after the crash must differ", len(got))
	}
	if n := fx.restarts.Load(); n != 1 {
		t.Fatalf("%d restarts, want 1", n)
	}
}

func TestTimeoutKillsAndRestarts(t *testing.T) {
	var reasons []string
	var fx *fixture
	fx = newFixture(t, func(c *function.Config) {
		c.Timeout = 300 * time.Millisecond
		c.OnRestart = func(r string) { reasons = append(reasons, r); fx.restarts.Add(1) }
	})
	defer fx.f.Close()
	gen := sinkstest.NewGen("Orders")
	sinkstest.DeliverRetrying(t, fx.f, gen.Batch(sinkstest.ActionOK), 20*time.Second)
	_, err := deliver(t, fx.f, gen.Batch(sinkstest.ActionSleep))
	var fe *function.FunctionError
	if !errors.As(err, &fe) || fe.Type != "Sandbox.Timedout" || errors.Is(err, sinks.ErrTransient) {
		t.Fatalf("err %v, want Sandbox.Timedout", err)
	}
	sinkstest.DeliverRetrying(t, fx.f, gen.Batch(sinkstest.ActionOK), 20*time.Second)
	got := fx.received(t)
	if len(got) != 2 || got[0].PID == got[1].PID {
		t.Fatalf("the timed-out process was not replaced: %d invocations", len(got))
	}
	if fx.restarts.Load() != 1 || reasons[0] != "timeout" {
		t.Fatalf("restarts %v, want [timeout]", reasons)
	}
}

func TestCommandNotFoundIsTransient(t *testing.T) {
	f, err := function.New(function.Config{Command: []string{filepath.Join(t.TempDir(), "missing")}, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range 3 {
		_, err := deliver(t, f, sinkstest.NewGen("T").Batch(sinkstest.ActionOK))
		if !errors.Is(err, sinks.ErrTransient) {
			t.Fatalf("err %v, want ErrTransient", err)
		}
	}
}

func TestInitTimeoutIsTransient(t *testing.T) {
	// A process that never asks for an invocation (not a runtime at all).
	var restarts atomic.Int64
	f, err := function.New(function.Config{Command: []string{"/bin/sh", "-c", "exec sleep 60"}, InitTimeout: 200 * time.Millisecond,
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, ShutdownGrace: 100 * time.Millisecond,
		OnRestart: func(string) { restarts.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = deliver(t, f, sinkstest.NewGen("T").Batch(sinkstest.ActionOK))
	if !errors.Is(err, sinks.ErrTransient) || !strings.Contains(err.Error(), "did not ask") {
		t.Fatalf("err %v, want ErrTransient (init timeout)", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for restarts.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the stuck process was not restarted")
		}
		time.Sleep(5 * time.Millisecond) // NB: polling with a deadline.
	}
}

func TestCloseStopsHandlers(t *testing.T) {
	fx := newFixture(t, func(c *function.Config) { c.Concurrency = 3 })
	sinkstest.DeliverRetrying(t, fx.f, sinkstest.NewGen("T").Batch(sinkstest.ActionOK), 20*time.Second)
	if err := fx.f.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(fx.dir, "pids"))
	pids := strings.Fields(string(data))
	if len(pids) < 1 {
		t.Fatal("no handler started")
	}
	for _, l := range pids {
		pid, _ := strconv.Atoi(l)
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("handler %d still runs after Close", pid)
		}
	}
	if _, err := fx.f.Deliver(context.Background(), sinkstest.NewGen("T").Batch(sinkstest.ActionOK)); !errors.Is(err, function.ErrClosed) {
		t.Fatalf("Deliver after Close: %v, want ErrClosed", err)
	}
}

func TestValidate(t *testing.T) {
	err := function.Config{Name: "bad name", Timeout: 16 * time.Minute, Concurrency: -1, Env: map[string]string{"A=B": "x"}}.Validate()
	for _, want := range []string{"Name", "Command", "Timeout", "Concurrency", "Env"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
}
