package h1

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
)

// ErrBodyTooLarge is returned by Request.ReadBody for a body over its max.
var ErrBodyTooLarge = errors.New("h1: request body too large")

// errBadRequest carries the status and reason of a request the server
// answers itself (400, 417, 431, 501, 505).
type errBadRequest struct {
	status int
	reason string // appended to the answer's body after ": ", may be ""
}

func (e *errBadRequest) Error() string { return "h1: " + http.StatusText(e.status) + ": " + e.reason }

func badRequest(reason string) *errBadRequest {
	return &errBadRequest{status: http.StatusBadRequest, reason: reason}
}

// field is one header field, both slices aliasing the read buffer.
type field struct{ name, value []byte }

// Request is one parsed request. Its byte slices alias the connection's
// read buffer: they are valid until the handler returns.
type Request struct {
	c *conn

	method, uri []byte
	minor       int // HTTP/1.<minor>; 0 or 1
	fields      []field
	host        []byte
	hosts       int

	contentLength  int64 // -1: chunked
	chunked        bool
	wantClose      bool // Connection: close, or HTTP/1.0 without keep-alive
	keepAlive10    bool // HTTP/1.0 with Connection: keep-alive
	expectContinue bool

	// body state
	remaining    int64 // Content-Length bytes not yet read; chunked: of the current chunk
	bodyEOF      bool  // the whole body has been read
	bodyErr      error // a read of the body failed: the connection must close
	sentContinue bool
	chunkStarted bool // chunked: the first chunk header was read
}

// reset makes r ready to parse the next request on its connection.
func (r *Request) reset() {
	c, fields := r.c, r.fields[:0]
	*r = Request{c: c, fields: fields}
}

// Method returns the request method as sent (case-sensitive, "POST").
func (r *Request) Method() []byte { return r.method }

// URI returns the request target as sent ("/", "/metrics?x=1").
func (r *Request) URI() []byte { return r.uri }

// Path returns the request target up to its query.
func (r *Request) Path() []byte {
	if i := bytes.IndexByte(r.uri, '?'); i >= 0 {
		return r.uri[:i]
	}
	return r.uri
}

// ProtoMinor returns 1 for HTTP/1.1 (and later 1.x), 0 for HTTP/1.0.
func (r *Request) ProtoMinor() int { return r.minor }

// NumFields returns the number of header fields, in the order sent.
func (r *Request) NumFields() int { return len(r.fields) }

// Field returns the i'th header field's name (as sent) and value (without
// surrounding white space).
func (r *Request) Field(i int) (name, value []byte) { return r.fields[i].name, r.fields[i].value }

// Header returns the value of the first field named name (compared
// case-insensitively, as net/http's Header.Get) and whether there is one.
func (r *Request) Header(name string) ([]byte, bool) {
	for i := range r.fields {
		if equalFold(r.fields[i].name, name) {
			return r.fields[i].value, true
		}
	}
	return nil, false
}

// ContentLength returns the declared body length, -1 for a chunked body.
func (r *Request) ContentLength() int64 { return r.contentLength }

// Context returns the connection's context, cancelled when the server
// closes the connection (see the package doc).
func (r *Request) Context() context.Context { return r.c.ctx }

// RemoteAddr returns the client's address.
func (r *Request) RemoteAddr() net.Addr { return r.c.nc.RemoteAddr() }

// exactReadMax is the largest declared Content-Length read into a buffer
// allocated up front; a larger body grows its buffer as bytes arrive, so a
// client cannot make the server allocate max bytes by merely claiming them.
const exactReadMax = 1 << 20

