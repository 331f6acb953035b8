package engine

import (
	"bytes"
	"context"
	"math"

	"github.com/cockroachdb/pebble/v2"
	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/attr"
	"github.com/godwit-db/godwit/engine/expr"
)

// selectEnum is Select's enum in the order AWS lists it in its messages.
var selectEnum = []string{"SPECIFIC_ATTRIBUTES", "COUNT", "ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES"}

// QueryInput is Query's request.
type QueryInput struct {
	TableName                 string                    `json:"TableName"`
	IndexName                 *string                   `json:"IndexName"`
	Select                    string                    `json:"Select"`
	AttributesToGet           []string                  `json:"AttributesToGet"`
	Limit                     *int64                    `json:"Limit"`
	ConsistentRead            bool                      `json:"ConsistentRead"`
	KeyConditions             map[string]expr.Condition `json:"KeyConditions"`
	QueryFilter               map[string]expr.Condition `json:"QueryFilter"`
	ConditionalOperator       string                    `json:"ConditionalOperator"`
	ScanIndexForward          *bool                     `json:"ScanIndexForward"`
	ExclusiveStartKey         attr.Item                 `json:"ExclusiveStartKey"`
	ReturnConsumedCapacity    string                    `json:"ReturnConsumedCapacity"`
	ProjectionExpression      *string                   `json:"ProjectionExpression"`
	FilterExpression          *string                   `json:"FilterExpression"`
	KeyConditionExpression    *string                   `json:"KeyConditionExpression"`
	ExpressionAttributeNames  map[string]string         `json:"ExpressionAttributeNames"`
	ExpressionAttributeValues map[string]attr.Value     `json:"ExpressionAttributeValues"`
}

// ScanInput is Scan's request.
type ScanInput struct {
	TableName                 string                    `json:"TableName"`
	IndexName                 *string                   `json:"IndexName"`
	AttributesToGet           []string                  `json:"AttributesToGet"`
	Limit                     *int64                    `json:"Limit"`
	Select                    string                    `json:"Select"`
	ScanFilter                map[string]expr.Condition `json:"ScanFilter"`
	ConditionalOperator       string                    `json:"ConditionalOperator"`
	ExclusiveStartKey         attr.Item                 `json:"ExclusiveStartKey"`
	ReturnConsumedCapacity    string                    `json:"ReturnConsumedCapacity"`
	TotalSegments             *int64                    `json:"TotalSegments"`
	Segment                   *int64                    `json:"Segment"`
	ProjectionExpression      *string                   `json:"ProjectionExpression"`
	FilterExpression          *string                   `json:"FilterExpression"`
	ExpressionAttributeNames  map[string]string         `json:"ExpressionAttributeNames"`
	ExpressionAttributeValues map[string]attr.Value     `json:"ExpressionAttributeValues"`
	ConsistentRead            bool                      `json:"ConsistentRead"`
}

// ReadOutput is the response of Query and Scan. Items is absent for Select
// COUNT and otherwise always present (an empty list when nothing matched).
type ReadOutput struct {
	Items            *[]attr.Item      `json:"Items,omitempty"`
	Count            int               `json:"Count"`
	ScannedCount     int               `json:"ScannedCount"`
	LastEvaluatedKey attr.Item         `json:"LastEvaluatedKey,omitempty"`
	ConsumedCapacity *ConsumedCapacity `json:"ConsumedCapacity,omitempty"`
}

// readCommon is what Query and Scan share once their own members are checked.
type readCommon struct {
	sel        string // resolved Select
	filter     expr.Cond
	filterName string // "Filter Expression" or the legacy parameter's name
	proj       expr.Projection
}

