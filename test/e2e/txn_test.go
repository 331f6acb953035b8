package e2e

import (
	"errors"
	"fmt"
	"math/rand"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// dTxnFixture creates tx1 (pk S) and tx2 (pk S, sk N) with a few items.
func dTxnFixture(t *testing.T, cl *dynamodb.Client) {
	t.Helper()
	dHashTable(t, cl, "tx1")
	dRangeTable(t, cl, "tx2")
	dPut(t, cl, "tx1", dItem{"pk": dS("a"), "v": dNi(1)})
	dPut(t, cl, "tx1", dItem{"pk": dS("b"), "v": dNi(2)})
	dPut(t, cl, "tx1", dItem{"pk": dS("c"), "v": dNi(3), "tag": dSS("x")})
	dPut(t, cl, "tx2", dItem{"pk": dS("p"), "sk": dNi(1), "c": dNi(5)})
}

// dFourActions is a transaction with all four actions over both tables and
// several partitions; cond is the ConditionCheck's condition on tx1/c.
func dFourActions(cond string, allOld bool) []types.TransactWriteItem {
	rv := types.ReturnValuesOnConditionCheckFailureNone
	if allOld {
		rv = types.ReturnValuesOnConditionCheckFailureAllOld
	}
	return []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String("tx1"), Item: dItem{"pk": dS("n"), "v": dNi(9)}, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Update: &types.Update{TableName: aws.String("tx2"), Key: dK2("p", 1), UpdateExpression: aws.String("ADD c :one"), ExpressionAttributeValues: dItem{":one": dNi(1)}}},
		{Delete: &types.Delete{TableName: aws.String("tx1"), Key: dK("b"), ConditionExpression: aws.String("v = :two"), ExpressionAttributeValues: dItem{":two": dNi(2)}}},
		{ConditionCheck: &types.ConditionCheck{TableName: aws.String("tx1"), Key: dK("c"), ConditionExpression: aws.String(cond), ExpressionAttributeValues: dItem{":three": dNi(3)}, ReturnValuesOnConditionCheckFailure: rv}},
		{Put: &types.Put{TableName: aws.String("tx2"), Item: dItem{"pk": dS("q"), "sk": dNi(2), "x": dS("y")}}},
	}
}

