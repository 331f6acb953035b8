// Command sinkhandler is the Lambda handler of the sinks benchmark
// (test/bench/sinklat): a real aws-lambda-go handler (lambda.Start) that
// godwit's function target runs through the Runtime API. At each
// invocation it first takes the time (time.Now().UnixNano(), the moment
// the handler was invoked), then decodes the DynamoDB Streams event and
// appends one line "pk recvUnixNano" per record to $SINKHANDLER_OUT in a
// single write (no fsync: it measures delivery, not its own disk). That
// is all it does, so its own cost stays small.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	path := os.Getenv("SINKHANDLER_OUT")
	if path == "" {
		fmt.Fprintln(os.Stderr, "sinkhandler: SINKHANDLER_OUT is not set")
		os.Exit(1)
	}
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sinkhandler:", err)
		os.Exit(1)
	}
	var buf []byte
	lambda.Start(func(ctx context.Context, raw json.RawMessage) (events.DynamoDBEventResponse, error) {
		t := time.Now().UnixNano()
		var ev events.DynamoDBEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return events.DynamoDBEventResponse{}, fmt.Errorf("decode DynamoDBEvent: %w", err)
		}
		buf = buf[:0]
		for _, r := range ev.Records {
			pk, ok := r.Change.Keys["pk"]
			if !ok || pk.DataType() != events.DataTypeString {
				continue
			}
			buf = append(buf, pk.String()...)
			buf = append(buf, ' ')
			buf = strconv.AppendInt(buf, t, 10)
			buf = append(buf, '\n')
		}
		// NB: one write per invocation; O_APPEND keeps lines whole.
		if _, err := out.Write(buf); err != nil {
			return events.DynamoDBEventResponse{}, fmt.Errorf("record: %w", err)
		}
		return events.DynamoDBEventResponse{}, nil
	})
}
