package sinkstest

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// ReplyFunc answers a request for an HTTPReceiver.
type ReplyFunc func(w http.Header, r *http.Request, body []byte) (status int, respBody []byte)

// HTTPReceiver is a loopback HTTP server that records every request body
// and answers with Reply. Stop and Start take it away and bring it back on
// the same address. Safe for concurrent use.
type HTTPReceiver struct {
	// Reply answers request r whose body is body; it may set response
	// headers in w. It runs on the server's goroutines. Default: 200 with
	// an empty body.
	Reply ReplyFunc

	addr string

	mu       sync.Mutex
	srv      *http.Server
	bodies   [][]byte
	requests []*http.Request
}

// NewHTTPReceiver starts a receiver on a free loopback port; it stops at
// the test's cleanup.
func NewHTTPReceiver(t *testing.T, reply ReplyFunc) *HTTPReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &HTTPReceiver{Reply: reply, addr: ln.Addr().String()}
	h.serve(ln)
	t.Cleanup(h.Stop)
	return h
}

// URL is the receiver's base URL.
func (h *HTTPReceiver) URL() string { return "http://" + h.addr }

func (h *HTTPReceiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(h.handle), ReadHeaderTimeout: 10 * time.Second}
	h.mu.Lock()
	h.srv = srv
	h.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (h *HTTPReceiver) handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	status, resp := http.StatusOK, []byte(nil)
	if h.Reply != nil {
		status, resp = h.Reply(w.Header(), r, body)
	}
	if status/100 == 2 {
		// NB: only accepted requests count as received, as with a real
		// service that rolls back what it refuses.
		h.mu.Lock()
		h.bodies = append(h.bodies, body)
		h.requests = append(h.requests, r.Clone(context.Background()))
		h.mu.Unlock()
	}
	w.WriteHeader(status)
	_, _ = w.Write(resp)
}

// Bodies returns the bodies of the requests answered with a 2xx, in order.
func (h *HTTPReceiver) Bodies() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.bodies...)
}

// Requests returns the requests answered with a 2xx (headers only).
func (h *HTTPReceiver) Requests() []*http.Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*http.Request(nil), h.requests...)
}

// Stop closes the listener and every connection. Idempotent.
func (h *HTTPReceiver) Stop() {
	h.mu.Lock()
	srv := h.srv
	h.srv = nil
	h.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Start listens again on the same address (after Stop).
func (h *HTTPReceiver) Start(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ln, err := net.Listen("tcp", h.addr)
		if err == nil {
			h.serve(ln)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sinkstest: relisten on %s: %v", h.addr, err)
		}
		time.Sleep(10 * time.Millisecond) // NB: polling for the port to free up.
	}
}

// ScriptedReply answers like a function: the Script of the body decides.
// fail answers failStatus, throttle 429, item failures a 200 with
// batchItemFailures, anything else 200 with an empty body.
func ScriptedReply(failStatus int) ReplyFunc {
	return func(_ http.Header, _ *http.Request, body []byte) (int, []byte) {
		s, err := ScriptOf(body)
		if err != nil {
			return http.StatusBadRequest, []byte(err.Error())
		}
		switch s.Action {
		case ActionThrottle:
			return http.StatusTooManyRequests, []byte(`{"message":"slow down"}`)
		case ActionFail:
			return failStatus, []byte(`{"errorType":"Scripted","errorMessage":"scripted failure"}`)
		}
		if len(s.ItemFailures) > 0 {
			return http.StatusOK, ItemFailuresResponse(s.ItemFailures)
		}
		return http.StatusOK, nil
	}
}
