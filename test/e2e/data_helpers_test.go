package e2e

// Helpers of the data-plane suite (items, expressions, reads, batches,
// transactions, errors, wire). Every name starts with d so that the suites
// sharing this package do not collide.

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/test/harness"
)

// dCtx is the context of every call in the data-plane suite: generous, so
// only a hung server trips it.
func dCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dServer starts a server for the data-plane suite. Writes skip the fsync:
// nothing here depends on durability, and the suite must stay fast.
//
// The client has its own connection pool, closed before the server stops:
// NB: http.Server.Shutdown waits up to 5 s for a connection that was dialed
// but never used (the SDK's transport dials spares under concurrency), so
// closing the client's idle connections first keeps the stop instant.
func dServer(t *testing.T) (*harness.Server, *dynamodb.Client) {
	t.Helper()
	srv := harness.Start(t, harness.WithConfig(func(c *engine.Config) { c.NoSync = true }))
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	cl := dynamodb.New(srv.Client().Options(), func(o *dynamodb.Options) {
		o.HTTPClient = &http.Client{Transport: tr}
		// NB: connection errors (a reset read as "use of closed network
		// connection") are retried, as every SDK does by default, and
		// nothing else is. Under a loaded CI run a large answer was cut
		// this way twice in this suite and the cause is not found yet (see
		// the issue note); API errors still reach the tests unretried.
		o.RetryMaxAttempts = 0 // else the SDK caps the retryer below at the harness's single attempt
		o.Retryer = retry.NewStandard(func(ro *retry.StandardOptions) {
			ro.MaxAttempts = 3
			ro.Retryables = []retry.IsErrorRetryable{retry.RetryableConnectionError{}}
		})
	})
	t.Cleanup(tr.CloseIdleConnections)
	return srv, cl
}

// dCreate creates a table and waits (by polling, with a deadline) until
// DescribeTable reports it and every index ACTIVE.
func dCreate(t *testing.T, cl *dynamodb.Client, in *dynamodb.CreateTableInput) {
	t.Helper()
	if in.BillingMode == "" && in.ProvisionedThroughput == nil {
		in.BillingMode = types.BillingModePayPerRequest
	}
	ctx := dCtx(t)
	if _, err := cl.CreateTable(ctx, in); err != nil {
		t.Fatalf("create table %s: %v", aws.ToString(in.TableName), err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := cl.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName})
		if err == nil && out.Table.TableStatus == types.TableStatusActive {
			active := true
			for _, g := range out.Table.GlobalSecondaryIndexes {
				active = active && g.IndexStatus == types.IndexStatusActive
			}
			if active {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("table %s not ACTIVE in time (last error %v)", aws.ToString(in.TableName), err)
		}
		time.Sleep(10 * time.Millisecond) // NB: a poll interval, not a wait for an event.
	}
}

// dAttrDefs builds AttributeDefinitions from name/type pairs.
func dAttrDefs(pairs ...string) []types.AttributeDefinition {
	var out []types.AttributeDefinition
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, types.AttributeDefinition{AttributeName: aws.String(pairs[i]), AttributeType: types.ScalarAttributeType(pairs[i+1])})
	}
	return out
}

// dSchema builds a KeySchema: hash, then range if not "".
func dSchema(hash, rng string) []types.KeySchemaElement {
	ks := []types.KeySchemaElement{{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash}}
	if rng != "" {
		ks = append(ks, types.KeySchemaElement{AttributeName: aws.String(rng), KeyType: types.KeyTypeRange})
	}
	return ks
}

// dHashTable creates a table keyed by pk (S) only.
func dHashTable(t *testing.T, cl *dynamodb.Client, name string) {
	t.Helper()
	dCreate(t, cl, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: dAttrDefs("pk", "S"),
		KeySchema:            dSchema("pk", ""),
	})
}

// dRangeTable creates a table keyed by pk (S) and sk (N).
func dRangeTable(t *testing.T, cl *dynamodb.Client, name string) {
	t.Helper()
	dCreate(t, cl, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: dAttrDefs("pk", "S", "sk", "N"),
		KeySchema:            dSchema("pk", "sk"),
	})
}

