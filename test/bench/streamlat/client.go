package main

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/godwit-db/godwit/test/bench/benchkit"
)

// The HTTP client is benchkit's (DynamoDB JSON 1.0 over keep-alive
// connections); what is particular to this benchmark's table is here.

// tableDesc is the part of DescribeTable's answer this program reads.
type tableDesc struct {
	Table struct {
		TableStatus         string
		LatestStreamArn     string
		StreamSpecification *struct {
			StreamEnabled  bool
			StreamViewType string
		}
	}
}

// createTable creates table (pk S HASH, sk S RANGE, PAY_PER_REQUEST; with a
// NEW_AND_OLD_IMAGES stream when stream is set) unless it exists, waits
// until it is ACTIVE and returns its description. An existing table must
// match stream.
func createTable(ctx context.Context, c *benchkit.Client, table string, stream bool) (tableDesc, error) {
	req := map[string]any{
		"TableName": table,
		"AttributeDefinitions": []map[string]string{
			{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}},
		"KeySchema": []map[string]string{
			{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}},
		"BillingMode": "PAY_PER_REQUEST",
	}
	if stream {
		req["StreamSpecification"] = map[string]any{"StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"}
	}
	var buf bytes.Buffer
	if err := c.Call(ctx, "DynamoDB_20120810.CreateTable", req, nil, &buf); err != nil && !benchkit.IsType(err, "ResourceInUseException") {
		return tableDesc{}, fmt.Errorf("create table %s: %w", table, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var d tableDesc
		err := c.Call(ctx, "DynamoDB_20120810.DescribeTable", map[string]string{"TableName": table}, &d, &buf)
		if err != nil && !benchkit.IsType(err, "ResourceNotFoundException") {
			return tableDesc{}, fmt.Errorf("describe table %s: %w", table, err)
		}
		if err == nil && d.Table.TableStatus == "ACTIVE" {
			has := d.Table.StreamSpecification != nil && d.Table.StreamSpecification.StreamEnabled
			if has != stream {
				return tableDesc{}, fmt.Errorf("table %s exists with stream enabled=%v, want %v", table, has, stream)
			}
			return d, nil
		}
		if time.Now().After(deadline) {
			return tableDesc{}, fmt.Errorf("table %s not ACTIVE after 60s", table)
		}
		if err := benchkit.Pause(ctx, 50*time.Millisecond); err != nil {
			return tableDesc{}, err
		}
	}
}

// putBody renders the PutItem request of item pk: pk, sk "s" and v, a
// string of payload.
func putBody(table, pk, payload string) []byte {
	b := make([]byte, 0, 96+len(table)+len(pk)+len(payload))
	b = append(b, `{"TableName":"`...)
	b = append(b, table...)
	b = append(b, `","Item":{"pk":{"S":"`...)
	b = append(b, pk...)
	b = append(b, `"},"sk":{"S":"s"},"v":{"S":"`...)
	b = append(b, payload...)
	b = append(b, `"}}}`...)
	return b
}