// selectError returns the message for a Select that contradicts the
// projection parameters or the lack of an index ("" when fine). AWS checks
// the projection first.
func selectError(sel string, projExpr, attrsToGet, indexed bool) string {
	what := map[string]string{
		"ALL_ATTRIBUTES":           "ALL_ATTRIBUTES",
		"ALL_PROJECTED_ATTRIBUTES": "ALL_PROJECTED_ATTRIBUTES",
		"COUNT":                    "only the Count",
	}
	switch sel {
	case "ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES", "COUNT":
		if projExpr {
			return "Cannot specify the ProjectionExpression when choosing to get " + what[sel]
		}
		if attrsToGet {
			return "Cannot specify the AttributesToGet when choosing to get " + what[sel]
		}
		if sel == "ALL_PROJECTED_ATTRIBUTES" && !indexed {
			return "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"
		}
	case "SPECIFIC_ATTRIBUTES":
		if !projExpr && !attrsToGet {
			return "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES"
		}
	}
	return ""
}

// resolveSelect fills in the default Select.
func resolveSelect(sel string, hasProj, indexed bool) string {
	switch {
	case sel != "":
		return sel
	case hasProj:
		return "SPECIFIC_ATTRIBUTES"
	case indexed:
		return "ALL_PROJECTED_ATTRIBUTES"
	}
	return "ALL_ATTRIBUTES"
}

// duplicateName returns the first name listed twice, if any.
func duplicateName(names []string) (string, bool) {
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[n] {
			return n, true
		}
		seen[n] = true
	}
	return "", false
}

// readIndex resolves IndexName for a read of m.
func readIndex(m *tableMeta, name *string, consistent bool) (*indexMeta, error) {
	if name == nil {
		return nil, nil
	}
	ix := m.index(*name)
	if ix == nil || ix.Status == "DELETING" {
		return nil, apierr.Validation("The table does not have the specified index: %s", *name)
	}
	if !ix.readable() {
		return nil, apierr.Validation("Cannot read from backfilling global secondary index: %s", ix.Name)
	}
	if !ix.Local && consistent {
		return nil, apierr.Validation("Consistent reads are not supported on global secondary indexes")
	}
	return ix, nil
}

// planIndexRead decides, for a read of ix, whether base items must be
// fetched, and rejects ALL_ATTRIBUTES on a GSI that does not project all.
func planIndexRead(m *tableMeta, ix *indexMeta, rc *readCommon) (fetch bool, err error) {
	if ix == nil || ix.ProjectionType == "ALL" {
		return false, nil
	}
	if rc.sel == "ALL_ATTRIBUTES" {
		if !ix.Local {
			return false, apierr.Validation("One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index %s because its projection type is not ALL", ix.Name)
		}
		return true, nil
	}
	if !ix.Local {
		// NB: a GSI cannot fetch from its table: attributes it does not
		// project are simply absent, for the projection and the filter alike.
		return false, nil
	}
	projected := map[string]bool{m.HashKey: true, ix.HashKey: true}
	for _, n := range []string{m.RangeKey, ix.RangeKey} {
		if n != "" {
			projected[n] = true
		}
	}
	for _, n := range ix.NonKeyAttributes {
		projected[n] = true
	}
	var paths []expr.Path
	if rc.sel == "SPECIFIC_ATTRIBUTES" {
		paths = append(paths, rc.proj...)
	}
	if rc.filter != nil {
		paths = append(paths, rc.filter.Paths()...)
	}
	for _, p := range paths {
		if len(p) > 0 && !projected[p[0].Name] {
			return true, nil
		}
	}
	return false, nil
}

