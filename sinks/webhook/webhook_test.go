package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/godwit-db/godwit/sinks"
	"github.com/godwit-db/godwit/sinks/sinkstest"
	"github.com/godwit-db/godwit/sinks/webhook"
)

const secret = "s3cret"

// verifying wraps a reply so that an unsigned or badly signed request is
// refused with 401, as a real receiver does.
func verifying(t *testing.T, reply sinkstest.ReplyFunc) sinkstest.ReplyFunc {
	return func(w nethttp.Header, r *nethttp.Request, body []byte) (int, []byte) {
		err := webhook.Verify(secret, r.Header.Get(webhook.HeaderSignature), r.Header.Get(webhook.HeaderTimestamp), body, time.Now(), 5*time.Minute)
		if err != nil {
			t.Errorf("receiver: %v", err)
			return nethttp.StatusUnauthorized, []byte(err.Error())
		}
		return reply(w, r, body)
	}
}

func eventRecords(t *testing.T, bodies [][]byte) []json.RawMessage {
	t.Helper()
	var out []json.RawMessage
	for _, b := range bodies {
		var ev struct{ Records []json.RawMessage }
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatalf("receiver got a non-event %q: %v", b, err)
		}
		out = append(out, ev.Records...)
	}
	return out
}

func TestConformance(t *testing.T) {
	sinkstest.Run(t, sinkstest.Harness{
		// NB: the scripted failure answers 400: a webhook's 5xx is transient.
		Caps: sinkstest.Caps{Events: true, FunctionErrors: true, ItemFailures: true, Throttle: true},
		New: func(t *testing.T, _ *sinkstest.Gen) *sinkstest.Instance {
			rcv := sinkstest.NewHTTPReceiver(t, verifying(t, sinkstest.ScriptedReply(nethttp.StatusBadRequest)))
			tg, err := webhook.New(webhook.Config{URL: rcv.URL() + "/hook", Secret: secret})
			if err != nil {
				t.Fatal(err)
			}
			return &sinkstest.Instance{
				Target:  tg,
				Records: func(t *testing.T) []json.RawMessage { return eventRecords(t, rcv.Bodies()) },
				Events:  func(*testing.T) [][]byte { return rcv.Bodies() },
				Down:    func(*testing.T) { rcv.Stop() },
				Up:      rcv.Start,
			}
		},
	})
}

func TestSignatureHeaders(t *testing.T) {
	rcv := sinkstest.NewHTTPReceiver(t, nil)
	now := time.Unix(1767323045, 0)
	tg, err := webhook.New(webhook.Config{URL: rcv.URL(), Secret: secret, Now: func() time.Time { return now },
		Headers: map[string]string{"Authorization": "Bearer x"}})
	if err != nil {
		t.Fatal(err)
	}
	b := sinkstest.NewGen("T").Batch(sinkstest.ActionOK, sinkstest.ActionOK)
	if _, err := tg.Deliver(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	r, body := rcv.Requests()[0], rcv.Bodies()[0]
	if got := r.Header.Get(webhook.HeaderTimestamp); got != "1767323045" {
		t.Fatalf("timestamp %q", got)
	}
	// The documented scheme, computed independently of Sign.
	if got, want := r.Header.Get(webhook.HeaderSignature), webhook.Sign(secret, 1767323045, body); got != want || !strings.HasPrefix(got, "sha256=") || len(got) != 7+64 {
		t.Fatalf("signature %q, want %q", got, want)
	}
	if got, want := r.Header.Get(webhook.HeaderDelivery), b.ShardID+"/"+b.Records[0].SequenceNumber+"-"+b.Records[1].SequenceNumber; got != want {
		t.Fatalf("delivery %q, want %q", got, want)
	}
	if r.Header.Get("Authorization") != "Bearer x" || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", r.Header)
	}
	sig, ts := r.Header.Get(webhook.HeaderSignature), r.Header.Get(webhook.HeaderTimestamp)
	for _, tc := range []struct {
		name            string
		secret, sig, ts string
		body            []byte
		now             time.Time
		want            error
	}{
		{"valid", secret, sig, ts, body, now, nil},
		{"valid-skewed", secret, sig, ts, body, now.Add(-4 * time.Minute), nil},
		{"body-edited", secret, sig, ts, append([]byte(" "), body...), now, webhook.ErrSignature},
		{"wrong-secret", "other", sig, ts, body, now, webhook.ErrSignature},
		{"ts-edited", secret, sig, "1767323046", body, now, webhook.ErrSignature},
		{"replayed-late", secret, sig, ts, body, now.Add(6 * time.Minute), webhook.ErrTimestamp},
		{"from-future", secret, sig, ts, body, now.Add(-6 * time.Minute), webhook.ErrTimestamp},
		{"no-prefix", secret, strings.TrimPrefix(sig, "sha256="), ts, body, now, webhook.ErrSignature},
		{"not-hex", secret, "sha256=zz", ts, body, now, webhook.ErrSignature},
		{"no-ts", secret, sig, "", body, now, webhook.ErrTimestamp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := webhook.Verify(tc.secret, tc.sig, tc.ts, tc.body, tc.now, 5*time.Minute)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestClassification(t *testing.T) {
	for _, tc := range []struct {
		status    int
		transient bool
	}{{200, false}, {204, false}, {400, false}, {401, false}, {404, false}, {409, false}, {429, true}, {500, true}, {502, true}, {503, true}} {
		rcv := sinkstest.NewHTTPReceiver(t, func(nethttp.Header, *nethttp.Request, []byte) (int, []byte) { return tc.status, []byte("nope") })
		tg, err := webhook.New(webhook.Config{URL: rcv.URL(), Secret: secret})
		if err != nil {
			t.Fatal(err)
		}
		_, err = tg.Deliver(context.Background(), sinkstest.NewGen("T").Batch(sinkstest.ActionOK))
		switch {
		case tc.status/100 == 2:
			if err != nil {
				t.Errorf("%d: %v", tc.status, err)
			}
		case tc.transient:
			if !errors.Is(err, sinks.ErrTransient) {
				t.Errorf("%d: %v, want ErrTransient", tc.status, err)
			}
		default:
			if !errors.Is(err, webhook.ErrStatus) || errors.Is(err, sinks.ErrTransient) || !strings.Contains(err.Error(), "nope") {
				t.Errorf("%d: %v, want ErrStatus with the body", tc.status, err)
			}
		}
	}
}

func TestTimeoutIsTransient(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	rcv := sinkstest.NewHTTPReceiver(t, func(nethttp.Header, *nethttp.Request, []byte) (int, []byte) {
		<-release
		return 200, nil
	})
	tg, err := webhook.New(webhook.Config{URL: rcv.URL(), Secret: secret, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Deliver(context.Background(), sinkstest.NewGen("T").Batch(sinkstest.ActionOK)); !errors.Is(err, sinks.ErrTransient) {
		t.Fatalf("%v, want ErrTransient", err)
	}
}

func TestValidate(t *testing.T) {
	err := webhook.Config{URL: "", Headers: map[string]string{"X-Godwit-Signature": "forged"}, Timeout: -1}.Validate()
	for _, want := range []string{"URL", "Secret", "X-Godwit-Signature", "Timeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
}
