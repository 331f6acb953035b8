package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/godwit-db/godwit/engine/apierr"
)

// UpdateTableInput is UpdateTable's request. OnDemandThroughput,
// WarmThroughput, MultiRegionConsistency and GlobalTableWitnessUpdates are
// not supported (ignored when sent, like any unknown member).
type UpdateTableInput struct {
	AttributeDefinitions        []AttributeDefinition        `json:"AttributeDefinitions"`
	TableName                   string                       `json:"TableName"`
	BillingMode                 string                       `json:"BillingMode"`
	ProvisionedThroughput       *ProvisionedThroughput       `json:"ProvisionedThroughput"`
	GlobalSecondaryIndexUpdates []GlobalSecondaryIndexUpdate `json:"GlobalSecondaryIndexUpdates"`
	StreamSpecification         *StreamSpecification         `json:"StreamSpecification"`
	SSESpecification            *SSESpecification            `json:"SSESpecification"`
	ReplicaUpdates              []json.RawMessage            `json:"ReplicaUpdates"`
	TableClass                  string                       `json:"TableClass"`
	DeletionProtectionEnabled   *bool                        `json:"DeletionProtectionEnabled"`
}

// GlobalSecondaryIndexUpdate is one entry of GlobalSecondaryIndexUpdates:
// exactly one of its actions.
type GlobalSecondaryIndexUpdate struct {
	Update *UpdateGlobalSecondaryIndexAction `json:"Update"`
	Create *GlobalSecondaryIndex             `json:"Create"`
	Delete *DeleteGlobalSecondaryIndexAction `json:"Delete"`
}

// UpdateGlobalSecondaryIndexAction changes a GSI's provisioned throughput.
type UpdateGlobalSecondaryIndexAction struct {
	IndexName             string                 `json:"IndexName"`
	ProvisionedThroughput *ProvisionedThroughput `json:"ProvisionedThroughput"`
}

// DeleteGlobalSecondaryIndexAction deletes a GSI.
type DeleteGlobalSecondaryIndexAction struct {
	IndexName string `json:"IndexName"`
}

func (in *UpdateTableInput) constraints(c *constraints) {
	c.attributeDefinitions("attributeDefinitions", in.AttributeDefinitions)
	c.tableName("tableName", in.TableName)
	c.enum("billingMode", in.BillingMode, billingModeValues...)
	c.throughput("provisionedThroughput", in.ProvisionedThroughput)
	for i, u := range in.GlobalSecondaryIndexUpdates {
		p := fmt.Sprintf("globalSecondaryIndexUpdates.%d.member", i+1)
		if u.Update != nil {
			c.indexName(p+".update.indexName", u.Update.IndexName)
			c.notNull(p+".update.provisionedThroughput", u.Update.ProvisionedThroughput != nil)
			c.throughput(p+".update.provisionedThroughput", u.Update.ProvisionedThroughput)
		}
		if u.Create != nil {
			c.gsi(p+".create", u.Create)
		}
		if u.Delete != nil {
			c.indexName(p+".delete.indexName", u.Delete.IndexName)
		}
	}
	c.streamSpec("streamSpecification", in.StreamSpecification)
	if in.SSESpecification != nil {
		c.enum("sSESpecification.sSEType", in.SSESpecification.SSEType, sseTypeValues...)
	}
	if in.ReplicaUpdates != nil {
		c.listLen("replicaUpdates", len(in.ReplicaUpdates), func() string { return "[]" }, 1, 0)
	}
}

// gsiChanges counts the GSI Create and Delete actions.
func (in *UpdateTableInput) gsiChanges() (creates, deletes int) {
	for _, u := range in.GlobalSecondaryIndexUpdates {
		if u.Create != nil {
			creates++
		}
		if u.Delete != nil {
			deletes++
		}
	}
	return
}

