// Package h1 is a lean HTTP/1.1 server for godwit's API hot path.
//
// net/http spends more CPU per request than all of a GetItem's own work:
// it builds a textproto.MIMEHeader map, a *http.Request with a parsed URL
// and a context per request, runs a background read per connection and
// writes the response through two layers of buffering. This package keeps
// only what a small-request JSON API needs: one goroutine per connection, a
// pooled read and write buffer per connection, the request line and header
// fields parsed in place (byte slices into the read buffer, no map), and a
// response assembled in one buffer and written with one write.
//
//	srv := h1.NewServer(h1.Config{Lean: api, Handler: mux, Logger: log})
//	go srv.Serve(ln)
//	...
//	srv.Shutdown(ctx) // stop accepting, finish in-flight, close idle
//
// A request goes to Config.Lean when its Accept says so (godwit's wire
// server takes POST / without Origin); every other request (GET /, /metrics,
// /debug/pprof, admin endpoints) is handed to Config.Handler, an ordinary
// http.Handler, through an adapter that builds a *http.Request and
// implements http.ResponseWriter and http.Flusher.
//
// What is implemented, and how it matches net/http:
//
//   - HTTP/1.1 and HTTP/1.0 (keep-alive only when a 1.0 client asks for it
//     and the answer has a length, as net/http); "Connection: close" ends
//     the connection after the answer, and the answer then carries
//     "Connection: close" (HTTP/1.1).
//   - Request bodies framed by Content-Length or "Transfer-Encoding:
//     chunked" (HTTP/1.1; chunk extensions and trailers are read and
//     ignored). A request with both, with differing Content-Lengths or a bad
//     one is answered 400 and the connection closed (no request smuggling);
//     another transfer coding gets 501, as net/http.
//   - "Expect: 100-continue": "100 Continue" is sent when the handler
//     first reads the body; a body never read closes the connection after
//     the answer. Any other expectation gets 417.
//   - Pipelined requests on one connection are answered in order.
//   - Limits: Config.MaxHeaderBytes (431 beyond it); the body limit is the
//     handler's (Request.ReadBody(max) reports ErrBodyTooLarge without
//     reading a body whose declared length is over max). After the answer,
//     up to 256 KiB of unread body is discarded to keep the connection;
//     more closes it (net/http's rule).
//   - Timeouts: IdleTimeout between requests, ReadHeaderTimeout for the
//     header block, ReadTimeout for the whole request, WriteTimeout for each
//     answer. A connection that trips one is closed without an answer.
//   - Malformed requests get net/http's plain-text answers ("400 Bad
//     Request", "431 Request Header Fields Too Large", "505 HTTP Version Not
//     Supported") with "Connection: close".
//   - Shutdown(ctx) is http.Server's: close the listeners, close idle
//     connections, let each busy one finish its request (answered with
//     "Connection: close") and wait for all of them or ctx. Close closes
//     everything at once. Serve then returns http.ErrServerClosed.
//   - Every answer carries Date, formatted as net/http does, after the
//     handler's fields; lean answers write Content-Length first, then the
//     caller's fields in the caller's order (net/http sorts them by name:
//     callers who want byte parity pass them sorted).
//
// What is not: HTTP/2, TLS, upgrades (CONNECT and "Upgrade" are served as
// ordinary requests and not switched), trailers in answers, Hijacker.
// A request's context is the connection's: it is cancelled when the
// connection is closed by Close, not when the client goes away mid-request
// (net/http's background read costs a goroutine wake-up per request).
//
// A handler must not keep a *Request, a *ResponseWriter or any byte slice a
// Request returns (Method, URI, Header...) after it returns: they alias the
// connection's buffer. Bodies from ReadBody are fresh and may be kept.
package h1
