package engine

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/godwit-db/godwit/engine/attr"
)

// TestItemCacheAgreesWithPebble runs one random sequence of writes —
// conditional puts, updates and deletes, transactions (which write behind
// a barrier), batch writes and writes that bypass the cache the way TTL
// and snapshot chunks do — against a DB without item caches, one whose
// cache budget holds a couple of items (constant eviction) and one with
// the default budget. Every answer and the final contents must agree.
func TestItemCacheAgreesWithPebble(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))

	sizes := []int64{-1, 400, 0}
	dbs := make([]*DB, len(sizes))
	for i, size := range sizes {
		db, err := Open(Config{InMemory: true, NoSync: true, TTLSweepInterval: -1, ItemCacheSize: size})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		rtTable(t, db, "Tbl", "pk", attr.S, "", 0, 2)
		dbs[i] = db
	}

	for step := range 600 {
		op, k, run := randomWrite(t, rng, 6, "")
		agree(t, dbs, func(i int) string { return fmt.Sprintf("step %d %s %s: cache budget %d", step, op, k, sizes[i]) }, run)
	}
	want := catJSON(t, rtScan(t, dbs[0], &ScanInput{TableName: "Tbl"}).Items)
	for i, db := range dbs[1:] {
		if got := catJSON(t, rtScan(t, db, &ScanInput{TableName: "Tbl"}).Items); got != want {
			t.Fatalf("cache budget %d: items\n%s\nwithout a cache:\n%s", sizes[i+1], got, want)
		}
		if got, want := catDescribe(t, db, "Tbl").ItemCount, catDescribe(t, dbs[0], "Tbl").ItemCount; got != want {
			t.Fatalf("cache budget %d: ItemCount %d, without a cache %d", sizes[i+1], got, want)
		}
		if hits := db.itemCache.hits.Load(); hits == 0 {
			t.Fatalf("cache budget %d: the cache never answered a read", sizes[i+1])
		}
	}
	if dbs[0].itemCache != nil {
		t.Fatal("ItemCacheSize -1 should turn the cache off")
	}
}

// randomWrite picks one random write to table Tbl (key pk) for the tests
// that run the same writes against differently configured DBs: a put, an
// update or a delete of one of keys keys, with its old image and maybe a
// condition, a transaction, a batch write, or a write that bypasses the
// item cache. Items carry pad when it is not empty.
func randomWrite(t *testing.T, rng *rand.Rand, keys int, pad string) (op, k string, run func(db *DB) (any, error)) {
	k = fmt.Sprintf("k%d", rng.IntN(keys))
	k2 := fmt.Sprintf("k%d", rng.IntN(keys))
	v := rng.IntN(1000)
	conds := []string{"", `,"ConditionExpression":"attribute_not_exists(pk)"`, `,"ConditionExpression":"attribute_exists(pk)"`}
	cond := conds[rng.IntN(len(conds))]
	padded := ""
	if pad != "" {
		padded = fmt.Sprintf(`,"pad":{"S":%q}`, pad)
	}
	switch rng.IntN(6) {
	case 0:
		js := fmt.Sprintf(`{"TableName":"Tbl","Item":{"pk":{"S":%q},"v":{"N":"%d"}%s},"ReturnValues":"ALL_OLD"%s}`, k, v, padded, cond)
		return "put", k, func(db *DB) (any, error) {
			var in PutItemInput
			rtDecode(t, js, &in)
			return db.PutItem(t.Context(), &in)
		}
	case 1:
		js := fmt.Sprintf(`{"TableName":"Tbl","Key":{"pk":{"S":%q}},"UpdateExpression":"ADD n :d","ExpressionAttributeValues":{":d":{"N":"%d"}},"ReturnValues":"ALL_NEW"}`, k, v)
		return "update", k, func(db *DB) (any, error) {
			var in UpdateItemInput
			rtDecode(t, js, &in)
			return db.UpdateItem(t.Context(), &in)
		}
	case 2:
		js := fmt.Sprintf(`{"TableName":"Tbl","Key":{"pk":{"S":%q}},"ReturnValues":"ALL_OLD"%s}`, k, cond)
		return "delete", k, func(db *DB) (any, error) {
			var in DeleteItemInput
			rtDecode(t, js, &in)
			return db.DeleteItem(t.Context(), &in)
		}
	case 3:
		if k2 == k {
			k2 = k + "x"
		}
		js := fmt.Sprintf(`{"TransactItems":[{"Put":{"TableName":"Tbl","Item":{"pk":{"S":%q},"t":{"N":"%d"}%s}}},{"Update":{"TableName":"Tbl","Key":{"pk":{"S":%q}},"UpdateExpression":"ADD n :d","ExpressionAttributeValues":{":d":{"N":"1"}}}}]}`, k, v, padded, k2)
		return "transaction", k, func(db *DB) (any, error) {
			var in TransactWriteItemsInput
			rtDecode(t, js, &in)
			return db.TransactWriteItems(t.Context(), &in)
		}
	case 4:
		js := fmt.Sprintf(`{"RequestItems":{"Tbl":[{"PutRequest":{"Item":{"pk":{"S":%q},"b":{"N":"%d"}%s}}},{"DeleteRequest":{"Key":{"pk":{"S":%q}}}}]}}`, k, v, padded, k2+"b")
		return "batch", k, func(db *DB) (any, error) {
			var in BatchWriteItemInput
			rtDecode(t, js, &in)
			return db.BatchWriteItem(t.Context(), &in)
		}
	default:
		return "bypassing write", k, func(db *DB) (any, error) { return nil, bypassingPut(db, "Tbl", k, v) }
	}
}

