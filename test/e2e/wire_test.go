package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"hash/crc32"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// dRawResp is a raw HTTP answer.
type dRawResp struct {
	status int
	header http.Header
	body   []byte
}

// dRaw POSTs body to the server's API with X-Amz-Target target (omitted
// when "") and the given extra headers, and checks that x-amz-crc32 is the
// CRC32 of the body exactly as received.
func dRaw(t *testing.T, url, target string, body []byte, hdr ...string) dRawResp {
	t.Helper()
	req, err := http.NewRequestWithContext(dCtx(t), http.MethodPost, url+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return dDo(t, req)
}

func dDo(t *testing.T, req *http.Request) dRawResp {
	t.Helper()
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if req.URL.Path == "/" && req.Method == http.MethodPost {
		crc := resp.Header.Get("X-Amz-Crc32")
		if crc != strconv.FormatUint(uint64(crc32.ChecksumIEEE(b)), 10) {
			t.Errorf("x-amz-crc32 %q is not the CRC32 (%d) of body %.100s", crc, crc32.ChecksumIEEE(b), b)
		}
		if resp.Header.Get("X-Amzn-Requestid") == "" {
			t.Errorf("no x-amzn-RequestId")
		}
	}
	return dRawResp{status: resp.StatusCode, header: resp.Header, body: b}
}

// dErrType returns the __type of an error body.
func dErrType(t *testing.T, body []byte) string {
	t.Helper()
	var e struct {
		Type string `json:"__type"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body is not JSON: %q", body)
	}
	return e.Type
}

// TestWireRawHTTP speaks the JSON 1.0 protocol by hand: error envelopes and
// their namespaces, checksums on success and error bodies, content types,
// gzip request bodies, health and metrics.
func TestWireRawHTTP(t *testing.T) {
	srv, cl := dServer(t)
	dHashTable(t, cl, "wire")
	const prefix = "DynamoDB_20120810."

	r := dRaw(t, srv.URL, prefix+"Frobnicate", []byte(`{}`))
	if r.status != 400 || dErrType(t, r.body) != "com.amazon.coral.service#UnknownOperationException" {
		t.Errorf("unknown operation: %d %s", r.status, r.body)
	}
	r = dRaw(t, srv.URL, "", []byte(`{}`))
	if r.status != 400 || dErrType(t, r.body) != "com.amazon.coral.service#UnknownOperationException" {
		t.Errorf("no target: %d %s", r.status, r.body)
	}
	for _, bad := range []string{`{"TableName":`, `not json`, `{"TableName":"wire",}`} {
		r = dRaw(t, srv.URL, prefix+"GetItem", []byte(bad))
		if r.status != 400 || dErrType(t, r.body) != "com.amazon.coral.service#SerializationException" {
			t.Errorf("bad JSON %q: %d %s", bad, r.status, r.body)
		}
	}
	// Malformed JSON outranks an unknown operation.
	r = dRaw(t, srv.URL, prefix+"Frobnicate", []byte(`{`))
	if dErrType(t, r.body) != "com.amazon.coral.service#SerializationException" {
		t.Errorf("bad JSON to an unknown operation: %s", r.body)
	}
	r = dRaw(t, srv.URL, prefix+"PutItem", []byte(`{"TableName":"wire","Item":{"pk":{"S":"k"}},"ReturnValues":"ALL_NEW"}`))
	if r.status != 400 || string(r.body) != `{"__type":"com.amazon.coral.validate#ValidationException","message":"ReturnValues can only be ALL_OLD or NONE"}` {
		t.Errorf("validation envelope: %d %s", r.status, r.body)
	}
	r = dRaw(t, srv.URL, prefix+"GetItem", []byte(`{"TableName":"nosuchtable","Key":{"pk":{"S":"k"}}}`))
	if r.status != 400 || dErrType(t, r.body) != "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException" {
		t.Errorf("missing table envelope: %d %s", r.status, r.body)
	}

	// Success with application/json, echoed back.
	r = dRaw(t, srv.URL, prefix+"PutItem", []byte(`{"TableName":"wire","Item":{"pk":{"S":"k"},"n":{"N":"0010"}}}`), "Content-Type", "application/json")
	if r.status != 200 || string(r.body) != "{}" || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("PutItem as application/json: %d %q %q", r.status, r.header.Get("Content-Type"), r.body)
	}
	r = dRaw(t, srv.URL, prefix+"GetItem", []byte(`{"TableName":"wire","Key":{"pk":{"S":"k"}},"ConsistentRead":true}`))
	if r.status != 200 || r.header.Get("Content-Type") != "application/x-amz-json-1.0" || string(r.body) != `{"Item":{"n":{"N":"10"},"pk":{"S":"k"}}}` && string(r.body) != `{"Item":{"pk":{"S":"k"},"n":{"N":"10"}}}` {
		t.Errorf("GetItem: %d %q %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	r = dRaw(t, srv.URL, prefix+"GetItem", []byte(`{"TableName":"wire","Key":{"pk":{"S":"absent"}}}`))
	if r.status != 200 || string(r.body) != "{}" {
		t.Errorf("GetItem of nothing: %d %s", r.status, r.body)
	}
	// An error body with an Item also carries a correct checksum.
	r = dRaw(t, srv.URL, prefix+"PutItem", []byte(`{"TableName":"wire","Item":{"pk":{"S":"k"}},"ConditionExpression":"attribute_not_exists(pk)","ReturnValuesOnConditionCheckFailure":"ALL_OLD"}`))
	if r.status != 400 || dErrType(t, r.body) != "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException" || !bytes.Contains(r.body, []byte(`"Item":{`)) {
		t.Errorf("conditional failure: %d %s", r.status, r.body)
	}

	// A gzip request body.
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write([]byte(`{"TableName":"wire","Item":{"pk":{"S":"zipped"},"s":{"S":"` + strings.Repeat("z", 5000) + `"}}}`))
	zw.Close()
	r = dRaw(t, srv.URL, prefix+"PutItem", zb.Bytes(), "Content-Encoding", "gzip")
	if r.status != 200 {
		t.Errorf("gzip PutItem: %d %s", r.status, r.body)
	}
	if got := dGet(t, cl, "wire", dK("zipped")); len(got["s"].(*types.AttributeValueMemberS).Value) != 5000 {
		t.Errorf("gzip PutItem stored %.80s", dCanonItem(got))
	}

	// The SDK accepts gzip responses if it asks for them.
	gz := dynamodb.New(cl.Options(), func(o *dynamodb.Options) { o.EnableAcceptEncodingGzip = true })
	if out, err := gz.GetItem(dCtx(t), &dynamodb.GetItemInput{TableName: aws.String("wire"), Key: dK("zipped")}); err != nil || out.Item == nil {
		t.Errorf("GetItem with Accept-Encoding gzip: %v", err)
	}

	get := func(path string) dRawResp {
		req, _ := http.NewRequestWithContext(dCtx(t), http.MethodGet, srv.URL+path, nil)
		return dDo(t, req)
	}
	if r := get("/"); r.status != 200 {
		t.Errorf("GET /: %d %s", r.status, r.body)
	}
	m := get("/metrics")
	if m.status != 200 {
		t.Fatalf("GET /metrics: %d", m.status)
	}
	// Counted so far: two good PutItems, one validation failure and one
	// conditional failure.
	for _, want := range []string{
		`godwit_requests_total{operation="PutItem",outcome="ok",prefix="DynamoDB_20120810"} 2`,
		`godwit_requests_total{operation="PutItem",outcome="ValidationException",prefix="DynamoDB_20120810"} 1`,
		`godwit_requests_total{operation="PutItem",outcome="ConditionalCheckFailedException",prefix="DynamoDB_20120810"} 1`,
	} {
		if !strings.Contains(string(m.body), want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !regexp.MustCompile(`(?m)^godwit_requests_total\{operation="GetItem",outcome="ok",prefix="DynamoDB_20120810"\} [1-9]`).Match(m.body) {
		t.Errorf("/metrics counts no GetItem")
	}
}