// ReadBody reads the whole body, at most max bytes, into a freshly
// allocated slice (nil for an empty body). A body whose declared length is
// over max is not read: ReadBody returns ErrBodyTooLarge at once (the
// connection is then closed after the answer); a chunked one is read until
// it passes max. Any other error means the body could not be read (client
// gone, timeout, bad chunked framing).
func (r *Request) ReadBody(max int64) ([]byte, error) {
	switch n := r.contentLength; {
	case n > max:
		return nil, ErrBodyTooLarge
	case n == 0 || r.bodyEOF:
		return nil, nil
	case n > 0 && n <= exactReadMax:
		b := make([]byte, n)
		if _, err := io.ReadFull(bodyReader{r}, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	b := make([]byte, 0, 512)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		end := cap(b)
		if int64(end) > max+1 {
			end = int(max + 1) // NB: one byte past max is enough to know
		}
		n, err := r.readBody(b[len(b):end])
		b = b[:len(b)+n]
		if int64(len(b)) > max {
			return nil, ErrBodyTooLarge
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// bodyReader reads a request's body; it is the http.Request.Body of the
// adapter.
type bodyReader struct{ r *Request }

func (b bodyReader) Read(p []byte) (int, error) { return b.r.readBody(p) }
func (b bodyReader) Close() error               { return nil }

// readBody reads the next bytes of the body, sending "100 Continue" first
// when the client asked for it. It returns io.EOF at the end of the body.
func (r *Request) readBody(p []byte) (int, error) {
	if r.bodyEOF {
		return 0, io.EOF
	}
	if r.bodyErr != nil {
		return 0, r.bodyErr
	}
	if r.expectContinue && !r.sentContinue {
		r.sentContinue = true
		if err := r.c.writeContinue(); err != nil {
			r.bodyErr = err
			return 0, err
		}
	}
	var n int
	var err error
	if r.chunked {
		n, err = r.readChunked(p)
	} else {
		n, err = r.readFixed(p)
	}
	if err != nil && err != io.EOF {
		r.bodyErr = err
	}
	return n, err
}

func (r *Request) readFixed(p []byte) (int, error) {
	if r.remaining == 0 {
		r.bodyEOF = true
		return 0, io.EOF
	}
	if int64(len(p)) > r.remaining {
		p = p[:r.remaining]
	}
	n, err := r.c.read(p)
	r.remaining -= int64(n)
	if r.remaining == 0 {
		r.bodyEOF = true
		return n, io.EOF
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// maxChunkLine bounds a chunk-size line (size plus extensions).
const maxChunkLine = 4096

func (r *Request) readChunked(p []byte) (int, error) {
	for r.remaining == 0 {
		if r.chunkStarted {
			// The CRLF after a chunk's data.
			line, err := r.c.readLine(maxChunkLine)
			if err != nil {
				return 0, err
			}
			if len(line) != 0 {
				return 0, badRequest("malformed chunked encoding")
			}
		}
		r.chunkStarted = true
		line, err := r.c.readLine(maxChunkLine)
		if err != nil {
			return 0, err
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return 0, badRequest("malformed chunked encoding")
		}
		if size == 0 {
			// Trailer fields, read and ignored, up to the empty line.
			total := 0
			for {
				line, err := r.c.readLine(maxChunkLine)
				if err != nil {
					return 0, err
				}
				if len(line) == 0 {
					break
				}
				if total += len(line); total > r.c.srv.cfg.MaxHeaderBytes {
					return 0, badRequest("trailer too large")
				}
			}
			r.bodyEOF = true
			return 0, io.EOF
		}
		r.remaining = size
	}
	if int64(len(p)) > r.remaining {
		p = p[:r.remaining]
	}
	n, err := r.c.read(p)
	r.remaining -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// parseChunkSize parses "<hex>[;ext]" (white space before ';' allowed).
func parseChunkSize(line []byte) (int64, bool) {
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, " \t")
	if len(line) == 0 || len(line) > 15 { // 15 hex digits stay below 2^63
		return 0, false
	}
	var n int64
	for _, b := range line {
		switch {
		case b >= '0' && b <= '9':
			b -= '0'
		case b >= 'a' && b <= 'f':
			b -= 'a' - 10
		case b >= 'A' && b <= 'F':
			b -= 'A' - 10
		default:
			return 0, false
		}
		n = n<<4 | int64(b)
	}
	return n, true
}

// maxDiscard is how much unread body is read and dropped after the answer
// to keep the connection; more closes it (net/http's
// maxPostHandlerReadBytes).
const maxDiscard = 256 << 10

// finishBody makes the connection ready for the next request: it reports
// whether the rest of the body was consumed. A body the client was told
// to hold back (Expect: 100-continue, never answered) is not asked for.
func (r *Request) finishBody() bool {
	switch {
	case r.bodyErr != nil:
		return false
	case r.bodyEOF || (!r.chunked && r.contentLength == 0):
		return true
	case r.expectContinue && !r.sentContinue:
		return false
	case !r.chunked && r.remaining > maxDiscard:
		return false
	}
	var scratch [4096]byte
	total := 0
	for total <= maxDiscard {
		n, err := r.readBody(scratch[:])
		total += n
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}

// equalFold reports whether b equals the ASCII string s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if x|0x20 != y|0x20 || (x|0x20) < 'a' || (x|0x20) > 'z' {
			return false
		}
	}
	return true
}
