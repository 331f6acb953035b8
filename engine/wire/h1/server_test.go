package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// echo is a lean handler: it takes POSTs (except to /std), reads the body
// with its max and answers it back with a few fields.
type echo struct {
	max     int64
	errs    chan error    // body read errors, when not nil
	block   chan struct{} // when not nil, ServeLean waits on it
	entered chan struct{} // when not nil, signalled when ServeLean starts
}

func (e *echo) Accept(r *Request) bool {
	return string(r.Method()) == "POST" && string(r.Path()) != "/std"
}

func (e *echo) ServeLean(w *ResponseWriter, r *Request) {
	if e.entered != nil {
		e.entered <- struct{}{}
	}
	if e.block != nil {
		<-e.block
	}
	max := e.max
	if max == 0 {
		max = 1 << 20
	}
	body, err := r.ReadBody(max)
	switch {
	case errors.Is(err, ErrBodyTooLarge):
		_ = w.Send(http.StatusRequestEntityTooLarge, []byte("too large"))
		return
	case err != nil:
		if e.errs != nil {
			e.errs <- err
		}
		_ = w.Send(http.StatusBadRequest, []byte(err.Error()))
		return
	}
	foo, _ := r.Header("x-foo")
	_ = w.Send(http.StatusOK, body, Field{"Content-Type", []byte("text/plain")}, Field{"X-Foo", foo})
}

// testServer starts a Server on a loopback port; it is closed when the
// test ends.
func testServer(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	if cfg.Lean == nil {
		cfg.Lean = &echo{}
	}
	srv := NewServer(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return srv, ln.Addr().String()
}

// client is a raw connection to a test server.
type client struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	// NB: only a hung server trips this.
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

type resp struct {
	*http.Response
	body string
}

// read reads one response for a request of method.
func (c *client) read(method string) resp {
	c.t.Helper()
	r, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		c.t.Fatalf("read body: %v", err)
	}
	return resp{r, string(b)}
}

// expectClosed asserts the server closed the connection (after any
// answer already read).
func (c *client) expectClosed() {
	c.t.Helper()
	b, err := c.br.ReadByte()
	if err == nil {
		c.t.Fatalf("connection still open: read %q", b)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("connection not closed by the server: %v", err)
	}
}

func post(path, body string, hdr ...string) string {
	return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		strings.Join(hdr, "") + "\r\n" + body
}

func TestPipelinedKeepAlive(t *testing.T) {
	_, addr := testServer(t, Config{})
	c := dial(t, addr)
	// Three requests in one write, then one more after the answers.
	c.send(post("/", "one", "X-Foo: a\r\n") + post("/", "", "x-foo:   b  \r\n") + post("/", "three"))
	for _, want := range []struct{ body, foo string }{{"one", "a"}, {"", "b"}, {"three", ""}} {
		r := c.read("POST")
		if r.StatusCode != 200 || r.body != want.body || r.Header.Get("X-Foo") != want.foo || r.Close {
			t.Fatalf("got %d %q foo=%q close=%v, want %q foo=%q", r.StatusCode, r.body, r.Header.Get("X-Foo"), r.Close, want.body, want.foo)
		}
		if r.ContentLength != int64(len(want.body)) || r.Header.Get("Date") == "" {
			t.Errorf("Content-Length %d, Date %q", r.ContentLength, r.Header.Get("Date"))
		}
	}
	c.send(post("/", "four"))
	if r := c.read("POST"); r.body != "four" {
		t.Fatalf("after the pipeline: %q", r.body)
	}
}

func TestLeanAnswerBytes(t *testing.T) {
	_, addr := testServer(t, Config{})
	c := dial(t, addr)
	c.send(post("/", "{}", "X-Foo: v\r\n"))
	line, _ := c.br.ReadString('\n')
	var hdr []string
	for {
		l, err := c.br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == "\r\n" {
			break
		}
		hdr = append(hdr, strings.SplitN(l, ":", 2)[0])
	}
	if line != "HTTP/1.1 200 OK\r\n" || strings.Join(hdr, ",") != "Content-Length,Content-Type,X-Foo,Date" {
		t.Fatalf("status line %q, header order %v", line, hdr)
	}
}

func TestChunkedBody(t *testing.T) {
	_, addr := testServer(t, Config{})
	c := dial(t, addr)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5;ext=1\r\nhello\r\n" + "7 \r\n, world\r\n" + "0\r\nTrailer: x\r\n\r\n")
	if r := c.read("POST"); r.StatusCode != 200 || r.body != "hello, world" || r.Close {
		t.Fatalf("chunked: %d %q close=%v", r.StatusCode, r.body, r.Close)
	}
	// The connection is still in step: a second chunked request, then a plain one.
	c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + post("/", "next"))
	if r := c.read("POST"); r.body != "abc" {
		t.Fatalf("second chunked: %q", r.body)
	}
	if r := c.read("POST"); r.body != "next" {
		t.Fatalf("after chunked: %q", r.body)
	}

	// Malformed framing: the handler sees an error, the connection closes.
	errs := make(chan error, 1)
	_, addr = testServer(t, Config{Lean: &echo{errs: errs}})
	c = dial(t, addr)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
	if r := c.read("POST"); r.StatusCode != 400 || !r.Close {
		t.Fatalf("bad chunk: %d close=%v", r.StatusCode, r.Close)
	}
	if err := <-errs; err == nil {
		t.Fatal("no error for bad chunk size")
	}
	c.expectClosed()
}

