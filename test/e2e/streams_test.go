package e2e

// The streams suite: real clients (aws-sdk-go-v2 dynamodb and
// dynamodbstreams) against a real server made of the engine, the
// publisher, an embedded NATS server and the Streams API, all on loopback.
// Every name starts with s so that the suites sharing this package do not
// collide.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	stypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/smithy-go"
	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/engine/wire"
	"github.com/godwit-db/godwit/streams"
	"github.com/godwit-db/godwit/streams/embedded"
	"github.com/godwit-db/godwit/test/harness"
	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

const sRegion = "eu-e2e-1"

// sEnv is one regional godwit: engine, publisher, embedded NATS, Streams API.
type sEnv struct {
	t     *testing.T
	db    *engine.DB
	js    jetstream.JetStream
	reg   *prometheus.Registry
	api   *streams.API
	clock *conflict.ManualClock
	url   string
	ddb   *dynamodb.Client
	dds   *dynamodbstreams.Client
}

func sStart(t *testing.T) *sEnv {
	t.Helper()
	log := hclog.New(&hclog.LoggerOptions{Name: "godwit", Level: hclog.Warn, Output: sLogWriter{t}})
	dir := t.TempDir()
	ns, err := embedded.Start(embedded.Config{
		StoreDir: dir + "/nats", Domain: sRegion, Listen: "-",
		MaxStore: 1 << 30, SyncInterval: 100 * time.Millisecond, Logger: log,
	})
	if err != nil {
		t.Fatalf("embedded nats: %v", err)
	}
	t.Cleanup(ns.Shutdown)
	reg := prometheus.NewRegistry()
	pub, err := streams.NewPublisher(streams.PublisherConfig{
		SyncInterval: 100 * time.Millisecond, PollInterval: 50 * time.Millisecond, MaxBytes: 64 << 20,
		Logger: log, Registerer: reg,
	})
	if err != nil {
		t.Fatalf("publisher: %v", err)
	}
	db, err := engine.Open(engine.Config{
		Dir: dir + "/data", Region: sRegion, DefaultPartitions: 4, TTLSweepInterval: -1, NoSync: true,
		Logger: log, Registerer: reg, Listener: pub.Listener(),
	})
	if err != nil {
		t.Fatalf("engine: %v", err)
	}
	pubConn, err := ns.Connect(nats.ReconnectBufSize(-1))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if err := pub.Start(db, pubConn); err != nil {
		t.Fatalf("start publisher: %v", err)
	}
	apiConn, err := ns.Connect()
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	js, err := jetstream.NewWithDomain(apiConn, ns.Domain())
	if err != nil {
		t.Fatal(err)
	}
	clock := conflict.NewManualClock(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC))
	// NB: with the publisher's signal and tail cache, as godwit serve wires
	// it, but answering at once (no RecordsWait), so tests poll as before.
	api, err := streams.NewAPI(db, js, streams.APIConfig{Clock: clock, Published: pub, RecordsWait: -1, Logger: log, Registerer: reg})
	if err != nil {
		t.Fatalf("streams api: %v", err)
	}
	srv := wire.NewServer(wire.Config{Logger: log, Registerer: reg})
	srv.Register(engine.TargetPrefix, db.Operations())
	srv.Register(streams.TargetPrefix, api.Operations())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs, err := srv.NewHTTPServer(wire.HTTPConfig{Transport: harness.HTTPTransport()})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		_ = api.Close()
		apiConn.Close()
		if err := pub.Stop(ctx); err != nil {
			t.Errorf("stop publisher: %v", err)
		}
		pubConn.Close()
		if err := db.Close(); err != nil {
			t.Errorf("close engine: %v", err)
		}
	})
	url := "http://" + ln.Addr().String()
	creds := credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")
	return &sEnv{
		t: t, db: db, js: js, reg: reg, api: api, clock: clock, url: url,
		ddb: dynamodb.New(dynamodb.Options{Region: sRegion, BaseEndpoint: aws.String(url), Credentials: creds, RetryMaxAttempts: 1}),
		dds: dynamodbstreams.New(dynamodbstreams.Options{Region: sRegion, BaseEndpoint: aws.String(url), Credentials: creds, RetryMaxAttempts: 1}),
	}
}

