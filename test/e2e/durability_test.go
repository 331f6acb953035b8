package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/godwit-db/godwit/test/harness"
)

// TestKill9KeepsAcknowledgedWrites runs godwit as a real process, writes
// to it from concurrent clients, SIGKILLs it at a random moment, restarts
// it on the same data directory and checks that every write the clients saw
// acknowledged is there, and that a write in flight at the kill is either
// wholly there or wholly absent.
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	for i, seed := range []int64{time.Now().UnixNano(), 42} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewSource(seed))
			dir := t.TempDir()
			p := harness.StartProcess(t, dir)
			cl := harness.NewClient(p.URL)
			createModelTable(t, cl, "model")

			const writers = 8
			type outcome struct {
				acked    map[int]int // key -> last acknowledged counter value
				inflight map[int]int // key -> counter value of the write in flight at the kill
			}
			outcomes := make([]outcome, writers)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for w := 0; w < writers; w++ {
				outcomes[w] = outcome{acked: map[int]int{}, inflight: map[int]int{}}
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					o := outcomes[w]
					for n := 1; ; n++ {
						k := w*1000 + n%50 // each writer owns 50 keys and overwrites them
						_, err := cl.PutItem(ctx, &dynamodb.PutItemInput{
							TableName: aws.String("model"),
							Item: map[string]types.AttributeValue{
								"pk": &types.AttributeValueMemberS{Value: "k" + strconv.Itoa(k)},
								"sk": num(0), "v": num(n),
								"pad": &types.AttributeValueMemberS{Value: fmt.Sprintf("%0200d", n)},
							},
						})
						if err != nil {
							o.inflight[k] = n // fate unknown: the kill or a cancelled context
							return
						}
						o.acked[k] = n
						delete(o.inflight, k)
					}
				}(w)
			}
			// Readers remember the newest value they were shown per key: a
			// read must never show a write that the crash then takes back.
			var seenMu sync.Mutex
			seen := map[int]int{}
			for r := 0; r < 2; r++ {
				wg.Add(1)
				go func(r int) {
					defer wg.Done()
					rr := rand.New(rand.NewSource(seed + int64(r)))
					for ctx.Err() == nil {
						k := rr.Intn(writers)*1000 + rr.Intn(50)
						out, err := cl.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("model"),
							Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "k" + strconv.Itoa(k)}, "sk": num(0)}})
						if err != nil || out.Item == nil {
							continue
						}
						v, _ := strconv.Atoi(out.Item["v"].(*types.AttributeValueMemberN).Value)
						seenMu.Lock()
						seen[k] = max(seen[k], v)
						seenMu.Unlock()
					}
				}(r)
			}
			// Let the writers run for a random while, then kill -9.
			deadline := time.Now().Add(time.Duration(300+rng.Intn(1200)) * time.Millisecond)
			for time.Now().Before(deadline) {
				runtime.Gosched()
			}
			p.Kill()
			cancel()
			wg.Wait()

			p2 := harness.StartProcess(t, dir)
			cl2 := harness.NewClient(p2.URL)
			total := 0
			for w, o := range outcomes {
				for k, n := range o.acked {
					total++
					got := getV(t, cl2, k)
					if inflight, ok := o.inflight[k]; ok {
						if got != n && got != inflight {
							t.Fatalf("writer %d key %d: value %d, want acknowledged %d or in-flight %d", w, k, got, n, inflight)
						}
					} else if got != n {
						t.Fatalf("writer %d key %d: value %d after kill -9, acknowledged %d", w, k, got, n)
					}
				}
			}
			for k, v := range seen {
				if got := getV(t, cl2, k); got < v {
					t.Fatalf("key %d: a reader was shown %d before the kill, %d after it", k, v, got)
				}
			}
			if total == 0 && i == 0 {
				t.Fatalf("no write was acknowledged before the kill")
			}
			t.Logf("checked %d acknowledged keys", total)
			p2.Kill()
		})
	}
}

func getV(t *testing.T, cl *dynamodb.Client, k int) int {
	t.Helper()
	out, err := cl.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String("model"),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "k" + strconv.Itoa(k)}, "sk": num(0),
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("get %d: %v", k, err)
	}
	if out.Item == nil {
		return 0
	}
	n, _ := strconv.Atoi(out.Item["v"].(*types.AttributeValueMemberN).Value)
	return n
}

// TestCleanShutdownOnSIGTERM checks that SIGTERM exits 0 and keeps data.
func TestCleanShutdownOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	p := harness.StartProcess(t, dir)
	cl := harness.NewClient(p.URL)
	createModelTable(t, cl, "model")
	for i := 1; i <= 20; i++ {
		if _, err := cl.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String("model"),
			Item: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "k" + strconv.Itoa(i)}, "sk": num(0), "v": num(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, p.Logs())
	}
	p2 := harness.StartProcess(t, dir)
	cl2 := harness.NewClient(p2.URL)
	for i := 1; i <= 20; i++ {
		if got := getV(t, cl2, i); got != i {
			t.Fatalf("key %d: %d after restart", i, got)
		}
	}
	_, err := cl2.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String("model")})
	var rnf *types.ResourceNotFoundException
	if errors.As(err, &rnf) || err != nil {
		t.Fatalf("table lost after restart: %v", err)
	}
}
