package globaltables

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/engine/attr"
)

func gtDigestServer(t *testing.T, r *gtRegion) VerifyRegion {
	t.Helper()
	s, err := NewDigestServer(DigestServerConfig{Conn: gtConn(t, r.srv), DB: r.db, Logger: gtLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return VerifyRegion{Name: r.name, Conn: gtConn(t, r.srv)}
}

// gtApplyFake writes an item straight into r's engine as if a region
// named source had replicated it: no driver forwards it anywhere.
func gtApplyFake(t *testing.T, r *gtRegion, source, k, v string, ver conflict.Version) {
	t.Helper()
	info, _ := r.db.Table(gtTable)
	c := &engine.Change{Keys: gtKey(k), NewImage: attr.Item{"pk": attr.Str(k), "v": attr.Str(v)}, Version: ver}
	for p := 0; p < info.Partitions; p++ {
		pos, err := r.db.AppliedPosition(gtTable, source, p)
		if err != nil {
			t.Fatal(err)
		}
		next := engine.ReplicaPos{StreamSeq: pos.StreamSeq + 1, ChangeSeq: pos.ChangeSeq + 1}
		if _, err := r.db.ApplyRemote(gtTable, p, source, pos, next, []*engine.Change{c}); err == nil {
			return
		}
	}
	t.Fatalf("no partition of %s took key %s", r.name, k)
}

// TestVerifyIdenticalThenDivergent: two regions converge and verify says
// identical; a write slipped into one engine only is then reported with
// each region's version, and a key held by one region only as absent in
// the other.
func TestVerifyIdenticalThenDivergent(t *testing.T) {
	us := gtStartRegion(t, "us-east-1")
	eu := gtStartRegion(t, "eu-west-1")
	gtPut(t, us, "seed-us", "x")
	gtPut(t, eu, "seed-eu", "x")
	gtWaitStream(t, us)
	gtWaitStream(t, eu)
	toEU := gtDriver(t, eu, us, nil)
	toUS := gtDriver(t, us, eu, nil)
	keys := []string{"seed-us", "seed-eu"}
	for i := 0; i < 100; i++ {
		k := fmt.Sprintf("k%03d", i)
		keys = append(keys, k)
		if i%2 == 0 {
			gtPut(t, us, k, "us")
		} else {
			gtPut(t, eu, k, "eu")
		}
	}
	gtDelete(t, us, "k010")
	gtConverge(t, us, eu, toUS, toEU, keys)
	regions := []VerifyRegion{gtDigestServer(t, us), gtDigestServer(t, eu)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := VerifyConfig{Table: gtTable, Regions: regions, Buckets: 8, Settle: 50 * time.Millisecond}
	rep, err := Verify(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Identical || len(rep.Differing) != 0 || rep.Entries["us-east-1"] != 102 || rep.Entries["eu-west-1"] != 102 {
		t.Fatalf("converged replicas: %+v", rep)
	}

	// Divergence: a version of k005 that only eu-west-1 holds.
	fake := conflict.Version{Wall: time.Now().Add(time.Second).UnixNano(), Region: "zz-fake"}
	gtApplyFake(t, eu, "zz-fake", "k005", "diverged", fake)
	rep, err = Verify(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Identical || len(rep.Differing) != 1 {
		t.Fatalf("diverged replicas: %+v", rep)
	}
	d := rep.Differing[0]
	var key map[string]map[string]string
	_ = json.Unmarshal(d.Key, &key)
	usVer, _, _, _ := us.db.ItemVersion(gtTable, gtKey("k005"))
	if key["pk"]["S"] != "k005" || d.Regions["eu-west-1"].Version.Version() != fake ||
		d.Regions["us-east-1"].Version.Version() != usVer || !d.Regions["us-east-1"].Present {
		t.Fatalf("differing key %+v (us version %v)", d, usVer)
	}
	// A key only one region holds is reported with the other absent.
	gtApplyFake(t, us, "zz-fake", "only-us", "x", fake)
	rep, err = Verify(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Differing) != 2 || rep.Differing[1].Regions["eu-west-1"].Present {
		t.Fatalf("key held by one region: %+v", rep.Differing)
	}
}

func TestDigestServerAnswersErrors(t *testing.T) {
	us := gtStartRegion(t, "us-east-1")
	eu := gtStartRegion(t, "eu-west-1")
	regions := []VerifyRegion{gtDigestServer(t, us), gtDigestServer(t, eu)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := Verify(ctx, VerifyConfig{Table: "nope", Regions: regions}); err == nil {
		t.Fatal("verify of a missing table succeeded")
	}
	v := &verifier{cfg: VerifyConfig{Table: gtTable, Buckets: 4, Timeout: 5 * time.Second}}
	if _, err := v.request(ctx, regions[0], DigestRequest{Op: "bogus"}); err == nil {
		t.Fatal("unknown op answered")
	}
	m, err := regions[0].Conn.RequestWithContext(ctx, DigestSubject("us-east-1"), []byte(`{"v":99}`))
	if err != nil {
		t.Fatal(err)
	}
	var rep DigestReply
	if err := json.Unmarshal(m.Data, &rep); err != nil || rep.Error == "" {
		t.Fatalf("version 99 answered %s", m.Data)
	}
	if err := (VerifyConfig{Regions: regions[:1], Buckets: -1}).Validate(); err == nil {
		t.Fatal("bad config accepted")
	}
}
