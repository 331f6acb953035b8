package engine

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/attr"
)

// Control-plane limits (reference §2.2).
const (
	maxTables             = 2500
	maxLSIs               = 5
	maxGSIs               = 20
	maxProjectedNonKey    = 100
	maxNonKeyPerIndex     = 20
	maxTags               = 50
	maxTagKeyLen          = 128
	maxTagValueLen        = 256
	maxKeyAttrNameLen     = 255
	maxCapacityUnitsBound = 1_000_000_000_000
)

var (
	billingModeValues    = []string{"PROVISIONED", "PAY_PER_REQUEST"}
	keyTypeValues        = []string{"HASH", "RANGE"}
	scalarTypeValues     = []string{"B", "N", "S"}
	projectionTypeValues = []string{"ALL", "KEYS_ONLY", "INCLUDE"}
	streamViewTypeValues = []string{"NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"}
	sseTypeValues        = []string{"AES256", "KMS"}
	tableClassValues     = []string{"STANDARD", "STANDARD_INFREQUENT_ACCESS"}
)

// invalid is the ValidationException AWS words "One or more parameter values were invalid: ...".
func invalid(format string, args ...any) *apierr.Error {
	return apierr.Validation("One or more parameter values were invalid: "+format, args...)
}

// ---- model-level constraints (reported together, before anything else) ----

// listLen checks an optional list member's length.
func (c *constraints) listLen(member string, n int, render func() string, lo, hi int) {
	if n < lo {
		c.add("Value '%s' at '%s' failed to satisfy constraint: Member must have length greater than or equal to %d", render(), member, lo)
	}
	if hi > 0 && n > hi {
		c.add("Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", render(), member, hi)
	}
}

// strLen checks a present string member's length in characters.
func (c *constraints) strLen(member, v string, lo, hi int) {
	n := utf8.RuneCountInString(v)
	if n < lo {
		c.add("Value '%s' at '%s' failed to satisfy constraint: Member must have length greater than or equal to %d", v, member, lo)
	}
	if n > hi {
		c.add("Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", v, member, hi)
	}
}

// requiredEnum checks a required enum member ("" is null).
func (c *constraints) requiredEnum(member, v string, allowed ...string) {
	if v == "" {
		c.notNull(member, false)
		return
	}
	c.enum(member, v, allowed...)
}

// indexName checks an index name: required, 3-255 characters of [a-zA-Z0-9_.-].
func (c *constraints) indexName(member, name string) { c.name(member, name) }

// throughput checks a ProvisionedThroughput member (both units required, ≥ 1).
func (c *constraints) throughput(member string, pt *ProvisionedThroughput) {
	if pt == nil {
		return
	}
	c.notNull(member+".writeCapacityUnits", pt.WriteCapacityUnits != nil)
	c.intRange(member+".writeCapacityUnits", pt.WriteCapacityUnits, 1, 1<<62)
	c.notNull(member+".readCapacityUnits", pt.ReadCapacityUnits != nil)
	c.intRange(member+".readCapacityUnits", pt.ReadCapacityUnits, 1, 1<<62)
}

// keySchemaList checks a required KeySchema member of 1-2 elements.
func (c *constraints) keySchemaList(member string, ks []KeySchemaElement) {
	if ks == nil {
		c.notNull(member, false)
		return
	}
	c.listLen(member, len(ks), func() string { return renderKeySchema(ks) }, 1, 2)
	for i, k := range ks {
		p := fmt.Sprintf("%s.%d.member", member, i+1)
		if k.AttributeName == "" {
			c.notNull(p+".attributeName", false)
		} else {
			c.strLen(p+".attributeName", k.AttributeName, 1, maxKeyAttrNameLen)
		}
		c.requiredEnum(p+".keyType", k.KeyType, keyTypeValues...)
	}
}

// attributeDefinitions checks a list of AttributeDefinitions.
func (c *constraints) attributeDefinitions(member string, defs []AttributeDefinition) {
	for i, d := range defs {
		p := fmt.Sprintf("%s.%d.member", member, i+1)
		if d.AttributeName == "" {
			c.notNull(p+".attributeName", false)
		} else {
			c.strLen(p+".attributeName", d.AttributeName, 1, maxKeyAttrNameLen)
		}
		c.requiredEnum(p+".attributeType", d.AttributeType, scalarTypeValues...)
	}
}