// TestTxnWriteCommitsAndCancels: a transaction of all four actions commits
// everywhere at once; one failing condition cancels all of it, with
// CancellationReasons in item order.
func TestTxnWriteCommitsAndCancels(t *testing.T) {
	_, cl := dServer(t)
	ctx := dCtx(t)
	dTxnFixture(t, cl)
	before := func() map[string]string {
		return map[string]string{
			"n": dCanonItem(dGet(t, cl, "tx1", dK("n"))), "b": dCanonItem(dGet(t, cl, "tx1", dK("b"))),
			"p1": dCanonItem(dGet(t, cl, "tx2", dK2("p", 1))), "q2": dCanonItem(dGet(t, cl, "tx2", dK2("q", 2))),
		}
	}
	snapshot := before()

	cancelled := func(err error, codes ...string) *types.TransactionCanceledException {
		t.Helper()
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) {
			t.Fatalf("want TransactionCanceledException, got %v", err)
		}
		if len(tce.CancellationReasons) != len(codes) {
			t.Fatalf("%d reasons, want %d", len(tce.CancellationReasons), len(codes))
		}
		list := ""
		for i, r := range tce.CancellationReasons {
			if aws.ToString(r.Code) != codes[i] {
				t.Errorf("reason %d: %q, want %q", i, aws.ToString(r.Code), codes[i])
			}
			if codes[i] == "None" && (r.Message != nil || r.Item != nil) {
				t.Errorf("reason %d (None) carries %q %v", i, aws.ToString(r.Message), r.Item)
			}
			if i > 0 {
				list += ", "
			}
			list += codes[i]
		}
		if want := "Transaction cancelled, please refer cancellation reasons for specific reasons [" + list + "]"; tce.ErrorMessage() != want {
			t.Errorf("message %q, want %q", tce.ErrorMessage(), want)
		}
		return tce
	}

	// The ConditionCheck fails: nothing happens, its reason carries the item.
	_, err := cl.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: dFourActions("v <> :three", true)})
	tce := cancelled(err, "None", "None", "None", "ConditionalCheckFailed", "None")
	r := tce.CancellationReasons[3]
	if aws.ToString(r.Message) != "The conditional request failed" {
		t.Errorf("failed reason message %q", aws.ToString(r.Message))
	}
	dSameItem(t, "ALL_OLD item on the reason", r.Item, dItem{"pk": dS("c"), "v": dNi(3), "tag": dSS("x")})
	// Without ALL_OLD, no item; two failures are both reported.
	items := dFourActions("v <> :three", false)
	items[0].Put.Item = dItem{"pk": dS("a")} // a exists: its attribute_not_exists fails too
	_, err = cl.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	tce = cancelled(err, "ConditionalCheckFailed", "None", "None", "ConditionalCheckFailed", "None")
	if tce.CancellationReasons[3].Item != nil || tce.CancellationReasons[0].Item != nil {
		t.Errorf("reasons carry items without ALL_OLD")
	}
	// A runtime update error is a ValidationError reason.
	items = dFourActions("v = :three", false)
	items[1].Update.UpdateExpression = aws.String("SET c = c + :one, s = pk + :one")
	items[1].Update.ExpressionAttributeValues = dItem{":one": dNi(1)}
	_, err = cl.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	tce = cancelled(err, "None", "ValidationError", "None", "None", "None")
	if m := aws.ToString(tce.CancellationReasons[1].Message); m != "An operand in the update expression has an incorrect data type" {
		t.Errorf("ValidationError message %q", m)
	}
	if after := before(); fmt.Sprint(after) != fmt.Sprint(snapshot) {
		t.Fatalf("a cancelled transaction changed items:\n%v\n%v", snapshot, after)
	}

	// Now everything holds: all of it commits.
	out, err := cl.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: dFourActions("v = :three", true), ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal})
	if err != nil {
		t.Fatal(err)
	}
	dSameItem(t, "put", dGet(t, cl, "tx1", dK("n")), dItem{"pk": dS("n"), "v": dNi(9)})
	dSameItem(t, "update", dGet(t, cl, "tx2", dK2("p", 1)), dItem{"pk": dS("p"), "sk": dNi(1), "c": dNi(6)})
	dSameItem(t, "delete", dGet(t, cl, "tx1", dK("b")), nil)
	dSameItem(t, "second put", dGet(t, cl, "tx2", dK2("q", 2)), dItem{"pk": dS("q"), "sk": dNi(2), "x": dS("y")})
	dSameItem(t, "checked item untouched", dGet(t, cl, "tx1", dK("c")), dItem{"pk": dS("c"), "v": dNi(3), "tag": dSS("x")})
	// Transactional writes cost double: tx1 put+delete+check, tx2 update+put.
	units := map[string]float64{}
	for _, c := range out.ConsumedCapacity {
		units[aws.ToString(c.TableName)] = dUnits(&c)
	}
	if units["tx1"] != 6 || units["tx2"] != 4 || len(units) != 2 {
		t.Errorf("ConsumedCapacity %v, want tx1 6 and tx2 4", units)
	}

	// The same item twice, even in two different actions, is rejected.
	_, err = cl.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String("tx1"), Item: dItem{"pk": dS("a"), "v": dNi(100)}}},
		{ConditionCheck: &types.ConditionCheck{TableName: aws.String("tx1"), Key: dK("a"), ConditionExpression: aws.String("attribute_exists(pk)")}},
	}})
	dWantValidation(t, err, "Transaction request cannot include multiple operations on one item")
	_, err = cl.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{TableName: aws.String("tx1"), Key: dK("a"), UpdateExpression: aws.String("SET pk = :v"), ExpressionAttributeValues: dItem{":v": dS("z")}}},
	}})
	dWantValidation(t, err, "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key")
	_, err = cl.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String("tx1"), Item: dItem{"pk": dS("a2")}}},
		{Put: &types.Put{TableName: aws.String("nosuchtable"), Item: dItem{"pk": dS("a")}}},
	}})
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Errorf("transaction on a missing table: %v", err)
	}
	dSameItem(t, "after rejected transactions", dGet(t, cl, "tx1", dK("a")), dItem{"pk": dS("a"), "v": dNi(1)})
	dSameItem(t, "after rejected transactions", dGet(t, cl, "tx1", dK("a2")), nil)
}

