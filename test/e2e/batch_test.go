package e2e

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func dPutReq(it dItem) types.WriteRequest {
	return types.WriteRequest{PutRequest: &types.PutRequest{Item: it}}
}

func dDelReq(key dItem) types.WriteRequest {
	return types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: key}}
}

// dCount counts a table's items with a Scan.
func dCount(t *testing.T, cl *dynamodb.Client, table string) int {
	t.Helper()
	out, err := cl.Scan(dCtx(t), &dynamodb.ScanInput{TableName: aws.String(table), Select: types.SelectCount, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return int(out.Count)
}

// TestBatchWrite: puts and deletes across tables, the 25-request limit,
// duplicate keys, and validation of the whole batch before any write.
func TestBatchWrite(t *testing.T) {
	_, cl := dServer(t)
	ctx := dCtx(t)
	dHashTable(t, cl, "bw1")
	dRangeTable(t, cl, "bw2")
	dPut(t, cl, "bw1", dWith(dK("gone"), "x", dS("x")))

	var r1, r2 []types.WriteRequest
	for i := 0; i < 12; i++ {
		r1 = append(r1, dPutReq(dItem{"pk": dS(fmt.Sprint("a", i)), "v": dNi(i)}))
		r2 = append(r2, dPutReq(dItem{"pk": dS("b"), "sk": dNi(i), "v": dS(dPad(1500))}))
	}
	r1 = append(r1, dDelReq(dK("gone")))
	out, err := cl.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
		RequestItems:           map[string][]types.WriteRequest{"bw1": r1, "bw2": r2},
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.UnprocessedItems == nil || len(out.UnprocessedItems) != 0 {
		t.Errorf("UnprocessedItems: %v (want present and empty)", out.UnprocessedItems)
	}
	// bw1: 12 small puts and a delete of a small item = 13 WCU; bw2: 12 × 2 WCU.
	if len(out.ConsumedCapacity) != 2 {
		t.Fatalf("ConsumedCapacity: %d entries", len(out.ConsumedCapacity))
	}
	sort.Slice(out.ConsumedCapacity, func(i, j int) bool {
		return aws.ToString(out.ConsumedCapacity[i].TableName) < aws.ToString(out.ConsumedCapacity[j].TableName)
	})
	dTotal(t, "bw1", &out.ConsumedCapacity[0], "bw1", 13, false)
	dTotal(t, "bw2", &out.ConsumedCapacity[1], "bw2", 24, false)
	if n1, n2 := dCount(t, cl, "bw1"), dCount(t, cl, "bw2"); n1 != 12 || n2 != 12 {
		t.Errorf("after batch: %d and %d items, want 12 and 12", n1, n2)
	}
	dSameItem(t, "batch-written item", dGet(t, cl, "bw1", dK("a7")), dItem{"pk": dS("a7"), "v": dNi(7)})
	if got := dGet(t, cl, "bw1", dK("gone")); got != nil {
		t.Errorf("batch delete left %s", dCanonItem(got))
	}

	// Rejected batches write nothing at all.
	fresh := func(n int) []types.WriteRequest {
		var reqs []types.WriteRequest
		for i := 0; i < n; i++ {
			reqs = append(reqs, dPutReq(dItem{"pk": dS(fmt.Sprint("new", i))}))
		}
		return reqs
	}
	var other []types.WriteRequest
	for i := 0; i < 13; i++ {
		other = append(other, dPutReq(dItem{"pk": dS("c"), "sk": dNi(i)}))
	}
	for _, tc := range []struct {
		name string
		reqs map[string][]types.WriteRequest
		code string
		msg  string
	}{
		{"26 requests in one table", map[string][]types.WriteRequest{"bw1": fresh(26)}, "ValidationException",
			"1 validation error detected: Value '{bw1=[...]}' at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]"},
		{"26 requests in two tables", map[string][]types.WriteRequest{"bw1": fresh(13), "bw2": other}, "ValidationException", "Too many items requested for the BatchWriteItem call"},
		{"duplicate puts", map[string][]types.WriteRequest{"bw1": append(fresh(3), dPutReq(dItem{"pk": dS("new1"), "x": dNi(1)}))}, "ValidationException", "Provided list of item keys contains duplicates"},
		{"put and delete of one key", map[string][]types.WriteRequest{"bw1": append(fresh(3), dDelReq(dK("new2")))}, "ValidationException", "Provided list of item keys contains duplicates"},
		{"a key of the wrong type", map[string][]types.WriteRequest{"bw1": append(fresh(24), dPutReq(dItem{"pk": dNi(1)}))}, "ValidationException", "The provided key element does not match the schema"},
		{"a missing key", map[string][]types.WriteRequest{"bw1": append(fresh(5), dPutReq(dItem{"x": dS("1")}))}, "ValidationException", "The provided key element does not match the schema"},
		{"an item over 400 KB", map[string][]types.WriteRequest{"bw1": append(fresh(5), dPutReq(dItem{"pk": dS("huge"), "d": dS(dPad(400 * 1024))}))}, "ValidationException", "Item size has exceeded the maximum allowed size"},
		{"an invalid item in the other table", map[string][]types.WriteRequest{"bw1": fresh(5), "bw2": {dPutReq(dItem{"pk": dS("b"), "sk": dNi(1), "e": dSS()})}}, "ValidationException", "One or more parameter values were invalid: An string set  may not be empty"},
		{"a missing table", map[string][]types.WriteRequest{"bw1": fresh(5), "nosuchtable": fresh(1)}, "ResourceNotFoundException", ""},
	} {
		_, err := cl.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: tc.reqs})
		if tc.code == "ResourceNotFoundException" {
			var rnf *types.ResourceNotFoundException
			if !errors.As(err, &rnf) {
				t.Errorf("%s: want ResourceNotFoundException, got %v", tc.name, err)
			}
		} else {
			dWantErr(t, err, tc.code, tc.msg)
		}
		if n1, n2 := dCount(t, cl, "bw1"), dCount(t, cl, "bw2"); n1 != 12 || n2 != 12 {
			t.Errorf("%s: the rejected batch wrote something (%d and %d items)", tc.name, n1, n2)
		}
	}
}

