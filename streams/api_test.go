package streams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/smithy-go"
	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/attr"
	"github.com/godwit-db/godwit/engine/wire"
	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// The reader tests (prefix rt) run a real engine, a real embedded NATS
// server with JetStream and the real wire server on a loopback port, and
// talk to them with the unmodified aws-sdk-go-v2 clients. Records reach
// JetStream through rtEnv.publish, a synchronous stand-in for the
// publisher that writes exactly the layout of layout.go, so each test
// decides when records become visible, and can trim or seal streams.

type rtEnv struct {
	t     testing.TB
	ns    *server.Server
	nc    *nats.Conn
	js    jetstream.JetStream
	db    *engine.DB
	api   *API
	clock *conflict.ManualClock
	reg   *prometheus.Registry
	url   string
	ddb   *dynamodb.Client
	dds   *dynamodbstreams.Client

	mu       sync.Mutex
	created  map[string]bool   // JetStream streams made by publish
	viewType map[string]string // label -> view type, remembered at enable

	// batch, when set, is asked by publish how many consecutive records
	// (of one partition, label and origin) the next message may carry:
	// layout 2 messages. Unset: one record per message.
	batch func() int
	// published, when set, is told of each message publish stores.
	published func(info engine.TableInfo, part int, m *nats.Msg, out uint64, ack *jetstream.PubAck)
}

const rtRegion = "eu-test-1"

// rtNATS starts an embedded JetStream server with no listener and connects
// to it in process.
func rtNATS(t testing.TB) (*server.Server, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	ns, err := server.NewServer(&server.Options{
		ServerName:         "rt",
		JetStream:          true,
		JetStreamDomain:    rtRegion,
		StoreDir:           t.TempDir(),
		JetStreamMaxMemory: 64 << 20,
		JetStreamMaxStore:  1 << 30,
		DontListen:         true,
		NoSigs:             true,
		NoLog:              true,
	})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.NewWithDomain(nc, rtRegion)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return ns, nc, js
}

func rtStart(t testing.TB, partitions int) *rtEnv {
	t.Helper()
	e := &rtEnv{t: t, created: map[string]bool{}, viewType: map[string]string{}}
	e.ns, e.nc, e.js = rtNATS(t)
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: rtLogWriter{t}})
	db, err := engine.Open(engine.Config{
		Dir: t.TempDir(), Region: rtRegion, DefaultPartitions: partitions,
		TTLSweepInterval: -1, NoSync: true, Logger: log,
	})
	if err != nil {
		t.Fatalf("open engine: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	e.db = db
	e.clock = conflict.NewManualClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	e.reg = prometheus.NewRegistry()
	e.api, err = NewAPI(db, e.js, APIConfig{Clock: e.clock, Logger: log, Registerer: e.reg})
	if err != nil {
		t.Fatalf("new api: %v", err)
	}
	srv := wire.NewServer(wire.Config{Logger: log})
	srv.Register(engine.TargetPrefix, db.Operations())
	srv.Register(TargetPrefix, e.api.Operations())
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	e.url = hs.URL
	creds := credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")
	e.ddb = dynamodb.New(dynamodb.Options{Region: rtRegion, BaseEndpoint: aws.String(hs.URL), Credentials: creds, RetryMaxAttempts: 1})
	e.dds = dynamodbstreams.New(dynamodbstreams.Options{Region: rtRegion, BaseEndpoint: aws.String(hs.URL), Credentials: creds, RetryMaxAttempts: 1})
	return e
}

type rtLogWriter struct{ t testing.TB }

func (w rtLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func rtCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// createTable makes a table (hash key pk:S, and sort key sk:N when withSort)
// with a stream of viewType ("" for none).
func (e *rtEnv) createTable(name, viewType string, withSort bool) {
	e.t.Helper()
	in := &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
	}
	if withSort {
		in.AttributeDefinitions = append(in.AttributeDefinitions, ddbtypes.AttributeDefinition{AttributeName: aws.String("sk"), AttributeType: ddbtypes.ScalarAttributeTypeN})
		in.KeySchema = append(in.KeySchema, ddbtypes.KeySchemaElement{AttributeName: aws.String("sk"), KeyType: ddbtypes.KeyTypeRange})
	}
	if viewType != "" {
		in.StreamSpecification = &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewType(viewType)}
	}
	if _, err := e.ddb.CreateTable(rtCtx(e.t), in); err != nil {
		e.t.Fatalf("create table %s: %v", name, err)
	}
	if viewType != "" {
		e.ensure(name)
	}
}

// ensure creates the JetStream stream of table's enabled stream, as the
// publisher does when a stream is enabled.
func (e *rtEnv) ensure(table string) string {
	e.t.Helper()
	info, ok := e.db.Table(table)
	if !ok || info.Stream == nil {
		e.t.Fatalf("table %s has no enabled stream", table)
	}
	e.mu.Lock()
	e.viewType[info.Stream.Label] = info.Stream.ViewType
	e.mu.Unlock()
	return e.ensureStream(info, info.Stream.Label, 0)
}

func (e *rtEnv) ensureStream(info engine.TableInfo, label string, maxMsgs int64) string {
	e.t.Helper()
	name := StreamName(info.ID, label)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.created[name] {
		return name
	}
	created, err := time.Parse(streamLabelLayout, label)
	if err != nil {
		e.t.Fatalf("label %q: %v", label, err)
	}
	md := map[string]string{
		MetaTable: info.Name, MetaTableID: strconv.FormatUint(uint64(info.ID), 10), MetaLabel: label,
		MetaViewType: e.viewType[label], MetaPartitions: strconv.Itoa(info.Partitions), MetaRegion: rtRegion,
		MetaCreated: strconv.FormatInt(created.UnixMilli(), 10), MetaHashKey: info.HashKey + ":" + info.HashType.String(),
		MetaLayout: layoutVersion,
	}
	if info.RangeKey != "" {
		md[MetaRangeKey] = info.RangeKey + ":" + info.RangeType.String()
	}
	if maxMsgs == 0 {
		maxMsgs = -1
	}
	_, err = e.js.CreateStream(rtCtx(e.t), jetstream.StreamConfig{
		Name: name, Subjects: []string{SubjectWildcard(rtRegion, info.ID, label)},
		MaxAge: 24 * time.Hour, MaxMsgs: maxMsgs, Duplicates: 10 * time.Minute, Storage: jetstream.FileStorage,
		AllowDirect: true, Metadata: md,
	})
	if err != nil {
		e.t.Fatalf("create stream %s: %v", name, err)
	}
	e.created[name] = true
	return name
}