// TestTxnIdempotency: a retried transaction (same ClientRequestToken, same
// payload) succeeds without applying twice; the same token with another
// payload is IdempotentParameterMismatchException.
func TestTxnIdempotency(t *testing.T) {
	_, cl := dServer(t)
	ctx := dCtx(t)
	dTxnFixture(t, cl)
	in := func(by int, token string) *dynamodb.TransactWriteItemsInput {
		return &dynamodb.TransactWriteItemsInput{
			ClientRequestToken: aws.String(token),
			TransactItems: []types.TransactWriteItem{
				{Update: &types.Update{TableName: aws.String("tx2"), Key: dK2("p", 1), UpdateExpression: aws.String("ADD c :by"), ExpressionAttributeValues: dItem{":by": dNi(by)}}},
				{Update: &types.Update{TableName: aws.String("tx1"), Key: dK("a"), UpdateExpression: aws.String("ADD v :by"), ExpressionAttributeValues: dItem{":by": dNi(by)}}},
			},
		}
	}
	counters := func() string {
		return dCanon(dGet(t, cl, "tx2", dK2("p", 1))["c"]) + " " + dCanon(dGet(t, cl, "tx1", dK("a"))["v"])
	}
	for i := 0; i < 3; i++ {
		if _, err := cl.TransactWriteItems(ctx, in(10, "token-1")); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		if got := counters(); got != "N:15 N:11" {
			t.Fatalf("after attempt %d: %s, want N:15 N:11 (applied once)", i, got)
		}
	}
	_, err := cl.TransactWriteItems(ctx, in(11, "token-1"))
	var ipm *types.IdempotentParameterMismatchException
	if !errors.As(err, &ipm) {
		t.Fatalf("same token, other payload: %v", err)
	}
	if got := counters(); got != "N:15 N:11" {
		t.Errorf("mismatched retry applied: %s", got)
	}
	// A new token applies again.
	if _, err := cl.TransactWriteItems(ctx, in(10, "token-2")); err != nil {
		t.Fatal(err)
	}
	if got := counters(); got != "N:25 N:21" {
		t.Errorf("after a new token: %s", got)
	}
	// A token over 36 characters is rejected.
	_, err = cl.TransactWriteItems(ctx, in(1, "0123456789012345678901234567890123456"))
	if ae := dAPIError(t, err); ae.ErrorCode() != "ValidationException" {
		t.Errorf("37-character token: %v", err)
	}
}