func TestChunkedTooLarge(t *testing.T) {
	_, addr := testServer(t, Config{Lean: &echo{max: 10}})
	c := dial(t, addr)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n")
	if r := c.read("POST"); r.StatusCode != 413 {
		t.Fatalf("chunked over max: %d %q", r.StatusCode, r.body)
	}
}

func TestBodyTooLarge(t *testing.T) {
	_, addr := testServer(t, Config{Lean: &echo{max: 100}})
	// A small excess is discarded and the connection kept (net/http's rule).
	c := dial(t, addr)
	c.send(post("/", strings.Repeat("a", 1000)) + post("/", "ok"))
	if r := c.read("POST"); r.StatusCode != 413 || r.Close {
		t.Fatalf("1000 bytes over a 100 max: %d close=%v", r.StatusCode, r.Close)
	}
	if r := c.read("POST"); r.body != "ok" {
		t.Fatalf("next: %q", r.body)
	}
	// A large one is not read: the answer comes at once and closes.
	c = dial(t, addr)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\npartial")
	if r := c.read("POST"); r.StatusCode != 413 || !r.Close {
		t.Fatalf("declared 100 MB: %d close=%v", r.StatusCode, r.Close)
	}
	c.expectClosed()
}

func TestExpectContinue(t *testing.T) {
	_, addr := testServer(t, Config{Lean: &echo{max: 100}})
	c := dial(t, addr)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	if r := c.read("POST"); r.StatusCode != 100 {
		t.Fatalf("want 100 Continue first, got %d", r.StatusCode)
	}
	c.send("hello")
	if r := c.read("POST"); r.StatusCode != 200 || r.body != "hello" || r.Close {
		t.Fatalf("after continue: %d %q close=%v", r.StatusCode, r.body, r.Close)
	}
	// Refused without reading: no 100 Continue, and the connection closes
	// (the client may or may not send the body).
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\nExpect: 100-Continue\r\n\r\n")
	if r := c.read("POST"); r.StatusCode != 413 || !r.Close {
		t.Fatalf("refused: %d close=%v", r.StatusCode, r.Close)
	}
	c.expectClosed()
	// Any other expectation: 417.
	c = dial(t, addr)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nExpect: teapot\r\n\r\n")
	if r := c.read("POST"); r.StatusCode != 417 {
		t.Fatalf("Expect: teapot: %d", r.StatusCode)
	}
}

func TestHTTP10(t *testing.T) {
	_, addr := testServer(t, Config{})
	c := dial(t, addr)
	c.send("POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi")
	r := c.read("POST")
	if r.Proto != "HTTP/1.0" || r.body != "hi" || r.Header.Get("Connection") != "" {
		t.Fatalf("1.0: %s %q Connection=%q", r.Proto, r.body, r.Header.Get("Connection"))
	}
	c.expectClosed()

	c = dial(t, addr)
	c.send("POST / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi")
	if r := c.read("POST"); r.Header.Get("Connection") != "keep-alive" || r.body != "hi" {
		t.Fatalf("1.0 keep-alive: Connection=%q %q", r.Header.Get("Connection"), r.body)
	}
	c.send("POST / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nbye")
	if r := c.read("POST"); r.body != "bye" {
		t.Fatalf("second 1.0 request: %q", r.body)
	}
}

func TestConnectionClose(t *testing.T) {
	_, addr := testServer(t, Config{})
	c := dial(t, addr)
	c.send(post("/", "x", "Connection: close\r\n"))
	if r := c.read("POST"); !r.Close || r.body != "x" {
		t.Fatalf("Connection: close: close=%v %q", r.Close, r.body)
	}
	c.expectClosed()
}