// publish moves every outbox entry of every table to JetStream, in
// partition order, with layout.go's subjects and headers: one record per
// message, or as many as e.batch allows.
func (e *rtEnv) publish() {
	e.t.Helper()
	ctx := rtCtx(e.t)
	for _, info := range e.db.Tables() {
		for p := 0; p < info.Partitions; p++ {
			changes, err := e.db.ReadOutbox(info.ID, p, 0, 1<<20)
			if err != nil {
				e.t.Fatalf("read outbox: %v", err)
			}
			for i := 0; i < len(changes); {
				c := changes[i]
				e.ensureStream(info, c.StreamLabel, 0)
				n := 1
				if e.batch != nil {
					n = max(1, min(e.batch(), MaxRecordsPerMessage))
				}
				j := i + 1
				for j < len(changes) && j-i < n && changes[j].StreamLabel == c.StreamLabel && changes[j].Origin == c.Origin {
					j++
				}
				m := rtMsg(info.ID, p, changes[i:j])
				ack, err := e.js.PublishMsg(ctx, m)
				if err != nil {
					e.t.Fatalf("publish: %v", err)
				}
				if e.published != nil {
					e.published(info, p, m, changes[j-1].Seq, ack)
				}
				i = j
			}
			if n := len(changes); n > 0 {
				if err := e.db.TrimOutbox(info.ID, p, changes[n-1].Seq); err != nil {
					e.t.Fatalf("trim outbox: %v", err)
				}
			}
		}
	}
}

// rtMsg is the layout 2 message of consecutive changes of one partition,
// label and origin (a layout 1 message for one change).
func rtMsg(tableID uint32, part int, cs []*engine.Change) *nats.Msg {
	first, last := cs[0], cs[len(cs)-1]
	m := nats.NewMsg(Subject(rtRegion, tableID, first.StreamLabel, part))
	if len(cs) == 1 {
		m.Data = first.AppendBinary(nil)
	} else {
		for _, c := range cs {
			m.Data = AppendRecord(m.Data, c.AppendBinary(nil))
		}
		m.Header.Set(HeaderCount, strconv.Itoa(len(cs)))
	}
	m.Header.Set(HeaderMsgID, MsgID(tableID, first.StreamLabel, part, first.Seq))
	m.Header.Set(HeaderOrigin, first.Origin)
	m.Header.Set(HeaderSeq, strconv.FormatUint(last.Seq, 10))
	m.Header.Set(HeaderLayout, layoutVersion)
	return m
}

// seal marks a table stream disabled, as the publisher does once it has
// drained a disabled stream's outbox.
func (e *rtEnv) seal(table, label string) {
	e.t.Helper()
	info, _ := e.db.Table(table)
	ctx := rtCtx(e.t)
	s, err := e.js.Stream(ctx, StreamName(info.ID, label))
	if err != nil {
		e.t.Fatalf("stream: %v", err)
	}
	cfg := s.CachedInfo().Config
	md := map[string]string{}
	for k, v := range cfg.Metadata {
		md[k] = v
	}
	md[MetaDisabled] = strconv.FormatInt(time.Now().UnixMilli(), 10)
	cfg.Metadata = md
	if _, err := e.js.UpdateStream(ctx, cfg); err != nil {
		e.t.Fatalf("update stream: %v", err)
	}
}

func (e *rtEnv) arn(table string) string {
	e.t.Helper()
	info, ok := e.db.Table(table)
	if !ok || info.LatestStreamLabel == "" {
		e.t.Fatalf("table %s has no stream", table)
	}
	return StreamARN(rtRegion, e.db.AccountID(), table, info.LatestStreamLabel)
}

func (e *rtEnv) shards(arn string) []types.Shard {
	e.t.Helper()
	out, err := e.dds.DescribeStream(rtCtx(e.t), &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn)})
	if err != nil {
		e.t.Fatalf("describe stream: %v", err)
	}
	return out.StreamDescription.Shards
}

func (e *rtEnv) iterator(arn, shard string, typ types.ShardIteratorType, seq string) (string, error) {
	in := &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(arn), ShardId: aws.String(shard), ShardIteratorType: typ}
	if seq != "" {
		in.SequenceNumber = aws.String(seq)
	}
	out, err := e.dds.GetShardIterator(rtCtx(e.t), in)
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ShardIterator), nil
}

// readShard reads a shard from it until a page comes back empty (open
// shard) or without NextShardIterator (closed shard).
func (e *rtEnv) readShard(it string) (recs []types.Record, closed bool) {
	e.t.Helper()
	for it != "" {
		out, err := e.dds.GetRecords(rtCtx(e.t), &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String(it)})
		if err != nil {
			e.t.Fatalf("get records: %v", err)
		}
		recs = append(recs, out.Records...)
		if out.NextShardIterator == nil {
			return recs, true
		}
		if len(out.Records) == 0 {
			return recs, false
		}
		it = *out.NextShardIterator
	}
	return recs, false
}

// readAll reads every shard of a stream from TRIM_HORIZON.
func (e *rtEnv) readAll(arn string) []types.Record {
	e.t.Helper()
	var all []types.Record
	for _, sh := range e.shards(arn) {
		it, err := e.iterator(arn, *sh.ShardId, types.ShardIteratorTypeTrimHorizon, "")
		if err != nil {
			e.t.Fatalf("iterator: %v", err)
		}
		recs, _ := e.readShard(it)
		rtCheckSequence(e.t, recs)
		all = append(all, recs...)
	}
	return all
}

// rtCheckSequence asserts the rules of sequence numbers within a shard:
// decimal, 21 to 40 digits, strictly increasing as big integers.
func rtCheckSequence(t testing.TB, recs []types.Record) {
	t.Helper()
	var prev *big.Int
	for _, r := range recs {
		s := aws.ToString(r.Dynamodb.SequenceNumber)
		n, ok := new(big.Int).SetString(s, 10)
		if !ok || len(s) < 21 || len(s) > 40 || s[0] == '0' {
			t.Fatalf("sequence number %q: want 21-40 decimal digits", s)
		}
		if prev != nil && n.Cmp(prev) <= 0 {
			t.Fatalf("sequence number %s does not grow past %s", n, prev)
		}
		prev = n
	}
}

func rtCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err == nil {
		return ""
	}
	return "not an API error: " + err.Error()
}

func rtWantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := rtCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func rtS(s string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: s} }
func rtN(n int) ddbtypes.AttributeValue {
	return &ddbtypes.AttributeValueMemberN{Value: strconv.Itoa(n)}
}

func (e *rtEnv) put(table string, item map[string]ddbtypes.AttributeValue) {
	e.t.Helper()
	if _, err := e.ddb.PutItem(rtCtx(e.t), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		e.t.Fatalf("put: %v", err)
	}
}

// rtKeyOf renders a record's pk for assertions.
func rtKeyOf(r types.Record) string {
	if v, ok := r.Dynamodb.Keys["pk"].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return "?"
}

