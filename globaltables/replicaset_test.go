package globaltables

import (
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/godwit-db/godwit/engine"
)

func TestReplicaSetConcurrentChangesBothSurvive(t *testing.T) {
	base := newReplicaSet("t")
	base.set("a", "a", Member{Status: StatusActive})
	base.set("b", "a", Member{Status: StatusCreating, Source: "a"})

	inB := base.clone() // B finishes its backfill...
	inB.set("b", "b", Member{Status: StatusActive})
	inA := base.clone() // ...while A adds C.
	inA.set("c", "a", Member{Status: StatusCreating, Source: "a"})

	x, y := inA.clone(), inB.clone()
	if !x.Merge(inB) || !y.Merge(inA) {
		t.Fatal("merge saw no change")
	}
	if !reflect.DeepEqual(x, y) {
		t.Fatalf("merge is order-dependent:\n%+v\n%+v", x, y)
	}
	if x.Members["b"].Status != StatusActive || x.Members["c"].Status != StatusCreating {
		t.Fatalf("a change was lost: %+v", x.Members)
	}
	if x.Merge(inA) || x.Merge(inB) {
		t.Fatal("merging again changed the set (not idempotent)")
	}
}

func TestReplicaSetSameVersionTieBreaksOnWriter(t *testing.T) {
	base := newReplicaSet("t")
	base.set("c", "a", Member{Status: StatusActive})
	byA, byB := base.clone(), base.clone()
	byA.set("c", "a", Member{Status: StatusDeleting})
	byB.set("c", "b", Member{Status: StatusActive, Progress: 7})
	x, y := byA.clone(), byB.clone()
	x.Merge(byB)
	y.Merge(byA)
	if !reflect.DeepEqual(x, y) || x.Members["c"].By != "b" {
		t.Fatalf("tie not broken alike on the writer: %+v / %+v", x.Members["c"], y.Members["c"])
	}
}

// TestReplicaSetMergeConverges delivers random entry changes from several
// regions in random orders, with duplicates: every region ends with the
// same set.
func TestReplicaSetMergeConverges(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	regions := []string{"a", "b", "c", "d"}
	statuses := []string{StatusCreating, StatusActive, StatusDeleting, StatusDeleted}
	for round := 0; round < 200; round++ {
		local := map[string]*ReplicaSet{}
		var sent []*ReplicaSet
		for _, r := range regions {
			local[r] = newReplicaSet("t")
		}
		for i := 0; i < 20; i++ {
			r := regions[rng.Intn(len(regions))]
			if rng.Intn(3) == 0 && len(sent) > 0 { // receive something first
				local[r].Merge(sent[rng.Intn(len(sent))])
			}
			local[r].set(regions[rng.Intn(len(regions))], r, Member{Status: statuses[rng.Intn(len(statuses))]})
			sent = append(sent, local[r].clone())
		}
		for _, r := range regions {
			for _, i := range rng.Perm(len(sent)) {
				local[r].Merge(sent[i])
				if rng.Intn(4) == 0 {
					local[r].Merge(sent[i]) // duplicate
				}
			}
		}
		for _, r := range regions[1:] {
			if !reflect.DeepEqual(local[r], local[regions[0]]) {
				t.Fatalf("round %d (seed %d): %s and %s differ:\n%+v\n%+v", round, seed, r, regions[0], local[r], local[regions[0]])
			}
		}
	}
}

