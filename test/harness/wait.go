package harness

import (
	"net"
	"testing"
	"time"
)

// FreeAddr returns a loopback host:port that was free when it was asked
// for (the listener that found it is closed again), for a server that must
// be told its address before it starts.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// pollInterval is how often Eventually asks again.
const pollInterval = 20 * time.Millisecond

// Eventually calls cond until it returns "" and fails the test, with
// cond's last answer, when timeout passes first. cond says what is still
// missing ("" when nothing is).
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, msg)
		}
		time.Sleep(pollInterval) // NB: a poll interval, not a wait for an event
	}
}
