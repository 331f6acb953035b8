package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/godwit-db/godwit/test/harness"
)

// modelItem is the map model's view of an item: v is a number attribute
// that conditions look at, c a counter, tag a string.
type modelItem struct {
	v   int
	c   int
	tag string
}

type modelKey struct {
	pk string
	sk int
}

// model is the reference: a plain map, applied with the same semantics.
type model map[modelKey]modelItem

// TestRandomizedModel drives random sequences of conditional puts,
// updates, deletes and transactions against a real server through
// aws-sdk-go-v2, applies the same operations to a map, and checks that
// every answer (success or ConditionalCheckFailed / TransactionCanceled)
// and the final contents agree — also after a restart.
func TestRandomizedModel(t *testing.T) {
	seeds := []int64{time.Now().UnixNano(), 1, 2}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Logf("seed %d", seed)
			srv := harness.Start(t)
			cl := srv.Client()
			ctx := context.Background()
			createModelTable(t, cl, "model")
			rng := rand.New(rand.NewSource(seed))
			// Four workers on disjoint partition keys run concurrently so
			// group commit and partition sequencing are exercised; each
			// worker's keys see a deterministic sequence.
			var wg sync.WaitGroup
			models := make([]model, 4)
			seedsPer := make([]int64, 4)
			for w := range models {
				models[w] = model{}
				seedsPer[w] = rng.Int63()
			}
			errs := make(chan error, 4)
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					r := rand.New(rand.NewSource(seedsPer[w]))
					for i := 0; i < 150; i++ {
						if err := randomOp(ctx, cl, r, models[w], fmt.Sprintf("w%d-", w)); err != nil {
							errs <- fmt.Errorf("worker %d op %d: %w", w, i, err)
							return
						}
					}
				}(w)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			all := model{}
			for _, m := range models {
				for k, v := range m {
					all[k] = v
				}
			}
			checkScan(t, cl, all)
			srv.Restart(t)
			checkScan(t, srv.Client(), all)
		})
	}
}

func createModelTable(t *testing.T, cl *dynamodb.Client, name string) {
	t.Helper()
	_, err := cl.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("create table: %v", err)
	}
}

func keyAV(k modelKey) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: k.pk},
		"sk": &types.AttributeValueMemberN{Value: strconv.Itoa(k.sk)},
	}
}

func num(i int) types.AttributeValue { return &types.AttributeValueMemberN{Value: strconv.Itoa(i)} }

