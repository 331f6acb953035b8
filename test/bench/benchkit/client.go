package benchkit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client sends DynamoDB JSON 1.0 requests (both DynamoDB_20120810 and
// DynamoDBStreams_20120810 targets) over keep-alive connections. It is safe
// for concurrent use. Requests carry a well-formed SigV4 header with a fake
// signature, like test/bench/loadgen: godwit does not verify signatures,
// and signing would measure this program's HMAC speed.
type Client struct {
	url  *url.URL
	rt   *http.Transport
	date string
}

func NewClient(endpoint string, conns int, timeout time.Duration) (*Client, error) {
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
	return &Client{
		url: u,
		rt: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			MaxIdleConns:          conns,
			MaxIdleConnsPerHost:   conns,
			MaxConnsPerHost:       conns,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: timeout,
			DisableCompression:    true,
		},
		date: time.Now().UTC().Format("20060102T150405Z"),
	}, nil
}

// APIError is an HTTP error answer of the server.
type APIError struct {
	Status int
	Type   string
	Body   string
}

func (e *APIError) Error() string { return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Type, e.Body) }

// IsType reports whether err is an answer of exception type typ.
func IsType(err error, typ string) bool {
	var e *APIError
	return errors.As(err, &e) && e.Type == typ
}

// Call posts body (marshalled unless it is []byte) to target and decodes
// a 200 answer into out (when non-nil). resp is a scratch buffer.
func (c *Client) Call(ctx context.Context, target string, body any, out any, resp *bytes.Buffer) error {
	raw, ok := body.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return fmt.Errorf("encode %s: %w", target, err)
		}
	}
	service := "dynamodb"
	if strings.HasPrefix(target, "DynamoDBStreams_") {
		service = "streams.dynamodb"
	}
	h := http.Header{}
	h["Content-Type"] = []string{"application/x-amz-json-1.0"}
	h["X-Amz-Target"] = []string{target}
	h["X-Amz-Date"] = []string{c.date}
	h["Authorization"] = []string{"AWS4-HMAC-SHA256 Credential=AKIDBENCHMARK/" + c.date[:8] +
		"/us-east-1/" + service + "/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" +
		strings.Repeat("0", 64)}
	req := &http.Request{
		Method:        http.MethodPost,
		URL:           c.url,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(raw)),
		GetBody:       func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil },
		ContentLength: int64(len(raw)),
		Host:          c.url.Host,
	}
	req = req.WithContext(ctx)
	res, err := c.rt.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	resp.Reset()
	_, err = resp.ReadFrom(res.Body)
	res.Body.Close()
	if err != nil {
		return fmt.Errorf("%s: read response: %w", target, err)
	}
	if res.StatusCode != http.StatusOK {
		var e struct {
			Type string `json:"__type"`
		}
		_ = json.Unmarshal(resp.Bytes(), &e)
		typ := e.Type
		if i := strings.LastIndexByte(typ, '#'); i >= 0 {
			typ = typ[i+1:]
		}
		return &APIError{Status: res.StatusCode, Type: typ, Body: resp.String()}
	}
	if out != nil {
		if err := json.Unmarshal(resp.Bytes(), out); err != nil {
			return fmt.Errorf("%s: decode answer: %w", target, err)
		}
	}
	return nil
}

func (c *Client) Close() { c.rt.CloseIdleConnections() }

// WaitReady polls ListTables until the server answers or timeout passes.
func (c *Client) WaitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var buf bytes.Buffer
	for {
		err := c.Call(ctx, "DynamoDB_20120810.ListTables", []byte(`{}`), nil, &buf)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("endpoint not ready after %v: %w", timeout, err)
		}
		if err := Pause(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// Pause waits d or until ctx is done.
func Pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
