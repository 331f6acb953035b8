package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/globaltables"
	"github.com/godwit-db/godwit/region"
	"github.com/godwit-db/godwit/streams"
	"github.com/godwit-db/godwit/streams/streamstest"
	"github.com/godwit-db/godwit/test/harness"
	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The global-tables acceptance test of issue 4: three regions in one test,
// two in-process with clocks skewed by -5 s and +5 s and one a real
// `godwit serve` subprocess, each with its own embedded NATS, peered by
// URL through cuttable proxies (a partition is a cut link, not a stopped
// process). One seeded run goes through every phase; after each, every
// region must hold the same items, and those items must be exactly what
// last-writer-wins over every acknowledged write makes of them:
//
//   - a replica created from a table of 10,000 items (backfill);
//   - writes in all three regions at once on 200 shared keys: puts,
//     updates and deletes racing each other;
//   - one region cut off from both others while all keep writing, then healed;
//   - the subprocess region killed with SIGKILL mid-load and restarted.
//
// The expected state is computed from the regions' streams: every local
// change (origin = the stream's region) carries its version, so the winner
// of each key is the local change with the greatest version, and the item
// must be its new image (absent when it is a REMOVE: no resurrection, no
// lost winner). Each stream must show each change at most once, and no
// more changes than were made in all regions (no replication loop).

const gtChaosTable = "chaos"

type gtChaos struct {
	t       *testing.T
	rng     *rand.Rand
	names   []string // A, B (in-process), C (subprocess)
	nats    map[string]string
	proxies map[[2]string]*harness.Proxy // (from, to) → proxy to to's NATS
	inproc  map[string]*region.Region
	proc    *harness.Process
	procDir string
	clients map[string]*dynamodb.Client
	mu      sync.Mutex // guards clients (C's changes on restart)
}

// skewedClock is the system clock moved by a fixed offset.
type skewedClock struct{ d time.Duration }

func (c skewedClock) Now() time.Time { return time.Now().Add(c.d) }

func TestGlobalTablesChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("three regions and a subprocess: skipped with -short")
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("GODWIT_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (GODWIT_SEED=%d to replay the same operation choices)", seed, seed)
	g := &gtChaos{
		t: t, rng: rand.New(rand.NewSource(seed)),
		names:   []string{"us-east-1", "us-west-2", "eu-west-1"},
		nats:    map[string]string{},
		proxies: map[[2]string]*harness.Proxy{},
		inproc:  map[string]*region.Region{},
		clients: map[string]*dynamodb.Client{},
	}
	for _, n := range g.names {
		g.nats[n] = harness.FreeAddr(t)
	}
	for _, from := range g.names {
		for _, to := range g.names {
			if from != to {
				g.proxies[[2]string{from, to}] = harness.StartProxy(t, g.nats[to])
			}
		}
	}
	a, b, c := g.names[0], g.names[1], g.names[2]
	g.startInProcess(a, -5*time.Second)
	g.startInProcess(b, 5*time.Second)
	g.procDir = t.TempDir()
	g.startProcess()

	// A replica created from a table of 10,000 items made before any
	// stream existed: only a backfill can bring them over.
	const initial = 10000
	g.createTable()
	g.load(initial)
	g.addReplica(b)
	g.waitActive(a, b)
	g.addReplica(c)
	g.waitActive(a, b, c)
	g.checkConverged("replica creation", initial)

	t.Run("concurrent writes with conflicts", func(t *testing.T) {
		g.workload(map[string]int{a: 400, b: 400, c: 400}, nil)
		g.checkConverged("concurrent writes", initial)
	})

	t.Run("partition and heal", func(t *testing.T) {
		g.cut(b, true)
		g.workload(map[string]int{a: 250, b: 250, c: 250}, nil)
		start := time.Now()
		g.cut(b, false)
		g.checkConverged("partition", initial)
		t.Logf("converged %s after the partition healed", time.Since(start).Round(time.Millisecond))
	})

	t.Run("SIGKILL mid-load and restart", func(t *testing.T) {
		killed := make(chan struct{})
		g.workload(map[string]int{a: 300, b: 300, c: 300}, func(region string, i int) {
			if region == c && i == 100 {
				g.proc.Kill()
				close(killed)
			}
		})
		<-killed
		g.startProcess()
		g.workload(map[string]int{c: 100}, nil)
		g.checkConverged("SIGKILL", initial)
	})
}

// peerURLs are region from's peers, each through its (from, to) proxy.
func (g *gtChaos) peerURLs(from string) map[string]string {
	out := map[string]string{}
	for _, to := range g.names {
		if to != from {
			out[to] = "nats://" + g.proxies[[2]string{from, to}].Addr()
		}
	}
	return out
}

