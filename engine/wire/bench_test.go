package wire

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

const benchBody = `{"TableName":"bench","Key":{"pk":{"S":"user#123"},"sk":{"S":"profile"}},"ConsistentRead":true}`

var benchResult = RawJSON(`{}`)

func benchServer() *Server {
	s := NewServer(Config{})
	s.Register(testPrefix, map[string]Op{"GetItem": func(context.Context, []byte) (any, error) {
		return benchResult, nil
	}})
	return s
}

// nullWriter is a ResponseWriter that keeps nothing, so that
// BenchmarkServeHTTP measures the server's own allocations.
type nullWriter struct{ h http.Header }

func (w *nullWriter) Header() http.Header         { return w.h }
func (w *nullWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nullWriter) WriteHeader(int)             {}

// BenchmarkServeHTTP is the in-process cost of one API request (no network).
func BenchmarkServeHTTP(b *testing.B) {
	s := benchServer()
	body := []byte(benchBody)
	rd := bytes.NewReader(body)
	req := httptest.NewRequest(http.MethodPost, "/", rd)
	req.Header.Set("Content-Type", contentTypeAmzJSON)
	req.Header.Set("X-Amz-Target", testPrefix+".GetItem")
	req.Header.Set("Authorization", sigV4)
	req.Header.Set("X-Amz-Date", "20260101T000000Z")
	w := &nullWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(body)
		req.Body = io.NopCloser(rd)
		clear(w.h)
		s.ServeHTTP(w, req)
	}
}

// BenchmarkLoopback compares the whole request path over loopback HTTP/1.1
// with a bare net/http handler answering {}: the ratio of the two ns/op is
// the share of the transport's ceiling godwit's wire layer keeps. "godwit"
// runs on net/http, "godwit-lean" on the h1 server.
func BenchmarkLoopback(b *testing.B) {
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", contentTypeAmzJSON)
		_, _ = w.Write([]byte(`{}`))
	})
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"bare", bare}, {"godwit", benchServer()}, {"godwit-lean", nil}} {
		b.Run(c.name, func(b *testing.B) {
			var url string
			if c.h == nil {
				saved := testTransport
				testTransport = TransportLean
				url, _ = serveTest(b, benchServer(), nil)
				testTransport = saved
			} else {
				srv := httptest.NewServer(c.h)
				defer srv.Close()
				url = srv.URL
			}
			tr := &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			body := []byte(benchBody)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, url+"/", bytes.NewReader(body))
					req.Header.Set("Content-Type", contentTypeAmzJSON)
					req.Header.Set("X-Amz-Target", testPrefix+".GetItem")
					req.Header.Set("Authorization", sigV4)
					req.Header.Set("X-Amz-Date", "20260101T000000Z")
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
		})
	}
}