// checkShape runs the checks that need no table, in AWS's order: something
// to do, one concern per request, well-formed GSI actions.
func (in *UpdateTableInput) checkShape() error {
	nothing := in.ProvisionedThroughput == nil && in.BillingMode == "" && len(in.GlobalSecondaryIndexUpdates) == 0 &&
		in.StreamSpecification == nil && in.SSESpecification == nil && len(in.ReplicaUpdates) == 0 &&
		in.DeletionProtectionEnabled == nil && in.TableClass == ""
	if nothing {
		return apierr.Validation("At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates, SSESpecification, ReplicaUpdates, MultiAccountReplicaReady, ReplicaTransitRoleArn, MultiRegionConsistency, DeletionProtectionEnabled, OnDemandThroughput, WarmThroughput or TableClass is required")
	}
	if err := checkTableClass(in.TableClass); err != nil {
		return err
	}
	// others counts the concerns of the request besides the one named.
	others := func(except string) bool {
		n := 0
		for name, on := range map[string]bool{
			"pt":      in.ProvisionedThroughput != nil || in.BillingMode != "",
			"gsi":     len(in.GlobalSecondaryIndexUpdates) > 0,
			"stream":  in.StreamSpecification != nil,
			"sse":     in.SSESpecification != nil,
			"replica": len(in.ReplicaUpdates) > 0,
			"dp":      in.DeletionProtectionEnabled != nil,
			"class":   in.TableClass != "",
		} {
			if on && name != except {
				n++
			}
		}
		return n > 0
	}
	switch {
	case in.SSESpecification != nil && others("sse"):
		return invalid("Server-Side Encryption modification must be the only operation in the request")
	case in.TableClass != "" && others("class"):
		return invalid("TableClass modification must be the only operation in the request")
	case in.DeletionProtectionEnabled != nil && others("dp"):
		return invalid("DeletionProtection modification must be the only operation in the request")
	case len(in.ReplicaUpdates) > 0 && others("replica"):
		return invalid("Replica modification must be the only operation in the request")
	}
	creates, deletes := in.gsiChanges()
	iops := in.ProvisionedThroughput != nil || in.BillingMode == "PROVISIONED"
	if in.StreamSpecification != nil && iops {
		return invalid("You cannot modify stream status while updating table IOPS")
	}
	if creates+deletes > 0 && in.ProvisionedThroughput != nil {
		return invalid("You cannot create or delete index while updating table IOPS")
	}
	if creates+deletes > 0 && in.StreamSpecification != nil {
		return invalid("You cannot create or delete index while changing stream status")
	}
	seen := map[string]bool{}
	for _, u := range in.GlobalSecondaryIndexUpdates {
		n, name := 0, ""
		if u.Update != nil {
			n, name = n+1, u.Update.IndexName
		}
		if u.Create != nil {
			n, name = n+1, u.Create.IndexName
		}
		if u.Delete != nil {
			n, name = n+1, u.Delete.IndexName
		}
		if n == 0 {
			return invalid("One of GlobalSecondaryIndexUpdate.Update, GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Delete must not be null")
		}
		if n > 1 {
			return invalid("Only one global secondary index action is allowed per GlobalSecondaryIndexUpdate object")
		}
		if seen[name] {
			return invalid("Only one global secondary index update per index is allowed simultaneously. Index: %s", name)
		}
		seen[name] = true
	}
	if creates+deletes > 1 {
		return errOneOnlineIndex()
	}
	if s := in.StreamSpecification; s != nil {
		if *s.StreamEnabled && s.StreamViewType == "" {
			return invalid("If stream is being enabled then UpdateViewType is required")
		}
		if !*s.StreamEnabled && s.StreamViewType != "" {
			return invalid("If stream is being disabled, then UpdateViewType must not be specified")
		}
	}
	return nil
}

func errOneOnlineIndex() error {
	return apierr.LimitExceeded("Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table")
}

// UpdateTable changes one aspect of a table, as AWS allows: billing mode
// and throughput, one GSI creation or deletion (plus GSI throughput
// updates), the stream, SSE, table class or deletion protection. A new GSI
// is published CREATING and backfilled in the background (ACTIVE when
// done); a deleted one is DELETING until its entries are dropped. Returns
// {TableDescription} with TableStatus UPDATING (ACTIVE for deletion
// protection and SSE, which AWS applies in place).
func (db *DB) UpdateTable(ctx context.Context, in *UpdateTableInput) (any, error) {
	var c constraints
	in.constraints(&c)
	if err := c.err(); err != nil {
		return nil, err
	}
	if err := in.checkShape(); err != nil {
		return nil, err
	}
	name := resolveTableName(in.TableName)
	if len(in.ReplicaUpdates) > 0 {
		return db.updateReplicas(ctx, name, in.ReplicaUpdates)
	}
	out, replicated, err := db.updateTable(name, in, nil)
	if err == nil && replicated {
		db.settingsChanged(name)
	}
	return out, err
}