// TestTxnGetNeverTorn runs transactions that move value between two items
// (in two tables) while TransactGetItems keeps checking that the sum of the
// two is unchanged: a reader never sees half a transaction.
func TestTxnGetNeverTorn(t *testing.T) {
	_, cl := dServer(t)
	ctx := dCtx(t)
	dTxnFixture(t, cl)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	const total = 1000
	dPut(t, cl, "tx1", dItem{"pk": dS("left"), "v": dNi(total)})
	dPut(t, cl, "tx2", dItem{"pk": dS("right"), "sk": dNi(0), "v": dNi(0)})
	get := &dynamodb.TransactGetItemsInput{TransactItems: []types.TransactGetItem{
		{Get: &types.Get{TableName: aws.String("tx1"), Key: dK("left")}},
		{Get: &types.Get{TableName: aws.String("tx2"), Key: dK2("right", 0), ProjectionExpression: aws.String("v")}},
	}}

	const moves = 150
	done := make(chan struct{})
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		rng := rand.New(rand.NewSource(seed))
		for i := 0; i < moves; i++ {
			x := dNi(rng.Intn(50) + 1)
			dir := rng.Intn(2) == 0
			from, to := types.Update{TableName: aws.String("tx1"), Key: dK("left")}, types.Update{TableName: aws.String("tx2"), Key: dK2("right", 0)}
			if dir {
				from, to = to, from
			}
			from.UpdateExpression, from.ConditionExpression = aws.String("SET v = v - :x"), aws.String("v >= :x")
			to.UpdateExpression = aws.String("SET v = v + :x")
			from.ExpressionAttributeValues, to.ExpressionAttributeValues = dItem{":x": x}, dItem{":x": x}
			_, err := cl.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{{Update: &from}, {Update: &to}}})
			var tce *types.TransactionCanceledException
			if err != nil && !errors.As(err, &tce) {
				errc <- fmt.Errorf("move %d: %w", i, err)
				return
			}
		}
	}()
	var mu sync.Mutex // guards reads and distinct
	reads, distinct := 0, map[string]bool{}
	for readers := 0; readers < 2; readers++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5000; i++ {
				select {
				case <-done:
					if i > 0 {
						return
					}
				default:
				}
				out, err := cl.TransactGetItems(ctx, get)
				if err != nil {
					errc <- fmt.Errorf("read: %w", err)
					return
				}
				if len(out.Responses) != 2 {
					errc <- fmt.Errorf("read: %d responses", len(out.Responses))
					return
				}
				l, _ := strconv.Atoi(out.Responses[0].Item["v"].(*types.AttributeValueMemberN).Value)
				r, _ := strconv.Atoi(out.Responses[1].Item["v"].(*types.AttributeValueMemberN).Value)
				if l+r != total || l < 0 || r < 0 {
					errc <- fmt.Errorf("torn read: left %d + right %d != %d", l, r, total)
					return
				}
				if len(out.Responses[1].Item) != 1 {
					errc <- fmt.Errorf("projection ignored: %s", dCanonItem(out.Responses[1].Item))
					return
				}
				mu.Lock()
				reads++
				distinct[fmt.Sprint(l)] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	t.Logf("%d consistent reads over %d distinct states (%v)", reads, len(distinct), time.Now().Format("15:04:05.000"))

	// Missing items come back as empty responses, in request order.
	out, err := cl.TransactGetItems(ctx, &dynamodb.TransactGetItemsInput{
		TransactItems: []types.TransactGetItem{
			{Get: &types.Get{TableName: aws.String("tx1"), Key: dK("nothing")}},
			{Get: &types.Get{TableName: aws.String("tx1"), Key: dK("c")}},
		},
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Responses) != 2 || out.Responses[0].Item != nil {
		t.Fatalf("responses: %+v", out.Responses)
	}
	dSameItem(t, "second response", out.Responses[1].Item, dItem{"pk": dS("c"), "v": dNi(3), "tag": dSS("x")})
	if len(out.ConsumedCapacity) != 1 || dUnits(&out.ConsumedCapacity[0]) != 4 {
		t.Errorf("TransactGetItems capacity: %+v (want 2 × 2 RCU)", out.ConsumedCapacity)
	}
	_, err = cl.TransactGetItems(ctx, &dynamodb.TransactGetItemsInput{TransactItems: []types.TransactGetItem{
		{Get: &types.Get{TableName: aws.String("tx1"), Key: dK("c")}},
		{Get: &types.Get{TableName: aws.String("tx1"), Key: dK("c")}},
	}})
	dWantValidation(t, err, "Transaction request cannot include multiple operations on one item")
}
