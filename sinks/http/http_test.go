package http_test

import (
	"context"
	"encoding/json"
	"errors"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/godwit-db/godwit/sinks"
	sinkshttp "github.com/godwit-db/godwit/sinks/http"
	"github.com/godwit-db/godwit/sinks/sinkstest"
)

func eventRecords(t *testing.T, bodies [][]byte) []json.RawMessage {
	t.Helper()
	var out []json.RawMessage
	for _, b := range bodies {
		var ev struct{ Records []json.RawMessage }
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatalf("receiver got a non-event %q: %v", b, err)
		}
		out = append(out, ev.Records...)
	}
	return out
}

func TestConformance(t *testing.T) {
	sinkstest.Run(t, sinkstest.Harness{
		Caps: sinkstest.Caps{Events: true, FunctionErrors: true, ItemFailures: true, Throttle: true},
		New: func(t *testing.T, _ *sinkstest.Gen) *sinkstest.Instance {
			rcv := sinkstest.NewHTTPReceiver(t, sinkstest.ScriptedReply(nethttp.StatusInternalServerError))
			tg, err := sinkshttp.New(sinkshttp.Config{URL: rcv.URL() + "/2015-03-31/functions/function/invocations", Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			return &sinkstest.Instance{
				Target:  tg,
				Records: func(t *testing.T) []json.RawMessage { return eventRecords(t, rcv.Bodies()) },
				Events:  func(*testing.T) [][]byte { return rcv.Bodies() },
				Down:    func(*testing.T) { rcv.Stop() },
				Up:      rcv.Start,
			}
		},
	})
}

func deliver(t *testing.T, reply sinkstest.ReplyFunc, mod func(*sinkshttp.Config)) (*sinkstest.HTTPReceiver, sinks.Result, error) {
	t.Helper()
	rcv := sinkstest.NewHTTPReceiver(t, reply)
	cfg := sinkshttp.Config{URL: rcv.URL() + "/invoke", Timeout: 10 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	tg, err := sinkshttp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	res, err := tg.Deliver(context.Background(), sinkstest.NewGen("T").Batch(sinkstest.ActionOK))
	return rcv, res, err
}

func TestHeadersAndContentType(t *testing.T) {
	rcv, _, err := deliver(t, nil, func(c *sinkshttp.Config) {
		c.Headers = map[string]string{"Authorization": "Bearer abc", "X-Tenant": "t1"}
	})
	if err != nil {
		t.Fatal(err)
	}
	r := rcv.Requests()[0]
	if r.Method != "POST" || r.URL.Path != "/invoke" || r.Header.Get("Content-Type") != "application/json" ||
		r.Header.Get("Authorization") != "Bearer abc" || r.Header.Get("X-Tenant") != "t1" {
		t.Fatalf("request %s %s headers %v", r.Method, r.URL.Path, r.Header)
	}
}

func TestClassification(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		header    string
		body      string
		transient bool
		sentinel  error
		excerpt   string
		want      sinks.Result
	}{
		{name: "ok-empty", status: 200},
		{name: "ok-null", status: 200, body: "null"},
		{name: "ok-not-object", status: 200, body: `"done"`},
		{name: "ok-state", status: 200, body: `{"state":{"n":1},"batchItemFailures":[]}`, want: sinks.Result{State: json.RawMessage(`{"n":1}`)}},
		{name: "accepted-failures", status: 202, body: `{"batchItemFailures":[{"itemIdentifier":"1"}]}`, want: sinks.Result{BatchItemFailures: []string{"1"}}},
		{name: "function-error-header", status: 200, header: "Unhandled", body: `{"oops":1}`, sentinel: sinkshttp.ErrFunction, excerpt: `Unhandled`},
		{name: "function-error-body", status: 200, body: `{"errorType":"Runtime.ExitError","errorMessage":"exit status 2"}`, sentinel: sinkshttp.ErrFunction, excerpt: "exit status 2"},
		{name: "throttled", status: 429, transient: true},
		{name: "bad-gateway", status: 502, transient: true},
		{name: "unavailable", status: 503, transient: true},
		{name: "gateway-timeout", status: 504, transient: true},
		{name: "server-error", status: 500, body: "boom", sentinel: sinkshttp.ErrStatus, excerpt: "500 boom"},
		{name: "not-found", status: 404, body: "no such function", sentinel: sinkshttp.ErrStatus, excerpt: "no such function"},
		{name: "bad-request", status: 400, sentinel: sinkshttp.ErrStatus},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, res, err := deliver(t, func(w nethttp.Header, _ *nethttp.Request, _ []byte) (int, []byte) {
				if tc.header != "" {
					w.Set("X-Amz-Function-Error", tc.header)
				}
				return tc.status, []byte(tc.body)
			}, nil)
			switch {
			case tc.transient:
				if !errors.Is(err, sinks.ErrTransient) {
					t.Fatalf("err %v, want ErrTransient", err)
				}
			case tc.sentinel != nil:
				if !errors.Is(err, tc.sentinel) || errors.Is(err, sinks.ErrTransient) {
					t.Fatalf("err %v, want %v and not transient", err, tc.sentinel)
				}
				if !strings.Contains(err.Error(), tc.excerpt) {
					t.Fatalf("err %v does not carry %q", err, tc.excerpt)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if string(res.State) != string(tc.want.State) || strings.Join(res.BatchItemFailures, ",") != strings.Join(tc.want.BatchItemFailures, ",") {
					t.Fatalf("result %+v, want %+v", res, tc.want)
				}
			}
		})
	}
}

func TestConnectionRefusedIsTransient(t *testing.T) {
	rcv := sinkstest.NewHTTPReceiver(t, nil)
	rcv.Stop()
	tg, err := sinkshttp.New(sinkshttp.Config{URL: rcv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tg.Deliver(context.Background(), sinkstest.NewGen("T").Batch(sinkstest.ActionOK))
	if !errors.Is(err, sinks.ErrTransient) {
		t.Fatalf("err %v, want ErrTransient", err)
	}
}

func TestTimeoutIsFunctionError(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	_, _, err := deliver(t, func(nethttp.Header, *nethttp.Request, []byte) (int, []byte) {
		<-release
		return 200, nil
	}, func(c *sinkshttp.Config) { c.Timeout = 50 * time.Millisecond })
	if !errors.Is(err, sinkshttp.ErrTimeout) || errors.Is(err, sinks.ErrTransient) {
		t.Fatalf("err %v, want ErrTimeout and not transient", err)
	}
}

func TestCallerCancelIsTransient(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	rcv := sinkstest.NewHTTPReceiver(t, func(nethttp.Header, *nethttp.Request, []byte) (int, []byte) {
		<-release
		return 200, nil
	})
	tg, err := sinkshttp.New(sinkshttp.Config{URL: rcv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = tg.Deliver(ctx, sinkstest.NewGen("T").Batch(sinkstest.ActionOK))
	if !errors.Is(err, sinks.ErrTransient) || errors.Is(err, sinkshttp.ErrTimeout) {
		t.Fatalf("err %v, want ErrTransient", err)
	}
}

func TestResponseTooLarge(t *testing.T) {
	_, _, err := deliver(t, func(nethttp.Header, *nethttp.Request, []byte) (int, []byte) {
		return 200, []byte(strings.Repeat("x", 2048))
	}, func(c *sinkshttp.Config) { c.MaxResponseBytes = 1024 })
	if !errors.Is(err, sinkshttp.ErrResponseTooLarge) || errors.Is(err, sinks.ErrTransient) {
		t.Fatalf("err %v, want ErrResponseTooLarge", err)
	}
}

func TestValidateReportsEverything(t *testing.T) {
	err := sinkshttp.Config{URL: "ftp://x", Headers: map[string]string{"Bad Name": "v", "Content-Type": "text/plain"},
		Timeout: -1, MaxResponseBytes: -1}.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"scheme", "Bad Name", "Content-Type", "Timeout", "MaxResponseBytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if err := (sinkshttp.Config{URL: "http://127.0.0.1:1/x"}).Validate(); err != nil {
		t.Fatal(err)
	}
}
