package engine

import (
	"context"

	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/wire"
)

// Operations returns the DynamoDB_20120810 operations, for wire.Server.Register.
func (db *DB) Operations() map[string]wire.Op {
	return map[string]wire.Op{
		// Control plane (catalog_ops.go).
		"CreateTable":               op(db, (*DB).CreateTable),
		"DescribeTable":             op(db, (*DB).DescribeTable),
		"UpdateTable":               op(db, (*DB).UpdateTable),
		"DeleteTable":               op(db, (*DB).DeleteTable),
		"ListTables":                op(db, (*DB).ListTables),
		"TagResource":               op(db, (*DB).TagResource),
		"UntagResource":             op(db, (*DB).UntagResource),
		"ListTagsOfResource":        op(db, (*DB).ListTagsOfResource),
		"DescribeEndpoints":         op(db, (*DB).DescribeEndpoints),
		"DescribeLimits":            op(db, (*DB).DescribeLimits),
		"DescribeContinuousBackups": op(db, (*DB).DescribeContinuousBackups),
		"UpdateContinuousBackups":   op(db, (*DB).UpdateContinuousBackups),
		"DescribeTimeToLive":        op(db, (*DB).DescribeTimeToLive),
		"UpdateTimeToLive":          op(db, (*DB).UpdateTimeToLive),

		// Items (ops_item.go).
		"PutItem":    op(db, (*DB).PutItem),
		"GetItem":    op(db, (*DB).GetItem),
		"UpdateItem": op(db, (*DB).UpdateItem),
		"DeleteItem": op(db, (*DB).DeleteItem),

		// Reads and batches (ops_read.go, ops_batch.go).
		"Query":          op(db, (*DB).Query),
		"Scan":           op(db, (*DB).Scan),
		"BatchGetItem":   op(db, (*DB).BatchGetItem),
		"BatchWriteItem": op(db, (*DB).BatchWriteItem),

		// Transactions (ops_txn.go).
		"TransactWriteItems": op(db, (*DB).TransactWriteItems),
		"TransactGetItems":   op(db, (*DB).TransactGetItems),

		// Legacy global tables (version 2017.11.29): answered as AWS does today.
		"CreateGlobalTable": func(context.Context, []byte) (any, error) {
			return nil, apierr.Validation("One or more parameter values were invalid: DynamoDB global tables version 2017.11.29 is not supported. We recommend using DynamoDB global tables version 2019.11.21. To create a global table, use UpdateTable with ReplicaUpdates.")
		},
		"UpdateGlobalTable":           legacyGlobalTable,
		"DescribeGlobalTable":         legacyGlobalTable,
		"DescribeGlobalTableSettings": legacyGlobalTable,
		"UpdateGlobalTableSettings":   legacyGlobalTable,
		"ListGlobalTables": func(context.Context, []byte) (any, error) {
			return map[string]any{"GlobalTables": []any{}}, nil
		},
	}
}

// op adapts a typed operation to wire.Op: decode the body into a fresh
// input, then run.
func op[T any](db *DB, f func(*DB, context.Context, *T) (any, error)) wire.Op {
	return func(ctx context.Context, body []byte) (any, error) {
		in := new(T)
		if err := wire.Decode(body, in); err != nil {
			return nil, err
		}
		return f(db, ctx, in)
	}
}

func legacyGlobalTable(_ context.Context, body []byte) (any, error) {
	var in struct {
		GlobalTableName string `json:"GlobalTableName"`
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	return nil, apierr.GlobalTableNotFound(in.GlobalTableName)
}
