package wire

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/attr"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

const testPrefix = "DynamoDB_20120810"

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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

type fixture struct {
	srv    *Server
	url    string
	client *http.Client
	reg    *prometheus.Registry
	logs   *syncBuffer
}

// newFixture starts a Server on 127.0.0.1 with ops registered under testPrefix.
func newFixture(t *testing.T, cfg Config, ops map[string]Op) *fixture {
	t.Helper()
	f := &fixture{reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Output: f.logs, Level: hclog.Debug})
	cfg.Registerer, cfg.Gatherer = f.reg, f.reg
	f.srv = NewServer(cfg)
	f.srv.Register(testPrefix, ops)
	f.url, f.client = serveTest(t, f.srv, nil)
	return f
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request; hdr holds header pairs.
func (f *fixture) do(t *testing.T, method, path string, body []byte, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// post sends an API request for op with the usual SDK headers.
func (f *fixture) post(t *testing.T, op string, body string, hdr ...string) response {
	t.Helper()
	h := append([]string{"Content-Type", contentTypeAmzJSON, "X-Amz-Target", testPrefix + "." + op}, hdr...)
	return f.do(t, http.MethodPost, "/", []byte(body), h...)
}

var requestIDPattern = regexp.MustCompile(`^[A-Z0-9]{52}$`)

// checkEnvelope asserts the headers every response carries.
func checkEnvelope(t *testing.T, r response) {
	t.Helper()
	if id := r.header.Get("x-amzn-RequestId"); !requestIDPattern.MatchString(id) {
		t.Errorf("x-amzn-RequestId = %q, want 52 uppercase alphanumerics", id)
	}
	if got, want := r.header.Get("x-amz-crc32"), strconv.FormatUint(uint64(crc32.ChecksumIEEE(r.body)), 10); got != want {
		t.Errorf("x-amz-crc32 = %q, want %q (body %q)", got, want, r.body)
	}
	if got, want := r.header.Get("Content-Length"), strconv.Itoa(len(r.body)); got != want {
		t.Errorf("Content-Length = %q, want %q", got, want)
	}
	if r.header.Get("Content-Type") == "" {
		t.Error("no Content-Type")
	}
}

type errorBody struct {
	Type                string           `json:"__type"`
	Message             *string          `json:"message"`
	CapMessage          *string          `json:"Message"`
	Item                json.RawMessage  `json:"Item"`
	CancellationReasons []map[string]any `json:"CancellationReasons"`
}

// checkError asserts status and __type and returns the decoded body.
func checkError(t *testing.T, r response, status int, typ string) errorBody {
	t.Helper()
	checkEnvelope(t, r)
	if r.status != status {
		t.Errorf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	var e errorBody
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	if e.Type != typ {
		t.Errorf("__type = %q, want %q", e.Type, typ)
	}
	return e
}

func echoOp(_ context.Context, body []byte) (any, error) {
	return RawJSON(append([]byte(nil), body...)), nil
}

func TestHealthAndMethods(t *testing.T) {
	f := newFixture(t, Config{}, nil)

	r := f.do(t, http.MethodGet, "/", nil)
	checkEnvelope(t, r)
	if r.status != 200 || string(r.body) != "healthy: godwit" {
		t.Errorf("GET / = %d %q", r.status, r.body)
	}
	r = f.do(t, http.MethodHead, "/", nil)
	if r.status != 200 || len(r.body) != 0 {
		t.Errorf("HEAD / = %d %q", r.status, r.body)
	}

	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodGet, "/nope", 404, ""},
		{http.MethodPost, "/nope", 404, ""},
		{http.MethodPut, "/", 405, "GET, HEAD, POST"},
		{http.MethodDelete, "/", 405, "GET, HEAD, POST"},
		{http.MethodPost, "/metrics", 405, "GET, HEAD"},
	} {
		r := f.do(t, c.method, c.path, nil)
		checkError(t, r, c.status, "com.amazon.coral.service#UnknownOperationException")
		if got := r.header.Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow = %q, want %q", c.method, c.path, got, c.allow)
		}
	}
}

