package h1

import (
	"bytes"
	"io"
	"net/http"
	"net/http/pprof"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// stdMux is an ordinary net/http handler tree served through the adapter.
func stdMux(t *testing.T) http.Handler {
	reg := prometheus.NewRegistry()
	ctr := prometheus.NewCounter(prometheus.CounterOpts{Name: "adapter_test_total", Help: "x"})
	reg.MustRegister(ctr)
	ctr.Add(7)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "hello")
	})
	mux.HandleFunc("/sniff", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "<html><body>x</body></html>")
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		for _, p := range []string{"a", "b", "c"} {
			_, _ = io.WriteString(w, p)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(bytes.Repeat([]byte("z"), 200<<10))
	})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		_, err := io.WriteString(w, "ignored")
		if err != http.ErrBodyNotAllowed {
			t.Errorf("write on 204: %v", err)
		}
	})
	mux.HandleFunc("/std", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		w.Header().Set("X-Host", r.Host)
		w.Header().Set("X-Query", r.URL.Query().Get("q"))
		w.Header().Set("X-Foo", r.Header.Get("X-Foo"))
		w.Header().Set("X-Te", strings.Join(r.TransferEncoding, ","))
		_, _ = w.Write(b)
	})
	return mux
}

func TestAdapterWithNetHTTPClient(t *testing.T) {
	_, addr := testServer(t, Config{Handler: stdMux(t)})
	base := "http://" + addr
	get := func(method, path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		return r, string(b)
	}

	r, body := get("GET", "/metrics")
	if r.StatusCode != 200 || !strings.Contains(body, "adapter_test_total 7") || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("/metrics: %d %q %q", r.StatusCode, r.Header.Get("Content-Type"), body)
	}
	r, body = get("GET", "/debug/pprof/")
	if r.StatusCode != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/: %d %.200q", r.StatusCode, body)
	}
	r, body = get("GET", "/debug/pprof/cmdline")
	if r.StatusCode != 200 || body == "" {
		t.Errorf("/debug/pprof/cmdline: %d %q", r.StatusCode, body)
	}
	r, body = get("GET", "/text")
	if r.StatusCode != 200 || body != "hello" || r.ContentLength != 5 {
		t.Errorf("/text: %d %q len %d", r.StatusCode, body, r.ContentLength)
	}
	r, body = get("HEAD", "/text")
	if r.StatusCode != 200 || body != "" || r.ContentLength != 5 {
		t.Errorf("HEAD /text: %d %q len %d", r.StatusCode, body, r.ContentLength)
	}
	r, _ = get("GET", "/sniff")
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("/sniff Content-Type %q", ct)
	}
	r, body = get("GET", "/stream")
	if body != "abc" || len(r.TransferEncoding) != 1 || r.TransferEncoding[0] != "chunked" {
		t.Errorf("/stream: %q %v", body, r.TransferEncoding)
	}
	r, body = get("GET", "/big")
	if len(body) != 200<<10 || strings.Trim(body, "z") != "" {
		t.Errorf("/big: %d bytes", len(body))
	}
	r, body = get("GET", "/nocontent")
	if r.StatusCode != 204 || body != "" {
		t.Errorf("/nocontent: %d %q", r.StatusCode, body)
	}
	r, body = get("GET", "/nope")
	if r.StatusCode != 404 {
		t.Errorf("/nope: %d %q", r.StatusCode, body)
	}
}

func TestAdapterRequest(t *testing.T) {
	_, addr := testServer(t, Config{Handler: stdMux(t)})
	c := dial(t, addr)
	// Chunked body to a std handler, then a lean request, on one connection.
	c.send("POST /std?q=1 HTTP/1.1\r\nHost: example:9\r\nX-Foo: bar\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
	r := c.read("POST")
	if r.body != "abcde" || r.Header.Get("X-Host") != "example:9" || r.Header.Get("X-Query") != "1" ||
		r.Header.Get("X-Foo") != "bar" || r.Header.Get("X-Te") != "chunked" || r.Close {
		t.Fatalf("std request: %q %v", r.body, r.Header)
	}
	c.send(post("/", "lean"))
	if r := c.read("POST"); r.body != "lean" {
		t.Fatalf("lean after std: %q", r.body)
	}
	// Expect: 100-continue through the adapter.
	c.send("POST /std HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
	if r := c.read("POST"); r.StatusCode != 100 {
		t.Fatalf("want 100 Continue, got %d", r.StatusCode)
	}
	c.send("body")
	if r := c.read("POST"); r.body != "body" {
		t.Fatalf("after continue: %q", r.body)
	}
	// A bad request URI.
	c.send("GET nope HTTP/1.1\r\nHost: x\r\n\r\n")
	if r := c.read("GET"); r.StatusCode != 400 || !r.Close {
		t.Fatalf("bad URI: %d", r.StatusCode)
	}
}

func TestAdapterHTTP10Streams(t *testing.T) {
	_, addr := testServer(t, Config{Handler: stdMux(t)})
	// An answer larger than the buffer, to HTTP/1.0: delimited by closing.
	c := dial(t, addr)
	c.send("GET /big HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	r := c.read("GET")
	if len(r.body) != 200<<10 || r.ContentLength != -1 || !r.Close {
		t.Fatalf("1.0 big: %d bytes, length %d, close=%v", len(r.body), r.ContentLength, r.Close)
	}
	// A small one keeps a 1.0 keep-alive connection.
	c = dial(t, addr)
	c.send("GET /text HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	if r := c.read("GET"); r.body != "hello" || r.Header.Get("Connection") != "keep-alive" {
		t.Fatalf("1.0 small: %q %v", r.body, r.Header)
	}
	c.send("GET /text HTTP/1.0\r\n\r\n")
	if r := c.read("GET"); r.body != "hello" {
		t.Fatalf("second: %q", r.body)
	}
	c.expectClosed()
}
