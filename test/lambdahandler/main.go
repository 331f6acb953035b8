// Command lambdahandler is an unmodified-style AWS Lambda handler for
// DynamoDB Streams, written with aws-lambda-go (lambda.Start), that the
// sinks/function tests run through godwit's Runtime API. Its behaviour is
// scripted by the records (see sinks/sinkstest.Action): the "action"
// attribute of each record's NewImage (OldImage for a REMOVE).
//
// Environment (test instrumentation, not Lambda's):
//
//	LAMBDAHANDLER_DIR   directory where it appends one JSON line per
//	                    successful invocation to received.jsonl, and its
//	                    pid to pids at start-up
//	LAMBDAHANDLER_DOWN  a file: while it exists, the process exits with
//	                    status 1 before lambda.Start (an init failure)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Received is the line appended per successful invocation.
type Received struct {
	Event          json.RawMessage   `json:"event"`
	RequestID      string            `json:"requestId"`
	FunctionARN    string            `json:"functionArn"`
	FunctionName   string            `json:"functionName"`
	MemoryMB       int               `json:"memoryMB"`
	DeadlineUnixMs int64             `json:"deadlineUnixMs"`
	PID            int               `json:"pid"`
	Env            map[string]string `json:"env"`
	Records        int               `json:"records"`
}

var dir = os.Getenv("LAMBDAHANDLER_DIR")

func appendLine(name string, b []byte) error {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	// NB: one write per line: O_APPEND keeps concurrent processes' lines whole.
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func action(r events.DynamoDBEventRecord) string {
	img := r.Change.NewImage
	if img == nil {
		img = r.Change.OldImage
	}
	if a, ok := img["action"]; ok && a.DataType() == events.DataTypeString {
		return a.String()
	}
	return "ok"
}

func handler(ctx context.Context, raw json.RawMessage) (events.DynamoDBEventResponse, error) {
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return events.DynamoDBEventResponse{}, fmt.Errorf("decode DynamoDBEvent: %w", err)
	}
	resp := events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{}}
	for _, r := range ev.Records {
		switch action(r) {
		case "fail":
			return resp, errors.New("scripted failure")
		case "crash":
			os.Exit(3)
		case "sleep":
			<-ctx.Done()
			select {} // never answer: the runtime's timeout must fire
		case "failitem":
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: r.Change.SequenceNumber})
		case "baditem":
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: ""})
		}
	}
	lc, _ := lambdacontext.FromContext(ctx)
	deadline, _ := ctx.Deadline()
	rec := Received{Event: raw, FunctionName: lambdacontext.FunctionName, MemoryMB: lambdacontext.MemoryLimitInMB,
		DeadlineUnixMs: deadline.UnixMilli(), PID: os.Getpid(), Records: len(ev.Records), Env: map[string]string{}}
	if lc != nil {
		rec.RequestID, rec.FunctionARN = lc.AwsRequestID, lc.InvokedFunctionArn
	}
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "_HANDLER", "AWS_LAMBDA_FUNCTION_VERSION",
		"AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "LAMBDA_TASK_ROOT", "TZ", "CUSTOM", "_X_AMZN_TRACE_ID", "PATH"} {
		if v, ok := os.LookupEnv(k); ok {
			rec.Env[k] = v
		}
	}
	b, err := json.Marshal(rec)
	if err == nil {
		err = appendLine("received.jsonl", b)
	}
	if err != nil {
		return resp, fmt.Errorf("record invocation: %w", err)
	}
	return resp, nil
}

func main() {
	if down := os.Getenv("LAMBDAHANDLER_DOWN"); down != "" {
		if _, err := os.Stat(down); err == nil {
			fmt.Fprintln(os.Stderr, "lambdahandler: down")
			os.Exit(1)
		}
	}
	if dir != "" {
		_ = appendLine("pids", []byte(fmt.Sprint(os.Getpid())))
	}
	lambda.Start(handler)
}