// projection checks a required Projection member.
func (c *constraints) projection(member string, p *Projection) {
	if p == nil {
		c.notNull(member, false)
		return
	}
	if p.ProjectionType != nil {
		c.enum(member+".projectionType", *p.ProjectionType, projectionTypeValues...)
	}
	if p.NonKeyAttributes != nil {
		c.listLen(member+".nonKeyAttributes", len(p.NonKeyAttributes),
			func() string { return "[" + strings.Join(p.NonKeyAttributes, ", ") + "]" }, 1, maxNonKeyPerIndex)
		for i, a := range p.NonKeyAttributes {
			c.strLen(fmt.Sprintf("%s.nonKeyAttributes.%d.member", member, i+1), a, 1, maxKeyAttrNameLen)
		}
	}
}

// streamSpec checks a StreamSpecification member.
func (c *constraints) streamSpec(member string, s *StreamSpecification) {
	if s == nil {
		return
	}
	c.notNull(member+".streamEnabled", s.StreamEnabled != nil)
	c.enum(member+".streamViewType", s.StreamViewType, streamViewTypeValues...)
}

// gsi checks one GlobalSecondaryIndex (CreateTable, or UpdateTable's Create).
func (c *constraints) gsi(member string, g *GlobalSecondaryIndex) {
	c.indexName(member+".indexName", g.IndexName)
	c.keySchemaList(member+".keySchema", g.KeySchema)
	c.projection(member+".projection", g.Projection)
	c.throughput(member+".provisionedThroughput", g.ProvisionedThroughput)
}

