package region

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestThreeRegions is the global-tables story end to end through
// aws-sdk-go-v2: a table with items in A gets replicas in B then C, writes
// in all three converge, a restarted region catches up both ways, a
// replica is removed, and DeleteTable in one region leaves the others.
func TestThreeRegions(t *testing.T) {
	rs := startRegions(t, "reg-a", "reg-b", "reg-c")
	a, b, c := rs["reg-a"].client, rs["reg-b"].client, rs["reg-c"].client
	const table = "orders"

	createTable(t, a, table, newImages())
	for i := 0; i < 50; i++ {
		put(t, a, table, fmt.Sprintf("a-%03d", i), "a")
	}

	t.Run("create B then C", func(t *testing.T) {
		if err := addReplica(a, table, "reg-b"); err != nil {
			t.Fatal(err)
		}
		waitReplicas(t, rs, table, "reg-a:ACTIVE,reg-b:ACTIVE", "reg-a", "reg-b")
		if err := addReplica(a, table, "reg-c"); err != nil {
			t.Fatal(err)
		}
		waitReplicas(t, rs, table, "reg-a:ACTIVE,reg-b:ACTIVE,reg-c:ACTIVE", "reg-a", "reg-b", "reg-c")
		waitConverged(t, rs, table, 50, "reg-a", "reg-b", "reg-c")
		// The replica has the same definition and the stream.
		if got := streamSpec(t, c, table); got != "NEW_AND_OLD_IMAGES" {
			t.Errorf("C's stream: %s", got)
		}
	})

	t.Run("validations", func(t *testing.T) {
		wantAPIError(t, addReplica(a, table, "reg-a"), "ValidationException",
			"Cannot add or delete the local region through ReplicaUpdates. Use CreateTable, DeleteTable, or UpdateTable as required.")
		wantAPIError(t, removeReplica(b, table, "reg-b"), "ValidationException",
			"Cannot add or delete the local region through ReplicaUpdates.")
		wantAPIError(t, addReplica(a, table, "reg-x"), "ValidationException",
			"Region reg-x is not supported. The latest version of global tables are only supported in the following regions: [reg-a, reg-b, reg-c].")
		wantAPIError(t, addReplica(b, table, "reg-c"), "ValidationException",
			"Failed to create a the new replica of table with name: 'orders' because one or more replicas already existed as tables.")
		_, err := a.UpdateTable(bg, &dynamodb.UpdateTableInput{TableName: aws.String(table), ReplicaUpdates: []types.ReplicationGroupUpdate{
			{Create: &types.CreateReplicationGroupMemberAction{RegionName: aws.String("reg-b")}},
			{Delete: &types.DeleteReplicationGroupMemberAction{RegionName: aws.String("reg-c")}}}})
		wantAPIError(t, err, "ValidationException", "Update table operation with more than one type of replica actions not allowed.")
		_, err = b.UpdateTable(bg, &dynamodb.UpdateTableInput{TableName: aws.String(table),
			StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(false)}})
		wantAPIError(t, err, "ValidationException",
			"One or more parameter values were invalid: Disabling Stream is not allowed for a Global Table replica.")
	})

	t.Run("writes everywhere converge", func(t *testing.T) {
		for i := 0; i < 20; i++ {
			put(t, b, table, fmt.Sprintf("b-%03d", i), "b")
			put(t, c, table, fmt.Sprintf("c-%03d", i), "c")
		}
		for i := 0; i < 10; i++ {
			del(t, c, table, fmt.Sprintf("a-%03d", i)) // deletes of items written in A
		}
		// The same key in every region: one value wins everywhere.
		put(t, a, table, "hot", "from-a")
		put(t, b, table, "hot", "from-b")
		put(t, c, table, "hot", "from-c")
		got := waitConverged(t, rs, table, 50-10+20+20+1, "reg-a", "reg-b", "reg-c")
		for _, line := range got {
			if strings.HasPrefix(line, "a-00") {
				t.Errorf("deleted item %s is back", line)
			}
		}
	})

	t.Run("restarted region catches up both ways", func(t *testing.T) {
		rc := rs["reg-c"]
		t0 := time.Now()
		rc.stop()
		t.Logf("stopped C in %s", time.Since(t0))
		put(t, a, table, "while-c-down-a", "a")
		put(t, b, table, "while-c-down-b", "b")
		del(t, a, table, "b-000")
		t0 = time.Now()
		rc.start()
		t.Logf("started C in %s", time.Since(t0))
		c = rc.client
		put(t, c, table, "after-c-back", "c")
		waitConverged(t, rs, table, 81+3-1, "reg-a", "reg-b", "reg-c")
		waitReplicas(t, rs, table, "reg-a:ACTIVE,reg-b:ACTIVE,reg-c:ACTIVE", "reg-c")
	})

	t.Run("remove replica C", func(t *testing.T) {
		if err := removeReplica(a, table, "reg-c"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "C's replica to be deleted", func() string {
			if got := replicas(c, table); got != "error: ResourceNotFoundException" {
				return got
			}
			return ""
		})
		waitReplicas(t, rs, table, "reg-a:ACTIVE,reg-b:ACTIVE", "reg-a", "reg-b")
		put(t, b, table, "after-c-left", "b")
		waitConverged(t, rs, table, 84, "reg-a", "reg-b")
	})

	t.Run("DeleteTable in one region leaves the others", func(t *testing.T) {
		if _, err := b.DeleteTable(bg, &dynamodb.DeleteTableInput{TableName: aws.String(table)}); err != nil {
			t.Fatal(err)
		}
		// A is alone: regional again, its stream kept and now disable-able.
		waitReplicas(t, rs, table, "", "reg-a")
		if got := streamSpec(t, a, table); got != "NEW_AND_OLD_IMAGES" {
			t.Errorf("A's stream after the last replica left: %s", got)
		}
		d, err := dump(a, table)
		if err != nil || len(d) != 84 {
			t.Fatalf("A's items after B left: %d, %v", len(d), err)
		}
		if _, err := a.UpdateTable(bg, &dynamodb.UpdateTableInput{TableName: aws.String(table),
			StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(false)}}); err != nil {
			t.Errorf("disable the stream of a regional table: %v", err)
		}
	})
}

