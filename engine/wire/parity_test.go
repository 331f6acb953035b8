package wire

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTransportsAnswerAlike sends the same raw requests to the API on both
// transports and compares the answers byte for byte, Date and request id
// aside: switching transports must not change a byte clients see.
func TestTransportsAnswerAlike(t *testing.T) {
	if testTransport != TransportLean {
		t.Skip("compares both transports itself; run once")
	}
	srv := NewServer(Config{MaxBodyBytes: 1 << 20})
	srv.Register(testPrefix, map[string]Op{
		"GetItem": func(_ context.Context, body []byte) (any, error) { return RawJSON(`{"Item":{"pk":{"S":"a"}}}`), nil },
		"PutItem": func(_ context.Context, body []byte) (any, error) { return nil, nil },
		"Echo":    echoOp,
		"Decode":  decodingOp,
		"ListTables": func(_ context.Context, body []byte) (any, error) {
			return map[string]any{"TableNames": []string{}}, nil
		},
	})
	stdURL, _ := serveOn(t, srv, TransportStd)
	leanURL, _ := serveOn(t, srv, TransportLean)

	api := func(op, body string, extra ...string) string {
		return "POST / HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: " + testPrefix + "." + op +
			"\r\nAuthorization: " + sigV4 + "\r\nX-Amz-Date: 20260101T000000Z\r\n" + strings.Join(extra, "") +
			"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}
	gz := string(gzipBytes(t, []byte(`{"gz":true}`)))
	for _, c := range []struct {
		name, req string
		answers   int // responses to read (100 Continue counts)
	}{
		{"GetItem", api("GetItem", `{"TableName":"t"}`), 1},
		{"PutItem", api("PutItem", `{}`), 1},
		{"encoded result", api("ListTables", `{}`), 1},
		{"echo", api("Echo", `{"a":"b"}`), 1},
		{"empty body", api("Echo", ``), 1},
		{"json content type", strings.Replace(api("Echo", `{}`), "application/x-amz-json-1.0", "application/json; charset=utf-8", 1), 1},
		{"other content type", strings.Replace(api("Echo", `{}`), "application/x-amz-json-1.0", "text/xml", 1), 1},
		{"unknown operation", api("Nope", `{}`), 1},
		{"malformed JSON", api("Decode", `{"TableName":`), 1},
		{"gzip", api("Echo", gz, "Content-Encoding: gzip\r\n"), 1},
		{"bad encoding", api("Echo", `{}`, "Content-Encoding: br\r\n"), 1},
		{"too large", api("Echo", strings.Repeat(" ", 2<<20)), 1},
		{"connection close", api("Echo", `{}`, "Connection: close\r\n"), 1},
		{"expect continue", api("Echo", `{}`, "Expect: 100-continue\r\n"), 2},
		{"HTTP/1.0", strings.Replace(api("Echo", `{}`), "HTTP/1.1", "HTTP/1.0", 1), 1},
		{"HTTP/1.0 keep-alive", strings.Replace(api("Echo", `{}`, "Connection: keep-alive\r\n"), "HTTP/1.1", "HTTP/1.0", 1), 1},
		{"chunked", "POST / HTTP/1.1\r\nHost: h\r\nX-Amz-Target: " + testPrefix + ".Echo\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n5\r\n\":1}\n\r\n0\r\n\r\n", 1},
		{"health", "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 1},
		{"HEAD health", "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", 1},
		{"not found", "GET /nope HTTP/1.1\r\nHost: h\r\n\r\n", 1},
		{"method not allowed", "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", 1},
		{"CORS", api("Echo", `{}`, "Origin: http://x\r\n"), 1},
		{"preflight", "OPTIONS / HTTP/1.1\r\nHost: h\r\nOrigin: http://x\r\nAccess-Control-Request-Method: POST\r\n\r\n", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			std := rawExchange(t, stdURL, c.req, c.answers)
			lean := rawExchange(t, leanURL, c.req, c.answers)
			if std != lean {
				t.Errorf("answers differ\nstd:  %q\nlean: %q", trimS(std), trimS(lean))
			}
		})
	}
}

var volatile = regexp.MustCompile(`(Date: [^\r]*|X-Amzn-Requestid: [A-Z0-9]{52})\r\n`)

// rawExchange sends req on a fresh connection and returns the raw bytes of
// the first n answers, with Date and the request id blanked.
func rawExchange(t *testing.T, url, req string, n int) string {
	t.Helper()
	nc, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	var raw bytes.Buffer
	br := bufio.NewReader(io.TeeReader(nc, &raw))
	if _, err := io.WriteString(nc, req); err != nil {
		t.Fatal(err)
	}
	method, _, _ := strings.Cut(req, " ")
	for range n {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("read answer: %v (so far %q)", err, raw.String())
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return volatile.ReplaceAllString(raw.String(), "$1"[:0]+"<volatile>\r\n")
}

func trimS(s string) string {
	if len(s) > 600 {
		return s[:600] + "..."
	}
	return s
}

// serveOn is serveTest on a given transport.
func serveOn(t *testing.T, srv *Server, tr Transport) (string, *http.Client) {
	t.Helper()
	saved := testTransport
	testTransport = tr
	defer func() { testTransport = saved }()
	return serveTest(t, srv, nil)
}