// agree runs one write against every DB and fails unless each answers as
// dbs[0] does; what(i) names the write and DB i in the failure.
func agree(t *testing.T, dbs []*DB, what func(i int) string, run func(db *DB) (any, error)) {
	t.Helper()
	var want string
	for i, db := range dbs {
		out, err := run(db)
		got := fmt.Sprintf("%v", err)
		if err == nil {
			b, merr := json.Marshal(out)
			if merr != nil {
				t.Fatal(merr)
			}
			got = string(b)
		}
		if i == 0 {
			want = got
		} else if got != want {
			t.Fatalf("%s answered\n%.400s\nwhere the first DB answered:\n%.400s", what(i), got, want)
		}
	}
}

// bypassingPut writes an item through its partition without reporting it
// to the item cache, as TTL expiry and snapshot chunks do.
func bypassingPut(db *DB, table, k string, v int) error {
	tb, m, err := db.activeTable(table)
	if err != nil {
		return err
	}
	key, err := m.keyFromKey(attr.Item{"pk": attr.Str(k)})
	if err != nil {
		return err
	}
	item := attr.Item{"pk": attr.Str(k), "raw": {Type: attr.N, S: fmt.Sprint(v)}}
	w := &itemWrite{key: key, compute: func(attr.Item) (attr.Item, error) { return item, nil }}
	return tb.parts[key.part].submit(func(b *pebble.Batch, d *partStats) error {
		return db.apply(batchItems{b}, b, d, tb.m(), w)
	})
}

// TestItemCacheShares checks that a cache filled first cannot keep the
// whole shared budget from a cache that becomes busy later, and that the
// budget is kept again once the first one writes.
func TestItemCacheShares(t *testing.T) {
	const entry = 100 // bytes per entry below
	b := &cacheBudget{limit: 40 * entry}
	a, c := newItemCache(b), newItemCache(b)
	val := make([]byte, entry-cacheEntryOverhead-4)
	key := func(p string, i int) string { return fmt.Sprintf("%s%03d", p, i) }
	if n := entrySize(key("a", 0), val); n != entry {
		t.Fatalf("entry size %d, want %d", n, entry)
	}
	for i := range 40 {
		a.put(key("a", i), val)
	}
	if a.bytes != b.limit || b.used.Load() != b.limit {
		t.Fatalf("a holds %d, budget used %d; want both %d", a.bytes, b.used.Load(), b.limit)
	}
	// c is below its share (half the budget): it admits its entries.
	for i := range 30 {
		c.put(key("c", i), val)
	}
	if want := b.share(); c.bytes != want {
		t.Fatalf("c holds %d bytes, want its share %d", c.bytes, want)
	}
	if _, ok := c.get([]byte(key("c", 29))); !ok {
		t.Fatal("c did not keep the entry it just wrote")
	}
	// a is above its share: its next write brings the budget back.
	a.put(key("a", 99), val)
	if got := b.used.Load(); got > b.limit {
		t.Fatalf("budget used %d after a's write, want <= %d", got, b.limit)
	}
	if a.bytes != b.share() {
		t.Fatalf("a holds %d bytes, want its share %d", a.bytes, b.share())
	}
	// Closing c gives its bytes and its share back.
	c.close()
	if b.used.Load() != a.bytes || b.share() != b.limit {
		t.Fatalf("after close: used %d (a %d), share %d", b.used.Load(), a.bytes, b.share())
	}
	// An entry larger than the share is not kept.
	big := make([]byte, b.limit)
	a.put("big", big)
	if _, ok := a.get([]byte("big")); ok {
		t.Fatal("an entry larger than the budget was kept")
	}
}