// TestReplicaCreationRules covers what a new replica inherits (partition
// count, stream), the stream rules, a replica whose region is down
// (CREATING with its progress, in-progress refusals) and removal errors.
func TestReplicaCreationRules(t *testing.T) {
	down := "nats://" + freeAddr(t) // nobody listens there
	rs := startRegionsWith(t, func(c *Config) {
		c.Peers["reg-d"] = Peer{URL: down}
		if c.Region == "reg-b" {
			c.Partitions = 2 // the replica must still get the source's 4
		}
	}, "reg-a", "reg-b")
	a, b := rs["reg-a"].client, rs["reg-b"].client

	t.Run("no stream: NEW_AND_OLD_IMAGES turned on; partitions follow the source", func(t *testing.T) {
		createTable(t, a, "plain", nil)
		if err := addReplica(a, "plain", "reg-b"); err != nil {
			t.Fatal(err)
		}
		waitReplicas(t, rs, "plain", "reg-a:ACTIVE,reg-b:ACTIVE", "reg-a", "reg-b")
		for _, c := range []*dynamodb.Client{a, b} {
			if got := streamSpec(t, c, "plain"); got != "NEW_AND_OLD_IMAGES" {
				t.Errorf("stream: %s", got)
			}
		}
		if info, _ := rs["reg-b"].r.DB().Table("plain"); info.Partitions != 4 {
			t.Errorf("replica has %d partitions, want the source's 4", info.Partitions)
		}
		put(t, b, "plain", "k", "from-b")
		waitConverged(t, rs, "plain", 1, "reg-a", "reg-b")
	})

	t.Run("a KEYS_ONLY stream is kept and replication still works", func(t *testing.T) {
		createTable(t, a, "keysonly", &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeKeysOnly})
		if err := addReplica(a, "keysonly", "reg-b"); err != nil {
			t.Fatal(err)
		}
		waitReplicas(t, rs, "keysonly", "reg-a:ACTIVE,reg-b:ACTIVE", "reg-a", "reg-b")
		for _, c := range []*dynamodb.Client{a, b} {
			if got := streamSpec(t, c, "keysonly"); got != "KEYS_ONLY" {
				t.Errorf("stream: %s", got)
			}
		}
		put(t, a, "keysonly", "k1", "from-a")
		put(t, b, "keysonly", "k2", "from-b")
		got := waitConverged(t, rs, "keysonly", 2, "reg-a", "reg-b")
		if strings.Join(got, " ") != "k1=from-a k2=from-b" {
			t.Errorf("items: %v", got)
		}
	})

	t.Run("a region that is down stays CREATING and blocks other replica changes", func(t *testing.T) {
		createTable(t, a, "stuck", newImages())
		if err := addReplica(a, "stuck", "reg-d"); err != nil {
			t.Fatalf("a replica in a region that is down is accepted (and retried): %v", err)
		}
		out, err := a.DescribeTable(bg, &dynamodb.DescribeTableInput{TableName: aws.String("stuck")})
		if err != nil {
			t.Fatal(err)
		}
		var d *types.ReplicaDescription
		for i := range out.Table.Replicas {
			if aws.ToString(out.Table.Replicas[i].RegionName) == "reg-d" {
				d = &out.Table.Replicas[i]
			}
		}
		if d == nil || d.ReplicaStatus != types.ReplicaStatusCreating || aws.ToString(d.ReplicaStatusPercentProgress) != "0" {
			t.Fatalf("reg-d's replica: %+v", d)
		}
		if got := replicas(a, "stuck"); got != "reg-d:CREATING" {
			t.Errorf("Replicas: %s", got)
		}
		err = addReplica(a, "stuck", "reg-b")
		wantAPIError(t, err, "ResourceInUseException", "reg-d")
		err = removeReplica(a, "stuck", "reg-d")
		wantAPIError(t, err, "ResourceInUseException", "reg-d")
		// DeleteTable is always allowed.
		if _, err := a.DeleteTable(bg, &dynamodb.DeleteTableInput{TableName: aws.String("stuck")}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("removal errors", func(t *testing.T) {
		createTable(t, a, "regional", nil)
		wantAPIError(t, removeReplica(a, "regional", "reg-b"), "ValidationException",
			"Update global table operation failed because one or more replicas were not part of the global table. Please retry the request without these replicas: [reg-b].")
		_, err := a.UpdateTable(bg, &dynamodb.UpdateTableInput{TableName: aws.String("regional"),
			ReplicaUpdates: []types.ReplicationGroupUpdate{{}}})
		wantAPIError(t, err, "ValidationException", "There are no actions specified in the Replica Update Action of the request.")
		wantAPIError(t, addReplica(a, "nosuch", "reg-b"), "ResourceNotFoundException", "")
	})

	t.Run("a same-named regional table in the new region is refused", func(t *testing.T) {
		createTable(t, a, "taken", nil)
		createTable(t, b, "taken", nil)
		wantAPIError(t, addReplica(a, "taken", "reg-b"), "ValidationException",
			"Failed to create a the new replica of table with name: 'taken' because one or more replicas already existed as tables.")
		if got := replicas(a, "taken"); got != "" {
			t.Errorf("refused create left Replicas %q", got)
		}
	})
}
