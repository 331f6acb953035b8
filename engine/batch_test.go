package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/godwit-db/godwit/engine/attr"
)

func rtGet(t *testing.T, db *DB, table string, key attr.Item) attr.Item {
	t.Helper()
	_, m, err := db.activeTable(table)
	if err != nil {
		t.Fatal(err)
	}
	k, err := m.keyFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	_, it, err := readItem(db.pebble, k.itemKey(m))
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func rtBatchWrite(t *testing.T, db *DB, js string) (*BatchWriteItemOutput, error) {
	t.Helper()
	var in BatchWriteItemInput
	rtDecode(t, js, &in)
	out, err := db.BatchWriteItem(context.Background(), &in)
	if err != nil {
		return nil, err
	}
	return out.(*BatchWriteItemOutput), nil
}

func rtBatchGet(t *testing.T, db *DB, in *BatchGetItemInput) (*BatchGetItemOutput, error) {
	t.Helper()
	out, err := db.BatchGetItem(context.Background(), in)
	if err != nil {
		return nil, err
	}
	return out.(*BatchGetItemOutput), nil
}

func rtPuts(table string, from, to int) []string {
	var reqs []string
	for i := from; i < to; i++ {
		reqs = append(reqs, fmt.Sprintf(`{"PutRequest":{"Item":{"pk":{"S":"k%d"},"v":{"N":"%d"}}}}`, i, i))
	}
	return reqs
}

func TestBatchWriteValidatesWholeBatchFirst(t *testing.T) {
	db := rtOpen(t)
	rtTable(t, db, "tba", "pk", attr.S, "", 0, 4)
	rtTable(t, db, "tbr", "pk", attr.S, "sk", attr.N, 4,
		rtIndex{name: "gsi", hash: "g", hashT: attr.N, proj: "ALL"})
	good := strings.Join(rtPuts("a", 0, 5), ",")
	big := strings.Repeat("x", maxItemSize)
	cases := []struct{ js, code, msg string }{
		{`{"RequestItems":{"tba":[` + good + `],"missing":[{"DeleteRequest":{"Key":{"pk":{"S":"x"}}}}]}}`,
			"ResourceNotFoundException", "Requested resource not found"},
		{`{"RequestItems":{"tba":[` + good + `,{"PutRequest":{"Item":{"pk":{"N":"1"}}}}]}}`,
			"ValidationException", "The provided key element does not match the schema"},
		{`{"RequestItems":{"tba":[` + good + `,{"PutRequest":{"Item":{"v":{"N":"1"}}}}]}}`,
			"ValidationException", "The provided key element does not match the schema"},
		{`{"RequestItems":{"tba":[` + good + `,{"DeleteRequest":{"Key":{"pk":{"S":"k1"},"v":{"N":"1"}}}}]}}`,
			"ValidationException", "The provided key element does not match the schema"},
		{`{"RequestItems":{"tba":[` + good + `,{"DeleteRequest":{"Key":{"pk":{"S":"k2"}}}}]}}`,
			"ValidationException", "Provided list of item keys contains duplicates"},
		{`{"RequestItems":{"tba":[` + good + `,{"PutRequest":{"Item":{"pk":{"S":"big"},"x":{"S":"` + big + `"}}}}]}}`,
			"ValidationException", "Item size has exceeded the maximum allowed size"},
		{`{"RequestItems":{"tba":[` + good + `,{"PutRequest":{"Item":{"pk":{"S":""}}}}]}}`,
			"ValidationException", "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: pk"},
		{`{"RequestItems":{"tba":[` + good + `,{"PutRequest":{"Item":{"pk":{"S":"` + strings.Repeat("k", 2049) + `"}}}}]}}`,
			"ValidationException", "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes"},
		{`{"RequestItems":{"tba":[` + good + `,{}]}}`,
			"ValidationException", "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"},
		{`{"RequestItems":{"tba":[` + good + `,{"PutRequest":{"Item":{"pk":{"S":"z"}}},"DeleteRequest":{"Key":{"pk":{"S":"y"}}}}]}}`,
			"ValidationException", "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"},
		{`{"RequestItems":{"tba":[` + good + `],"tbr":[` + strings.Join(rtPuts("r", 0, 21), ",") + `]}}`,
			"ValidationException", "Too many items requested for the BatchWriteItem call"},
		{`{"RequestItems":{"tba":[` + good + `],"tbr":[{"PutRequest":{"Item":{"pk":{"S":"p"},"sk":{"N":"1"},"g":{"S":"not a number"}}}}]}}`,
			"ValidationException", "One or more parameter values were invalid: Type mismatch for Index Key g Expected: N Actual: S IndexName: gsi"},
		{`{"RequestItems":{"tba":[` + strings.Join(rtPuts("a", 0, 26), ",") + `]}}`,
			"ValidationException", "1 validation error detected: Value '{tba=[...]}' at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]"},
		{`{"RequestItems":{}}`,
			"ValidationException", "1 validation error detected: Value '{}' at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{`{}`,
			"ValidationException", "1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must not be null"},
		{`{"RequestItems":{"tba":[` + good + `]},"ReturnConsumedCapacity":"ALL"}`,
			"ValidationException", "1 validation error detected: Value 'ALL' at 'returnConsumedCapacity' failed to satisfy constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]"},
	}
	for _, c := range cases {
		_, err := rtBatchWrite(t, db, c.js)
		rtWantErr(t, err, c.code, c.msg)
		for i := 0; i < 5; i++ {
			if it := rtGet(t, db, "tba", attr.Item{"pk": rtS(fmt.Sprintf("k%d", i))}); it != nil {
				t.Fatalf("%s: a rejected batch wrote k%d", c.msg, i)
			}
		}
	}
}

func TestBatchWritePutsAndDeletes(t *testing.T) {
	db := rtOpen(t)
	rtTable(t, db, "tba", "pk", attr.S, "", 0, 4)
	rtTable(t, db, "tbl", "pk", attr.S, "sk", attr.N, 2,
		rtIndex{name: "lsi", local: true, hash: "pk", hashT: attr.S, rng: "x", rngT: attr.N, proj: "KEYS_ONLY"})
	rtPut(t, db, "tba", attr.Item{"pk": rtS("old"), "v": rtS(strings.Repeat("o", 3000))})
	reqs := rtPuts("a", 0, 10)
	reqs = append(reqs, `{"DeleteRequest":{"Key":{"pk":{"S":"old"}}}}`, `{"DeleteRequest":{"Key":{"pk":{"S":"never"}}}}`)
	js := `{"RequestItems":{"tba":[` + strings.Join(reqs, ",") + `],
		"tbl":[{"PutRequest":{"Item":{"pk":{"S":"p"},"sk":{"N":"1"},"x":{"N":"5"}}}},{"PutRequest":{"Item":{"pk":{"S":"p"},"sk":{"N":"2"}}}},
		     {"PutRequest":{"Item":{"pk":{"S":"q"},"sk":{"N":"1"},"x":{"N":"5"}}}}]},
		"ReturnConsumedCapacity":"INDEXES","ReturnItemCollectionMetrics":"SIZE"}`
	out, err := rtBatchWrite(t, db, js)
	if err != nil {
		t.Fatal(err)
	}
	// 10 puts (1 each), deleting a 3 KB item (3), deleting nothing (1);
	// table l: 3 puts, two of which write an LSI entry.
	want := `{"UnprocessedItems":{},"ConsumedCapacity":[` +
		`{"TableName":"tba","CapacityUnits":14,"WriteCapacityUnits":14,"Table":{"CapacityUnits":14,"WriteCapacityUnits":14}},` +
		`{"TableName":"tbl","CapacityUnits":5,"WriteCapacityUnits":5,"Table":{"CapacityUnits":3,"WriteCapacityUnits":3},"LocalSecondaryIndexes":{"lsi":{"CapacityUnits":2,"WriteCapacityUnits":2}}}],` +
		`"ItemCollectionMetrics":{"tbl":[{"ItemCollectionKey":{"pk":{"S":"p"}},"SizeEstimateRangeGB":[0,1]},{"ItemCollectionKey":{"pk":{"S":"q"}},"SizeEstimateRangeGB":[0,1]}]}}`
	got := rtJSON(out)
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	for i := 0; i < 10; i++ {
		if it := rtGet(t, db, "tba", attr.Item{"pk": rtS(fmt.Sprintf("k%d", i))}); it == nil || it["v"].S != fmt.Sprint(i) {
			t.Fatalf("k%d: %v", i, it)
		}
	}
	if it := rtGet(t, db, "tba", attr.Item{"pk": rtS("old")}); it != nil {
		t.Fatal("old was not deleted")
	}
	// The LSI entries exist: a Query on the index finds them.
	var q QueryInput
	rtDecode(t, `{"TableName":"tbl","IndexName":"lsi","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"S":"p"}}}`, &q)
	if got := rtJSON(rtItems(rtQuery(t, db, &q))); got != `[{"pk":{"S":"p"},"sk":{"N":"1"},"x":{"N":"5"}}]` {
		t.Fatalf("lsi: %s", got)
	}
	// No capacity asked: no ConsumedCapacity, UnprocessedItems still there.
	out, err = rtBatchWrite(t, db, `{"RequestItems":{"tba":[{"DeleteRequest":{"Key":{"pk":{"S":"k1"}}}}]}}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := rtJSON(out); got != `{"UnprocessedItems":{}}` {
		t.Fatal(got)
	}
}

func TestBatchGetItem(t *testing.T) {
	db := rtOpen(t)
	rtTable(t, db, "tba", "pk", attr.S, "", 0, 4)
	rtTable(t, db, "tbr", "pk", attr.S, "sk", attr.N, 4)
	for i := 0; i < 10; i++ {
		rtPut(t, db, "tba", attr.Item{"pk": rtS(fmt.Sprintf("k%d", i)), "v": rtN(t, fmt.Sprint(i)), "w": rtS("w")})
		rtPut(t, db, "tbr", attr.Item{"pk": rtS("p"), "sk": rtN(t, fmt.Sprint(i)), "payload": rtS(strings.Repeat("z", 5000))})
	}
	var in BatchGetItemInput
	rtDecode(t, `{"RequestItems":{
		"tba":{"Keys":[{"pk":{"S":"k1"}},{"pk":{"S":"k2"}},{"pk":{"S":"none"}}],"ProjectionExpression":"#v","ExpressionAttributeNames":{"#v":"v"}},
		"tbr":{"Keys":[{"pk":{"S":"p"},"sk":{"N":"3"}}],"ConsistentRead":true,"AttributesToGet":["sk"]}},
		"ReturnConsumedCapacity":"TOTAL"}`, &in)
	out, err := rtBatchGet(t, db, &in)
	if err != nil {
		t.Fatal(err)
	}
	for _, items := range out.Responses {
		sort.Slice(items, func(i, j int) bool { return rtJSON(items[i]) < rtJSON(items[j]) })
	}
	// Each item is charged on its own: 0.5 + 0.5 + 0.5 (missing) and one
	// strongly consistent ~5 KB item (2).
	want := `{"Responses":{"tba":[{"v":{"N":"1"}},{"v":{"N":"2"}}],"tbr":[{"sk":{"N":"3"}}]},"UnprocessedKeys":{},` +
		`"ConsumedCapacity":[{"TableName":"tba","CapacityUnits":1.5,"ReadCapacityUnits":1.5},{"TableName":"tbr","CapacityUnits":2,"ReadCapacityUnits":2}]}`
	if got := rtJSON(out); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// Nothing found still lists the table.
	in = BatchGetItemInput{}
	rtDecode(t, `{"RequestItems":{"tba":{"Keys":[{"pk":{"S":"none"}}]}}}`, &in)
	out, err = rtBatchGet(t, db, &in)
	if err != nil {
		t.Fatal(err)
	}
	if got := rtJSON(out); got != `{"Responses":{"tba":[]},"UnprocessedKeys":{}}` {
		t.Fatal(got)
	}

	var keys []string
	for i := 0; i < 101; i++ {
		keys = append(keys, fmt.Sprintf(`{"pk":{"S":"k%d"}}`, i))
	}
	errs := []struct{ js, code, msg string }{
		{`{"RequestItems":{"tba":{"Keys":[{"pk":{"S":"k1"}},{"pk":{"S":"k1"}}]}}}`, "ValidationException", "Provided list of item keys contains duplicates"},
		{`{"RequestItems":{"tba":{"Keys":[` + strings.Join(keys[:60], ",") + `]},"tbr":{"Keys":[` + strings.Replace(strings.Join(keys[60:101], ","), `"pk"`, `"sk":{"N":"1"},"pk"`, -1) + `]}}}`,
			"ValidationException", "Too many items requested for the BatchGetItem call"},
		{`{"RequestItems":{"tba":{"Keys":[{"pk":{"S":"k1"}}]},"nope":{"Keys":[{"pk":{"S":"k1"}}]}}}`, "ResourceNotFoundException", "Requested resource not found"},
		{`{"RequestItems":{"tba":{"Keys":[{"pk":{"N":"1"}}]}}}`, "ValidationException", "The provided key element does not match the schema"},
		{`{"RequestItems":{"tbr":{"Keys":[{"pk":{"S":"p"}}]}}}`, "ValidationException", "The provided key element does not match the schema"},
		{`{"RequestItems":{"tba":{"Keys":[{"pk":{"S":"k1"}}],"AttributesToGet":["v"],"ProjectionExpression":"v"}}}`, "ValidationException",
			"Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}"},
		{`{"RequestItems":{"tba":{"Keys":[{"pk":{"S":"k1"}}],"ExpressionAttributeNames":{"#x":"x"}}}}`, "ValidationException",
			"ExpressionAttributeNames can only be specified when using expressions"},
		{`{"RequestItems":{"tba":{"Keys":[]}}}`, "ValidationException",
			"1 validation error detected: Value '[]' at 'requestItems.tba.member.keys' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{`{"RequestItems":{}}`, "ValidationException",
			"1 validation error detected: Value '{}' at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1"},
	}
	for _, c := range errs {
		in = BatchGetItemInput{}
		rtDecode(t, c.js, &in)
		_, err := rtBatchGet(t, db, &in)
		rtWantErr(t, err, c.code, c.msg)
	}
	// Exactly 100 keys is fine.
	in = BatchGetItemInput{}
	rtDecode(t, `{"RequestItems":{"tba":{"Keys":[`+strings.Join(keys[:100], ",")+`]}}}`, &in)
	out, err = rtBatchGet(t, db, &in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Responses["tba"]) != 10 {
		t.Fatalf("100 keys: %d items", len(out.Responses["tba"]))
	}
}

func TestBatchGetItemUnprocessedPast16MB(t *testing.T) {
	db := rtOpen(t)
	rtTable(t, db, "big", "pk", attr.N, "", 0, 8)
	pad := strings.Repeat("b", 390<<10)
	const n = 50 // ~19.5 MB
	var keys []attr.Item
	for i := 0; i < n; i++ {
		rtPut(t, db, "big", attr.Item{"pk": rtN(t, fmt.Sprint(i)), "payload": rtS(pad)})
		keys = append(keys, attr.Item{"pk": rtN(t, fmt.Sprint(i))})
	}
	proj := "pk, payload"
	req := &KeysAndAttributes{Keys: keys, ProjectionExpression: &proj}
	seen := map[string]bool{}
	for round := 0; ; round++ {
		if round > 5 {
			t.Fatal("unprocessed keys never drain")
		}
		out, err := rtBatchGet(t, db, &BatchGetItemInput{RequestItems: map[string]*KeysAndAttributes{"big": req}})
		if err != nil {
			t.Fatal(err)
		}
		size := 0
		for _, it := range out.Responses["big"] {
			size += attr.ItemSize(it)
			k := it["pk"].S
			if seen[k] {
				t.Fatalf("item %s returned twice", k)
			}
			seen[k] = true
		}
		if size > maxBatchGetRespBytes {
			t.Fatalf("response holds %d bytes", size)
		}
		u := out.UnprocessedKeys["big"]
		if u == nil {
			break
		}
		if round == 0 && len(u.Keys) == 0 {
			t.Fatal("nothing unprocessed")
		}
		if u.ProjectionExpression == nil || *u.ProjectionExpression != proj {
			t.Fatal("unprocessed keys lost the projection")
		}
		req = u
	}
	if len(seen) != n {
		t.Fatalf("read %d of %d items", len(seen), n)
	}
}

// FuzzBatchRequests feeds arbitrary BatchGetItem and BatchWriteItem
// requests to a small database: answered or refused, never a panic.
func FuzzBatchRequests(f *testing.F) {
	for _, seed := range []string{
		`{"RequestItems":{"fzb":[{"PutRequest":{"Item":{"pk":{"S":"a"},"sk":{"N":"1"}}}},{"DeleteRequest":{"Key":{"pk":{"S":"b"},"sk":{"N":"2"}}}}]},"ReturnConsumedCapacity":"INDEXES","ReturnItemCollectionMetrics":"SIZE"}`,
		`{"RequestItems":{"fzb":{"Keys":[{"pk":{"S":"a"},"sk":{"N":"1"}},{"pk":{"S":"c"},"sk":{"N":"1"}}],"ProjectionExpression":"#s","ExpressionAttributeNames":{"#s":"sk"}}},"ReturnConsumedCapacity":"TOTAL"}`,
		`{"RequestItems":{"fzb":[{}]}}`,
		`{"RequestItems":{"fzb":{"Keys":[{}]}}}`,
	} {
		f.Add(seed)
	}
	db, err := Open(Config{InMemory: true, NoSync: true, TTLSweepInterval: -1})
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	m := &tableMeta{
		Format: metaFormat, ID: 1000 + rtTableID.Add(1), Name: "fzb", Partitions: 2, Status: "ACTIVE",
		HashKey: "pk", HashType: attr.S, RangeKey: "sk", RangeType: attr.N,
		Indexes: []*indexMeta{{ID: 1, Name: "lsi", Local: true, HashKey: "pk", HashType: attr.S, RangeKey: "l", RangeType: attr.N, ProjectionType: "ALL", Status: "ACTIVE"}},
	}
	db.mu.Lock()
	tb, err := db.openTable(m)
	if err == nil {
		db.tables["fzb"] = tb
	}
	db.mu.Unlock()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, js string) {
		var w BatchWriteItemInput
		if json.Unmarshal([]byte(js), &w) == nil {
			_, _ = db.BatchWriteItem(context.Background(), &w)
		}
		var g BatchGetItemInput
		if json.Unmarshal([]byte(js), &g) == nil {
			_, _ = db.BatchGetItem(context.Background(), &g)
		}
	})
}