// rtByKey groups records by pk, in stream order.
func rtByKey(recs []types.Record) map[string][]types.Record {
	out := map[string][]types.Record{}
	for _, r := range recs {
		out[rtKeyOf(r)] = append(out[rtKeyOf(r)], r)
	}
	return out
}

func rtEvents(recs []types.Record) string {
	var s []string
	for _, r := range recs {
		s = append(s, string(r.EventName))
	}
	return strings.Join(s, ",")
}

// TestAPIEventNamesAndImages drives every kind of write and checks the
// records: INSERT iff the item did not exist (PutItem new, UpdateItem
// upsert), MODIFY iff it did (including a replacing PutItem), REMOVE on
// delete; no record for a write that changes nothing, a delete of a
// missing item or a failed condition (reference §4.3, §9 items 1-3).
func TestAPIEventNamesAndImages(t *testing.T) {
	e := rtStart(t, 4)
	e.createTable("ev-t", ViewNewAndOldImages, false)
	ctx := rtCtx(t)
	tbl := aws.String("ev-t")

	e.put("ev-t", map[string]ddbtypes.AttributeValue{"pk": rtS("put"), "a": rtN(1)}) // INSERT
	e.put("ev-t", map[string]ddbtypes.AttributeValue{"pk": rtS("put"), "b": rtN(2)}) // MODIFY (replace)
	e.put("ev-t", map[string]ddbtypes.AttributeValue{"pk": rtS("put"), "b": rtN(2)}) // no-op
	_, err := e.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: tbl,        // INSERT (upsert)
		Key: map[string]ddbtypes.AttributeValue{"pk": rtS("upd")}, UpdateExpression: aws.String("SET a = :v"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":v": rtN(1)}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: tbl, // MODIFY
		Key: map[string]ddbtypes.AttributeValue{"pk": rtS("upd")}, UpdateExpression: aws.String("SET a = :v"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":v": rtN(2)}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, // failed condition: no record
		Item: map[string]ddbtypes.AttributeValue{"pk": rtS("upd"), "a": rtN(9)}, ConditionExpression: aws.String("attribute_not_exists(pk)")})
	rtWantCode(t, err, "ConditionalCheckFailedException")
	if _, err := e.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: tbl, // no record
		Key: map[string]ddbtypes.AttributeValue{"pk": rtS("missing")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: tbl, // REMOVE
		Key: map[string]ddbtypes.AttributeValue{"pk": rtS("put")}}); err != nil {
		t.Fatal(err)
	}
	e.put("ev-t", map[string]ddbtypes.AttributeValue{"pk": rtS("keyonly")})      // INSERT
	if _, err := e.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: tbl, // REMOVE, OldImage = keys
		Key: map[string]ddbtypes.AttributeValue{"pk": rtS("keyonly")}}); err != nil {
		t.Fatal(err)
	}
	e.publish()

	all := e.readAll(e.arn("ev-t"))
	by := rtByKey(all)
	for key, want := range map[string]string{"put": "INSERT,MODIFY,REMOVE", "upd": "INSERT,MODIFY", "keyonly": "INSERT,REMOVE"} {
		if got := rtEvents(by[key]); got != want {
			t.Errorf("%s: events %s, want %s", key, got, want)
		}
	}
	if len(all) != 7 || len(by["missing"]) != 0 {
		t.Fatalf("%d records (%v), want 7", len(all), rtEvents(all))
	}
	ids := map[string]bool{}
	for _, r := range all {
		d := r.Dynamodb
		if aws.ToString(r.EventVersion) != "1.1" || aws.ToString(r.EventSource) != "aws:dynamodb" || aws.ToString(r.AwsRegion) != rtRegion {
			t.Errorf("record constants: version %q source %q region %q", aws.ToString(r.EventVersion), aws.ToString(r.EventSource), aws.ToString(r.AwsRegion))
		}
		if id := aws.ToString(r.EventID); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) || ids[id] {
			t.Errorf("eventID %q: want 32 hex digits, unique", id)
		} else {
			ids[id] = true
		}
		if len(d.Keys) != 1 || d.Keys["pk"] == nil {
			t.Errorf("%s %s: Keys %v", rtKeyOf(r), r.EventName, d.Keys)
		}
		if d.StreamViewType != types.StreamViewTypeNewAndOldImages || r.UserIdentity != nil || d.ApproximateCreationDateTime == nil || aws.ToInt64(d.SizeBytes) < 1 {
			t.Errorf("record %s: view %s identity %v time %v size %d", aws.ToString(r.EventID), d.StreamViewType, r.UserIdentity, d.ApproximateCreationDateTime, aws.ToInt64(d.SizeBytes))
		}
		switch r.EventName {
		case types.OperationTypeInsert:
			if d.OldImage != nil || d.NewImage == nil || d.NewImage["pk"] == nil {
				t.Errorf("INSERT %s: OldImage %v NewImage %v", rtKeyOf(r), d.OldImage, d.NewImage)
			}
		case types.OperationTypeModify:
			if d.OldImage["pk"] == nil || d.NewImage["pk"] == nil {
				t.Errorf("MODIFY %s: images must be whole items: %v / %v", rtKeyOf(r), d.OldImage, d.NewImage)
			}
		case types.OperationTypeRemove:
			if d.NewImage != nil || d.OldImage["pk"] == nil {
				t.Errorf("REMOVE %s: OldImage %v NewImage %v", rtKeyOf(r), d.OldImage, d.NewImage)
			}
		}
	}
	// The replacing PutItem's images are the whole old and new items.
	mod := by["put"][1].Dynamodb
	if _, ok := mod.OldImage["a"]; !ok || len(mod.OldImage) != 2 {
		t.Errorf("replace OldImage %v, want {pk, a}", mod.OldImage)
	}
	if _, ok := mod.NewImage["b"]; !ok || len(mod.NewImage) != 2 {
		t.Errorf("replace NewImage %v, want {pk, b}", mod.NewImage)
	}
	if old := by["keyonly"][1].Dynamodb.OldImage; len(old) != 1 || old["pk"] == nil {
		t.Errorf("REMOVE of a key-only item: OldImage %v, want just the key", old)
	}
}

