package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/godwit-db/godwit/streams"
	"github.com/godwit-db/godwit/streams/embedded"
	"github.com/godwit-db/godwit/test/harness"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestConfigNATSFlags(t *testing.T) {
	path := writeFile(t, "nats-url: nats://a:4222,nats://b:4222\nstream-retention: 48h\n")
	cfg, err := loadConfig([]string{"--config", path, "--nats-listen", "-", "--stream-max-bytes", "-1",
		"--nats-max-store", "1073741824"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NATSURL != "nats://a:4222,nats://b:4222" || cfg.StreamRetention != 48*time.Hour || cfg.NATSListen != "-" ||
		cfg.StreamMaxBytes != -1 || cfg.NATSMaxStore != 1<<30 {
		t.Errorf("got %+v", cfg)
	}
	// Unset, they mean their documented defaults.
	if d := DefaultConfig(); d.natsListen() != "127.0.0.1:4222" || d.streamRetention() != 24*time.Hour {
		t.Errorf("defaults: nats-listen %q, stream-retention %s", d.natsListen(), d.streamRetention())
	}
	var usage bytes.Buffer
	_, _ = loadConfig([]string{"-h"}, &usage)
	for _, want := range []string{"-nats-listen", "127.0.0.1:4222", "-nats-url", "-stream-retention", "24h0m0s"} {
		if !strings.Contains(usage.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, usage.String())
		}
	}

	_, err = loadConfig([]string{"--nats-listen", "nope", "--stream-retention", "1s", "--stream-max-bytes", "-2",
		"--nats-max-store", "-1", "--nats-url", "a b"}, &bytes.Buffer{})
	if err == nil {
		t.Fatal("bad NATS settings accepted")
	}
	for _, want := range []string{"nats-listen:", "stream-retention:", "stream-max-bytes:", "nats-max-store:", "nats-url:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// serveUntil runs serve with cfg until the test ends and returns the API URL.
func serveUntil(t *testing.T, cfg Config) (string, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, logs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v\n%s", err, logs.String())
		}
	})
	addr := waitFor(t, "the listening line", func() string {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("serve returned early: %v\n%s", err, logs.String())
		default:
		}
		if m := listeningLine.FindStringSubmatch(logs.String()); m != nil {
			return m[1]
		}
		return ""
	})
	return "http://" + addr, logs
}

func ddbClient(url string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
}

// writeStreamed creates a streamed table and writes n items through url.
func writeStreamed(t *testing.T, url string, n int) {
	t.Helper()
	cl := ddbClient(url)
	ctx := context.Background()
	if _, err := cl.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("streamed"),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
		StreamSpecification:  &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeKeysOnly},
	}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := cl.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("streamed"),
			Item: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: strings.Repeat("k", i+1)}}}); err != nil {
			t.Fatal(err)
		}
	}
}

// waitRecords polls the JetStream account behind nc until its streams
// hold n records (a message may carry several: streams layout 2).
func waitRecords(t *testing.T, nc *nats.Conn, n uint64) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the records on JetStream", func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		info, err := js.AccountInfo(ctx)
		if err != nil || info.Streams != 1 {
			return ""
		}
		var recs uint64
		for name := range js.StreamNames(ctx).Name() {
			s, err := js.Stream(ctx, name)
			if err != nil {
				return ""
			}
			si, err := s.Info(ctx)
			if err != nil {
				return ""
			}
			for seq := si.State.FirstSeq; seq <= si.State.LastSeq && si.State.Msgs > 0; seq++ {
				m, err := s.GetMsg(ctx, seq)
				if err != nil {
					return ""
				}
				c, err := streams.MessageCount(m.Header)
				if err != nil {
					t.Fatal(err)
				}
				recs += uint64(c)
			}
		}
		if recs == n {
			return "ok"
		}
		return ""
	})
}

func TestServeEmbeddedNATSListener(t *testing.T) {
	natsAddr := harness.FreeAddr(t)
	cfg := DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.NATSListen = "127.0.0.1:0", t.TempDir(), natsAddr
	url, logs := serveUntil(t, cfg)
	if !strings.Contains(logs.String(), "nats-addr="+natsAddr) {
		t.Errorf("the NATS address is not logged:\n%s", logs.String())
	}
	writeStreamed(t, url, 5)
	nc, err := nats.Connect("nats://" + natsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	waitRecords(t, nc, 5)
}

func TestServeExternalNATS(t *testing.T) {
	ext, err := embedded.Start(embedded.Config{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Domain: "us-east-1", MaxStore: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer ext.Shutdown()
	cfg := DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.NATSURL, cfg.StreamMaxBytes = "127.0.0.1:0", t.TempDir(), ext.ClientURL(), 64<<20
	url, _ := serveUntil(t, cfg)
	writeStreamed(t, url, 3)
	nc, err := ext.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	waitRecords(t, nc, 3)
}

func TestServeDefaultNATSPortTaken(t *testing.T) {
	// Hold the default port if it is free (if not, someone else holds it:
	// the same situation).
	if ln, err := net.Listen("tcp", "127.0.0.1:4222"); err == nil {
		defer ln.Close()
	}
	cfg := DefaultConfig()
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	_, logs := serveUntil(t, cfg)
	if !strings.Contains(logs.String(), "default NATS port is taken") {
		t.Errorf("no warning about the taken default port:\n%s", logs.String())
	}
}
