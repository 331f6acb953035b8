package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/godwit-db/godwit/sinks"
	"github.com/godwit-db/godwit/sinks/auditlog"
	"github.com/godwit-db/godwit/sinks/function"
	sinkshttp "github.com/godwit-db/godwit/sinks/http"
	sinksnats "github.com/godwit-db/godwit/sinks/nats"
	"github.com/godwit-db/godwit/sinks/sinkstest"
	"github.com/godwit-db/godwit/sinks/webhook"
	"github.com/godwit-db/godwit/streams/embedded"
)

// decodeSpec decodes YAML as the config loader does (unknown keys are errors).
func decodeSpec(t *testing.T, src string) (targetSpec, error) {
	t.Helper()
	var s targetSpec
	dec := yaml.NewDecoder(bytes.NewReader([]byte(src)))
	dec.KnownFields(true)
	err := dec.Decode(&s)
	return s, err
}

func TestTargetSpecValid(t *testing.T) {
	t.Setenv("HOOK_SECRET", "s3cret")
	for _, src := range []string{
		"Type: function\nCommand: [./bootstrap, --flag]\nEnv: {A: b}\nTimeout: 30s\nConcurrency: 2\nName: orders\nRegion: eu-west-1\n",
		"Type: http\nURL: http://127.0.0.1:9000/2015-03-31/functions/function/invocations\nHeaders: {Authorization: Bearer x}\n",
		"Type: webhook\nURL: https://example.com/hook\nSecretEnv: HOOK_SECRET\nTimeout: 10s\n",
		"Type: webhook\nURL: https://example.com/hook\nSecret: inline\n",
		"Type: nats\nSubject: godwit.{table}.{eventName}\nJetStream: true\n",
		"Type: auditlog\nDir: audit/orders\nMaxBytes: 1048576\nMaxAge: 1h\n",
	} {
		s, err := decodeSpec(t, src)
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if errs := s.validate(); len(errs) > 0 {
			t.Errorf("%q: %v", src, errs)
		}
	}
}

func TestTargetSpecReportsEveryProblem(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want []string
	}{
		{"Command: [x]\n", []string{"Target.Type is required"}},
		{"Type: lambda\n", []string{`"lambda" is not one of auditlog, function, http, nats, webhook`}},
		{"Type: http\nURL: ftp://x\nSubject: a.b\nDir: /tmp\n",
			[]string{"Target.Dir does not apply to Type http", "Target.Subject does not apply to Type http", "scheme must be http or https"}},
		{"Type: webhook\nURL: http://x\nSecret: a\nSecretEnv: B\n", []string{"not both"}},
		{"Type: webhook\nURL: http://x\n", []string{"Secret or SecretEnv is required"}},
		{"Type: webhook\nURL: http://x\nSecretEnv: GODWIT_TEST_UNSET_VAR\n", []string{"GODWIT_TEST_UNSET_VAR is not set"}},
		{"Type: function\nTimeout: 20m\nConcurrency: 500\nURL: http://x\n",
			[]string{"Target.URL does not apply to Type function", "Command is required", "Timeout 20m0s", "Concurrency 500"}},
		{"Type: nats\nSubject: a.*\nJetStream: true\nMaxAge: 1h\n", []string{"Target.MaxAge does not apply", "wildcards"}},
		{"Type: auditlog\nMaxBytes: -1\nTimeout: 1s\n", []string{"Target.Timeout does not apply", "Dir is required", "MaxBytes -1"}},
	} {
		s, err := decodeSpec(t, tc.src)
		if err != nil {
			t.Fatalf("%q: %v", tc.src, err)
		}
		errs := s.validate()
		if len(errs) != len(tc.want) {
			t.Errorf("%q: %d problems %v, want %d", tc.src, len(errs), errs, len(tc.want))
			continue
		}
		all := errors.Join(errs...).Error()
		for _, w := range tc.want {
			if !strings.Contains(all, w) {
				t.Errorf("%q: %q does not mention %q", tc.src, all, w)
			}
		}
	}
}