// updateTable applies a shape-checked UpdateTable request to the named
// table. A client's request (expectGen nil) counts in SettingsGen; a
// change applied for another region (ApplyReplicaUpdate) does not, and is
// refused with ErrSettingsChanged unless SettingsGen is *expectGen.
func (db *DB) updateTable(name string, in *UpdateTableInput, expectGen *uint64) (_ any, replicated bool, _ error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	t := db.tables[name]
	if t == nil {
		return nil, false, apierr.TableNotFound(name)
	}
	m := t.m().clone()
	if expectGen != nil && *expectGen != m.SettingsGen {
		return nil, false, ErrSettingsChanged
	}
	indexWork, err := db.applyTableUpdate(m, in)
	if err != nil {
		return nil, false, err
	}
	if expectGen == nil {
		m.SettingsGen++
	}
	if err := db.saveMeta(t, m); err != nil {
		return nil, false, err
	}
	db.notifyTable(name)
	if indexWork {
		db.kickIndexWorker()
	}
	d := db.describe(t, m)
	if in.DeletionProtectionEnabled == nil && in.SSESpecification == nil {
		d.TableStatus = statusUpdating
	}
	return &tableDescriptionOutput{TableDescription: d}, m.Replicated, nil
}

// updateReplicas serves ReplicaUpdates: through the global-tables hook once
// one is installed, else a ValidationException (replicas come with global
// tables, a later step).
func (db *DB) updateReplicas(ctx context.Context, table string, updates []json.RawMessage) (any, error) {
	h := db.cat.replicas.Load()
	if h == nil || h.Update == nil {
		return nil, invalid("ReplicaUpdates are not supported yet: godwit global tables are not enabled on this server")
	}
	if db.table(table) == nil {
		return nil, apierr.TableNotFound(table)
	}
	if err := h.Update(ctx, table, updates); err != nil {
		return nil, err
	}
	t := db.table(table)
	if t == nil {
		return nil, apierr.TableNotFound(table)
	}
	d := db.describe(t, t.m())
	d.TableStatus = statusUpdating
	return &tableDescriptionOutput{TableDescription: d}, nil
}

// applyTableUpdate applies a shape-checked UpdateTable request to m (a
// private copy), validating it against the table. It reports whether index
// work (backfill or deletion) was started.
func (db *DB) applyTableUpdate(m *tableMeta, in *UpdateTableInput) (indexWork bool, err error) {
	now := db.clock.PhysicalNow()
	if err := db.updateBilling(m, in, epochSeconds(now)); err != nil {
		return false, err
	}
	if indexWork, err = db.updateIndexes(m, in); err != nil {
		return false, err
	}
	if s := in.StreamSpecification; s != nil {
		enabled := m.Stream != nil && m.Stream.Enabled
		switch {
		case *s.StreamEnabled && enabled:
			return false, apierr.Validation("Table already has an enabled stream: TableName: %s", m.Name)
		case !*s.StreamEnabled && !enabled:
			return false, apierr.Validation("Table has no stream to disable: TableName: %s", m.Name)
		case !*s.StreamEnabled && m.Replicated:
			// NB: AWS's wording (the stream carries the replication).
			return false, invalid("Disabling Stream is not allowed for a Global Table replica.")
		case *s.StreamEnabled:
			label := streamLabel(now, m.LatestStreamLabel)
			m.Stream = &streamMeta{Enabled: true, ViewType: s.StreamViewType, Label: label}
			m.LatestStreamLabel = label
		default:
			// NB: the disabled stream's view type and label stay recorded
			// (Enabled false); LatestStreamLabel/Arn keep naming it, as on AWS.
			m.Stream.Enabled = false
		}
	}
	if in.SSESpecification != nil {
		on, key, err := db.checkSSE(in.SSESpecification)
		if err != nil {
			return false, err
		}
		switch {
		case !on && !m.SSEEnabled:
			return false, invalid("Table is already encrypted by default")
		case on && m.SSEEnabled && in.SSESpecification.KMSMasterKeyId != "" && key == m.SSEKMSKeyArn:
			return false, invalid("Table is already encrypted with given KMSMasterKeyId. Use KMSMasterKeyId parameter if you want to change Master Key")
		}
		m.SSEEnabled, m.SSEKMSKeyArn = on, key
		if !on {
			m.SSEKMSKeyArn = ""
		}
	}
	if in.TableClass != "" && !(m.TableClass == "" && in.TableClass == "STANDARD") {
		m.TableClass = in.TableClass
	}
	if in.DeletionProtectionEnabled != nil {
		m.DeletionProtectionEnabled = *in.DeletionProtectionEnabled
	}
	return indexWork, nil
}

