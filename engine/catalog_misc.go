package engine

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/godwit-db/godwit/engine/apierr"
)

// ---- tags ----

// tableFromArn returns the table named by a table ARN of this region and
// account. A malformed ARN, one of another region, or an index or stream
// ARN is a ValidationException; another account's table is not found.
func (db *DB) tableFromArn(arn string) (string, error) {
	bad := apierr.Validation("Invalid TableArn: Invalid ResourceArn provided as input %s", arn)
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] != "aws" || parts[2] != "dynamodb" ||
		parts[3] != db.cfg.Region || !strings.HasPrefix(parts[5], "table/") {
		return "", bad
	}
	name := strings.TrimPrefix(parts[5], "table/")
	if len(name) < 3 || len(name) > 255 || !namePattern.MatchString(name) {
		return "", bad
	}
	if parts[4] != db.cfg.AccountID {
		return "", errArnNotFound(arn)
	}
	return name, nil
}

func errArnNotFound(arn string) error {
	return apierr.ResourceNotFound("Requested resource not found: ResourceArn: %s not found", arn)
}

// TagResourceInput is TagResource's request.
type TagResourceInput struct {
	ResourceArn string `json:"ResourceArn"`
	Tags        []Tag  `json:"Tags"`
}

// TagResource adds or overwrites tags of a table (at most 50 in all).
func (db *DB) TagResource(ctx context.Context, in *TagResourceInput) (any, error) {
	var c constraints
	c.notNull("resourceArn", in.ResourceArn != "")
	c.notNull("tags", in.Tags != nil)
	if in.ResourceArn != "" {
		c.strLen("resourceArn", in.ResourceArn, 1, 1283)
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	name, err := db.tableFromArn(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	if len(in.Tags) == 0 {
		return nil, apierr.Validation("Atleast one Tag needs to be provided as Input.")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	t := db.tables[name]
	if t == nil {
		return nil, errArnNotFound(in.ResourceArn)
	}
	m := t.m().clone()
	for _, tag := range in.Tags {
		replaced := false
		for i := range m.Tags {
			if m.Tags[i].Key == tag.Key {
				m.Tags[i].Value = tag.Value
				replaced = true
			}
		}
		if !replaced {
			m.Tags = append(m.Tags, tag)
		}
	}
	if len(m.Tags) > maxTags {
		return nil, errTooManyTags()
	}
	if err := db.saveMeta(t, m); err != nil {
		return nil, err
	}
	return nil, nil
}

// UntagResourceInput is UntagResource's request.
type UntagResourceInput struct {
	ResourceArn string   `json:"ResourceArn"`
	TagKeys     []string `json:"TagKeys"`
}

// UntagResource removes tags of a table by key (absent keys are ignored).
func (db *DB) UntagResource(ctx context.Context, in *UntagResourceInput) (any, error) {
	var c constraints
	c.notNull("resourceArn", in.ResourceArn != "")
	c.notNull("tagKeys", in.TagKeys != nil)
	if in.ResourceArn != "" {
		c.strLen("resourceArn", in.ResourceArn, 1, 1283)
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	name, err := db.tableFromArn(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	if len(in.TagKeys) == 0 {
		return nil, apierr.Validation("Atleast one Tag Key needs to be provided as Input.")
	}
	drop := make(map[string]bool, len(in.TagKeys))
	for _, k := range in.TagKeys {
		if err := checkTagKey(k); err != nil {
			return nil, err
		}
		drop[k] = true
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	t := db.tables[name]
	if t == nil {
		return nil, errArnNotFound(in.ResourceArn)
	}
	m := t.m().clone()
	kept := m.Tags[:0]
	for _, tag := range m.Tags {
		if !drop[tag.Key] {
			kept = append(kept, tag)
		}
	}
	m.Tags = kept
	if len(m.Tags) == 0 {
		m.Tags = nil
	}
	if err := db.saveMeta(t, m); err != nil {
		return nil, err
	}
	return nil, nil
}

// ListTagsOfResourceInput is ListTagsOfResource's request. NextToken is
// accepted and ignored: a table has at most 50 tags, all on one page.
type ListTagsOfResourceInput struct {
	ResourceArn string  `json:"ResourceArn"`
	NextToken   *string `json:"NextToken"`
}

type listTagsOutput struct {
	Tags []Tag `json:"Tags"`
}

// ListTagsOfResource returns all tags of a table, in the order they were added.
func (db *DB) ListTagsOfResource(ctx context.Context, in *ListTagsOfResourceInput) (any, error) {
	var c constraints
	c.notNull("resourceArn", in.ResourceArn != "")
	if in.ResourceArn != "" {
		c.strLen("resourceArn", in.ResourceArn, 1, 1283)
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	name, err := db.tableFromArn(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	t := db.table(name)
	if t == nil {
		return nil, errArnNotFound(in.ResourceArn)
	}
	return &listTagsOutput{Tags: append([]Tag{}, t.m().Tags...)}, nil
}

// ---- time to live ----

// ttlCooldown is how long after one UpdateTimeToLive change the next is
// refused ("one change per hour per table", reference §7). It is measured
// with the engine's clock (Config.Clock), so tests drive it with a manual clock.
const ttlCooldown = time.Hour

// TimeToLiveSpecification is UpdateTimeToLive's request member and answer.
type TimeToLiveSpecification struct {
	Enabled       *bool   `json:"Enabled"`
	AttributeName *string `json:"AttributeName"`
}

// UpdateTimeToLiveInput is UpdateTimeToLive's request.
type UpdateTimeToLiveInput struct {
	TableName               string                   `json:"TableName"`
	TimeToLiveSpecification *TimeToLiveSpecification `json:"TimeToLiveSpecification"`
}

type updateTTLOutput struct {
	TimeToLiveSpecification TimeToLiveSpecification `json:"TimeToLiveSpecification"`
}

// UpdateTimeToLive enables or disables TTL on a table. The change is
// immediate (AWS passes through ENABLING/DISABLING); the sweeper starts
// deleting expired items on its next round.
func (db *DB) UpdateTimeToLive(ctx context.Context, in *UpdateTimeToLiveInput) (any, error) {
	var c constraints
	c.tableName("tableName", in.TableName)
	spec := in.TimeToLiveSpecification
	if spec == nil {
		c.notNull("timeToLiveSpecification", false)
	} else {
		c.notNull("timeToLiveSpecification.attributeName", spec.AttributeName != nil)
		if spec.AttributeName != nil {
			c.strLen("timeToLiveSpecification.attributeName", *spec.AttributeName, 1, 255)
		}
		c.notNull("timeToLiveSpecification.enabled", spec.Enabled != nil)
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	name := resolveTableName(in.TableName)
	enable, attrName := *spec.Enabled, *spec.AttributeName

	db.mu.Lock()
	defer db.mu.Unlock()
	t := db.tables[name]
	if t == nil {
		return nil, apierr.TableNotFound(name)
	}
	m := t.m().clone()
	switch {
	case enable && m.TTLEnabled:
		return nil, apierr.Validation("TimeToLive is already enabled")
	case !enable && !m.TTLEnabled:
		return nil, apierr.Validation("TimeToLive is already disabled")
	case !enable && attrName != m.TTLAttribute:
		return nil, apierr.Validation("TimeToLive is active on a different AttributeName: current AttributeName is %s", m.TTLAttribute)
	}
	now := db.clock.PhysicalNow()
	if m.TTLChangedAt > 0 && epochSeconds(now)-m.TTLChangedAt < ttlCooldown.Seconds() {
		return nil, apierr.Validation("Time to live has been modified multiple times within a fixed interval")
	}
	m.TTLEnabled = enable
	m.TTLAttribute = ""
	if enable {
		m.TTLAttribute = attrName
	}
	m.TTLChangedAt = epochSeconds(now)
	m.SettingsGen++
	if err := db.saveMeta(t, m); err != nil {
		return nil, err
	}
	if m.Replicated {
		// NB: db.mu is held; the hook only wakes the global-tables layer.
		db.settingsChanged(name)
	}
	return &updateTTLOutput{TimeToLiveSpecification: TimeToLiveSpecification{Enabled: &enable, AttributeName: &attrName}}, nil
}

// DescribeTimeToLiveInput is DescribeTimeToLive's request.
type DescribeTimeToLiveInput struct {
	TableName string `json:"TableName"`
}

// TimeToLiveDescription is a table's TTL status.
type TimeToLiveDescription struct {
	TimeToLiveStatus string `json:"TimeToLiveStatus"`
	AttributeName    string `json:"AttributeName,omitempty"`
}

type describeTTLOutput struct {
	TimeToLiveDescription TimeToLiveDescription `json:"TimeToLiveDescription"`
}

// DescribeTimeToLive returns ENABLED (with the attribute) or DISABLED.
func (db *DB) DescribeTimeToLive(ctx context.Context, in *DescribeTimeToLiveInput) (any, error) {
	var c constraints
	c.tableName("tableName", in.TableName)
	if err := c.err(); err != nil {
		return nil, err
	}
	name := resolveTableName(in.TableName)
	t := db.table(name)
	if t == nil {
		return nil, apierr.TableNotFound(name)
	}
	m := t.m()
	d := TimeToLiveDescription{TimeToLiveStatus: "DISABLED"}
	if m.TTLEnabled {
		d = TimeToLiveDescription{TimeToLiveStatus: "ENABLED", AttributeName: m.TTLAttribute}
	}
	return &describeTTLOutput{TimeToLiveDescription: d}, nil
}

// ---- continuous backups (point-in-time recovery) ----

// errBackupTableNotFound is TableNotFoundException, which the backup
// operations return for a missing table (not ResourceNotFoundException).
func errBackupTableNotFound(name string) error {
	return &apierr.Error{
		Code:      "TableNotFoundException",
		Namespace: apierr.NSDynamoDB,
		Status:    http.StatusBadRequest,
		Message:   "Table not found: " + name,
	}
}

// DescribeContinuousBackupsInput is DescribeContinuousBackups' request.
type DescribeContinuousBackupsInput struct {
	TableName string `json:"TableName"`
}

// ContinuousBackupsDescription reports backups (always ENABLED on AWS) and PITR.
type ContinuousBackupsDescription struct {
	ContinuousBackupsStatus        string                         `json:"ContinuousBackupsStatus"`
	PointInTimeRecoveryDescription PointInTimeRecoveryDescription `json:"PointInTimeRecoveryDescription"`
}

// PointInTimeRecoveryDescription is PITR's status (always DISABLED for now).
type PointInTimeRecoveryDescription struct {
	PointInTimeRecoveryStatus string `json:"PointInTimeRecoveryStatus"`
}

type continuousBackupsOutput struct {
	ContinuousBackupsDescription ContinuousBackupsDescription `json:"ContinuousBackupsDescription"`
}

func pitrDisabled() *continuousBackupsOutput {
	return &continuousBackupsOutput{ContinuousBackupsDescription: ContinuousBackupsDescription{
		ContinuousBackupsStatus:        "ENABLED",
		PointInTimeRecoveryDescription: PointInTimeRecoveryDescription{PointInTimeRecoveryStatus: "DISABLED"},
	}}
}

// DescribeContinuousBackups answers as AWS does for a table without PITR
// (Terraform reads it for every table).
func (db *DB) DescribeContinuousBackups(ctx context.Context, in *DescribeContinuousBackupsInput) (any, error) {
	var c constraints
	c.tableName("tableName", in.TableName)
	if err := c.err(); err != nil {
		return nil, err
	}
	name := resolveTableName(in.TableName)
	if db.table(name) == nil {
		return nil, errBackupTableNotFound(name)
	}
	return pitrDisabled(), nil
}

// PointInTimeRecoverySpecification is UpdateContinuousBackups' request member.
type PointInTimeRecoverySpecification struct {
	PointInTimeRecoveryEnabled *bool  `json:"PointInTimeRecoveryEnabled"`
	RecoveryPeriodInDays       *int64 `json:"RecoveryPeriodInDays"`
}

// UpdateContinuousBackupsInput is UpdateContinuousBackups' request.
type UpdateContinuousBackupsInput struct {
	TableName                        string                            `json:"TableName"`
	PointInTimeRecoverySpecification *PointInTimeRecoverySpecification `json:"PointInTimeRecoverySpecification"`
}

// UpdateContinuousBackups accepts disabling PITR (a no-op) and refuses
// enabling it: point-in-time recovery is a later step.
func (db *DB) UpdateContinuousBackups(ctx context.Context, in *UpdateContinuousBackupsInput) (any, error) {
	var c constraints
	c.tableName("tableName", in.TableName)
	spec := in.PointInTimeRecoverySpecification
	if spec == nil {
		c.notNull("pointInTimeRecoverySpecification", false)
	} else {
		c.notNull("pointInTimeRecoverySpecification.pointInTimeRecoveryEnabled", spec.PointInTimeRecoveryEnabled != nil)
		c.intRange("pointInTimeRecoverySpecification.recoveryPeriodInDays", spec.RecoveryPeriodInDays, 1, 35)
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	name := resolveTableName(in.TableName)
	if db.table(name) == nil {
		return nil, errBackupTableNotFound(name)
	}
	if *spec.PointInTimeRecoveryEnabled {
		return nil, invalid("Point-in-time recovery is not supported yet by this server")
	}
	if spec.RecoveryPeriodInDays != nil {
		return nil, apierr.Validation("Invalid Request: Cannot specify RecoveryPeriodInDays when disabling point-in-time recovery.")
	}
	return pitrDisabled(), nil
}

// ---- account-level ----

// DescribeEndpointsInput is DescribeEndpoints' (empty) request.
type DescribeEndpointsInput struct{}

// Endpoint is one entry of DescribeEndpoints' answer.
type Endpoint struct {
	Address              string `json:"Address"`
	CachePeriodInMinutes int64  `json:"CachePeriodInMinutes"`
}

type describeEndpointsOutput struct {
	Endpoints []Endpoint `json:"Endpoints"`
}

// DescribeEndpoints answers as AWS would: dynamodb.<region>.amazonaws.com.
// NB: the host the request came to is not known here; clients that use
// endpoint discovery against godwit must disable it or override the
// endpoint (SDKs do not discover by default).
func (db *DB) DescribeEndpoints(ctx context.Context, in *DescribeEndpointsInput) (any, error) {
	return &describeEndpointsOutput{Endpoints: []Endpoint{{
		Address:              "dynamodb." + db.cfg.Region + ".amazonaws.com",
		CachePeriodInMinutes: 1440,
	}}}, nil
}

// DescribeLimitsInput is DescribeLimits' (empty) request.
type DescribeLimitsInput struct{}

type describeLimitsOutput struct {
	AccountMaxReadCapacityUnits  int64 `json:"AccountMaxReadCapacityUnits"`
	AccountMaxWriteCapacityUnits int64 `json:"AccountMaxWriteCapacityUnits"`
	TableMaxReadCapacityUnits    int64 `json:"TableMaxReadCapacityUnits"`
	TableMaxWriteCapacityUnits   int64 `json:"TableMaxWriteCapacityUnits"`
}

// DescribeLimits returns AWS's default quotas (not enforced by godwit).
func (db *DB) DescribeLimits(ctx context.Context, in *DescribeLimitsInput) (any, error) {
	return &describeLimitsOutput{
		AccountMaxReadCapacityUnits:  80000,
		AccountMaxWriteCapacityUnits: 80000,
		TableMaxReadCapacityUnits:    40000,
		TableMaxWriteCapacityUnits:   40000,
	}, nil
}
