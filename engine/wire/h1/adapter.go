package h1

import (
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"time"
)

// The adapter serves a request with Config.Handler: it builds a
// *http.Request (URL, Header, Host, Body, ContentLength, TransferEncoding,
// Close, RemoteAddr, RequestURI, the connection's context) and an
// http.ResponseWriter (also an http.Flusher) that follows net/http's rules:
// headers frozen at WriteHeader, Content-Type sniffed when unset,
// Content-Length set when the handler finishes within the buffer, chunked
// (HTTP/1.1) or connection-delimited (HTTP/1.0) otherwise, no body for HEAD,
// 1xx, 204 and 304. It is off the hot path: clarity over speed.

// stdBufferLimit is how much of a handler's answer is held back to learn
// its length; past it (or at Flush) the answer streams.
const stdBufferLimit = 64 << 10

func (c *conn) serveStd(r *Request) (keep bool) {
	req, err := c.httpRequest(r)
	if err != nil {
		c.writeError(badRequest("invalid request URI"))
		return false
	}
	w := &stdWriter{c: c, r: r, header: http.Header{}, contentLength: -1, head: req.Method == http.MethodHead}
	defer func() {
		if p := recover(); p != nil {
			c.logPanic(p)
			keep = false
		}
	}()
	c.srv.cfg.Handler.ServeHTTP(w, req)
	return w.finish()
}

// httpRequest builds the *http.Request of r.
func (c *conn) httpRequest(r *Request) (*http.Request, error) {
	uri := string(r.uri)
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil, err
	}
	h := make(http.Header, len(r.fields))
	for _, f := range r.fields {
		k := textproto.CanonicalMIMEHeaderKey(string(f.name))
		h[k] = append(h[k], string(f.value))
	}
	host := u.Host
	if host == "" {
		host = string(r.host)
	}
	delete(h, "Host")
	req := &http.Request{
		Method:     string(r.method),
		URL:        u,
		Proto:      "HTTP/1." + strconv.Itoa(r.minor),
		ProtoMajor: 1,
		ProtoMinor: r.minor,
		Header:     h,
		Host:       host,
		RemoteAddr: c.nc.RemoteAddr().String(),
		RequestURI: uri,
		Close:      r.wantClose,
	}
	switch {
	case r.chunked:
		req.ContentLength = -1
		req.TransferEncoding = []string{"chunked"}
		req.Body = bodyReader{r}
	case r.contentLength > 0:
		req.ContentLength = r.contentLength
		req.Body = bodyReader{r}
	default:
		req.Body = http.NoBody
	}
	return req.WithContext(c.ctx), nil
}

// stdWriter is the adapter's http.ResponseWriter.
type stdWriter struct {
	c    *conn
	r    *Request
	head bool

	header        http.Header // the handler's
	sent          http.Header // frozen at WriteHeader
	status        int
	contentLength int64 // declared by the handler, -1 when not

	buf       []byte // held-back body
	committed bool   // the header block is on the wire
	chunked   bool
	closeConn bool // the answer is delimited by closing the connection
	written   int64
	keep      bool
	failed    bool // a write failed: the connection is gone
}

var _ http.Flusher = (*stdWriter)(nil)

func (w *stdWriter) Header() http.Header { return w.header }

func (w *stdWriter) WriteHeader(status int) {
	if w.sent != nil {
		return // NB: net/http logs a superfluous call; we ignore it
	}
	if status < 100 || status > 999 {
		panic("h1: invalid WriteHeader code " + strconv.Itoa(status))
	}
	if status >= 100 && status <= 199 && status != http.StatusSwitchingProtocols {
		return // NB: interim answers are not sent
	}
	w.status = status
	w.sent = w.header.Clone()
	if v := w.sent.Get("Content-Length"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			w.contentLength = n
		} else {
			w.sent.Del("Content-Length")
		}
	}
}

