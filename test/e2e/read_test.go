package e2e

import (
	"fmt"
	"sort"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// dBatchPut writes items with BatchWriteItem, 25 at a time, requiring that
// nothing comes back unprocessed.
func dBatchPut(t *testing.T, cl *dynamodb.Client, table string, items []dItem) {
	t.Helper()
	for len(items) > 0 {
		n := min(25, len(items))
		reqs := make([]types.WriteRequest, n)
		for i, it := range items[:n] {
			reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: it}}
		}
		out, err := cl.BatchWriteItem(dCtx(t), &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs}})
		if err != nil {
			t.Fatalf("batch put into %s: %v", table, err)
		}
		if len(out.UnprocessedItems) != 0 {
			t.Fatalf("batch put into %s: %d tables unprocessed", table, len(out.UnprocessedItems))
		}
		items = items[n:]
	}
}

// dSK returns the numeric sort key sk of an item.
func dSK(t *testing.T, it dItem, name string) int {
	t.Helper()
	n, ok := it[name].(*types.AttributeValueMemberN)
	if !ok {
		t.Fatalf("item has no N %s: %s", name, dCanonItem(it))
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil {
		t.Fatalf("%s = %q", name, n.Value)
	}
	return v
}

// dQueryAll pages through a Query with the SDK paginator and returns the
// items and the number of pages.
func dQueryAll(t *testing.T, cl *dynamodb.Client, in *dynamodb.QueryInput) ([]dItem, int) {
	t.Helper()
	var items []dItem
	pages := 0
	p := dynamodb.NewQueryPaginator(cl, in)
	for p.HasMorePages() {
		page, err := p.NextPage(dCtx(t))
		if err != nil {
			t.Fatalf("query page %d: %v", pages, err)
		}
		pages++
		if int(page.Count) != len(page.Items) {
			t.Errorf("page %d: Count %d but %d items", pages, page.Count, len(page.Items))
		}
		items = append(items, page.Items...)
		if pages > 1000 {
			t.Fatal("query paginator does not end")
		}
	}
	return items, pages
}

// dScanAll is dQueryAll for Scan.
func dScanAll(t *testing.T, cl *dynamodb.Client, in *dynamodb.ScanInput) ([]dItem, int) {
	t.Helper()
	var items []dItem
	pages := 0
	p := dynamodb.NewScanPaginator(cl, in)
	for p.HasMorePages() {
		page, err := p.NextPage(dCtx(t))
		if err != nil {
			t.Fatalf("scan page %d: %v", pages, err)
		}
		pages++
		items = append(items, page.Items...)
		if pages > 1000 {
			t.Fatal("scan paginator does not end")
		}
	}
	return items, pages
}

// dKeys lists the "pk/sk" of items, in order.
func dKeys(t *testing.T, items []dItem) []string {
	t.Helper()
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = fmt.Sprintf("%s/%d", it["pk"].(*types.AttributeValueMemberS).Value, dSK(t, it, "sk"))
	}
	return out
}

// dQueryFixture creates table "qtab" (pk S, sk N) holding 50 items under "p"
// (sk 0..49, odd = sk%2==1), 10 under "other" and 5 under "five", and
// returns the keys of all of them.
func dQueryFixture(t *testing.T, cl *dynamodb.Client) map[string]bool {
	t.Helper()
	dRangeTable(t, cl, "qtab")
	var items []dItem
	all := map[string]bool{}
	add := func(pk string, n int) {
		for i := 0; i < n; i++ {
			items = append(items, dItem{"pk": dS(pk), "sk": dNi(i), "odd": dBool(i%2 == 1), "v": dNi(i * 10)})
			all[fmt.Sprintf("%s/%d", pk, i)] = true
		}
	}
	add("p", 50)
	add("other", 10)
	add("five", 5)
	dBatchPut(t, cl, "qtab", items)
	return all
}

func dRange(lo, hi, step int) []int {
	var out []int
	for i := lo; (step > 0 && i <= hi) || (step < 0 && i >= hi); i += step {
		out = append(out, i)
	}
	return out
}

func dSKs(t *testing.T, items []dItem) []int {
	t.Helper()
	out := make([]int, len(items))
	for i, it := range items {
		out[i] = dSK(t, it, "sk")
	}
	return out
}