// TestAPIViewTypes: each view type shows exactly its images (§4.3, §9.3).
func TestAPIViewTypes(t *testing.T) {
	e := rtStart(t, 2)
	for _, vt := range []string{ViewKeysOnly, ViewNewImage, ViewOldImage, ViewNewAndOldImages} {
		name := "vt-" + strings.ToLower(strings.ReplaceAll(vt, "_", "-"))
		e.createTable(name, vt, true)
		item := map[string]ddbtypes.AttributeValue{"pk": rtS("k"), "sk": rtN(1), "v": rtS("one")}
		e.put(name, item)
		item["v"] = rtS("two")
		e.put(name, item)
		if _, err := e.ddb.DeleteItem(rtCtx(t), &dynamodb.DeleteItemInput{TableName: aws.String(name),
			Key: map[string]ddbtypes.AttributeValue{"pk": rtS("k"), "sk": rtN(1)}}); err != nil {
			t.Fatal(err)
		}
		e.publish()
		recs := e.readAll(e.arn(name))
		if got := rtEvents(recs); got != "INSERT,MODIFY,REMOVE" {
			t.Fatalf("%s: events %s", vt, got)
		}
		for _, r := range recs {
			d := r.Dynamodb
			if len(d.Keys) != 2 || string(d.StreamViewType) != vt {
				t.Errorf("%s %s: keys %v view %s", vt, r.EventName, d.Keys, d.StreamViewType)
			}
			wantNew := (vt == ViewNewImage || vt == ViewNewAndOldImages) && r.EventName != types.OperationTypeRemove
			wantOld := (vt == ViewOldImage || vt == ViewNewAndOldImages) && r.EventName != types.OperationTypeInsert
			if (d.NewImage != nil) != wantNew || (d.OldImage != nil) != wantOld {
				t.Errorf("%s %s: NewImage %v OldImage %v", vt, r.EventName, d.NewImage, d.OldImage)
			}
			if d.NewImage != nil && len(d.NewImage) != 3 || d.OldImage != nil && len(d.OldImage) != 3 {
				t.Errorf("%s %s: images must be whole items: %v / %v", vt, r.EventName, d.NewImage, d.OldImage)
			}
		}
	}
}

// TestAPIDescribeStreamShards: one shard per partition, sorted, paged with
// ExclusiveStartShardId/LastEvaluatedShardId; unknown or last start ids and
// CHILD_SHARDS give no shards; bad limits are ValidationException (§9.5).
func TestAPIDescribeStreamShards(t *testing.T) {
	e := rtStart(t, 5)
	e.createTable("sh-t", ViewKeysOnly, false)
	arn := e.arn("sh-t")
	ctx := rtCtx(t)

	all := e.shards(arn)
	if len(all) != 5 {
		t.Fatalf("%d shards, want 5", len(all))
	}
	ids := make([]string, len(all))
	for i, s := range all {
		ids[i] = *s.ShardId
		if len(ids[i]) < 28 || len(ids[i]) > 65 || s.SequenceNumberRange == nil || s.SequenceNumberRange.StartingSequenceNumber == nil || s.SequenceNumberRange.EndingSequenceNumber != nil || s.ParentShardId != nil {
			t.Errorf("shard %+v", s)
		}
	}
	if !sort.StringsAreSorted(ids) {
		t.Errorf("shards not sorted: %v", ids)
	}

	var paged []string
	in := &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn), Limit: aws.Int32(1)}
	for pages := 0; ; pages++ {
		out, err := e.dds.DescribeStream(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		d := out.StreamDescription
		for _, s := range d.Shards {
			paged = append(paged, *s.ShardId)
		}
		if d.StreamStatus != types.StreamStatusEnabled || d.TableName == nil || *d.TableName != "sh-t" || d.StreamViewType != types.StreamViewTypeKeysOnly ||
			len(d.KeySchema) != 1 || *d.KeySchema[0].AttributeName != "pk" || d.KeySchema[0].KeyType != "HASH" || d.CreationRequestDateTime == nil || aws.ToString(d.StreamLabel) == "" {
			t.Errorf("description %+v", d)
		}
		if d.LastEvaluatedShardId == nil {
			break
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		in.ExclusiveStartShardId = d.LastEvaluatedShardId
	}
	if strings.Join(paged, ",") != strings.Join(ids, ",") {
		t.Errorf("paged %v, want %v", paged, ids)
	}

	for _, start := range []string{ids[4], "shardId-00000000000000000001-00000000"} {
		out, err := e.dds.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn), ExclusiveStartShardId: aws.String(start)})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(out.StreamDescription.Shards); n != 0 || out.StreamDescription.LastEvaluatedShardId != nil {
			t.Errorf("ExclusiveStartShardId %s: %d shards", start, n)
		}
	}
	out, err := e.dds.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn),
		ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeChildShards, ShardId: aws.String(ids[0])}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.StreamDescription.Shards) != 0 {
		t.Errorf("CHILD_SHARDS: %d shards, want none", len(out.StreamDescription.Shards))
	}

	for _, lim := range []int32{0, 101} {
		_, err := e.dds.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn), Limit: aws.Int32(lim)})
		rtWantCode(t, err, "ValidationException")
	}
	_, err = e.dds.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String("arn:aws:dynamodb:eu-test-1:000000000000:table/x")})
	rtWantCode(t, err, "ValidationException")
	_, err = e.dds.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(StreamARN(rtRegion, e.db.AccountID(), "nope", "2026-01-01T00:00:00.000"))})
	rtWantCode(t, err, "ResourceNotFoundException")
}

// TestAPIListStreams: sorted, paged, filtered by table; errors as AWS.
func TestAPIListStreams(t *testing.T) {
	e := rtStart(t, 1)
	e.createTable("ls-a", ViewKeysOnly, false)
	e.createTable("ls-b", ViewNewImage, false)
	e.createTable("ls-none", "", false)
	ctx := rtCtx(t)

	var got []string
	in := &dynamodbstreams.ListStreamsInput{Limit: aws.Int32(1)}
	for {
		out, err := e.dds.ListStreams(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range out.Streams {
			got = append(got, aws.ToString(s.TableName)+"|"+aws.ToString(s.StreamLabel)+"|"+aws.ToString(s.StreamArn))
		}
		if out.LastEvaluatedStreamArn == nil {
			break
		}
		in.ExclusiveStartStreamArn = out.LastEvaluatedStreamArn
	}
	a, b := e.arn("ls-a"), e.arn("ls-b")
	la, _ := e.db.Table("ls-a")
	lb, _ := e.db.Table("ls-b")
	want := []string{"ls-a|" + la.Stream.Label + "|" + a, "ls-b|" + lb.Stream.Label + "|" + b}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("streams %v, want %v", got, want)
	}
	out, err := e.dds.ListStreams(ctx, &dynamodbstreams.ListStreamsInput{TableName: aws.String("ls-b")})
	if err != nil || len(out.Streams) != 1 || aws.ToString(out.Streams[0].StreamArn) != b {
		t.Errorf("TableName filter: %v %v", out, err)
	}
	out, err = e.dds.ListStreams(ctx, &dynamodbstreams.ListStreamsInput{TableName: aws.String("ls-none")})
	if err != nil || len(out.Streams) != 0 {
		t.Errorf("table without stream: %v %v", out, err)
	}
	_, err = e.dds.ListStreams(ctx, &dynamodbstreams.ListStreamsInput{TableName: aws.String("ls-missing")})
	rtWantCode(t, err, "ResourceNotFoundException")
	for _, lim := range []int32{0, 101} {
		_, err = e.dds.ListStreams(ctx, &dynamodbstreams.ListStreamsInput{Limit: aws.Int32(lim)})
		rtWantCode(t, err, "ValidationException")
	}
	_, err = e.dds.ListStreams(ctx, &dynamodbstreams.ListStreamsInput{ExclusiveStartStreamArn: aws.String("arn:aws:dynamodb:x:1:table/abc/nostream")})
	rtWantCode(t, err, "ValidationException")
}

