package wire

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/wire/h1"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is the HTTP handler of the JSON 1.0 API. It is safe for concurrent
// use, and Register may be called while it serves.
type Server struct {
	cfg            Config
	log            hclog.Logger
	metrics        *metrics
	unknown        *opMetrics   // series of requests whose target resolves to no operation
	metricsHandler http.Handler // nil without cfg.Gatherer

	mu     sync.Mutex                        // serialises Register
	routes atomic.Pointer[map[string]*route] // "<prefix>.<Op>" → route; replaced whole, never mutated
}

type route struct {
	op Op
	m  *opMetrics
}

// NewServer returns a Server with no operations registered. Zero or invalid
// fields of cfg take their defaults (see Config); cfg is not modified.
func NewServer(cfg Config) *Server {
	cfg = cfg.withDefaults()
	log := cfg.Logger.Named("wire")
	s := &Server{cfg: cfg, log: log, metrics: newMetrics(cfg.Registerer, log)}
	s.unknown = s.metrics.forOp(unknownLabel, unknownLabel)
	if cfg.Gatherer != nil {
		s.metricsHandler = promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{
			ErrorLog:      log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
			ErrorHandling: promhttp.ContinueOnError,
		})
	}
	routes := map[string]*route{}
	s.routes.Store(&routes)
	return s
}

// Register makes each of ops callable as X-Amz-Target "<prefix>.<name>". It
// may be called at any time, also while the server serves; an operation
// registered again under the same prefix and name replaces the earlier one,
// and a nil Op removes it.
//
// What an Op can rely on: its body is the request body after gzip
// decompression, at most Config.MaxBodyBytes long, "{}" when the request had
// none, and freshly allocated (the Op may keep it). It has NOT been checked
// for JSON syntax: decode it with Decode, or answer malformed JSON with
// apierr.Serialization(""). ctx carries AccessKeyID and RequestID and is
// cancelled when the client goes away. Ops run concurrently.
func (s *Server) Register(prefix string, ops map[string]Op) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := maps.Clone(*s.routes.Load())
	for name, op := range ops {
		target := prefix + "." + name
		if op == nil {
			delete(next, target)
			continue
		}
		next[target] = &route{op: op, m: s.metrics.forOp(prefix, name)}
	}
	s.routes.Store(&next)
}

func (s *Server) lookup(target string) *route {
	return (*s.routes.Load())[target]
}

// ServeHTTP serves the API on POST /, health on GET and HEAD /, and metrics on
// GET /metrics. Anything else is answered with 404 (unknown path) or 405
// (known path, wrong method) and a JSON error body. It never panics on any
// request, and recovers a panicking Op into InternalServerError.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cors := len(r.Header["Origin"]) > 0
	if cors {
		// NB: browsers may read the API from any origin, as on AWS; the
		// request id and checksum headers must be exposed for SDKs to see them.
		h := w.Header()
		h["Access-Control-Allow-Origin"] = []string{"*"}
		h["Access-Control-Expose-Headers"] = []string{"x-amzn-RequestId, x-amz-crc32"}
	}
	switch r.URL.Path {
	case "/":
		switch r.Method {
		case http.MethodPost:
			s.serveAPI(w, r)
			return
		case http.MethodGet, http.MethodHead:
			var id [requestIDLen]byte
			newRequestID(&id)
			writeBody(w, http.StatusOK, hdrTextPlain, &id, healthBody)
			return
		case http.MethodOptions:
			if cors {
				servePreflight(w, r)
				return
			}
		}
		s.writePlainError(w, http.StatusMethodNotAllowed, "GET, HEAD, POST")
	case "/metrics":
		switch {
		case s.metricsHandler == nil:
			s.writePlainError(w, http.StatusNotFound, "")
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
			s.metricsHandler.ServeHTTP(w, r)
		default:
			s.writePlainError(w, http.StatusMethodNotAllowed, "GET, HEAD")
		}
	default:
		s.writePlainError(w, http.StatusNotFound, "")
	}
}

// healthBody answers GET /, as AWS's endpoints answer "healthy: <host>".
var healthBody = []byte("healthy: godwit")

func servePreflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if v := r.Header.Get("Access-Control-Request-Headers"); v != "" {
		h.Set("Access-Control-Allow-Headers", v)
	}
	if v := r.Header.Get("Access-Control-Request-Method"); v != "" {
		h.Set("Access-Control-Allow-Methods", v)
	}
	h.Set("Access-Control-Max-Age", "172800")
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// writePlainError answers a request outside the API: 404, or 405 with the
// allowed methods. The body is an UnknownOperationException envelope, so a
// misdirected SDK still reports something sensible.
func (s *Server) writePlainError(w http.ResponseWriter, status int, allow string) {
	e := apierr.UnknownOperation()
	e.Status = status
	if status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", allow)
		e.Message = "Method not allowed; allowed: " + allow
	} else {
		e.Message = "Not found"
	}
	body, _ := appendError(nil, e) // NB: no Item, so it cannot fail.
	var id [requestIDLen]byte
	newRequestID(&id)
	writeBody(w, status, hdrAmzJSON, &id, body)
}

// serveAPI serves one POST / of net/http.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	h := r.Header
	req := apiRequest{std: r, stdW: w}
	req.target = first(h["X-Amz-Target"])
	req.contentType, req.hasContentType = firstOK(h["Content-Type"])
	req.contentEncoding = first(h["Content-Encoding"])
	req.authorization, req.hasAuthorization = firstOK(h["Authorization"])
	if req.hasAuthorization {
		req.requestTime = requestTime(h)
	}
	s.dispatch(r.Context(), &req)
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func firstOK(v []string) (string, bool) {
	if len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// apiRequest is what the API needs of a request, whichever server read it:
// net/http (std, stdW) or the lean h1 server (lean, leanW). On the lean path
// the strings alias the connection's buffer and are valid only during
// dispatch: anything kept past it is cloned (see admit).
type apiRequest struct {
	target           string // X-Amz-Target
	contentType      string
	hasContentType   bool
	contentEncoding  string
	authorization    string
	hasAuthorization bool
	requestTime      string // X-Amz-Date, else Date

	std   *http.Request // the net/http request, nil on the lean path
	stdW  http.ResponseWriter
	lean  *h1.Request
	leanW *h1.ResponseWriter

	// What answer counts the request against (set by dispatch).
	metrics *metrics
	om      *opMetrics
	start   time.Time
}

// body reads the request body as sent, at most max bytes.
func (r *apiRequest) body(max int64) ([]byte, error) {
	if r.std != nil {
		return readBody(r.std, max)
	}
	b, err := r.lean.ReadBody(max)
	switch {
	case errors.Is(err, h1.ErrBodyTooLarge):
		return nil, errTooLarge
	case err != nil:
		return nil, apierr.Serialization("Unable to read the request body")
	}
	return b, nil
}

// answer counts the request as answered with code ("" for success) and
// sends its one complete response (see writeBody). NB: counting first
// means a client that has its answer also finds it in the metrics.
func (r *apiRequest) answer(code string, status int, contentType []string, id *[requestIDLen]byte, body []byte) {
	if code == "" {
		r.om.ok.Inc()
	} else {
		r.metrics.countError(r.om, code)
	}
	r.om.duration.Observe(time.Since(r.start).Seconds())
	r.metrics.inFlight.Dec()
	if r.std != nil {
		writeBody(r.stdW, status, contentType, id, body)
		return
	}
	writeLean(r.leanW, status, contentType, id, body)
}

// dispatch serves one API request: read, admit, run, answer, count. Both
// transports end here.
func (s *Server) dispatch(parent context.Context, req *apiRequest) {
	start := time.Now()
	s.metrics.inFlight.Inc()
	ctx := &reqCtx{Context: parent}
	newRequestID(&ctx.id)
	rt := s.lookup(req.target)
	om := s.unknown
	if rt != nil {
		om = rt.m
	}

	req.metrics, req.om, req.start = s.metrics, om, start
	s.handle(ctx, req, rt) // NB: every path answers once, which counts it
}

// handle answers one API request (exactly once, which counts it).
func (s *Server) handle(ctx *reqCtx, req *apiRequest, rt *route) {
	ct, ctOK := responseContentType(req.contentType, req.hasContentType)
	payload, err := req.body(s.cfg.MaxBodyBytes)
	if err != nil {
		s.writeError(ctx, req, ct, rt, err)
		return
	}
	if len(payload) > 0 && !ctOK {
		// NB: AWS (as recorded by dynalite) answers a body of another content
		// type as an unknown resource, with this exact non-JSON body.
		req.answer("UnknownOperationException", http.StatusNotFound, ct, &ctx.id, unknownOperationXML)
		return
	}
	body, err := s.decompress(req.contentEncoding, payload)
	if err != nil {
		s.writeError(ctx, req, ct, rt, err)
		return
	}
	if err := s.admit(ctx, req, rt, body, payload); err != nil {
		s.writeError(ctx, req, ct, rt, err)
		return
	}
	if len(body) == 0 {
		body = []byte("{}")
	}

	buf := getBuf()
	defer putBuf(buf)
	resp, err := s.call(ctx, rt, body, buf)
	if err != nil {
		s.writeError(ctx, req, ct, rt, err)
		return
	}
	req.answer("", http.StatusOK, ct, &ctx.id, resp)
}

var unknownOperationXML = []byte("<UnknownOperationException/>\n")

// responseContentType returns the response content type for the request's
// (first) Content-Type, and whether the request's type is acceptable:
// application/x-amz-json-1.0 and application/json are (parameters and case
// ignored) and echoed back; a missing Content-Type is accepted and answered
// with application/x-amz-json-1.0.
func responseContentType(v string, present bool) ([]string, bool) {
	if !present {
		return hdrAmzJSON, true
	}
	mt := v
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	mt = strings.TrimSpace(mt)
	switch {
	case strings.EqualFold(mt, contentTypeAmzJSON):
		return hdrAmzJSON, true
	case strings.EqualFold(mt, contentTypeJSON):
		return hdrJSON, true
	}
	return hdrAmzJSON, false
}

// errTooLarge marks a body over Config.MaxBodyBytes.
var errTooLarge = apierr.RequestTooLarge()

// exactReadMax is the largest declared Content-Length read into a buffer
// allocated up front; a larger body grows its buffer as bytes arrive, so a
// client cannot make the server allocate 16 MiB by merely claiming it.
const exactReadMax = 1 << 20

// readBody reads the request body as sent, at most max bytes.
func readBody(r *http.Request, max int64) ([]byte, error) {
	n := r.ContentLength
	switch {
	case n > max:
		return nil, errTooLarge
	case n == 0:
		return nil, nil
	case n > 0 && n <= exactReadMax:
		b := make([]byte, n)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, apierr.Serialization("Unable to read the request body")
		}
		return b, nil
	}
	b, err := readLimited(r.Body, max)
	if err != nil && !errors.Is(err, errTooLarge) {
		return nil, apierr.Serialization("Unable to read the request body")
	}
	return b, err
}