// TestBatchGet: keys across tables, projections, the 100-key limit,
// duplicates, UnprocessedKeys both empty and in use, and per-item units.
func TestBatchGet(t *testing.T) {
	_, cl := dServer(t)
	ctx := dCtx(t)
	dHashTable(t, cl, "bg1")
	dRangeTable(t, cl, "bg2")
	var puts1, puts2 []dItem
	for i := 0; i < 60; i++ {
		puts1 = append(puts1, dItem{"pk": dS(fmt.Sprint("k", i)), "v": dNi(i), "w": dS("w")})
	}
	for i := 0; i < 40; i++ {
		puts2 = append(puts2, dItem{"pk": dS("p"), "sk": dNi(i), "d": dS(dPad(5000))})
	}
	dBatchPut(t, cl, "bg1", puts1)
	dBatchPut(t, cl, "bg2", puts2)

	var k1, k2 []dItem
	for i := 0; i < 60; i++ {
		k1 = append(k1, dK(fmt.Sprint("k", i*2))) // half of them exist
	}
	for i := 0; i < 40; i++ {
		k2 = append(k2, dK2("p", i))
	}
	out, err := cl.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
		RequestItems: map[string]types.KeysAndAttributes{
			"bg1": {Keys: k1, ProjectionExpression: aws.String("pk, #v"), ExpressionAttributeNames: map[string]string{"#v": "v"}},
			"bg2": {Keys: k2, ConsistentRead: aws.Bool(true)},
		},
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.UnprocessedKeys == nil || len(out.UnprocessedKeys) != 0 {
		t.Errorf("UnprocessedKeys: %v (want present and empty)", out.UnprocessedKeys)
	}
	got1 := map[string]string{}
	for _, it := range out.Responses["bg1"] {
		got1[it["pk"].(*types.AttributeValueMemberS).Value] = dCanonItem(it)
	}
	if len(got1) != 30 {
		t.Errorf("bg1: %d items, want 30", len(got1))
	}
	for i := 0; i < 60; i += 2 {
		want := dCanonItem(dItem{"pk": dS(fmt.Sprint("k", i)), "v": dNi(i)})
		if got1[fmt.Sprint("k", i)] != want {
			t.Errorf("bg1 k%d: %s, want %s", i, got1[fmt.Sprint("k", i)], want)
		}
	}
	if len(out.Responses["bg2"]) != 40 {
		t.Errorf("bg2: %d items, want 40", len(out.Responses["bg2"]))
	}
	// Each item is rounded on its own: 60 keys at 0.5 (30 misses at the
	// minimum), 40 strongly consistent reads of ~5 KB at 2 each.
	cc := map[string]float64{}
	for _, c := range out.ConsumedCapacity {
		cc[aws.ToString(c.TableName)] = aws.ToFloat64(c.CapacityUnits)
	}
	if cc["bg1"] != 30 || cc["bg2"] != 80 || len(cc) != 2 {
		t.Errorf("ConsumedCapacity: %v, want bg1 30 and bg2 80", cc)
	}

	_, err = cl.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
		"bg1": {Keys: k1}, "bg2": {Keys: append(append([]dItem(nil), k2...), dK2("p", 1000))},
	}})
	dWantValidation(t, err, "Too many items requested for the BatchGetItem call")
	var many []dItem
	for i := 0; i < 101; i++ {
		many = append(many, dK(fmt.Sprint("m", i)))
	}
	_, err = cl.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{"bg1": {Keys: many}}})
	// NB: AWS words 101 keys of one table as a model constraint on
	// requestItems.<table>.member.keys; sources disagree on the exact text.
	if ae := dAPIError(t, err); ae.ErrorCode() != "ValidationException" ||
		(ae.ErrorMessage() != "Too many items requested for the BatchGetItem call" && !strings.Contains(ae.ErrorMessage(), "Member must have length less than or equal to 100")) {
		t.Errorf("101 keys in one table: %s %q", ae.ErrorCode(), ae.ErrorMessage())
	}
	_, err = cl.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{"bg1": {Keys: []dItem{dK("k1"), dK("k2"), dK("k1")}}}})
	dWantValidation(t, err, "Provided list of item keys contains duplicates")
	_, err = cl.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{"bg2": {Keys: []dItem{dK("k1")}}}})
	dWantValidation(t, err, "The provided key element does not match the schema")
	_, err = cl.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{"bg1": {Keys: []dItem{dK("k1")}}, "nosuchtable": {Keys: []dItem{dK("k1")}}}})
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Errorf("missing table: %v", err)
	}

	t.Run("UnprocessedKeys past 16 MB", func(t *testing.T) {
		dHashTable(t, cl, "bgbig")
		var keys []dItem
		for i := 0; i < 50; i++ {
			key := dK(fmt.Sprint("big", i))
			keys = append(keys, key)
			dPut(t, cl, "bgbig", dWith(key, "d", dS(dPad(400*1024-20))))
		}
		seen := map[string]int{}
		req := map[string]types.KeysAndAttributes{"bgbig": {Keys: keys}}
		for round := 0; len(req) > 0; round++ {
			if round > 5 {
				t.Fatal("UnprocessedKeys never drains")
			}
			out, err := cl.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, it := range out.Responses["bgbig"] {
				seen[it["pk"].(*types.AttributeValueMemberS).Value]++
				n += len(it["d"].(*types.AttributeValueMemberS).Value)
			}
			if n > 16<<20 {
				t.Errorf("round %d: %d bytes of items in one response", round, n)
			}
			if round == 0 && len(out.UnprocessedKeys["bgbig"].Keys) == 0 {
				t.Errorf("20 MB of items fitted in one response")
			}
			if round == 0 && len(out.UnprocessedKeys["bgbig"].Keys)+len(out.Responses["bgbig"]) != 50 {
				t.Errorf("round 0: %d returned + %d unprocessed != 50", len(out.Responses["bgbig"]), len(out.UnprocessedKeys["bgbig"].Keys))
			}
			req = out.UnprocessedKeys
		}
		if len(seen) != 50 {
			t.Errorf("%d distinct items after draining UnprocessedKeys", len(seen))
		}
		for k, n := range seen {
			if n != 1 {
				t.Errorf("%s returned %d times", k, n)
			}
		}
	})
}
