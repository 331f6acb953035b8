package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/godwit-db/godwit/test/harness"
)

// TestSinksEndToEnd is issue 5's story through the real binary: `godwit
// serve --config` with a consumers: section declaring "on table Orders,
// from TRIM_HORIZON, batches of 10 or every second, retry twice then
// bisect, dead-letter to a file, only records whose NewImage.status is
// SHIPPED, call this function" — an unmodified aws-lambda-go handler
// (test/lambdahandler) that godwit starts and feeds through the Lambda
// Runtime API — and an audit-log consumer of the same table. Items are
// written with aws-sdk-go-v2. The handler must receive exactly the
// SHIPPED records, as AWS shapes them; the record the handler fails on is
// dead-lettered alone; the audit log holds every change and verifies;
// `godwit consumers` lists both; after a restart, checkpoints hold and new
// writes are delivered.
func TestSinksEndToEnd(t *testing.T) {
	work := t.TempDir()
	if d := os.Getenv("GODWIT_KEEP"); d != "" {
		work = d
	}
	handler := filepath.Join(work, "handler")
	build := exec.Command("go", "build", "-o", handler, "github.com/godwit-db/godwit/test/lambdahandler")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the Lambda handler: %v\n%s", err, out)
	}
	recvDir := filepath.Join(work, "received")
	auditDir := filepath.Join(work, "audit")
	dlq := filepath.Join(work, "dlq.jsonl")
	if err := os.MkdirAll(recvDir, 0o755); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(work, "godwit.yaml")
	writeFile(t, config, fmt.Sprintf(`
consumers:
  - Name: ship-notify
    Table: Orders
    StartingPosition: TRIM_HORIZON
    BatchSize: 10
    MaximumBatchingWindowInSeconds: 1
    MaximumRetryAttempts: 2
    BisectBatchOnFunctionError: true
    DestinationConfig: {OnFailure: {Destination: "file:%s"}}
    FilterCriteria: {Filters: [{Pattern: '{"dynamodb":{"NewImage":{"status":{"S":["SHIPPED"]}}}}'}]}
    FunctionResponseTypes: [ReportBatchItemFailures]
    Target:
      Type: function
      Command: [%q]
      Env: {LAMBDAHANDLER_DIR: %q}
  - Name: audit
    Table: Orders
    StartingPosition: TRIM_HORIZON
    BatchSize: 100
    Target: {Type: auditlog, Dir: %q}
`, dlq, handler, recvDir, auditDir))

	dataDir := t.TempDir()
	p := harness.StartProcess(t, dataDir, "--config", config, "--nats-listen", "-")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("godwit's log:\n%s", p.Logs())
		}
	})
	ctx := context.Background()
	ddb := harness.NewClient(p.URL)
	_, err := ddb.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("Orders"),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
		StreamSpecification:  &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages},
	})
	if err != nil {
		t.Fatal(err)
	}
	desc, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("Orders")})
	if err != nil {
		t.Fatal(err)
	}
	streamARN := aws.ToString(desc.Table.LatestStreamArn)

	put := func(id, status, action string) {
		t.Helper()
		item := map[string]types.AttributeValue{
			"id":     &types.AttributeValueMemberS{Value: id},
			"status": &types.AttributeValueMemberS{Value: status},
		}
		if action != "" {
			item["action"] = &types.AttributeValueMemberS{Value: action}
		}
		if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("Orders"), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	shipped := map[string]bool{}
	for i := 0; i < 30; i++ {
		id := fmt.Sprintf("o%02d", i)
		switch {
		case i == 17:
			put(id, "SHIPPED", "fail") // the handler fails on this one every time
		case i%3 == 0:
			put(id, "PENDING", "")
		default:
			put(id, "SHIPPED", "")
			shipped[id] = true
		}
	}

	// Every SHIPPED record reaches the handler, shaped as Lambda's event.
	harness.Eventually(t, time.Minute, "the handler to receive every SHIPPED record", func() string {
		got := receivedIDs(t, recvDir, streamARN)
		for id := range shipped {
			if !got[id] {
				return "missing " + id
			}
		}
		return ""
	})
	got := receivedIDs(t, recvDir, streamARN)
	for id := range got {
		if !shipped[id] {
			t.Errorf("the handler received %s, which the filter drops or which always fails", id)
		}
	}

	// The failing record, bisected down to itself, is dead-lettered alone.
	harness.Eventually(t, time.Minute, "the failing record in the on-failure file", func() string {
		b, _ := os.ReadFile(dlq)
		// NB: in a whole line (the file may be being appended to).
		if !bytes.Contains(b[:bytes.LastIndexByte(b, '\n')+1], []byte(`"o17"`)) {
			return "not yet"
		}
		return ""
	})
	var fr struct {
		RequestContext struct{ Condition string } `json:"requestContext"`
		Info           struct {
			BatchSize int    `json:"batchSize"`
			StreamArn string `json:"streamArn"`
		} `json:"DDBStreamBatchInfo"`
	}
	first, _, _ := bytes.Cut(mustReadFile(t, dlq), []byte("\n"))
	if err := json.Unmarshal(first, &fr); err != nil {
		t.Fatalf("on-failure record: %v\n%s", err, first)
	}
	if fr.RequestContext.Condition != "RetryAttemptsExhausted" || fr.Info.BatchSize != 1 || fr.Info.StreamArn != streamARN {
		t.Errorf("on-failure record: %s", first)
	}

	// The audit log holds every change (30 inserts) and verifies.
	bin := harness.Binary(t)
	harness.Eventually(t, time.Minute, "30 audit-log entries", func() string {
		if n := countAuditEntries(t, auditDir); n < 30 {
			return fmt.Sprintf("%d entries", n)
		}
		return ""
	})
	if out, err := exec.Command(bin, "audit", "verify", auditDir).CombinedOutput(); err != nil {
		t.Errorf("godwit audit verify: %v\n%s", err, out)
	}

	// godwit consumers lists both, with their positions.
	out, err := exec.Command(bin, "consumers", "--endpoint", p.URL, "--json").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte(`"ship-notify"`)) || !bytes.Contains(out, []byte(`"audit"`)) {
		t.Errorf("godwit consumers: %v\n%s", err, out)
	}

	// A restart keeps the checkpoints: nothing already handled is lost, and
	// new writes are delivered.
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	p = harness.StartProcess(t, dataDir, "--config", config, "--nats-listen", "-")
	ddb = harness.NewClient(p.URL)
	put("after-restart", "SHIPPED", "")
	harness.Eventually(t, time.Minute, "the record written after the restart", func() string {
		if !receivedIDs(t, recvDir, streamARN)["after-restart"] {
			return "not yet"
		}
		return ""
	})
}