// dIndexedTable creates a table keyed by pk (S) and sk (N) with a GSI "byG"
// on g (S) / gs (N) projecting ALL and an LSI "byL" on pk / l (N)
// projecting ALL.
func dIndexedTable(t *testing.T, cl *dynamodb.Client, name string) {
	t.Helper()
	all := &types.Projection{ProjectionType: types.ProjectionTypeAll}
	dCreate(t, cl, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: dAttrDefs("pk", "S", "sk", "N", "g", "S", "gs", "N", "l", "N"),
		KeySchema:            dSchema("pk", "sk"),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String("byG"), KeySchema: dSchema("g", "gs"), Projection: all,
		}},
		LocalSecondaryIndexes: []types.LocalSecondaryIndex{{
			IndexName: aws.String("byL"), KeySchema: dSchema("pk", "l"), Projection: all,
		}},
	})
}

// Attribute value constructors.

func dS(s string) types.AttributeValue  { return &types.AttributeValueMemberS{Value: s} }
func dN(n string) types.AttributeValue  { return &types.AttributeValueMemberN{Value: n} }
func dNi(n int) types.AttributeValue    { return dN(strconv.Itoa(n)) }
func dB(b []byte) types.AttributeValue  { return &types.AttributeValueMemberB{Value: b} }
func dBool(b bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: b} }
func dNull() types.AttributeValue       { return &types.AttributeValueMemberNULL{Value: true} }
func dSS(s ...string) types.AttributeValue {
	return &types.AttributeValueMemberSS{Value: s}
}
func dNS(n ...string) types.AttributeValue {
	return &types.AttributeValueMemberNS{Value: n}
}
func dBS(b ...[]byte) types.AttributeValue {
	return &types.AttributeValueMemberBS{Value: b}
}
func dL(v ...types.AttributeValue) types.AttributeValue {
	return &types.AttributeValueMemberL{Value: v}
}
func dM(m map[string]types.AttributeValue) types.AttributeValue {
	return &types.AttributeValueMemberM{Value: m}
}

// dItem is shorthand for an item literal.
type dItem = map[string]types.AttributeValue

// dK is the key of a hash-only table.
func dK(pk string) dItem { return dItem{"pk": dS(pk)} }

// dK2 is the key of a pk (S) / sk (N) table.
func dK2(pk string, sk int) dItem { return dItem{"pk": dS(pk), "sk": dNi(sk)} }

// dWith returns a copy of it with the given attributes added.
func dWith(it dItem, kv ...any) dItem {
	out := make(dItem, len(it)+len(kv)/2)
	for k, v := range it {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1].(types.AttributeValue)
	}
	return out
}

// dCanon renders a value canonically (sets sorted, maps by key) so that two
// values compare equal iff DynamoDB considers them the same.
func dCanon(v types.AttributeValue) string {
	switch v := v.(type) {
	case nil:
		return "<nil>"
	case *types.AttributeValueMemberS:
		return "S:" + strconv.Quote(v.Value)
	case *types.AttributeValueMemberN:
		return "N:" + v.Value
	case *types.AttributeValueMemberB:
		return "B:" + base64.StdEncoding.EncodeToString(v.Value)
	case *types.AttributeValueMemberBOOL:
		return "BOOL:" + strconv.FormatBool(v.Value)
	case *types.AttributeValueMemberNULL:
		return "NULL:" + strconv.FormatBool(v.Value)
	case *types.AttributeValueMemberSS:
		s := make([]string, len(v.Value))
		for i, x := range v.Value {
			s[i] = strconv.Quote(x)
		}
		sort.Strings(s)
		return "SS:[" + strings.Join(s, ",") + "]"
	case *types.AttributeValueMemberNS:
		s := append([]string(nil), v.Value...)
		sort.Strings(s)
		return "NS:[" + strings.Join(s, ",") + "]"
	case *types.AttributeValueMemberBS:
		s := make([]string, len(v.Value))
		for i, x := range v.Value {
			s[i] = base64.StdEncoding.EncodeToString(x)
		}
		sort.Strings(s)
		return "BS:[" + strings.Join(s, ",") + "]"
	case *types.AttributeValueMemberL:
		s := make([]string, len(v.Value))
		for i, x := range v.Value {
			s[i] = dCanon(x)
		}
		return "L:[" + strings.Join(s, ",") + "]"
	case *types.AttributeValueMemberM:
		return "M:" + dCanonItem(v.Value)
	}
	return fmt.Sprintf("?%T", v)
}