func renderKeySchema(ks []KeySchemaElement) string {
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = fmt.Sprintf("KeySchemaElement(attributeName=%s, keyType=%s)", k.AttributeName, k.KeyType)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// ---- semantic checks (the first failure is reported, as AWS does) ----

// checkBilling validates BillingMode against the table's ProvisionedThroughput.
func checkBilling(mode string, pt *ProvisionedThroughput) error {
	if mode == "PAY_PER_REQUEST" {
		if pt != nil {
			return invalid("Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
		}
		return nil
	}
	if pt == nil || pt.ReadCapacityUnits == nil || pt.WriteCapacityUnits == nil {
		return invalid("ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED")
	}
	return checkCapacityBounds(pt)
}

func checkCapacityBounds(pt *ProvisionedThroughput) error {
	if *pt.ReadCapacityUnits > maxCapacityUnitsBound {
		return apierr.Validation("Given value %d for ReadCapacityUnits is out of bounds", *pt.ReadCapacityUnits)
	}
	if *pt.WriteCapacityUnits > maxCapacityUnitsBound {
		return apierr.Validation("Given value %d for WriteCapacityUnits is out of bounds", *pt.WriteCapacityUnits)
	}
	return nil
}

// checkKeyOrder validates the shape of a key schema: distinct names, HASH first, RANGE second.
func checkKeyOrder(ks []KeySchemaElement) error {
	if len(ks) == 2 && ks[0].AttributeName == ks[1].AttributeName {
		return apierr.Validation("Both the Hash Key and the Range Key element in the KeySchema have the same name")
	}
	if ks[0].KeyType != "HASH" {
		return apierr.Validation("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
	}
	if len(ks) == 2 && ks[1].KeyType != "RANGE" {
		return apierr.Validation("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type")
	}
	return nil
}

func keyNamesOf(ks []KeySchemaElement) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.AttributeName
	}
	return out
}

func defNames(defs []AttributeDefinition) []string {
	out := make([]string, len(defs))
	for i, d := range defs {
		out[i] = d.AttributeName
	}
	return out
}

// defType returns the type of the named attribute in defs.
func defType(defs []AttributeDefinition, name string) (attr.Type, bool) {
	for _, d := range defs {
		if d.AttributeName == name {
			return attr.ParseType(d.AttributeType), true
		}
	}
	return attr.TypeInvalid, false
}

// checkIndexKeysDefined reports an index key attribute missing from defs.
func checkIndexKeysDefined(ks []KeySchemaElement, defs []AttributeDefinition) error {
	for _, k := range ks {
		if _, ok := defType(defs, k.AttributeName); !ok {
			return invalid("Some index key attributes are not defined in AttributeDefinitions. Keys: [%s], AttributeDefinitions: [%s]",
				strings.Join(keyNamesOf(ks), ", "), strings.Join(defNames(defs), ", "))
		}
	}
	return nil
}

// checkProjection validates a Projection's type against its NonKeyAttributes.
func checkProjection(p *Projection) error {
	if p.ProjectionType == nil {
		return invalid("Unknown ProjectionType: null")
	}
	pt := *p.ProjectionType
	if pt != "INCLUDE" && p.NonKeyAttributes != nil {
		return invalid("ProjectionType is %s, but NonKeyAttributes is specified", pt)
	}
	if pt == "INCLUDE" && len(p.NonKeyAttributes) == 0 {
		return invalid("ProjectionType is INCLUDE, but NonKeyAttributes is not specified")
	}
	seen := make(map[string]bool, len(p.NonKeyAttributes))
	for _, a := range p.NonKeyAttributes {
		if seen[a] {
			return invalid("Duplicate element in NonKeyAttributes: %s", a)
		}
		seen[a] = true
	}
	return nil
}

// checkProjectedTotal enforces the limit of 100 INCLUDE attributes across a table's indexes.
func checkProjectedTotal(n int) error {
	if n > maxProjectedNonKey {
		return invalid("Number of projected attributes in all indexes exceeds limit of %d, provided: %d", maxProjectedNonKey, n)
	}
	return nil
}

// checkStreamForCreate validates CreateTable's StreamSpecification.
func checkStreamForCreate(s *StreamSpecification) error {
	if s == nil {
		return nil
	}
	if *s.StreamEnabled && s.StreamViewType == "" {
		return invalid("Table is being created with a stream enabled, UpdateViewType is required")
	}
	if !*s.StreamEnabled && s.StreamViewType != "" {
		return invalid("Table is being created with a stream disabled, UpdateViewType should not be specified")
	}
	return nil
}

// checkTableClass validates a TableClass member ("" is absent).
func checkTableClass(tc string) error {
	if tc == "" {
		return nil
	}
	for _, v := range tableClassValues {
		if tc == v {
			return nil
		}
	}
	return apierr.Validation("Invalid table-class parameter provided. Please try again with a valid table-class value: [STANDARD, STANDARD_INFREQUENT_ACCESS].")
}

// checkSSE validates an SSESpecification and reports whether it asks for
// KMS encryption (on) and with which key ARN.
func (db *DB) checkSSE(s *SSESpecification) (on bool, keyArn string, err error) {
	if s == nil {
		return false, "", nil
	}
	if s.Enabled != nil && !*s.Enabled {
		if s.SSEType != "" {
			return false, "", invalid("SSEType can not be specified if Enabled is false")
		}
		if s.KMSMasterKeyId != "" {
			return false, "", invalid("KMSMasterKeyId can not be specified if Enabled is false")
		}
		return false, "", nil
	}
	if s.SSEType == "AES256" {
		return false, "", invalid("SSEType AES256 is not supported")
	}
	if s.KMSMasterKeyId != "" && s.SSEType != "KMS" {
		return false, "", invalid("SSEType KMS is required if KMSMasterKeyId is specified")
	}
	if (s.Enabled == nil || !*s.Enabled) && s.SSEType != "KMS" {
		return false, "", nil // {} means the default (AWS-owned) key
	}
	return true, db.kmsKeyArn(s.KMSMasterKeyId), nil
}

// kmsKeyArn turns a KMS key id, alias or ARN into an ARN; "" is the AWS
// managed key of DynamoDB.
func (db *DB) kmsKeyArn(id string) string {
	prefix := fmt.Sprintf("arn:aws:kms:%s:%s:", db.cfg.Region, db.cfg.AccountID)
	switch {
	case id == "":
		return prefix + "alias/aws/dynamodb"
	case strings.HasPrefix(id, "arn:"):
		return id
	case strings.HasPrefix(id, "alias/"):
		return prefix + id
	}
	return prefix + "key/" + id
}

// tagPattern is the character set AWS allows in tag keys and values.
var tagPattern = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

// checkTagKey validates one tag key.
func checkTagKey(k string) error {
	if n := utf8.RuneCountInString(k); n < 1 || n > maxTagKeyLen || !tagPattern.MatchString(k) {
		return apierr.Validation("The Tag Key provided is invalid, Key: %s", k)
	}
	return nil
}

// checkTags validates tags to be added (CreateTable, TagResource).
func checkTags(tags []Tag) error {
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		if err := checkTagKey(t.Key); err != nil {
			return err
		}
		if strings.HasPrefix(t.Key, "aws:") {
			return apierr.Validation("Tag Key cannot be prefixed with aws:, Key: %s", t.Key)
		}
		if utf8.RuneCountInString(t.Value) > maxTagValueLen || !tagPattern.MatchString(t.Value) {
			return apierr.Validation("The Tag Value provided is invalid, Value: %s", t.Value)
		}
		if seen[t.Key] {
			return apierr.Validation("Duplicate Tag Keys provided as input: Duplicate Tag Key found %s", t.Key)
		}
		seen[t.Key] = true
	}
	if len(tags) > maxTags {
		return errTooManyTags()
	}
	return nil
}

