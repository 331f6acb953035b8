package engine

import (
	"context"

	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/attr"
	"github.com/godwit-db/godwit/engine/expr"
	"github.com/godwit-db/godwit/engine/wire"
)

// ItemCollectionMetrics is returned for tables with LSIs when asked (SIZE).
type ItemCollectionMetrics struct {
	ItemCollectionKey   attr.Item `json:"ItemCollectionKey"`
	SizeEstimateRangeGB []float64 `json:"SizeEstimateRangeGB"`
}

// writeOutput is the response of PutItem, UpdateItem and DeleteItem.
type writeOutput struct {
	Attributes            attr.Item              `json:"Attributes,omitempty"`
	ConsumedCapacity      *ConsumedCapacity      `json:"ConsumedCapacity,omitempty"`
	ItemCollectionMetrics *ItemCollectionMetrics `json:"ItemCollectionMetrics,omitempty"`
}

// writeCommon holds the members PutItem, UpdateItem and DeleteItem share.
type writeCommon struct {
	TableName                           string                                 `json:"TableName"`
	ConditionExpression                 *string                                `json:"ConditionExpression"`
	ExpressionAttributeNames            map[string]string                      `json:"ExpressionAttributeNames"`
	ExpressionAttributeValues           map[string]attr.Value                  `json:"ExpressionAttributeValues"`
	Expected                            map[string]expr.ExpectedAttributeValue `json:"Expected"`
	ConditionalOperator                 string                                 `json:"ConditionalOperator"`
	ReturnValues                        string                                 `json:"ReturnValues"`
	ReturnConsumedCapacity              string                                 `json:"ReturnConsumedCapacity"`
	ReturnItemCollectionMetrics         string                                 `json:"ReturnItemCollectionMetrics"`
	ReturnValuesOnConditionCheckFailure string                                 `json:"ReturnValuesOnConditionCheckFailure"`
}

func (in *writeCommon) constraints(c *constraints) {
	c.tableName("tableName", in.TableName)
	c.enum("returnValues", in.ReturnValues, returnValuesValues...)
	c.enum("returnConsumedCapacity", in.ReturnConsumedCapacity, returnConsumedCapacityValues...)
	c.enum("returnItemCollectionMetrics", in.ReturnItemCollectionMetrics, returnItemCollectionValues...)
	c.enum("returnValuesOnConditionCheckFailure", in.ReturnValuesOnConditionCheckFailure, returnOnFailureValues...)
	c.enum("conditionalOperator", in.ConditionalOperator, conditionalOperatorValues...)
}

// finish turns a finished write into the operation's response or error.
func (db *DB) finish(in *writeCommon, m *tableMeta, w *itemWrite, err error, attrs attr.Item) (any, error) {
	if err == errConditionFailed {
		var item any
		if in.ReturnValuesOnConditionCheckFailure == "ALL_OLD" && w.old != nil {
			item = w.old
		}
		db.metrics.conditionalFailures.Inc()
		return nil, apierr.ConditionalCheckFailed(item)
	}
	if err != nil {
		return nil, err
	}
	if w.changed {
		db.metrics.itemsWritten.Inc()
	}
	out := &writeOutput{Attributes: attrs}
	meter := capacityMeter{table: in.TableName, units: writeUnits(max(w.oldSize, w.newSize))}
	for name, u := range w.indexUnits {
		meter.addIndex(name, u)
	}
	out.ConsumedCapacity = meter.report(m, in.ReturnConsumedCapacity)
	if in.ReturnItemCollectionMetrics == "SIZE" && m.hasLSI() {
		out.ItemCollectionMetrics = &ItemCollectionMetrics{
			ItemCollectionKey:   attr.Item{m.HashKey: w.key.pk},
			SizeEstimateRangeGB: []float64{0, 1},
		}
	}
	if out.Attributes == nil && out.ConsumedCapacity == nil && out.ItemCollectionMetrics == nil {
		// NB: the usual answer, {}, without encoding/json's reflection.
		return nil, nil
	}
	return out, nil
}

func (m *tableMeta) hasLSI() bool {
	for _, ix := range m.Indexes {
		if ix.Local {
			return true
		}
	}
	return false
}

// PutItemInput is PutItem's request.
type PutItemInput struct {
	writeCommon
	Item attr.Item `json:"Item"`
}

// PutItem creates or replaces a whole item.
func (db *DB) PutItem(ctx context.Context, in *PutItemInput) (any, error) {
	t, m, cond, err := db.prepareWholeWrite(&in.writeCommon, "item", in.Item != nil)
	if err != nil {
		return nil, err
	}
	key, err := m.keyFromItem(in.Item)
	if err != nil {
		return nil, err
	}
	if err := m.checkItem(in.Item); err != nil {
		return nil, err
	}
	return db.writeWhole(ctx, &in.writeCommon, t, m, key, cond, in.Item)
}