// readLimited reads all of rd, failing with errTooLarge past max bytes.
func readLimited(rd io.Reader, max int64) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(rd, max+1))
	if n > max {
		return nil, errTooLarge
	}
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var gzipPool sync.Pool // *gzip.Reader

// decompress returns the body an Op sees: payload itself, or its gzip
// decompression when Content-Encoding says gzip.
func (s *Server) decompress(enc string, payload []byte) ([]byte, error) {
	if len(payload) == 0 {
		return payload, nil
	}
	switch e := strings.TrimSpace(enc); {
	case e == "" || strings.EqualFold(e, "identity"):
		return payload, nil
	case !strings.EqualFold(e, "gzip"):
		return nil, apierr.Serialization("Unsupported Content-Encoding: %s", e)
	}
	zr, _ := gzipPool.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(bytes.NewReader(payload))
	} else {
		err = zr.Reset(bytes.NewReader(payload))
	}
	if err != nil {
		return nil, apierr.Serialization("Unable to decompress the gzip request body")
	}
	defer gzipPool.Put(zr)
	body, err := readLimited(zr, s.cfg.MaxBodyBytes)
	if errors.Is(err, errTooLarge) {
		return nil, err
	}
	if err != nil {
		return nil, apierr.Serialization("Unable to decompress the gzip request body")
	}
	return body, nil
}

