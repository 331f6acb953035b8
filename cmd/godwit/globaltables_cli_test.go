package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/engine/attr"
	"github.com/godwit-db/godwit/globaltables"
	"github.com/godwit-db/godwit/streams/embedded"
	"github.com/nats-io/nats.go/jetstream"
)

// cliRegion is an engine with a replicated table "glob", a NATS server
// listening on a loopback port, and a digest server.
type cliRegion struct {
	name string
	db   *engine.DB
	srv  *embedded.Server
}

func startCLIRegion(t *testing.T, name string) *cliRegion {
	t.Helper()
	srv, err := embedded.Start(embedded.Config{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Domain: name, MaxStore: 1 << 28})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	db, err := engine.Open(engine.Config{InMemory: true, Region: name, DefaultPartitions: 2, TTLSweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.CreateTable(context.Background(), &engine.CreateTableInput{
		TableName:            "glob",
		AttributeDefinitions: []engine.AttributeDefinition{{AttributeName: "pk", AttributeType: "S"}},
		KeySchema:            []engine.KeySchemaElement{{AttributeName: "pk", KeyType: "HASH"}},
		BillingMode:          "PAY_PER_REQUEST",
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetReplicated("glob", true); err != nil {
		t.Fatal(err)
	}
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ds, err := globaltables.NewDigestServer(globaltables.DigestServerConfig{Conn: nc, DB: db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ds.Close() })
	return &cliRegion{name: name, db: db, srv: srv}
}

// applyAs writes an item into r's engine as a change replicated from source.
func (r *cliRegion) applyAs(t *testing.T, source, k, v string, ver conflict.Version) {
	t.Helper()
	c := &engine.Change{Keys: attr.Item{"pk": attr.Str(k)}, NewImage: attr.Item{"pk": attr.Str(k), "v": attr.Str(v)}, Version: ver}
	for p := 0; p < 2; p++ {
		pos, _ := r.db.AppliedPosition("glob", source, p)
		next := engine.ReplicaPos{StreamSeq: pos.StreamSeq + 1}
		if _, err := r.db.ApplyRemote("glob", p, source, pos, next, []*engine.Change{c}); err == nil {
			return
		}
	}
	t.Fatalf("no partition took %s", k)
}

func TestVerifyCommand(t *testing.T) {
	a, b := startCLIRegion(t, "us-east-1"), startCLIRegion(t, "eu-west-1")
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for i, k := range []string{"a", "b", "c", "d"} {
		v := conflict.Version{Wall: base + int64(i), Region: "ap-south-1"}
		a.applyAs(t, "ap-south-1", k, "x", v)
		b.applyAs(t, "ap-south-1", k, "x", v)
	}
	args := []string{"verify", "glob", "--region", "us-east-1=" + a.srv.ClientURL(), "--region", "eu-west-1=" + b.srv.ClientURL(),
		"--settle", "10ms"}
	var out, errs bytes.Buffer
	if code := run(context.Background(), args, &out, &errs); code != verifyIdentical || !strings.HasPrefix(out.String(), "identical") {
		t.Fatalf("exit %d, out %q, err %q", code, out.String(), errs.String())
	}
	b.applyAs(t, "ap-south-1", "c", "changed", conflict.Version{Wall: base + 100, Region: "ap-south-1"})
	out.Reset()
	if code := run(context.Background(), args, &out, &errs); code != verifyDifferent ||
		!strings.Contains(out.String(), `{"pk":{"S":"c"}} eu-west-1=`+conflict.Version{Wall: base + 100, Region: "ap-south-1"}.String()) {
		t.Fatalf("exit %d, out %q, err %q", code, out.String(), errs.String())
	}
	out.Reset()
	if code := run(context.Background(), append(args, "--format", "json"), &out, &errs); code != verifyDifferent {
		t.Fatalf("json: exit %d", code)
	}
	var rep globaltables.VerifyReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || len(rep.Differing) != 1 {
		t.Fatalf("json report %q: %v", out.String(), err)
	}
	if code := run(context.Background(), []string{"verify", "glob", "--region", "x=" + a.srv.ClientURL()}, &out, &errs); code != verifyTrouble {
		t.Fatalf("one region: exit %d", code)
	}
	if code := run(context.Background(), []string{"verify", "nope", "--region", "us-east-1=" + a.srv.ClientURL(),
		"--region", "eu-west-1=" + b.srv.ClientURL()}, &out, &errs); code != verifyTrouble {
		t.Fatalf("missing table: exit %d", code)
	}
}

func TestConflictsCommand(t *testing.T) {
	r := startCLIRegion(t, "us-east-1")
	nc, err := r.srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var out, errs bytes.Buffer
	// No log yet: nothing to print, success.
	if code := run(ctx, []string{"conflicts", "glob", "--nats-url", r.srv.ClientURL()}, &out, &errs); code != exitOK || out.Len() != 0 {
		t.Fatalf("empty: exit %d out %q err %q", code, out.String(), errs.String())
	}
	log, err := globaltables.NewConflictLog(globaltables.ConflictLogConfig{JetStream: js, Region: r.name, MaxBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c := &engine.Conflict{
		Outcome: conflict.RemoteWon, Keys: attr.Item{"pk": attr.Str("k")},
		Stored: conflict.Version{Wall: 10, Region: "us-east-1"}, StoredImage: attr.Item{"pk": attr.Str("k"), "v": attr.Str("local")},
		Incoming: conflict.Version{Wall: 20, Region: "eu-west-1"}, IncomingImage: attr.Item{"pk": attr.Str("k"), "v": attr.Str("remote")},
	}
	log.Append(globaltables.NewConflictRecord("glob", r.name, "eu-west-1", c, time.Now()))
	log.Append(globaltables.NewConflictRecord("other", r.name, "eu-west-1", c, time.Now()))
	if err := log.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if code := run(ctx, []string{"conflicts", "glob", "--nats-url", r.srv.ClientURL()}, &out, &errs); code != exitOK {
		t.Fatalf("exit %d err %q", code, errs.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var rec globaltables.ConflictRecord
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &rec) != nil || rec.Winner != "incoming" ||
		rec.Outcome != "remote-won" || rec.Source != "eu-west-1" || !strings.Contains(string(rec.StoredImage), "local") {
		t.Fatalf("output %q", out.String())
	}
	out.Reset()
	if code := run(ctx, []string{"conflicts", "--format", "text", "--since", "1h", "--nats-url", r.srv.ClientURL(), "glob"}, &out, &errs); code != exitOK ||
		!strings.Contains(out.String(), "remote-won from eu-west-1: winner incoming 20.0@eu-west-1") {
		t.Fatalf("text: exit %d out %q err %q", code, out.String(), errs.String())
	}
	// --follow prints the existing record, then waits until interrupted.
	out.Reset()
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan int, 1)
	sb := &syncBuffer{}
	go func() {
		done <- run(fctx, []string{"conflicts", "glob", "--follow", "--nats-url", r.srv.ClientURL()}, sb, &errs)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(sb.String(), "remote-won") {
		if time.Now().After(deadline) {
			t.Fatal("--follow printed nothing")
		}
		time.Sleep(10 * time.Millisecond) // NB: a poll interval
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("--follow exit %d", code)
	}
}
