package engine

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/attr"
	"github.com/godwit-db/godwit/engine/expr"
	"github.com/godwit-db/godwit/engine/wire"
)

// Transaction limits (reference §2.2).
const (
	maxTransactItems = 100
	maxTransactBytes = 4 << 20
	tokenWindow      = 10 * time.Minute
)

// txnTarget names the item an action touches and carries its expressions.
type txnTarget struct {
	TableName                           string                `json:"TableName"`
	ConditionExpression                 *string               `json:"ConditionExpression"`
	ExpressionAttributeNames            map[string]string     `json:"ExpressionAttributeNames"`
	ExpressionAttributeValues           map[string]attr.Value `json:"ExpressionAttributeValues"`
	ReturnValuesOnConditionCheckFailure string                `json:"ReturnValuesOnConditionCheckFailure"`
}

// TransactWriteItem is one action of TransactWriteItems: exactly one member is set.
type TransactWriteItem struct {
	ConditionCheck *struct {
		txnTarget
		Key attr.Item `json:"Key"`
	} `json:"ConditionCheck"`
	Put *struct {
		txnTarget
		Item attr.Item `json:"Item"`
	} `json:"Put"`
	Delete *struct {
		txnTarget
		Key attr.Item `json:"Key"`
	} `json:"Delete"`
	Update *struct {
		txnTarget
		Key              attr.Item `json:"Key"`
		UpdateExpression *string   `json:"UpdateExpression"`
	} `json:"Update"`
}

// TransactWriteItemsInput is TransactWriteItems' request.
type TransactWriteItemsInput struct {
	TransactItems               []TransactWriteItem `json:"TransactItems"`
	ClientRequestToken          *string             `json:"ClientRequestToken"`
	ReturnConsumedCapacity      string              `json:"ReturnConsumedCapacity"`
	ReturnItemCollectionMetrics string              `json:"ReturnItemCollectionMetrics"`
}

type transactWriteOutput struct {
	ConsumedCapacity      []*ConsumedCapacity                 `json:"ConsumedCapacity,omitempty"`
	ItemCollectionMetrics map[string][]*ItemCollectionMetrics `json:"ItemCollectionMetrics,omitempty"`
}

// txnAction is a validated transaction member.
type txnAction struct {
	t        *table
	m        *tableMeta
	target   *txnTarget
	w        *itemWrite
	check    bool // ConditionCheck: evaluate only
	allOld   bool
	itemSize int
}

// TransactWriteItems applies up to 100 writes atomically across partitions
// and tables: all of them or none. It holds every partition it touches
// (in a global order, so transactions never deadlock), evaluates every
// condition, then commits one Pebble batch. Single-item writes to a held
// partition wait for the transaction rather than fail.
func (db *DB) TransactWriteItems(ctx context.Context, in *TransactWriteItemsInput) (any, error) {
	var c constraints
	if in.TransactItems == nil {
		c.notNull("transactItems", false)
	} else if len(in.TransactItems) < 1 || len(in.TransactItems) > maxTransactItems {
		n := int64(len(in.TransactItems))
		c.intRange("transactItems' length", &n, 1, maxTransactItems)
	}
	if in.ClientRequestToken != nil && (len(*in.ClientRequestToken) < 1 || len(*in.ClientRequestToken) > 36) {
		c.add("Value '%s' at 'clientRequestToken' failed to satisfy constraint: Member must have length less than or equal to 36", *in.ClientRequestToken)
	}
	c.enum("returnConsumedCapacity", in.ReturnConsumedCapacity, returnConsumedCapacityValues...)
	c.enum("returnItemCollectionMetrics", in.ReturnItemCollectionMetrics, returnItemCollectionValues...)
	if err := c.err(); err != nil {
		return nil, err
	}
	actions, err := db.prepareTxn(in)
	if err != nil {
		return nil, err
	}
	for _, a := range actions {
		a.w.accessKey = wire.AccessKeyID(ctx)
	}
	if in.ClientRequestToken == nil {
		return db.runTxn(in, actions)
	}
	raw, _ := json.Marshal(in)
	return db.txns.do(db.clock.PhysicalNow(), *in.ClientRequestToken, sha256.Sum256(raw), func() (any, error) {
		return db.runTxn(in, actions)
	})
}