// TestAPIShardIterators covers the four iterator types and their validation
// (reference §4.2).
func TestAPIShardIterators(t *testing.T) {
	e := rtStart(t, 2)
	e.createTable("it-t", ViewKeysOnly, false)
	arn := e.arn("it-t")
	for i := 0; i < 6; i++ {
		e.put("it-t", map[string]ddbtypes.AttributeValue{"pk": rtS(fmt.Sprintf("k%d", i))})
	}
	e.publish()
	ctx := rtCtx(t)

	// Pick a shard with at least two records and the other shard.
	var shard, other string
	var recs []types.Record
	for _, sh := range e.shards(arn) {
		it, err := e.iterator(arn, *sh.ShardId, types.ShardIteratorTypeTrimHorizon, "")
		if err != nil {
			t.Fatal(err)
		}
		r, _ := e.readShard(it)
		if len(r) >= 2 && shard == "" {
			shard, recs = *sh.ShardId, r
		} else {
			other = *sh.ShardId
		}
	}
	if shard == "" || other == "" {
		t.Fatal("want a shard with two records and another shard")
	}
	seq0, seq1 := *recs[0].Dynamodb.SequenceNumber, *recs[1].Dynamodb.SequenceNumber

	it, err := e.iterator(arn, shard, types.ShardIteratorTypeAtSequenceNumber, seq1)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := e.readShard(it)
	if len(got) != len(recs)-1 || *got[0].Dynamodb.SequenceNumber != seq1 {
		t.Errorf("AT_SEQUENCE_NUMBER %s: %d records from %s", seq1, len(got), aws.ToString(got[0].Dynamodb.SequenceNumber))
	}
	it, err = e.iterator(arn, shard, types.ShardIteratorTypeAfterSequenceNumber, seq0)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = e.readShard(it)
	if len(got) != len(recs)-1 || *got[0].Dynamodb.SequenceNumber != seq1 {
		t.Errorf("AFTER_SEQUENCE_NUMBER %s: %d records", seq0, len(got))
	}
	latest, err := e.iterator(arn, shard, types.ShardIteratorTypeLatest, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := e.readShard(latest); len(got) != 0 {
		t.Errorf("LATEST: %d old records", len(got))
	}

	cases := []struct {
		name  string
		in    dynamodbstreams.GetShardIteratorInput
		code  string
		regex string
	}{
		{"trim horizon with sequence", dynamodbstreams.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeTrimHorizon, SequenceNumber: aws.String(seq0)}, "ValidationException", "should not have sequence number"},
		{"latest with sequence", dynamodbstreams.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeLatest, SequenceNumber: aws.String(seq0)}, "ValidationException", "should not have sequence number"},
		{"at without sequence", dynamodbstreams.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber}, "ValidationException", `Missing required parameter "SequenceNumber"`},
		{"after without sequence", dynamodbstreams.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAfterSequenceNumber}, "ValidationException", "SequenceNumber"},
		{"bad type", dynamodbstreams.GetShardIteratorInput{ShardIteratorType: "SOMEWHERE"}, "ValidationException", "enum value set"},
		{"non-digit sequence", dynamodbstreams.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, SequenceNumber: aws.String("1000000000000000000x1")}, "ValidationException", "SequenceNumber"},
		{"sequence beyond the end", dynamodbstreams.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, SequenceNumber: aws.String(SequenceNumber(Pos(1000, 0)))}, "ValidationException", "beyond"},
		{"sequence of another shard", dynamodbstreams.GetShardIteratorInput{ShardId: aws.String(other), ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, SequenceNumber: aws.String(seq0)}, "ValidationException", "not a record of shard"},
		{"unknown shard", dynamodbstreams.GetShardIteratorInput{ShardId: aws.String("shardId-00000000000000000001-00000000"), ShardIteratorType: types.ShardIteratorTypeLatest}, "ResourceNotFoundException", ""},
		{"malformed arn", dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String("arn:aws:dynamodb:eu-test-1:000000000000:table/it/stream/yesterday"), ShardIteratorType: types.ShardIteratorTypeLatest}, "ValidationException", "Invalid StreamArn"},
		{"unknown stream", dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(StreamARN(rtRegion, e.db.AccountID(), "it-t", "2020-01-01T00:00:00.000")), ShardIteratorType: types.ShardIteratorTypeLatest}, "ResourceNotFoundException", ""},
	}
	for _, c := range cases {
		in := c.in
		if in.StreamArn == nil {
			in.StreamArn = aws.String(arn)
		}
		if in.ShardId == nil {
			in.ShardId = aws.String(shard)
		}
		_, err := e.dds.GetShardIterator(ctx, &in)
		rtWantCode(t, err, c.code)
		if c.regex != "" && !strings.Contains(err.Error(), c.regex) {
			t.Errorf("%s: message %q lacks %q", c.name, err, c.regex)
		}
	}

	// LATEST sees what comes after it, and only that.
	for i := 0; i < 20; i++ {
		e.put("it-t", map[string]ddbtypes.AttributeValue{"pk": rtS(fmt.Sprintf("new%d", i))})
	}
	e.publish()
	got, _ = e.readShard(latest)
	for _, r := range got {
		if !strings.HasPrefix(rtKeyOf(r), "new") {
			t.Errorf("LATEST delivered old record %s", rtKeyOf(r))
		}
	}
	if len(got) == 0 {
		t.Error("LATEST delivered none of the 20 new records of its shard")
	}
}