type sLogWriter struct{ t *testing.T }

func (w sLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func sCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// sPoll calls f until it returns true, failing the test after 20s.
func sPoll(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // NB: a poll interval, not a wait for an event
	}
}

func sCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return fmt.Sprint(err)
}

func sWant(t *testing.T, err error, code string) {
	t.Helper()
	if got := sCode(err); got != code {
		t.Fatalf("got %v, want %s", err, code)
	}
}

func sS(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func sN(n int) types.AttributeValue    { return &types.AttributeValueMemberN{Value: fmt.Sprint(n)} }

func (e *sEnv) table(name, viewType string) string {
	e.t.Helper()
	out, err := e.ddb.CreateTable(sCtx(e.t), &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		StreamSpecification:  &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewType(viewType)},
	})
	if err != nil {
		e.t.Fatalf("create %s: %v", name, err)
	}
	arn := aws.ToString(out.TableDescription.LatestStreamArn)
	if arn == "" {
		e.t.Fatalf("CreateTable %s returned no LatestStreamArn", name)
	}
	// The stream is ENABLING (no shards yet) until the publisher made its
	// JetStream stream, as on AWS.
	sPoll(e.t, "the stream of "+name+" to be ENABLED", func() bool {
		d, err := e.dds.DescribeStream(sCtx(e.t), &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn)})
		if err != nil {
			e.t.Fatalf("describe stream: %v", err)
		}
		return d.StreamDescription.StreamStatus == stypes.StreamStatusEnabled
	})
	return arn
}

func (e *sEnv) put(table, pk string, attrs ...any) {
	e.t.Helper()
	item := map[string]types.AttributeValue{"pk": sS(pk)}
	for i := 0; i+1 < len(attrs); i += 2 {
		switch v := attrs[i+1].(type) {
		case int:
			item[attrs[i].(string)] = sN(v)
		case string:
			item[attrs[i].(string)] = sS(v)
		}
	}
	if _, err := e.ddb.PutItem(sCtx(e.t), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		e.t.Fatalf("put %s: %v", pk, err)
	}
}

// shards pages DescribeStream with the given Limit.
func (e *sEnv) shards(arn string, limit int32) (*stypes.StreamDescription, []stypes.Shard) {
	e.t.Helper()
	in := &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn)}
	if limit > 0 {
		in.Limit = aws.Int32(limit)
	}
	var all []stypes.Shard
	for {
		out, err := e.dds.DescribeStream(sCtx(e.t), in)
		if err != nil {
			e.t.Fatalf("describe stream: %v", err)
		}
		all = append(all, out.StreamDescription.Shards...)
		if out.StreamDescription.LastEvaluatedShardId == nil {
			return out.StreamDescription, all
		}
		in.ExclusiveStartShardId = out.StreamDescription.LastEvaluatedShardId
	}
}