func TestCORSPreflight(t *testing.T) {
	f := newFixture(t, Config{}, map[string]Op{"ListTables": echoOp})
	r := f.do(t, http.MethodOptions, "/", nil, "Origin", "http://example.com",
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "x-amz-target")
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "*" ||
		r.header.Get("Access-Control-Allow-Headers") != "x-amz-target" {
		t.Errorf("preflight = %d %v", r.status, r.header)
	}
	r = f.post(t, "ListTables", `{}`, "Origin", "http://example.com")
	if r.header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "x-amz-crc32") {
		t.Errorf("CORS headers missing: %v", r.header)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	f := newFixture(t, Config{}, map[string]Op{
		"ListTables": echoOp,
		"GetItem":    func(context.Context, []byte) (any, error) { return nil, apierr.TableNotFound("t") },
	})
	f.post(t, "ListTables", `{}`)
	f.post(t, "ListTables", `{}`)
	f.post(t, "GetItem", `{}`)
	f.post(t, "Nope", `{}`)

	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{testPrefix, "ListTables", "ok"}, 2},
		{[]string{testPrefix, "GetItem", "ResourceNotFoundException"}, 1},
		{[]string{"unknown", "unknown", "UnknownOperationException"}, 1},
	} {
		if got := metricValue(t, f.srv.metrics.requests.WithLabelValues(c.labels...)); got != c.want {
			t.Errorf("godwit_requests_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if n := seriesCount(t, f.reg, "godwit_request_duration_seconds"); n != 3 {
		t.Errorf("duration series = %d, want 3 (ListTables, GetItem, unknown)", n)
	}
	if got := metricValue(t, f.srv.metrics.inFlight); got != 0 {
		t.Errorf("in flight = %v after all requests", got)
	}

	r := f.do(t, http.MethodGet, "/metrics", nil)
	if r.status != 200 ||
		!strings.Contains(string(r.body), `godwit_requests_total{operation="ListTables",outcome="ok",prefix="DynamoDB_20120810"} 2`) ||
		!strings.Contains(string(r.body), "godwit_request_duration_seconds_bucket") ||
		!strings.Contains(string(r.body), "godwit_requests_in_flight 0") {
		t.Errorf("GET /metrics = %d:\n%s", r.status, r.body)
	}

	// Without a Gatherer, /metrics does not exist.
	bareURL, bareClient := serveTest(t, NewServer(Config{}), nil)
	resp, err := bareClient.Get(bareURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("GET /metrics without Gatherer = %d, want 404", resp.StatusCode)
	}
}

// metricValue reads a counter's or gauge's current value.
func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	if out.Counter != nil {
		return out.Counter.GetValue()
	}
	return out.Gauge.GetValue()
}

// seriesCount counts the series of one metric family in reg.
func seriesCount(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

func TestTwoServersShareRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := NewServer(Config{Registerer: reg})
	b := NewServer(Config{Registerer: reg})
	if a.metrics.requests != b.metrics.requests {
		t.Error("second server did not reuse the registered collector")
	}
}

func TestUnknownOperation(t *testing.T) {
	f := newFixture(t, Config{}, map[string]Op{"ListTables": echoOp})
	const want = "com.amazon.coral.service#UnknownOperationException"
	for _, target := range []string{"", "ListTables", testPrefix + ".Nope", "Other_1.ListTables", testPrefix + ".ListTables.x"} {
		hdr := []string{"Content-Type", contentTypeAmzJSON}
		if target != "" {
			hdr = append(hdr, "X-Amz-Target", target)
		}
		r := f.do(t, http.MethodPost, "/", []byte(`{}`), hdr...)
		e := checkError(t, r, 400, want)
		if e.Message != nil || e.CapMessage != nil {
			t.Errorf("target %q: unexpected message in %s", target, r.body)
		}
	}
}

