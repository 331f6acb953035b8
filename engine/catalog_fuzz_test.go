package engine

import (
	"context"
	"testing"

	"github.com/godwit-db/godwit/engine/apierr"
)

// FuzzCatalogOps feeds arbitrary request bodies to every control-plane
// operation: each must answer or return an error, never panic, and never
// return an error that is not an API error (anything else would be an
// InternalServerError on the wire).
func FuzzCatalogOps(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"TableName":"fz1","AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}`,
		`{"TableName":"fz1","AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"g","AttributeType":"N"}],"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}],"ProvisionedThroughput":{"ReadCapacityUnits":1,"WriteCapacityUnits":1},"GlobalSecondaryIndexes":[{"IndexName":"ggg","KeySchema":[{"AttributeName":"g","KeyType":"HASH"}],"Projection":{"ProjectionType":"INCLUDE","NonKeyAttributes":["a"]},"ProvisionedThroughput":{"ReadCapacityUnits":1,"WriteCapacityUnits":1}}],"StreamSpecification":{"StreamEnabled":true,"StreamViewType":"KEYS_ONLY"},"Tags":[{"Key":"k","Value":"v"}]}`,
		`{"TableName":"fz0","AttributeDefinitions":[{"AttributeName":"x","AttributeType":"S"}],"GlobalSecondaryIndexUpdates":[{"Create":{"IndexName":"xxx","KeySchema":[{"AttributeName":"x","KeyType":"HASH"}],"Projection":{"ProjectionType":"ALL"}}}]}`,
		`{"TableName":"fz0","GlobalSecondaryIndexUpdates":[{"Delete":{"IndexName":"xxx"}},{"Update":{"IndexName":"yyy"}}],"StreamSpecification":{"StreamEnabled":false},"BillingMode":"PROVISIONED"}`,
		`{"TableName":"fz0","TimeToLiveSpecification":{"Enabled":true,"AttributeName":"ttl"},"PointInTimeRecoverySpecification":{"PointInTimeRecoveryEnabled":false}}`,
		`{"ResourceArn":"arn:aws:dynamodb:us-east-1:000000000000:table/fz0","Tags":[{"Key":"a","Value":"b"}],"TagKeys":["a"]}`,
		`{"Limit":2,"ExclusiveStartTableName":"fz0","SSESpecification":{"Enabled":true,"SSEType":"KMS"},"ReplicaUpdates":[{}]}`,
	} {
		f.Add([]byte(s))
	}
	db, err := Open(Config{InMemory: true, DefaultPartitions: 1, TTLSweepInterval: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = db.Close() })
	if _, err := db.CreateTable(context.Background(), catSimple("fz0")); err != nil {
		f.Fatal(err)
	}
	ops := db.Operations()
	names := []string{"CreateTable", "DescribeTable", "UpdateTable", "ListTables", "TagResource", "UntagResource",
		"ListTagsOfResource", "DescribeEndpoints", "DescribeLimits", "DescribeContinuousBackups",
		"UpdateContinuousBackups", "DescribeTimeToLive", "UpdateTimeToLive", "DeleteTable"}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, name := range names {
			if _, err := ops[name](context.Background(), body); err != nil && apierr.As(err) == nil {
				t.Fatalf("%s(%s): non-API error %v", name, body, err)
			}
		}
		// Keep the fixture table for the next input.
		if db.table("fz0") == nil {
			if _, err := db.CreateTable(context.Background(), catSimple("fz0")); err != nil {
				t.Fatal(err)
			}
		}
	})
}
