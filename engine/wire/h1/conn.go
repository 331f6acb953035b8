package h1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Connection states, for Shutdown.
const (
	stateIdle   int32 = iota // between requests (or before the first)
	stateActive              // a request is being read or served
	stateClosed              // closed by Shutdown or Close
)

// Buffer sizes. A connection's read buffer grows (for a large header block
// or a pipelined burst) and is pooled only while it is small.
const (
	readBufSize    = 4 << 10
	writeBufSize   = 4 << 10
	maxPooledBuf   = 64 << 10
	copyBodyUnder  = 16 << 10 // smaller bodies are copied behind the headers: one write
	minReadBufRoom = 1 << 10
)

var (
	readBufPool  = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}
	writeBufPool = sync.Pool{New: func() any { b := make([]byte, 0, writeBufSize); return &b }}
)

// conn is one client connection, served by one goroutine.
type conn struct {
	srv    *Server
	nc     net.Conn
	ctx    context.Context
	cancel context.CancelFunc
	state  atomic.Int32

	rbufp *[]byte // pooled read buffer; unread bytes are rbuf[r:w]
	rbuf  []byte
	r, w  int
	// pinned is set while a request is being served: its header slices
	// alias rbuf[:r], so the buffer may not be compacted in place.
	pinned bool

	wbufp *[]byte
	wbuf  []byte

	req Request
	rw  ResponseWriter

	// linger is set when the connection ends after a request: the client
	// may still be sending (a body refused as too large, a bad request),
	// so close shuts the write side and drains before closing (see close).
	linger bool
}

// Lingering close, as net/http's closeWriteAndWait: after the last answer
// the write side is shut (the client reads the answer, then EOF) and what
// the client still sends is read and discarded for up to lingerTimeout or
// lingerBytes, so that closing does not reset the connection under an
// answer the client has not read yet.
const (
	lingerTimeout = 500 * time.Millisecond
	lingerBytes   = 4 << 20
)

// errClosing ends a connection quietly: its client or the server is done.
var errClosing = errors.New("h1: connection closing")

func (c *conn) serve() {
	c.rbufp = readBufPool.Get().(*[]byte)
	c.rbuf = *c.rbufp
	c.wbufp = writeBufPool.Get().(*[]byte)
	c.wbuf = (*c.wbufp)[:0]
	defer c.close()

	for {
		if !c.next() {
			return
		}
		keep := c.serveOne()
		c.pinned = false
		if !keep {
			c.linger = true
			return
		}
		c.state.Store(stateIdle)
		if c.srv.shutting.Load() {
			return
		}
	}
}

// close releases everything the connection holds.
func (c *conn) close() {
	c.state.Store(stateClosed)
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok && c.linger {
		if cw.CloseWrite() == nil {
			_ = c.nc.SetReadDeadline(time.Now().Add(lingerTimeout))
			_, _ = io.CopyN(io.Discard, c.nc, lingerBytes)
		}
	}
	_ = c.nc.Close()
	c.cancel()
	if cap(c.rbuf) <= maxPooledBuf {
		*c.rbufp = c.rbuf[:cap(c.rbuf)]
		readBufPool.Put(c.rbufp)
	}
	if cap(c.wbuf) <= maxPooledBuf {
		*c.wbufp = c.wbuf[:0]
		writeBufPool.Put(c.wbufp)
	}
	c.rbuf, c.wbuf = nil, nil
	c.srv.removeConn(c)
}

// next waits for the next request's first byte and marks the connection
// active. It reports false when the connection should end.
func (c *conn) next() bool {
	if c.r == c.w {
		c.r, c.w = 0, 0
		_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.IdleTimeout))
		if err := c.fill(); err != nil {
			return false
		}
	}
	return c.state.CompareAndSwap(stateIdle, stateActive)
}