func TestRegisterLater(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	checkError(t, f.post(t, "ListTables", `{}`), 400, "com.amazon.coral.service#UnknownOperationException")
	f.srv.Register(testPrefix, map[string]Op{"ListTables": echoOp})
	if r := f.post(t, "ListTables", `{"a":1}`); r.status != 200 || string(r.body) != `{"a":1}` {
		t.Errorf("after Register: %d %s", r.status, r.body)
	}
	f.srv.Register(testPrefix, map[string]Op{"ListTables": nil})
	checkError(t, f.post(t, "ListTables", `{}`), 400, "com.amazon.coral.service#UnknownOperationException")
}

func decodingOp(_ context.Context, body []byte) (any, error) {
	var in struct{ TableName string }
	if err := Decode(body, &in); err != nil {
		return nil, err
	}
	return RawJSON(`{}`), nil
}

func TestSerializationBeforeTarget(t *testing.T) {
	f := newFixture(t, Config{}, map[string]Op{"ListTables": decodingOp})
	// Malformed JSON is reported before an unknown target, as AWS does.
	for _, target := range []string{"Nope", "ListTables"} {
		for _, body := range []string{`{"a":`, `nope`, `{} {}`} {
			e := checkError(t, f.post(t, target, body), 400, "com.amazon.coral.service#SerializationException")
			if e.Message != nil || e.CapMessage != nil {
				t.Errorf("%s %q: AWS sends no message, got %+v", target, body, e)
			}
		}
	}
}