// admit runs the checks that precede an operation's own validation, in the
// order AWS makes them (reference §1.3), so that a request with several
// faults gets the error AWS would give:
//
//  1. the body is JSON (an empty body counts as {}) → SerializationException;
//  2. X-Amz-Target names a registered operation → UnknownOperationException;
//  3. authentication. With cfg.Authenticator it decides (missing header →
//     MissingAuthenticationTokenException, malformed → IncompleteSignature,
//     then scope, expiry, key, signature, token); without one every request
//     passes.
//
// NB: check 1 is made here only when a later check fails. When all pass, the
// operation's Decode (whose json.Unmarshal validates the body before anything
// else) reports malformed JSON with the same SerializationException, so
// scanning every body twice would buy nothing. An Op that parses bodies
// without Decode must answer malformed JSON with apierr.Serialization("").
//
// On success the caller's access key id is on ctx ("" when the request had
// no parsable Authorization header).
func (s *Server) admit(ctx *reqCtx, req *apiRequest, rt *route, body, payload []byte) error {
	if rt == nil {
		return notJSONOr(body, apierr.UnknownOperation())
	}
	var sig Signature
	var sigErr error
	if req.hasAuthorization {
		sig, sigErr = ParseSignature(req.authorization, req.requestTime)
	}
	if s.cfg.Authenticator != nil {
		// NB: the lean path never takes a request when an Authenticator is
		// set (leanHandler.Accept), so req.std is there.
		if err := s.authenticate(req.std, req.hasAuthorization, sig, sigErr, payload); err != nil {
			return notJSONOr(body, err)
		}
	}
	ctx.accessKeyID = sig.AccessKeyID
	if req.lean != nil && ctx.accessKeyID != "" {
		ctx.accessKeyID = strings.Clone(ctx.accessKeyID) // NB: outlives the connection's buffer
	}
	return nil
}

// notJSONOr returns SerializationException when body is not JSON, else err:
// a malformed body outranks every other fault.
func notJSONOr(body []byte, err error) error {
	if len(body) > 0 && !json.Valid(body) {
		return apierr.Serialization("")
	}
	return err
}

// authenticate calls the Authenticator. It is apart from admit so that the
// Signature escapes to the heap only when an Authenticator is configured.
func (s *Server) authenticate(r *http.Request, present bool, sig Signature, sigErr error, payload []byte) error {
	var p *Signature
	if present {
		sig.SecurityToken = r.Header.Get("X-Amz-Security-Token")
		p = &sig
	}
	return s.cfg.Authenticator.Authenticate(r, p, sigErr, payload)
}

func requestTime(h http.Header) string {
	if v := h["X-Amz-Date"]; len(v) > 0 {
		return v[0]
	}
	if v := h["Date"]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// call runs the operation and encodes its result into buf. A panic in either
// is recovered, logged with its stack, and becomes InternalServerError.
func (s *Server) call(ctx *reqCtx, rt *route, body []byte, buf *bytes.Buffer) (resp []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("operation panicked", "request-id", string(ctx.id[:]),
				"prefix", rt.m.prefix, "operation", rt.m.operation,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			resp, err = nil, apierr.Internal()
		}
	}()
	res, err := rt.op(ctx, body)
	if err != nil {
		return nil, err
	}
	resp, err = encodeResult(buf, res)
	if err != nil {
		return nil, fmt.Errorf("encode %T result: %w", res, err)
	}
	return resp, nil
}

// writeError sends err as DynamoDB's error envelope (counted by its code). An
// error that is not an *apierr.Error is logged and sent as
// InternalServerError, without its text.
//
// NB: no X-Amzn-ErrorType header. AWS does not send one for DynamoDB, the
// body's __type is enough for every SDK, and aws-sdk-go-v2 (smithy-go
// awsjson) would let the header override the body's code.
func (s *Server) writeError(ctx *reqCtx, req *apiRequest, ct []string, rt *route, err error) {
	e := apierr.As(err)
	if e == nil || e.Code == "" {
		s.logInternal(ctx, rt, err)
		e = apierr.Internal()
	}
	body, mErr := appendError(nil, e)
	if mErr != nil {
		s.logInternal(ctx, rt, fmt.Errorf("encode %s: %w", e.Code, mErr))
		e = apierr.Internal()
		body, _ = appendError(nil, e)
	}
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	req.answer(e.Code, status, ct, &ctx.id, body)
}

func (s *Server) logInternal(ctx *reqCtx, rt *route, err error) {
	args := []any{"request-id", string(ctx.id[:]), "error", err}
	if rt != nil {
		args = append(args, "prefix", rt.m.prefix, "operation", rt.m.operation)
	}
	s.log.Error("internal error", args...)
}