// checkStartKeyAttrs checks that an ExclusiveStartKey holds exactly the
// table's key attributes plus ix's (if any), with the schema's types, and
// returns the table key it names. The messages differ, as AWS's do, between
// Query (query: the queried schema is checked first, unprefixed) and Scan.
func checkStartKeyAttrs(m *tableMeta, ix *indexMeta, esk attr.Item, query bool) (primaryKey, error) {
	const invalid = "The provided starting key is invalid"
	const mismatch = "The provided key element does not match the schema"
	type keyAttr struct {
		name string
		t    attr.Type
	}
	tableKeys := []keyAttr{{m.HashKey, m.HashType}, {m.RangeKey, m.RangeType}}
	names := map[string]bool{}
	for _, k := range tableKeys {
		if k.name != "" {
			names[k.name] = true
		}
	}
	var schema []keyAttr
	switch {
	case ix != nil:
		schema = []keyAttr{{ix.HashKey, ix.HashType}, {ix.RangeKey, ix.RangeType}}
		names[ix.HashKey] = true
		if ix.RangeKey != "" {
			names[ix.RangeKey] = true
		}
	case query:
		schema = tableKeys
	}
	if len(esk) != len(names) {
		if ix == nil && !query {
			return primaryKey{}, apierr.Validation(invalid + ": " + mismatch)
		}
		return primaryKey{}, apierr.Validation(invalid)
	}
	for _, k := range schema {
		if k.name == "" {
			continue
		}
		v, ok := esk[k.name]
		if !ok {
			return primaryKey{}, apierr.Validation(invalid)
		}
		if v.Type != k.t {
			return primaryKey{}, apierr.Validation(mismatch)
		}
	}
	tk := attr.Item{}
	for _, k := range tableKeys {
		if k.name == "" {
			continue
		}
		v, ok := esk[k.name]
		if !ok {
			return primaryKey{}, apierr.Validation(invalid + ": " + mismatch)
		}
		tk[k.name] = v
	}
	k, err := m.keyFromKey(tk)
	if err != nil {
		if e := apierr.As(err); e != nil {
			return primaryKey{}, apierr.Validation("%s: %s", invalid, e.Message)
		}
		return primaryKey{}, err
	}
	return k, nil
}

// indexEntryKey is the Pebble key of the index entry for table key k with
// index key attributes taken from key (an ExclusiveStartKey).
func indexEntryKey(m *tableMeta, ix *indexMeta, k *primaryKey, key attr.Item) []byte {
	b := attr.AppendKey(indexPrefix(m.ID, ix.ID), key[ix.HashKey])
	if ix.RangeKey != "" {
		b = attr.AppendKey(b, key[ix.RangeKey])
	}
	return append(b, k.enc...)
}

