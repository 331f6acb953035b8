package region

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/streams"
	"github.com/godwit-db/godwit/streams/streamstest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestTTLDeleteReplicatesAsPlainRemove checks reference §5.3: an item
// expired by TTL in one region is deleted everywhere, and only the region
// whose sweeper deleted it marks the REMOVE as a TTL delete (userIdentity
// dynamodb.amazonaws.com); the other regions' streams show a plain REMOVE.
func TestTTLDeleteReplicatesAsPlainRemove(t *testing.T) {
	rs := startRegions(t, "reg-a", "reg-b")
	a, b := rs["reg-a"].client, rs["reg-b"].client
	const table = "expiring"
	createTable(t, a, table, newImages())
	if err := addReplica(a, table, "reg-b"); err != nil {
		t.Fatal(err)
	}
	waitReplicas(t, rs, table, "reg-a:ACTIVE,reg-b:ACTIVE", "reg-a", "reg-b")
	if _, err := a.UpdateTimeToLive(bg, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("exp"), Enabled: aws.Bool(true)}}); err != nil {
		t.Fatal(err)
	}
	past := strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)
	if _, err := a.PutItem(bg, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "old"}, "v": &types.AttributeValueMemberS{Value: "x"},
		"exp": &types.AttributeValueMemberN{Value: past}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the item in B", func() string {
		if d, err := dump(b, table); err != nil || len(d) != 1 {
			return "not yet"
		}
		return ""
	})
	if n, err := rs["reg-a"].r.DB().SweepTTL(context.Background()); err != nil || n != 1 {
		t.Fatalf("SweepTTL in A: %d, %v", n, err)
	}
	eventually(t, 20*time.Second, "the TTL delete in B", func() string {
		if d, err := dump(b, table); err != nil || len(d) != 0 {
			return "not yet"
		}
		return ""
	})
	for name, wantTTL := range map[string]bool{"reg-a": true, "reg-b": false} {
		var remove *engine.Change
		eventually(t, 20*time.Second, name+"'s REMOVE record", func() string {
			for _, c := range streamChanges(t, rs[name].r, table) {
				if c.EventName == engine.EventRemove {
					remove = c
					return ""
				}
			}
			return "not yet"
		})
		if remove.TTL != wantTTL || remove.Origin != "reg-a" {
			t.Errorf("%s's REMOVE: TTL %v origin %s, want TTL %v origin reg-a", name, remove.TTL, remove.Origin, wantTTL)
		}
	}
}

// streamChanges reads what region r's stream of table holds now.
func streamChanges(t *testing.T, r *Region, table string) []*engine.Change {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := nats.Connect(r.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ts, ok, err := streams.LatestTableStream(ctx, js, r.Name(), table)
	if err != nil || !ok {
		t.Fatalf("no stream of %s in %s: %v", table, r.Name(), err)
	}
	recs, err := streamstest.ReadStream(ctx, js, ts.Name)
	if err != nil {
		t.Fatal(err)
	}
	var out []*engine.Change
	for _, rec := range recs {
		out = append(out, rec.Change)
	}
	return out
}
