package h1

import (
	"bytes"
	"net/http"
)

// headerEnd returns the length of the header block at the start of b (up
// to and including the empty line that ends it), or -1 when b holds no
// complete block yet. Lines end with LF, optionally preceded by CR.
func headerEnd(b []byte) int {
	for from := 0; ; {
		i := bytes.IndexByte(b[from:], '\n')
		if i < 0 {
			return -1
		}
		j := from + i + 1
		switch {
		case j < len(b) && b[j] == '\n':
			return j + 1
		case j+1 < len(b) && b[j] == '\r' && b[j+1] == '\n':
			return j + 2
		}
		from = j
	}
}

// nextLine splits b at its first LF: the line without its CR LF, and the
// rest.
func nextLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil
	}
	line, rest = b[:i], b[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

// parseHeader parses a complete header block (as delimited by headerEnd)
// into r, which must be reset. The slices r keeps alias block. The error,
// if any, is an *errBadRequest naming the answer.
func parseHeader(r *Request, block []byte) error {
	line, rest := nextLine(block)
	if err := parseRequestLine(r, line); err != nil {
		return err
	}
	var cl []byte
	var te []byte
	clSeen, teSeen := false, false
	for {
		line, rest = nextLine(rest)
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return badRequest("malformed MIME header line")
		}
		name := line[:colon]
		if !isToken(name) {
			return badRequest("invalid header name")
		}
		value := trimOWS(line[colon+1:])
		if !validValue(value) {
			return badRequest("invalid header value")
		}
		r.fields = append(r.fields, field{name: name, value: value})

		switch len(name) {
		case 4:
			if equalFold(name, "Host") {
				r.host = value
				r.hosts++
			}
		case 6:
			if equalFold(name, "Expect") {
				if !equalFold(value, "100-continue") {
					return &errBadRequest{status: http.StatusExpectationFailed}
				}
				r.expectContinue = true
			}
		case 10:
			if equalFold(name, "Connection") {
				forEachToken(value, func(tok []byte) {
					switch {
					case equalFold(tok, "close"):
						r.wantClose = true
					case equalFold(tok, "keep-alive"):
						r.keepAlive10 = true
					}
				})
			}
		case 14:
			if equalFold(name, "Content-Length") {
				if clSeen && !bytes.Equal(cl, value) {
					return badRequest("message cannot contain multiple Content-Length headers")
				}
				cl, clSeen = value, true
			}
		case 17:
			if equalFold(name, "Transfer-Encoding") {
				if teSeen {
					return badRequest("too many transfer encodings")
				}
				te, teSeen = value, true
			}
		}
	}

	if r.minor >= 1 {
		switch {
		case r.hosts == 0:
			return badRequest("missing required Host header")
		case r.hosts > 1:
			return badRequest("too many Host headers")
		}
		r.keepAlive10 = false
	} else {
		// NB: HTTP/1.0 has no chunked coding; net/http ignores the header.
		teSeen = false
		r.wantClose = r.wantClose || !r.keepAlive10
		r.expectContinue = false
	}
	switch {
	case teSeen && clSeen:
		return badRequest("both Transfer-Encoding and Content-Length")
	case teSeen:
		if !equalFold(te, "chunked") {
			return &errBadRequest{status: http.StatusNotImplemented, reason: "unsupported transfer encoding"}
		}
		r.chunked = true
		r.contentLength = -1
	case clSeen:
		n, ok := parseContentLength(cl)
		if !ok {
			return badRequest("bad Content-Length")
		}
		r.contentLength = n
		r.remaining = n
	}
	if r.contentLength == 0 {
		r.expectContinue = false // nothing to hold back
	}
	return nil
}

// parseRequestLine parses "METHOD SP target SP HTTP/1.x".
func parseRequestLine(r *Request, line []byte) error {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return badRequest("malformed HTTP request")
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return badRequest("malformed HTTP request")
	}
	method, uri, proto := line[:sp1], rest[:sp2], rest[sp2+1:]
	if !isToken(method) {
		return badRequest("invalid method")
	}
	for _, b := range uri {
		if b <= ' ' || b == 0x7f {
			return badRequest("malformed HTTP request")
		}
	}
	// "HTTP/d.d", as net/http's ParseHTTPVersion.
	if len(proto) != 8 || string(proto[:5]) != "HTTP/" || proto[6] != '.' ||
		!isDigit(proto[5]) || !isDigit(proto[7]) {
		return badRequest("malformed HTTP version")
	}
	if proto[5] != '1' {
		return &errBadRequest{status: http.StatusHTTPVersionNotSupported, reason: "unsupported protocol version"}
	}
	r.method, r.uri = method, uri
	r.minor = 0
	if proto[7] != '0' {
		r.minor = 1
	}
	return nil
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// parseContentLength parses a decimal length: digits only, below 2^63.
func parseContentLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// trimOWS trims spaces and tabs from both ends.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// validValue rejects control characters other than tab (net/http's
// httpguts.ValidHeaderFieldValue).
func validValue(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// forEachToken calls fn with each comma-separated element of v, trimmed.
func forEachToken(v []byte, fn func([]byte)) {
	for len(v) > 0 {
		var tok []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			tok, v = v, nil
		}
		if tok = trimOWS(tok); len(tok) > 0 {
			fn(tok)
		}
	}
}

// isToken reports whether b is a non-empty RFC 9110 token.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenTable[c] {
			return false
		}
	}
	return true
}

var tokenTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()