// rtRaw posts a Streams request and returns the status and body as sent.
func (e *rtEnv) rtRaw(op string, body string) (int, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.url, strings.NewReader(body))
	req.Header.Set("X-Amz-Target", TargetPrefix+"."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestAPIGetRecordsRules: Records always present, NextShardIterator always on
// an open shard, Limit bounds, paging never repeats a record, garbage and
// forged iterators are ValidationException, ApproximateCreationDateTime is
// an integer (§4.2, §9 items 6, 8).
func TestAPIGetRecordsRules(t *testing.T) {
	e := rtStart(t, 1)
	e.createTable("gr-t", ViewNewImage, false)
	arn := e.arn("gr-t")
	shard := *e.shards(arn)[0].ShardId
	it, err := e.iterator(arn, shard, types.ShardIteratorTypeTrimHorizon, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(it) > 2048 || !strings.HasPrefix(it, arn+"|1|") {
		t.Errorf("iterator %q: want <arn>|1|..., at most 2048 characters", it)
	}

	// Empty open shard: Records is [] and NextShardIterator is present.
	status, body := e.rtRaw("GetRecords", fmt.Sprintf(`{"ShardIterator":%q}`, it))
	var page struct {
		Records           json.RawMessage
		NextShardIterator *string
	}
	if err := json.Unmarshal(body, &page); status != 200 || err != nil || string(page.Records) != "[]" || page.NextShardIterator == nil {
		t.Fatalf("empty page: %d %s", status, body)
	}

	for i := 0; i < 25; i++ {
		e.put("gr-t", map[string]ddbtypes.AttributeValue{"pk": rtS(fmt.Sprintf("k%02d", i)), "n": rtN(i)})
	}
	e.publish()

	// The empty page's NextShardIterator still reads everything after it.
	var seen []string
	next := *page.NextShardIterator
	for pages := 0; len(seen) < 25; pages++ {
		out, err := e.dds.GetRecords(rtCtx(t), &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String(next), Limit: aws.Int32(7)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Records) > 7 || out.NextShardIterator == nil || pages > 10 {
			t.Fatalf("page %d: %d records, next %v", pages, len(out.Records), out.NextShardIterator)
		}
		for _, r := range out.Records {
			seen = append(seen, rtKeyOf(r))
		}
		next = *out.NextShardIterator
	}
	for i, k := range seen {
		if k != fmt.Sprintf("k%02d", i) {
			t.Fatalf("record %d is %s: %v", i, k, seen)
		}
	}
	out, err := e.dds.GetRecords(rtCtx(t), &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String(next)})
	if err != nil || len(out.Records) != 0 || out.NextShardIterator == nil {
		t.Fatalf("after the last record: %v records, next %v, %v", len(out.Records), out.NextShardIterator, err)
	}

	// The wire form: integer ApproximateCreationDateTime, no OldImage in a
	// NEW_IMAGE stream.
	_, body = e.rtRaw("GetRecords", fmt.Sprintf(`{"ShardIterator":%q,"Limit":1}`, it))
	if !regexp.MustCompile(`"ApproximateCreationDateTime":\d+,`).Match(body) || bytes.Contains(body, []byte("OldImage")) {
		t.Errorf("record wire form: %s", body)
	}

	for _, lim := range []int32{0, 1001} {
		_, err := e.dds.GetRecords(rtCtx(t), &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(lim)})
		rtWantCode(t, err, "ValidationException")
	}
	forged := []byte(it)
	forged[len(forged)-5] ^= 1
	for _, bad := range []string{"garbage", arn + "|1|AAAA", string(forged), strings.Replace(it, "table/gr-t/", "table/gs-t/", 1)} {
		_, err := e.dds.GetRecords(rtCtx(t), &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String(bad)})
		rtWantCode(t, err, "ValidationException")
	}
	status, body = e.rtRaw("GetRecords", `{"ShardIterator":"nope"}`)
	if status != 400 || !bytes.Contains(body, []byte(`"__type":"com.amazon.coral.validate#ValidationException"`)) {
		t.Errorf("garbage iterator: %d %s", status, body)
	}

	// Metrics: calls and records.
	mfs, _ := e.reg.Gather()
	var calls, records float64
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "godwit_streams_get_records_calls_total":
				calls = m.GetCounter().GetValue()
			case "godwit_streams_get_records_records_total":
				records = m.GetCounter().GetValue()
			}
		}
	}
	if calls < 5 || records < 26 {
		t.Errorf("metrics: %v calls, %v records", calls, records)
	}
}

// TestAPIIteratorExpiry: an iterator is good for 15 minutes after it was
// issued, judged by the injected clock; each page's NextShardIterator
// starts a new 15 minutes (§9.9).
func TestAPIIteratorExpiry(t *testing.T) {
	e := rtStart(t, 1)
	e.createTable("ex-t", ViewKeysOnly, false)
	arn := e.arn("ex-t")
	shard := *e.shards(arn)[0].ShardId
	it, err := e.iterator(arn, shard, types.ShardIteratorTypeTrimHorizon, "")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(15 * time.Minute)
	out, err := e.dds.GetRecords(rtCtx(t), &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String(it)})
	if err != nil {
		t.Fatalf("at 15 minutes: %v", err)
	}
	e.clock.Advance(time.Millisecond)
	_, err = e.dds.GetRecords(rtCtx(t), &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String(it)})
	rtWantCode(t, err, "ExpiredIteratorException")
	var expired *types.ExpiredIteratorException
	if !errors.As(err, &expired) {
		t.Errorf("the SDK does not see ExpiredIteratorException: %T", err)
	}
	e.clock.Advance(14 * time.Minute)
	if _, err := e.dds.GetRecords(rtCtx(t), &dynamodbstreams.GetRecordsInput{ShardIterator: out.NextShardIterator}); err != nil {
		t.Errorf("NextShardIterator issued 14m ago: %v", err)
	}
}

