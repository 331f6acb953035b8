package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/godwit-db/godwit/internal/backoff"
	"github.com/godwit-db/godwit/streams"
)

// tailOptions are godwit tail's flags.
type tailOptions struct {
	from     string
	endpoint string
	region   string
	poll     time.Duration
}

// runTail is `godwit tail TABLE`: it prints the table's stream records,
// one JSON object per line in the DynamoDB Streams record shape, and
// follows the stream until ctx is done (SIGINT/SIGTERM), also across a
// disable and re-enable of the stream. It reads through the DynamoDB
// Streams API of --endpoint with the same consumer library replicators
// and sinks use. Records go to stdout; usage and errors to stderr.
func runTail(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("godwit tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o tailOptions
	fs.StringVar(&o.from, "from", "latest", "where to start: latest or trim-horizon")
	fs.StringVar(&o.endpoint, "endpoint", "http://localhost:8000", "the godwit server's URL")
	fs.StringVar(&o.region, "region", envOr("AWS_REGION", "us-east-1"), "the region to sign requests for")
	fs.DurationVar(&o.poll, "poll", 200*time.Millisecond, "pause between reads of an idle shard")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: godwit tail TABLE [--from latest|trim-horizon] [--endpoint URL]\n\n")
		fs.PrintDefaults()
	}
	// NB: the table may come before or after the flags.
	table, code, ok := parseTableArgs(fs, args)
	if !ok {
		return code
	}
	var from streams.StartFrom
	switch o.from {
	case "latest":
		from = streams.Latest
	case "trim-horizon":
		from = streams.TrimHorizon
	default:
		fmt.Fprintf(stderr, "godwit tail: --from %q: want latest or trim-horizon\n", o.from)
		return exitUsage
	}
	client := dynamodbstreams.New(dynamodbstreams.Options{
		Region:       o.region,
		BaseEndpoint: aws.String(o.endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(
			envOr("AWS_ACCESS_KEY_ID", "godwit"), envOr("AWS_SECRET_ACCESS_KEY", "godwit"), os.Getenv("AWS_SESSION_TOKEN")),
	})
	if err := tail(ctx, client, table, from, o.poll, stdout); err != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "godwit tail: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// tail follows table's latest stream from `from`, and each later stream
// from its start, writing records to out until ctx is done.
func tail(ctx context.Context, client *dynamodbstreams.Client, table string, from streams.StartFrom, poll time.Duration, out io.Writer) error {
	arn, err := streams.LatestStreamARN(ctx, client, table)
	if err != nil {
		return err
	}
	if arn == "" {
		return fmt.Errorf("table %s has no stream", table)
	}
	for {
		if err := tailStream(ctx, client, arn, from, poll, out); err != nil {
			return err
		}
		// The stream was disabled and fully read: wait for the next one.
		prev := arn
		for arn == prev {
			if !backoff.Sleep(ctx, poll) {
				return ctx.Err()
			}
			if arn, err = streams.LatestStreamARN(ctx, client, table); err != nil {
				return err
			}
		}
		from = streams.TrimHorizon
	}
}

// tailStream prints one stream until it ends (nil) or ctx is done.
func tailStream(ctx context.Context, client *dynamodbstreams.Client, arn string, from streams.StartFrom, poll time.Duration, out io.Writer) error {
	src := streams.NewHTTPSource(client, arn, streams.HTTPSourceConfig{PollInterval: poll})
	c, err := streams.NewConsumer(ctx, src, streams.ConsumerConfig{From: from, Name: "tail"})
	if err != nil {
		return err
	}
	defer c.Close()
	var line []byte
	for {
		recs, err := c.NextBatch(ctx, 100)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		line = line[:0]
		for i := range recs {
			line = recs[i].Event.AppendJSON(line)
			line = append(line, '\n')
		}
		if _, err := out.Write(line); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
}
