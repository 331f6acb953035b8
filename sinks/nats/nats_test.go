package nats_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/godwit-db/godwit/sinks"
	sinksnats "github.com/godwit-db/godwit/sinks/nats"
	"github.com/godwit-db/godwit/sinks/sinkstest"
	"github.com/godwit-db/godwit/streams/embedded"
)

// server is an embedded NATS that can be stopped and started again on
// the same address and store.
type server struct {
	mu   sync.Mutex
	srv  *embedded.Server
	dir  string
	addr string
}

func startServer(t *testing.T) *server {
	t.Helper()
	s := &server{dir: t.TempDir(), addr: "127.0.0.1:0"}
	s.start(t)
	s.addr = s.srv.Addr().String()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start(t *testing.T) {
	t.Helper()
	srv, err := embedded.Start(embedded.Config{StoreDir: s.dir, Listen: s.addr, MaxStore: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
}

func (s *server) stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
	}
}

func (s *server) connect(t *testing.T) *natsgo.Conn {
	t.Helper()
	nc, err := natsgo.Connect("nats://"+s.addr, natsgo.MaxReconnects(-1), natsgo.ReconnectWait(10*time.Millisecond), natsgo.ReconnectBufSize(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func waitStatus(t *testing.T, nc *natsgo.Conn, connected bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for nc.IsConnected() != connected {
		if time.Now().After(deadline) {
			t.Fatalf("connection still %s", nc.Status())
		}
		time.Sleep(5 * time.Millisecond) // NB: polling with a deadline.
	}
}

func createStream(t *testing.T, nc *natsgo.Conn) jetstream.Stream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "SINK", Subjects: []string{"godwit.>"}, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// streamMsgs returns every message in the stream, in order.
func streamMsgs(t *testing.T, st jetstream.Stream) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestConformanceJetStream(t *testing.T) {
	sinkstest.Run(t, sinkstest.Harness{
		New: func(t *testing.T, _ *sinkstest.Gen) *sinkstest.Instance {
			srv := startServer(t)
			nc, reader := srv.connect(t), srv.connect(t)
			st := createStream(t, reader)
			tg, err := sinksnats.New(nc, sinksnats.Config{Subject: "godwit.{table}.{eventName}", JetStream: true})
			if err != nil {
				t.Fatal(err)
			}
			return &sinkstest.Instance{
				Target: tg,
				Records: func(t *testing.T) []json.RawMessage {
					var out []json.RawMessage
					for _, m := range streamMsgs(t, st) {
						out = append(out, m.Data)
					}
					return out
				},
				Down: func(t *testing.T) {
					srv.stop()
					waitStatus(t, nc, false)
				},
				Up: func(t *testing.T) {
					srv.start(t)
					waitStatus(t, nc, true)
					waitStatus(t, reader, true)
				},
			}
		},
	})
}

func TestConformanceCore(t *testing.T) {
	sinkstest.Run(t, sinkstest.Harness{
		New: func(t *testing.T, _ *sinkstest.Gen) *sinkstest.Instance {
			srv := startServer(t)
			nc, sub := srv.connect(t), srv.connect(t)
			var mu sync.Mutex
			var got []json.RawMessage
			if _, err := sub.Subscribe("godwit.>", func(m *natsgo.Msg) {
				mu.Lock()
				got = append(got, m.Data)
				mu.Unlock()
			}); err != nil {
				t.Fatal(err)
			}
			if err := sub.Flush(); err != nil {
				t.Fatal(err)
			}
			tg, err := sinksnats.New(nc, sinksnats.Config{Subject: "godwit.{table}.{eventName}"})
			if err != nil {
				t.Fatal(err)
			}
			return &sinkstest.Instance{
				Target: tg,
				Records: func(*testing.T) []json.RawMessage {
					mu.Lock()
					defer mu.Unlock()
					return append([]json.RawMessage(nil), got...)
				},
				Down: func(t *testing.T) {
					srv.stop()
					waitStatus(t, nc, false)
				},
				Up: func(t *testing.T) {
					srv.start(t)
					waitStatus(t, sub, true)
					// NB: the subscription is back on the server once a
					// round trip after the reconnect has completed.
					if err := sub.Flush(); err != nil {
						t.Fatal(err)
					}
					waitStatus(t, nc, true)
				},
			}
		},
	})
}

func TestSubjectsHeadersAndDedupe(t *testing.T) {
	srv := startServer(t)
	nc := srv.connect(t)
	st := createStream(t, nc)
	tg, err := sinksnats.New(nc, sinksnats.Config{Subject: "godwit.{region}.{table}.{eventName}.{shardId}", JetStream: true})
	if err != nil {
		t.Fatal(err)
	}
	gen := sinkstest.NewGen("Or.ders") // a dot in a table name stays in one token
	b := gen.Batch(sinkstest.ActionOK, sinkstest.ActionOK, sinkstest.ActionOK)
	for range 2 { // a redelivery is deduplicated by Nats-Msg-Id
		if _, err := tg.Deliver(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	msgs := streamMsgs(t, st)
	if len(msgs) != 3 {
		t.Fatalf("%d messages in the stream, want 3 (deduplicated)", len(msgs))
	}
	wantNames := []string{"INSERT", "MODIFY", "REMOVE"}
	for i, m := range msgs {
		var rec struct{ EventID, EventName string }
		if err := json.Unmarshal(m.Data, &rec); err != nil {
			t.Fatal(err)
		}
		want := "godwit.us-east-1.Or_ders." + wantNames[i] + "." + b.ShardID
		if m.Subject != want || rec.EventName != wantNames[i] {
			t.Errorf("message %d on %q (%s), want %q", i, m.Subject, rec.EventName, want)
		}
		h := m.Header
		if h.Get(natsgo.MsgIdHdr) != rec.EventID || h.Get(sinksnats.HeaderSequenceNumber) != b.Records[i].SequenceNumber ||
			h.Get(sinksnats.HeaderTable) != "Or.ders" || h.Get(sinksnats.HeaderShardID) != b.ShardID || h.Get(sinksnats.HeaderEventName) != wantNames[i] {
			t.Errorf("message %d headers %v", i, h)
		}
	}
}

func TestTooLargeIsFunctionError(t *testing.T) {
	srv := startServer(t)
	nc := srv.connect(t)
	tg, err := sinksnats.New(nc, sinksnats.Config{Subject: "godwit.x"})
	if err != nil {
		t.Fatal(err)
	}
	b := sinkstest.NewGen("T").Batch(sinkstest.ActionOK)
	b.Records[0].Event = json.RawMessage(`{"eventID":"1","pad":"` + strings.Repeat("x", int(nc.MaxPayload())) + `"}`)
	_, err = tg.Deliver(context.Background(), b)
	if !errors.Is(err, sinksnats.ErrTooLarge) || errors.Is(err, sinks.ErrTransient) {
		t.Fatalf("err %v, want ErrTooLarge", err)
	}
	if !nc.IsConnected() {
		t.Fatal("the connection did not survive")
	}
}

func TestNoStreamIsTransient(t *testing.T) {
	srv := startServer(t)
	nc := srv.connect(t)
	tg, err := sinksnats.New(nc, sinksnats.Config{Subject: "nostream.{table}", JetStream: true, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Deliver(context.Background(), sinkstest.NewGen("T").Batch(sinkstest.ActionOK)); !errors.Is(err, sinks.ErrTransient) {
		t.Fatalf("err %v, want ErrTransient", err)
	}
}

func TestParseSubject(t *testing.T) {
	for _, tc := range []struct {
		tmpl, want, err string
	}{
		{tmpl: "godwit.{table}.{eventName}", want: "godwit.T_1.INSERT"},
		{tmpl: "x.{consumer}-{region}.y", want: "x.c_1-us-east-1.y"},
		{tmpl: "plain", want: "plain"},
		{tmpl: "", err: "required"},
		{tmpl: "a..b", err: "empty token"},
		{tmpl: ".a", err: "empty token"},
		{tmpl: "a.{nope}", err: "unknown placeholder"},
		{tmpl: "a.{table", err: "without '}'"},
		{tmpl: "a.table}", err: "without '{'"},
		{tmpl: "a.*", err: "wildcards"},
		{tmpl: "a.>", err: "wildcards"},
		{tmpl: "a b", err: "whitespace"},
	} {
		tp, err := sinksnats.ParseSubject(tc.tmpl)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.tmpl, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.tmpl, err)
			continue
		}
		if got := tp.Render(sinksnats.Values{Table: "T.1", EventName: "INSERT", Region: "us-east-1", Consumer: "c 1"}); got != tc.want {
			t.Errorf("%q renders %q, want %q", tc.tmpl, got, tc.want)
		}
	}
}