// TestAPITrimmedData: a sequence number older than the oldest retained record
// is TrimmedDataAccessException, from GetShardIterator and from GetRecords
// with an iterator issued before the trim; TRIM_HORIZON moves on.
func TestAPITrimmedData(t *testing.T) {
	e := rtStart(t, 1)
	e.createTable("tr-t", ViewKeysOnly, false)
	arn := e.arn("tr-t")
	shard := *e.shards(arn)[0].ShardId
	for i := 0; i < 5; i++ {
		e.put("tr-t", map[string]ddbtypes.AttributeValue{"pk": rtS(fmt.Sprintf("k%d", i))})
	}
	e.publish()
	th, _ := e.iterator(arn, shard, types.ShardIteratorTypeTrimHorizon, "")
	recs, _ := e.readShard(th)
	if len(recs) != 5 {
		t.Fatalf("%d records", len(recs))
	}
	first := *recs[0].Dynamodb.SequenceNumber
	after, err := e.iterator(arn, shard, types.ShardIteratorTypeAfterSequenceNumber, first)
	if err != nil {
		t.Fatal(err)
	}

	info, _ := e.db.Table("tr-t")
	s, err := e.js.Stream(rtCtx(t), StreamName(info.ID, info.Stream.Label))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(rtCtx(t), jetstream.WithPurgeKeep(2)); err != nil {
		t.Fatal(err)
	}
	e.api.mu.Lock()
	e.api.handles = map[string]*streamHandle{} // NB: forget the cached state (StateMaxAge) at once
	e.api.mu.Unlock()

	_, err = e.iterator(arn, shard, types.ShardIteratorTypeAtSequenceNumber, first)
	rtWantCode(t, err, "TrimmedDataAccessException")
	var trimmed *types.TrimmedDataAccessException
	if !errors.As(err, &trimmed) {
		t.Errorf("the SDK does not see TrimmedDataAccessException: %T", err)
	}
	_, err = e.dds.GetRecords(rtCtx(t), &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String(after)})
	rtWantCode(t, err, "TrimmedDataAccessException")
	th, _ = e.iterator(arn, shard, types.ShardIteratorTypeTrimHorizon, "")
	if recs, _ := e.readShard(th); len(recs) != 2 || rtKeyOf(recs[0]) != "k3" {
		t.Errorf("TRIM_HORIZON after the trim: %v", rtEvents(recs))
	}
	// The first retained record itself is still readable by number.
	if _, err := e.iterator(arn, shard, types.ShardIteratorTypeAtSequenceNumber, SequenceNumber(Pos(s.CachedInfo().State.LastSeq-1, 0))); err != nil {
		t.Errorf("AT the oldest retained record: %v", err)
	}
}

// TestAPIDisableReenable: disabling keeps the stream listed and readable;
// once the publisher seals it, it is DISABLED with every shard closed
// (EndingSequenceNumber) and the last page omits NextShardIterator;
// re-enabling makes a new ARN; enabling twice or changing the view type in
// place is ValidationException (§4.1, §9 items 6-7).
func TestAPIDisableReenable(t *testing.T) {
	e := rtStart(t, 3)
	e.createTable("dis-t", ViewNewImage, false)
	arn1 := e.arn("dis-t")
	for i := 0; i < 9; i++ {
		e.put("dis-t", map[string]ddbtypes.AttributeValue{"pk": rtS(fmt.Sprintf("k%d", i))})
	}
	e.publish()
	ctx := rtCtx(t)

	for _, vt := range []ddbtypes.StreamViewType{ddbtypes.StreamViewTypeNewImage, ddbtypes.StreamViewTypeKeysOnly} {
		_, err := e.ddb.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String("dis-t"),
			StreamSpecification: &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: vt}})
		rtWantCode(t, err, "ValidationException")
	}
	if _, err := e.ddb.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String("dis-t"),
		StreamSpecification: &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(false)}}); err != nil {
		t.Fatal(err)
	}
	d, err := e.dds.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn1)})
	if err != nil || d.StreamDescription.StreamStatus != types.StreamStatusDisabling {
		t.Fatalf("disabled, not sealed: %v %v", d, err)
	}
	e.seal("dis-t", e.mustLabel("dis-t"))
	d, err = e.dds.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn1)})
	if err != nil || d.StreamDescription.StreamStatus != types.StreamStatusDisabled {
		t.Fatalf("sealed: %v %v", d, err)
	}
	total := 0
	for _, sh := range d.StreamDescription.Shards {
		r := sh.SequenceNumberRange
		if r == nil || r.EndingSequenceNumber == nil {
			t.Fatalf("shard %s of a DISABLED stream is open", *sh.ShardId)
		}
		it, err := e.iterator(arn1, *sh.ShardId, types.ShardIteratorTypeTrimHorizon, "")
		if err != nil {
			t.Fatal(err)
		}
		recs, closed := e.readShard(it)
		if !closed {
			t.Errorf("shard %s: the last page has a NextShardIterator", *sh.ShardId)
		}
		if n := len(recs); n > 0 && *recs[n-1].Dynamodb.SequenceNumber != *r.EndingSequenceNumber {
			t.Errorf("shard %s ends at %s, its last record is %s", *sh.ShardId, *r.EndingSequenceNumber, *recs[n-1].Dynamodb.SequenceNumber)
		}
		total += len(recs)
		// A closed shard still hands out LATEST iterators, whose page ends it.
		it, err = e.iterator(arn1, *sh.ShardId, types.ShardIteratorTypeLatest, "")
		if err != nil {
			t.Fatal(err)
		}
		out, err := e.dds.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String(it)})
		if err != nil || len(out.Records) != 0 || out.NextShardIterator != nil {
			t.Errorf("LATEST on a closed shard: %v %v", out, err)
		}
	}
	if total != 9 {
		t.Errorf("%d records in the disabled stream, want 9", total)
	}

	// Re-enable: a new stream with a new ARN; the old one stays listed.
	e.clock.Advance(time.Second)
	if _, err := e.ddb.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String("dis-t"),
		StreamSpecification: &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewTypeKeysOnly}}); err != nil {
		t.Fatal(err)
	}
	e.ensure("dis-t")
	arn2 := e.arn("dis-t")
	if arn2 == arn1 {
		t.Fatal("re-enabling kept the ARN")
	}
	e.put("dis-t", map[string]ddbtypes.AttributeValue{"pk": rtS("again")})
	e.publish()
	if recs := e.readAll(arn2); len(recs) != 1 || rtKeyOf(recs[0]) != "again" || recs[0].Dynamodb.NewImage != nil {
		t.Errorf("new stream: %v", rtEvents(recs))
	}
	ls, err := e.dds.ListStreams(ctx, &dynamodbstreams.ListStreamsInput{TableName: aws.String("dis-t")})
	if err != nil || len(ls.Streams) != 2 {
		t.Fatalf("ListStreams after re-enable: %v %v", ls, err)
	}
	d, _ = e.dds.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn2)})
	if d.StreamDescription.StreamStatus != types.StreamStatusEnabled {
		t.Errorf("new stream status %s", d.StreamDescription.StreamStatus)
	}
}

func (e *rtEnv) mustLabel(table string) string {
	info, _ := e.db.Table(table)
	return info.LatestStreamLabel
}

