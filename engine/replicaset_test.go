package engine

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/godwit-db/godwit/engine/apierr"
)

func TestReplicaSetPersistsAndGoesWithTheTable(t *testing.T) {
	dir := t.TempDir()
	db := catOpen(t, Config{Dir: dir})
	catCreate(t, db, catSimple("gtab"))
	if data, ok := db.ReplicaSet("gtab"); !ok || data != nil {
		t.Fatalf("fresh table: ReplicaSet = %q, %v; want nil, true", data, ok)
	}
	if err := db.SetReplicaSet("gtab", []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = catOpen(t, Config{Dir: dir})
	if data, _ := db.ReplicaSet("gtab"); string(data) != `{"v":1}` {
		t.Fatalf("after reopen: ReplicaSet = %q", data)
	}
	if _, err := db.DeleteTable(context.Background(), &DeleteTableInput{TableName: "gtab"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := db.ReplicaSet("gtab"); ok {
		t.Fatal("ReplicaSet of a deleted table: ok")
	}
	catCreate(t, db, catSimple("gtab"))
	if data, _ := db.ReplicaSet("gtab"); data != nil {
		t.Fatalf("re-created table inherited the replica set %q", data)
	}
	if err := db.SetReplicaSet("nope", []byte("x")); !isAPIErr(err, "ResourceNotFoundException") {
		t.Fatalf("SetReplicaSet of a missing table: %v", err)
	}
}

func isAPIErr(err error, typ string) bool {
	var ae *apierr.Error
	return errors.As(err, &ae) && ae.Code == typ
}

func TestReplicaTableFromDefinition(t *testing.T) {
	a := catOpen(t, Config{Region: "a", DefaultPartitions: 6})
	in := catSimple("gtab")
	in.AttributeDefinitions = catDefs("pk", "S", "sk", "S", "g", "N", "l", "S")
	in.LocalSecondaryIndexes = []LocalSecondaryIndex{{IndexName: "lsi", KeySchema: catKS("pk", "l"),
		Projection: &Projection{ProjectionType: sptr("KEYS_ONLY")}}}
	in.GlobalSecondaryIndexes = []GlobalSecondaryIndex{{IndexName: "gsi", KeySchema: catKS("g", ""),
		Projection: &Projection{ProjectionType: sptr("INCLUDE"), NonKeyAttributes: []string{"x"}}}}
	in.StreamSpecification = &StreamSpecification{StreamEnabled: bptr(true), StreamViewType: "KEYS_ONLY"}
	catCreate(t, a, in)
	if _, err := a.UpdateTimeToLive(context.Background(), &UpdateTimeToLiveInput{TableName: "gtab",
		TimeToLiveSpecification: &TimeToLiveSpecification{AttributeName: sptr("exp"), Enabled: bptr(true)}}); err != nil {
		t.Fatal(err)
	}
	def, err := a.TableDefinition("gtab")
	if err != nil {
		t.Fatal(err)
	}
	if def.Partitions != 6 || def.TTLAttribute != "exp" {
		t.Fatalf("definition: partitions %d, ttl %q", def.Partitions, def.TTLAttribute)
	}
	// The definition travels as JSON between regions.
	buf, err := json.Marshal(def)
	if err != nil {
		t.Fatal(err)
	}
	var got TableDefinition
	if err := json.Unmarshal(buf, &got); err != nil {
		t.Fatal(err)
	}

	b := catOpen(t, Config{Region: "b", DefaultPartitions: 2})
	if err := b.CreateReplicaTable(context.Background(), got, []byte(`{"set":1}`)); err != nil {
		t.Fatal(err)
	}
	info, _ := b.Table("gtab")
	if info.Partitions != 6 {
		t.Fatalf("replica has %d partitions, want the source's 6", info.Partitions)
	}
	da, db := catDescribe(t, a, "gtab"), catDescribe(t, b, "gtab")
	for _, d := range []*TableDescription{da, db} {
		d.TableArn, d.TableId, d.CreationDateTime, d.LatestStreamArn, d.LatestStreamLabel = "", "", 0, "", ""
		d.BillingModeSummary.LastUpdateToPayPerRequestDateTime = nil
		for i := range d.GlobalSecondaryIndexes {
			d.GlobalSecondaryIndexes[i].IndexArn = ""
		}
		for i := range d.LocalSecondaryIndexes {
			d.LocalSecondaryIndexes[i].IndexArn = ""
		}
	}
	if !reflect.DeepEqual(da, db) {
		ja, _ := json.Marshal(da)
		jb, _ := json.Marshal(db)
		t.Fatalf("replica differs from the source:\n%s\n%s", ja, jb)
	}
	if b.table("gtab").m().TTLAttribute != "exp" || !b.table("gtab").m().Replicated {
		t.Fatal("replica lacks TTL or the replicated mark")
	}
	if data, _ := b.ReplicaSet("gtab"); string(data) != `{"set":1}` {
		t.Fatalf("replica set %q", data)
	}
	if err := b.CreateReplicaTable(context.Background(), got, nil); !isAPIErr(err, "ResourceInUseException") {
		t.Fatalf("second CreateReplicaTable: %v", err)
	}
}

func TestGlobalTableStreamCannotBeDisabled(t *testing.T) {
	db := catOpen(t, Config{})
	in := catSimple("gtab")
	in.StreamSpecification = &StreamSpecification{StreamEnabled: bptr(true), StreamViewType: "KEYS_ONLY"}
	catCreate(t, db, in)
	if err := db.SetReplicated("gtab", true); err != nil {
		t.Fatal(err)
	}
	off := &UpdateTableInput{TableName: "gtab", StreamSpecification: &StreamSpecification{StreamEnabled: bptr(false)}}
	_, err := db.UpdateTable(context.Background(), off)
	var ae *apierr.Error
	if !errors.As(err, &ae) || ae.Message != "One or more parameter values were invalid: Disabling Stream is not allowed for a Global Table replica." {
		t.Fatalf("disable while global: %v", err)
	}
	if err := db.SetReplicated("gtab", false); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateTable(context.Background(), off); err != nil {
		t.Fatalf("disable once regional: %v", err)
	}
}

func TestDeletedHookSeesReplicatedTablesOnly(t *testing.T) {
	db := catOpen(t, Config{})
	var got []string
	db.SetReplicaHooks(ReplicaHooks{Deleted: func(table string) {
		// Called with no engine lock held: the engine is usable here.
		db.Tables()
		got = append(got, table)
	}})
	catCreate(t, db, catSimple("regional"))
	catCreate(t, db, catSimple("global"))
	if err := db.SetReplicated("global", true); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"regional", "global"} {
		if _, err := db.DeleteTable(context.Background(), &DeleteTableInput{TableName: n}); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(got, []string{"global"}) {
		t.Fatalf("Deleted called for %v", got)
	}
}
