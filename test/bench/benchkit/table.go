package benchkit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// TableDesc is the part of DescribeTable's answer the benchmarks read.
type TableDesc struct {
	Table struct {
		TableStatus     string
		LatestStreamArn string
		ItemCount       int64
		TableSizeBytes  int64
		Replicas        []struct {
			RegionName                   string
			ReplicaStatus                string
			ReplicaStatusPercentProgress string
		}
	}
}

// ReplicaStatus returns region's ReplicaStatus in d ("" when not listed).
func (d TableDesc) ReplicaStatus(region string) string {
	for _, r := range d.Table.Replicas {
		if r.RegionName == region {
			return r.ReplicaStatus
		}
	}
	return ""
}

// Label is the stream label of d's latest stream ("" without one).
func (d TableDesc) Label() string {
	arn := d.Table.LatestStreamArn
	const sep = "/stream/"
	for i := len(arn) - len(sep); i >= 0; i-- {
		if arn[i:i+len(sep)] == sep {
			return arn[i+len(sep):]
		}
	}
	return ""
}

// Describe returns table's description.
func (c *Client) Describe(ctx context.Context, table string) (TableDesc, error) {
	var d TableDesc
	var buf bytes.Buffer
	err := c.Call(ctx, "DynamoDB_20120810.DescribeTable", map[string]string{"TableName": table}, &d, &buf)
	return d, err
}

// CreateTable creates table (pk S HASH, PAY_PER_REQUEST; with a
// NEW_AND_OLD_IMAGES stream when stream is set) unless it exists, and
// waits until it is ACTIVE.
func (c *Client) CreateTable(ctx context.Context, table string, stream bool) (TableDesc, error) {
	req := map[string]any{
		"TableName":            table,
		"AttributeDefinitions": []map[string]string{{"AttributeName": "pk", "AttributeType": "S"}},
		"KeySchema":            []map[string]string{{"AttributeName": "pk", "KeyType": "HASH"}},
		"BillingMode":          "PAY_PER_REQUEST",
	}
	if stream {
		req["StreamSpecification"] = map[string]any{"StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"}
	}
	var buf bytes.Buffer
	if err := c.Call(ctx, "DynamoDB_20120810.CreateTable", req, nil, &buf); err != nil && !IsType(err, "ResourceInUseException") {
		return TableDesc{}, fmt.Errorf("create table %s: %w", table, err)
	}
	var d TableDesc
	err := PollUntil(ctx, 60*time.Second, 50*time.Millisecond, func() (bool, error) {
		var err error
		d, err = c.Describe(ctx, table)
		if IsType(err, "ResourceNotFoundException") {
			return false, nil
		}
		return err == nil && d.Table.TableStatus == "ACTIVE", err
	})
	if err != nil {
		return TableDesc{}, fmt.Errorf("table %s: %w", table, err)
	}
	return d, nil
}

// CreateReplica asks the endpoint's region to add a replica of table in
// region (UpdateTable ReplicaUpdates Create).
func (c *Client) CreateReplica(ctx context.Context, table, region string) error {
	req := map[string]any{
		"TableName":      table,
		"ReplicaUpdates": []map[string]any{{"Create": map[string]string{"RegionName": region}}},
	}
	var buf bytes.Buffer
	if err := c.Call(ctx, "DynamoDB_20120810.UpdateTable", req, nil, &buf); err != nil {
		return fmt.Errorf("add replica %s of %s: %w", region, table, err)
	}
	return nil
}

// PollUntil calls f every interval until it reports done, fails, ctx ends
// or timeout passes (an error naming the timeout).
func PollUntil(ctx context.Context, timeout, interval time.Duration, f func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		done, err := f()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after %v", timeout)
		}
		if err := Pause(ctx, interval); err != nil {
			return err
		}
	}
}

// ScanAll reads every item of table (a full Scan, page by page) and calls
// f with each item's raw JSON (DynamoDB JSON of the attribute map).
func (c *Client) ScanAll(ctx context.Context, table string, f func(item json.RawMessage) error) error {
	var buf bytes.Buffer
	var start json.RawMessage
	for {
		req := map[string]any{"TableName": table}
		if start != nil {
			req["ExclusiveStartKey"] = start
		}
		var out struct {
			Items            []json.RawMessage
			LastEvaluatedKey json.RawMessage
		}
		if err := c.Call(ctx, "DynamoDB_20120810.Scan", req, &out, &buf); err != nil {
			return fmt.Errorf("scan %s: %w", table, err)
		}
		for _, it := range out.Items {
			if err := f(it); err != nil {
				return err
			}
		}
		if len(out.LastEvaluatedKey) == 0 || string(out.LastEvaluatedKey) == "null" {
			return nil
		}
		start = out.LastEvaluatedKey
	}
}

// CountItems counts table's items with Scan Select COUNT.
func (c *Client) CountItems(ctx context.Context, table string) (int64, error) {
	var buf bytes.Buffer
	var start json.RawMessage
	var n int64
	for {
		req := map[string]any{"TableName": table, "Select": "COUNT"}
		if start != nil {
			req["ExclusiveStartKey"] = start
		}
		var out struct {
			Count            int64
			LastEvaluatedKey json.RawMessage
		}
		if err := c.Call(ctx, "DynamoDB_20120810.Scan", req, &out, &buf); err != nil {
			return 0, fmt.Errorf("count %s: %w", table, err)
		}
		n += out.Count
		if len(out.LastEvaluatedKey) == 0 || string(out.LastEvaluatedKey) == "null" {
			return n, nil
		}
		start = out.LastEvaluatedKey
	}
}
