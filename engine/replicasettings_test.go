package engine

import (
	"context"
	"errors"
	"testing"
)

// TestReplicaSettingsGenAndCompareAndSet: a client's UpdateTable and
// UpdateTimeToLive count in SettingsGen (and tell the hook of a replicated
// table); a change applied for another region does not count, skips
// UpdateTimeToLive's one-change-an-hour limit, and is refused once a
// client changed the settings since they were read.
func TestReplicaSettingsGenAndCompareAndSet(t *testing.T) {
	ctx := context.Background()
	db := catOpen(t, Config{Dir: t.TempDir()})
	catCreate(t, db, catSimple("sst"))
	var told []string
	db.SetReplicaHooks(ReplicaHooks{SettingsChanged: func(table string) { told = append(told, table) }})
	gen := func() uint64 {
		t.Helper()
		s, err := db.TableSettings("sst")
		if err != nil {
			t.Fatal(err)
		}
		return s.Gen
	}
	on, attr := true, "exp"
	if _, err := db.UpdateTimeToLive(ctx, &UpdateTimeToLiveInput{TableName: "sst",
		TimeToLiveSpecification: &TimeToLiveSpecification{Enabled: &on, AttributeName: &attr}}); err != nil {
		t.Fatal(err)
	}
	if g := gen(); g != 1 || len(told) != 0 {
		t.Fatalf("after UpdateTimeToLive on a regional table: gen %d, told %v; want 1, none", g, told)
	}
	if err := db.SetReplicated("sst", true); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateTable(ctx, &UpdateTableInput{TableName: "sst", BillingMode: "PAY_PER_REQUEST"}); err != nil {
		t.Fatal(err)
	}
	if g := gen(); g != 2 || len(told) != 1 {
		t.Fatalf("after UpdateTable on a replicated table: gen %d, told %v; want 2, [s]", g, told)
	}
	// Stale generation: refused, nothing written.
	if err := db.ApplyReplicaTTL("sst", 1, "other"); !errors.Is(err, ErrSettingsChanged) {
		t.Fatalf("stale ApplyReplicaTTL: %v", err)
	}
	r, w := int64(2), int64(3)
	stale := &UpdateTableInput{TableName: "sst", BillingMode: "PROVISIONED",
		ProvisionedThroughput: &ProvisionedThroughput{ReadCapacityUnits: &r, WriteCapacityUnits: &w}}
	if err := db.ApplyReplicaUpdate(ctx, 1, stale); !errors.Is(err, ErrSettingsChanged) {
		t.Fatalf("stale ApplyReplicaUpdate: %v", err)
	}
	// Current generation: applied (within the TTL hour), not counted.
	if err := db.ApplyReplicaTTL("sst", 2, "other"); err != nil {
		t.Fatal(err)
	}
	if err := db.ApplyReplicaUpdate(ctx, 2, stale); err != nil {
		t.Fatal(err)
	}
	s, err := db.TableSettings("sst")
	if err != nil {
		t.Fatal(err)
	}
	if s.Gen != 2 || s.TTLAttribute != "other" || s.BillingMode != "PROVISIONED" || s.WriteCapacity != 3 {
		t.Fatalf("settings %+v", s)
	}
	if len(told) != 1 {
		t.Fatalf("applied changes told the hook: %v", told)
	}
	// Validation still holds for applied changes.
	if err := db.ApplyReplicaUpdate(ctx, 2, &UpdateTableInput{TableName: "sst", BillingMode: "PROVISIONED"}); !isAPIErr(err, "ValidationException") {
		t.Fatalf("invalid applied update: %v", err)
	}
}
