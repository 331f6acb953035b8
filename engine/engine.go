package engine

// Placeholder so dependants compile while the engine is written; replaced by the real DB.

import (
	"context"

	"github.com/godwit-db/godwit/engine/wire"
)

// DB is one region's DynamoDB-compatible store.
type DB struct{ cfg Config }

// Open opens (creating if needed) the store described by cfg.
func Open(cfg Config) (*DB, error) { return &DB{cfg: cfg.withDefaults()}, nil }

// Close stops background work, finishes in-flight writes and closes Pebble.
func (db *DB) Close() error { return nil }

// Operations returns the DynamoDB_20120810 operations, for wire.Server.Register.
func (db *DB) Operations() map[string]wire.Op {
	return map[string]wire.Op{
		"ListTables": func(ctx context.Context, body []byte) (any, error) {
			return map[string]any{"TableNames": []string{}}, nil
		},
	}
}

// TargetPrefix is the X-Amz-Target prefix of the DynamoDB API.
const TargetPrefix = "DynamoDB_20120810"