func (g *gtChaos) startInProcess(name string, skew time.Duration) {
	t := g.t
	peers := map[string]region.Peer{}
	for to, u := range g.peerURLs(name) {
		peers[to] = region.Peer{URL: u}
	}
	level := hclog.Off
	if os.Getenv("GODWIT_TEST_LOG") != "" {
		level = hclog.Debug
	}
	r, err := region.Start(context.Background(), region.Config{
		Listen: "127.0.0.1:0", DataDir: t.TempDir(), Region: name, Partitions: 4,
		NATSListen: g.nats[name], NATSMaxStore: 1 << 30, StreamMaxBytes: 256 << 20,
		PublisherPollInterval: 20 * time.Millisecond,
		Peers:                 peers, Timing: globaltables.TestTiming(),
		Clock: skewedClock{skew}, MaxClockOffset: time.Second,
		Logger: hclog.New(&hclog.LoggerOptions{Name: name, Level: level, Output: os.Stderr}),
	})
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() { _ = r.Close() })
	g.inproc[name] = r
	g.setClient(name, harness.NewClient(r.URL()))
}

// startProcess (re)starts the subprocess region on its data directory and
// NATS port.
func (g *gtChaos) startProcess() {
	name := g.names[2]
	args := []string{"--region", name, "--partitions", "4", "--nats-listen", g.nats[name]}
	for to, u := range g.peerURLs(name) {
		args = append(args, "--peer", to+"="+u)
	}
	g.proc = harness.StartProcess(g.t, g.procDir, args...)
	g.setClient(name, harness.NewClient(g.proc.URL))
}

func (g *gtChaos) setClient(name string, c *dynamodb.Client) {
	g.mu.Lock()
	g.clients[name] = c
	g.mu.Unlock()
}

func (g *gtChaos) client(name string) *dynamodb.Client {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.clients[name]
}

// cut partitions region name from the others (both directions), or heals it.
func (g *gtChaos) cut(name string, cut bool) {
	for k, p := range g.proxies {
		if k[0] == name || k[1] == name {
			if cut {
				p.Cut()
			} else {
				p.Heal()
			}
		}
	}
}

func (g *gtChaos) createTable() {
	_, err := g.client(g.names[0]).CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:            aws.String(gtChaosTable),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		g.t.Fatal(err)
	}
}

// load writes n items init-00000.. in region A with 8 writers.
func (g *gtChaos) load(n int) {
	c := g.client(g.names[0])
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for lo := w * 25; lo < n; lo += 8 * 25 {
				var reqs []types.WriteRequest
				for i := lo; i < min(lo+25, n); i++ {
					reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
						"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("init-%05d", i)},
						"v":  &types.AttributeValueMemberS{Value: "initial"},
						"n":  &types.AttributeValueMemberN{Value: strconv.Itoa(i)},
					}}})
				}
				in := &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{gtChaosTable: reqs}}
				for len(in.RequestItems[gtChaosTable]) > 0 {
					out, err := c.BatchWriteItem(context.Background(), in)
					if err != nil {
						errc <- err
						return
					}
					in.RequestItems = out.UnprocessedItems
				}
			}
		}(w)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		g.t.Fatal(err)
	}
}

func (g *gtChaos) addReplica(name string) {
	_, err := g.client(g.names[0]).UpdateTable(context.Background(), &dynamodb.UpdateTableInput{
		TableName: aws.String(gtChaosTable),
		ReplicaUpdates: []types.ReplicationGroupUpdate{{Create: &types.CreateReplicationGroupMemberAction{
			RegionName: aws.String(name)}}},
	})
	if err != nil {
		g.t.Fatalf("add replica %s: %v", name, err)
	}
}

// waitActive waits until DescribeTable in each of regions lists exactly
// regions, all ACTIVE.
func (g *gtChaos) waitActive(regions ...string) {
	g.eventually(2*time.Minute, "replicas ACTIVE", func() string {
		for _, r := range regions {
			var want []string // NB: each region lists the others
			for _, o := range regions {
				if o != r {
					want = append(want, o+":ACTIVE")
				}
			}
			sort.Strings(want)
			out, err := g.client(r).DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(gtChaosTable)})
			if err != nil {
				return fmt.Sprintf("%s: %v", r, err)
			}
			var got []string
			for _, rd := range out.Table.Replicas {
				got = append(got, aws.ToString(rd.RegionName)+":"+string(rd.ReplicaStatus))
			}
			sort.Strings(got)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				return fmt.Sprintf("%s shows %v", r, got)
			}
			if aws.ToString(out.Table.GlobalTableVersion) != "2019.11.21" {
				return fmt.Sprintf("%s: GlobalTableVersion %q", r, aws.ToString(out.Table.GlobalTableVersion))
			}
		}
		return ""
	})
}