func errTooManyTags() error {
	return apierr.Validation("Number of Tags exceed the current limit for the provided ResourceArn")
}

// ---- CreateTable ----

// constraints reports CreateTable's model-level violations.
func (in *CreateTableInput) constraints(c *constraints) {
	if in.AttributeDefinitions == nil {
		c.notNull("attributeDefinitions", false)
	}
	c.attributeDefinitions("attributeDefinitions", in.AttributeDefinitions)
	c.tableName("tableName", in.TableName)
	if name := resolveTableName(in.TableName); name != in.TableName {
		c.name("tableName", name) // an ARN must still name a valid table
	}
	c.enum("billingMode", in.BillingMode, billingModeValues...)
	c.throughput("provisionedThroughput", in.ProvisionedThroughput)
	c.keySchemaList("keySchema", in.KeySchema)
	for i := range in.LocalSecondaryIndexes {
		l := &in.LocalSecondaryIndexes[i]
		p := fmt.Sprintf("localSecondaryIndexes.%d.member", i+1)
		c.indexName(p+".indexName", l.IndexName)
		c.keySchemaList(p+".keySchema", l.KeySchema)
		c.projection(p+".projection", l.Projection)
	}
	for i := range in.GlobalSecondaryIndexes {
		c.gsi(fmt.Sprintf("globalSecondaryIndexes.%d.member", i+1), &in.GlobalSecondaryIndexes[i])
	}
	c.streamSpec("streamSpecification", in.StreamSpecification)
	if in.SSESpecification != nil {
		c.enum("sSESpecification.sSEType", in.SSESpecification.SSEType, sseTypeValues...)
	}
}

// check runs CreateTable's semantic validation in AWS's order and returns
// the first failure.
func (in *CreateTableInput) check(db *DB) error {
	if err := checkBilling(in.BillingMode, in.ProvisionedThroughput); err != nil {
		return err
	}
	defs := in.AttributeDefinitions
	keys := keyNamesOf(in.KeySchema)
	if len(keys) > len(defs) {
		return apierr.Validation("Invalid KeySchema: Some index key attribute have no definition")
	}
	for _, k := range keys {
		if _, ok := defType(defs, k); !ok {
			return invalid("Some index key attributes are not defined in AttributeDefinitions. Keys: [%s], AttributeDefinitions: [%s]",
				strings.Join(keys, ", "), strings.Join(defNames(defs), ", "))
		}
	}
	if err := checkKeyOrder(in.KeySchema); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, d := range defs {
		if seen[d.AttributeName] {
			return apierr.Validation("Attribute Name is duplicated: %s", d.AttributeName)
		}
		seen[d.AttributeName] = true
	}
	if in.LocalSecondaryIndexes == nil && in.GlobalSecondaryIndexes == nil {
		if len(keys) != len(defs) {
			return invalid("Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions")
		}
	} else if err := in.checkDefinitionsUsed(); err != nil {
		return err
	}
	if err := in.checkIndexes(); err != nil {
		return err
	}
	if err := checkStreamForCreate(in.StreamSpecification); err != nil {
		return err
	}
	if err := checkTableClass(in.TableClass); err != nil {
		return err
	}
	if _, _, err := db.checkSSE(in.SSESpecification); err != nil {
		return err
	}
	return checkTags(in.Tags)
}

// checkDefinitionsUsed rejects AttributeDefinitions that no key uses.
func (in *CreateTableInput) checkDefinitionsUsed() error {
	var used []string
	isUsed := map[string]bool{}
	add := func(ks []KeySchemaElement) {
		for _, k := range ks {
			if !isUsed[k.AttributeName] {
				isUsed[k.AttributeName] = true
				used = append(used, k.AttributeName)
			}
		}
	}
	add(in.KeySchema)
	for _, l := range in.LocalSecondaryIndexes {
		add(l.KeySchema)
	}
	for _, g := range in.GlobalSecondaryIndexes {
		add(g.KeySchema)
	}
	for _, d := range in.AttributeDefinitions {
		if !isUsed[d.AttributeName] {
			return invalid("Some AttributeDefinitions are not used. AttributeDefinitions: [%s], keys used: [%s]",
				strings.Join(defNames(in.AttributeDefinitions), ", "), strings.Join(used, ", "))
		}
	}
	return nil
}