// randomOp performs one random operation on the server and the model and
// reports any disagreement.
func randomOp(ctx context.Context, cl *dynamodb.Client, r *rand.Rand, m model, prefix string) error {
	key := func() modelKey { return modelKey{pk: prefix + strconv.Itoa(r.Intn(3)), sk: r.Intn(4) - 1} }
	k := key()
	cur, exists := m[k]
	switch op := r.Intn(6); op {
	case 0: // put, maybe only if absent
		item := keyAV(k)
		nv := modelItem{v: r.Intn(5), tag: strconv.Itoa(r.Intn(3))}
		item["v"], item["c"], item["tag"] = num(nv.v), num(0), &types.AttributeValueMemberS{Value: nv.tag}
		in := &dynamodb.PutItemInput{TableName: aws.String("model"), Item: item}
		ifAbsent := r.Intn(2) == 0
		if ifAbsent {
			in.ConditionExpression = aws.String("attribute_not_exists(pk)")
		}
		_, err := cl.PutItem(ctx, in)
		want := !ifAbsent || !exists
		if err := expectCond(err, want); err != nil {
			return fmt.Errorf("put %v: %w", k, err)
		}
		if want {
			m[k] = nv
		}
	case 1: // update with a condition on v, returning ALL_NEW
		x := r.Intn(5)
		out, err := cl.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String("model"),
			Key:                       keyAV(k),
			UpdateExpression:          aws.String("SET v = :nv ADD c :one"),
			ConditionExpression:       aws.String("attribute_not_exists(v) OR v <> :x"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":nv": num(x + 1), ":one": num(1), ":x": num(x)},
			ReturnValues:              types.ReturnValueAllNew,
		})
		want := !exists || cur.v != x
		if err := expectCond(err, want); err != nil {
			return fmt.Errorf("update %v: %w", k, err)
		}
		if want {
			nv := modelItem{v: x + 1, c: cur.c + 1, tag: cur.tag}
			m[k] = nv
			if got := out.Attributes["c"].(*types.AttributeValueMemberN).Value; got != strconv.Itoa(nv.c) {
				return fmt.Errorf("update %v: ALL_NEW c=%s, model %d", k, got, nv.c)
			}
		}
	case 2: // delete, maybe conditional, returning ALL_OLD
		in := &dynamodb.DeleteItemInput{TableName: aws.String("model"), Key: keyAV(k), ReturnValues: types.ReturnValueAllOld}
		x := r.Intn(5)
		cond := r.Intn(2) == 0
		if cond {
			in.ConditionExpression = aws.String("v = :x")
			in.ExpressionAttributeValues = map[string]types.AttributeValue{":x": num(x)}
		}
		out, err := cl.DeleteItem(ctx, in)
		want := !cond || (exists && cur.v == x)
		if err := expectCond(err, want); err != nil {
			return fmt.Errorf("delete %v: %w", k, err)
		}
		if want {
			if exists != (len(out.Attributes) > 0) {
				return fmt.Errorf("delete %v: ALL_OLD %v, model exists=%v", k, out.Attributes, exists)
			}
			delete(m, k)
		}
	case 3: // transaction over up to three distinct keys
		keys := map[modelKey]bool{k: true}
		for len(keys) < 1+r.Intn(3) {
			keys[key()] = true
		}
		var items []types.TransactWriteItem
		ok := true
		next := map[modelKey]*modelItem{}
		for tk := range keys {
			c, ex := m[tk]
			switch r.Intn(3) {
			case 0:
				items = append(items, types.TransactWriteItem{Put: &types.Put{
					TableName: aws.String("model"),
					Item:      map[string]types.AttributeValue{"pk": keyAV(tk)["pk"], "sk": keyAV(tk)["sk"], "v": num(4), "c": num(0), "tag": &types.AttributeValueMemberS{Value: "t"}},
				}})
				next[tk] = &modelItem{v: 4, tag: "t"}
			case 1:
				items = append(items, types.TransactWriteItem{Update: &types.Update{
					TableName:                 aws.String("model"),
					Key:                       keyAV(tk),
					UpdateExpression:          aws.String("ADD c :one"),
					ConditionExpression:       aws.String("attribute_exists(pk)"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1)},
				}})
				if !ex {
					ok = false
				}
				n := c
				n.c++
				next[tk] = &n
			default:
				items = append(items, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
					TableName:           aws.String("model"),
					Key:                 keyAV(tk),
					ConditionExpression: aws.String("attribute_not_exists(pk)"),
				}})
				if ex {
					ok = false
				}
			}
		}
		_, err := cl.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		var tce *types.TransactionCanceledException
		switch {
		case ok && err != nil:
			return fmt.Errorf("transaction should commit: %v", err)
		case !ok && !errors.As(err, &tce):
			return fmt.Errorf("transaction should be cancelled, got %v", err)
		case !ok && len(tce.CancellationReasons) != len(items):
			return fmt.Errorf("want %d cancellation reasons, got %d", len(items), len(tce.CancellationReasons))
		}
		if ok {
			for tk, n := range next {
				m[tk] = *n
			}
		}
	case 4: // get
		out, err := cl.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("model"), Key: keyAV(k), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return err
		}
		if exists != (out.Item != nil) {
			return fmt.Errorf("get %v: item %v, model exists=%v", k, out.Item, exists)
		}
		if exists {
			if got := decodeModel(out.Item); got != cur {
				return fmt.Errorf("get %v: %+v, model %+v", k, got, cur)
			}
		}
	case 5: // query one partition key, both directions
		fwd := r.Intn(2) == 0
		out, err := cl.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String("model"),
			KeyConditionExpression:    aws.String("pk = :p"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: k.pk}},
			ScanIndexForward:          aws.Bool(fwd),
		})
		if err != nil {
			return err
		}
		var want []int
		for mk := range m {
			if mk.pk == k.pk {
				want = append(want, mk.sk)
			}
		}
		sort.Ints(want)
		if !fwd {
			sort.Sort(sort.Reverse(sort.IntSlice(want)))
		}
		var got []int
		for _, it := range out.Items {
			sk, _ := strconv.Atoi(it["sk"].(*types.AttributeValueMemberN).Value)
			got = append(got, sk)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("query %s fwd=%v: %v, model %v", k.pk, fwd, got, want)
		}
	}
	return nil
}

func expectCond(err error, wantOK bool) error {
	var ccf *types.ConditionalCheckFailedException
	switch {
	case wantOK && err != nil:
		return fmt.Errorf("want success, got %v", err)
	case !wantOK && !errors.As(err, &ccf):
		return fmt.Errorf("want ConditionalCheckFailed, got %v", err)
	}
	return nil
}

func decodeModel(it map[string]types.AttributeValue) modelItem {
	var m modelItem
	if v, ok := it["v"].(*types.AttributeValueMemberN); ok {
		m.v, _ = strconv.Atoi(v.Value)
	}
	if v, ok := it["c"].(*types.AttributeValueMemberN); ok {
		m.c, _ = strconv.Atoi(v.Value)
	}
	if v, ok := it["tag"].(*types.AttributeValueMemberS); ok {
		m.tag = v.Value
	}
	return m
}

// checkScan pages through a full Scan and compares it with the model.
func checkScan(t *testing.T, cl *dynamodb.Client, m model) {
	t.Helper()
	got := model{}
	p := dynamodb.NewScanPaginator(cl, &dynamodb.ScanInput{TableName: aws.String("model"), Limit: aws.Int32(7)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("scan: %v", err)
		}
		for _, it := range page.Items {
			sk, _ := strconv.Atoi(it["sk"].(*types.AttributeValueMemberN).Value)
			k := modelKey{pk: it["pk"].(*types.AttributeValueMemberS).Value, sk: sk}
			if _, dup := got[k]; dup {
				t.Fatalf("scan returned %v twice", k)
			}
			got[k] = decodeModel(it)
		}
	}
	if len(got) != len(m) {
		t.Fatalf("scan has %d items, model %d", len(got), len(m))
	}
	for k, v := range m {
		if got[k] != v {
			t.Fatalf("item %v: scan %+v, model %+v", k, got[k], v)
		}
	}
}
