package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// client sends DynamoDB JSON 1.0 requests over a pool of keep-alive
// connections. It is safe for concurrent use.
type client struct {
	url     *url.URL
	rt      *http.Transport
	date    string // X-Amz-Date value, fixed for the run
	headers map[string]http.Header
}

// newClient returns a client for endpoint (http://host:port) that keeps up to
// conns connections open. timeout bounds connecting and waiting for response
// headers; it is the only per-request timeout.
func newClient(endpoint string, conns int, timeout time.Duration) (*client, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("parse endpoint: %w", err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("endpoint %q: want http://host:port", endpoint)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	rt := &http.Transport{
		Proxy:                 nil, // loopback benchmarks never go through a proxy
		DialContext:           dialer.DialContext,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		MaxConnsPerHost:       conns,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: timeout,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
	c := &client{
		url:     u,
		rt:      rt,
		date:    time.Now().UTC().Format("20060102T150405Z"),
		headers: map[string]http.Header{},
	}
	for _, t := range opTargets {
		c.headers[t] = c.newHeader(t)
	}
	for _, t := range []string{targetCreateTable, targetDescribeTable, targetListTables} {
		c.headers[t] = c.newHeader(t)
	}
	return c, nil
}

const (
	targetCreateTable   = "DynamoDB_20120810.CreateTable"
	targetDescribeTable = "DynamoDB_20120810.DescribeTable"
	targetListTables    = "DynamoDB_20120810.ListTables"
)

// newHeader builds the fixed headers of one operation. The Authorization
// header is a well-formed SigV4 header with a fake signature: the servers we
// benchmark accept any signature, and signing every request would measure
// the load generator's HMAC speed instead of the server.
func (c *client) newHeader(target string) http.Header {
	day := c.date[:8]
	h := http.Header{}
	h["Content-Type"] = []string{"application/x-amz-json-1.0"}
	h["X-Amz-Target"] = []string{target}
	h["X-Amz-Date"] = []string{c.date}
	h["Authorization"] = []string{"AWS4-HMAC-SHA256 Credential=AKIDBENCHMARK/" + day +
		"/us-east-1/dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" +
		strings.Repeat("0", 64)}
	return h
}

// do sends body to target and reads the whole response body into resp
// (reset first). A non-nil error means no HTTP response arrived.
// NB: body must not be modified afterwards: the transport may still read it
// (for a retry on a stale keep-alive connection) after do returns.
func (c *client) do(target string, body []byte, resp *bytes.Buffer) (int, error) {
	h, ok := c.headers[target]
	if !ok {
		h = c.newHeader(target)
	}
	req := &http.Request{
		Method:        http.MethodPost,
		URL:           c.url,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		GetBody:       func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil },
		ContentLength: int64(len(body)),
		Host:          c.url.Host,
	}
	res, err := c.rt.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	resp.Reset()
	_, err = resp.ReadFrom(res.Body)
	res.Body.Close()
	if err != nil {
		return 0, fmt.Errorf("read response: %w", err)
	}
	return res.StatusCode, nil
}

// close drops idle connections.
func (c *client) close() { c.rt.CloseIdleConnections() }

// classifyStatus names an HTTP error response for the error table:
// "<status> <exception>" where exception is the part of __type after '#'
// (DynamoDB sends "com.amazonaws.dynamodb.v20120810#ValidationException").
// Bodies that are not JSON, or have no __type, give "<status>".
func classifyStatus(status int, body []byte) string {
	var e struct {
		Type string `json:"__type"`
	}
	s := strconv.Itoa(status)
	if json.Unmarshal(body, &e) != nil || e.Type == "" {
		return s
	}
	t := e.Type
	if i := strings.LastIndexByte(t, '#'); i >= 0 {
		t = t[i+1:]
	}
	if len(t) > 64 {
		t = t[:64]
	}
	return s + " " + t
}

// classifyErr names a transport failure with a small, stable set of names
// (raw messages contain ports and would make every error distinct).
func classifyErr(err error) string {
	var ne net.Error
	var errno syscall.Errno
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "transport timeout"
	case errors.As(err, &errno):
		return "transport " + errno.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "transport eof"
	default:
		return "transport other"
	}
}