// workload runs ops[region] random writes on the 200 shared keys in each
// region at once. after, when set, runs after each operation of a region;
// a region's writer stops at its first error once that region has been
// killed (then its writes are not acknowledged, which is fine).
func (g *gtChaos) workload(ops map[string]int, after func(region string, i int)) {
	type plan struct {
		region string
		seed   int64
	}
	var plans []plan
	for _, r := range g.names {
		if ops[r] > 0 {
			plans = append(plans, plan{r, g.rng.Int63()})
		}
	}
	var wg sync.WaitGroup
	for _, p := range plans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(p.seed))
			killed := false
			for i := 0; i < ops[p.region]; i++ {
				if !killed {
					if err := g.randomWrite(rng, p.region, i); err != nil {
						if p.region != g.names[2] {
							g.t.Errorf("%s write %d: %v", p.region, i, err)
							return
						}
						killed = true // the subprocess is down: stop writing there
					}
				}
				if after != nil {
					after(p.region, i)
				}
				if killed {
					return
				}
			}
		}()
	}
	wg.Wait()
}

func (g *gtChaos) randomWrite(rng *rand.Rand, region string, i int) error {
	ctx := context.Background()
	c := g.client(region)
	key := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("k%03d", rng.Intn(200))}}
	val := &types.AttributeValueMemberS{Value: fmt.Sprintf("%s-%d", region, i)}
	var err error
	switch x := rng.Intn(4); {
	case x < 2:
		_, err = c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(gtChaosTable), Item: map[string]types.AttributeValue{
			"pk": key["pk"], "v": val, "n": &types.AttributeValueMemberN{Value: "1"}, "region": &types.AttributeValueMemberS{Value: region},
		}})
	case x == 2:
		_, err = c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(gtChaosTable), Key: key,
			UpdateExpression:         aws.String("SET v = :v, #r = :r ADD n :one"),
			ExpressionAttributeNames: map[string]string{"#r": "region"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":v": val, ":r": &types.AttributeValueMemberS{Value: region}, ":one": &types.AttributeValueMemberN{Value: "1"},
			}})
	default:
		_, err = c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(gtChaosTable), Key: key})
	}
	return err
}

// checkConverged waits until every region holds the same items and those
// are last-writer-wins over all changes, then checks the streams.
func (g *gtChaos) checkConverged(phase string, initial int) {
	g.t.Helper()
	var lastDumps map[string]map[string]string
	g.eventually(2*time.Minute, phase+": replicas identical and as LWW says", func() string {
		dumps := map[string]map[string]string{}
		for _, r := range g.names {
			d, err := g.dump(r)
			if err != nil {
				return fmt.Sprintf("scan %s: %v", r, err)
			}
			dumps[r] = d
		}
		lastDumps = dumps
		ref := dumps[g.names[0]]
		for _, r := range g.names[1:] {
			if diff := diffDumps(ref, dumps[r]); diff != "" {
				return fmt.Sprintf("%s vs %s: %s", g.names[0], r, diff)
			}
		}
		recs, err := g.readStreams()
		if err != nil {
			return err.Error()
		}
		want := map[string]string{}
		for i := 0; i < initial; i++ {
			want[fmt.Sprintf("init-%05d", i)] = fmt.Sprintf("n=N:%d v=S:initial", i)
		}
		for k, v := range lwwWinners(recs) {
			if v != "" {
				want[k] = v
			}
		}
		if diff := diffDumps(want, ref); diff != "" {
			return "items differ from last-writer-wins over the streams: " + diff
		}
		if msg := checkStreams(recs); msg != "" {
			g.t.Fatalf("%s: %s", phase, msg) // duplicates or loops never heal
		}
		return ""
	})
	n := len(lastDumps[g.names[0]])
	g.t.Logf("%s: %d items identical in %d regions", phase, n, len(g.names))
}

