package h1

import (
	"strconv"
	"time"
)

// Field is one header field of a lean answer.
type Field struct {
	Name  string
	Value []byte
}

// ResponseWriter sends a lean handler's answer.
type ResponseWriter struct {
	c    *conn
	sent bool
	keep bool // the connection carries another request after the answer
}

func (w *ResponseWriter) reset() { w.sent, w.keep = false, false }

// Send writes the whole answer in one write: the status line,
// "Content-Length: <len(body)>", fields in the order given, Date, the
// Connection field when the connection's fate needs saying, and body
// (omitted for HEAD and for statuses without a body, as is Content-Length
// for those statuses). Only the first Send of a request is written; the
// error, if any, means the client will not get the answer (the connection
// is then closed). fields and body are not kept.
func (w *ResponseWriter) Send(status int, body []byte, fields ...Field) error {
	if w.sent {
		return errClosing
	}
	w.sent = true
	c := w.c
	r := &c.req
	w.keep = c.keepAlive(r)

	b := appendStatusLine(c.wbuf[:0], r.minor, status)
	allowed := bodyAllowed(status)
	if allowed {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	for _, f := range fields {
		b = append(b, f.Name...)
		b = append(b, ": "...)
		b = append(b, f.Value...)
		b = append(b, "\r\n"...)
	}
	b = appendDate(b, time.Now())
	b = appendConnection(b, r, w.keep, true)
	b = append(b, "\r\n"...)
	if !allowed || string(r.method) == "HEAD" {
		body = nil
	}
	if len(body) < copyBodyUnder {
		b = append(b, body...)
		body = nil
	}
	c.wbuf = b
	if err := c.write(b, body); err != nil {
		w.keep = false
		return err
	}
	return nil
}

// appendConnection appends the Connection field net/http would send:
// "close" when an HTTP/1.1 connection ends after this answer,
// "keep-alive" when an HTTP/1.0 one asked to and stays (lengthKnown: the
// answer is delimited by its length, not by closing).
func appendConnection(b []byte, r *Request, keep, lengthKnown bool) []byte {
	switch {
	case !keep && r.minor >= 1:
		return append(b, "Connection: close\r\n"...)
	case keep && r.minor == 0 && r.keepAlive10 && lengthKnown:
		return append(b, "Connection: keep-alive\r\n"...)
	}
	return b
}
