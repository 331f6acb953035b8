package streams

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestParsePubAck(t *testing.T) {
	for _, c := range []struct {
		name    string
		msg     *nats.Msg
		dup     bool
		wantErr bool
		is      error
	}{
		{name: "ack", msg: &nats.Msg{Data: []byte(`{"stream":"S","seq":7}`)}},
		{name: "duplicate", msg: &nats.Msg{Data: []byte(`{"stream":"S","seq":7,"duplicate":true}`)}, dup: true},
		// NB: what nats-server writes.
		{name: "server duplicate", msg: &nats.Msg{Data: []byte(`{"stream":"S", "domain":"d", "seq":7,"duplicate": true}`)}, dup: true},
		{name: "spaced", msg: &nats.Msg{Data: []byte(`{"stream": "S", "seq": 7, "duplicate": true}`)}, dup: true},
		{name: "not duplicate", msg: &nats.Msg{Data: []byte(`{"stream":"S","seq":7,"duplicate": false}`)}},
		{name: "no seq digits", msg: &nats.Msg{Data: []byte(`{"stream":"S","seq":"x"}`)}, wantErr: true},
		{name: "seq overflow", msg: &nats.Msg{Data: []byte(`{"stream":"S","seq":99999999999999999999}`)}, wantErr: true},
		{name: "api error", msg: &nats.Msg{Data: []byte(`{"error":{"code":400,"err_code":10060,"description":"expected stream does not match"}}`)}, wantErr: true},
		{name: "no responders", msg: &nats.Msg{Header: nats.Header{"Status": {"503"}}}, wantErr: true, is: jetstream.ErrNoStreamResponse},
		{name: "other status", msg: &nats.Msg{Header: nats.Header{"Status": {"408"}}}, wantErr: true},
		{name: "empty", msg: &nats.Msg{}, wantErr: true},
		{name: "garbage", msg: &nats.Msg{Data: []byte(`{"stream":`)}, wantErr: true},
		{name: "bad error", msg: &nats.Msg{Data: []byte(`{"error":5}`)}, wantErr: true},
	} {
		seq, dup, err := parsePubAck(c.msg)
		if (err != nil) != c.wantErr || dup != c.dup {
			t.Errorf("%s: got dup %v err %v, want dup %v err %v", c.name, dup, err, c.dup, c.wantErr)
		}
		if err == nil && seq != 7 {
			t.Errorf("%s: got seq %d, want 7", c.name, seq)
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: error %v is not %v", c.name, err, c.is)
		}
	}
	var apiErr *jetstream.APIError
	if _, _, err := parsePubAck(&nats.Msg{Data: []byte(`{"error":{"code":503,"err_code":10077,"description":"x"}}`)}); !errors.As(err, &apiErr) || apiErr.ErrorCode != 10077 {
		t.Errorf("api error not returned as *jetstream.APIError: %v", err)
	}
}

// An ack queues only for a well-formed reply subject under the inbox, and
// a wait skips other epochs' acks.
func TestPubAcksHandle(t *testing.T) {
	a := &pubAcks{inbox: "_INBOX.x.", got: map[uint64]pubAck{}, wake: make(chan struct{}, 1)}
	for _, subj := range []string{"other.0.1", "_INBOX.x.", "_INBOX.x.0", "_INBOX.x.a.1", "_INBOX.x.0.b", "_INBOX.x.0.1.2", "_INBOX.x.1.5"} {
		a.handle(&nats.Msg{Subject: subj, Data: []byte(`{"stream":"S","seq":1}`)})
	}
	a.handle(&nats.Msg{Subject: "_INBOX.x.0.3", Data: []byte(`{"stream":"S","seq":1}`)})
	if a.collect(); len(a.got) != 1 {
		t.Fatalf("got %v, want only seq 3 of epoch 0", a.got)
	}
	if _, ok := a.got[3]; !ok {
		t.Fatalf("got %v, want seq 3", a.got)
	}
}
