package region

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/godwit-db/godwit/globaltables"
	"github.com/godwit-db/godwit/test/harness"
	"github.com/hashicorp/go-hclog"
)

// testRegion is one region of a multi-region test: its fixed ports and
// data directory survive a restart.
type testRegion struct {
	t      *testing.T
	cfg    Config
	r      *Region
	client *dynamodb.Client
}

func testLogger(t *testing.T, name string) hclog.Logger {
	level := hclog.Off
	if os.Getenv("GODWIT_TEST_LOG") != "" {
		level = hclog.Debug
	}
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: level, Output: os.Stderr})
}

// startRegions starts one region per name, each peered with all others by
// URL, each with its own embedded NATS and data directory on loopback.
func startRegions(t *testing.T, names ...string) map[string]*testRegion {
	t.Helper()
	return startRegionsWith(t, nil, names...)
}

// startRegionsWith is startRegions with a change to each region's Config
// before it starts.
func startRegionsWith(t *testing.T, adjust func(*Config), names ...string) map[string]*testRegion {
	t.Helper()
	natsAddr := map[string]string{}
	for _, n := range names {
		natsAddr[n] = freeAddr(t)
	}
	out := map[string]*testRegion{}
	for _, n := range names {
		peers := map[string]Peer{}
		for _, p := range names {
			if p != n {
				peers[p] = Peer{URL: "nats://" + natsAddr[p]}
			}
		}
		tr := &testRegion{t: t, cfg: Config{
			Listen: freeAddr(t), DataDir: t.TempDir(), Region: n, Partitions: 4, NoSync: true,
			NATSListen: natsAddr[n], NATSMaxStore: 1 << 30, StreamMaxBytes: 64 << 20,
			PublisherPollInterval: 20 * time.Millisecond,
			Peers:                 peers, Timing: globaltables.TestTiming(), Logger: testLogger(t, n),
		}}
		if adjust != nil {
			adjust(&tr.cfg)
		}
		tr.start()
		out[n] = tr
	}
	t.Cleanup(func() {
		for _, tr := range out {
			tr.stop()
		}
	})
	return out
}

func (tr *testRegion) start() {
	tr.t.Helper()
	r, err := Start(context.Background(), tr.cfg)
	if err != nil {
		tr.t.Fatalf("start %s: %v", tr.cfg.Region, err)
	}
	tr.r = r
	tr.client = harness.NewClient(r.URL())
}

func (tr *testRegion) stop() {
	if tr.r != nil {
		if err := tr.r.Close(); err != nil {
			tr.t.Errorf("close %s: %v", tr.cfg.Region, err)
		}
		tr.r = nil
	}
}

var bg = context.Background()

// freeAddr and eventually are test/harness's FreeAddr and Eventually under
// the names this package's tests call them by.
func freeAddr(t *testing.T) string { t.Helper(); return harness.FreeAddr(t) }

func eventually(t *testing.T, timeout time.Duration, what string, cond func() string) {
	t.Helper()
	harness.Eventually(t, timeout, what, cond)
}

func createTable(t *testing.T, c *dynamodb.Client, name string, stream *types.StreamSpecification) {
	t.Helper()
	_, err := c.CreateTable(bg, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
		StreamSpecification:  stream,
	})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
}

func newImages() *types.StreamSpecification {
	return &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages}
}

func addReplica(c *dynamodb.Client, table, region string) error {
	_, err := c.UpdateTable(bg, &dynamodb.UpdateTableInput{TableName: aws.String(table),
		ReplicaUpdates: []types.ReplicationGroupUpdate{{Create: &types.CreateReplicationGroupMemberAction{RegionName: aws.String(region)}}}})
	return err
}

func removeReplica(c *dynamodb.Client, table, region string) error {
	_, err := c.UpdateTable(bg, &dynamodb.UpdateTableInput{TableName: aws.String(table),
		ReplicaUpdates: []types.ReplicationGroupUpdate{{Delete: &types.DeleteReplicationGroupMemberAction{RegionName: aws.String(region)}}}})
	return err
}