func diffDumps(want, got map[string]string) string {
	var diffs []string
	for k, v := range want {
		if got[k] != v {
			diffs = append(diffs, fmt.Sprintf("%s: want %q got %q", k, v, got[k]))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: unexpected %q", k, v))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 5 {
		diffs = append(diffs[:5], fmt.Sprintf("... %d differences", len(diffs)))
	}
	return strings.Join(diffs, "; ")
}

// dump scans region's table: key → canonical item ("attr=T:value" sorted).
func (g *gtChaos) dump(region string) (map[string]string, error) {
	out := map[string]string{}
	p := dynamodb.NewScanPaginator(g.client(region), &dynamodb.ScanInput{TableName: aws.String(gtChaosTable), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			flat := map[string]string{}
			for k, v := range it {
				switch v := v.(type) {
				case *types.AttributeValueMemberS:
					flat[k] = "S:" + v.Value
				case *types.AttributeValueMemberN:
					flat[k] = "N:" + v.Value
				default:
					return nil, fmt.Errorf("unexpected attribute type %T", v)
				}
			}
			pk := strings.TrimPrefix(flat["pk"], "S:")
			out[pk] = canonical(flat)
		}
	}
	return out, nil
}

func canonical(flat map[string]string) string {
	var parts []string
	for k, v := range flat {
		if k != "pk" {
			parts = append(parts, k+"="+v)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// chaosRecord is one record of a region's stream.
type chaosRecord struct {
	stream  string // the region whose stream holds it
	origin  string
	version conflict.Version
	key     string
	item    string // canonical new image; "" for REMOVE
}

// readStreams reads every region's whole table stream from its NATS.
func (g *gtChaos) readStreams() ([]chaosRecord, error) {
	var all []chaosRecord
	for _, r := range g.names {
		recs, err := readRegionStream(r, g.nats[r])
		if err != nil {
			return nil, fmt.Errorf("read %s's stream: %w", r, err)
		}
		all = append(all, recs...)
	}
	return all, nil
}

func readRegionStream(region, natsAddr string) ([]chaosRecord, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := nats.Connect("nats://"+natsAddr, nats.MaxReconnects(0))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	ts, ok, err := streams.LatestTableStream(ctx, js, region, gtChaosTable)
	if err != nil || !ok {
		return nil, fmt.Errorf("no table stream (%v)", err)
	}
	recs, err := streamstest.ReadStream(ctx, js, ts.Name)
	if err != nil {
		return nil, err
	}
	var out []chaosRecord
	for _, rec := range recs {
		ch := rec.Change
		if ch == nil {
			return nil, errors.New("record without its change")
		}
		cr := chaosRecord{stream: region, origin: ch.Origin, version: ch.Version}
		kb, _ := json.Marshal(ch.Keys)
		var k map[string]map[string]string
		_ = json.Unmarshal(kb, &k)
		cr.key = k["pk"]["S"]
		if ch.NewImage != nil {
			ib, _ := json.Marshal(ch.NewImage)
			var im map[string]map[string]string
			if err := json.Unmarshal(ib, &im); err != nil {
				return nil, err
			}
			flat := map[string]string{}
			for a, tv := range im {
				for typ, v := range tv {
					flat[a] = typ + ":" + v
				}
			}
			cr.item = canonical(flat)
		}
		out = append(out, cr)
	}
	return out, nil
}

// lwwWinners returns, per key, the new image of the local change with the
// greatest version ("" for a delete).
func lwwWinners(recs []chaosRecord) map[string]string {
	best := map[string]chaosRecord{}
	for _, r := range recs {
		if r.origin != r.stream {
			continue // a replicated copy; its original is in its origin's stream
		}
		if b, ok := best[r.key]; !ok || r.version.After(b.version) {
			best[r.key] = r
		}
	}
	out := map[string]string{}
	for k, r := range best {
		out[k] = r.item
	}
	return out
}

// checkStreams checks that no stream shows a change twice and that no
// stream holds more changes than were made (no loops).
func checkStreams(recs []chaosRecord) string {
	type id struct {
		stream, origin, key string
		v                   conflict.Version
	}
	seen := map[id]bool{}
	made := map[string]bool{}
	per := map[string]int{}
	for _, r := range recs {
		i := id{r.stream, r.origin, r.key, r.version}
		if seen[i] {
			return fmt.Sprintf("%s's stream shows the change %s of %s from %s twice", r.stream, r.version, r.key, r.origin)
		}
		seen[i] = true
		per[r.stream]++
		if r.origin == r.stream {
			made[r.origin+"/"+r.key+"/"+r.version.String()] = true
		}
	}
	for s, n := range per {
		if n > len(made) {
			return fmt.Sprintf("%s's stream holds %d records but only %d changes were made", s, n, len(made))
		}
	}
	return ""
}

func (g *gtChaos) eventually(timeout time.Duration, what string, cond func() string) {
	g.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, msg)
		}
		time.Sleep(200 * time.Millisecond) // NB: a poll interval, not a wait for an event
	}
}