// dCanonItem renders an item canonically; nil renders as "<nil>" (absent),
// distinct from "{}".
func dCanonItem(it map[string]types.AttributeValue) string {
	if it == nil {
		return "<nil>"
	}
	keys := make([]string, 0, len(it))
	for k := range it {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(k))
		b.WriteByte('=')
		b.WriteString(dCanon(it[k]))
	}
	b.WriteByte('}')
	return b.String()
}

// dSameItem fails the test unless got and want are the same item.
func dSameItem(t *testing.T, what string, got, want map[string]types.AttributeValue) {
	t.Helper()
	if g, w := dCanonItem(got), dCanonItem(want); g != w {
		t.Errorf("%s:\n got  %s\n want %s", what, g, w)
	}
}

// dPut puts an item, failing the test on error.
func dPut(t *testing.T, cl *dynamodb.Client, table string, item dItem) {
	t.Helper()
	if _, err := cl.PutItem(dCtx(t), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatalf("put into %s: %v", table, err)
	}
}

// dGet reads an item with a strongly consistent GetItem (nil when absent).
func dGet(t *testing.T, cl *dynamodb.Client, table string, key dItem) dItem {
	t.Helper()
	out, err := cl.GetItem(dCtx(t), &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatalf("get from %s: %v", table, err)
	}
	return out.Item
}

// dAPIError returns the smithy.APIError inside err, failing the test when
// there is none.
func dAPIError(t *testing.T, err error) smithy.APIError {
	t.Helper()
	if err == nil {
		t.Fatalf("want an API error, got success")
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an API error, got %T: %v", err, err)
	}
	return ae
}

// dWantErr fails the test unless err is the API error code with exactly
// message msg.
func dWantErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	if err == nil {
		t.Errorf("want %s %q, got success", code, msg)
		return
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Errorf("want %s %q, got %T: %v", code, msg, err, err)
		return
	}
	if ae.ErrorCode() != code || ae.ErrorMessage() != msg {
		t.Errorf("got %s %q\nwant %s %q", ae.ErrorCode(), ae.ErrorMessage(), code, msg)
	}
}

// dWantValidation is dWantErr for ValidationException.
func dWantValidation(t *testing.T, err error, msg string) {
	t.Helper()
	dWantErr(t, err, "ValidationException", msg)
}

// dUnits returns the CapacityUnits of a ConsumedCapacity (-1 when absent).
func dUnits(cc *types.ConsumedCapacity) float64 {
	if cc == nil || cc.CapacityUnits == nil {
		return -1
	}
	return *cc.CapacityUnits
}

// dTotal checks a TOTAL ConsumedCapacity: the table name, the total, and
// the read or write units.
func dTotal(t *testing.T, what string, cc *types.ConsumedCapacity, table string, units float64, read bool) {
	t.Helper()
	if cc == nil {
		t.Errorf("%s: no ConsumedCapacity", what)
		return
	}
	if aws.ToString(cc.TableName) != table || dUnits(cc) != units {
		t.Errorf("%s: ConsumedCapacity %s %v, want %s %v", what, aws.ToString(cc.TableName), dUnits(cc), table, units)
	}
	side := cc.WriteCapacityUnits
	if read {
		side = cc.ReadCapacityUnits
	}
	if side == nil || *side != units {
		t.Errorf("%s: read=%v units %v, want %v", what, read, side, units)
	}
}

// dPad returns a string of n bytes.
func dPad(n int) string { return strings.Repeat("x", n) }
