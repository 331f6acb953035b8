package engine

import (
	"context"
	"testing"

	"github.com/godwit-db/godwit/engine/attr"
)

// TestDeleteTableKeepsStreamOutbox: deleting a table with a stream keeps
// its outbox (and a record of the table) across a restart until
// ForgetDropped; a table that never had a stream keeps nothing.
func TestDeleteTableKeepsStreamOutbox(t *testing.T) {
	dir := t.TempDir()
	db := catOpen(t, Config{Dir: dir})
	in := catSimple("streamed")
	in.StreamSpecification = &StreamSpecification{StreamEnabled: bptr(true), StreamViewType: "KEYS_ONLY"}
	catCreate(t, db, in)
	catCreate(t, db, catSimple("plain"))
	for _, k := range []string{"a", "b", "c"} {
		catPut(t, db, "streamed", attr.Item{"pk": attr.Str(k), "sk": attr.Str("s")})
		catPut(t, db, "plain", attr.Item{"pk": attr.Str(k), "sk": attr.Str("s")})
	}
	info, _ := db.Table("streamed")
	var want uint64
	for part := 0; part < info.Partitions; part++ {
		h, _ := db.OutboxHead("streamed", part)
		want += h
	}
	for _, name := range []string{"streamed", "plain"} {
		if _, err := db.DeleteTable(context.Background(), &DeleteTableInput{TableName: name}); err != nil {
			t.Fatal(err)
		}
	}
	catClose(db)
	db = catOpen(t, Config{Dir: dir})

	dropped := db.DroppedTables()
	if len(dropped) != 1 || dropped[0].ID != info.ID || dropped[0].LatestStreamLabel != info.Stream.Label ||
		dropped[0].LatestStreamViewType != "KEYS_ONLY" {
		t.Fatalf("dropped tables after restart: %+v", dropped)
	}
	if got, ok := db.TableByID(info.ID); !ok || !got.Dropped {
		t.Fatalf("TableByID of a dropped table: %+v %v", got, ok)
	}
	var kept, heads uint64
	for part := 0; part < info.Partitions; part++ {
		changes, err := db.ReadOutbox(info.ID, part, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		kept += uint64(len(changes))
		h, _ := db.OutboxHeadByID(info.ID, part)
		heads += h
	}
	if kept != 3 || heads != want || want != 3 {
		t.Fatalf("kept %d changes, heads sum %d, want 3 and %d", kept, heads, want)
	}
	if err := db.ForgetDropped(info.ID); err != nil {
		t.Fatal(err)
	}
	if len(db.DroppedTables()) != 0 || len(catScan(t, db, tablePrefix(prefixOutbox, info.ID))) != 0 {
		t.Fatal("ForgetDropped left the outbox or the record")
	}
	if _, ok := db.TableByID(info.ID); ok {
		t.Fatal("a forgotten table is still found by id")
	}
}
