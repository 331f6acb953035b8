package engine

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine/attr"
)

// TestTTLSweep checks the sweeper deletes exactly the expired items (a
// Number of epoch seconds in the past, no more than five years back),
// through the normal write path: index entries go with the item, expired
// items stay readable until the sweep, and the change record is flagged as
// a TTL delete.
func TestTTLSweep(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := conflict.NewManualClock(now)
	db := catOpen(t, Config{Clock: clock})
	in := catSimple("ttl")
	in.AttributeDefinitions = catDefs("pk", "S", "sk", "S", "g", "S")
	in.GlobalSecondaryIndexes = []GlobalSecondaryIndex{{IndexName: "byG", KeySchema: catKS("g", ""), Projection: catProj("ALL")}}
	in.StreamSpecification = &StreamSpecification{StreamEnabled: bptr(true), StreamViewType: "NEW_AND_OLD_IMAGES"}
	catCreate(t, db, in)
	if _, err := db.UpdateTimeToLive(context.Background(), &UpdateTimeToLiveInput{TableName: "ttl",
		TimeToLiveSpecification: &TimeToLiveSpecification{Enabled: bptr(true), AttributeName: sptr("exp")}}); err != nil {
		t.Fatal(err)
	}
	secs := func(d time.Duration) attr.Value {
		return attr.Value{Type: attr.N, S: strconv.FormatInt(now.Add(d).Unix(), 10)}
	}
	items := map[string]attr.Value{
		"expired":      secs(-time.Minute),
		"future":       secs(time.Hour),
		"now":          secs(0), // not expired: expiry is attr < now
		"too-old":      secs(-6 * 365 * 24 * time.Hour),
		"string":       attr.Str(strconv.FormatInt(now.Add(-time.Hour).Unix(), 10)),
		"fractional":   {Type: attr.N, S: strconv.FormatInt(now.Unix()-1, 10) + ".5"},
		"no-attribute": {},
	}
	for k, v := range items {
		it := attr.Item{"pk": attr.Str(k), "sk": attr.Str("s"), "g": attr.Str("g-" + k)}
		if v.Type != attr.TypeInvalid {
			it["exp"] = v
		}
		catPut(t, db, "ttl", it)
	}
	if len(catItems(t, db, "ttl")) != len(items) {
		t.Fatal("expired items must stay until the sweep")
	}
	n, err := db.SweepTTL(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	left := map[string]bool{}
	for _, it := range catItems(t, db, "ttl") {
		left[it["pk"].S] = true
	}
	for _, gone := range []string{"expired", "fractional"} {
		if left[gone] {
			t.Errorf("%s survived the sweep", gone)
		}
	}
	for _, kept := range []string{"future", "now", "too-old", "string", "no-attribute"} {
		if !left[kept] {
			t.Errorf("%s was deleted", kept)
		}
	}
	if n != 2 {
		t.Errorf("sweep reported %d deletions, want 2", n)
	}
	if keys := catIndexKeys(t, db, "ttl", "byG"); len(keys) != 5 {
		t.Errorf("index has %d entries after the sweep, want 5", len(keys))
	}
	// The deletes are change records flagged as TTL deletes.
	m := db.table("ttl").m()
	removes := 0
	for part := 0; part < m.Partitions; part++ {
		changes, err := db.ReadOutbox(m.ID, part, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range changes {
			if c.EventName == EventRemove {
				removes++
				if !c.TTL || c.NewImage != nil || c.OldImage["exp"].Type != attr.N {
					t.Errorf("TTL remove record %+v", c)
				}
			} else if c.TTL {
				t.Errorf("%s record flagged TTL", c.EventName)
			}
		}
	}
	if removes != 2 {
		t.Errorf("%d REMOVE records, want 2", removes)
	}
	// Time passes: "now" and "future" expire in turn; a second sweep is idempotent.
	clock.Advance(2 * time.Hour)
	if n, err := db.SweepTTL(context.Background()); err != nil || n != 2 {
		t.Fatalf("second sweep: %d, %v", n, err)
	}
	if n, err := db.SweepTTL(context.Background()); err != nil || n != 0 {
		t.Fatalf("third sweep: %d, %v", n, err)
	}
}

// TestTTLSweepRechecksOnThePartition: an item whose expiry moved after the
// scan saw it is not deleted.
func TestTTLSweepRechecksOnThePartition(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	db := catOpen(t, Config{Clock: conflict.NewManualClock(now)})
	catCreate(t, db, catSimple("ttl2"))
	if _, err := db.UpdateTimeToLive(context.Background(), &UpdateTimeToLiveInput{TableName: "ttl2",
		TimeToLiveSpecification: &TimeToLiveSpecification{Enabled: bptr(true), AttributeName: sptr("exp")}}); err != nil {
		t.Fatal(err)
	}
	past := attr.Value{Type: attr.N, S: strconv.FormatInt(now.Unix()-10, 10)}
	future := attr.Value{Type: attr.N, S: strconv.FormatInt(now.Unix()+3600, 10)}
	it := attr.Item{"pk": attr.Str("a"), "sk": attr.Str("b"), "exp": past}
	catPut(t, db, "ttl2", it)
	tb := db.table("ttl2")
	k, _ := tb.m().keyFromItem(it)
	// Simulate the race: the scan found the item expired, then a write
	// pushed the expiry out before the sweeper's delete ran.
	catPut(t, db, "ttl2", attr.Item{"pk": attr.Str("a"), "sk": attr.Str("b"), "exp": future})
	if n, err := db.sweepKeys(tb, tb.parts[k.part], [][]byte{k.itemKey(tb.m())}); err != nil || n != 0 {
		t.Fatalf("sweep of a re-armed item: %d, %v", n, err)
	}
	if len(catItems(t, db, "ttl2")) != 1 {
		t.Fatal("re-armed item was deleted")
	}
}