// readAll reads every shard from TRIM_HORIZON to its current end; closed
// reports whether every shard ended without a NextShardIterator.
func (e *sEnv) readAll(arn string) (recs []stypes.Record, closed bool) {
	e.t.Helper()
	closed = true
	_, shards := e.shards(arn, 0)
	for _, sh := range shards {
		it, err := e.dds.GetShardIterator(sCtx(e.t), &dynamodbstreams.GetShardIteratorInput{
			StreamArn: aws.String(arn), ShardId: sh.ShardId, ShardIteratorType: stypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			e.t.Fatalf("iterator: %v", err)
		}
		next := it.ShardIterator
		var prev *big.Int
		for next != nil {
			out, err := e.dds.GetRecords(sCtx(e.t), &dynamodbstreams.GetRecordsInput{ShardIterator: next})
			if err != nil {
				e.t.Fatalf("get records: %v", err)
			}
			for _, r := range out.Records {
				n, ok := new(big.Int).SetString(aws.ToString(r.Dynamodb.SequenceNumber), 10)
				if !ok || len(*r.Dynamodb.SequenceNumber) < 21 || prev != nil && n.Cmp(prev) <= 0 {
					e.t.Fatalf("shard %s: sequence number %s after %v", *sh.ShardId, *r.Dynamodb.SequenceNumber, prev)
				}
				prev = n
			}
			recs = append(recs, out.Records...)
			if out.NextShardIterator != nil && len(out.Records) == 0 {
				closed = false
				break
			}
			next = out.NextShardIterator
		}
	}
	return recs, closed
}

// waitRecords polls until the stream shows n records and returns them.
func (e *sEnv) waitRecords(arn string, n int) []stypes.Record {
	e.t.Helper()
	var recs []stypes.Record
	deadline := time.Now().Add(20 * time.Second)
	for {
		recs, _ = e.readAll(arn)
		if len(recs) >= n {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %d records; have %d: %s", n, len(recs), sEvents(recs))
		}
		time.Sleep(5 * time.Millisecond) // NB: a poll interval, not a wait for an event
	}
	if len(recs) != n {
		e.t.Fatalf("%d records, want %d", len(recs), n)
	}
	return recs
}

func sPK(r stypes.Record) string {
	if v, ok := r.Dynamodb.Keys["pk"].(*stypes.AttributeValueMemberS); ok {
		return v.Value
	}
	return "?"
}

// sEvents renders records as "pk:EVENT" in per-item order, items sorted.
func sEvents(recs []stypes.Record) string {
	by := map[string][]string{}
	for _, r := range recs {
		by[sPK(r)] = append(by[sPK(r)], string(r.EventName))
	}
	var keys []string
	for k := range by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		out = append(out, k+":"+strings.Join(by[k], ","))
	}
	return strings.Join(out, " ")
}

// TestStreamsEventNames drives every write operation through the real
// publisher: INSERT iff the item did not exist, MODIFY iff it did
// (replacing PutItem included), REMOVE on delete; nothing for no-op
// writes, deletes of missing items and failed conditions; one record per
// item of BatchWriteItem and TransactWriteItems (§4.3, §9 items 1-3).
func TestStreamsEventNames(t *testing.T) {
	e := sStart(t)
	arn := e.table("events", "NEW_AND_OLD_IMAGES")
	ctx := sCtx(t)
	tbl := aws.String("events")

	e.put("events", "a", "v", 1)                                              // INSERT
	e.put("events", "a", "w", 2)                                              // MODIFY (replace)
	e.put("events", "a", "w", 2)                                              // nothing
	_, err := e.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: tbl, // INSERT (upsert)
		Key: map[string]types.AttributeValue{"pk": sS("b")}, UpdateExpression: aws.String("SET v = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": sN(1)}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: tbl, // nothing (same value)
		Key: map[string]types.AttributeValue{"pk": sS("b")}, UpdateExpression: aws.String("SET v = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": sN(1)}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: tbl, // nothing (failed condition)
		Key: map[string]types.AttributeValue{"pk": sS("b")}, ConditionExpression: aws.String("v = :x"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":x": sN(7)}})
	sWant(t, err, "ConditionalCheckFailedException")
	if _, err := e.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: tbl, // nothing (missing)
		Key: map[string]types.AttributeValue{"pk": sS("nobody")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ddb.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{
		"events": { // INSERT c, INSERT d, REMOVE a
			{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{"pk": sS("c")}}},
			{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{"pk": sS("d")}}},
			{DeleteRequest: &types.DeleteRequest{Key: map[string]types.AttributeValue{"pk": sS("a")}}},
		}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ddb.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: tbl, Item: map[string]types.AttributeValue{"pk": sS("c"), "v": sN(3)}}}, // MODIFY c
		{Update: &types.Update{TableName: tbl, Key: map[string]types.AttributeValue{"pk": sS("e")}, // INSERT e
			UpdateExpression: aws.String("SET v = :v"), ExpressionAttributeValues: map[string]types.AttributeValue{":v": sN(4)}}},
		{Delete: &types.Delete{TableName: tbl, Key: map[string]types.AttributeValue{"pk": sS("d")}}}, // REMOVE d
	}}); err != nil {
		t.Fatal(err)
	}
	_, err = e.ddb.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{ // cancelled: nothing
		{Put: &types.Put{TableName: tbl, Item: map[string]types.AttributeValue{"pk": sS("f")}}},
		{ConditionCheck: &types.ConditionCheck{TableName: tbl, Key: map[string]types.AttributeValue{"pk": sS("e")},
			ConditionExpression: aws.String("attribute_not_exists(pk)")}},
	}})
	sWant(t, err, "TransactionCanceledException")

	recs := e.waitRecords(arn, 9)
	want := "a:INSERT,MODIFY,REMOVE b:INSERT c:INSERT,MODIFY d:INSERT,REMOVE e:INSERT"
	if got := sEvents(recs); got != want {
		t.Fatalf("events\n got %s\nwant %s", got, want)
	}
	for _, r := range recs {
		d := r.Dynamodb
		if aws.ToString(r.AwsRegion) != sRegion || aws.ToString(r.EventVersion) != "1.1" || aws.ToString(r.EventSource) != "aws:dynamodb" ||
			d.ApproximateCreationDateTime == nil || d.Keys["pk"] == nil || r.UserIdentity != nil {
			t.Errorf("record %+v", r)
		}
		if (r.EventName == stypes.OperationTypeInsert) != (d.OldImage == nil) || (r.EventName == stypes.OperationTypeRemove) != (d.NewImage == nil) {
			t.Errorf("%s %s: OldImage %v NewImage %v", sPK(r), r.EventName, d.OldImage, d.NewImage)
		}
	}
}

