package wire

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	"github.com/godwit-db/godwit/engine/apierr"
)

// newSDKClient is a real aws-sdk-go-v2 DynamoDB client for url, without
// retries so that each call is one request.
func newSDKClient(url string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDSDK", "secret", ""),
		RetryMaxAttempts: 1,
	})
}

// TestSDKAcceptsEnvelope proves the SDK accepts our responses (envelope,
// crc32) and maps our errors onto its typed exceptions with their members.
func TestSDKAcceptsEnvelope(t *testing.T) {
	oldItem := map[string]any{"pk": map[string]string{"S": "k1"}, "n": map[string]string{"N": "7"}}
	akids := make(chan string, 1)
	f := newFixture(t, Config{}, map[string]Op{
		"ListTables": func(ctx context.Context, body []byte) (any, error) {
			var in struct{ Limit *int32 }
			if err := Decode(body, &in); err != nil {
				return nil, err
			}
			akids <- AccessKeyID(ctx)
			return RawJSON(`{"TableNames":["alpha","beta"],"LastEvaluatedTableName":"beta"}`), nil
		},
		"GetItem": func(context.Context, []byte) (any, error) { return nil, apierr.TableNotFound("missing") },
		"PutItem": func(context.Context, []byte) (any, error) { return nil, apierr.ConditionalCheckFailed(oldItem) },
		"TransactWriteItems": func(context.Context, []byte) (any, error) {
			return nil, apierr.TransactionCanceled([]apierr.CancellationReason{
				{Code: "None"},
				{Code: "ConditionalCheckFailed", Message: "The conditional request failed", Item: oldItem},
			})
		},
		"DeleteTable": func(context.Context, []byte) (any, error) { panic("boom") },
	})
	client := newSDKClient(f.url)
	ctx := context.Background()

	out, err := client.ListTables(ctx, &dynamodb.ListTablesInput{Limit: aws.Int32(10)})
	if err != nil {
		t.Fatalf("ListTables: %v", err)
	}
	if strings.Join(out.TableNames, ",") != "alpha,beta" || aws.ToString(out.LastEvaluatedTableName) != "beta" {
		t.Errorf("ListTables = %+v", out)
	}
	if got := <-akids; got != "AKIDSDK" {
		t.Errorf("access key on context = %q, want the SDK's AKIDSDK", got)
	}

	_, err = client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String("missing"), Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "k1"}},
	})
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) || rnf.ErrorMessage() != "Requested resource not found: Table: missing not found" {
		t.Errorf("GetItem error = %v, want *types.ResourceNotFoundException", err)
	}

	_, err = client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String("t"),
		Item:                                map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "k1"}},
		ConditionExpression:                 aws.String("attribute_not_exists(pk)"),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("PutItem error = %v, want *types.ConditionalCheckFailedException", err)
	}
	if ccf.ErrorMessage() != "The conditional request failed" || !sdkItemIs(ccf.Item, "k1", "7") {
		t.Errorf("ConditionalCheckFailedException = %q, Item %#v", ccf.ErrorMessage(), ccf.Item)
	}

	_, err = client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{ConditionCheck: &types.ConditionCheck{TableName: aws.String("t"), ConditionExpression: aws.String("a = b"),
			Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "k0"}}}},
		{ConditionCheck: &types.ConditionCheck{TableName: aws.String("t"), ConditionExpression: aws.String("a = b"),
			Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "k1"}}}},
	}})
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		t.Fatalf("TransactWriteItems error = %v, want *types.TransactionCanceledException", err)
	}
	if len(tce.CancellationReasons) != 2 ||
		aws.ToString(tce.CancellationReasons[0].Code) != "None" ||
		aws.ToString(tce.CancellationReasons[1].Code) != "ConditionalCheckFailed" ||
		aws.ToString(tce.CancellationReasons[1].Message) != "The conditional request failed" ||
		!sdkItemIs(tce.CancellationReasons[1].Item, "k1", "7") ||
		!strings.Contains(tce.ErrorMessage(), "[None, ConditionalCheckFailed]") {
		t.Errorf("TransactionCanceledException = %q %+v", tce.ErrorMessage(), tce.CancellationReasons)
	}

	_, err = client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String("t")})
	var ise *types.InternalServerError
	if !errors.As(err, &ise) {
		t.Errorf("DeleteTable (panicking op) error = %v, want *types.InternalServerError", err)
	}

	_, err = client.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("t")})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "UnknownOperationException" {
		t.Errorf("unregistered op error = %v, want UnknownOperationException", err)
	}
}

func sdkItemIs(item map[string]types.AttributeValue, pk, n string) bool {
	s, ok1 := item["pk"].(*types.AttributeValueMemberS)
	num, ok2 := item["n"].(*types.AttributeValueMemberN)
	return ok1 && ok2 && s.Value == pk && num.Value == n
}

// TestSDKChecksCRC32 shows the SDK verifies our x-amz-crc32: a correct one
// passes silently, a wrong one is caught. NB: aws-sdk-go-v2's DynamoDB
// client (v1.73) checks the CRC when it closes the body and only logs a
// mismatch as a warning; older versions failed the call.
func TestSDKChecksCRC32(t *testing.T) {
	srv := NewServer(Config{})
	srv.Register(testPrefix, map[string]Op{"ListTables": func(context.Context, []byte) (any, error) {
		return RawJSON(`{"TableNames":["a"]}`), nil
	}})
	goodURL, _ := serveTest(t, srv, nil)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv.ServeHTTP(crcCorrupter{w}, r)
	}))
	defer bad.Close()

	for _, c := range []struct {
		url          string
		wantMismatch bool
	}{{goodURL, false}, {bad.URL, true}} {
		var warnings syncBuffer
		client := dynamodb.New(dynamodb.Options{
			Region:           "us-east-1",
			BaseEndpoint:     aws.String(c.url),
			Credentials:      credentials.NewStaticCredentialsProvider("AKIDSDK", "secret", ""),
			RetryMaxAttempts: 1,
			Logger: logging.LoggerFunc(func(_ logging.Classification, format string, v ...any) {
				fmt.Fprintf(&warnings, format+"\n", v...)
			}),
		})
		_, err := client.ListTables(context.Background(), &dynamodb.ListTablesInput{})
		mismatch := err != nil || strings.Contains(warnings.String(), "checksum")
		if mismatch != c.wantMismatch {
			t.Errorf("wrong crc %v: SDK saw a mismatch: %v (err %v, log %q)", c.wantMismatch, mismatch, err, warnings.String())
		}
	}
}

type crcCorrupter struct{ http.ResponseWriter }

func (c crcCorrupter) WriteHeader(status int) {
	c.Header().Set("X-Amz-Crc32", "1")
	c.ResponseWriter.WriteHeader(status)
}