// TestAPIIteratorKeyPersists: the key lives in JetStream, so a second API on
// the same JetStream (a restarted server) accepts the first one's
// iterators, and an API with another key does not.
func TestAPIIteratorKeyPersists(t *testing.T) {
	e := rtStart(t, 1)
	e.createTable("key-t", ViewKeysOnly, false)
	arn := e.arn("key-t")
	it, err := e.iterator(arn, *e.shards(arn)[0].ShardId, types.ShardIteratorTypeTrimHorizon, "")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(fmt.Sprintf(`{"ShardIterator":%q}`, it))
	again, err := NewAPI(e.db, e.js, APIConfig{Clock: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.GetRecords(rtCtx(t), body); err != nil {
		t.Errorf("restarted API rejects the iterator: %v", err)
	}
	other, err := NewAPI(e.db, e.js, APIConfig{Clock: e.clock, IteratorKey: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.GetRecords(rtCtx(t), body); rtCodeOf(err) != "ValidationException" {
		t.Errorf("API with another key: %v", err)
	}
	if _, err := NewAPI(e.db, e.js, APIConfig{IteratorKey: []byte("short")}); err == nil {
		t.Error("a 5-byte key was accepted")
	}
}

func rtCodeOf(err error) string {
	if e := apierr.As(err); e != nil {
		return e.Code
	}
	return ""
}

// TestAPIStreamRecordShape checks NewStreamRecord directly: TTL deletes carry
// userIdentity only in the region whose sweeper made them; time is whole
// seconds rounded down; the JSON is the wire form.
func TestAPIStreamRecordShape(t *testing.T) {
	c := &engine.Change{
		EventName: engine.EventRemove,
		Keys:      attr.Item{"pk": attr.Str("k")},
		OldImage:  attr.Item{"pk": attr.Str("k"), "ttl": {Type: attr.N, S: "1"}},
		Origin:    "r1", TTL: true, CreatedAt: 1_700_000_000_999_999_999,
	}
	r := NewStreamRecord(c, 42, "GW_1_x", ViewNewAndOldImages, "r1")
	if r.UserIdentity == nil || r.UserIdentity.Type != "Service" || r.UserIdentity.PrincipalID != "dynamodb.amazonaws.com" {
		t.Errorf("TTL delete in its own region: identity %+v", r.UserIdentity)
	}
	if r.Dynamodb.ApproximateCreationDateTime != 1_700_000_000 || r.Dynamodb.NewImage != nil || r.Dynamodb.SequenceNumber != SequenceNumber(42) {
		t.Errorf("record %+v", r.Dynamodb)
	}
	if NewStreamRecord(c, 42, "GW_1_x", ViewNewAndOldImages, "r2").UserIdentity != nil {
		t.Error("a replica's stream shows the TTL identity")
	}
	c.TTL = false
	if NewStreamRecord(c, 42, "GW_1_x", ViewNewAndOldImages, "r1").UserIdentity != nil {
		t.Error("a user delete shows the TTL identity")
	}
	if a, b := NewStreamRecord(c, 42, "GW_1_x", ViewKeysOnly, "r1").EventID, NewStreamRecord(c, 43, "GW_1_x", ViewKeysOnly, "r1").EventID; a == b {
		t.Error("two records share an eventID")
	}
	c.TTL = true
	b, err := json.Marshal(NewStreamRecord(c, 42, "GW_1_x", ViewNewAndOldImages, "r1"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"eventID":"` + eventID("r1", "GW_1_x", 42) + `","eventName":"REMOVE","eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":"r1",` +
		`"dynamodb":{"ApproximateCreationDateTime":1700000000,"Keys":{"pk":{"S":"k"}},"OldImage":{"pk":{"S":"k"},"ttl":{"N":"1"}},` +
		`"SequenceNumber":"100000000000000000042","SizeBytes":` + strconv.Itoa(attr.ItemSize(c.Keys)+attr.ItemSize(c.OldImage)) + `,"StreamViewType":"NEW_AND_OLD_IMAGES"},` +
		`"userIdentity":{"type":"Service","principalId":"dynamodb.amazonaws.com"}}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
	var back StreamRecord
	if err := json.Unmarshal(b, &back); err != nil || back.Dynamodb.OldImage["ttl"].S != "1" || back.UserIdentity == nil {
		t.Errorf("decode: %+v %v", back, err)
	}
}

// BenchmarkAPIGetRecordsTail measures a consumer's steady state over the
// HTTP API: one new record per GetRecords call, through the real wire
// server and the aws-sdk-go-v2 client (reported per call).
func BenchmarkAPIGetRecordsTail(b *testing.B) {
	e := rtStart(b, 1)
	e.createTable("bench", ViewNewImage, false)
	arn := e.arn("bench")
	it, err := e.iterator(arn, *e.shards(arn)[0].ShardId, types.ShardIteratorTypeLatest, "")
	if err != nil {
		b.Fatal(err)
	}
	info, _ := e.db.Table("bench")
	subj := Subject(rtRegion, info.ID, info.Stream.Label, 0)
	c := &engine.Change{TableID: info.ID, Table: "bench", StreamLabel: info.Stream.Label, EventName: engine.EventInsert,
		Keys: attr.Item{"pk": attr.Str("k")}, NewImage: attr.Item{"pk": attr.Str("k"), "v": attr.Str(strings.Repeat("x", 200))}, Origin: rtRegion}
	data := c.AppendBinary(nil)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.js.Publish(ctx, subj, data); err != nil {
			b.Fatal(err)
		}
		out, err := e.dds.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String(it)})
		if err != nil || len(out.Records) != 1 {
			b.Fatalf("%v records, %v", len(out.Records), err)
		}
		it = *out.NextShardIterator
	}
}

// BenchmarkAPIGetRecordsDirect is BenchmarkAPIGetRecordsTail without HTTP:
// the operation itself (state from cache, one batch direct get, encoding).
func BenchmarkAPIGetRecordsDirect(b *testing.B) {
	e := rtStart(b, 1)
	e.createTable("bench", ViewNewImage, false)
	arn := e.arn("bench")
	it, err := e.iterator(arn, *e.shards(arn)[0].ShardId, types.ShardIteratorTypeLatest, "")
	if err != nil {
		b.Fatal(err)
	}
	info, _ := e.db.Table("bench")
	subj := Subject(rtRegion, info.ID, info.Stream.Label, 0)
	c := &engine.Change{TableID: info.ID, Table: "bench", StreamLabel: info.Stream.Label, EventName: engine.EventInsert,
		Keys: attr.Item{"pk": attr.Str("k")}, NewImage: attr.Item{"pk": attr.Str("k"), "v": attr.Str(strings.Repeat("x", 200))}, Origin: rtRegion}
	data := c.AppendBinary(nil)
	ctx := context.Background()
	var publish, read time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := e.js.Publish(ctx, subj, data); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		out, err := e.api.GetRecords(ctx, []byte(`{"ShardIterator":"`+it+`"}`))
		if err != nil {
			b.Fatal(err)
		}
		read += time.Since(t1)
		publish += t1.Sub(t0)
		var page struct{ NextShardIterator string }
		if err := json.Unmarshal(out.(wire.RawJSON), &page); err != nil {
			b.Fatal(err)
		}
		it = page.NextShardIterator
	}
	b.ReportMetric(float64(publish.Nanoseconds())/float64(b.N), "publish-ns/op")
	b.ReportMetric(float64(read.Nanoseconds())/float64(b.N), "getrecords-ns/op")
}
