package embedded

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestValidateReportsEveryProblem(t *testing.T) {
	err := Config{Domain: "a.b", Listen: "nope", MaxStore: -1, SyncInterval: -time.Second}.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, want := range []string{"StoreDir", "Domain", "Listen", "MaxStore", "SyncInterval"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %q does not mention %s", err, want)
		}
	}
	if err := (Config{StoreDir: t.TempDir()}).Validate(); err != nil {
		t.Errorf("Validate of a minimal config: %v", err)
	}
}

// publishAndCount stores one message on a fresh stream and returns the
// stream's message count.
func publishAndCount(t *testing.T, nc *nats.Conn, stream string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{stream + ".>"}, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatalf("create stream: %v", err)
	}
	if _, err := js.Publish(ctx, stream+".x", []byte("hello")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestInProcessOnly(t *testing.T) {
	s, err := Start(Config{StoreDir: t.TempDir(), Listen: NoListener, Domain: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	if s.ClientURL() != "" || s.Addr() != nil {
		t.Errorf("no-listener server reports a listener: %q %v", s.ClientURL(), s.Addr())
	}
	nc, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if n := publishAndCount(t, nc, "T"); n != 1 {
		t.Errorf("stream holds %d messages, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	js, _ := jetstream.New(nc)
	acct, err := js.AccountInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if acct.Domain != "eu-west-1" {
		t.Errorf("JetStream domain %q, want the region eu-west-1", acct.Domain)
	}
	if max := nc.MaxPayload(); max != int64(DefaultConfig().MaxPayload) {
		t.Errorf("max payload %d, want %d", max, DefaultConfig().MaxPayload)
	}
}

func TestListenerAndRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	s, err := Start(Config{StoreDir: dir, Listen: "127.0.0.1:0", MaxStore: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	url := s.ClientURL()
	if !strings.HasPrefix(url, "nats://127.0.0.1:") || strings.HasSuffix(url, ":0") {
		t.Fatalf("ClientURL %q is not a bound loopback URL", url)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	if n := publishAndCount(t, nc, "T"); n != 1 {
		t.Errorf("stream holds %d messages, want 1", n)
	}
	nc.Close()
	s.Shutdown()
	s.Shutdown() // idempotent

	// Same store, same port: the stream and its message survive.
	s2, err := Start(Config{StoreDir: dir, Listen: s.Addr().String(), MaxStore: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Shutdown()
	nc2, err := s2.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	if n := publishAndCount(t, nc2, "T"); n != 2 {
		t.Errorf("after restart the stream holds %d messages, want 2", n)
	}
}

func TestStartFailsOnBusyPort(t *testing.T) {
	s, err := Start(Config{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", ReadyTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	s2, err := Start(Config{StoreDir: t.TempDir(), Listen: s.Addr().String(), ReadyTimeout: 500 * time.Millisecond})
	if err == nil {
		s2.Shutdown()
		t.Fatal("a second server started on a busy port")
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("busy port error %v is not EADDRINUSE", err)
	}
}

// TestConnectInProcessBesideListener: ConnectInProcess skips the listener
// (a pipe, no socket) and works like any connection; Connect uses the
// listener.
func TestConnectInProcessBesideListener(t *testing.T) {
	s, err := Start(Config{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", MaxStore: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	in, err := s.ConnectInProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if a := in.ConnectedAddr(); a != "pipe" {
		t.Errorf("in-process connection's address %q, want a pipe", a)
	}
	if n := publishAndCount(t, in, "T"); n != 1 {
		t.Errorf("stream holds %d messages, want 1", n)
	}
	tcp, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	if a := tcp.ConnectedAddr(); a != s.Addr().String() {
		t.Errorf("Connect's address %q, want the listener %s", a, s.Addr())
	}
}
