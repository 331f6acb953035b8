package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/attr"
)

// Helpers shared by read_test.go and batch_test.go (prefix rt).

func rtOpen(t *testing.T) *DB {
	t.Helper()
	db, err := Open(Config{InMemory: true, NoSync: true, TTLSweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// rtIndex describes a secondary index for rtTable.
type rtIndex struct {
	name, hash string
	hashT      attr.Type
	rng        string
	rngT       attr.Type
	local      bool
	proj       string // ALL, KEYS_ONLY, INCLUDE
	nonKey     []string
	status     string // default ACTIVE
}

var rtTableID atomic.Uint32

// rtTable registers an ACTIVE table directly in the catalog (bypassing
// CreateTable, which this file does not test) with parts partitions.
func rtTable(t *testing.T, db *DB, name, hash string, hashT attr.Type, rng string, rngT attr.Type, parts int, ixs ...rtIndex) *tableMeta {
	t.Helper()
	m := &tableMeta{
		Format: metaFormat, ID: 1000 + rtTableID.Add(1), Name: name, Partitions: parts, Status: "ACTIVE",
		HashKey: hash, HashType: hashT, RangeKey: rng, RangeType: rngT, BillingMode: "PAY_PER_REQUEST",
	}
	for _, ix := range ixs {
		m.NextIndexID++
		st := ix.status
		if st == "" {
			st = "ACTIVE"
		}
		m.Indexes = append(m.Indexes, &indexMeta{
			ID: m.NextIndexID, Name: ix.name, Local: ix.local, HashKey: ix.hash, HashType: ix.hashT,
			RangeKey: ix.rng, RangeType: ix.rngT, ProjectionType: ix.proj, NonKeyAttributes: ix.nonKey, Status: st,
		})
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	tb, err := db.openTable(m)
	if err != nil {
		t.Fatal(err)
	}
	db.tables[name] = tb
	return m
}

func rtS(s string) attr.Value { return attr.Str(s) }
func rtB(b []byte) attr.Value { return attr.Bin(b) }

func rtN(t testing.TB, s string) attr.Value {
	n, err := attr.ParseNumber(s)
	if err != nil {
		t.Fatalf("number %q: %v", s, err)
	}
	return attr.Value{Type: attr.N, S: n}
}

// rtPut writes items with db.write (the single write path) directly.
func rtPut(t testing.TB, db *DB, table string, items ...attr.Item) {
	t.Helper()
	tb, m, err := db.activeTable(table)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		k, err := m.keyFromItem(it)
		if err != nil {
			t.Fatal(err)
		}
		item := it
		if err := db.write(tb, &itemWrite{key: k, compute: func(attr.Item) (attr.Item, error) { return item, nil }}); err != nil {
			t.Fatal(err)
		}
	}
}

// rtDecode fills v from JSON (as the wire layer would).
func rtDecode(t testing.TB, js string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(js), v); err != nil {
		t.Fatalf("decode %s: %v", js, err)
	}
}

func rtQuery(t testing.TB, db *DB, in *QueryInput) *ReadOutput {
	t.Helper()
	out, err := db.Query(context.Background(), in)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	return out.(*ReadOutput)
}

func rtScan(t testing.TB, db *DB, in *ScanInput) *ReadOutput {
	t.Helper()
	out, err := db.Scan(context.Background(), in)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	return out.(*ReadOutput)
}

// rtWantErr checks err is an *apierr.Error with code and exact message.
func rtWantErr(t testing.TB, err error, code, msg string) {
	t.Helper()
	e := apierr.As(err)
	if e == nil {
		t.Fatalf("got error %v, want %s: %s", err, code, msg)
	}
	if e.Code != code || e.Message != msg {
		t.Fatalf("got %s: %q\nwant %s: %q", e.Code, e.Message, code, msg)
	}
}

func rtJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func rtItems(out *ReadOutput) []attr.Item {
	if out.Items == nil {
		return nil
	}
	return *out.Items
}

func rtPtr[T any](v T) *T { return &v }

// rtSortKeys returns the values of attribute name in items, as JSON.
func rtAttr(items []attr.Item, name string) []string {
	var out []string
	for _, it := range items {
		out = append(out, it[name].String())
	}
	return out
}

func rtSeed(t *testing.T) *rand.Rand {
	seed := rand.Int63()
	t.Logf("seed %d", seed)
	return rand.New(rand.NewSource(seed))
}

// rtModelQuery is the reference: the sort keys of vals satisfying c, in
// the requested order.
func rtModel(vals []attr.Value, c skCond, forward bool) []string {
	var hits []attr.Value
	for _, v := range vals {
		if c.match(v) {
			hits = append(hits, v)
		}
	}
	sort.Slice(hits, func(i, j int) bool {
		n, _ := attr.Compare(hits[i], hits[j])
		return n < 0
	})
	var out []string
	for _, v := range hits {
		out = append(out, v.String())
	}
	if !forward {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

// rtKeyCond renders c as a KeyConditionExpression on pk = :p.
func rtKeyCond(c skCond) (string, map[string]attr.Value) {
	vals := map[string]attr.Value{}
	var s string
	switch c.op {
	case skNone:
		s = "pk = :p"
	case skEQ, skLT, skLE, skGT, skGE:
		op := map[skOp]string{skEQ: "=", skLT: "<", skLE: "<=", skGT: ">", skGE: ">="}[c.op]
		s = "pk = :p AND sk " + op + " :a"
		vals[":a"] = c.a
	case skBetween:
		s = "pk = :p AND sk BETWEEN :a AND :b"
		vals[":a"], vals[":b"] = c.a, c.b
	case skBeginsWith:
		s = "pk = :p AND begins_with(sk, :a)"
		vals[":a"] = c.a
	}
	return s, vals
}

// rtCheckQuery runs c forward and backward, unpaged and paged (Limit 1..3),
// against the model.
func rtCheckQuery(t *testing.T, db *DB, table string, pk attr.Value, vals []attr.Value, c skCond) {
	t.Helper()
	for _, forward := range []bool{true, false} {
		want := rtModel(vals, c, forward)
		s, ev := rtKeyCond(c)
		ev[":p"] = pk
		in := &QueryInput{TableName: table, KeyConditionExpression: &s, ExpressionAttributeValues: ev, ScanIndexForward: rtPtr(forward)}
		got := rtAttr(rtItems(rtQuery(t, db, in)), "sk")
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("%s forward=%v a=%v b=%v:\n got  %v\n want %v", s, forward, c.a, c.b, got, want)
		}
		for limit := int64(1); limit <= 3; limit++ {
			var paged []string
			pin := *in
			pin.Limit = rtPtr(limit)
			for pages := 0; ; pages++ {
				if pages > len(want)+2 {
					t.Fatalf("%s: paging does not end", s)
				}
				out := rtQuery(t, db, &pin)
				paged = append(paged, rtAttr(rtItems(out), "sk")...)
				if out.LastEvaluatedKey == nil {
					break
				}
				pin.ExclusiveStartKey = out.LastEvaluatedKey
			}
			if strings.Join(paged, ",") != strings.Join(want, ",") {
				t.Fatalf("%s forward=%v limit=%d paged:\n got  %v\n want %v", s, forward, limit, paged, want)
			}
		}
	}
}

func TestQueryNumericSortKeyEveryOperator(t *testing.T) {
	db := rtOpen(t)
	rtTable(t, db, "nums", "pk", attr.S, "sk", attr.N, 4)
	texts := []string{"-1E+20", "-100", "-10", "-9.5", "-1", "-0.5", "-0.001", "0", "1E-10", "0.001", "0.5", "1", "1.5", "2", "9.99", "10", "100", "12345678901234567890123456789012345678", "1E+100"}
	var vals []attr.Value
	for _, s := range texts {
		v := rtN(t, s)
		vals = append(vals, v)
		rtPut(t, db, "nums", attr.Item{"pk": rtS("a"), "sk": v, "x": rtS("in a")})
		rtPut(t, db, "nums", attr.Item{"pk": rtS("b"), "sk": v})
	}
	operands := []string{"-1E+30", "-10", "-9.75", "-0.5", "0", "0.0005", "1", "10", "1E+100", "1E+120"}
	ops := []skOp{skNone, skEQ, skLT, skLE, skGT, skGE}
	for _, op := range ops {
		for _, a := range operands {
			rtCheckQuery(t, db, "nums", rtS("a"), vals, skCond{op: op, a: rtN(t, a)})
			if op == skNone {
				break
			}
		}
	}
	for i, a := range operands {
		for _, b := range operands[i:] {
			rtCheckQuery(t, db, "nums", rtS("a"), vals, skCond{op: skBetween, a: rtN(t, a), b: rtN(t, b)})
		}
	}
	// A partition key without items.
	rtCheckQuery(t, db, "nums", rtS("zzz"), nil, skCond{})
}

// rtRandBytes draws short byte strings from an alphabet rich in the bytes
// the key encoding escapes or that end prefixes (0x00, 0x01, 0xFE, 0xFF).
func rtRandBytes(r *rand.Rand, minLen int) []byte {
	alphabet := []byte{0x00, 0x01, 'a', 'b', 0x7F, 0xFE, 0xFF}
	n := minLen + r.Intn(4)
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.Intn(len(alphabet))]
	}
	return b
}

func TestQueryBinarySortKeyBeginsWithEscapedBytes(t *testing.T) {
	r := rtSeed(t)
	db := rtOpen(t)
	rtTable(t, db, "bins", "pk", attr.B, "sk", attr.B, 3)
	pk := rtB([]byte{0x00, 0xFF})
	seen := map[string]bool{}
	var vals []attr.Value
	for len(vals) < 80 {
		b := rtRandBytes(r, 1)
		if seen[string(b)] {
			continue
		}
		seen[string(b)] = true
		vals = append(vals, rtB(b))
		rtPut(t, db, "bins", attr.Item{"pk": pk, "sk": rtB(b)})
		// Same sort keys under neighbouring partition keys must never leak in.
		rtPut(t, db, "bins", attr.Item{"pk": rtB([]byte{0x00}), "sk": rtB(b)}, attr.Item{"pk": rtB([]byte{0x00, 0xFF, 0x00}), "sk": rtB(b)})
	}
	prefixes := [][]byte{{0x00}, {0xFF}, {0xFF, 0xFF}, {0x00, 0x00}, {0x00, 0xFF}, {0xFE, 0xFF}, {'a', 0x00}, {0x01}}
	for i := 0; i < 20; i++ {
		prefixes = append(prefixes, rtRandBytes(r, 1))
	}
	for _, p := range prefixes {
		rtCheckQuery(t, db, "bins", pk, vals, skCond{op: skBeginsWith, a: rtB(p)})
	}
	for i := 0; i < 12; i++ {
		a, b := rtRandBytes(r, 1), rtRandBytes(r, 1)
		if bytes.Compare(a, b) > 0 {
			a, b = b, a
		}
		rtCheckQuery(t, db, "bins", pk, vals, skCond{op: skBetween, a: rtB(a), b: rtB(b)})
		for _, op := range []skOp{skEQ, skLT, skLE, skGT, skGE} {
			rtCheckQuery(t, db, "bins", pk, vals, skCond{op: op, a: rtB(a)})
		}
	}
}

func TestQueryStringSortKey(t *testing.T) {
	db := rtOpen(t)
	rtTable(t, db, "strs", "pk", attr.S, "sk", attr.S, 2)
	texts := []string{"a", "a\x00", "a\x00b", "a\x01", "ab", "abc", "abd", "b", "B", "é", "éa", "\u00ff", "\U0010FFFF", "zz", "\x00", "\x00\x00"}
	var vals []attr.Value
	for _, s := range texts {
		vals = append(vals, rtS(s))
		rtPut(t, db, "strs", attr.Item{"pk": rtS("p"), "sk": rtS(s)})
	}
	for _, p := range []string{"a", "a\x00", "ab", "é", "\x00", "\U0010FFFF", "q", "abcd"} {
		rtCheckQuery(t, db, "strs", rtS("p"), vals, skCond{op: skBeginsWith, a: rtS(p)})
	}
	for _, a := range []string{"a", "a\x00", "ab", "b", "é", "\x00"} {
		for _, op := range []skOp{skEQ, skLT, skLE, skGT, skGE} {
			rtCheckQuery(t, db, "strs", rtS("p"), vals, skCond{op: op, a: rtS(a)})
		}
		rtCheckQuery(t, db, "strs", rtS("p"), vals, skCond{op: skBetween, a: rtS(a), b: rtS("\U0010FFFF")})
	}
}

func TestQueryLimitCountsBeforeFilter(t *testing.T) {
	db := rtOpen(t)
	rtTable(t, db, "lim", "pk", attr.S, "sk", attr.N, 4)
	for i := 1; i <= 6; i++ {
		rtPut(t, db, "lim", attr.Item{"pk": rtS("a"), "sk": rtN(t, fmt.Sprint(i)), "even": attr.Boolean(i%2 == 0)})
	}
	var in QueryInput
	rtDecode(t, `{"TableName":"lim","KeyConditionExpression":"pk = :p","FilterExpression":"even = :t",
		"ExpressionAttributeValues":{":p":{"S":"a"},":t":{"BOOL":true}},"Limit":3}`, &in)
	out := rtQuery(t, db, &in)
	if out.ScannedCount != 3 || out.Count != 1 || rtJSON(out.LastEvaluatedKey) != `{"pk":{"S":"a"},"sk":{"N":"3"}}` {
		t.Fatalf("page 1: %s", rtJSON(out))
	}
	// The next page ends exactly at the last item: Limit stopped it, so it
	// still has a LastEvaluatedKey; the page after is empty and has none.
	in.ExclusiveStartKey = out.LastEvaluatedKey
	out = rtQuery(t, db, &in)
	if out.ScannedCount != 3 || out.Count != 2 || rtJSON(out.LastEvaluatedKey) != `{"pk":{"S":"a"},"sk":{"N":"6"}}` {
		t.Fatalf("page 2: %s", rtJSON(out))
	}
	in.ExclusiveStartKey = out.LastEvaluatedKey
	out = rtQuery(t, db, &in)
	if got := rtJSON(out); got != `{"Items":[],"Count":0,"ScannedCount":0}` {
		t.Fatalf("page 3: %s", got)
	}
	// A filter that drops everything on a page still returns the key.
	in.ExclusiveStartKey = nil
	in.Limit = rtPtr(int64(1))
	out = rtQuery(t, db, &in)
	if got := rtJSON(out); got != `{"Items":[],"Count":0,"ScannedCount":1,"LastEvaluatedKey":{"pk":{"S":"a"},"sk":{"N":"1"}}}` {
		t.Fatalf("filtered page: %s", got)
	}
	// Select COUNT: no Items at all.
	in.Limit = nil
	in.Select = "COUNT"
	if got := rtJSON(rtQuery(t, db, &in)); got != `{"Count":3,"ScannedCount":6}` {
		t.Fatalf("count: %s", got)
	}
	// Legacy parameters: KeyConditions + QueryFilter + AttributesToGet.
	var legacy QueryInput
	rtDecode(t, `{"TableName":"lim","KeyConditions":{"pk":{"ComparisonOperator":"EQ","AttributeValueList":[{"S":"a"}]},
		"sk":{"ComparisonOperator":"BETWEEN","AttributeValueList":[{"N":"2"},{"N":"5"}]}},
		"QueryFilter":{"even":{"ComparisonOperator":"EQ","AttributeValueList":[{"BOOL":true}]}},
		"AttributesToGet":["sk"],"ScanIndexForward":false}`, &legacy)
	if got := rtJSON(rtQuery(t, db, &legacy)); got != `{"Items":[{"sk":{"N":"4"}},{"sk":{"N":"2"}}],"Count":2,"ScannedCount":4}` {
		t.Fatalf("legacy: %s", got)
	}
}

func TestQueryPagesAtOneMegabyte(t *testing.T) {
	db := rtOpen(t)
	rtTable(t, db, "big", "pk", attr.S, "sk", attr.N, 2)
	const n, size = 30, 100 << 10 // ~3 MB
	pad := strings.Repeat("x", size)
	for i := 0; i < n; i++ {
		rtPut(t, db, "big", attr.Item{"pk": rtS("a"), "sk": rtN(t, fmt.Sprint(i)), "payload": rtS(pad)})
	}
	itemSize := attr.ItemSize(attr.Item{"pk": rtS("a"), "sk": rtN(t, "10"), "payload": rtS(pad)})
	perPage := (maxPageBytes + itemSize - 1) / itemSize
	s := "pk = :p"
	in := &QueryInput{TableName: "big", KeyConditionExpression: &s, ExpressionAttributeValues: map[string]attr.Value{":p": rtS("a")},
		ReturnConsumedCapacity: "TOTAL", ConsistentRead: true}
	var got []string
	pages := 0
	for {
		out := rtQuery(t, db, in)
		pages++
		items := rtItems(out)
		got = append(got, rtAttr(items, "sk")...)
		if out.LastEvaluatedKey == nil {
			if len(items) > perPage {
				t.Fatalf("last page has %d items", len(items))
			}
			break
		}
		if len(items) < perPage-1 || len(items) > perPage {
			t.Fatalf("page %d has %d items, want about %d (1 MB)", pages, len(items), perPage)
		}
		// Capacity: the sizes summed, then rounded up to 4 KB once.
		sum := 0
		for _, it := range items {
			sum += attr.ItemSize(it)
		}
		want := float64((sum + 4095) / 4096)
		if out.ConsumedCapacity == nil || out.ConsumedCapacity.CapacityUnits != want {
			t.Fatalf("capacity %s, want %v", rtJSON(out.ConsumedCapacity), want)
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	if len(got) != n || pages < 3 {
		t.Fatalf("read %d items in %d pages", len(got), pages)
	}
	for i, s := range got {
		if s != fmt.Sprintf(`{"N":"%d"}`, i) {
			t.Fatalf("item %d is %s", i, s)
		}
	}
}

func TestQueryCapacity(t *testing.T) {
	db := rtOpen(t)
	rtTable(t, db, "cap", "pk", attr.S, "sk", attr.N, 1,
		rtIndex{name: "gsi", hash: "g", hashT: attr.S, proj: "ALL"})
	pad := strings.Repeat("y", 1500)
	for i := 0; i < 3; i++ {
		rtPut(t, db, "cap", attr.Item{"pk": rtS("a"), "sk": rtN(t, fmt.Sprint(i)), "g": rtS("g"), "payload": rtS(pad)})
	}
	var in QueryInput
	rtDecode(t, `{"TableName":"cap","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"S":"a"}},
		"ReturnConsumedCapacity":"TOTAL","FilterExpression":"attribute_not_exists(payload)"}`, &in)
	// ~4.6 KB read (filtered away, still charged) -> 2 units, halved.
	out := rtQuery(t, db, &in)
	if got := rtJSON(out.ConsumedCapacity); got != `{"TableName":"cap","CapacityUnits":1,"ReadCapacityUnits":1}` {
		t.Fatalf("eventually consistent: %s", got)
	}
	in.ConsistentRead = true
	in.ReturnConsumedCapacity = "INDEXES"
	if got := rtJSON(rtQuery(t, db, &in).ConsumedCapacity); got != `{"TableName":"cap","CapacityUnits":2,"ReadCapacityUnits":2,"Table":{"CapacityUnits":2,"ReadCapacityUnits":2}}` {
		t.Fatalf("consistent: %s", got)
	}
	in = QueryInput{}
	rtDecode(t, `{"TableName":"cap","IndexName":"gsi","KeyConditionExpression":"g = :g","ExpressionAttributeValues":{":g":{"S":"g"}},
		"ReturnConsumedCapacity":"INDEXES"}`, &in)
	if got := rtJSON(rtQuery(t, db, &in).ConsumedCapacity); got != `{"TableName":"cap","CapacityUnits":1,"ReadCapacityUnits":1,"Table":{"CapacityUnits":0,"ReadCapacityUnits":0},"GlobalSecondaryIndexes":{"gsi":{"CapacityUnits":1,"ReadCapacityUnits":1}}}` {
		t.Fatalf("gsi: %s", got)
	}
}

func rtIndexTable(t *testing.T, db *DB) {
	rtTable(t, db, "idx", "pk", attr.S, "sk", attr.S, 4,
		rtIndex{name: "gsiKeys", hash: "g", hashT: attr.S, rng: "gs", rngT: attr.N, proj: "KEYS_ONLY"},
		rtIndex{name: "gsiAll", hash: "g", hashT: attr.S, proj: "ALL"},
		rtIndex{name: "gsiIncl", hash: "g", hashT: attr.S, rng: "gs", rngT: attr.N, proj: "INCLUDE", nonKey: []string{"av"}},
		rtIndex{name: "lsi", local: true, hash: "pk", hashT: attr.S, rng: "l", rngT: attr.N, proj: "KEYS_ONLY"},
	)
	for i := 0; i < 6; i++ {
		it := attr.Item{"pk": rtS("p"), "sk": rtS(fmt.Sprintf("s%d", i)), "av": rtN(t, fmt.Sprint(i)), "b": rtS("bee"),
			"l": rtN(t, fmt.Sprint(10-i))}
		if i != 3 { // item 3 is missing from the GSIs (sparse index)
			it["g"] = rtS("G")
			it["gs"] = rtN(t, fmt.Sprint(i%3))
		}
		rtPut(t, db, "idx", it)
	}
	rtPut(t, db, "idx", attr.Item{"pk": rtS("q"), "sk": rtS("s0"), "g": rtS("H"), "gs": rtN(t, "0"), "l": rtN(t, "0")})
}

func TestQueryIndexes(t *testing.T) {
	db := rtOpen(t)
	rtIndexTable(t, db)
	q := func(js string) *ReadOutput {
		var in QueryInput
		rtDecode(t, js, &in)
		return rtQuery(t, db, &in)
	}
	// KEYS_ONLY GSI: index order (gs, then table key), keys only.
	out := q(`{"TableName":"idx","IndexName":"gsiKeys","KeyConditionExpression":"g = :g","ExpressionAttributeValues":{":g":{"S":"G"}}}`)
	want := `[{"g":{"S":"G"},"gs":{"N":"0"},"pk":{"S":"p"},"sk":{"S":"s0"}},` +
		`{"g":{"S":"G"},"gs":{"N":"1"},"pk":{"S":"p"},"sk":{"S":"s1"}},{"g":{"S":"G"},"gs":{"N":"1"},"pk":{"S":"p"},"sk":{"S":"s4"}},` +
		`{"g":{"S":"G"},"gs":{"N":"2"},"pk":{"S":"p"},"sk":{"S":"s2"}},{"g":{"S":"G"},"gs":{"N":"2"},"pk":{"S":"p"},"sk":{"S":"s5"}}]`
	if got := rtJSON(rtItems(out)); got != want {
		t.Fatalf("gsiKeys:\n got  %s\n want %s", got, want)
	}
	// LastEvaluatedKey holds table and index keys; paging by 2 reads the same.
	var paged []attr.Item
	var in QueryInput
	rtDecode(t, `{"TableName":"idx","IndexName":"gsiKeys","KeyConditionExpression":"g = :g","ExpressionAttributeValues":{":g":{"S":"G"}},"Limit":2}`, &in)
	for {
		out := rtQuery(t, db, &in)
		paged = append(paged, rtItems(out)...)
		if out.LastEvaluatedKey == nil {
			break
		}
		if len(out.LastEvaluatedKey) != 4 {
			t.Fatalf("LastEvaluatedKey %s", rtJSON(out.LastEvaluatedKey))
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	if got := rtJSON(paged); got != want {
		t.Fatalf("gsiKeys paged:\n got  %s\n want %s", got, want)
	}
	// Sort key condition on the index's range key, descending.
	out = q(`{"TableName":"idx","IndexName":"gsiIncl","KeyConditionExpression":"g = :g AND gs >= :one","ExpressionAttributeValues":{":g":{"S":"G"},":one":{"N":"1"}},"ScanIndexForward":false,"ProjectionExpression":"sk, av, b"}`)
	if got := rtJSON(rtItems(out)); got != `[{"av":{"N":"5"},"sk":{"S":"s5"}},{"av":{"N":"2"},"sk":{"S":"s2"}},{"av":{"N":"4"},"sk":{"S":"s4"}},{"av":{"N":"1"},"sk":{"S":"s1"}}]` {
		t.Fatalf("gsiIncl: %s", got)
	}
	// ALL GSI without a range key: every item with g, by table key.
	out = q(`{"TableName":"idx","IndexName":"gsiAll","KeyConditionExpression":"g = :g","ExpressionAttributeValues":{":g":{"S":"G"}},"Select":"ALL_ATTRIBUTES"}`)
	if got := rtAttr(rtItems(out), "sk"); strings.Join(got, "") != `{"S":"s0"}{"S":"s1"}{"S":"s2"}{"S":"s4"}{"S":"s5"}` || len(rtItems(out)[0]) != 7 {
		t.Fatalf("gsiAll: %s", rtJSON(rtItems(out)))
	}
	// LSI KEYS_ONLY: projected by default, the base item for ALL_ATTRIBUTES
	// or for attributes it does not project.
	out = q(`{"TableName":"idx","IndexName":"lsi","KeyConditionExpression":"pk = :p AND l < :l","ExpressionAttributeValues":{":p":{"S":"p"},":l":{"N":"7"}}}`)
	if got := rtJSON(rtItems(out)); got != `[{"l":{"N":"5"},"pk":{"S":"p"},"sk":{"S":"s5"}},{"l":{"N":"6"},"pk":{"S":"p"},"sk":{"S":"s4"}}]` {
		t.Fatalf("lsi: %s", got)
	}
	out = q(`{"TableName":"idx","IndexName":"lsi","KeyConditionExpression":"pk = :p AND l < :l","ExpressionAttributeValues":{":p":{"S":"p"},":l":{"N":"7"}},"Select":"ALL_ATTRIBUTES","ConsistentRead":true,"ReturnConsumedCapacity":"INDEXES"}`)
	if got := rtJSON(rtItems(out)); got != `[{"av":{"N":"5"},"b":{"S":"bee"},"g":{"S":"G"},"gs":{"N":"2"},"l":{"N":"5"},"pk":{"S":"p"},"sk":{"S":"s5"}},{"av":{"N":"4"},"b":{"S":"bee"},"g":{"S":"G"},"gs":{"N":"1"},"l":{"N":"6"},"pk":{"S":"p"},"sk":{"S":"s4"}}]` {
		t.Fatalf("lsi all: %s", got)
	}
	if got := rtJSON(out.ConsumedCapacity); got != `{"TableName":"idx","CapacityUnits":2,"ReadCapacityUnits":2,"Table":{"CapacityUnits":1,"ReadCapacityUnits":1},"LocalSecondaryIndexes":{"lsi":{"CapacityUnits":1,"ReadCapacityUnits":1}}}` {
		t.Fatalf("lsi capacity: %s", got)
	}
	out = q(`{"TableName":"idx","IndexName":"lsi","KeyConditionExpression":"pk = :p AND l < :l","ProjectionExpression":"sk, b","FilterExpression":"av = :a","ExpressionAttributeValues":{":p":{"S":"p"},":l":{"N":"7"},":a":{"N":"4"}}}`)
	if got := rtJSON(out); got != `{"Items":[{"b":{"S":"bee"},"sk":{"S":"s4"}}],"Count":1,"ScannedCount":2}` {
		t.Fatalf("lsi fetch: %s", got)
	}
	// Filtering on an attribute the LSI lacks fetches the item for the
	// filter, but still returns only what the index projects.
	out = q(`{"TableName":"idx","IndexName":"lsi","KeyConditionExpression":"pk = :p AND l < :l","FilterExpression":"av = :a","ExpressionAttributeValues":{":p":{"S":"p"},":l":{"N":"7"},":a":{"N":"4"}}}`)
	if got := rtJSON(out); got != `{"Items":[{"l":{"N":"6"},"pk":{"S":"p"},"sk":{"S":"s4"}}],"Count":1,"ScannedCount":2}` {
		t.Fatalf("lsi filter fetch: %s", got)
	}
}

func TestQueryIndexErrors(t *testing.T) {
	db := rtOpen(t)
	rtIndexTable(t, db)
	cases := []struct{ in, code, msg string }{
		{`{"TableName":"idx","IndexName":"gsiKeys","KeyConditionExpression":"g = :g","ExpressionAttributeValues":{":g":{"S":"G"}},"Select":"ALL_ATTRIBUTES"}`,
			"ValidationException", "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index gsiKeys because its projection type is not ALL"},
		{`{"TableName":"idx","IndexName":"gsiAll","KeyConditionExpression":"g = :g","ExpressionAttributeValues":{":g":{"S":"G"}},"ConsistentRead":true}`,
			"ValidationException", "Consistent reads are not supported on global secondary indexes"},
		{`{"TableName":"idx","IndexName":"nope","KeyConditionExpression":"g = :g","ExpressionAttributeValues":{":g":{"S":"G"}}}`,
			"ValidationException", "The table does not have the specified index: nope"},
		{`{"TableName":"idx","IndexName":"gsiKeys","KeyConditionExpression":"pk = :g","ExpressionAttributeValues":{":g":{"S":"G"}}}`,
			"ValidationException", "Query condition missed key schema element: g"},
		{`{"TableName":"idx","IndexName":"gsiKeys","KeyConditionExpression":"g = :g","FilterExpression":"gs = :g","ExpressionAttributeValues":{":g":{"S":"G"}}}`,
			"ValidationException", "Filter Expression can only contain non-primary key attributes: Primary key attribute: gs"},
		{`{"TableName":"idx","IndexName":"gsiKeys","KeyConditionExpression":"g = :g","ExpressionAttributeValues":{":g":{"S":"G"}},"ExclusiveStartKey":{"pk":{"S":"p"},"sk":{"S":"s0"}}}`,
			"ValidationException", "The provided starting key is invalid"},
		{`{"TableName":"idx","IndexName":"gsiKeys","KeyConditionExpression":"g = :g","ExpressionAttributeValues":{":g":{"S":"G"}},"ExclusiveStartKey":{"pk":{"S":"p"},"sk":{"S":"s0"},"g":{"S":"H"},"gs":{"N":"1"}}}`,
			"ValidationException", "The provided starting key is outside query boundaries based on provided conditions"},
		{`{"TableName":"idx","IndexName":"gsiKeys","KeyConditionExpression":"g = :g AND gs > :n","ExpressionAttributeValues":{":g":{"S":"G"},":n":{"N":"1"}},"ExclusiveStartKey":{"pk":{"S":"p"},"sk":{"S":"s0"},"g":{"S":"G"},"gs":{"N":"0"}}}`,
			"ValidationException", "The provided starting key does not match the range key predicate"},
		{`{"TableName":"idx","Select":"ALL_PROJECTED_ATTRIBUTES","KeyConditionExpression":"pk = :g","ExpressionAttributeValues":{":g":{"S":"G"}}}`,
			"ValidationException", "1 validation error detected: ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"},
	}
	for _, c := range cases {
		var in QueryInput
		rtDecode(t, c.in, &in)
		_, err := db.Query(context.Background(), &in)
		rtWantErr(t, err, c.code, c.msg)
	}
}

func TestReadIndexStatus(t *testing.T) {
	// (Indexes are made CREATING by UpdateTable and turned ACTIVE by the
	// backfill worker, so the status check is tested on metadata alone.)
	m := &tableMeta{Indexes: []*indexMeta{
		{Name: "building", Status: "CREATING", Backfilling: true},
		{Name: "going", Status: "DELETING"},
		{Name: "gsi", Status: "ACTIVE"},
		{Name: "lsi", Status: "ACTIVE", Local: true},
	}}
	for _, c := range []struct {
		name       string
		consistent bool
		msg        string
	}{
		{"building", false, "Cannot read from backfilling global secondary index: building"},
		{"going", false, "The table does not have the specified index: going"},
		{"gsi", true, "Consistent reads are not supported on global secondary indexes"},
		{"gsi", false, ""},
		{"lsi", true, ""},
	} {
		ix, err := readIndex(m, rtPtr(c.name), c.consistent)
		if c.msg == "" {
			if err != nil || ix == nil || ix.Name != c.name {
				t.Fatalf("%s: %v", c.name, err)
			}
			continue
		}
		rtWantErr(t, err, "ValidationException", c.msg)
	}
}

func TestQueryValidation(t *testing.T) {
	db := rtOpen(t)
	rtTable(t, db, "vtab", "pk", attr.S, "sk", attr.N, 2)
	rtTable(t, db, "htab", "pk", attr.S, "", 0, 2)
	cases := []struct{ in, code, msg string }{
		{`{"TableName":"vtab","KeyConditionExpression":"sk = :v","ExpressionAttributeValues":{":v":{"N":"1"}}}`,
			"ValidationException", "Query condition missed key schema element: pk"},
		{`{"TableName":"vtab","KeyConditionExpression":"pk = :p AND oth = :v","ExpressionAttributeValues":{":p":{"S":"a"},":v":{"N":"1"}}}`,
			"ValidationException", "Query condition missed key schema element: sk"},
		{`{"TableName":"vtab","KeyConditionExpression":"pk = :p AND begins_with(sk, :v)","ExpressionAttributeValues":{":p":{"S":"a"},":v":{"N":"1"}}}`,
			"ValidationException", "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"},
		{`{"TableName":"vtab","KeyConditionExpression":"pk = :p","FilterExpression":"sk > :v","ExpressionAttributeValues":{":p":{"S":"a"},":v":{"N":"1"}}}`,
			"ValidationException", "Filter Expression can only contain non-primary key attributes: Primary key attribute: sk"},
		{`{"TableName":"vtab","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"N":"1"}}}`,
			"ValidationException", "One or more parameter values were invalid: Condition parameter type does not match schema type"},
		{`{"TableName":"vtab","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"S":"a"}},"ExclusiveStartKey":{"pk":{"S":"a"}}}`,
			"ValidationException", "The provided starting key is invalid"},
		{`{"TableName":"vtab","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"S":"a"}},"ExclusiveStartKey":{"pk":{"S":"a"},"sk":{"S":"x"}}}`,
			"ValidationException", "The provided key element does not match the schema"},
		{`{"TableName":"vtab","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"S":"a"}},"ExclusiveStartKey":{"pk":{"S":"a"},"x":{"N":"1"}}}`,
			"ValidationException", "The provided starting key is invalid"},
		{`{"TableName":"vtab","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"S":"a"}},"ExclusiveStartKey":{"pk":{"S":"b"},"sk":{"N":"1"}}}`,
			"ValidationException", "The provided starting key is outside query boundaries based on provided conditions"},
		{`{"TableName":"vtab","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"S":"a"}},"Limit":0}`,
			"ValidationException", "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{`{"TableName":"vtab","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"S":"a"}},"Select":"count"}`,
			"ValidationException", "1 validation error detected: Value 'count' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]"},
		{`{"TableName":"vtab","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"S":"a"}},"Select":"COUNT","ProjectionExpression":"pk"}`,
			"ValidationException", "1 validation error detected: Cannot specify the ProjectionExpression when choosing to get only the Count"},
		{`{"TableName":"vtab","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"S":"a"}},"Select":"SPECIFIC_ATTRIBUTES"}`,
			"ValidationException", "1 validation error detected: Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES"},
		{`{"TableName":"vtab","KeyConditionExpression":"pk = :p","QueryFilter":{"x":{"ComparisonOperator":"NULL"}},"ExpressionAttributeValues":{":p":{"S":"a"}}}`,
			"ValidationException", "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {QueryFilter} Expression parameters: {KeyConditionExpression}"},
		{`{"TableName":"vtab"}`,
			"ValidationException", "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."},
		{`{"TableName":"nope","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"S":"a"}}}`,
			"ResourceNotFoundException", "Requested resource not found"},
		{`{"TableName":"htab","KeyConditionExpression":"pk = :p AND sk = :v","ExpressionAttributeValues":{":p":{"S":"a"},":v":{"N":"1"}}}`,
			"ValidationException", "Query key condition not supported"},
		{`{"TableName":"vtab","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"S":""}}}`,
			"ValidationException", "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: pk"},
	}
	for _, c := range cases {
		var in QueryInput
		rtDecode(t, c.in, &in)
		_, err := db.Query(context.Background(), &in)
		rtWantErr(t, err, c.code, c.msg)
	}
}

// rtScanAll pages through a Scan with in's parameters and returns every
// item read.
func rtScanAll(t *testing.T, db *DB, in ScanInput) []attr.Item {
	t.Helper()
	var all []attr.Item
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("scan does not end")
		}
		out := rtScan(t, db, &in)
		all = append(all, rtItems(out)...)
		if out.LastEvaluatedKey == nil {
			return all
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func rtKeyStrings(items []attr.Item, names ...string) []string {
	var out []string
	for _, it := range items {
		var b strings.Builder
		for _, n := range names {
			b.WriteString(it[n].String())
		}
		out = append(out, b.String())
	}
	return out
}

func TestScanSegmentsCoverTableOnce(t *testing.T) {
	r := rtSeed(t)
	db := rtOpen(t)
	parts := 1 + r.Intn(12)
	t.Logf("partitions %d", parts)
	rtTable(t, db, "seg", "pk", attr.N, "sk", attr.S, parts,
		rtIndex{name: "gsi", hash: "g", hashT: attr.S, proj: "KEYS_ONLY"})
	n := 300 + r.Intn(200)
	var items []attr.Item
	for i := 0; i < n; i++ {
		it := attr.Item{"pk": rtN(t, fmt.Sprint(r.Intn(150)-75)), "sk": rtS(fmt.Sprint(r.Intn(5)))}
		if r.Intn(3) > 0 {
			it["g"] = rtS(fmt.Sprint(r.Intn(40)))
		}
		items = append(items, it)
		rtPut(t, db, "seg", it)
	}
	full := rtScanAll(t, db, ScanInput{TableName: "seg"})
	want := rtKeyStrings(full, "pk", "sk")
	if len(want) == 0 {
		t.Fatal("empty table")
	}
	distinct := map[string]bool{}
	for _, k := range rtKeyStrings(items, "pk", "sk") {
		distinct[k] = true
	}
	if len(want) != len(distinct) {
		t.Fatalf("full scan read %d items, %d distinct were written", len(want), len(distinct))
	}
	sort.Strings(want)
	fullIx := rtScanAll(t, db, ScanInput{TableName: "seg", IndexName: rtPtr("gsi")})
	wantIx := rtKeyStrings(fullIx, "pk", "sk", "g")
	sort.Strings(wantIx)
	for _, total := range []int64{1, 2, 3, int64(parts), int64(parts) + 1, 7, 16, 100, 1000000} {
		for _, ix := range []bool{false, true} {
			var union []string
			segs := total
			if segs > 300 {
				segs = 300 // sample the first segments of a huge count, plus the last
			}
			check := func(seg int64) {
				in := ScanInput{TableName: "seg", Segment: rtPtr(seg), TotalSegments: rtPtr(total), Limit: rtPtr(int64(1 + r.Intn(7)))}
				names := []string{"pk", "sk"}
				if ix {
					in.IndexName = rtPtr("gsi")
					names = append(names, "g")
				}
				got := rtScanAll(t, db, in)
				for _, it := range got {
					h := attr.AppendKey(nil, it["pk"])
					if ix {
						h = attr.AppendKey(nil, it["g"])
					}
					if s := segmentOf(keyHash(h), int(total)); s != int(seg) {
						t.Fatalf("total %d: item %s of segment %d returned by segment %d", total, rtJSON(it), s, seg)
					}
				}
				union = append(union, rtKeyStrings(got, names...)...)
			}
			for seg := int64(0); seg < segs; seg++ {
				check(seg)
			}
			if segs < total {
				check(total - 1)
				continue // a sample cannot cover everything
			}
			sort.Strings(union)
			w := want
			if ix {
				w = wantIx
			}
			if strings.Join(union, "|") != strings.Join(w, "|") {
				t.Fatalf("total %d index=%v: union of segments (%d items) != full scan (%d items)", total, ix, len(union), len(w))
			}
		}
	}
}

func TestScanPagingFilterAndErrors(t *testing.T) {
	db := rtOpen(t)
	rtTable(t, db, "scan1", "pk", attr.S, "", 0, 4)
	for i := 0; i < 50; i++ {
		rtPut(t, db, "scan1", attr.Item{"pk": rtS(fmt.Sprintf("k%02d", i)), "n": rtN(t, fmt.Sprint(i))})
	}
	all := rtScanAll(t, db, ScanInput{TableName: "scan1"})
	for _, limit := range []int64{1, 3, 49, 50, 51} {
		paged := rtScanAll(t, db, ScanInput{TableName: "scan1", Limit: rtPtr(limit)})
		if rtJSON(paged) != rtJSON(all) {
			t.Fatalf("limit %d: paged scan differs", limit)
		}
	}
	var in ScanInput
	rtDecode(t, `{"TableName":"scan1","FilterExpression":"n < :ten","ProjectionExpression":"n","ExpressionAttributeValues":{":ten":{"N":"10"}},"Limit":50}`, &in)
	out := rtScan(t, db, &in)
	if out.Count != 10 || out.ScannedCount != 50 || out.LastEvaluatedKey == nil || len(rtItems(out)[0]) != 1 {
		t.Fatalf("filtered scan: %s", rtJSON(out))
	}
	in.ExclusiveStartKey = out.LastEvaluatedKey
	if got := rtJSON(rtScan(t, db, &in)); got != `{"Items":[],"Count":0,"ScannedCount":0}` {
		t.Fatalf("after exact limit: %s", got)
	}
	var legacy ScanInput
	rtDecode(t, `{"TableName":"scan1","ScanFilter":{"n":{"ComparisonOperator":"GE","AttributeValueList":[{"N":"45"}]}},"Select":"COUNT"}`, &legacy)
	if got := rtJSON(rtScan(t, db, &legacy)); got != `{"Count":5,"ScannedCount":50}` {
		t.Fatalf("legacy scan: %s", got)
	}

	errs := []struct{ in, msg string }{
		{`{"TableName":"scan1","Segment":1}`, "The TotalSegments parameter is required but was not present in the request when Segment parameter is present"},
		{`{"TableName":"scan1","TotalSegments":2}`, "The Segment parameter is required but was not present in the request when parameter TotalSegments is present"},
		{`{"TableName":"scan1","TotalSegments":2,"Segment":2}`, "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: 2 is not less than TotalSegments: 2"},
		{`{"TableName":"scan1","TotalSegments":1000001,"Segment":0}`, "1 validation error detected: Value '1000001' at 'totalSegments' failed to satisfy constraint: Member must have value less than or equal to 1000000"},
		{`{"TableName":"scan1","Select":"ALL_PROJECTED_ATTRIBUTES"}`, "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"},
		{`{"TableName":"scan1","Select":"ALL_ATTRIBUTES","AttributesToGet":["n"]}`, "Cannot specify the AttributesToGet when choosing to get ALL_ATTRIBUTES"},
		{`{"TableName":"scan1","ExclusiveStartKey":{"pk":{"N":"1"}}}`, "The provided starting key is invalid: The provided key element does not match the schema"},
		{`{"TableName":"scan1","ExclusiveStartKey":{"pk":{"S":"k01"},"x":{"N":"1"}}}`, "The provided starting key is invalid: The provided key element does not match the schema"},
	}
	for _, c := range errs {
		var in ScanInput
		rtDecode(t, c.in, &in)
		_, err := db.Scan(context.Background(), &in)
		rtWantErr(t, err, "ValidationException", c.msg)
	}
	// A start key from another segment.
	for seg := int64(0); seg < 2; seg++ {
		k := rtS("k00")
		if segmentOf(keyHash(attr.AppendKey(nil, k)), 2) == int(seg) {
			continue
		}
		_, err := db.Scan(context.Background(), &ScanInput{TableName: "scan1", Segment: rtPtr(seg), TotalSegments: rtPtr(int64(2)), ExclusiveStartKey: attr.Item{"pk": k}})
		rtWantErr(t, err, "ValidationException", fmt.Sprintf("The provided starting key is invalid: Invalid ExclusiveStartKey. Please use ExclusiveStartKey with correct Segment. TotalSegments: 2 Segment: %d", seg))
	}
}

func TestSortKeyRangeEdges(t *testing.T) {
	// begins_with on an all-0xFF prefix has no successor: the range runs to
	// the end of the partition key's entries.
	if _, ok := prefixSuccessor(rtB([]byte{0xFF, 0xFF})); ok {
		t.Fatal("0xFFFF has a successor")
	}
	if s, ok := prefixSuccessor(rtB([]byte{0x01, 0xFF})); !ok || !bytes.Equal(s.B, []byte{0x02}) {
		t.Fatalf("successor of 01FF: %v", s)
	}
	pre := []byte{prefixItem, 1}
	r := sortKeyRange(pre, skCond{op: skBeginsWith, a: rtB([]byte{0xFF})})
	if !bytes.Equal(r.hi, prefixEnd(pre)) {
		t.Fatalf("range %x", r)
	}
	// Segment hash ranges tile the hash space.
	for _, total := range []int{1, 2, 3, 7, 1000000} {
		var next uint64
		for _, seg := range []int{0, 1, total / 2, total - 2, total - 1} {
			if seg < 0 || seg >= total {
				continue
			}
			lo, hi := segmentHashes(seg, total)
			if segmentOf(lo, total) != seg || segmentOf(hi, total) != seg || (lo > 0 && segmentOf(lo-1, total) != seg-1) {
				t.Fatalf("segment %d/%d: [%d, %d]", seg, total, lo, hi)
			}
			if seg == 0 && lo != 0 {
				t.Fatal("segment 0 does not start at 0")
			}
			next = hi
		}
		if next != ^uint64(0) {
			t.Fatalf("total %d: last segment ends at %d", total, next)
		}
	}
}

// FuzzReadRequests feeds arbitrary Query and Scan requests (as the wire
// layer would decode them) to a small database: every one must be answered
// or refused, never panic.
func FuzzReadRequests(f *testing.F) {
	for _, seed := range []string{
		`{"TableName":"fz","KeyConditionExpression":"pk = :p AND sk BETWEEN :a AND :b","ExpressionAttributeValues":{":p":{"S":"a"},":a":{"N":"1"},":b":{"N":"5"}},"Limit":2}`,
		`{"TableName":"fz","KeyConditionExpression":"pk = :p AND sk > :a","ExpressionAttributeValues":{":p":{"S":"a"},":a":{"N":"1"}},"ScanIndexForward":false,"ExclusiveStartKey":{"pk":{"S":"a"},"sk":{"N":"3"}}}`,
		`{"TableName":"fz","IndexName":"gsi","KeyConditionExpression":"g = :g","ExpressionAttributeValues":{":g":{"B":"AP8="}},"Select":"COUNT"}`,
		`{"TableName":"fz","IndexName":"lsi","KeyConditionExpression":"pk = :p AND begins_with(l, :l)","ExpressionAttributeValues":{":p":{"S":"a"},":l":{"S":"x"}},"Select":"ALL_ATTRIBUTES"}`,
		`{"TableName":"fz","KeyConditions":{"pk":{"ComparisonOperator":"EQ","AttributeValueList":[{"S":"a"}]}},"QueryFilter":{"v":{"ComparisonOperator":"NULL"}}}`,
		`{"TableName":"fz","Segment":1,"TotalSegments":3,"Limit":1,"ExclusiveStartKey":{"pk":{"S":"b"},"sk":{"N":"1"}}}`,
		`{"TableName":"fz","IndexName":"gsi","Segment":0,"TotalSegments":2,"FilterExpression":"v <> :v","ExpressionAttributeValues":{":v":{"N":"1"}}}`,
	} {
		f.Add(seed)
	}
	db, err := Open(Config{InMemory: true, NoSync: true, TTLSweepInterval: -1})
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	m := &tableMeta{
		Format: metaFormat, ID: 1000 + rtTableID.Add(1), Name: "fz", Partitions: 3, Status: "ACTIVE",
		HashKey: "pk", HashType: attr.S, RangeKey: "sk", RangeType: attr.N,
		Indexes: []*indexMeta{
			{ID: 1, Name: "gsi", HashKey: "g", HashType: attr.B, ProjectionType: "KEYS_ONLY", Status: "ACTIVE"},
			{ID: 2, Name: "lsi", Local: true, HashKey: "pk", HashType: attr.S, RangeKey: "l", RangeType: attr.S, ProjectionType: "INCLUDE", NonKeyAttributes: []string{"v"}, Status: "ACTIVE"},
		},
	}
	db.mu.Lock()
	tb, err := db.openTable(m)
	if err == nil {
		db.tables["fz"] = tb
	}
	db.mu.Unlock()
	if err != nil {
		f.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		it := attr.Item{"pk": rtS(string(rune('a' + i%3))), "sk": rtN(f, fmt.Sprint(i)), "v": rtN(f, fmt.Sprint(i%4)),
			"g": rtB([]byte{byte(i % 2), 0xFF}), "l": rtS(fmt.Sprintf("x%d\x00", i))}
		rtPut(f, db, "fz", it)
	}
	f.Fuzz(func(t *testing.T, js string) {
		var q QueryInput
		if json.Unmarshal([]byte(js), &q) == nil {
			_, _ = db.Query(context.Background(), &q)
		}
		var s ScanInput
		if json.Unmarshal([]byte(js), &s) == nil {
			_, _ = db.Scan(context.Background(), &s)
		}
	})
}
