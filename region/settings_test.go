package region

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// settings renders what global tables synchronise of a table as one line:
// "ttl=ATTR billing=MODE[/W] gsi=NAME:STATUS,...", or the error.
func settings(c *dynamodb.Client, table string) string {
	d, err := c.DescribeTable(bg, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		return "error: " + errCode(err)
	}
	ttl, err := c.DescribeTimeToLive(bg, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		return "error: " + errCode(err)
	}
	attr := "-"
	if td := ttl.TimeToLiveDescription; td.TimeToLiveStatus == types.TimeToLiveStatusEnabled {
		attr = aws.ToString(td.AttributeName)
	}
	billing := "PROVISIONED"
	if s := d.Table.BillingModeSummary; s != nil {
		billing = string(s.BillingMode)
	}
	if billing == "PROVISIONED" {
		billing += fmt.Sprintf("/%d", aws.ToInt64(d.Table.ProvisionedThroughput.WriteCapacityUnits))
	}
	var gsis []string
	for _, g := range d.Table.GlobalSecondaryIndexes {
		gsis = append(gsis, aws.ToString(g.IndexName)+":"+string(g.IndexStatus))
	}
	sort.Strings(gsis)
	return fmt.Sprintf("ttl=%s billing=%s gsi=%s", attr, billing, strings.Join(gsis, ","))
}

func waitSettings(t *testing.T, rs map[string]*testRegion, table, want string, in ...string) {
	t.Helper()
	for _, n := range in {
		eventually(t, 20*time.Second, fmt.Sprintf("settings of %s in %s = %q", table, n, want), func() string {
			if got := settings(rs[n].client, table); got != want {
				return "got " + got
			}
			return ""
		})
	}
}