func TestMalformedRequests(t *testing.T) {
	_, addr := testServer(t, Config{MaxHeaderBytes: 1024})
	for _, tc := range []struct {
		name, req string
		status    int
	}{
		{"no version", "POST /\r\n\r\n", 400},
		{"bad version", "POST / HTTP/x.1\r\nHost: x\r\n\r\n", 400},
		{"HTTP/2", "POST / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"no host", "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 400},
		{"two hosts", "POST / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"no colon", "POST / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", 400},
		{"space in name", "POST / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", 400},
		{"control in value", "POST / HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n", 400},
		{"bad length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400},
		{"two lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
		{"length and chunked", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"gzip coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"header too large", "POST / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 2000) + "\r\n\r\n", 431},
		{"unterminated header too large", "POST / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 2000), 431},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			c.send(tc.req)
			r := c.read("POST")
			if r.StatusCode != tc.status || !r.Close || !strings.HasPrefix(r.body, strconv.Itoa(tc.status)+" ") {
				t.Fatalf("got %d close=%v %q, want %d", r.StatusCode, r.Close, r.body, tc.status)
			}
			c.expectClosed()
		})
	}
	// Empty lines before a request are skipped; two identical lengths pass.
	c := dial(t, addr)
	c.send("\r\n\r\nPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok")
	if r := c.read("POST"); r.body != "ok" {
		t.Fatalf("leading CRLF: %d %q", r.StatusCode, r.body)
	}
	// Bare LF line ends are accepted, as by net/http.
	c.send("POST / HTTP/1.1\nHost: x\nContent-Length: 2\n\nlf")
	if r := c.read("POST"); r.body != "lf" {
		t.Fatalf("LF: %d %q", r.StatusCode, r.body)
	}
}

func TestSlowHeaderTimesOut(t *testing.T) {
	_, addr := testServer(t, Config{ReadHeaderTimeout: 100 * time.Millisecond})
	c := dial(t, addr)
	c.send("POST / HTTP/1.1\r\nHost: x\r\n") // never finished
	c.expectClosed()
}

func TestSlowBodyTimesOut(t *testing.T) {
	errs := make(chan error, 1)
	_, addr := testServer(t, Config{Lean: &echo{errs: errs}, ReadTimeout: 150 * time.Millisecond})
	c := dial(t, addr)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b")
	var ne net.Error
	if err := <-errs; !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("handler saw %v, want a timeout", err)
	}
	c.read("POST") // the handler's 400
	c.expectClosed()
}

func TestIdleTimeout(t *testing.T) {
	_, addr := testServer(t, Config{IdleTimeout: 100 * time.Millisecond})
	c := dial(t, addr)
	c.send(post("/", "a"))
	c.read("POST")
	c.expectClosed()
}

func TestClientGoneMidBody(t *testing.T) {
	errs := make(chan error, 1)
	srv, addr := testServer(t, Config{Lean: &echo{errs: errs}})
	c := dial(t, addr)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nsome")
	_ = c.nc.Close()
	if err := <-errs; !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("handler saw %v, want unexpected EOF", err)
	}
	// The server serves on.
	c = dial(t, addr)
	c.send(post("/", "still"))
	if r := c.read("POST"); r.body != "still" {
		t.Fatalf("after a disconnect: %q", r.body)
	}
	waitConns(t, srv, 1)
}

// waitConns polls until the server tracks n connections.
func waitConns(t *testing.T, s *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		got := len(s.conns)
		s.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, want %d", got, n)
		}
		time.Sleep(time.Millisecond) // NB: polling a condition, with a deadline
	}
}

func TestShutdownGraceful(t *testing.T) {
	block, entered := make(chan struct{}), make(chan struct{}, 1)
	srv, addr := testServer(t, Config{Lean: &echo{block: block, entered: entered}})
	busy, idle := dial(t, addr), dial(t, addr)
	busy.send(post("/", "in flight"))
	<-entered
	waitConns(t, srv, 2)

	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	idle.expectClosed() // idle connections go at once
	waitConns(t, srv, 1)
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	default:
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("still accepting after Shutdown")
	}
	close(block)
	r := busy.read("POST")
	if r.body != "in flight" || !r.Close {
		t.Fatalf("in-flight answer %q close=%v", r.body, r.Close)
	}
	busy.expectClosed()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestShutdownDeadline(t *testing.T) {
	block, entered := make(chan struct{}), make(chan struct{}, 1)
	srv, addr := testServer(t, Config{Lean: &echo{block: block, entered: entered}})
	c := dial(t, addr)
	c.send(post("/", "x"))
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown with a done ctx: %v", err)
	}
	_ = srv.Close()
	c.expectClosed()
	close(block)
}

func TestHandlerPanicClosesConn(t *testing.T) {
	_, addr := testServer(t, Config{Lean: panicky{}})
	c := dial(t, addr)
	c.send(post("/", "x"))
	c.expectClosed()
	c = dial(t, addr)
	c.send(post("/", "x"))
	c.expectClosed() // the server is still up
}

type panicky struct{}

func (panicky) Accept(*Request) bool                { return true }
func (panicky) ServeLean(*ResponseWriter, *Request) { panic("boom") }

func TestManyConnections(t *testing.T) {
	_, addr := testServer(t, Config{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
			br := bufio.NewReader(nc)
			for j := range 50 {
				want := fmt.Sprintf("c%d-r%d", i, j)
				if _, err := io.WriteString(nc, post("/", want)); err != nil {
					errs <- err
					return
				}
				r, err := http.ReadResponse(br, nil)
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(r.Body)
				if string(b) != want {
					errs <- fmt.Errorf("got %q want %q", b, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{MaxHeaderBytes: -1, ReadHeaderTimeout: -1, IdleTimeout: -1}.Validate()
	if err == nil || strings.Count(err.Error(), "h1:") != 3 {
		t.Fatalf("Validate: %v", err)
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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