// prepareWholeWrite runs the checks PutItem and DeleteItem share, in AWS's
// order: the model's constraints (member names the operation's own required
// member), ReturnValues NONE or ALL_OLD, no mixing of Expected with
// ConditionExpression, the table, and the condition with its placeholders.
func (db *DB) prepareWholeWrite(in *writeCommon, member string, required bool) (*table, *tableMeta, expr.Cond, error) {
	var c constraints
	in.constraints(&c)
	c.notNull(member, required)
	if err := c.err(); err != nil {
		return nil, nil, nil, err
	}
	if in.ReturnValues != "" && in.ReturnValues != "NONE" && in.ReturnValues != "ALL_OLD" {
		return nil, nil, nil, apierr.Validation("ReturnValues can only be ALL_OLD or NONE")
	}
	if err := mixed(present("Expected", in.Expected != nil), present("ConditionExpression", in.ConditionExpression != nil)); err != nil {
		return nil, nil, nil, err
	}
	t, m, err := db.activeTable(in.TableName)
	if err != nil {
		return nil, nil, nil, err
	}
	p, err := exprParams(in.ExpressionAttributeNames, in.ExpressionAttributeValues,
		in.ExpressionAttributeNames != nil, in.ExpressionAttributeValues != nil, in.ConditionExpression != nil)
	if err != nil {
		return nil, nil, nil, err
	}
	cond, err := conditionOf(in.ConditionExpression, in.Expected, in.ConditionalOperator, p)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := p.CheckUnused(); err != nil {
		return nil, nil, nil, err
	}
	return t, m, cond, nil
}

// writeWhole replaces the item at key with item (nil deletes it) and answers
// as PutItem and DeleteItem do.
func (db *DB) writeWhole(ctx context.Context, in *writeCommon, t *table, m *tableMeta, key primaryKey, cond expr.Cond, item attr.Item) (any, error) {
	w := &itemWrite{key: key, cond: cond, accessKey: wire.AccessKeyID(ctx), compute: func(attr.Item) (attr.Item, error) { return item, nil }}
	err := db.write(t, w)
	var attrs attr.Item
	if in.ReturnValues == "ALL_OLD" {
		attrs = w.old
	}
	return db.finish(in, m, w, err, attrs)
}

// DeleteItemInput is DeleteItem's request.
type DeleteItemInput struct {
	writeCommon
	Key attr.Item `json:"Key"`
}

// DeleteItem deletes an item by key (idempotent without a condition).
func (db *DB) DeleteItem(ctx context.Context, in *DeleteItemInput) (any, error) {
	t, m, cond, err := db.prepareWholeWrite(&in.writeCommon, "key", in.Key != nil)
	if err != nil {
		return nil, err
	}
	key, err := m.keyFromKey(in.Key)
	if err != nil {
		return nil, err
	}
	return db.writeWhole(ctx, &in.writeCommon, t, m, key, cond, nil)
}

// UpdateItemInput is UpdateItem's request.
type UpdateItemInput struct {
	writeCommon
	Key              attr.Item                            `json:"Key"`
	UpdateExpression *string                              `json:"UpdateExpression"`
	AttributeUpdates map[string]expr.AttributeValueUpdate `json:"AttributeUpdates"`
}

// UpdateItem edits an item's attributes, creating the item if it is absent.
func (db *DB) UpdateItem(ctx context.Context, in *UpdateItemInput) (any, error) {
	var c constraints
	in.constraints(&c)
	c.notNull("key", in.Key != nil)
	if err := c.err(); err != nil {
		return nil, err
	}
	if err := mixed(
		present("AttributeUpdates", in.AttributeUpdates != nil, "Expected", in.Expected != nil),
		present("UpdateExpression", in.UpdateExpression != nil, "ConditionExpression", in.ConditionExpression != nil),
	); err != nil {
		return nil, err
	}
	t, m, err := db.activeTable(in.TableName)
	if err != nil {
		return nil, err
	}
	usesExpr := in.ConditionExpression != nil || in.UpdateExpression != nil
	p, err := exprParams(in.ExpressionAttributeNames, in.ExpressionAttributeValues,
		in.ExpressionAttributeNames != nil, in.ExpressionAttributeValues != nil, usesExpr)
	if err != nil {
		return nil, err
	}
	var upd *expr.Update
	switch {
	case in.UpdateExpression != nil:
		upd, err = expr.ParseUpdate(*in.UpdateExpression, p)
	case in.AttributeUpdates != nil:
		upd, err = expr.UpdateFromAttributeUpdates(in.AttributeUpdates)
	}
	if err != nil {
		return nil, err
	}
	cond, err := conditionOf(in.ConditionExpression, in.Expected, in.ConditionalOperator, p)
	if err != nil {
		return nil, err
	}
	if err := p.CheckUnused(); err != nil {
		return nil, err
	}
	key, err := m.keyFromKey(in.Key)
	if err != nil {
		return nil, err
	}
	var paths []expr.Path
	if upd != nil {
		paths = upd.Paths()
		for _, path := range paths {
			if len(path) > 0 && m.isKey(path[0].Name) {
				return nil, apierr.Validation("One or more parameter values were invalid: Cannot update attribute %s. This attribute is part of the key", path[0].Name)
			}
		}
	}
	keyItem := key.item(m)
	w := &itemWrite{key: key, cond: cond, accessKey: wire.AccessKeyID(ctx), compute: func(old attr.Item) (attr.Item, error) {
		base := old
		if base == nil {
			base = keyItem
		}
		if upd == nil {
			return base, nil
		}
		nw, err := upd.Apply(base)
		if err == nil && attr.ItemSize(nw) > maxItemSize {
			// NB: UpdateItem words the limit differently from PutItem.
			return nil, apierr.Validation("Item size to update has exceeded the maximum allowed size")
		}
		return nw, err
	}}
	err = db.write(t, w)
	var attrs attr.Item
	switch in.ReturnValues {
	case "ALL_OLD":
		attrs = w.old
	case "ALL_NEW":
		attrs = w.new
	case "UPDATED_OLD":
		attrs = projectPaths(w.old, paths)
	case "UPDATED_NEW":
		attrs = projectPaths(w.new, paths)
	}
	return db.finish(&in.writeCommon, m, w, err, attrs)
}