// receivedIDs reads the handler's received.jsonl and returns the ids of
// the records it was invoked with, checking each record's shape.
func receivedIDs(t *testing.T, dir, streamARN string) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	data, err := os.ReadFile(filepath.Join(dir, "received.jsonl"))
	if os.IsNotExist(err) {
		return ids
	}
	if err != nil {
		t.Fatal(err)
	}
	// NB: the handler may be appending a line right now, and a reader can
	// see the first part of a write: only whole lines count (the rest is
	// read on the next poll).
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var line struct {
			Event struct {
				Records []struct {
					EventName      string `json:"eventName"`
					EventSource    string `json:"eventSource"`
					EventSourceARN string `json:"eventSourceARN"`
					AWSRegion      string `json:"awsRegion"`
					Dynamodb       struct {
						Keys           map[string]map[string]string `json:"Keys"`
						NewImage       map[string]map[string]string `json:"NewImage"`
						SequenceNumber string                       `json:"SequenceNumber"`
						StreamViewType string                       `json:"StreamViewType"`
					} `json:"dynamodb"`
				} `json:"Records"`
			} `json:"event"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("received.jsonl: %v", err)
		}
		for _, r := range line.Event.Records {
			if r.EventName != "INSERT" || r.EventSource != "aws:dynamodb" || r.EventSourceARN != streamARN ||
				r.AWSRegion == "" || r.Dynamodb.SequenceNumber == "" || r.Dynamodb.StreamViewType != "NEW_AND_OLD_IMAGES" ||
				r.Dynamodb.NewImage["status"]["S"] != "SHIPPED" {
				t.Errorf("record not shaped as Lambda's: %+v", r)
			}
			ids[r.Dynamodb.Keys["id"]["S"]] = true
		}
	}
	return ids
}

func countAuditEntries(t *testing.T, dir string) int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".json") && !strings.HasSuffix(f, ".jsonl") {
			continue // the head file
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		n += bytes.Count(b, []byte(`"eventName"`))
	}
	return n
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