// Query reads the items of one partition key value, in sort key order, from
// a table or one of its indexes.
func (db *DB) Query(ctx context.Context, in *QueryInput) (any, error) {
	var c constraints
	c.tableName("tableName", in.TableName)
	if in.IndexName != nil {
		c.name("indexName", *in.IndexName)
	}
	c.intRange("limit", in.Limit, 1, math.MaxInt32)
	c.enum("select", in.Select, selectEnum...)
	c.enum("returnConsumedCapacity", in.ReturnConsumedCapacity, returnConsumedCapacityValues...)
	c.enum("conditionalOperator", in.ConditionalOperator, conditionalOperatorValues...)
	if in.AttributesToGet != nil && len(in.AttributesToGet) == 0 {
		c.add("Value '[]' at 'attributesToGet' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if len(c.msgs) == 0 {
		// NB: AWS reports these for Query as model violations ("1 validation
		// error detected: ..."), unlike Scan.
		if msg := selectError(in.Select, in.ProjectionExpression != nil, in.AttributesToGet != nil, in.IndexName != nil); msg != "" {
			c.add("%s", msg)
		}
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	// KeyConditions alone may go with expressions (AWS's special case).
	nonExpr := present("AttributesToGet", in.AttributesToGet != nil, "QueryFilter", in.QueryFilter != nil,
		"ConditionalOperator", in.ConditionalOperator != "", "KeyConditions", in.KeyConditions != nil && in.KeyConditionExpression != nil)
	exprs := present("ProjectionExpression", in.ProjectionExpression != nil, "FilterExpression", in.FilterExpression != nil,
		"KeyConditionExpression", in.KeyConditionExpression != nil)
	if err := mixed(nonExpr, exprs); err != nil {
		return nil, err
	}
	if n, dup := duplicateName(in.AttributesToGet); dup {
		return nil, apierr.Validation("One or more parameter values were invalid: Duplicate value in attribute name: %s", n)
	}
	if in.KeyConditions == nil && in.KeyConditionExpression == nil {
		return nil, apierr.Validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
	}
	p, err := exprParams(in.ExpressionAttributeNames, in.ExpressionAttributeValues,
		in.ExpressionAttributeNames != nil, in.ExpressionAttributeValues != nil, len(exprs) > 0)
	if err != nil {
		return nil, err
	}
	var kc *expr.KeyCondition
	if in.KeyConditionExpression != nil {
		kc, err = expr.ParseKeyCondition(*in.KeyConditionExpression, p)
	} else {
		kc, err = expr.KeyConditionFromLegacy(in.KeyConditions)
	}
	if err != nil {
		return nil, err
	}
	rc := readCommon{filterName: "Filter Expression"}
	if in.QueryFilter != nil && in.FilterExpression == nil {
		rc.filterName = "QueryFilter"
	}
	if rc.filter, err = filterOf(in.FilterExpression, "QueryFilter", in.QueryFilter, in.ConditionalOperator, p); err != nil {
		return nil, err
	}
	if rc.proj, err = projectionOf(in.ProjectionExpression, in.AttributesToGet, p); err != nil {
		return nil, err
	}
	if err := p.CheckUnused(); err != nil {
		return nil, err
	}

	t, m, err := db.activeTable(in.TableName)
	if err != nil {
		return nil, err
	}
	ix, err := readIndex(m, in.IndexName, in.ConsistentRead)
	if err != nil {
		return nil, err
	}
	hash := expr.KeyAttr{Name: m.HashKey, Type: m.HashType}
	rng := expr.KeyAttr{Name: m.RangeKey, Type: m.RangeType}
	if ix != nil {
		hash = expr.KeyAttr{Name: ix.HashKey, Type: ix.HashType}
		rng = expr.KeyAttr{Name: ix.RangeKey, Type: ix.RangeType}
	}
	if err := kc.Bind(hash, rng); err != nil {
		return nil, err
	}
	sk, err := sortCondOf(kc)
	if err != nil {
		return nil, err
	}
	pkVal := kc.PartitionValue
	if err := checkKeyValue(pkVal, hash.Name, maxHashKeySize); err != nil {
		return nil, err
	}

	var start []byte
	forward := in.ScanIndexForward == nil || *in.ScanIndexForward
	if in.ExclusiveStartKey != nil {
		k, err := checkStartKeyAttrs(m, ix, in.ExclusiveStartKey, true)
		if err != nil {
			return nil, err
		}
		if !attr.Equal(in.ExclusiveStartKey[hash.Name], pkVal) {
			return nil, apierr.Validation("The provided starting key is outside query boundaries based on provided conditions")
		}
		if sk.op != skNone && !sk.match(in.ExclusiveStartKey[rng.Name]) {
			return nil, apierr.Validation("The provided starting key does not match the range key predicate")
		}
		if ix == nil {
			start = k.itemKey(m)
		} else {
			start = indexEntryKey(m, ix, &k, in.ExclusiveStartKey)
		}
	}
	if rc.filter != nil {
		keys := map[string]bool{hash.Name: true}
		if rng.Name != "" {
			keys[rng.Name] = true
		}
		for _, path := range rc.filter.Paths() {
			if len(path) > 0 && keys[path[0].Name] {
				return nil, apierr.Validation("%s can only contain non-primary key attributes: Primary key attribute: %s", rc.filterName, path[0].Name)
			}
		}
	}
	rc.sel = resolveSelect(in.Select, rc.proj != nil, ix != nil)
	fetch, err := planIndexRead(m, ix, &rc)
	if err != nil {
		return nil, err
	}

	var prefix []byte
	if ix == nil {
		k := m.newKey(pkVal, attr.Value{})
		prefix = attr.AppendKey(partitionPrefix(m.ID, k.part), pkVal)
	} else {
		prefix = attr.AppendKey(indexPrefix(m.ID, ix.ID), pkVal)
	}
	r := sortKeyRange(prefix, sk)
	if start != nil {
		if forward {
			if lo := append(start[:len(start):len(start)], 0); compareKeys(lo, r.lo) > 0 {
				r.lo = lo
			}
		} else if compareKeys(start, r.hi) < 0 {
			r.hi = start
		}
	}

	snap := db.pebble.NewSnapshot()
	defer snap.Close()
	t.awaitDurable()
	page := db.newPage(ctx, snap, m, ix, fetch, &rc, in.Limit)
	if _, err := page.scan(r, !forward, nil); err != nil {
		return nil, readErr(err)
	}
	return db.readOutput(page, in.TableName, in.ConsistentRead, in.ReturnConsumedCapacity, m), nil
}

// sortCondOf converts a bound key condition's sort part.
func sortCondOf(kc *expr.KeyCondition) (skCond, error) {
	var c skCond
	switch kc.Op {
	case expr.SortNone:
		return c, nil
	case expr.SortEQ:
		c.op = skEQ
	case expr.SortLT:
		c.op = skLT
	case expr.SortLE:
		c.op = skLE
	case expr.SortGT:
		c.op = skGT
	case expr.SortGE:
		c.op = skGE
	case expr.SortBetween:
		c.op = skBetween
	case expr.SortBeginsWith:
		c.op = skBeginsWith
	default:
		return c, apierr.Validation("Query key condition not supported")
	}
	want := 1
	if c.op == skBetween {
		want = 2
	}
	if len(kc.Values) != want {
		return c, apierr.Validation("One or more parameter values were invalid: Invalid number of argument(s) for the %s ComparisonOperator", kc.Op)
	}
	c.a = kc.Values[0]
	if c.op == skBetween {
		c.b = kc.Values[1]
		if n, _ := attr.Compare(c.a, c.b); n > 0 {
			return c, apierr.Validation("Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower operand: AttributeValue: %s, upper operand: AttributeValue: %s", c.a, c.b)
		}
	}
	if c.op == skBeginsWith && c.a.Type == attr.N {
		return c, apierr.Validation("Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N")
	}
	for _, v := range kc.Values {
		if err := checkKeyValue(v, kc.SortKey, maxRangeKeySize); err != nil {
			return c, err
		}
	}
	return c, nil
}

// checkKeyValue rejects key condition values no stored key can have: empty
// strings or binaries, and values over the key size limit.
func checkKeyValue(v attr.Value, name string, max int) error {
	t := v.Type
	switch {
	case t == attr.S && v.S == "", t == attr.B && len(v.B) == 0:
		return apierr.Validation("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty %s value. Key: %s", emptyWhat(t), name)
	case t == attr.S && len(v.S) > max, t == attr.B && len(v.B) > max:
		what := "hashkey"
		if max == maxRangeKeySize {
			what = "rangekey"
		}
		return keySizeError(what)
	}
	return nil
}

// compareKeys orders Pebble keys, a nil hi meaning "no upper bound".
func compareKeys(a, b []byte) int {
	if b == nil {
		return -1
	}
	return bytes.Compare(a, b)
}

// newPage prepares one page read.
func (db *DB) newPage(ctx context.Context, snap *pebble.Snapshot, m *tableMeta, ix *indexMeta, fetch bool, rc *readCommon, limit *int64) *readPage {
	p := &readPage{
		ctx:       ctx,
		snap:      snap,
		m:         m,
		ix:        ix,
		fetch:     fetch,
		filter:    rc.filter,
		countOnly: rc.sel == "COUNT",
	}
	if rc.sel == "SPECIFIC_ATTRIBUTES" {
		p.proj = rc.proj
	}
	p.indexView = fetch && rc.sel == "ALL_PROJECTED_ATTRIBUTES"
	if limit != nil {
		p.limit = int(*limit)
	}
	return p
}

// readOutput renders a finished page.
func (db *DB) readOutput(p *readPage, tableName string, consistent bool, rcc string, m *tableMeta) *ReadOutput {
	out := &ReadOutput{Count: p.count, ScannedCount: p.scanned, LastEvaluatedKey: p.lastEvaluatedKey()}
	if !p.countOnly {
		items := p.itemsOut()
		out.Items = &items
	}
	meter := p.meter(tableName, consistent)
	out.ConsumedCapacity = meter.report(m, rcc)
	return out
}

// readErr turns a storage failure during a read into an internal error
// (context cancellation passes through).
func readErr(err error) error {
	if apierr.As(err) != nil || err == context.Canceled || err == context.DeadlineExceeded {
		return err
	}
	return apierr.Internal()
}

// Scan reads every item of a table or index, or one parallel segment of
// them, in storage order.
func (db *DB) Scan(ctx context.Context, in *ScanInput) (any, error) {
	var c constraints
	c.tableName("tableName", in.TableName)
	if in.IndexName != nil {
		c.name("indexName", *in.IndexName)
	}
	c.intRange("limit", in.Limit, 1, math.MaxInt32)
	c.enum("select", in.Select, selectEnum...)
	c.intRange("segment", in.Segment, 0, 999999)
	c.intRange("totalSegments", in.TotalSegments, 1, 1000000)
	c.enum("returnConsumedCapacity", in.ReturnConsumedCapacity, returnConsumedCapacityValues...)
	c.enum("conditionalOperator", in.ConditionalOperator, conditionalOperatorValues...)
	if in.AttributesToGet != nil && len(in.AttributesToGet) == 0 {
		c.add("Value '[]' at 'attributesToGet' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	nonExpr := present("AttributesToGet", in.AttributesToGet != nil, "ScanFilter", in.ScanFilter != nil,
		"ConditionalOperator", in.ConditionalOperator != "")
	exprs := present("ProjectionExpression", in.ProjectionExpression != nil, "FilterExpression", in.FilterExpression != nil)
	if err := mixed(nonExpr, exprs); err != nil {
		return nil, err
	}
	if n, dup := duplicateName(in.AttributesToGet); dup {
		return nil, apierr.Validation("One or more parameter values were invalid: Duplicate value in attribute name: %s", n)
	}
	// NB: as dynalite (tested against AWS) has it, Segment 0 alone is accepted.
	if in.Segment != nil && *in.Segment != 0 && in.TotalSegments == nil {
		return nil, apierr.Validation("The TotalSegments parameter is required but was not present in the request when Segment parameter is present")
	}
	seg, total := 0, 0
	if in.TotalSegments != nil {
		if in.Segment == nil {
			return nil, apierr.Validation("The Segment parameter is required but was not present in the request when parameter TotalSegments is present")
		}
		if *in.Segment >= *in.TotalSegments {
			return nil, apierr.Validation("The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: %d is not less than TotalSegments: %d", *in.Segment, *in.TotalSegments)
		}
		seg, total = int(*in.Segment), int(*in.TotalSegments)
	}
	if msg := selectError(in.Select, in.ProjectionExpression != nil, in.AttributesToGet != nil, in.IndexName != nil); msg != "" {
		return nil, apierr.Validation("%s", msg)
	}
	p, err := exprParams(in.ExpressionAttributeNames, in.ExpressionAttributeValues,
		in.ExpressionAttributeNames != nil, in.ExpressionAttributeValues != nil, len(exprs) > 0)
	if err != nil {
		return nil, err
	}
	rc := readCommon{}
	if rc.filter, err = filterOf(in.FilterExpression, "ScanFilter", in.ScanFilter, in.ConditionalOperator, p); err != nil {
		return nil, err
	}
	if rc.proj, err = projectionOf(in.ProjectionExpression, in.AttributesToGet, p); err != nil {
		return nil, err
	}
	if err := p.CheckUnused(); err != nil {
		return nil, err
	}

	t, m, err := db.activeTable(in.TableName)
	if err != nil {
		return nil, err
	}
	ix, err := readIndex(m, in.IndexName, in.ConsistentRead)
	if err != nil {
		return nil, err
	}
	var start []byte
	startPart := -1
	if in.ExclusiveStartKey != nil {
		k, err := checkStartKeyAttrs(m, ix, in.ExclusiveStartKey, false)
		if err != nil {
			return nil, err
		}
		segKey := k.enc
		if ix == nil {
			start, startPart = k.itemKey(m), k.part
			segKey = attr.AppendKey(nil, k.pk)
		} else {
			start = indexEntryKey(m, ix, &k, in.ExclusiveStartKey)
			segKey = attr.AppendKey(nil, in.ExclusiveStartKey[ix.HashKey])
		}
		if total > 1 && segmentOf(keyHash(segKey), total) != seg {
			return nil, apierr.Validation("The provided starting key is invalid: Invalid ExclusiveStartKey. Please use ExclusiveStartKey with correct Segment. TotalSegments: %d Segment: %d", total, seg)
		}
	}
	rc.sel = resolveSelect(in.Select, rc.proj != nil, ix != nil)
	fetch, err := planIndexRead(m, ix, &rc)
	if err != nil {
		return nil, err
	}

	snap := db.pebble.NewSnapshot()
	defer snap.Close()
	t.awaitDurable()
	page := db.newPage(ctx, snap, m, ix, fetch, &rc, in.Limit)
	if ix != nil {
		err = scanIndex(page, m, ix, start, seg, total)
	} else {
		err = scanTable(page, m, start, startPart, seg, total)
	}
	if err != nil {
		return nil, readErr(err)
	}
	return db.readOutput(page, in.TableName, in.ConsistentRead, in.ReturnConsumedCapacity, m), nil
}

// scanTable reads the table's partitions that hold segment seg of total
// (every partition when total is 0), resuming after start (in partition
// startPart) when set.
func scanTable(page *readPage, m *tableMeta, start []byte, startPart, seg, total int) error {
	first, last := 0, m.Partitions-1
	if total > 1 {
		lo, hi := segmentHashes(seg, total)
		first, last = partitionOf(lo, m.Partitions), partitionOf(hi, m.Partitions)
	}
	from := first
	if start != nil {
		from = startPart
	}
	for part := from; part <= last; part++ {
		pre := partitionPrefix(m.ID, part)
		r := keyRange{pre, prefixEnd(pre)}
		if start != nil && part == startPart {
			r.lo = append(start[:len(start):len(start)], 0)
		}
		var accept keyFilter
		// NB: partitions strictly between first and last hold only this
		// segment's hashes (both mappings are monotonic ranges over the hash).
		if total > 1 && (part == first || part == last) {
			accept = func(key []byte) (bool, error) {
				enc, err := splitKey(m.HashType, key[len(pre):])
				if err != nil {
					return false, err
				}
				return segmentOf(keyHash(enc), total) == seg, nil
			}
		}
		full, err := page.scan(r, false, accept)
		if err != nil || full {
			return err
		}
	}
	return nil
}

// scanIndex reads an index's entries, keeping those of segment seg of total
// (by the hash of the index's partition key), resuming after start.
func scanIndex(page *readPage, m *tableMeta, ix *indexMeta, start []byte, seg, total int) error {
	pre := indexPrefix(m.ID, ix.ID)
	r := keyRange{pre, prefixEnd(pre)}
	if start != nil {
		r.lo = append(start[:len(start):len(start)], 0)
	}
	var accept keyFilter
	if total > 1 {
		accept = func(key []byte) (bool, error) {
			enc, err := splitKey(ix.HashType, key[len(pre):])
			if err != nil {
				return false, err
			}
			return segmentOf(keyHash(enc), total) == seg, nil
		}
	}
	_, err := page.scan(r, false, accept)
	return err
}

// filterOf builds a read's filter from FilterExpression or the legacy
// QueryFilter/ScanFilter (legacyName) with ConditionalOperator.
func filterOf(filterExpr *string, legacyName string, legacy map[string]expr.Condition, condOp string, p *expr.Params) (expr.Cond, error) {
	switch {
	case filterExpr != nil:
		return expr.ParseCondition("FilterExpression", *filterExpr, p)
	case legacy != nil:
		return expr.FromConditions(legacyName, legacy, condOp)
	case condOp != "":
		return nil, apierr.Validation("ConditionalOperator can only be used when Filter or Expected has two or more elements")
	}
	return nil, nil
}