// checkIndexes validates CreateTable's LSIs and GSIs.
func (in *CreateTableInput) checkIndexes() error {
	defs := in.AttributeDefinitions
	names := map[string]bool{}
	projected := 0
	if in.LocalSecondaryIndexes != nil {
		if len(in.LocalSecondaryIndexes) == 0 {
			return invalid("List of LocalSecondaryIndexes is empty")
		}
		if len(in.KeySchema) != 2 {
			return invalid("Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex")
		}
		tableHash := in.KeySchema[0].AttributeName
		for _, l := range in.LocalSecondaryIndexes {
			if err := checkIndexKeysDefined(l.KeySchema, defs); err != nil {
				return err
			}
			if err := checkKeyOrder(l.KeySchema); err != nil {
				return err
			}
			if len(l.KeySchema) != 2 {
				return invalid("Index KeySchema does not have a range key for index: %s", l.IndexName)
			}
			if h := l.KeySchema[0].AttributeName; h != tableHash {
				return invalid("Index KeySchema does not have the same leading hash key as table KeySchema for index: %s. index hash key: %s, table hash key: %s",
					l.IndexName, h, tableHash)
			}
			if err := checkProjection(l.Projection); err != nil {
				return err
			}
			projected += len(l.Projection.NonKeyAttributes)
			if names[l.IndexName] {
				return invalid("Duplicate index name: %s", l.IndexName)
			}
			names[l.IndexName] = true
		}
		if len(in.LocalSecondaryIndexes) > maxLSIs {
			return invalid("Number of LocalSecondaryIndexes exceeds per-table limit of %d", maxLSIs)
		}
	}
	if in.GlobalSecondaryIndexes != nil {
		if len(in.GlobalSecondaryIndexes) == 0 {
			return invalid("List of GlobalSecondaryIndexes is empty")
		}
		for _, g := range in.GlobalSecondaryIndexes {
			if err := checkIndexKeysDefined(g.KeySchema, defs); err != nil {
				return err
			}
			if err := checkKeyOrder(g.KeySchema); err != nil {
				return err
			}
			if err := checkProjection(g.Projection); err != nil {
				return err
			}
			projected += len(g.Projection.NonKeyAttributes)
			if in.BillingMode == "PAY_PER_REQUEST" {
				if g.ProvisionedThroughput != nil {
					return invalid("ProvisionedThroughput should not be specified for index: %s when BillingMode is PAY_PER_REQUEST", g.IndexName)
				}
			} else {
				if g.ProvisionedThroughput == nil {
					return invalid("ProvisionedThroughput is not specified for index: %s", g.IndexName)
				}
				if err := checkCapacityBounds(g.ProvisionedThroughput); err != nil {
					return err
				}
			}
			if names[g.IndexName] {
				return invalid("Duplicate index name: %s", g.IndexName)
			}
			names[g.IndexName] = true
		}
		if len(in.GlobalSecondaryIndexes) > maxGSIs {
			return invalid("GlobalSecondaryIndex count exceeds the per-table limit of %d", maxGSIs)
		}
	}
	return checkProjectedTotal(projected)
}

// newIndexMeta builds an index's metadata from a validated definition.
func newIndexMeta(id uint16, name string, local bool, ks []KeySchemaElement, p *Projection, defs []AttributeDefinition) *indexMeta {
	ix := &indexMeta{
		ID:             id,
		Name:           name,
		Local:          local,
		HashKey:        ks[0].AttributeName,
		ProjectionType: *p.ProjectionType,
		Status:         "ACTIVE",
	}
	ix.HashType, _ = defType(defs, ix.HashKey)
	if len(ks) == 2 {
		ix.RangeKey = ks[1].AttributeName
		ix.RangeType, _ = defType(defs, ix.RangeKey)
	}
	if ix.ProjectionType == "INCLUDE" {
		ix.NonKeyAttributes = sortedStrings(p.NonKeyAttributes)
	}
	return ix
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	slices.Sort(out)
	return out
}