// serveOne reads, routes and answers one request. It reports whether the
// connection may carry another.
func (c *conn) serveOne() bool {
	start := time.Now()
	cfg := &c.srv.cfg
	_ = c.nc.SetReadDeadline(start.Add(cfg.ReadHeaderTimeout))
	r := &c.req
	r.reset()
	if err := c.readHeader(r); err != nil {
		var bad *errBadRequest
		if errors.As(err, &bad) {
			c.writeError(bad)
		}
		return false
	}
	if cfg.ReadTimeout > 0 {
		_ = c.nc.SetReadDeadline(start.Add(cfg.ReadTimeout))
	} else {
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	c.pinned = true

	if lean := cfg.Lean; lean != nil && lean.Accept(r) {
		return c.serveLean(lean, r)
	}
	return c.serveStd(r)
}

// serveLean runs the lean handler; a panic closes the connection, as
// net/http does.
func (c *conn) serveLean(lean LeanHandler, r *Request) (keep bool) {
	w := &c.rw
	w.reset()
	defer func() {
		if p := recover(); p != nil {
			c.logPanic(p)
			keep = false
		}
	}()
	lean.ServeLean(w, r)
	if !w.sent {
		w.Send(http.StatusInternalServerError, nil)
	}
	return w.keep
}

func (c *conn) logPanic(p any) {
	if p == http.ErrAbortHandler {
		return
	}
	c.srv.log.Error("handler panicked", "remote", c.nc.RemoteAddr().String(),
		"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
}

// readHeader reads and parses the next header block into r.
func (c *conn) readHeader(r *Request) error {
	// NB: RFC 9112 §2.2 lets a server skip empty lines before a request.
	for {
		for c.r < c.w && (c.rbuf[c.r] == '\r' || c.rbuf[c.r] == '\n') {
			c.r++
		}
		if c.r < c.w {
			break
		}
		c.r, c.w = 0, 0
		if err := c.fill(); err != nil {
			return err
		}
	}
	max := c.srv.cfg.MaxHeaderBytes
	for {
		if n := headerEnd(c.rbuf[c.r:c.w]); n >= 0 {
			if n > max {
				return &errBadRequest{status: http.StatusRequestHeaderFieldsTooLarge}
			}
			block := c.rbuf[c.r : c.r+n]
			c.r += n
			return parseHeader(r, block)
		}
		if c.w-c.r > max {
			return &errBadRequest{status: http.StatusRequestHeaderFieldsTooLarge}
		}
		if err := c.fill(); err != nil {
			return err
		}
	}
}

// fill reads more bytes into the buffer, making room first: by compacting
// in place when no request pins the buffer, else by moving the unread bytes
// to a fresh buffer (the old one stays with the request's slices).
func (c *conn) fill() error {
	if len(c.rbuf)-c.w < minReadBufRoom {
		unread := c.w - c.r
		size := len(c.rbuf)
		if unread+minReadBufRoom > size {
			size = 2 * (unread + minReadBufRoom)
		}
		if c.pinned || size != len(c.rbuf) {
			nb := make([]byte, size)
			copy(nb, c.rbuf[c.r:c.w])
			c.rbuf = nb // NB: the pooled buffer is dropped; c.rbufp gets nb at close
		} else {
			copy(c.rbuf, c.rbuf[c.r:c.w])
		}
		c.r, c.w = 0, unread
	}
	n, err := c.nc.Read(c.rbuf[c.w:])
	c.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// read reads body bytes: buffered ones first, then straight from the
// connection (p is never longer than what is left of the body, so nothing
// of the next request is consumed).
func (c *conn) read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.r < c.w {
		n := copy(p, c.rbuf[c.r:c.w])
		c.r += n
		return n, nil
	}
	return c.nc.Read(p)
}

// readLine returns the next line (without CR LF) from the buffer, reading
// more as needed; a line over max bytes is an error.
func (c *conn) readLine(max int) ([]byte, error) {
	for {
		buf := c.rbuf[c.r:c.w]
		for i, b := range buf {
			if b == '\n' {
				line := buf[:i]
				c.r += i + 1
				if n := len(line); n > 0 && line[n-1] == '\r' {
					line = line[:n-1]
				}
				return line, nil
			}
		}
		if len(buf) > max {
			return nil, badRequest("line too long")
		}
		if err := c.fill(); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

var continueLine = []byte("HTTP/1.1 100 Continue\r\n\r\n")

func (c *conn) writeContinue() error {
	return c.write(continueLine, nil)
}

// write sends head then body (either may be empty) in one system call.
func (c *conn) write(head, body []byte) error {
	if t := c.srv.cfg.WriteTimeout; t > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(t))
	}
	var err error
	if len(body) == 0 {
		_, err = c.nc.Write(head)
	} else {
		bufs := net.Buffers{head, body}
		_, err = bufs.WriteTo(c.nc)
	}
	return err
}

// writeError answers a request the server could not parse, as net/http
// does, and leaves the connection to be closed.
func (c *conn) writeError(e *errBadRequest) {
	text := strconv.Itoa(e.status) + " " + http.StatusText(e.status)
	body := text
	if e.reason != "" && e.status != http.StatusRequestHeaderFieldsTooLarge {
		body += ": " + e.reason
	}
	_ = c.write([]byte("HTTP/1.1 "+text+"\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"+body), nil)
}

// keepAlive decides, once the handler is done with the body, whether the
// connection carries another request after this answer.
func (c *conn) keepAlive(r *Request) bool {
	if r.wantClose || c.srv.shutting.Load() {
		return false
	}
	return r.finishBody()
}

// dateCache holds the Date header value of the current second.
type dateCache struct {
	sec int64
	val [29]byte // "Mon, 02 Jan 2006 15:04:05 GMT"
}

var date atomic.Pointer[dateCache]

// appendDate appends "Date: <now>\r\n" as net/http formats it.
func appendDate(b []byte, now time.Time) []byte {
	sec := now.Unix()
	d := date.Load()
	if d == nil || d.sec != sec {
		d = &dateCache{sec: sec}
		now.UTC().AppendFormat(d.val[:0], http.TimeFormat)
		date.Store(d)
	}
	b = append(b, "Date: "...)
	b = append(b, d.val[:]...)
	return append(b, "\r\n"...)
}

// appendStatusLine appends the status line as net/http writes it.
func appendStatusLine(b []byte, minor, status int) []byte {
	if minor >= 1 {
		b = append(b, "HTTP/1.1 "...)
	} else {
		b = append(b, "HTTP/1.0 "...)
	}
	if text := http.StatusText(status); text != "" {
		b = strconv.AppendInt(b, int64(status), 10)
		b = append(b, ' ')
		b = append(b, text...)
		return append(b, "\r\n"...)
	}
	return fmt.Appendf(b, "%03d status code %d\r\n", status, status)
}

// bodyAllowed reports whether an answer with status may have a body.
func bodyAllowed(status int) bool {
	return !(status >= 100 && status <= 199) && status != http.StatusNoContent && status != http.StatusNotModified
}