func TestTargetSpecUnknownKeys(t *testing.T) {
	_, err := decodeSpec(t, "Type: http\nURL: http://x\nUrl: http://y\nTimeout: soon\n")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"line 3: field Url not found", "line 4:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %q", err, want)
		}
	}
}

func TestTargetSpecInCode(t *testing.T) {
	// A spec built in code (no YAML): non-zero fields count as set.
	s := targetSpec{Type: targetNATS, Subject: "a.b", MaxBytes: 5}
	errs := s.validate()
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "Target.MaxBytes does not apply") {
		t.Fatalf("%v", errs)
	}
}

func TestNewTargetBuildsEachType(t *testing.T) {
	srv, err := embedded.Start(embedded.Config{StoreDir: t.TempDir(), Listen: embedded.NoListener})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	dataDir := t.TempDir()
	reg := prometheus.NewRegistry()
	deps := targetDeps{NATS: nc, DataDir: dataDir, Registerer: reg}
	t.Setenv("HOOK_SECRET", "s3cret")

	build := func(src string) sinks.Target {
		t.Helper()
		s, err := decodeSpec(t, src)
		if err != nil {
			t.Fatal(err)
		}
		tg, err := newTarget(s, deps)
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		t.Cleanup(func() { tg.Close() })
		return tg
	}
	if _, ok := build("Type: http\nURL: http://127.0.0.1:1/x\n").(*sinkshttp.Target); !ok {
		t.Error("http: wrong type")
	}
	// The webhook resolves SecretEnv: a receiver verifying with the
	// variable's value accepts the delivery.
	rcv := sinkstest.NewHTTPReceiver(t, nil)
	wh := build("Type: webhook\nURL: " + rcv.URL() + "\nSecretEnv: HOOK_SECRET\n")
	if _, err := wh.Deliver(context.Background(), sinkstest.NewGen("T").Batch("")); err != nil {
		t.Fatal(err)
	}
	r, body := rcv.Requests()[0], rcv.Bodies()[0]
	if err := webhook.Verify("s3cret", r.Header.Get(webhook.HeaderSignature), r.Header.Get(webhook.HeaderTimestamp), body, time.Now(), 0); err != nil {
		t.Fatalf("webhook secret from SecretEnv: %v", err)
	}
	if _, ok := build("Type: nats\nSubject: godwit.{table}\n").(*sinksnats.Target); !ok {
		t.Error("nats: wrong type")
	}
	al := build("Type: auditlog\nDir: audit/orders\n")
	if _, ok := al.(*auditlog.Log); !ok {
		t.Error("auditlog: wrong type")
	}
	if _, err := al.Deliver(context.Background(), sinkstest.NewGen("T").Batch("")); err != nil {
		t.Fatal(err)
	}
	if rep, err := auditlog.Verify(filepath.Join(dataDir, "audit/orders")); err != nil || rep.Entries != 1 {
		t.Fatalf("the relative Dir is not under the data dir: %v %+v", err, rep)
	}
	// The function target reports its handler's restarts to the runtime's
	// hook (the runtime counts them per consumer).
	fn := build("Type: function\nCommand: [/bin/sh, -c, 'exit 1']\nInitTimeout: 1s\n")
	f, ok := fn.(*function.Function)
	if !ok {
		t.Fatal("function: wrong type")
	}
	restarted := make(chan struct{}, 1)
	f.SetHandlerRestartHook(func() {
		select {
		case restarted <- struct{}{}:
		default:
		}
	})
	select {
	case <-restarted:
	case <-time.After(20 * time.Second):
		t.Fatal("no restart reported to the hook")
	}

	if _, err := newTarget(targetSpec{Type: targetNATS, Subject: "a"}, targetDeps{}); err == nil {
		t.Error("a nats target without a connection was built")
	}
	if _, err := newTarget(targetSpec{Type: "http"}, deps); err == nil {
		t.Error("an invalid spec was built")
	}
	var _ *nats.Conn = deps.NATS
}
