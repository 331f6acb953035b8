package region

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func tableStatus(c *dynamodb.Client, table string) string {
	out, err := c.DescribeTable(bg, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		return "error: " + errCode(err)
	}
	return string(out.Table.TableStatus)
}

func waitTableStatus(t *testing.T, rs map[string]*testRegion, table string, want types.TableStatus, in ...string) {
	t.Helper()
	for _, n := range in {
		eventually(t, 20*time.Second, "TableStatus of "+table+" in "+n+" = "+string(want), func() string {
			if got := tableStatus(rs[n].client, table); got != string(want) {
				return "got " + got
			}
			return ""
		})
	}
}

// TestTableStatusDuringReplicaChanges: DescribeTable reports UPDATING
// while a replica is being created or deleted, and ACTIVE once every
// replica is ACTIVE (what Terraform's table waiter polls for), as AWS.
func TestTableStatusDuringReplicaChanges(t *testing.T) {
	down := "nats://" + freeAddr(t) // nobody listens there
	rs := startRegionsWith(t, func(c *Config) { c.Peers["reg-d"] = Peer{URL: down} }, "reg-a", "reg-b")
	a := rs["reg-a"].client
	createTable(t, a, "tstat", newImages())
	if err := addReplica(a, "tstat", "reg-b"); err != nil {
		t.Fatal(err)
	}
	waitReplicas(t, rs, "tstat", "reg-a:ACTIVE,reg-b:ACTIVE", "reg-a", "reg-b")
	waitTableStatus(t, rs, "tstat", types.TableStatusActive, "reg-a", "reg-b")

	// A replica in a region that is down stays CREATING: the table is
	// UPDATING in every region that knows it.
	if err := addReplica(a, "tstat", "reg-d"); err != nil {
		t.Fatal(err)
	}
	if got := tableStatus(a, "tstat"); got != "UPDATING" {
		t.Errorf("A while reg-d is CREATING: %s", got)
	}
	waitTableStatus(t, rs, "tstat", types.TableStatusUpdating, "reg-b")
	if _, err := a.DeleteTable(bg, &dynamodb.DeleteTableInput{TableName: aws.String("tstat")}); err != nil {
		t.Fatal(err)
	}

	// Removing a replica: UPDATING until it is gone, then ACTIVE.
	createTable(t, a, "tstat2", newImages())
	if err := addReplica(a, "tstat2", "reg-b"); err != nil {
		t.Fatal(err)
	}
	waitReplicas(t, rs, "tstat2", "reg-a:ACTIVE,reg-b:ACTIVE", "reg-a", "reg-b")
	waitTableStatus(t, rs, "tstat2", types.TableStatusActive, "reg-a")
	out, err := a.UpdateTable(bg, &dynamodb.UpdateTableInput{TableName: aws.String("tstat2"),
		ReplicaUpdates: []types.ReplicationGroupUpdate{{Delete: &types.DeleteReplicationGroupMemberAction{RegionName: aws.String("reg-b")}}}})
	if err != nil {
		t.Fatal(err)
	}
	if out.TableDescription.TableStatus != types.TableStatusUpdating {
		t.Errorf("UpdateTable's answer: %s", out.TableDescription.TableStatus)
	}
	eventually(t, 20*time.Second, "B's replica to be deleted", func() string {
		if got := replicas(rs["reg-b"].client, "tstat2"); got != "error: ResourceNotFoundException" {
			return got
		}
		return ""
	})
	waitTableStatus(t, rs, "tstat2", types.TableStatusActive, "reg-a")
}