// replicas renders DescribeTable's Replicas as "region:STATUS,..." ("" for
// none), or the error.
func replicas(c *dynamodb.Client, table string) string {
	out, err := c.DescribeTable(bg, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		return "error: " + errCode(err)
	}
	var parts []string
	for _, r := range out.Table.Replicas {
		parts = append(parts, aws.ToString(r.RegionName)+":"+string(r.ReplicaStatus))
	}
	if len(parts) > 0 && aws.ToString(out.Table.GlobalTableVersion) != "2019.11.21" {
		return "Replicas without GlobalTableVersion 2019.11.21"
	}
	if len(parts) == 0 && out.Table.GlobalTableVersion != nil {
		return "GlobalTableVersion without Replicas"
	}
	return strings.Join(parts, ",")
}

// waitReplicas waits until every listed region describes the table's
// replicas as want less itself (DescribeTable lists the other regions).
func waitReplicas(t *testing.T, regions map[string]*testRegion, table, want string, in ...string) {
	t.Helper()
	for _, n := range in {
		var others []string
		for _, w := range strings.Split(want, ",") {
			if w != "" && !strings.HasPrefix(w, n+":") {
				others = append(others, w)
			}
		}
		want := strings.Join(others, ",")
		eventually(t, 20*time.Second, fmt.Sprintf("Replicas of %s in %s = %q", table, n, want), func() string {
			if got := replicas(regions[n].client, table); got != want {
				return "got " + got
			}
			return ""
		})
	}
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return err.Error()
}

func wantAPIError(t *testing.T, err error, code, msg string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code || !strings.Contains(ae.ErrorMessage(), msg) {
		t.Errorf("got %v; want %s containing %q", err, code, msg)
	}
}

func put(t *testing.T, c *dynamodb.Client, table, pk, v string) {
	t.Helper()
	_, err := c.PutItem(bg, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: pk}, "v": &types.AttributeValueMemberS{Value: v}}})
	if err != nil {
		t.Fatalf("put %s: %v", pk, err)
	}
}

func del(t *testing.T, c *dynamodb.Client, table, pk string) {
	t.Helper()
	_, err := c.DeleteItem(bg, &dynamodb.DeleteItemInput{TableName: aws.String(table),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}})
	if err != nil {
		t.Fatalf("delete %s: %v", pk, err)
	}
}

// dump is a full Scan of the table as sorted "pk=v" lines.
func dump(c *dynamodb.Client, table string) ([]string, error) {
	var out []string
	var start map[string]types.AttributeValue
	for {
		page, err := c.Scan(bg, &dynamodb.ScanInput{TableName: aws.String(table), ExclusiveStartKey: start, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			out = append(out, it["pk"].(*types.AttributeValueMemberS).Value+"="+it["v"].(*types.AttributeValueMemberS).Value)
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		start = page.LastEvaluatedKey
	}
	sort.Strings(out)
	return out, nil
}

// waitConverged waits until the listed regions' full scans are identical
// and have want items; it returns the common dump.
func waitConverged(t *testing.T, regions map[string]*testRegion, table string, want int, in ...string) []string {
	t.Helper()
	var common []string
	eventually(t, 30*time.Second, fmt.Sprintf("%s to converge in %v with %d items", table, in, want), func() string {
		var first []string
		for i, n := range in {
			d, err := dump(regions[n].client, table)
			if err != nil {
				return n + ": " + err.Error()
			}
			if len(d) != want {
				return fmt.Sprintf("%s has %d items", n, len(d))
			}
			if i == 0 {
				first = d
			} else if !reflect.DeepEqual(first, d) {
				return fmt.Sprintf("%s differs from %s", n, in[0])
			}
		}
		common = first
		return ""
	})
	return common
}

func streamSpec(t *testing.T, c *dynamodb.Client, table string) string {
	t.Helper()
	out, err := c.DescribeTable(bg, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if s := out.Table.StreamSpecification; s != nil && aws.ToBool(s.StreamEnabled) {
		return string(s.StreamViewType)
	}
	return "none"
}

// TestDefaultPartitionsFollowCores: a new table gets one partition per
// core the Go scheduler uses, at least 2 and at most 64.
func TestDefaultPartitionsFollowCores(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prev)
	for _, c := range []struct{ procs, want int }{{1, 2}, {2, 2}, {6, 6}, {64, 64}, {100, 64}} {
		runtime.GOMAXPROCS(c.procs)
		if got := DefaultPartitions(); got != c.want {
			t.Errorf("GOMAXPROCS %d: %d partitions, want %d", c.procs, got, c.want)
		}
	}
}