func TestReplicaSetDescribe(t *testing.T) {
	s := newReplicaSet("t")
	s.set("us-east-1", "us-east-1", Member{Status: StatusActive})
	if s.describe("us-east-1") != nil {
		t.Fatal("a set of the local region alone is described (it is a regional table)")
	}
	s.set("eu-west-1", "us-east-1", Member{Status: StatusCreating, Progress: 40})
	s.set("ap-south-1", "us-east-1", Member{Status: StatusDeleted})
	got := s.describe("us-east-1")
	want := []any{ // the other live regions only: not the local one, not a deleted one
		ReplicaDescription{RegionName: "eu-west-1", ReplicaStatus: "CREATING", ReplicaStatusPercentProgress: "40"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("describe = %+v", got)
	}
	data := s.marshal()
	back, err := unmarshalReplicaSet(data)
	if err != nil || !reflect.DeepEqual(back, s) {
		t.Fatalf("round trip: %v %+v", err, back)
	}
	if _, err := unmarshalReplicaSet([]byte(`{"format":9}`)); err == nil {
		t.Fatal("unknown format accepted")
	}
}

func TestReplicaSetSettingsMergePerEntry(t *testing.T) {
	base := newReplicaSet("t")
	base.setSetting(settingTTL, "a", Setting{})
	base.setSetting(settingBilling, "a", Setting{BillingMode: "PAY_PER_REQUEST"})
	base.Observed = map[string]Setting{settingTTL: {}}

	inB := base.clone() // B enables TTL...
	inB.setSetting(settingTTL, "b", Setting{TTLAttribute: "exp"})
	inC := base.clone() // ...while C adds a GSI and A switches billing too.
	inC.setSetting(settingGSI+"ix", "c", Setting{GSI: &engine.GSISettings{}})
	inA := base.clone()
	inA.setSetting(settingBilling, "a", Setting{BillingMode: "PROVISIONED", WriteCapacity: 3})
	inA.Observed = map[string]Setting{settingBilling: {BillingMode: "PROVISIONED"}}

	x := inA.clone()
	x.Merge(inB)
	x.Merge(inC)
	y := inC.clone()
	y.Merge(inA)
	y.Merge(inB)
	if !reflect.DeepEqual(x.Settings, y.Settings) {
		t.Fatalf("merge is order-dependent:\n%+v\n%+v", x.Settings, y.Settings)
	}
	if x.Settings[settingTTL].TTLAttribute != "exp" || x.Settings[settingGSI+"ix"].GSI == nil || x.Settings[settingBilling].WriteCapacity != 3 {
		t.Fatalf("a change was lost: %+v", x.Settings)
	}
	// Observed is each region's own: a merge never carries it.
	if !reflect.DeepEqual(y.Observed, inC.Observed) {
		t.Fatalf("Observed merged: %+v", y.Observed)
	}
	// Concurrent changes of one entry: the greater version, then region.
	p, q := base.clone(), base.clone()
	p.setSetting(settingTTL, "a", Setting{TTLAttribute: "x"})
	q.setSetting(settingTTL, "b", Setting{TTLAttribute: "y"})
	p.Merge(q)
	q.Merge(base)
	if p.Settings[settingTTL].TTLAttribute != "y" || q.Settings[settingTTL].TTLAttribute != "y" {
		t.Fatalf("tie not broken by region: %+v / %+v", p.Settings[settingTTL], q.Settings[settingTTL])
	}
}

func TestReplicaSetTableStatus(t *testing.T) {
	s := newReplicaSet("t")
	s.set("a", "a", Member{Status: StatusActive})
	if got := s.tableStatus("a"); got != "" {
		t.Errorf("regional: %q", got)
	}
	s.set("b", "a", Member{Status: StatusCreating, Source: "a"})
	for region, want := range map[string]string{"a": "UPDATING", "b": "CREATING"} {
		if got := s.tableStatus(region); got != want {
			t.Errorf("b CREATING, in %s: %q, want %q", region, got, want)
		}
	}
	s.set("b", "b", Member{Status: StatusActive})
	for _, region := range []string{"a", "b"} {
		if got := s.tableStatus(region); got != "" {
			t.Errorf("all ACTIVE, in %s: %q", region, got)
		}
	}
	s.set("b", "a", Member{Status: StatusDeleting})
	for region, want := range map[string]string{"a": "UPDATING", "b": "DELETING"} {
		if got := s.tableStatus(region); got != want {
			t.Errorf("b DELETING, in %s: %q, want %q", region, got, want)
		}
	}
	s.set("b", "b", Member{Status: StatusDeleted})
	if got := s.tableStatus("a"); got != "" {
		t.Errorf("b gone: %q", got)
	}
}