// projectPaths returns the parts of it at paths (nil when none exist).
func projectPaths(it attr.Item, paths []expr.Path) attr.Item {
	if it == nil || len(paths) == 0 {
		return nil
	}
	out := expr.Projection(paths).Apply(it)
	if len(out) == 0 {
		return nil
	}
	return out
}

// GetItemInput is GetItem's request.
type GetItemInput struct {
	TableName                string            `json:"TableName"`
	Key                      attr.Item         `json:"Key"`
	ConsistentRead           bool              `json:"ConsistentRead"`
	ProjectionExpression     *string           `json:"ProjectionExpression"`
	ExpressionAttributeNames map[string]string `json:"ExpressionAttributeNames"`
	AttributesToGet          []string          `json:"AttributesToGet"`
	ReturnConsumedCapacity   string            `json:"ReturnConsumedCapacity"`
}

type getItemOutput struct {
	Item             *attr.Item        `json:"Item,omitempty"`
	ConsumedCapacity *ConsumedCapacity `json:"ConsumedCapacity,omitempty"`
}

// GetItem reads one item by key. Every read here is strongly consistent;
// ConsistentRead only changes the capacity charged.
func (db *DB) GetItem(ctx context.Context, in *GetItemInput) (any, error) {
	var c constraints
	c.tableName("tableName", in.TableName)
	c.notNull("key", in.Key != nil)
	c.enum("returnConsumedCapacity", in.ReturnConsumedCapacity, returnConsumedCapacityValues...)
	if err := c.err(); err != nil {
		return nil, err
	}
	if err := mixed(present("AttributesToGet", in.AttributesToGet != nil), present("ProjectionExpression", in.ProjectionExpression != nil)); err != nil {
		return nil, err
	}
	t, m, err := db.activeTable(in.TableName)
	if err != nil {
		return nil, err
	}
	p, err := exprParams(in.ExpressionAttributeNames, nil, in.ExpressionAttributeNames != nil, false, in.ProjectionExpression != nil)
	if err != nil {
		return nil, err
	}
	proj, err := projectionOf(in.ProjectionExpression, in.AttributesToGet, p)
	if err != nil {
		return nil, err
	}
	if err := p.CheckUnused(); err != nil {
		return nil, err
	}
	key, err := m.keyFromKey(in.Key)
	if err != nil {
		return nil, err
	}
	_, item, err := readItem(db.pebble, key.itemKey(m))
	if err != nil {
		return nil, err
	}
	t.parts[key.part].awaitDurable()
	out := &getItemOutput{}
	size := 0
	if item != nil {
		size = attr.ItemSize(item)
		projected := proj.Apply(item)
		if projected == nil {
			projected = attr.Item{}
		}
		out.Item = &projected
	}
	meter := capacityMeter{table: in.TableName, read: true, units: readUnits(size, in.ConsistentRead)}
	out.ConsumedCapacity = meter.report(m, in.ReturnConsumedCapacity)
	if out.ConsumedCapacity == nil {
		return out.rawJSON(size), nil
	}
	return out, nil
}

// rawJSON is the body encoding/json makes of o, which has no
// ConsumedCapacity, built without reflection; size is the item's size,
// a hint for the buffer.
func (o *getItemOutput) rawJSON(size int) wire.RawJSON {
	if o.Item == nil {
		return nil // NB: the wire layer sends {}.
	}
	b := make([]byte, 0, 2*size+64)
	b = append(b, `{"Item":`...)
	b = attr.AppendItemJSON(b, *o.Item)
	return append(b, '}')
}
