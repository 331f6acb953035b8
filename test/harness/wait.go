package harness

import (
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
	"time"
)

// FreeAddr returns a loopback host:port that was free when it was asked
// for (the listener that found it is closed again), for a server that must
// be told its address before it starts.
//
// NB: the port is drawn at random below Linux's ephemeral range
// (32768-60999 by default): a port the kernel hands out for ":0" listeners
// and outgoing connections can be taken by any other test between this
// call and the server's bind ("address already in use"); one drawn here
// is only taken if another FreeAddr draws the same number.
func FreeAddr(t testing.TB) string {
	t.Helper()
	for range 100 {
		port := freeAddrLow + rand.IntN(freeAddrHigh-freeAddrLow)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// The range FreeAddr draws from: below the ephemeral ports.
const freeAddrLow, freeAddrHigh = 20000, 32000

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