// TestStreamsViewTypesAndShards: each view type's images; shards listed
// sorted and paged one at a time; every iterator type.
func TestStreamsViewTypesAndShards(t *testing.T) {
	e := sStart(t)
	for _, vt := range []string{"KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"} {
		name := "views-" + strings.ToLower(strings.ReplaceAll(vt, "_", "-"))
		arn := e.table(name, vt)
		e.put(name, "k", "v", 1)
		e.put(name, "k", "v", 2)
		if _, err := e.ddb.DeleteItem(sCtx(t), &dynamodb.DeleteItemInput{TableName: aws.String(name), Key: map[string]types.AttributeValue{"pk": sS("k")}}); err != nil {
			t.Fatal(err)
		}
		for _, r := range e.waitRecords(arn, 3) {
			d := r.Dynamodb
			wantNew := strings.Contains(vt, "NEW") && r.EventName != stypes.OperationTypeRemove
			wantOld := strings.Contains(vt, "OLD") && r.EventName != stypes.OperationTypeInsert
			if (d.NewImage != nil) != wantNew || (d.OldImage != nil) != wantOld || string(d.StreamViewType) != vt || len(d.Keys) != 1 {
				t.Errorf("%s %s: NewImage %v OldImage %v view %s", vt, r.EventName, d.NewImage, d.OldImage, d.StreamViewType)
			}
			if d.NewImage != nil && (d.NewImage["pk"] == nil || d.NewImage["v"] == nil) || d.OldImage != nil && (d.OldImage["pk"] == nil || d.OldImage["v"] == nil) {
				t.Errorf("%s %s: partial image", vt, r.EventName)
			}
		}
	}

	arn := e.table("paging", "KEYS_ONLY")
	desc, one := e.shards(arn, 1)
	_, all := e.shards(arn, 0)
	if len(one) != 4 || len(all) != 4 || desc.StreamStatus != stypes.StreamStatusEnabled {
		t.Fatalf("%d shards paged one by one, %d at once; status %s", len(one), len(all), desc.StreamStatus)
	}
	for i := range all {
		if *one[i].ShardId != *all[i].ShardId || i > 0 && *all[i].ShardId <= *all[i-1].ShardId {
			t.Fatalf("shards not sorted or paging differs: %v", all)
		}
	}
	for i := 0; i < 40; i++ {
		e.put("paging", fmt.Sprintf("k%02d", i))
	}
	recs := e.waitRecords(arn, 40)
	// AT/AFTER the first record of a shard; LATEST sees only newer ones.
	first := recs[0]
	var shard string
	for _, sh := range all {
		it, _ := e.dds.GetShardIterator(sCtx(t), &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(arn), ShardId: sh.ShardId,
			ShardIteratorType: stypes.ShardIteratorTypeAtSequenceNumber, SequenceNumber: first.Dynamodb.SequenceNumber})
		if it != nil {
			shard = *sh.ShardId
		}
	}
	if shard == "" {
		t.Fatal("no shard accepts its own first sequence number")
	}
	for typ, wantFirst := range map[stypes.ShardIteratorType]bool{stypes.ShardIteratorTypeAtSequenceNumber: true, stypes.ShardIteratorTypeAfterSequenceNumber: false} {
		it, err := e.dds.GetShardIterator(sCtx(t), &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(arn), ShardId: aws.String(shard),
			ShardIteratorType: typ, SequenceNumber: first.Dynamodb.SequenceNumber})
		if err != nil {
			t.Fatal(err)
		}
		out, err := e.dds.GetRecords(sCtx(t), &dynamodbstreams.GetRecordsInput{ShardIterator: it.ShardIterator, Limit: aws.Int32(1)})
		if err != nil || len(out.Records) != 1 {
			t.Fatalf("%s: %v %v", typ, out, err)
		}
		if got := *out.Records[0].Dynamodb.SequenceNumber == *first.Dynamodb.SequenceNumber; got != wantFirst {
			t.Errorf("%s %s: first record %s", typ, *first.Dynamodb.SequenceNumber, *out.Records[0].Dynamodb.SequenceNumber)
		}
	}
	_, err := e.dds.GetShardIterator(sCtx(t), &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(arn), ShardId: aws.String(shard),
		ShardIteratorType: stypes.ShardIteratorTypeTrimHorizon, SequenceNumber: first.Dynamodb.SequenceNumber})
	sWant(t, err, "ValidationException")
	_, err = e.dds.GetShardIterator(sCtx(t), &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(arn), ShardId: aws.String(shard),
		ShardIteratorType: stypes.ShardIteratorTypeAfterSequenceNumber})
	sWant(t, err, "ValidationException")
	_, err = e.dds.GetShardIterator(sCtx(t), &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(arn),
		ShardId: aws.String("shardId-00000000000000000042-00000000"), ShardIteratorType: stypes.ShardIteratorTypeLatest})
	sWant(t, err, "ResourceNotFoundException")
}

