package wire

import (
	"hash/crc32"
	"strconv"
	"strings"
	"unsafe"

	"github.com/godwit-db/godwit/engine/wire/h1"
)

// leanHandler serves the API on the h1 server's lean path: POST / without
// an Origin header (CORS answers stay with ServeHTTP), and only while no
// Authenticator is configured (its interface takes an *http.Request).
// Everything else goes to the http.Handler the h1 server falls back to.
type leanHandler struct{ s *Server }

var _ h1.LeanHandler = leanHandler{}

func (l leanHandler) Accept(r *h1.Request) bool {
	if l.s.cfg.Authenticator != nil || string(r.Method()) != "POST" || string(r.Path()) != "/" {
		return false
	}
	_, cors := r.Header("Origin")
	return !cors
}

// ServeLean reads the fields the API needs in one pass (the first of each
// name counts, as with net/http's Header.Get) and dispatches.
func (l leanHandler) ServeLean(w *h1.ResponseWriter, r *h1.Request) {
	req := apiRequest{lean: r, leanW: w}
	var hasTarget, hasEncoding, hasAmzDate, hasDate bool
	var amzDate, date string
	for i := range r.NumFields() {
		name, value := r.Field(i)
		switch len(name) {
		case 12:
			switch {
			case !hasTarget && strings.EqualFold(aliasString(name), "X-Amz-Target"):
				req.target, hasTarget = aliasString(value), true
			case !req.hasContentType && strings.EqualFold(aliasString(name), "Content-Type"):
				req.contentType, req.hasContentType = aliasString(value), true
			}
		case 16:
			if !hasEncoding && strings.EqualFold(aliasString(name), "Content-Encoding") {
				req.contentEncoding, hasEncoding = aliasString(value), true
			}
		case 13:
			if !req.hasAuthorization && strings.EqualFold(aliasString(name), "Authorization") {
				req.authorization, req.hasAuthorization = aliasString(value), true
			}
		case 10:
			if !hasAmzDate && strings.EqualFold(aliasString(name), "X-Amz-Date") {
				amzDate, hasAmzDate = aliasString(value), true
			}
		case 4:
			if !hasDate && strings.EqualFold(aliasString(name), "Date") {
				date, hasDate = aliasString(value), true
			}
		}
	}
	// NB: as requestTime: X-Amz-Date when present, even empty.
	if hasAmzDate {
		req.requestTime = amzDate
	} else {
		req.requestTime = date
	}
	l.s.dispatch(r.Context(), &req)
}

// aliasString returns b as a string without copying. The string is valid
// only while the request is served (see apiRequest).
func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// readOnlyBytes returns s's bytes without copying; they must not be
// modified.
func readOnlyBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// writeLean is writeBody for the lean path: the same fields with the same
// values, in net/http's order (it sorts by name; h1 writes Content-Length
// first and Date after the fields, as net/http does), so that clients see
// the same bytes from either transport.
func writeLean(w *h1.ResponseWriter, status int, contentType []string, id *[requestIDLen]byte, body []byte) {
	var crc [10]byte
	_ = w.Send(status, body,
		h1.Field{Name: hdrKeyContentType, Value: readOnlyBytes(contentType[0])},
		h1.Field{Name: hdrKeyCRC32, Value: strconv.AppendUint(crc[:0], uint64(crc32.ChecksumIEEE(body)), 10)},
		h1.Field{Name: hdrKeyRequestID, Value: id[:]},
	)
}