// TestReadQuery: the SDK paginator over multi-page results in both
// directions, sort key conditions, Limit with a filter, LastEvaluatedKey at
// an exact Limit, Select COUNT, projections and the 1 MB page.
func TestReadQuery(t *testing.T) {
	_, cl := dServer(t)
	ctx := dCtx(t)
	dQueryFixture(t, cl)
	q := func(kce string, vals dItem) *dynamodb.QueryInput {
		return &dynamodb.QueryInput{TableName: aws.String("qtab"), KeyConditionExpression: aws.String(kce), ExpressionAttributeValues: vals}
	}
	p := dItem{":p": dS("p")}

	t.Run("paginator both directions", func(t *testing.T) {
		in := q("pk = :p", p)
		in.Limit = aws.Int32(7)
		items, pages := dQueryAll(t, cl, in)
		if got, want := fmt.Sprint(dSKs(t, items)), fmt.Sprint(dRange(0, 49, 1)); got != want {
			t.Errorf("forward: %s", got)
		}
		if pages != 8 {
			t.Errorf("forward: %d pages of 7 for 50 items, want 8", pages)
		}
		in = q("pk = :p", p)
		in.Limit, in.ScanIndexForward = aws.Int32(9), aws.Bool(false)
		items, _ = dQueryAll(t, cl, in)
		if got, want := fmt.Sprint(dSKs(t, items)), fmt.Sprint(dRange(49, 0, -1)); got != want {
			t.Errorf("backward: %s", got)
		}
	})

	t.Run("sort key conditions", func(t *testing.T) {
		for _, tc := range []struct {
			kce  string
			vals dItem
			want []int
		}{
			{"pk = :p AND sk BETWEEN :a AND :b", dItem{":a": dNi(10), ":b": dNi(19)}, dRange(10, 19, 1)},
			{"pk = :p AND sk > :a", dItem{":a": dNi(45)}, dRange(46, 49, 1)},
			{"pk = :p AND sk >= :a", dItem{":a": dNi(45)}, dRange(45, 49, 1)},
			{"pk = :p AND sk < :a", dItem{":a": dNi(3)}, dRange(0, 2, 1)},
			{"pk = :p AND sk <= :a", dItem{":a": dNi(3)}, dRange(0, 3, 1)},
			{"pk = :p AND sk = :a", dItem{":a": dN("7.0")}, []int{7}},
			{"sk between :a and :b and pk = :p", dItem{":a": dNi(48), ":b": dNi(100)}, []int{48, 49}},
			{"pk = :p AND sk > :a", dItem{":a": dNi(49)}, nil},
		} {
			vals := dWith(tc.vals, ":p", dS("p"))
			items, _ := dQueryAll(t, cl, &dynamodb.QueryInput{TableName: aws.String("qtab"), KeyConditionExpression: aws.String(tc.kce), ExpressionAttributeValues: vals, Limit: aws.Int32(3)})
			if got, want := fmt.Sprint(dSKs(t, items)), fmt.Sprint(tc.want); got != want {
				t.Errorf("%s: %s, want %s", tc.kce, got, want)
			}
		}
	})

	t.Run("limit counts before the filter", func(t *testing.T) {
		in := q("pk = :p", dItem{":p": dS("p"), ":t": dBool(true)})
		in.FilterExpression, in.Limit = aws.String("odd = :t"), aws.Int32(10)
		out, err := cl.Query(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if out.ScannedCount != 10 || out.Count != 5 || fmt.Sprint(dSKs(t, out.Items)) != "[1 3 5 7 9]" {
			t.Errorf("first page: scanned %d count %d items %v", out.ScannedCount, out.Count, dSKs(t, out.Items))
		}
		dSameItem(t, "LastEvaluatedKey", out.LastEvaluatedKey, dK2("p", 9))
		items, _ := dQueryAll(t, cl, in)
		if got, want := fmt.Sprint(dSKs(t, items)), fmt.Sprint(dRange(1, 49, 2)); got != want {
			t.Errorf("all odd: %s", got)
		}
		// A page can hold nothing and still go on.
		in = q("pk = :p", dItem{":p": dS("p"), ":n": dNi(480)})
		in.FilterExpression, in.Limit = aws.String("v >= :n"), aws.Int32(5)
		out, err = cl.Query(ctx, in)
		if err != nil || len(out.Items) != 0 || out.ScannedCount != 5 || out.LastEvaluatedKey == nil {
			t.Errorf("empty filtered page: %v items %d scanned %d LEK %s", err, len(out.Items), out.ScannedCount, dCanonItem(out.LastEvaluatedKey))
		}
	})

	t.Run("LastEvaluatedKey at exact limit", func(t *testing.T) {
		in := q("pk = :p", dItem{":p": dS("five")})
		in.Limit = aws.Int32(5)
		out, err := cl.Query(ctx, in)
		if err != nil || len(out.Items) != 5 {
			t.Fatalf("%v, %d items", err, len(out.Items))
		}
		dSameItem(t, "LEK at exact limit", out.LastEvaluatedKey, dK2("five", 4))
		in.ExclusiveStartKey = out.LastEvaluatedKey
		out, err = cl.Query(ctx, in)
		if err != nil || len(out.Items) != 0 || out.Count != 0 || out.LastEvaluatedKey != nil {
			t.Errorf("page after the last: %v, %d items, LEK %s", err, len(out.Items), dCanonItem(out.LastEvaluatedKey))
		}
		in.Limit = aws.Int32(6)
		in.ExclusiveStartKey = nil
		out, err = cl.Query(ctx, in)
		if err != nil || len(out.Items) != 5 || out.LastEvaluatedKey != nil {
			t.Errorf("limit above the count: %v, %d items, LEK %s", err, len(out.Items), dCanonItem(out.LastEvaluatedKey))
		}
	})

	t.Run("select count and projection", func(t *testing.T) {
		in := q("pk = :p", p)
		in.Select = types.SelectCount
		out, err := cl.Query(ctx, in)
		if err != nil || out.Count != 50 || out.ScannedCount != 50 || len(out.Items) != 0 {
			t.Errorf("COUNT: %v count %d scanned %d items %d", err, out.Count, out.ScannedCount, len(out.Items))
		}
		in = q("pk = :p", dItem{":p": dS("p"), ":t": dBool(true)})
		in.Select, in.FilterExpression = types.SelectCount, aws.String("odd = :t")
		out, err = cl.Query(ctx, in)
		if err != nil || out.Count != 25 || out.ScannedCount != 50 || len(out.Items) != 0 {
			t.Errorf("COUNT with filter: %v count %d scanned %d", err, out.Count, out.ScannedCount)
		}
		in = q("pk = :p AND sk = :s", dItem{":p": dS("p"), ":s": dNi(3)})
		in.ProjectionExpression = aws.String("v, nothere")
		out, err = cl.Query(ctx, in)
		if err != nil || len(out.Items) != 1 {
			t.Fatalf("projection: %v %d", err, len(out.Items))
		}
		dSameItem(t, "projected item", out.Items[0], dItem{"v": dNi(30)})
	})

	t.Run("1 MB pages", func(t *testing.T) {
		var items []dItem
		for i := 0; i < 30; i++ {
			items = append(items, dItem{"pk": dS("big"), "sk": dNi(i), "d": dS(dPad(100_000))})
		}
		dBatchPut(t, cl, "qtab", items)
		out, err := cl.Query(ctx, q("pk = :p", dItem{":p": dS("big")}))
		if err != nil {
			t.Fatal(err)
		}
		size := 0
		for _, it := range out.Items {
			size += len(it["d"].(*types.AttributeValueMemberS).Value)
		}
		if len(out.Items) == 0 || len(out.Items) >= 30 || out.LastEvaluatedKey == nil || size > 1<<20+100_100 {
			t.Errorf("first page of 3 MB: %d items, %d bytes, LEK %s", len(out.Items), size, dCanonItem(out.LastEvaluatedKey))
		}
		got, pages := dQueryAll(t, cl, q("pk = :p", dItem{":p": dS("big")}))
		if fmt.Sprint(dSKs(t, got)) != fmt.Sprint(dRange(0, 29, 1)) || pages < 3 {
			t.Errorf("all of 3 MB: %v in %d pages", dSKs(t, got), pages)
		}
	})

	t.Run("validation", func(t *testing.T) {
		for _, tc := range []struct {
			in  *dynamodb.QueryInput
			msg string
		}{
			{q("sk = :s", dItem{":s": dNi(1)}), "Query condition missed key schema element: pk"},
			{&dynamodb.QueryInput{TableName: aws.String("qtab"), KeyConditionExpression: aws.String("pk = :p"), FilterExpression: aws.String("sk > :s"), ExpressionAttributeValues: dItem{":p": dS("p"), ":s": dNi(1)}},
				"Filter Expression can only contain non-primary key attributes: Primary key attribute: sk"},
			{q("pk = :p OR sk = :s", dItem{":p": dS("p"), ":s": dNi(1)}), "Invalid operator used in KeyConditionExpression: OR"},
			{q("pk = :p", dItem{":p": dNi(1)}), "One or more parameter values were invalid: Condition parameter type does not match schema type"},
			{&dynamodb.QueryInput{TableName: aws.String("qtab"), KeyConditionExpression: aws.String("pk = :p"), ExpressionAttributeValues: p, ExclusiveStartKey: dK2("other", 1)},
				"The provided starting key is outside query boundaries based on provided conditions"},
		} {
			_, err := cl.Query(ctx, tc.in)
			dWantValidation(t, err, tc.msg)
		}
	})
}

// TestReadScan: the SDK scan paginator returns every item exactly once,
// Limit with a filter, COUNT, and parallel segments whose union is the full
// scan with no overlap.
func TestReadScan(t *testing.T) {
	_, cl := dServer(t)
	ctx := dCtx(t)
	all := dQueryFixture(t, cl)
	keysOf := func(items []dItem) map[string]int {
		m := map[string]int{}
		for _, k := range dKeys(t, items) {
			m[k]++
		}
		return m
	}
	check := func(what string, got map[string]int, want map[string]bool) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s: %d distinct items, want %d", what, len(got), len(want))
		}
		for k, n := range got {
			if !want[k] || n != 1 {
				t.Errorf("%s: %s seen %d times (expected %v)", what, k, n, want[k])
			}
		}
	}
	items, pages := dScanAll(t, cl, &dynamodb.ScanInput{TableName: aws.String("qtab"), Limit: aws.Int32(13)})
	check("paged scan", keysOf(items), all)
	if pages < 5 {
		t.Errorf("65 items in pages of 13: %d pages", pages)
	}

	odd := map[string]bool{}
	for _, it := range items {
		if it["odd"].(*types.AttributeValueMemberBOOL).Value {
			odd[dKeys(t, []dItem{it})[0]] = true
		}
	}
	fin := &dynamodb.ScanInput{TableName: aws.String("qtab"), Limit: aws.Int32(10), FilterExpression: aws.String("odd = :t"), ExpressionAttributeValues: dItem{":t": dBool(true)}}
	out, err := cl.Scan(ctx, fin)
	if err != nil || out.ScannedCount != 10 || int(out.Count) != len(out.Items) || out.Count > 10 || out.LastEvaluatedKey == nil {
		t.Errorf("filtered page: %v scanned %d count %d", err, out.ScannedCount, out.Count)
	}
	filtered, _ := dScanAll(t, cl, fin)
	check("filtered scan", keysOf(filtered), odd)

	out, err = cl.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("qtab"), Select: types.SelectCount})
	if err != nil || out.Count != int32(len(all)) || out.ScannedCount != int32(len(all)) || len(out.Items) != 0 {
		t.Errorf("COUNT: %v count %d scanned %d items %d", err, out.Count, out.ScannedCount, len(out.Items))
	}

	for _, total := range []int32{1, 2, 3, 4, 7} {
		union := map[string]int{}
		for seg := int32(0); seg < total; seg++ {
			part, _ := dScanAll(t, cl, &dynamodb.ScanInput{TableName: aws.String("qtab"), Segment: aws.Int32(seg), TotalSegments: aws.Int32(total), Limit: aws.Int32(4)})
			for k, n := range keysOf(part) {
				union[k] += n
			}
		}
		check(fmt.Sprintf("union of %d segments", total), union, all)
	}
	_, err = cl.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("qtab"), Segment: aws.Int32(4), TotalSegments: aws.Int32(4)})
	dWantValidation(t, err, "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: 4 is not less than TotalSegments: 4")
	_, err = cl.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("qtab"), TotalSegments: aws.Int32(4)})
	dWantValidation(t, err, "The Segment parameter is required but was not present in the request when parameter TotalSegments is present")
}

