package h1

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// memConn is a net.Conn that reads a fixed input, then EOF, and records
// what is written.
type memConn struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (m *memConn) Read(p []byte) (int, error) {
	// NB: small reads exercise every partial-input path of the parser.
	if len(p) > 7 {
		p = p[:7]
	}
	return m.in.Read(p)
}
func (m *memConn) Write(p []byte) (int, error)      { return m.out.Write(p) }
func (m *memConn) Close() error                     { return nil }
func (m *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (m *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }

var fuzzSeeds = []string{
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;e\r\nabc\r\n0\r\nT: v\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
	"GET /std HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /std HTTP/1.1\r\nHost: y\r\n\r\n",
	"POST /std HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
	"\r\n\nPOST / HTTP/1.1\nHost: x\nContent-Length: 1\nContent-Length: 1\n\nz",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nConnection: close, keep-alive\r\nContent-Length: 0\r\n\r\n",
}

// FuzzConn serves arbitrary bytes as one connection's input: the server
// must neither panic (the handlers' recover is watched through the log) nor
// hang, and whatever it writes must start as an HTTP/1.x answer.
func FuzzConn(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	std := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b)
	})
	f.Fuzz(func(t *testing.T, in []byte) {
		var logs syncBuffer
		srv := NewServer(Config{
			Lean:           &echo{max: 64},
			Handler:        std,
			MaxHeaderBytes: 512,
			Logger:         hclog.New(&hclog.LoggerOptions{Output: &logs}),
		})
		mc := &memConn{in: bytes.NewReader(in)}
		c := srv.newConn(mc)
		done := make(chan struct{})
		go func() { defer close(done); c.serve() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("connection still served after its input ended: %q", in)
		}
		if strings.Contains(logs.String(), "panicked") {
			t.Fatalf("panic serving %q: %s", in, logs.String())
		}
		if out := mc.out.Bytes(); len(out) > 0 && !bytes.HasPrefix(out, []byte("HTTP/1.")) {
			t.Fatalf("wrote %q for %q", out, in)
		}
	})
}

// FuzzParseHeader parses arbitrary header blocks: no panic, and whatever
// parses has a sane shape.
func FuzzParseHeader(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		n := headerEnd(in)
		if n < 0 {
			return
		}
		var r Request
		if err := parseHeader(&r, in[:n]); err != nil {
			return
		}
		if len(r.method) == 0 || len(r.uri) == 0 || r.contentLength < -1 || (r.chunked != (r.contentLength == -1)) {
			t.Fatalf("parsed %q into %+v", in[:n], r)
		}
	})
}