func TestContentType(t *testing.T) {
	f := newFixture(t, Config{}, map[string]Op{"ListTables": echoOp})
	target := []string{"X-Amz-Target", testPrefix + ".ListTables"}
	for _, c := range []struct{ sent, want string }{
		{contentTypeAmzJSON, contentTypeAmzJSON},
		{contentTypeJSON, contentTypeJSON},
		{"application/x-amz-json-1.0; charset=utf-8", contentTypeAmzJSON},
		{"", contentTypeAmzJSON},
	} {
		hdr := target
		if c.sent != "" {
			hdr = append([]string{"Content-Type", c.sent}, target...)
		}
		r := f.do(t, http.MethodPost, "/", []byte(`{}`), hdr...)
		checkEnvelope(t, r)
		if r.status != 200 || r.header.Get("Content-Type") != c.want {
			t.Errorf("Content-Type %q: %d, answered %q, want %q", c.sent, r.status, r.header.Get("Content-Type"), c.want)
		}
	}
	// Another content type with a body: AWS's 404 with its XML-ish body.
	r := f.do(t, http.MethodPost, "/", []byte(`{}`), append([]string{"Content-Type", "text/plain"}, target...)...)
	checkEnvelope(t, r)
	if r.status != 404 || string(r.body) != "<UnknownOperationException/>\n" {
		t.Errorf("text/plain: %d %q", r.status, r.body)
	}
	// ... but without a body it is served.
	r = f.do(t, http.MethodPost, "/", nil, append([]string{"Content-Type", "text/plain"}, target...)...)
	if r.status != 200 || string(r.body) != `{}` {
		t.Errorf("text/plain without body: %d %q", r.status, r.body)
	}
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGzipRequest(t *testing.T) {
	f := newFixture(t, Config{MaxBodyBytes: 4096}, map[string]Op{"Echo": echoOp})
	hdr := []string{"Content-Type", contentTypeAmzJSON, "X-Amz-Target", testPrefix + ".Echo", "Content-Encoding", "gzip"}

	want := `{"TableName":"t","Item":{"pk":{"S":"` + strings.Repeat("x", 3000) + `"}}}`
	for range 3 { // the pooled gzip reader is reused
		r := f.do(t, http.MethodPost, "/", gzipBytes(t, []byte(want)), hdr...)
		checkEnvelope(t, r)
		if r.status != 200 || string(r.body) != want {
			t.Fatalf("gzip echo = %d %.80q", r.status, r.body)
		}
	}
	checkError(t, f.do(t, http.MethodPost, "/", []byte("not gzip at all"), hdr...),
		400, "com.amazon.coral.service#SerializationException")
	// A small body that inflates past MaxBodyBytes.
	bomb := gzipBytes(t, bytes.Repeat([]byte(" "), 1<<20))
	if len(bomb) > 4096 {
		t.Fatalf("bomb is %d bytes compressed", len(bomb))
	}
	checkError(t, f.do(t, http.MethodPost, "/", bomb, hdr...), 413, "com.amazon.coral.service#RequestEntityTooLarge")
	checkError(t, f.do(t, http.MethodPost, "/", []byte(`{}`), append(hdr[:4:4], "Content-Encoding", "br")...),
		400, "com.amazon.coral.service#SerializationException")
}

func TestBodyTooLarge(t *testing.T) {
	f := newFixture(t, Config{MaxBodyBytes: 1024}, map[string]Op{"Echo": echoOp})
	big := []byte(`{"a":"` + strings.Repeat("x", 2000) + `"}`)
	// With Content-Length.
	checkError(t, f.post(t, "Echo", string(big)), 413, "com.amazon.coral.service#RequestEntityTooLarge")
	// Chunked (no Content-Length): the limit applies while reading.
	req, _ := http.NewRequest(http.MethodPost, f.url+"/", io.MultiReader(bytes.NewReader(big)))
	req.Header.Set("X-Amz-Target", testPrefix+".Echo")
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	checkError(t, response{resp.StatusCode, resp.Header, body}, 413, "com.amazon.coral.service#RequestEntityTooLarge")
	// Exactly at the limit is fine.
	exact := `{"a":"` + strings.Repeat("x", 1024-8) + `"}`
	if r := f.post(t, "Echo", exact); r.status != 200 || string(r.body) != exact {
		t.Errorf("body of exactly MaxBodyBytes: %d", r.status)
	}
}

func TestEmptyBodyIsEmptyObject(t *testing.T) {
	f := newFixture(t, Config{}, map[string]Op{"Echo": echoOp})
	if r := f.post(t, "Echo", ``); r.status != 200 || string(r.body) != `{}` {
		t.Errorf("empty body reached the op as %q (%d)", r.body, r.status)
	}
}

func TestPanicRecovered(t *testing.T) {
	f := newFixture(t, Config{}, map[string]Op{
		"Boom":      func(context.Context, []byte) (any, error) { panic("kaboom") },
		"BadResult": func(context.Context, []byte) (any, error) { return panicMarshaler{}, nil },
		"Echo":      echoOp,
	})
	for _, op := range []string{"Boom", "BadResult"} {
		r := f.post(t, op, `{}`)
		e := checkError(t, r, 500, "com.amazonaws.dynamodb.v20120810#InternalServerError")
		if e.Message == nil || *e.Message != "Internal server error" {
			t.Errorf("%s: message %v", op, e.Message)
		}
		logs := f.logs.String()
		if !strings.Contains(logs, "operation panicked") || !strings.Contains(logs, r.header.Get("x-amzn-RequestId")) ||
			!strings.Contains(logs, "runtime/debug.Stack") {
			t.Errorf("%s: panic not logged with request id and stack:\n%s", op, logs)
		}
	}
	if r := f.post(t, "Echo", `{"still":"alive"}`); r.status != 200 {
		t.Errorf("server did not survive the panic: %d", r.status)
	}
}

type panicMarshaler struct{}

func (panicMarshaler) MarshalJSON() ([]byte, error) { panic("marshal") }

func TestInternalErrorIsLoggedNotLeaked(t *testing.T) {
	f := newFixture(t, Config{}, map[string]Op{
		"Fail":      func(context.Context, []byte) (any, error) { return nil, fmt.Errorf("pebble: disk on fire") },
		"BadResult": func(context.Context, []byte) (any, error) { return make(chan int), nil },
	})
	for _, op := range []string{"Fail", "BadResult"} {
		r := f.post(t, op, `{}`)
		checkError(t, r, 500, "com.amazonaws.dynamodb.v20120810#InternalServerError")
		if strings.Contains(string(r.body), "disk") || strings.Contains(string(r.body), "chan") {
			t.Errorf("%s: internal detail leaked: %s", op, r.body)
		}
		if !strings.Contains(f.logs.String(), "request-id="+r.header.Get("x-amzn-RequestId")) {
			t.Errorf("%s: error not logged with its request id:\n%s", op, f.logs.String())
		}
	}
}

func TestResults(t *testing.T) {
	type out struct {
		TableNames []string `json:"TableNames"`
		Note       string   `json:"Note,omitempty"`
	}
	f := newFixture(t, Config{}, map[string]Op{
		"Raw":      func(context.Context, []byte) (any, error) { return RawJSON(`{"x":1}`), nil },
		"Nil":      func(context.Context, []byte) (any, error) { return nil, nil },
		"TypedNil": func(context.Context, []byte) (any, error) { return (*out)(nil), nil },
		"Struct":   func(context.Context, []byte) (any, error) { return out{TableNames: []string{"a<b"}}, nil },
		"EmptyRaw": func(context.Context, []byte) (any, error) { return RawJSON(nil), nil },
	})
	for op, want := range map[string]string{
		"Raw":      `{"x":1}`,
		"Nil":      `{}`,
		"TypedNil": `{}`,
		"Struct":   `{"TableNames":["a<b"]}`,
		"EmptyRaw": `{}`,
	} {
		r := f.post(t, op, `{}`)
		checkEnvelope(t, r)
		if r.status != 200 || string(r.body) != want {
			t.Errorf("%s = %d %s, want %s", op, r.status, r.body, want)
		}
	}
}

func TestErrorEnvelope(t *testing.T) {
	item := map[string]any{"pk": map[string]string{"S": "k"}, "n": map[string]string{"N": "1"}}
	reasons := []apierr.CancellationReason{
		{Code: "None"},
		{Code: "ConditionalCheckFailed", Message: "The conditional request failed", Item: item},
	}
	f := newFixture(t, Config{}, map[string]Op{
		"Cond":     func(context.Context, []byte) (any, error) { return nil, apierr.ConditionalCheckFailed(item) },
		"CondNone": func(context.Context, []byte) (any, error) { return nil, apierr.ConditionalCheckFailed(nil) },
		"Tx":       func(context.Context, []byte) (any, error) { return nil, apierr.TransactionCanceled(reasons) },
		"Wrapped": func(context.Context, []byte) (any, error) {
			return nil, fmt.Errorf("put: %w", apierr.Validation("bad \"quote\"\n\x01 \xff"))
		},
		"Sentinel": func(context.Context, []byte) (any, error) { return nil, apierr.ErrValidation },
	})

	e := checkError(t, f.post(t, "Cond", `{}`), 400, "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException")
	if e.Message == nil || *e.Message != "The conditional request failed" || string(e.Item) != `{"n":{"N":"1"},"pk":{"S":"k"}}` {
		t.Errorf("ConditionalCheckFailed with item: %+v / %s", e, e.Item)
	}
	e = checkError(t, f.post(t, "CondNone", `{}`), 400, "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException")
	if e.Item != nil {
		t.Errorf("Item sent without ALL_OLD: %s", e.Item)
	}

	r := f.post(t, "Tx", `{}`)
	e = checkError(t, r, 400, "com.amazonaws.dynamodb.v20120810#TransactionCanceledException")
	if e.Message != nil || e.CapMessage == nil ||
		*e.CapMessage != "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ConditionalCheckFailed]" {
		t.Errorf("TransactionCanceled message: %s", r.body)
	}
	if len(e.CancellationReasons) != 2 || e.CancellationReasons[0]["Code"] != "None" ||
		e.CancellationReasons[1]["Item"] == nil || e.CancellationReasons[0]["Message"] != nil {
		t.Errorf("CancellationReasons: %s", r.body)
	}

	e = checkError(t, f.post(t, "Wrapped", `{}`), 400, "com.amazon.coral.validate#ValidationException")
	if e.Message == nil || *e.Message != "bad \"quote\"\n\x01 \uFFFD" {
		t.Errorf("wrapped validation message = %q", *e.Message)
	}
	// A bare sentinel has neither namespace nor status: defaults, not a crash.
	checkError(t, f.post(t, "Sentinel", `{}`), 400, "com.amazonaws.dynamodb.v20120810#ValidationException")
}

// sigV4 is an Authorization header as aws-sdk-go-v2 sends it.
const sigV4 = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/dynamodb/aws4_request, " +
	"SignedHeaders=accept-encoding;content-length;content-type;host;x-amz-date;x-amz-target, " +
	"Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestAccessKeyAndRequestIDOnContext(t *testing.T) {
	type seen struct{ akid, id string }
	ch := make(chan seen, 1)
	f := newFixture(t, Config{}, map[string]Op{"Who": func(ctx context.Context, _ []byte) (any, error) {
		ch <- seen{AccessKeyID(ctx), RequestID(ctx)}
		return nil, nil
	}})
	for _, c := range []struct {
		hdr  []string
		akid string
	}{
		{[]string{"Authorization", sigV4, "X-Amz-Date", "20260101T000000Z"}, "AKIDEXAMPLE"},
		{nil, ""}, // accepted without credentials (DynamoDB Local behaviour)
		{[]string{"Authorization", "AWS4-HMAC-SHA256 Credential=ONLYKEY/x"}, "ONLYKEY"}, // malformed: accepted, best effort
		{[]string{"Authorization", "Basic dXNlcjpwYXNz"}, ""},
	} {
		r := f.post(t, "Who", `{}`, c.hdr...)
		if r.status != 200 {
			t.Fatalf("%v: %d %s", c.hdr, r.status, r.body)
		}
		got := <-ch
		if got.akid != c.akid || got.id != r.header.Get("x-amzn-RequestId") {
			t.Errorf("%v: op saw akid %q id %q; want %q and the response's %q", c.hdr, got.akid, got.id, c.akid, r.header.Get("x-amzn-RequestId"))
		}
	}
	if AccessKeyID(context.Background()) != "" || RequestID(context.Background()) != "" {
		t.Error("values on a context that is not a request's")
	}
}