// TestReadIndexes: Query and Scan on a GSI and an LSI, their ordering,
// LastEvaluatedKey carrying the index key, and the GSI consistent-read ban.
func TestReadIndexes(t *testing.T) {
	_, cl := dServer(t)
	ctx := dCtx(t)
	dIndexedTable(t, cl, "ixtab")
	var items []dItem
	for i := 0; i < 20; i++ {
		it := dItem{"pk": dS(fmt.Sprintf("p%d", i%3)), "sk": dNi(i), "l": dNi(100 - i)}
		if i%2 == 0 {
			it["g"], it["gs"] = dS(fmt.Sprintf("G%d", i%4)), dNi(1000-i)
		}
		items = append(items, it)
	}
	items = append(items, dItem{"pk": dS("p0"), "sk": dNi(99)}) // in no index
	dBatchPut(t, cl, "ixtab", items)

	// GSI: g = G0 holds i = 0, 4, 8, 12, 16, ordered by gs = 1000-i.
	in := &dynamodb.QueryInput{TableName: aws.String("ixtab"), IndexName: aws.String("byG"), KeyConditionExpression: aws.String("g = :g"), ExpressionAttributeValues: dItem{":g": dS("G0")}, Limit: aws.Int32(2)}
	got, pages := dQueryAll(t, cl, in)
	if fmt.Sprint(dSKs(t, got)) != "[16 12 8 4 0]" || pages != 3 {
		t.Errorf("GSI query: %v in %d pages", dSKs(t, got), pages)
	}
	out, err := cl.Query(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	dSameItem(t, "GSI LastEvaluatedKey", out.LastEvaluatedKey, dItem{"pk": dS("p0"), "sk": dNi(12), "g": dS("G0"), "gs": dNi(988)})
	dSameItem(t, "GSI item (projection ALL)", out.Items[0], items[16])
	in.ScanIndexForward = aws.Bool(false)
	got, _ = dQueryAll(t, cl, in)
	if fmt.Sprint(dSKs(t, got)) != "[0 4 8 12 16]" {
		t.Errorf("GSI query backward: %v", dSKs(t, got))
	}
	in.ConsistentRead = aws.Bool(true)
	_, err = cl.Query(ctx, in)
	dWantValidation(t, err, "Consistent reads are not supported on global secondary indexes")

	// LSI: pk = p0 holds i = 0, 3, ..., 18 (and sk 99 without l), ordered by l = 100-i.
	lin := &dynamodb.QueryInput{TableName: aws.String("ixtab"), IndexName: aws.String("byL"), KeyConditionExpression: aws.String("pk = :p AND l < :l"), ExpressionAttributeValues: dItem{":p": dS("p0"), ":l": dNi(95)}, Limit: aws.Int32(3), ConsistentRead: aws.Bool(true)}
	got, _ = dQueryAll(t, cl, lin)
	if fmt.Sprint(dSKs(t, got)) != "[18 15 12 9 6]" {
		t.Errorf("LSI query: %v", dSKs(t, got))
	}
	out, err = cl.Query(ctx, lin)
	if err != nil {
		t.Fatal(err)
	}
	dSameItem(t, "LSI LastEvaluatedKey", out.LastEvaluatedKey, dItem{"pk": dS("p0"), "sk": dNi(12), "l": dNi(88)})

	// Scans of the indexes see exactly the items that have their keys.
	gs, _ := dScanAll(t, cl, &dynamodb.ScanInput{TableName: aws.String("ixtab"), IndexName: aws.String("byG"), Limit: aws.Int32(3)})
	ls, _ := dScanAll(t, cl, &dynamodb.ScanInput{TableName: aws.String("ixtab"), IndexName: aws.String("byL"), Limit: aws.Int32(3)})
	gk, lk := dSKs(t, gs), dSKs(t, ls)
	sort.Ints(gk)
	sort.Ints(lk)
	if fmt.Sprint(gk) != fmt.Sprint(dRange(0, 18, 2)) || fmt.Sprint(lk) != fmt.Sprint(dRange(0, 19, 1)) {
		t.Errorf("index scans: GSI %v LSI %v", gk, lk)
	}

	// Moving an item in the GSI (new g) and out of it (REMOVE g).
	if _, err := cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("ixtab"), Key: dK2("p0", 0), UpdateExpression: aws.String("SET g = :g"), ExpressionAttributeValues: dItem{":g": dS("G9")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("ixtab"), Key: dK2("p1", 4), UpdateExpression: aws.String("REMOVE g")}); err != nil {
		t.Fatal(err)
	}
	in = &dynamodb.QueryInput{TableName: aws.String("ixtab"), IndexName: aws.String("byG"), KeyConditionExpression: aws.String("g = :g"), ExpressionAttributeValues: dItem{":g": dS("G0")}}
	got, _ = dQueryAll(t, cl, in)
	if fmt.Sprint(dSKs(t, got)) != "[16 12 8]" {
		t.Errorf("GSI after moves: %v", dSKs(t, got))
	}
	in.ExpressionAttributeValues = dItem{":g": dS("G9")}
	got, _ = dQueryAll(t, cl, in)
	if fmt.Sprint(dSKs(t, got)) != "[0]" {
		t.Errorf("GSI new partition: %v", dSKs(t, got))
	}
	_, err = cl.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("ixtab"), IndexName: aws.String("nope"), KeyConditionExpression: aws.String("g = :g"), ExpressionAttributeValues: dItem{":g": dS("G0")}})
	dWantValidation(t, err, "The table does not have the specified index: nope")
}