// TestSettingsSynchronised checks that settings changed after the replicas
// were created reach every replica, as on AWS (reference §5.3): TTL enabled
// in one region and a GSI created in another at the same time (both
// survive), billing mode and write capacity, a GSI deletion and a capacity
// change made while a region is down (it catches up when back); read
// capacity stays per replica, and tags are not propagated.
func TestSettingsSynchronised(t *testing.T) {
	rs := startRegions(t, "reg-a", "reg-b", "reg-c")
	a, b, c := rs["reg-a"].client, rs["reg-b"].client, rs["reg-c"].client
	all := []string{"reg-a", "reg-b", "reg-c"}
	const table = "settings"
	createTable(t, a, table, newImages())
	for i := 0; i < 10; i++ {
		_, err := a.PutItem(bg, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("k%02d", i)}, "v": &types.AttributeValueMemberS{Value: "a"},
			"g": &types.AttributeValueMemberS{Value: fmt.Sprintf("g%d", i%2)}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := addReplica(a, table, "reg-b"); err != nil {
		t.Fatal(err)
	}
	waitReplicas(t, rs, table, "reg-a:ACTIVE,reg-b:ACTIVE", "reg-a", "reg-b")
	if err := addReplica(a, table, "reg-c"); err != nil {
		t.Fatal(err)
	}
	waitReplicas(t, rs, table, "reg-a:ACTIVE,reg-b:ACTIVE,reg-c:ACTIVE", all...)
	waitSettings(t, rs, table, "ttl=- billing=PAY_PER_REQUEST gsi=", all...)

	d, err := a.DescribeTable(bg, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.TagResource(bg, &dynamodb.TagResourceInput{ResourceArn: d.Table.TableArn,
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}}); err != nil {
		t.Fatal(err)
	}

	t.Run("TTL in B and a GSI in C at once", func(t *testing.T) {
		if _, err := b.UpdateTimeToLive(bg, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String(table),
			TimeToLiveSpecification: &types.TimeToLiveSpecification{Enabled: aws.Bool(true), AttributeName: aws.String("expires")}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.UpdateTable(bg, &dynamodb.UpdateTableInput{TableName: aws.String(table),
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("g"), AttributeType: types.ScalarAttributeTypeS}},
			GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{{Create: &types.CreateGlobalSecondaryIndexAction{
				IndexName:  aws.String("by-g"),
				KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String("g"), KeyType: types.KeyTypeHash}},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}}}}}); err != nil {
			t.Fatal(err)
		}
		waitSettings(t, rs, table, "ttl=expires billing=PAY_PER_REQUEST gsi=by-g:ACTIVE", all...)
		// The replicated index is backfilled with the replica's items.
		out, err := a.Query(bg, &dynamodb.QueryInput{TableName: aws.String(table), IndexName: aws.String("by-g"),
			KeyConditionExpression:    aws.String("g = :g"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":g": &types.AttributeValueMemberS{Value: "g1"}}})
		if err != nil || len(out.Items) != 5 {
			t.Fatalf("query by-g in A: %v items, %v", len(out.Items), err)
		}
	})

	t.Run("tags are not propagated", func(t *testing.T) {
		// The TTL change made after the tag reached B and C above.
		for n, cl := range map[string]*dynamodb.Client{"reg-b": b, "reg-c": c} {
			d, err := cl.DescribeTable(bg, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
			if err != nil {
				t.Fatal(err)
			}
			tags, err := cl.ListTagsOfResource(bg, &dynamodb.ListTagsOfResourceInput{ResourceArn: d.Table.TableArn})
			if err != nil || len(tags.Tags) != 0 {
				t.Errorf("%s: tags %v, %v; want none", n, tags, err)
			}
		}
	})

	t.Run("billing mode and write capacity; read capacity per replica", func(t *testing.T) {
		if _, err := a.UpdateTable(bg, &dynamodb.UpdateTableInput{TableName: aws.String(table),
			BillingMode:           types.BillingModeProvisioned,
			ProvisionedThroughput: &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(5), WriteCapacityUnits: aws.Int64(7)},
			GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{{Update: &types.UpdateGlobalSecondaryIndexAction{
				IndexName: aws.String("by-g"), ProvisionedThroughput: &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(3), WriteCapacityUnits: aws.Int64(4)}}}},
		}); err != nil {
			t.Fatal(err)
		}
		waitSettings(t, rs, table, "ttl=expires billing=PROVISIONED/7 gsi=by-g:ACTIVE", all...)
		d, err := b.DescribeTable(bg, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			t.Fatal(err)
		}
		if r := aws.ToInt64(d.Table.ProvisionedThroughput.ReadCapacityUnits); r != 5 {
			t.Errorf("B's read capacity %d, want A's 5 when it switched", r)
		}
		if g := d.Table.GlobalSecondaryIndexes[0].ProvisionedThroughput; aws.ToInt64(g.WriteCapacityUnits) != 4 {
			t.Errorf("B's GSI write capacity %d, want 4", aws.ToInt64(g.WriteCapacityUnits))
		}
		// Read capacity set in B stays B's; A's write capacity change
		// afterwards keeps it.
		if _, err := b.UpdateTable(bg, &dynamodb.UpdateTableInput{TableName: aws.String(table),
			ProvisionedThroughput: &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(11), WriteCapacityUnits: aws.Int64(7)}}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.UpdateTable(bg, &dynamodb.UpdateTableInput{TableName: aws.String(table),
			ProvisionedThroughput: &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(5), WriteCapacityUnits: aws.Int64(8)}}); err != nil {
			t.Fatal(err)
		}
		waitSettings(t, rs, table, "ttl=expires billing=PROVISIONED/8 gsi=by-g:ACTIVE", all...)
		for n, want := range map[string]int64{"reg-a": 5, "reg-b": 11, "reg-c": 5} {
			d, err := rs[n].client.DescribeTable(bg, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
			if err != nil {
				t.Fatal(err)
			}
			if r := aws.ToInt64(d.Table.ProvisionedThroughput.ReadCapacityUnits); r != want {
				t.Errorf("%s: read capacity %d, want %d", n, r, want)
			}
		}
	})

	t.Run("changes made while a region is down reach it when it is back", func(t *testing.T) {
		rc := rs["reg-c"]
		rc.stop()
		if _, err := a.UpdateTable(bg, &dynamodb.UpdateTableInput{TableName: aws.String(table),
			GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{{Delete: &types.DeleteGlobalSecondaryIndexAction{IndexName: aws.String("by-g")}}}}); err != nil {
			t.Fatal(err)
		}
		waitSettings(t, rs, table, "ttl=expires billing=PROVISIONED/8 gsi=", "reg-a", "reg-b")
		if _, err := b.UpdateTable(bg, &dynamodb.UpdateTableInput{TableName: aws.String(table),
			ProvisionedThroughput: &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(11), WriteCapacityUnits: aws.Int64(9)}}); err != nil {
			t.Fatal(err)
		}
		waitSettings(t, rs, table, "ttl=expires billing=PROVISIONED/9 gsi=", "reg-a", "reg-b")
		rc.start()
		waitSettings(t, rs, table, "ttl=expires billing=PROVISIONED/9 gsi=", "reg-c")
		// And C's own change goes out again.
		if _, err := rs["reg-c"].client.UpdateTable(bg, &dynamodb.UpdateTableInput{TableName: aws.String(table),
			BillingMode: types.BillingModePayPerRequest}); err != nil {
			t.Fatal(err)
		}
		waitSettings(t, rs, table, "ttl=expires billing=PAY_PER_REQUEST gsi=", all...)
	})
}