// strictAuth admits only well-formed SigV4 for one key.
type strictAuth struct{ calls int }

func (a *strictAuth) Authenticate(r *http.Request, sig *Signature, sigErr error, payload []byte) error {
	a.calls++
	switch {
	case sig == nil:
		return apierr.MissingAuthenticationToken()
	case sigErr != nil:
		return sigErr
	case sig.AccessKeyID != "AKIDEXAMPLE":
		return &apierr.Error{Code: "UnrecognizedClientException", Namespace: apierr.NSService, Status: 400,
			Message: "The security token included in the request is invalid."}
	case len(payload) == 0:
		return errors.New("no payload")
	}
	return nil
}

func TestAuthenticatorSeam(t *testing.T) {
	auth := &strictAuth{}
	f := newFixture(t, Config{Authenticator: auth}, map[string]Op{"Echo": echoOp})
	checkError(t, f.post(t, "Echo", `{}`), 400, "com.amazon.coral.service#MissingAuthenticationTokenException")
	e := checkError(t, f.post(t, "Echo", `{}`, "Authorization", sigV4), 400, "com.amazon.coral.service#IncompleteSignatureException")
	if e.Message == nil || !strings.HasPrefix(*e.Message, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-") {
		t.Errorf("IncompleteSignature message: %v", e.Message)
	}
	checkError(t, f.post(t, "Echo", `{}`, "Authorization", strings.Replace(sigV4, "AKIDEXAMPLE", "OTHER", 1), "X-Amz-Date", "20260101T000000Z"),
		400, "com.amazon.coral.service#UnrecognizedClientException")
	if r := f.post(t, "Echo", `{"ok":1}`, "Authorization", sigV4, "X-Amz-Date", "20260101T000000Z"); r.status != 200 {
		t.Errorf("valid: %d %s", r.status, r.body)
	}

	// Order (reference §1.3): JSON, then target, then authentication.
	calls := auth.calls
	checkError(t, f.post(t, "Nope", `{}`), 400, "com.amazon.coral.service#UnknownOperationException")
	if auth.calls != calls {
		t.Error("Authenticator called for an unknown target")
	}
	checkError(t, f.post(t, "Nope", `{`), 400, "com.amazon.coral.service#SerializationException")
	checkError(t, f.post(t, "Echo", `{`), 400, "com.amazon.coral.service#SerializationException")
}

