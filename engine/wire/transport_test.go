package wire

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"testing"
)

// testTransport is the transport the package's tests run on: TestMain runs
// every test once per transport (or only GODWIT_TEST_HTTP's when set).
var testTransport Transport

func TestMain(m *testing.M) {
	transports := []Transport{TransportLean, TransportStd}
	if env := os.Getenv("GODWIT_TEST_HTTP"); env != "" {
		t, err := ParseTransport(env)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		transports = []Transport{t}
	}
	code := 0
	for _, t := range transports {
		testTransport = t
		fmt.Printf("=== wire tests on the %s HTTP server\n", t)
		// NB: testing.M.Run tolerates being called more than once.
		if c := m.Run(); c != 0 {
			fmt.Printf("--- FAIL on the %s HTTP server\n", t)
			code = c
		}
	}
	os.Exit(code)
}

// serveTest serves handler (default srv) with srv on testTransport on a
// loopback port until the test ends, and returns its URL and a client whose
// connections are closed then.
func serveTest(t testing.TB, srv *Server, handler http.Handler) (string, *http.Client) {
	t.Helper()
	hs, err := srv.NewHTTPServer(HTTPConfig{Transport: testTransport, Handler: handler})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		_ = hs.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String(), &http.Client{Transport: tr}
}