// TestStreamsIteratorExpiryAndTrim: iterators expire 15 minutes after they
// were issued (by the injected clock); a sequence number older than the
// oldest retained record is TrimmedDataAccessException.
func TestStreamsIteratorExpiryAndTrim(t *testing.T) {
	e := sStart(t)
	arn := e.table("expiry", "KEYS_ONLY")
	// NB: the first record is published before the others exist, so it
	// travels alone and the purge below can trim it.
	e.put("expiry", "same", "v", 0)
	e.waitRecords(arn, 1)
	for i := 1; i < 6; i++ {
		e.put("expiry", "same", "v", i)
	}
	recs := e.waitRecords(arn, 6)
	_, shards := e.shards(arn, 0)
	var shard string
	for _, sh := range shards {
		if *sh.SequenceNumberRange.StartingSequenceNumber == *recs[0].Dynamodb.SequenceNumber {
			shard = *sh.ShardId
		}
	}
	if shard == "" {
		t.Fatalf("no shard starts at the first record %s", *recs[0].Dynamodb.SequenceNumber)
	}
	it, err := e.dds.GetShardIterator(sCtx(t), &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(arn), ShardId: aws.String(shard),
		ShardIteratorType: stypes.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: recs[0].Dynamodb.SequenceNumber})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(15*time.Minute + time.Millisecond)
	_, err = e.dds.GetRecords(sCtx(t), &dynamodbstreams.GetRecordsInput{ShardIterator: it.ShardIterator})
	var expired *stypes.ExpiredIteratorException
	if !errors.As(err, &expired) {
		t.Fatalf("16 minutes on: %v, want ExpiredIteratorException", err)
	}

	// NB: at the first record, which the purge below trims for sure; the
	// record after it may share the kept last message (a message carries
	// several records when the publisher falls behind).
	it, err = e.dds.GetShardIterator(sCtx(t), &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(arn), ShardId: aws.String(shard),
		ShardIteratorType: stypes.ShardIteratorTypeAtSequenceNumber, SequenceNumber: recs[0].Dynamodb.SequenceNumber})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := e.db.Table("expiry")
	s, err := e.js.Stream(sCtx(t), streams.StreamName(info.ID, info.Stream.Label))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(sCtx(t), jetstream.WithPurgeKeep(1)); err != nil {
		t.Fatal(err)
	}
	sPoll(t, "the trim to show", func() bool {
		_, err := e.dds.GetShardIterator(sCtx(t), &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(arn), ShardId: aws.String(shard),
			ShardIteratorType: stypes.ShardIteratorTypeAtSequenceNumber, SequenceNumber: recs[0].Dynamodb.SequenceNumber})
		var trimmed *stypes.TrimmedDataAccessException
		return errors.As(err, &trimmed)
	})
	_, err = e.dds.GetRecords(sCtx(t), &dynamodbstreams.GetRecordsInput{ShardIterator: it.ShardIterator})
	var trimmed *stypes.TrimmedDataAccessException
	if !errors.As(err, &trimmed) {
		t.Fatalf("iterator into trimmed data: %v", err)
	}
	// The purge kept the last message, which holds the last record and may
	// hold the ones before it (a message carries several records).
	got, _ := e.readAll(arn)
	lastPos, _ := streams.ParseSequenceNumber(*recs[5].Dynamodb.SequenceNumber)
	lastMsg, _ := streams.SplitPos(lastPos)
	if len(got) == 0 || len(got) > len(recs) {
		t.Fatalf("TRIM_HORIZON after the trim: %d records", len(got))
	}
	for i, r := range got {
		want := recs[len(recs)-len(got)+i]
		pos, _ := streams.ParseSequenceNumber(*r.Dynamodb.SequenceNumber)
		if msg, _ := streams.SplitPos(pos); *r.Dynamodb.SequenceNumber != *want.Dynamodb.SequenceNumber || msg != lastMsg {
			t.Errorf("TRIM_HORIZON after the trim: record %d is %s, want %s of the kept message", i, *r.Dynamodb.SequenceNumber, *want.Dynamodb.SequenceNumber)
		}
	}
}