func TestParseSignature(t *testing.T) {
	sig, err := ParseSignature(sigV4, "20260101T000000Z")
	if err != nil {
		t.Fatal(err)
	}
	want := Signature{
		Algorithm: "AWS4-HMAC-SHA256", AccessKeyID: "AKIDEXAMPLE", Date: "20260101", Region: "us-east-1",
		Service: "dynamodb", Terminator: "aws4_request",
		SignedHeaders: "accept-encoding;content-length;content-type;host;x-amz-date;x-amz-target",
		Signature:     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		RequestTime:   "20260101T000000Z",
	}
	if sig != want {
		t.Errorf("got %+v\nwant %+v", sig, want)
	}
	// Trailing slashes in the credential are ignored, as AWS does.
	if sig, err := ParseSignature("AWS4-HMAC-SHA256 Credential=a/b/c/d/e//, SignedHeaders=host, Signature=s", "d"); err != nil || sig.Terminator != "e" {
		t.Errorf("trailing slash: %+v %v", sig, err)
	}

	for _, c := range []struct{ auth, date, code, msg string }{
		{"", "d", "MissingAuthenticationTokenException", "Request is missing Authentication Token"},
		{"Basic xyz", "d", "MissingAuthenticationTokenException", "Request is missing Authentication Token"},
		{"AWS4-HMAC-SHA256 Signature=b", "", "IncompleteSignatureException",
			"Authorization header requires 'Credential' parameter. Authorization header requires 'SignedHeaders' parameter. " +
				"Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256 Signature=b"},
		{"AWS4-HMAC-SHA25 Credential=a/b/c/d/e, SignedHeaders=host, Signature=s", "d", "IncompleteSignatureException",
			"Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA25' (only AWS4-HMAC-SHA256 for now). "},
		{"AWS4-HMAC-SHA256 Credential=a/b/c/d, SignedHeaders=host, Signature=s", "d", "IncompleteSignatureException",
			"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'a/b/c/d'"},
		{"AWS4-HMAC-SHA256 Credential=a/b/c/d/e/f, SignedHeaders=host, Signature=s", "d", "IncompleteSignatureException",
			"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'a/b/c/d/e/f'"},
	} {
		_, err := ParseSignature(c.auth, c.date)
		e := apierr.As(err)
		if e == nil || e.Code != c.code || e.Message != c.msg {
			t.Errorf("ParseSignature(%q, %q) = %v, want %s: %s", c.auth, c.date, err, c.code, c.msg)
		}
	}
}

func TestRequestIDsDiffer(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		var id [requestIDLen]byte
		newRequestID(&id)
		if !requestIDPattern.Match(id[:]) || seen[string(id[:])] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[string(id[:])] = true
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\", "\x00\x1f\n\r\t", "é世界", "\u2028\u2029", "bad\xffutf8\xc3", "<&>"} {
		got := attr.AppendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("%q encoded as invalid JSON %s: %v", s, got, err)
			continue
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Errorf("%q round-trips to %q, encoding/json gives %q", s, back, wantBack)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default config invalid: %v", err)
	}
	if err := (Config{MaxBodyBytes: -1}).Validate(); err == nil {
		t.Error("negative MaxBodyBytes accepted")
	}
	cfg := Config{}
	s := NewServer(cfg)
	if s.cfg.MaxBodyBytes != DefaultMaxBodyBytes || cfg.MaxBodyBytes != 0 {
		t.Error("defaults not applied to a copy")
	}
}
