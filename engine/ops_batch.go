package engine

import (
	"context"
	"sort"
	"strconv"
	"sync"

	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/attr"
	"github.com/godwit-db/godwit/engine/expr"
)

// Batch limits (reference §2.2).
const (
	maxBatchGetKeys      = 100
	maxBatchWrites       = 25
	maxBatchGetRespBytes = 16 << 20
)

// KeysAndAttributes is one table's part of a BatchGetItem request, and of
// its UnprocessedKeys.
type KeysAndAttributes struct {
	Keys                     []attr.Item       `json:"Keys"`
	AttributesToGet          []string          `json:"AttributesToGet,omitempty"`
	ConsistentRead           bool              `json:"ConsistentRead,omitempty"`
	ProjectionExpression     *string           `json:"ProjectionExpression,omitempty"`
	ExpressionAttributeNames map[string]string `json:"ExpressionAttributeNames,omitempty"`
}

// BatchGetItemInput is BatchGetItem's request.
type BatchGetItemInput struct {
	RequestItems           map[string]*KeysAndAttributes `json:"RequestItems"`
	ReturnConsumedCapacity string                        `json:"ReturnConsumedCapacity"`
}

// BatchGetItemOutput is BatchGetItem's response. Responses has an entry
// (possibly empty) for every requested table; UnprocessedKeys is always
// present, empty when everything was read.
type BatchGetItemOutput struct {
	Responses        map[string][]attr.Item        `json:"Responses"`
	UnprocessedKeys  map[string]*KeysAndAttributes `json:"UnprocessedKeys"`
	ConsumedCapacity []*ConsumedCapacity           `json:"ConsumedCapacity,omitempty"`
}

// batchGetTable is one table's validated part of a BatchGetItem.
type batchGetTable struct {
	name string // as the caller wrote it (name or ARN)
	req  *KeysAndAttributes
	t    *table
	m    *tableMeta
	proj expr.Projection
	keys []primaryKey
}

// sortedNames returns a map's keys in order (responses list tables sorted).
func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// keyIdentity is a canonical form of a request key, for duplicate checks
// before the table's schema is known (numbers are already normalised).
func keyIdentity(key attr.Item) string { return string(attr.AppendItemJSON(nil, key)) }