// prepareTxn validates every action and builds its itemWrite; nothing is
// read or written yet.
func (db *DB) prepareTxn(in *TransactWriteItemsInput) ([]*txnAction, error) {
	actions := make([]*txnAction, 0, len(in.TransactItems))
	seen := make(map[string]bool, len(in.TransactItems))
	total := 0
	for i := range in.TransactItems {
		ti := &in.TransactItems[i]
		n := 0
		for _, set := range []bool{ti.ConditionCheck != nil, ti.Put != nil, ti.Delete != nil, ti.Update != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return nil, apierr.Validation("TransactItems can only contain one of Check, Put, Update or Delete")
		}
		a, err := db.prepareAction(ti)
		if err != nil {
			return nil, err
		}
		id := string(a.m.Name) + "\x00" + string(a.w.key.enc)
		if seen[id] {
			return nil, apierr.Validation("Transaction request cannot include multiple operations on one item")
		}
		seen[id] = true
		total += a.itemSize
		actions = append(actions, a)
	}
	if total > maxTransactBytes {
		return nil, apierr.Validation("Transaction request size exceeds the maximum allowed size of 4 MB")
	}
	return actions, nil
}

func (db *DB) prepareAction(ti *TransactWriteItem) (*txnAction, error) {
	var (
		tg     *txnTarget
		key    attr.Item
		item   attr.Item
		update *string
		kind   string
	)
	switch {
	case ti.ConditionCheck != nil:
		tg, key, kind = &ti.ConditionCheck.txnTarget, ti.ConditionCheck.Key, "ConditionCheck"
	case ti.Put != nil:
		tg, item, kind = &ti.Put.txnTarget, ti.Put.Item, "Put"
	case ti.Delete != nil:
		tg, key, kind = &ti.Delete.txnTarget, ti.Delete.Key, "Delete"
	case ti.Update != nil:
		tg, key, update, kind = &ti.Update.txnTarget, ti.Update.Key, ti.Update.UpdateExpression, "Update"
	}
	var c constraints
	c.tableName("transactItems.member."+lowerFirst(kind)+".tableName", tg.TableName)
	c.enum("returnValuesOnConditionCheckFailure", tg.ReturnValuesOnConditionCheckFailure, returnOnFailureValues...)
	switch kind {
	case "Put":
		c.notNull("transactItems.member.put.item", item != nil)
	case "Update":
		c.notNull("transactItems.member.update.updateExpression", update != nil)
		c.notNull("transactItems.member.update.key", key != nil)
	case "ConditionCheck":
		c.notNull("transactItems.member.conditionCheck.conditionExpression", tg.ConditionExpression != nil)
		c.notNull("transactItems.member.conditionCheck.key", key != nil)
	default:
		c.notNull("transactItems.member.delete.key", key != nil)
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	t, m, err := db.activeTable(tg.TableName)
	if err != nil {
		return nil, err
	}
	p, err := exprParams(tg.ExpressionAttributeNames, tg.ExpressionAttributeValues,
		tg.ExpressionAttributeNames != nil, tg.ExpressionAttributeValues != nil, tg.ConditionExpression != nil || update != nil)
	if err != nil {
		return nil, err
	}
	var cond expr.Cond
	if tg.ConditionExpression != nil {
		if cond, err = expr.ParseCondition("ConditionExpression", *tg.ConditionExpression, p); err != nil {
			return nil, err
		}
	}
	var upd *expr.Update
	if update != nil {
		if upd, err = expr.ParseUpdate(*update, p); err != nil {
			return nil, err
		}
	}
	if err := p.CheckUnused(); err != nil {
		return nil, err
	}
	a := &txnAction{t: t, m: m, target: tg, allOld: tg.ReturnValuesOnConditionCheckFailure == "ALL_OLD"}
	var pk primaryKey
	if item != nil {
		if pk, err = m.keyFromItem(item); err != nil {
			return nil, err
		}
		if err := m.checkItem(item); err != nil {
			return nil, err
		}
		a.itemSize = attr.ItemSize(item)
	} else if pk, err = m.keyFromKey(key); err != nil {
		return nil, err
	}
	w := &itemWrite{key: pk, cond: cond}
	switch kind {
	case "ConditionCheck":
		a.check = true
	case "Put":
		w.compute = func(attr.Item) (attr.Item, error) { return item, nil }
	case "Delete":
		w.compute = func(attr.Item) (attr.Item, error) { return nil, nil }
	case "Update":
		for _, path := range upd.Paths() {
			if len(path) > 0 && m.isKey(path[0].Name) {
				return nil, apierr.Validation("One or more parameter values were invalid: Cannot update attribute %s. This attribute is part of the key", path[0].Name)
			}
		}
		keyItem := pk.item(m)
		w.compute = func(old attr.Item) (attr.Item, error) {
			if old == nil {
				old = keyItem
			}
			return upd.Apply(old)
		}
	}
	a.w = w
	return a, nil
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}

// heldPartition is one partition a transaction holds.
type heldPartition struct {
	p     *partition
	br    *barrier
	delta partStats
}

// runTxn holds the actions' partitions, evaluates every action against one
// indexed batch, and commits it if all conditions hold.
func (db *DB) runTxn(in *TransactWriteItemsInput, actions []*txnAction) (any, error) {
	held, err := db.holdPartitions(actions)
	if err != nil {
		return nil, err
	}
	committed := false
	defer func() {
		for _, h := range held {
			// NB: before the release: the partition's next group may
			// delete or write its tombstones again.
			db.endTombstones(h.p.tableID, h.p.id, committed)
			close(h.br.release)
		}
	}()
	byPart := make(map[*partition]*heldPartition, len(held))
	for _, h := range held {
		byPart[h.p] = h
	}
	b := db.pebble.NewIndexedBatch()
	defer b.Close()
	reasons := make([]apierr.CancellationReason, len(actions))
	failed := false
	for i, a := range actions {
		reasons[i].Code = "None"
		h := byPart[a.t.parts[a.w.key.part]]
		d := partStats{Seq: h.delta.Seq}
		// NB: the live metadata, as on the partition goroutine: the table's
		// indexes may have changed since prepareTxn.
		err := db.apply(batchItems{b}, b, &d, a.t.m(), a.w)
		switch {
		case err == errConditionFailed:
			failed = true
			reasons[i] = apierr.CancellationReason{Code: "ConditionalCheckFailed", Message: "The conditional request failed"}
			if a.allOld && a.w.old != nil {
				reasons[i].Item = a.w.old
			}
		case err != nil:
			ae := apierr.As(err)
			if ae == nil {
				return nil, err
			}
			failed = true
			reasons[i] = apierr.CancellationReason{Code: "ValidationError", Message: ae.Message}
		default:
			h.delta.Items += d.Items
			h.delta.Bytes += d.Bytes
			h.delta.Seq = d.Seq
		}
	}
	if failed {
		db.metrics.conditionalFailures.Inc()
		return nil, apierr.TransactionCanceled(reasons)
	}
	next := make(map[*heldPartition]partStats, len(held))
	for _, h := range held {
		if st := h.p.stats.plus(h.delta); st != h.p.stats {
			next[h] = st
			if err := b.Set(statsKey(h.p.tableID, h.p.id), encodeStats(st), nil); err != nil {
				return nil, err
			}
		}
	}
	if !b.Empty() {
		for _, h := range held {
			h.p.beginCommit()
		}
		g := db.mem.begin()
		err := b.Commit(db.writeOpts)
		db.mem.end(g, b)
		for _, h := range held {
			h.p.endCommit()
		}
		if err != nil {
			db.log.Error("transaction commit failed", "error", err)
			return nil, apierr.Internal()
		}
		committed = true
	}
	// Safe: each held partition's goroutine is parked on its barrier.
	for h, st := range next {
		advanced := st.Seq != h.p.stats.Seq
		h.p.setStats(st)
		if advanced {
			db.notifyChanges(h.p.tableID, h.p.id, st.Seq, nil) // NB: rare; the publisher reads them
		}
	}
	out := &transactWriteOutput{}
	meters := map[string]*capacityMeter{}
	var order []string
	for _, a := range actions {
		if a.w.changed {
			db.metrics.itemsWritten.Inc()
		}
		mt := meters[a.target.TableName]
		if mt == nil {
			mt = &capacityMeter{table: a.target.TableName}
			meters[a.target.TableName] = mt
			order = append(order, a.target.TableName)
		}
		mt.units += 2 * writeUnits(max(a.w.oldSize, a.w.newSize))
		for name, u := range a.w.indexUnits {
			mt.addIndex(name, 2*u)
		}
	}
	for _, name := range order {
		if cc := meters[name].report(db.metaOf(name), in.ReturnConsumedCapacity); cc != nil {
			out.ConsumedCapacity = append(out.ConsumedCapacity, cc)
		}
	}
	return out, nil
}

// metaOf returns the current metadata of a table named in a request, or an empty one.
func (db *DB) metaOf(name string) *tableMeta {
	if t := db.table(resolveTableName(name)); t != nil {
		return t.m()
	}
	return &tableMeta{}
}

// holdPartitions parks every partition the actions touch, in (table id,
// partition) order so that concurrent transactions cannot deadlock.
func (db *DB) holdPartitions(actions []*txnAction) ([]*heldPartition, error) {
	set := make(map[*partition]bool)
	var parts []*partition
	for _, a := range actions {
		p := a.t.parts[a.w.key.part]
		if !set[p] {
			set[p] = true
			parts = append(parts, p)
		}
	}
	sort.Slice(parts, func(i, j int) bool {
		if parts[i].tableID != parts[j].tableID {
			return parts[i].tableID < parts[j].tableID
		}
		return parts[i].id < parts[j].id
	})
	held := make([]*heldPartition, 0, len(parts))
	for _, p := range parts {
		br, err := p.hold()
		if err != nil {
			for _, h := range held {
				close(h.br.release)
			}
			return nil, err
		}
		// The partition is parked: reading its stats here is safe.
		held = append(held, &heldPartition{p: p, br: br, delta: partStats{Seq: p.stats.Seq}})
	}
	return held, nil
}

// TransactGetItemsInput is TransactGetItems' request.
type TransactGetItemsInput struct {
	TransactItems []struct {
		Get *struct {
			TableName                string            `json:"TableName"`
			Key                      attr.Item         `json:"Key"`
			ProjectionExpression     *string           `json:"ProjectionExpression"`
			ExpressionAttributeNames map[string]string `json:"ExpressionAttributeNames"`
		} `json:"Get"`
	} `json:"TransactItems"`
	ReturnConsumedCapacity string `json:"ReturnConsumedCapacity"`
}

type itemResponse struct {
	Item attr.Item `json:"Item,omitempty"`
}

type transactGetOutput struct {
	Responses        []itemResponse      `json:"Responses"`
	ConsumedCapacity []*ConsumedCapacity `json:"ConsumedCapacity,omitempty"`
}

// TransactGetItems reads up to 100 items from one consistent snapshot: a
// transaction's writes are seen all or not at all.
func (db *DB) TransactGetItems(ctx context.Context, in *TransactGetItemsInput) (any, error) {
	var c constraints
	if in.TransactItems == nil {
		c.notNull("transactItems", false)
	} else {
		n := int64(len(in.TransactItems))
		c.intRange("transactItems' length", &n, 1, maxTransactItems)
	}
	c.enum("returnConsumedCapacity", in.ReturnConsumedCapacity, returnConsumedCapacityValues...)
	if err := c.err(); err != nil {
		return nil, err
	}
	type getAction struct {
		t    *table
		m    *tableMeta
		name string
		key  primaryKey
		proj expr.Projection
	}
	gets := make([]getAction, len(in.TransactItems))
	seen := make(map[string]bool)
	for i, ti := range in.TransactItems {
		if ti.Get == nil {
			return nil, apierr.Validation("1 validation error detected: Value null at 'transactItems.%d.member.get' failed to satisfy constraint: Member must not be null", i+1)
		}
		g := ti.Get
		var c constraints
		c.tableName("transactItems.member.get.tableName", g.TableName)
		c.notNull("transactItems.member.get.key", g.Key != nil)
		if err := c.err(); err != nil {
			return nil, err
		}
		t, m, err := db.activeTable(g.TableName)
		if err != nil {
			return nil, err
		}
		p, err := exprParams(g.ExpressionAttributeNames, nil, g.ExpressionAttributeNames != nil, false, g.ProjectionExpression != nil)
		if err != nil {
			return nil, err
		}
		proj, err := projectionOf(g.ProjectionExpression, nil, p)
		if err != nil {
			return nil, err
		}
		if err := p.CheckUnused(); err != nil {
			return nil, err
		}
		key, err := m.keyFromKey(g.Key)
		if err != nil {
			return nil, err
		}
		id := m.Name + "\x00" + string(key.enc)
		if seen[id] {
			return nil, apierr.Validation("Transaction request cannot include multiple operations on one item")
		}
		seen[id] = true
		gets[i] = getAction{t: t, m: m, name: g.TableName, key: key, proj: proj}
	}
	snap := db.pebble.NewSnapshot()
	defer snap.Close()
	for _, g := range gets {
		g.t.parts[g.key.part].awaitDurable()
	}
	out := &transactGetOutput{Responses: make([]itemResponse, len(gets))}
	meters := map[string]*capacityMeter{}
	var order []string
	for i, g := range gets {
		_, item, err := readItem(snap, g.key.itemKey(g.m))
		if err != nil {
			return nil, err
		}
		size := 0
		if item != nil {
			size = attr.ItemSize(item)
			out.Responses[i].Item = g.proj.Apply(item)
		}
		mt := meters[g.name]
		if mt == nil {
			mt = &capacityMeter{table: g.name, read: true}
			meters[g.name] = mt
			order = append(order, g.name)
		}
		mt.units += 2 * readUnits(size, true)
	}
	for _, name := range order {
		if cc := meters[name].report(db.metaOf(name), in.ReturnConsumedCapacity); cc != nil {
			out.ConsumedCapacity = append(out.ConsumedCapacity, cc)
		}
	}
	return out, nil
}

// tokenCache remembers successful TransactWriteItems by ClientRequestToken
// for ten minutes, so a retried transaction is not applied twice. It lives
// in memory: a restart forgets tokens (documented).
type tokenCache struct {
	mu      sync.Mutex
	entries map[string]*tokenEntry
}

type tokenEntry struct {
	hash [32]byte
	at   time.Time
	done chan struct{}
	out  any
	err  error
}

func newTokenCache() *tokenCache { return &tokenCache{entries: make(map[string]*tokenEntry)} }

// do runs f once per token within the window: a retry with the same
// request gets the first answer, a concurrent one TransactionInProgress, a
// different request IdempotentParameterMismatch. Failed runs are forgotten.
func (c *tokenCache) do(now time.Time, token string, hash [32]byte, f func() (any, error)) (any, error) {
	c.mu.Lock()
	for k, e := range c.entries {
		if now.Sub(e.at) > tokenWindow {
			delete(c.entries, k)
		}
	}
	if e, ok := c.entries[token]; ok {
		c.mu.Unlock()
		if e.hash != hash {
			return nil, apierr.IdempotentParameterMismatch()
		}
		select {
		case <-e.done:
			return e.out, e.err
		default:
			return nil, apierr.TransactionInProgress()
		}
	}
	e := &tokenEntry{hash: hash, at: now, done: make(chan struct{})}
	c.entries[token] = e
	c.mu.Unlock()

	e.out, e.err = f()
	if e.err != nil {
		c.mu.Lock()
		delete(c.entries, token)
		c.mu.Unlock()
	}
	close(e.done)
	return e.out, e.err
}