// TestStreamsDisableReenable: the publisher seals a disabled stream: it
// stays listed and readable, DISABLED, shards closed with
// EndingSequenceNumber, last pages without NextShardIterator; re-enabling
// makes a new ARN; enabling twice or switching the view type in place is
// ValidationException (§4.1, §9 items 6-7).
func TestStreamsDisableReenable(t *testing.T) {
	e := sStart(t)
	arn1 := e.table("toggle", "NEW_IMAGE")
	ctx := sCtx(t)
	for i := 0; i < 12; i++ {
		e.put("toggle", fmt.Sprintf("k%d", i))
	}
	for _, vt := range []types.StreamViewType{types.StreamViewTypeNewImage, types.StreamViewTypeOldImage} {
		_, err := e.ddb.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String("toggle"),
			StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: vt}})
		sWant(t, err, "ValidationException")
	}
	if _, err := e.ddb.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String("toggle"),
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(false)}}); err != nil {
		t.Fatal(err)
	}
	var desc *stypes.StreamDescription
	sPoll(t, "the stream to be DISABLED", func() bool {
		desc, _ = e.shards(arn1, 0)
		return desc.StreamStatus == stypes.StreamStatusDisabled
	})
	_, shards := e.shards(arn1, 1)
	for _, sh := range shards {
		if sh.SequenceNumberRange.EndingSequenceNumber == nil {
			t.Errorf("shard %s of a DISABLED stream has no EndingSequenceNumber", *sh.ShardId)
		}
	}
	recs, closed := e.readAll(arn1)
	if len(recs) != 12 || !closed {
		t.Fatalf("disabled stream: %d records, closed %v", len(recs), closed)
	}
	td, err := e.ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("toggle")})
	if err != nil || aws.ToString(td.Table.LatestStreamArn) != arn1 || td.Table.StreamSpecification != nil {
		t.Errorf("table after disable: LatestStreamArn %q, spec %+v (%v)", aws.ToString(td.Table.LatestStreamArn), td.Table.StreamSpecification, err)
	}

	up, err := e.ddb.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String("toggle"),
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeKeysOnly}})
	if err != nil {
		t.Fatal(err)
	}
	arn2 := aws.ToString(up.TableDescription.LatestStreamArn)
	if arn2 == "" || arn2 == arn1 {
		t.Fatalf("re-enable: ARN %q (old %q)", arn2, arn1)
	}
	e.put("toggle", "after")
	if recs := e.waitRecords(arn2, 1); sPK(recs[0]) != "after" {
		t.Errorf("new stream: %s", sEvents(recs))
	}
	ls, err := e.dds.ListStreams(ctx, &dynamodbstreams.ListStreamsInput{TableName: aws.String("toggle")})
	if err != nil || len(ls.Streams) != 2 {
		t.Fatalf("ListStreams: %v %v", ls, err)
	}
	if got, _ := e.readAll(arn1); len(got) != 12 {
		t.Errorf("old stream after re-enable: %d records", len(got))
	}
}

