package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/godwit-db/godwit/engine/attr"
	"github.com/godwit-db/godwit/engine/expr"
)

// gateFS is a filesystem whose WAL syncs a test can hold.
type gateFS struct {
	vfs.FS
	mu      sync.Mutex
	gate    chan struct{} // non-nil: WAL syncs wait until it is closed
	waiting atomic.Int32  // WAL syncs waiting at the gate
}

func (fs *gateFS) hold() {
	fs.mu.Lock()
	fs.gate = make(chan struct{})
	fs.mu.Unlock()
}

// release opens the gate; a no-op when it is open.
func (fs *gateFS) release() {
	fs.mu.Lock()
	if fs.gate != nil {
		close(fs.gate)
		fs.gate = nil
	}
	fs.mu.Unlock()
}

func (fs *gateFS) pass() {
	fs.mu.Lock()
	g := fs.gate
	fs.mu.Unlock()
	if g != nil {
		fs.waiting.Add(1)
		<-g
		fs.waiting.Add(-1)
	}
}

func (fs *gateFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return &gateFile{File: f, fs: fs}, nil
}

func (fs *gateFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	return fs.wrap(name, f, err)
}

func (fs *gateFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, c)
	return fs.wrap(newname, f, err)
}

type gateFile struct {
	vfs.File
	fs *gateFS
}

func (f *gateFile) Sync() error     { f.fs.pass(); return f.File.Sync() }
func (f *gateFile) SyncData() error { f.fs.pass(); return f.File.SyncData() }
func (f *gateFile) SyncTo(length int64) (bool, error) {
	f.fs.pass()
	return f.File.SyncTo(length)
}

// condProbe is a condition that reports when the partition evaluated it.
type condProbe struct {
	expr.Cond
	evaluated chan struct{}
}

func (c condProbe) Eval(it attr.Item) bool {
	defer close(c.evaluated)
	return c.Cond.Eval(it)
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPipelinedCommitAnswersAfterSync: a partition applies its next group
// while the previous one's WAL sync is in flight, so the next group sees
// writes that are not durable yet. No answer may rest on them before they
// are: not the write's own, and not that of a later request that wrote
// nothing (here a condition that failed because of the pending write).
func TestPipelinedCommitAnswersAfterSync(t *testing.T) {
	fs := &gateFS{FS: vfs.NewMem()}
	db, err := Open(Config{Dir: "db", FS: fs, TTLSweepInterval: -1}) // fsync on
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	defer fs.release() // before Close, which waits for held syncs
	var create CreateTableInput
	rtDecode(t, `{"TableName":"Tbl","AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST","StreamSpecification":{"StreamEnabled":true,"StreamViewType":"NEW_IMAGE"}}`, &create)
	catCreate(t, db, &create)
	tb, m, err := db.activeTable("Tbl")
	if err != nil {
		t.Fatal(err)
	}
	key, err := m.keyFromKey(attr.Item{"pk": rtS("k")})
	if err != nil {
		t.Fatal(err)
	}
	item := attr.Item{"pk": rtS("k"), "v": rtN(t, "1")}

	fs.hold()
	put := make(chan error, 1)
	go func() {
		put <- db.write(tb, &itemWrite{key: key, compute: func(attr.Item) (attr.Item, error) { return item, nil }})
	}()
	eventually(t, "the put's WAL sync to reach the gate", func() bool { return fs.waiting.Load() > 0 })
	part := key.part
	// The publisher reads the outbox up to OutboxHead: a record must not
	// be offered before its write is durable.
	if head, _ := db.OutboxHead("Tbl", part); head != 0 {
		t.Fatalf("OutboxHead %d while the record's WAL sync is held, want 0", head)
	}

	// The put is visible (applied) but not durable. A conditional put that
	// requires the item to be absent sees it and fails, writing nothing.
	notExists, err := expr.ParseCondition("ConditionExpression", "attribute_not_exists(pk)", nil)
	if err != nil {
		t.Fatal(err)
	}
	probe := condProbe{Cond: notExists, evaluated: make(chan struct{})}
	cond := make(chan error, 1)
	go func() {
		cond <- db.write(tb, &itemWrite{key: key, cond: probe, compute: func(attr.Item) (attr.Item, error) { return item, nil }})
	}()
	select {
	case <-probe.evaluated:
	case <-time.After(10 * time.Second):
		t.Fatal("the partition did not apply its next group while a WAL sync was in flight")
	}

	select {
	case err := <-put:
		t.Fatalf("the put was answered (%v) while its WAL sync was held", err)
	case err := <-cond:
		t.Fatalf("the conditional put was answered (%v) before the write it saw was durable", err)
	case <-time.After(200 * time.Millisecond):
	}
	fs.release()
	if err := <-put; err != nil {
		t.Fatalf("put: %v", err)
	}
	if head, _ := db.OutboxHead("Tbl", part); head != 1 {
		t.Fatalf("OutboxHead %d after the put, want 1", head)
	}
	if err := <-cond; !errors.Is(err, errConditionFailed) {
		t.Fatalf("conditional put: got %v, want the condition to fail", err)
	}
}

// TestPipelinedCommitsKeepReadModifyWrite: concurrent increments, puts and
// transactions on a few keys with fsync on. Each group reads what the
// groups before it wrote, durable or not yet, so no increment is lost and
// the table's item count stays exact.
func TestPipelinedCommitsKeepReadModifyWrite(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	db, err := Open(Config{Dir: t.TempDir(), TTLSweepInterval: -1}) // fsync on
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rtTable(t, db, "Tbl", "pk", attr.S, "", 0, 2)
	const writers, perWriter, keys = 8, 60, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(w)))
			for range perWriter {
				k := fmt.Sprintf("k%d", rng.IntN(keys))
				var err error
				if rng.IntN(4) == 0 {
					var in TransactWriteItemsInput
					rtDecode(t, fmt.Sprintf(`{"TransactItems":[{"Update":{"TableName":"Tbl","Key":{"pk":{"S":%q}},"UpdateExpression":"ADD n :one","ExpressionAttributeValues":{":one":{"N":"1"}}}}]}`, k), &in)
					_, err = db.TransactWriteItems(t.Context(), &in)
				} else {
					var in UpdateItemInput
					rtDecode(t, fmt.Sprintf(`{"TableName":"Tbl","Key":{"pk":{"S":%q}},"UpdateExpression":"ADD n :one","ExpressionAttributeValues":{":one":{"N":"1"}}}`, k), &in)
					_, err = db.UpdateItem(t.Context(), &in)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := 0
	for i := range keys {
		it := rtGet(t, db, "Tbl", attr.Item{"pk": rtS(fmt.Sprintf("k%d", i))})
		if it == nil {
			continue
		}
		var n int
		if _, err := fmt.Sscan(it["n"].S, &n); err != nil {
			t.Fatalf("k%d: n = %+v: %v", i, it["n"], err)
		}
		total += n
	}
	if total != writers*perWriter {
		t.Fatalf("increments: got %d, want %d", total, writers*perWriter)
	}
	if got := catDescribe(t, db, "Tbl").ItemCount; got > keys || got < 1 {
		t.Fatalf("ItemCount %d, want 1..%d", got, keys)
	}
}