func (w *stdWriter) Write(p []byte) (int, error) {
	if w.sent == nil {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.failed {
		return 0, errClosing
	}
	if w.contentLength >= 0 && w.written+int64(len(p)) > w.contentLength {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if w.head {
		if !w.committed && len(w.buf) < 512 {
			w.buf = append(w.buf, p[:min(len(p), 512-len(w.buf))]...) // for sniffing only
		}
		return len(p), nil
	}
	if !w.committed {
		w.buf = append(w.buf, p...)
		if len(w.buf) > stdBufferLimit {
			w.commit(false)
			w.flushBuf()
		}
		return len(p), nil
	}
	w.writeChunk(p)
	if w.failed {
		return 0, errClosing
	}
	return len(p), nil
}

// Flush sends what is held back and makes the rest of the answer stream.
func (w *stdWriter) Flush() {
	if w.sent == nil {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(false)
	}
	w.flushBuf()
}

func (w *stdWriter) flushBuf() {
	if w.head || len(w.buf) == 0 {
		w.buf = w.buf[:0]
		return
	}
	b := w.buf
	w.buf = w.buf[:0]
	w.writeChunk(b)
}

// writeChunk sends p of a committed answer, framed when chunked.
func (w *stdWriter) writeChunk(p []byte) {
	if len(p) == 0 || w.failed || w.head || !bodyAllowed(w.status) {
		return
	}
	var err error
	if w.chunked {
		var pre [20]byte
		hdr := strconv.AppendInt(pre[:0], int64(len(p)), 16)
		hdr = append(hdr, "\r\n"...)
		err = w.c.write(hdr, append(p[:len(p):len(p)], "\r\n"...))
	} else {
		err = w.c.write(p, nil)
	}
	if err != nil {
		w.failed = true
	}
}

// commit writes the header block. final: the handler has returned and
// w.buf is the whole body.
func (w *stdWriter) commit(final bool) {
	w.committed = true
	c, r, h := w.c, w.r, w.sent
	status := w.status
	var contentType, contentLength, transferEncoding string

	if bodyAllowed(status) {
		_, haveType := h["Content-Type"]
		if !haveType && h.Get("Content-Encoding") == "" && len(w.buf) > 0 {
			contentType = http.DetectContentType(w.buf)
		}
	} else {
		for _, k := range []string{"Content-Length", "Transfer-Encoding"} {
			h.Del(k)
		}
		if status == http.StatusNotModified {
			h.Del("Content-Type")
		}
	}
	h.Del("Transfer-Encoding")
	hasCL := w.contentLength >= 0 && bodyAllowed(status)
	if final && !hasCL && bodyAllowed(status) && (!w.head || w.written > 0) {
		contentLength = strconv.FormatInt(w.written, 10)
		hasCL = true
	}
	switch {
	case w.head || !bodyAllowed(status) || hasCL:
	case r.minor >= 1:
		w.chunked = true
		transferEncoding = "chunked"
	default:
		w.closeConn = true
	}

	w.keep = !w.closeConn && !hasToken(h.Get("Connection"), "close") && c.keepAlive(r)
	if !w.keep {
		h.Del("Connection")
	}
	var connection string
	switch {
	case !w.keep && r.minor >= 1:
		connection = "close"
	case w.keep && r.minor == 0 && r.keepAlive10:
		if _, ok := h["Connection"]; !ok {
			connection = "keep-alive"
		}
	}

	var b bytes.Buffer
	b.Write(appendStatusLine(nil, r.minor, status))
	_ = h.Write(&b) // sorted by name, as net/http
	if _, ok := h["Date"]; !ok {
		b.Write(appendDate(nil, time.Now()))
	}
	if contentLength != "" {
		b.WriteString("Content-Length: " + contentLength + "\r\n")
	}
	for _, kv := range [...][2]string{{"Content-Type", contentType}, {"Connection", connection}, {"Transfer-Encoding", transferEncoding}} {
		if kv[1] != "" {
			b.WriteString(kv[0] + ": " + kv[1] + "\r\n")
		}
	}
	b.WriteString("\r\n")
	if err := c.write(b.Bytes(), nil); err != nil {
		w.failed = true
	}
}

// finish completes the answer after the handler returned and reports
// whether the connection carries another request.
func (w *stdWriter) finish() bool {
	if w.sent == nil {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(true)
		w.flushBuf()
		return w.keep && !w.failed && (w.contentLength < 0 || w.written == w.contentLength || w.head)
	}
	w.flushBuf()
	if w.chunked && !w.failed {
		if err := w.c.write([]byte("0\r\n\r\n"), nil); err != nil {
			w.failed = true
		}
	}
	if w.contentLength >= 0 && w.written != w.contentLength && !w.head && bodyAllowed(w.status) {
		return false // the client is waiting for bytes that will not come
	}
	return w.keep && !w.failed
}

// hasToken reports whether the comma-separated v has token tok (ignoring
// case).
func hasToken(v, tok string) bool {
	found := false
	forEachToken([]byte(v), func(t []byte) {
		if equalFold(t, tok) {
			found = true
		}
	})
	return found
}
