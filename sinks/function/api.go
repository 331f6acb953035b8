package function

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/godwit-db/godwit/sinks"
)

// Runtime API headers (as aws-lambda-go's runtime_api_client.go reads them).
const (
	headerRequestID   = "Lambda-Runtime-Aws-Request-Id"
	headerDeadline    = "Lambda-Runtime-Deadline-Ms"
	headerFunctionARN = "Lambda-Runtime-Invoked-Function-Arn"
	headerTraceID     = "Lambda-Runtime-Trace-Id"
	headerErrorType   = "Lambda-Runtime-Function-Error-Type"
	trailerErrorBody  = "Lambda-Runtime-Function-Error-Body"
)

const apiPrefix = "/2018-06-01/runtime"

func (s *slot) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+apiPrefix+"/invocation/next", s.next)
	mux.HandleFunc("POST "+apiPrefix+"/invocation/{id}/response", s.response)
	mux.HandleFunc("POST "+apiPrefix+"/invocation/{id}/error", s.invocationError)
	mux.HandleFunc("POST "+apiPrefix+"/init/error", s.initError)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// NB: the Extensions and Telemetry APIs are not served; runtimes
		// (aws-lambda-go's SIGTERM helper among them) carry on without them.
		apiError(w, http.StatusNotFound, "NotFound", "godwit serves the Runtime API only: "+r.URL.Path)
	})
	return mux
}

func apiError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"errorType": typ, "errorMessage": msg})
	_, _ = w.Write(b)
}

func accepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"status":"OK"}`))
}

// traceID makes an X-Ray-shaped trace header for an invocation.
func traceID(now time.Time) string {
	id := newRequestID()
	return "Root=1-" + strconv.FormatInt(now.Unix(), 16) + "-" + id[:8] + id[9:13] + id[14:18] + id[19:23] +
		";Parent=" + id[24:] + "0000;Sampled=0"
}

// next is GET /invocation/next: the long poll for the next event.
func (s *slot) next(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p := s.proc
	prev := s.inflight
	s.inflight = nil
	s.mu.Unlock()
	if p == nil {
		apiError(w, http.StatusServiceUnavailable, "NotReady", "no handler process")
		return
	}
	if prev != nil {
		// NB: asking for the next event completes the current one; one
		// that got no answer failed.
		prev.complete(sinks.Result{}, &FunctionError{Type: "Runtime.NoResponse", Message: "the handler asked for the next invocation without answering this one"})
	}
	p.mu.Lock()
	p.ready = true
	p.mu.Unlock()
	var inv *invocation
	select {
	case inv = <-s.offer:
	case <-r.Context().Done():
		return
	case <-p.exited:
		return
	case <-s.f.closing:
		return
	}
	s.mu.Lock()
	s.inflight = inv
	s.mu.Unlock()
	if p.hasExited() || r.Context().Err() != nil {
		// NB: the process died (or dropped the connection) while its
		// request was still being served: it never saw the event, so the
		// failure is transient. (A death noticed only later counts as a
		// crash during the invocation.)
		s.mu.Lock()
		if s.inflight == inv {
			s.inflight = nil
		}
		s.mu.Unlock()
		inv.complete(sinks.Result{}, transient("handler exited before taking the invocation (%s)", p.exitReason()))
		return
	}
	now := time.Now()
	h := w.Header()
	h.Set(headerRequestID, inv.id)
	h.Set(headerDeadline, strconv.FormatInt(now.Add(s.f.cfg.Timeout).UnixMilli(), 10))
	h.Set(headerFunctionARN, s.f.arn)
	h.Set(headerTraceID, traceID(now))
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(inv.event)
}

// current returns the in-flight invocation if its id is id.
func (s *slot) current(id string) (*invocation, *process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight == nil || s.inflight.id != id {
		return nil, s.proc
	}
	return s.inflight, s.proc
}

// finish completes inv as answered by p.
func (s *slot) finish(inv *invocation, p *process, res sinks.Result, err error) {
	s.mu.Lock()
	if s.inflight == inv {
		s.inflight = nil
	}
	s.mu.Unlock()
	if p != nil {
		p.mu.Lock()
		p.served = true
		p.mu.Unlock()
	}
	inv.complete(res, err)
}

// response is POST /invocation/{id}/response.
func (s *slot) response(w http.ResponseWriter, r *http.Request) {
	inv, p := s.current(r.PathValue("id"))
	if inv == nil {
		apiError(w, http.StatusBadRequest, "InvalidRequestID", "no invocation in flight with that id")
		return
	}
	max := s.f.cfg.MaxResponseBytes
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		msg := "Exceeded maximum allowed payload size (" + strconv.FormatInt(max, 10) + " bytes)."
		s.finish(inv, p, sinks.Result{}, &FunctionError{Type: "Function.ResponseSizeTooLarge", Message: msg})
		apiError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", msg)
		return
	case err != nil:
		// The process went away mid-request: its exit fails the invocation.
		return
	}
	// NB: aws-lambda-go reports an error met while streaming the response
	// in trailers.
	if typ := r.Trailer.Get(headerErrorType); typ != "" {
		msg := r.Trailer.Get(trailerErrorBody)
		if dec, err := base64.StdEncoding.DecodeString(msg); err == nil {
			var e struct {
				ErrorMessage string `json:"errorMessage"`
			}
			if json.Unmarshal(dec, &e) == nil && e.ErrorMessage != "" {
				msg = e.ErrorMessage
			}
		}
		s.finish(inv, p, sinks.Result{}, &FunctionError{Type: typ, Message: msg})
		accepted(w)
		return
	}
	s.finish(inv, p, sinks.ParseResponse(body), nil)
	accepted(w)
}

// invocationError is POST /invocation/{id}/error.
func (s *slot) invocationError(w http.ResponseWriter, r *http.Request) {
	inv, p := s.current(r.PathValue("id"))
	if inv == nil {
		apiError(w, http.StatusBadRequest, "InvalidRequestID", "no invocation in flight with that id")
		return
	}
	fe := readError(r, s.f.cfg.MaxResponseBytes)
	s.finish(inv, p, sinks.Result{}, fe)
	accepted(w)
}

// initError is POST /init/error: the process could not initialise and
// will exit (or be killed).
func (s *slot) initError(w http.ResponseWriter, r *http.Request) {
	fe := readError(r, s.f.cfg.MaxResponseBytes)
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	accepted(w)
	if p != nil {
		p.mu.Lock()
		p.initErr = fe.Type + ": " + fe.Message
		p.mu.Unlock()
		s.log.Error("handler init error", "error-type", fe.Type, "error", fe.Message)
		p.kill("init-error")
	}
}

// readError decodes a runtime's error body ({"errorMessage","errorType",
// "stackTrace"}) with the Lambda-Runtime-Function-Error-Type header.
func readError(r *http.Request, max int64) *FunctionError {
	body, _ := io.ReadAll(io.LimitReader(r.Body, max))
	var e struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	_ = json.Unmarshal(body, &e)
	fe := &FunctionError{Type: r.Header.Get(headerErrorType), Message: e.ErrorMessage}
	if e.ErrorType != "" {
		fe.Type = e.ErrorType
	}
	if fe.Type == "" {
		fe.Type = "Unhandled"
	}
	if fe.Message == "" && len(body) > 0 && e.ErrorType == "" {
		fe.Message = string(body[:min(len(body), 256)])
	}
	return fe
}