// TestStreamsConsumerOverNATS: the consumer library on JetStream, while
// writes go on: stopped and resumed from its saved Position, it sees every
// change exactly once, each item's in order.
func TestStreamsConsumerOverNATS(t *testing.T) {
	e := sStart(t)
	e.table("feed", "NEW_IMAGE")
	const n = 300
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			_, err := e.ddb.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{TableName: aws.String("feed"),
				Key: map[string]types.AttributeValue{"pk": sS(fmt.Sprintf("i%d", i%17))}, UpdateExpression: aws.String("SET v = :v"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":v": sN(i)}})
			if err != nil {
				t.Errorf("update: %v", err)
				return
			}
		}
	}()
	var ts streams.TableStream
	sPoll(t, "the table stream in JetStream", func() bool {
		var ok bool
		ts, ok, _ = streams.LatestTableStream(sCtx(t), e.js, sRegion, "feed")
		return ok
	})
	var pos streams.Position
	last := map[string]int{}
	seen := map[uint64]bool{}
	for len(seen) < n {
		src, err := streams.NewJetStreamSource(sCtx(t), e.js, ts.Name, streams.JetStreamSourceConfig{IdleWait: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		c, err := streams.NewConsumer(sCtx(t), src, streams.ConsumerConfig{Resume: pos, Buffer: 16})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		for k := 0; k < 37 && len(seen) < n; k++ {
			r, err := c.Next(ctx)
			if err != nil {
				t.Fatalf("after %d records: %v", len(seen), err)
			}
			if seen[r.Seq] {
				t.Fatalf("record %d delivered twice", r.Seq)
			}
			seen[r.Seq] = true
			pk := r.Event.Dynamodb.Keys["pk"].S
			var v int
			fmt.Sscan(r.Event.Dynamodb.NewImage["v"].S, &v)
			if p, ok := last[pk]; ok && v <= p {
				t.Fatalf("item %s: %d after %d", pk, v, p)
			}
			last[pk] = v
		}
		cancel()
		pos = c.Position()
		_ = c.Close()
	}
	wg.Wait()
}

// TestStreamsTail runs `godwit tail` against the server: one JSON record
// per line in the Streams record shape, following new writes, exiting 0 on
// SIGINT.
func TestStreamsTail(t *testing.T) {
	e := sStart(t)
	e.table("tailed", "NEW_AND_OLD_IMAGES")
	e.put("tailed", "before", "v", 1)
	cmd := exec.Command(harness.Binary(t), "tail", "tailed", "--from", "trim-horizon", "--endpoint", e.url, "--region", sRegion, "--poll", "20ms")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	read := func() map[string]any {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("tail ended; stderr: %s", stderr.String())
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
			return rec
		case <-time.After(20 * time.Second):
			t.Fatalf("no record from tail; stderr: %s", stderr.String())
		}
		return nil
	}
	first := read()
	e.put("tailed", "before", "v", 2)
	second := read()
	for i, rec := range []map[string]any{first, second} {
		d, _ := rec["dynamodb"].(map[string]any)
		want := []string{"INSERT", "MODIFY"}[i]
		if rec["eventName"] != want || rec["eventSource"] != "aws:dynamodb" || rec["awsRegion"] != sRegion || d == nil || d["Keys"] == nil {
			t.Errorf("record %d: %v", i, rec)
		}
		if ts, ok := d["ApproximateCreationDateTime"].(float64); !ok || ts != float64(int64(ts)) {
			t.Errorf("ApproximateCreationDateTime %v", d["ApproximateCreationDateTime"])
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for range lines {
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("tail exit: %v; stderr: %s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("tail did not stop on SIGINT")
	}
}

// TestStreamsVisibilityLatency measures how long an acknowledged PutItem
// takes to show in GetRecords through the real publisher (logged, not
// asserted: tests assert behaviour, benchmarks report speed). Each write
// must show, in order, exactly once.
func TestStreamsVisibilityLatency(t *testing.T) {
	e := sStart(t)
	arn := e.table("latency", "NEW_IMAGE")
	e.put("latency", "hot", "v", -1)
	recs := e.waitRecords(arn, 1)
	_, shards := e.shards(arn, 0)
	var it *string
	for _, sh := range shards {
		out, err := e.dds.GetShardIterator(sCtx(t), &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(arn), ShardId: sh.ShardId,
			ShardIteratorType: stypes.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: recs[0].Dynamodb.SequenceNumber})
		if err == nil {
			it = out.ShardIterator
		}
	}
	if it == nil {
		t.Fatal("no shard holds the first record")
	}
	const n = 200
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		e.put("latency", "hot", "v", i)
		acked := time.Now()
		for {
			out, err := e.dds.GetRecords(sCtx(t), &dynamodbstreams.GetRecordsInput{ShardIterator: it})
			if err != nil {
				t.Fatal(err)
			}
			it = out.NextShardIterator
			if len(out.Records) > 1 {
				t.Fatalf("write %d: %d records", i, len(out.Records))
			}
			if len(out.Records) == 1 {
				v := out.Records[0].Dynamodb.NewImage["v"].(*stypes.AttributeValueMemberN).Value
				if v != fmt.Sprint(i) {
					t.Fatalf("write %d shows as %s", i, v)
				}
				lat = append(lat, time.Since(acked))
				break
			}
			if time.Since(acked) > 20*time.Second {
				t.Fatalf("write %d never showed", i)
			}
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("PutItem acknowledged -> GetRecords: p50 %v p99 %v max %v (%d writes, polling without pause)",
		lat[n/2], lat[n*99/100], lat[n-1], n)
	// The shard's end was read from the publisher's tail cache.
	if hits := e.counter("godwit_streams_get_records_cache_hits_total"); hits < n {
		t.Errorf("%v GetRecords answered from the tail cache, want at least %d", hits, n)
	}
}

// counter is the value of an unlabelled counter in the env's registry.
func (e *sEnv) counter(name string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	e.t.Fatalf("no counter %s", name)
	return 0
}