// updateBilling applies BillingMode and ProvisionedThroughput.
func (db *DB) updateBilling(m *tableMeta, in *UpdateTableInput, now float64) error {
	mode := m.BillingMode
	if in.BillingMode != "" {
		mode = in.BillingMode
	}
	pt := in.ProvisionedThroughput
	if mode == "PAY_PER_REQUEST" && pt != nil {
		return invalid("Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
	}
	if in.BillingMode == "PROVISIONED" && pt == nil {
		return invalid("ProvisionedThroughput must be specified when BillingMode is PROVISIONED")
	}
	if pt != nil {
		if err := checkCapacityBounds(pt); err != nil {
			return err
		}
	}
	switch {
	case mode == "PAY_PER_REQUEST" && m.BillingMode != "PAY_PER_REQUEST":
		m.BillingMode = mode
		m.ReadCapacity, m.WriteCapacity = 0, 0
		m.PayPerRequestSince = now
		for _, ix := range m.Indexes {
			ix.ReadCapacity, ix.WriteCapacity = 0, 0
		}
	case mode == "PROVISIONED" && m.BillingMode != "PROVISIONED":
		// Every GSI needs its own throughput in the same request.
		for _, ix := range m.Indexes {
			if ix.Local || ix.Status == "DELETING" || in.gsiThroughput(ix.Name) != nil {
				continue
			}
			return invalid("ProvisionedThroughput must be specified for index: %s", ix.Name)
		}
		m.BillingMode = mode
		m.ReadCapacity, m.WriteCapacity = *pt.ReadCapacityUnits, *pt.WriteCapacityUnits
		m.LastIncrease = now
	case pt != nil:
		r, w := *pt.ReadCapacityUnits, *pt.WriteCapacityUnits
		if r == m.ReadCapacity && w == m.WriteCapacity {
			return apierr.Validation("The provisioned throughput for the table will not change. The requested value equals the current value. "+
				"Current ReadCapacityUnits provisioned for the table: %d. Requested ReadCapacityUnits: %d. "+
				"Current WriteCapacityUnits provisioned for the table: %d. Requested WriteCapacityUnits: %d. "+
				"Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits.",
				m.ReadCapacity, r, m.WriteCapacity, w)
		}
		if r > m.ReadCapacity || w > m.WriteCapacity {
			m.LastIncrease = now
		}
		if r < m.ReadCapacity || w < m.WriteCapacity {
			if !sameUTCDay(m.LastDecrease, now) {
				m.Decreases = 0
			}
			m.LastDecrease = now
			m.Decreases++
		}
		m.ReadCapacity, m.WriteCapacity = r, w
	}
	return nil
}

// sameUTCDay reports whether two epoch-second times fall on the same UTC day.
func sameUTCDay(a, b float64) bool {
	const day = 24 * 60 * 60
	return a > 0 && math.Floor(a/day) == math.Floor(b/day)
}

// gsiThroughput returns the throughput the request's Update action gives the named GSI.
func (in *UpdateTableInput) gsiThroughput(name string) *ProvisionedThroughput {
	for _, u := range in.GlobalSecondaryIndexUpdates {
		if u.Update != nil && u.Update.IndexName == name {
			return u.Update.ProvisionedThroughput
		}
	}
	return nil
}

// updateIndexes applies GlobalSecondaryIndexUpdates (after billing, so
// m.BillingMode is the new mode).
func (db *DB) updateIndexes(m *tableMeta, in *UpdateTableInput) (indexWork bool, err error) {
	for _, u := range in.GlobalSecondaryIndexUpdates {
		switch {
		case u.Update != nil:
			err = db.updateIndexThroughput(m, u.Update)
		case u.Create != nil:
			err = db.createIndex(m, u.Create, in.AttributeDefinitions)
			indexWork = true
		case u.Delete != nil:
			err = db.deleteIndex(m, u.Delete.IndexName)
			indexWork = true
		}
		if err != nil {
			return false, err
		}
	}
	return indexWork, nil
}

func errIndexNotFound(table, index string) error {
	return apierr.ResourceNotFound("Requested resource not found: Index %s for table %s", index, table)
}

func (db *DB) updateIndexThroughput(m *tableMeta, u *UpdateGlobalSecondaryIndexAction) error {
	ix := m.index(u.IndexName)
	if ix == nil || ix.Status == "DELETING" {
		return errIndexNotFound(m.Name, u.IndexName)
	}
	if ix.Local {
		return apierr.Validation("Cannot update an index that is not a GlobalSecondaryIndex: %s", u.IndexName)
	}
	if m.BillingMode == "PAY_PER_REQUEST" {
		return invalid("The only Updates for index: %s when TableThroughputMode is PAY_PER_REQUEST can be to OnDemandThroughput, WarmThroughput", u.IndexName)
	}
	pt := u.ProvisionedThroughput
	if err := checkCapacityBounds(pt); err != nil {
		return err
	}
	r, w := *pt.ReadCapacityUnits, *pt.WriteCapacityUnits
	if r == ix.ReadCapacity && w == ix.WriteCapacity {
		return apierr.Validation("The provisioned throughput for the index %s will not change. The requested value equals the current value. "+
			"Current ReadCapacityUnits provisioned for index %s: %d. Requested ReadCapacityUnits: %d. "+
			"Current WriteCapacityUnits provisioned for index %s: %d. Requested WriteCapacityUnits: %d. "+
			"Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits.",
			ix.Name, ix.Name, ix.ReadCapacity, r, ix.Name, ix.WriteCapacity, w)
	}
	ix.ReadCapacity, ix.WriteCapacity = r, w
	return nil
}

// busyIndex reports whether an index other than except is being created or deleted.
func (m *tableMeta) busyIndex(except string) bool {
	for _, ix := range m.Indexes {
		if ix.Name != except && (ix.Status == "CREATING" || ix.Status == "DELETING") {
			return true
		}
	}
	return false
}

func (db *DB) createIndex(m *tableMeta, g *GlobalSecondaryIndex, reqDefs []AttributeDefinition) error {
	if m.busyIndex("") {
		return errOneOnlineIndex()
	}
	if m.index(g.IndexName) != nil {
		return apierr.Validation("Attempting to create an index which already exists")
	}
	if reqDefs == nil {
		return invalid("AttributeDefinitions is not specified for index: %s", g.IndexName)
	}
	// The table's own definitions win over the request's for attributes
	// they already type (AWS ignores re-typing an existing key attribute).
	defs := append([]AttributeDefinition(nil), m.AttributeDefinitions...)
	for _, d := range reqDefs {
		if _, ok := defType(defs, d.AttributeName); !ok {
			defs = append(defs, d)
		}
	}
	for _, k := range g.KeySchema {
		if _, ok := defType(defs, k.AttributeName); !ok {
			return invalid("Some index key attributes are not defined in AttributeDefinitions. Keys: [%s], AttributeDefinitions: [%s]",
				joinNames(keyNamesOf(g.KeySchema)), joinNames(defNames(reqDefs)))
		}
	}
	if err := checkKeyOrder(g.KeySchema); err != nil {
		return err
	}
	if err := checkProjection(g.Projection); err != nil {
		return err
	}
	projected := len(g.Projection.NonKeyAttributes)
	gsis := 0
	for _, ix := range m.Indexes {
		projected += len(ix.NonKeyAttributes)
		if !ix.Local && ix.Status != "DELETING" {
			gsis++
		}
	}
	if err := checkProjectedTotal(projected); err != nil {
		return err
	}
	if m.BillingMode == "PAY_PER_REQUEST" {
		if g.ProvisionedThroughput != nil {
			return invalid("Neither ReadCapacityUnits nor WriteCapacityUnits can be specified for index: %s when BillingMode is PAY_PER_REQUEST", g.IndexName)
		}
	} else {
		if g.ProvisionedThroughput == nil {
			return invalid("ProvisionedThroughput must be specified for index: %s", g.IndexName)
		}
		if err := checkCapacityBounds(g.ProvisionedThroughput); err != nil {
			return err
		}
	}
	if gsis >= maxGSIs {
		return apierr.LimitExceeded("Subscriber limit exceeded: Number of global secondary indexes exceeds per-table limit of %d", maxGSIs)
	}
	if m.NextIndexID == math.MaxUint16 {
		return apierr.LimitExceeded("Subscriber limit exceeded: too many indexes have been created on table %s", m.Name)
	}
	ix := newIndexMeta(m.NextIndexID, g.IndexName, false, g.KeySchema, g.Projection, defs)
	m.NextIndexID++
	ix.Status = "CREATING"
	ix.Backfilling = true
	if pt := g.ProvisionedThroughput; pt != nil {
		ix.ReadCapacity, ix.WriteCapacity = *pt.ReadCapacityUnits, *pt.WriteCapacityUnits
	}
	m.Indexes = append(m.Indexes, ix)
	m.AttributeDefinitions = sortedDefinitions(m.usedDefinitions(defs))
	return nil
}

func (db *DB) deleteIndex(m *tableMeta, name string) error {
	ix := m.index(name)
	if ix == nil {
		return errIndexNotFound(m.Name, name)
	}
	if ix.Local {
		return apierr.Validation("Cannot delete an index that is not a GlobalSecondaryIndex: %s", name)
	}
	if ix.Status == "DELETING" || m.busyIndex(name) {
		return errOneOnlineIndex()
	}
	ix.Status = "DELETING"
	ix.Backfilling = false
	return nil
}

func joinNames(s []string) string {
	out := ""
	for i, n := range s {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}