// BatchGetItem reads up to 100 items by key from one or more tables. Every
// read here is strongly consistent; ConsistentRead only changes the
// capacity charged. Keys whose items would take the response past 16 MB
// come back in UnprocessedKeys.
func (db *DB) BatchGetItem(ctx context.Context, in *BatchGetItemInput) (any, error) {
	var c constraints
	c.notNull("requestItems", in.RequestItems != nil)
	if in.RequestItems != nil && len(in.RequestItems) == 0 {
		c.add("Value '{}' at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	names := sortedNames(in.RequestItems)
	for _, name := range names {
		req := in.RequestItems[name]
		member := "requestItems." + name + ".member"
		if req == nil {
			c.add("Value null at '%s' failed to satisfy constraint: Member must not be null", member)
			continue
		}
		c.notNull(member+".keys", req.Keys != nil)
		if req.Keys != nil && len(req.Keys) == 0 {
			c.add("Value '[]' at '%s.keys' failed to satisfy constraint: Member must have length greater than or equal to 1", member)
		}
		if req.AttributesToGet != nil && len(req.AttributesToGet) == 0 {
			c.add("Value '[]' at '%s.attributesToGet' failed to satisfy constraint: Member must have length greater than or equal to 1", member)
		}
	}
	c.enum("returnConsumedCapacity", in.ReturnConsumedCapacity, returnConsumedCapacityValues...)
	if err := c.err(); err != nil {
		return nil, err
	}

	// Request-level checks, table by table, before any table is looked up.
	tables := make([]*batchGetTable, 0, len(names))
	total := 0
	for _, name := range names {
		req := in.RequestItems[name]
		if err := mixed(present("AttributesToGet", req.AttributesToGet != nil), present("ProjectionExpression", req.ProjectionExpression != nil)); err != nil {
			return nil, err
		}
		seen := make(map[string]bool, len(req.Keys))
		for _, key := range req.Keys {
			id := keyIdentity(key)
			if seen[id] {
				return nil, apierr.Validation("Provided list of item keys contains duplicates")
			}
			seen[id] = true
			if total++; total > maxBatchGetKeys {
				return nil, apierr.Validation("Too many items requested for the BatchGetItem call")
			}
		}
		if n, dup := duplicateName(req.AttributesToGet); dup {
			return nil, apierr.Validation("One or more parameter values were invalid: Duplicate value in attribute name: %s", n)
		}
		p, err := exprParams(req.ExpressionAttributeNames, nil, req.ExpressionAttributeNames != nil, false, req.ProjectionExpression != nil)
		if err != nil {
			return nil, err
		}
		proj, err := projectionOf(req.ProjectionExpression, req.AttributesToGet, p)
		if err != nil {
			return nil, err
		}
		if err := p.CheckUnused(); err != nil {
			return nil, err
		}
		tables = append(tables, &batchGetTable{name: name, req: req, proj: proj})
	}
	// Then the tables and the keys against their schemas.
	for _, bt := range tables {
		t, m, err := db.activeTable(bt.name)
		if err != nil {
			return nil, err
		}
		bt.t, bt.m = t, m
		for _, key := range bt.req.Keys {
			k, err := m.keyFromKey(key)
			if err != nil {
				return nil, err
			}
			bt.keys = append(bt.keys, k)
		}
	}

	out := &BatchGetItemOutput{
		Responses:       make(map[string][]attr.Item, len(tables)),
		UnprocessedKeys: map[string]*KeysAndAttributes{},
	}
	snap := db.pebble.NewSnapshot()
	defer snap.Close()
	for _, bt := range tables {
		bt.t.awaitDurable()
	}
	respBytes := 0
	for _, bt := range tables {
		items := []attr.Item{}
		meter := capacityMeter{table: bt.name, read: true}
		for i, k := range bt.keys {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			_, item, err := readItem(snap, k.itemKey(bt.m))
			if err != nil {
				return nil, readErr(err)
			}
			size := 0
			if item != nil {
				size = attr.ItemSize(item)
				if bt.proj != nil {
					item = bt.proj.Apply(item)
					if item == nil {
						item = attr.Item{}
					}
				}
				outSize := attr.ItemSize(item)
				if respBytes+outSize > maxBatchGetRespBytes {
					unprocessedKey(out.UnprocessedKeys, bt, bt.req.Keys[i])
					continue
				}
				respBytes += outSize
				items = append(items, item)
			}
			meter.units += readUnits(size, bt.req.ConsistentRead)
		}
		out.Responses[bt.name] = items
		if cc := meter.report(bt.m, in.ReturnConsumedCapacity); cc != nil {
			out.ConsumedCapacity = append(out.ConsumedCapacity, cc)
		}
	}
	return out, nil
}

// unprocessedKey adds key to UnprocessedKeys under its table, carrying the
// table's read parameters so the client can resend the entry as it is.
func unprocessedKey(dst map[string]*KeysAndAttributes, bt *batchGetTable, key attr.Item) {
	u := dst[bt.name]
	if u == nil {
		u = &KeysAndAttributes{
			AttributesToGet:          bt.req.AttributesToGet,
			ConsistentRead:           bt.req.ConsistentRead,
			ProjectionExpression:     bt.req.ProjectionExpression,
			ExpressionAttributeNames: bt.req.ExpressionAttributeNames,
		}
		dst[bt.name] = u
	}
	u.Keys = append(u.Keys, key)
}

// WriteRequest is one BatchWriteItem request: exactly one of PutRequest and
// DeleteRequest.
type WriteRequest struct {
	PutRequest    *PutRequest    `json:"PutRequest,omitempty"`
	DeleteRequest *DeleteRequest `json:"DeleteRequest,omitempty"`
}

// PutRequest replaces a whole item.
type PutRequest struct {
	Item attr.Item `json:"Item"`
}

// DeleteRequest deletes an item by key.
type DeleteRequest struct {
	Key attr.Item `json:"Key"`
}

// BatchWriteItemInput is BatchWriteItem's request.
type BatchWriteItemInput struct {
	RequestItems                map[string][]WriteRequest `json:"RequestItems"`
	ReturnConsumedCapacity      string                    `json:"ReturnConsumedCapacity"`
	ReturnItemCollectionMetrics string                    `json:"ReturnItemCollectionMetrics"`
}

// BatchWriteItemOutput is BatchWriteItem's response. UnprocessedItems is
// always present, empty when every request was applied.
type BatchWriteItemOutput struct {
	UnprocessedItems      map[string][]WriteRequest          `json:"UnprocessedItems"`
	ConsumedCapacity      []*ConsumedCapacity                `json:"ConsumedCapacity,omitempty"`
	ItemCollectionMetrics map[string][]ItemCollectionMetrics `json:"ItemCollectionMetrics,omitempty"`
}

// batchWrite is one validated BatchWriteItem request.
type batchWrite struct {
	table string // as the caller wrote it
	t     *table
	m     *tableMeta
	req   WriteRequest
	w     *itemWrite
	err   error
}

// BatchWriteItem puts or deletes up to 25 items across tables. The whole
// batch is validated before anything is written; then each request is
// written on its own (each is atomic, the batch is not), concurrently on
// the items' partitions. A request whose write fails for a reason other
// than its input comes back in UnprocessedItems; if all fail, the first
// error is returned.
func (db *DB) BatchWriteItem(ctx context.Context, in *BatchWriteItemInput) (any, error) {
	var c constraints
	c.notNull("requestItems", in.RequestItems != nil)
	if in.RequestItems != nil && len(in.RequestItems) == 0 {
		c.add("Value '{}' at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	names := sortedNames(in.RequestItems)
	for _, name := range names {
		reqs := in.RequestItems[name]
		if len(reqs) == 0 || len(reqs) > maxBatchWrites {
			c.add("Value '{%s=[...]}' at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]", name)
			continue
		}
		for i, r := range reqs {
			member := "requestItems." + name + ".member." + strconv.Itoa(i+1) + ".member"
			if r.PutRequest != nil && r.PutRequest.Item == nil {
				c.add("Value null at '%s.putRequest.item' failed to satisfy constraint: Member must not be null", member)
			}
			if r.DeleteRequest != nil && r.DeleteRequest.Key == nil {
				c.add("Value null at '%s.deleteRequest.key' failed to satisfy constraint: Member must not be null", member)
			}
		}
	}
	c.enum("returnConsumedCapacity", in.ReturnConsumedCapacity, returnConsumedCapacityValues...)
	c.enum("returnItemCollectionMetrics", in.ReturnItemCollectionMetrics, returnItemCollectionValues...)
	if err := c.err(); err != nil {
		return nil, err
	}

	total := 0
	for _, name := range names {
		for _, r := range in.RequestItems[name] {
			if (r.PutRequest == nil) == (r.DeleteRequest == nil) {
				return nil, apierr.Validation("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
			}
			if r.PutRequest != nil && attr.ItemSize(r.PutRequest.Item) > maxItemSize {
				return nil, apierr.Validation("Item size has exceeded the maximum allowed size")
			}
			total++
		}
	}
	if total > maxBatchWrites {
		return nil, apierr.Validation("Too many items requested for the BatchWriteItem call")
	}

	writes := make([]*batchWrite, 0, total)
	for _, name := range names {
		t, m, err := db.activeTable(name)
		if err != nil {
			return nil, err
		}
		seen := make(map[string]bool, len(in.RequestItems[name]))
		for _, r := range in.RequestItems[name] {
			bw := &batchWrite{table: name, t: t, m: m, req: r}
			var key primaryKey
			if r.PutRequest != nil {
				item := r.PutRequest.Item
				if key, err = batchPutKey(m, item); err != nil {
					return nil, err
				}
				if err := m.checkItem(item); err != nil {
					return nil, err
				}
				bw.w = &itemWrite{key: key, compute: func(attr.Item) (attr.Item, error) { return item, nil }}
			} else {
				if key, err = m.keyFromKey(r.DeleteRequest.Key); err != nil {
					return nil, err
				}
				bw.w = &itemWrite{key: key, compute: func(attr.Item) (attr.Item, error) { return nil, nil }}
			}
			if seen[string(key.enc)] {
				return nil, apierr.Validation("Provided list of item keys contains duplicates")
			}
			seen[string(key.enc)] = true
			writes = append(writes, bw)
		}
	}

	var wg sync.WaitGroup
	for _, bw := range writes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bw.err = db.write(bw.t, bw.w)
		}()
	}
	wg.Wait()

	out := &BatchWriteItemOutput{UnprocessedItems: map[string][]WriteRequest{}}
	meters := map[string]*capacityMeter{}
	metas := map[string]*tableMeta{}
	collections := map[string]map[string]bool{}
	var firstErr error
	failed := 0
	for _, bw := range writes {
		if bw.err != nil {
			db.log.Warn("batch write request failed", "table", bw.table, "error", bw.err)
			if firstErr == nil {
				firstErr = bw.err
			}
			failed++
			out.UnprocessedItems[bw.table] = append(out.UnprocessedItems[bw.table], bw.req)
			continue
		}
		if bw.w.changed {
			db.metrics.itemsWritten.Inc()
		}
		meter := meters[bw.table]
		if meter == nil {
			meter = &capacityMeter{table: bw.table}
			meters[bw.table], metas[bw.table] = meter, bw.m
		}
		meter.units += writeUnits(max(bw.w.oldSize, bw.w.newSize))
		for name, u := range bw.w.indexUnits {
			meter.addIndex(name, u)
		}
		if in.ReturnItemCollectionMetrics == "SIZE" && bw.m.hasLSI() {
			if collections[bw.table] == nil {
				collections[bw.table] = map[string]bool{}
			}
			pk := string(attr.AppendKey(nil, bw.w.key.pk))
			if !collections[bw.table][pk] {
				collections[bw.table][pk] = true
				if out.ItemCollectionMetrics == nil {
					out.ItemCollectionMetrics = map[string][]ItemCollectionMetrics{}
				}
				out.ItemCollectionMetrics[bw.table] = append(out.ItemCollectionMetrics[bw.table], ItemCollectionMetrics{
					ItemCollectionKey:   attr.Item{bw.m.HashKey: bw.w.key.pk},
					SizeEstimateRangeGB: []float64{0, 1},
				})
			}
		}
	}
	if failed == len(writes) && firstErr != nil {
		return nil, firstErr
	}
	for _, name := range sortedNames(meters) {
		if cc := meters[name].report(metas[name], in.ReturnConsumedCapacity); cc != nil {
			out.ConsumedCapacity = append(out.ConsumedCapacity, cc)
		}
	}
	return out, nil
}

// batchPutKey validates a BatchWriteItem PutRequest's item key. Unlike
// PutItem, AWS words a missing or mistyped key attribute as a key mismatch.
func batchPutKey(m *tableMeta, item attr.Item) (primaryKey, error) {
	for _, k := range []struct {
		name string
		t    attr.Type
	}{{m.HashKey, m.HashType}, {m.RangeKey, m.RangeType}} {
		if k.name == "" {
			continue
		}
		if v, ok := item[k.name]; !ok || v.Type != k.t {
			return primaryKey{}, apierr.Validation("The provided key element does not match the schema")
		}
	}
	return m.keyFromItem(item)
}
