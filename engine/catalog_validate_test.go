package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/godwit-db/godwit/conflict"
)

const catInvalid = "One or more parameter values were invalid: "

func TestCatalogCreateTableValidation(t *testing.T) {
	db := catOpen(t, Config{})
	catCreate(t, db, catSimple("exists"))
	// mod returns a valid PROVISIONED request changed by f.
	mod := func(f func(in *CreateTableInput)) *CreateTableInput {
		in := &CreateTableInput{
			TableName:             "tt1",
			AttributeDefinitions:  catDefs("pk", "S", "sk", "N"),
			KeySchema:             catKS("pk", "sk"),
			ProvisionedThroughput: catPT(1, 1),
		}
		f(in)
		return in
	}
	gsi := func(name string, ks []KeySchemaElement, p *Projection) GlobalSecondaryIndex {
		return GlobalSecondaryIndex{IndexName: name, KeySchema: ks, Projection: p, ProvisionedThroughput: catPT(1, 1)}
	}
	lsi := func(name string, ks []KeySchemaElement, p *Projection) LocalSecondaryIndex {
		return LocalSecondaryIndex{IndexName: name, KeySchema: ks, Projection: p}
	}
	cases := []struct {
		name string
		in   *CreateTableInput
		code string
		msg  string
	}{
		{"empty request", &CreateTableInput{}, "ValidationException",
			"3 validation errors detected: Value null at 'attributeDefinitions' failed to satisfy constraint: Member must not be null; " +
				"Value null at 'tableName' failed to satisfy constraint: Member must not be null; " +
				"Value null at 'keySchema' failed to satisfy constraint: Member must not be null"},
		{"bad enums and ranges", mod(func(in *CreateTableInput) {
			in.AttributeDefinitions = catDefs("pk", "X", "sk", "N")
			in.BillingMode = "FREE"
			in.ProvisionedThroughput = catPT(0, 1)
		}), "ValidationException",
			"3 validation errors detected: Value 'X' at 'attributeDefinitions.1.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]; " +
				"Value 'FREE' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]; " +
				"Value '0' at 'provisionedThroughput.readCapacityUnits' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"three key elements", mod(func(in *CreateTableInput) {
			in.KeySchema = append(catKS("pk", "sk"), KeySchemaElement{AttributeName: "x", KeyType: "RANGE"})
		}), "ValidationException",
			"1 validation error detected: Value '[KeySchemaElement(attributeName=pk, keyType=HASH), KeySchemaElement(attributeName=sk, keyType=RANGE), KeySchemaElement(attributeName=x, keyType=RANGE)]' at 'keySchema' failed to satisfy constraint: Member must have length less than or equal to 2"},
		{"bad table name", mod(func(in *CreateTableInput) { in.TableName = "a b" }), "ValidationException",
			"1 validation error detected: Value 'a b' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"},
		{"gsi without projection", mod(func(in *CreateTableInput) {
			in.GlobalSecondaryIndexes = []GlobalSecondaryIndex{{IndexName: "gg", KeySchema: catKS("sk", "")}}
		}), "ValidationException",
			"2 validation errors detected: Value 'gg' at 'globalSecondaryIndexes.1.member.indexName' failed to satisfy constraint: Member must have length greater than or equal to 3; " +
				"Value null at 'globalSecondaryIndexes.1.member.projection' failed to satisfy constraint: Member must not be null"},
		{"stream without enabled", mod(func(in *CreateTableInput) { in.StreamSpecification = &StreamSpecification{StreamViewType: "BAD"} }), "ValidationException",
			"2 validation errors detected: Value null at 'streamSpecification.streamEnabled' failed to satisfy constraint: Member must not be null; " +
				"Value 'BAD' at 'streamSpecification.streamViewType' failed to satisfy constraint: Member must satisfy enum value set: [NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES, KEYS_ONLY]"},
		{"ppr with throughput", mod(func(in *CreateTableInput) { in.BillingMode = "PAY_PER_REQUEST" }), "ValidationException",
			catInvalid + "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"},
		{"provisioned without throughput", mod(func(in *CreateTableInput) { in.ProvisionedThroughput = nil }), "ValidationException",
			catInvalid + "ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED"},
		{"throughput out of bounds", mod(func(in *CreateTableInput) { in.ProvisionedThroughput = catPT(1, 1_000_000_000_001) }), "ValidationException",
			"Given value 1000000000001 for WriteCapacityUnits is out of bounds"},
		{"fewer definitions than keys", mod(func(in *CreateTableInput) { in.AttributeDefinitions = catDefs("pk", "S") }), "ValidationException",
			"Invalid KeySchema: Some index key attribute have no definition"},
		{"key not defined", mod(func(in *CreateTableInput) { in.AttributeDefinitions = catDefs("pk", "S", "zz", "S") }), "ValidationException",
			catInvalid + "Some index key attributes are not defined in AttributeDefinitions. Keys: [pk, sk], AttributeDefinitions: [pk, zz]"},
		{"same hash and range", mod(func(in *CreateTableInput) { in.KeySchema = catKS("pk", "pk") }), "ValidationException",
			"Both the Hash Key and the Range Key element in the KeySchema have the same name"},
		{"range first", mod(func(in *CreateTableInput) {
			in.KeySchema = []KeySchemaElement{{AttributeName: "sk", KeyType: "RANGE"}, {AttributeName: "pk", KeyType: "HASH"}}
		}), "ValidationException", "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"},
		{"two hashes", mod(func(in *CreateTableInput) {
			in.KeySchema = []KeySchemaElement{{AttributeName: "pk", KeyType: "HASH"}, {AttributeName: "sk", KeyType: "HASH"}}
		}), "ValidationException", "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type"},
		{"duplicate definition", mod(func(in *CreateTableInput) { in.AttributeDefinitions = catDefs("pk", "S", "sk", "N", "pk", "N") }), "ValidationException",
			"Attribute Name is duplicated: pk"},
		{"extra definition", mod(func(in *CreateTableInput) { in.AttributeDefinitions = catDefs("pk", "S", "sk", "N", "x", "S") }), "ValidationException",
			catInvalid + "Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions"},
		{"unused definition with index", mod(func(in *CreateTableInput) {
			in.AttributeDefinitions = catDefs("pk", "S", "sk", "N", "x", "S", "g", "S")
			in.GlobalSecondaryIndexes = []GlobalSecondaryIndex{gsi("gsi", catKS("g", ""), catProj("ALL"))}
		}), "ValidationException",
			catInvalid + "Some AttributeDefinitions are not used. AttributeDefinitions: [pk, sk, x, g], keys used: [pk, sk, g]"},
		{"empty lsi list", mod(func(in *CreateTableInput) { in.LocalSecondaryIndexes = []LocalSecondaryIndex{} }), "ValidationException",
			catInvalid + "List of LocalSecondaryIndexes is empty"},
		{"empty gsi list", mod(func(in *CreateTableInput) { in.GlobalSecondaryIndexes = []GlobalSecondaryIndex{} }), "ValidationException",
			catInvalid + "List of GlobalSecondaryIndexes is empty"},
		{"lsi on hash-only table", mod(func(in *CreateTableInput) {
			in.AttributeDefinitions = catDefs("pk", "S", "sk", "N")
			in.KeySchema = catKS("pk", "")
			in.LocalSecondaryIndexes = []LocalSecondaryIndex{lsi("lsi", catKS("pk", "sk"), catProj("ALL"))}
		}), "ValidationException",
			catInvalid + "Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex"},
		{"lsi key not defined", mod(func(in *CreateTableInput) {
			in.LocalSecondaryIndexes = []LocalSecondaryIndex{lsi("lsi", catKS("pk", "q"), catProj("ALL"))}
		}), "ValidationException",
			catInvalid + "Some index key attributes are not defined in AttributeDefinitions. Keys: [pk, q], AttributeDefinitions: [pk, sk]"},
		{"lsi without range", mod(func(in *CreateTableInput) {
			in.LocalSecondaryIndexes = []LocalSecondaryIndex{lsi("lsi", catKS("pk", ""), catProj("ALL"))}
		}), "ValidationException", catInvalid + "Index KeySchema does not have a range key for index: lsi"},
		{"lsi other hash", mod(func(in *CreateTableInput) {
			in.LocalSecondaryIndexes = []LocalSecondaryIndex{lsi("lsi", catKS("sk", "pk"), catProj("ALL"))}
		}), "ValidationException",
			catInvalid + "Index KeySchema does not have the same leading hash key as table KeySchema for index: lsi. index hash key: sk, table hash key: pk"},
		{"projection type null", mod(func(in *CreateTableInput) {
			in.LocalSecondaryIndexes = []LocalSecondaryIndex{lsi("lsi", catKS("pk", "sk"), &Projection{})}
		}), "ValidationException", catInvalid + "Unknown ProjectionType: null"},
		{"non-key with ALL", mod(func(in *CreateTableInput) {
			in.GlobalSecondaryIndexes = []GlobalSecondaryIndex{gsi("gsi", catKS("sk", ""), catProj("ALL", "a"))}
		}), "ValidationException", catInvalid + "ProjectionType is ALL, but NonKeyAttributes is specified"},
		{"include without non-key", mod(func(in *CreateTableInput) {
			in.GlobalSecondaryIndexes = []GlobalSecondaryIndex{gsi("gsi", catKS("sk", ""), catProj("INCLUDE"))}
		}), "ValidationException", catInvalid + "ProjectionType is INCLUDE, but NonKeyAttributes is not specified"},
		{"duplicate index names", mod(func(in *CreateTableInput) {
			in.LocalSecondaryIndexes = []LocalSecondaryIndex{lsi("idx", catKS("pk", "sk"), catProj("ALL"))}
			in.GlobalSecondaryIndexes = []GlobalSecondaryIndex{gsi("idx", catKS("sk", ""), catProj("ALL"))}
		}), "ValidationException", catInvalid + "Duplicate index name: idx"},
		{"six lsis", mod(func(in *CreateTableInput) {
			for i := range 6 {
				in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, lsi(fmt.Sprint("lsi", i), catKS("pk", "sk"), catProj("ALL")))
			}
		}), "ValidationException", catInvalid + "Number of LocalSecondaryIndexes exceeds per-table limit of 5"},
		{"21 gsis", mod(func(in *CreateTableInput) {
			for i := range 21 {
				in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, gsi(fmt.Sprint("gsi", i), catKS("sk", ""), catProj("ALL")))
			}
		}), "ValidationException", catInvalid + "GlobalSecondaryIndex count exceeds the per-table limit of 20"},
		{"gsi throughput on ppr", mod(func(in *CreateTableInput) {
			in.BillingMode, in.ProvisionedThroughput = "PAY_PER_REQUEST", nil
			in.GlobalSecondaryIndexes = []GlobalSecondaryIndex{gsi("gsi", catKS("sk", ""), catProj("ALL"))}
		}), "ValidationException", catInvalid + "ProvisionedThroughput should not be specified for index: gsi when BillingMode is PAY_PER_REQUEST"},
		{"gsi without throughput", mod(func(in *CreateTableInput) {
			in.GlobalSecondaryIndexes = []GlobalSecondaryIndex{{IndexName: "gsi", KeySchema: catKS("sk", ""), Projection: catProj("ALL")}}
		}), "ValidationException", catInvalid + "ProvisionedThroughput is not specified for index: gsi"},
		{"over 100 projected", mod(func(in *CreateTableInput) {
			for i := range 6 {
				var attrs []string
				for j := range 17 {
					attrs = append(attrs, fmt.Sprintf("a%d_%d", i, j))
				}
				in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, gsi(fmt.Sprint("gsi", i), catKS("sk", ""), catProj("INCLUDE", attrs...)))
			}
		}), "ValidationException", catInvalid + "Number of projected attributes in all indexes exceeds limit of 100, provided: 102"},
		{"stream enabled without view", mod(func(in *CreateTableInput) { in.StreamSpecification = &StreamSpecification{StreamEnabled: bptr(true)} }), "ValidationException",
			catInvalid + "Table is being created with a stream enabled, UpdateViewType is required"},
		{"stream disabled with view", mod(func(in *CreateTableInput) {
			in.StreamSpecification = &StreamSpecification{StreamEnabled: bptr(false), StreamViewType: "KEYS_ONLY"}
		}), "ValidationException", catInvalid + "Table is being created with a stream disabled, UpdateViewType should not be specified"},
		{"bad table class", mod(func(in *CreateTableInput) { in.TableClass = "GLACIER" }), "ValidationException",
			"Invalid table-class parameter provided. Please try again with a valid table-class value: [STANDARD, STANDARD_INFREQUENT_ACCESS]."},
		{"sse type when disabled", mod(func(in *CreateTableInput) {
			in.SSESpecification = &SSESpecification{Enabled: bptr(false), SSEType: "KMS"}
		}), "ValidationException",
			catInvalid + "SSEType can not be specified if Enabled is false"},
		{"sse key without kms", mod(func(in *CreateTableInput) {
			in.SSESpecification = &SSESpecification{Enabled: bptr(true), KMSMasterKeyId: "k"}
		}), "ValidationException",
			catInvalid + "SSEType KMS is required if KMSMasterKeyId is specified"},
		{"sse aes", mod(func(in *CreateTableInput) { in.SSESpecification = &SSESpecification{SSEType: "AES256"} }), "ValidationException",
			catInvalid + "SSEType AES256 is not supported"},
		{"exists", mod(func(in *CreateTableInput) { in.TableName = "exists" }), "ResourceInUseException", "Table already exists: exists"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := db.CreateTable(context.Background(), c.in)
			catWantErr(t, err, c.code, c.msg)
			if c.in.TableName != "exists" && db.table(c.in.TableName) != nil {
				t.Fatal("a rejected CreateTable created the table")
			}
		})
	}
	if names := db.tableNames(); len(names) != 1 {
		t.Errorf("tables after rejected creates: %v", names)
	}
}

func TestCatalogUpdateTableValidation(t *testing.T) {
	db := catOpen(t, Config{})
	in := &CreateTableInput{
		TableName:             "uuu",
		AttributeDefinitions:  catDefs("pk", "S", "sk", "S", "g", "S"),
		KeySchema:             catKS("pk", "sk"),
		ProvisionedThroughput: catPT(5, 5),
		LocalSecondaryIndexes: []LocalSecondaryIndex{{IndexName: "lsi", KeySchema: catKS("pk", "g"), Projection: catProj("ALL")}},
		GlobalSecondaryIndexes: []GlobalSecondaryIndex{{IndexName: "gsi", KeySchema: catKS("g", ""), Projection: catProj("ALL"),
			ProvisionedThroughput: catPT(2, 2)}},
	}
	catCreate(t, db, in)
	catCreate(t, db, catSimple("ppr"))
	before := catJSON(t, catDescribe(t, db, "uuu"))
	create := func(name string, pt *ProvisionedThroughput) GlobalSecondaryIndexUpdate {
		return GlobalSecondaryIndexUpdate{Create: &GlobalSecondaryIndex{IndexName: name, KeySchema: catKS("x", ""), Projection: catProj("ALL"), ProvisionedThroughput: pt}}
	}
	del := func(name string) GlobalSecondaryIndexUpdate {
		return GlobalSecondaryIndexUpdate{Delete: &DeleteGlobalSecondaryIndexAction{IndexName: name}}
	}
	upd := func(name string, pt *ProvisionedThroughput) GlobalSecondaryIndexUpdate {
		return GlobalSecondaryIndexUpdate{Update: &UpdateGlobalSecondaryIndexAction{IndexName: name, ProvisionedThroughput: pt}}
	}
	xdef := catDefs("x", "S")
	const atLeastOne = "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates, SSESpecification, ReplicaUpdates, MultiAccountReplicaReady, ReplicaTransitRoleArn, MultiRegionConsistency, DeletionProtectionEnabled, OnDemandThroughput, WarmThroughput or TableClass is required"
	cases := []struct {
		name string
		in   UpdateTableInput
		code string
		msg  string
	}{
		{"nothing", UpdateTableInput{TableName: "uuu"}, "ValidationException", atLeastOne},
		{"nothing on a missing table", UpdateTableInput{TableName: "nope"}, "ValidationException", atLeastOne},
		{"empty gsi updates", UpdateTableInput{TableName: "uuu", GlobalSecondaryIndexUpdates: []GlobalSecondaryIndexUpdate{}}, "ValidationException", atLeastOne},
		{"model constraints", UpdateTableInput{TableName: "uuu", ProvisionedThroughput: &ProvisionedThroughput{ReadCapacityUnits: i64(0)}}, "ValidationException",
			"2 validation errors detected: Value null at 'provisionedThroughput.writeCapacityUnits' failed to satisfy constraint: Member must not be null; " +
				"Value '0' at 'provisionedThroughput.readCapacityUnits' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"missing table", UpdateTableInput{TableName: "nope", DeletionProtectionEnabled: bptr(true)}, "ResourceNotFoundException",
			"Requested resource not found: Table: nope not found"},
		{"sse and more", UpdateTableInput{TableName: "uuu", SSESpecification: &SSESpecification{Enabled: bptr(true)}, DeletionProtectionEnabled: bptr(true)},
			"ValidationException", catInvalid + "Server-Side Encryption modification must be the only operation in the request"},
		{"class and more", UpdateTableInput{TableName: "uuu", TableClass: "STANDARD", ProvisionedThroughput: catPT(1, 1)},
			"ValidationException", catInvalid + "TableClass modification must be the only operation in the request"},
		{"dp and more", UpdateTableInput{TableName: "uuu", DeletionProtectionEnabled: bptr(true), BillingMode: "PAY_PER_REQUEST"},
			"ValidationException", catInvalid + "DeletionProtection modification must be the only operation in the request"},
		{"bad class", UpdateTableInput{TableName: "uuu", TableClass: "COLD"}, "ValidationException",
			"Invalid table-class parameter provided. Please try again with a valid table-class value: [STANDARD, STANDARD_INFREQUENT_ACCESS]."},
		{"stream and iops", UpdateTableInput{TableName: "uuu", ProvisionedThroughput: catPT(1, 1),
			StreamSpecification: &StreamSpecification{StreamEnabled: bptr(true), StreamViewType: "KEYS_ONLY"}},
			"ValidationException", catInvalid + "You cannot modify stream status while updating table IOPS"},
		{"index and iops", UpdateTableInput{TableName: "uuu", ProvisionedThroughput: catPT(1, 1), GlobalSecondaryIndexUpdates: []GlobalSecondaryIndexUpdate{del("gsi")}},
			"ValidationException", catInvalid + "You cannot create or delete index while updating table IOPS"},
		{"index and stream", UpdateTableInput{TableName: "uuu", GlobalSecondaryIndexUpdates: []GlobalSecondaryIndexUpdate{del("gsi")},
			StreamSpecification: &StreamSpecification{StreamEnabled: bptr(true), StreamViewType: "KEYS_ONLY"}},
			"ValidationException", catInvalid + "You cannot create or delete index while changing stream status"},
		{"empty gsi action", UpdateTableInput{TableName: "uuu", GlobalSecondaryIndexUpdates: []GlobalSecondaryIndexUpdate{{}}}, "ValidationException",
			catInvalid + "One of GlobalSecondaryIndexUpdate.Update, GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Delete must not be null"},
		{"two actions in one", UpdateTableInput{TableName: "uuu", GlobalSecondaryIndexUpdates: []GlobalSecondaryIndexUpdate{{
			Delete: &DeleteGlobalSecondaryIndexAction{IndexName: "gsi"}, Update: &UpdateGlobalSecondaryIndexAction{IndexName: "gsi", ProvisionedThroughput: catPT(1, 1)}}}},
			"ValidationException", catInvalid + "Only one global secondary index action is allowed per GlobalSecondaryIndexUpdate object"},
		{"same index twice", UpdateTableInput{TableName: "uuu", GlobalSecondaryIndexUpdates: []GlobalSecondaryIndexUpdate{upd("gsi", catPT(3, 3)), del("gsi")}},
			"ValidationException", catInvalid + "Only one global secondary index update per index is allowed simultaneously. Index: gsi"},
		{"two creates", UpdateTableInput{TableName: "uuu", AttributeDefinitions: xdef, GlobalSecondaryIndexUpdates: []GlobalSecondaryIndexUpdate{create("a1a", catPT(1, 1)), create("b1b", catPT(1, 1))}},
			"LimitExceededException", "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table"},
		{"update stream without view", UpdateTableInput{TableName: "uuu", StreamSpecification: &StreamSpecification{StreamEnabled: bptr(true)}}, "ValidationException",
			catInvalid + "If stream is being enabled then UpdateViewType is required"},
		{"disable stream with view", UpdateTableInput{TableName: "uuu", StreamSpecification: &StreamSpecification{StreamEnabled: bptr(false), StreamViewType: "NEW_IMAGE"}},
			"ValidationException", catInvalid + "If stream is being disabled, then UpdateViewType must not be specified"},
		{"disable absent stream", UpdateTableInput{TableName: "uuu", StreamSpecification: &StreamSpecification{StreamEnabled: bptr(false)}}, "ValidationException",
			"Table has no stream to disable: TableName: uuu"},
		{"same throughput", UpdateTableInput{TableName: "uuu", ProvisionedThroughput: catPT(5, 5)}, "ValidationException",
			"The provisioned throughput for the table will not change. The requested value equals the current value. Current ReadCapacityUnits provisioned for the table: 5. Requested ReadCapacityUnits: 5. Current WriteCapacityUnits provisioned for the table: 5. Requested WriteCapacityUnits: 5. Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits."},
		{"provisioned without throughput", UpdateTableInput{TableName: "uuu", BillingMode: "PROVISIONED"}, "ValidationException",
			catInvalid + "ProvisionedThroughput must be specified when BillingMode is PROVISIONED"},
		{"ppr with throughput", UpdateTableInput{TableName: "uuu", BillingMode: "PAY_PER_REQUEST", ProvisionedThroughput: catPT(1, 1)}, "ValidationException",
			catInvalid + "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"},
		{"throughput on ppr table", UpdateTableInput{TableName: "ppr", ProvisionedThroughput: catPT(1, 1)}, "ValidationException",
			catInvalid + "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"},
		{"same gsi throughput", UpdateTableInput{TableName: "uuu", GlobalSecondaryIndexUpdates: []GlobalSecondaryIndexUpdate{upd("gsi", catPT(2, 2))}}, "ValidationException",
			"The provisioned throughput for the index gsi will not change. The requested value equals the current value. Current ReadCapacityUnits provisioned for index gsi: 2. Requested ReadCapacityUnits: 2. Current WriteCapacityUnits provisioned for index gsi: 2. Requested WriteCapacityUnits: 2. Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits."},
		{"update unknown index", UpdateTableInput{TableName: "uuu", GlobalSecondaryIndexUpdates: []GlobalSecondaryIndexUpdate{upd("ghost", catPT(1, 1))}},
			"ResourceNotFoundException", "Requested resource not found: Index ghost for table uuu"},
		{"update lsi", UpdateTableInput{TableName: "uuu", GlobalSecondaryIndexUpdates: []GlobalSecondaryIndexUpdate{upd("lsi", catPT(1, 1))}},
			"ValidationException", "Cannot update an index that is not a GlobalSecondaryIndex: lsi"},
		{"delete unknown index", UpdateTableInput{TableName: "uuu", GlobalSecondaryIndexUpdates: []GlobalSecondaryIndexUpdate{del("ghost")}},
			"ResourceNotFoundException", "Requested resource not found: Index ghost for table uuu"},
		{"delete lsi", UpdateTableInput{TableName: "uuu", GlobalSecondaryIndexUpdates: []GlobalSecondaryIndexUpdate{del("lsi")}},
			"ValidationException", "Cannot delete an index that is not a GlobalSecondaryIndex: lsi"},
		{"create existing", UpdateTableInput{TableName: "uuu", AttributeDefinitions: xdef, GlobalSecondaryIndexUpdates: []GlobalSecondaryIndexUpdate{create("gsi", catPT(1, 1))}},
			"ValidationException", "Attempting to create an index which already exists"},
		{"create without definitions", UpdateTableInput{TableName: "uuu", GlobalSecondaryIndexUpdates: []GlobalSecondaryIndexUpdate{create("new", catPT(1, 1))}},
			"ValidationException", catInvalid + "AttributeDefinitions is not specified for index: new"},
		{"create undefined key", UpdateTableInput{TableName: "uuu", AttributeDefinitions: catDefs("y", "S"), GlobalSecondaryIndexUpdates: []GlobalSecondaryIndexUpdate{create("new", catPT(1, 1))}},
			"ValidationException", catInvalid + "Some index key attributes are not defined in AttributeDefinitions. Keys: [x], AttributeDefinitions: [y]"},
		{"create without throughput", UpdateTableInput{TableName: "uuu", AttributeDefinitions: xdef, GlobalSecondaryIndexUpdates: []GlobalSecondaryIndexUpdate{create("new", nil)}},
			"ValidationException", catInvalid + "ProvisionedThroughput must be specified for index: new"},
		{"create with throughput on ppr", UpdateTableInput{TableName: "ppr", AttributeDefinitions: xdef, GlobalSecondaryIndexUpdates: []GlobalSecondaryIndexUpdate{create("new", catPT(1, 1))}},
			"ValidationException", catInvalid + "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified for index: new when BillingMode is PAY_PER_REQUEST"},
		{"gsi update on ppr", UpdateTableInput{TableName: "uuu", BillingMode: "PAY_PER_REQUEST", GlobalSecondaryIndexUpdates: []GlobalSecondaryIndexUpdate{upd("gsi", catPT(3, 3))}},
			"ValidationException", catInvalid + "The only Updates for index: gsi when TableThroughputMode is PAY_PER_REQUEST can be to OnDemandThroughput, WarmThroughput"},
		{"sse default already", UpdateTableInput{TableName: "uuu", SSESpecification: &SSESpecification{Enabled: bptr(false)}}, "ValidationException",
			catInvalid + "Table is already encrypted by default"},
		{"replicas and more", UpdateTableInput{TableName: "uuu", ReplicaUpdates: []json.RawMessage{json.RawMessage(`{}`)}, BillingMode: "PAY_PER_REQUEST"},
			"ValidationException", catInvalid + "Replica modification must be the only operation in the request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := c.in
			_, err := db.UpdateTable(context.Background(), &in)
			catWantErr(t, err, c.code, c.msg)
		})
	}
	if after := catJSON(t, catDescribe(t, db, "uuu")); after != before {
		t.Errorf("rejected updates changed the table:\n%s\n%s", after, before)
	}
}

func TestCatalogUpdateTable(t *testing.T) {
	clock := conflict.NewManualClock(time.Date(2026, 7, 8, 9, 10, 11, 0, time.UTC))
	db := catOpen(t, Config{Clock: clock})
	in := &CreateTableInput{
		TableName:             "upd",
		AttributeDefinitions:  catDefs("pk", "S", "g", "S"),
		KeySchema:             catKS("pk", ""),
		ProvisionedThroughput: catPT(5, 5),
		GlobalSecondaryIndexes: []GlobalSecondaryIndex{{IndexName: "gsi", KeySchema: catKS("g", ""), Projection: catProj("ALL"),
			ProvisionedThroughput: catPT(2, 2)}},
	}
	catCreate(t, db, in)
	const t0 = 1783501811.0

	// Throughput: increase, then decrease.
	d := catUpdate(t, db, &UpdateTableInput{TableName: "upd", ProvisionedThroughput: catPT(10, 5)})
	if d.TableStatus != "UPDATING" || d.ProvisionedThroughput.ReadCapacityUnits != 10 || *d.ProvisionedThroughput.LastIncreaseDateTime != t0 {
		t.Errorf("increase: %s", catJSON(t, d.ProvisionedThroughput))
	}
	clock.Advance(time.Second)
	catUpdate(t, db, &UpdateTableInput{TableName: "upd", ProvisionedThroughput: catPT(10, 4)})
	d = catDescribe(t, db, "upd")
	if got := catJSON(t, d.ProvisionedThroughput); got != `{"LastIncreaseDateTime":1783501811,"LastDecreaseDateTime":1783501812,"NumberOfDecreasesToday":1,"ReadCapacityUnits":10,"WriteCapacityUnits":4}` {
		t.Errorf("decrease: %s", got)
	}
	clock.Advance(24 * time.Hour)
	if d := catDescribe(t, db, "upd"); d.ProvisionedThroughput.NumberOfDecreasesToday != 0 {
		t.Errorf("decreases carried over to the next day: %d", d.ProvisionedThroughput.NumberOfDecreasesToday)
	}
	// GSI throughput.
	catUpdate(t, db, &UpdateTableInput{TableName: "upd", GlobalSecondaryIndexUpdates: []GlobalSecondaryIndexUpdate{{
		Update: &UpdateGlobalSecondaryIndexAction{IndexName: "gsi", ProvisionedThroughput: catPT(3, 4)}}}})
	if g := catDescribe(t, db, "upd").GlobalSecondaryIndexes[0].ProvisionedThroughput; g.ReadCapacityUnits != 3 || g.WriteCapacityUnits != 4 {
		t.Errorf("gsi throughput: %s", catJSON(t, g))
	}
	// To PAY_PER_REQUEST and back (every GSI needs throughput then).
	catUpdate(t, db, &UpdateTableInput{TableName: "upd", BillingMode: "PAY_PER_REQUEST"})
	d = catDescribe(t, db, "upd")
	if d.BillingModeSummary.BillingMode != "PAY_PER_REQUEST" || d.BillingModeSummary.LastUpdateToPayPerRequestDateTime == nil ||
		d.ProvisionedThroughput.ReadCapacityUnits != 0 || d.GlobalSecondaryIndexes[0].ProvisionedThroughput.ReadCapacityUnits != 0 {
		t.Errorf("to ppr: %s", catJSON(t, d))
	}
	_, err := db.UpdateTable(context.Background(), &UpdateTableInput{TableName: "upd", BillingMode: "PROVISIONED", ProvisionedThroughput: catPT(1, 1)})
	catWantErr(t, err, "ValidationException", catInvalid+"ProvisionedThroughput must be specified for index: gsi")
	catUpdate(t, db, &UpdateTableInput{TableName: "upd", BillingMode: "PROVISIONED", ProvisionedThroughput: catPT(1, 1),
		GlobalSecondaryIndexUpdates: []GlobalSecondaryIndexUpdate{{Update: &UpdateGlobalSecondaryIndexAction{IndexName: "gsi", ProvisionedThroughput: catPT(7, 7)}}}})
	d = catDescribe(t, db, "upd")
	if d.BillingModeSummary.BillingMode != "PROVISIONED" || d.ProvisionedThroughput.ReadCapacityUnits != 1 || d.GlobalSecondaryIndexes[0].ProvisionedThroughput.WriteCapacityUnits != 7 {
		t.Errorf("to provisioned: %s", catJSON(t, d))
	}

	// Streams: enable, refuse a second enable, disable (the label stays), re-enable (a new label).
	d = catUpdate(t, db, &UpdateTableInput{TableName: "upd", StreamSpecification: &StreamSpecification{StreamEnabled: bptr(true), StreamViewType: "NEW_IMAGE"}})
	first := d.LatestStreamLabel
	if first != "2026-07-09T09:10:12.000" || d.StreamSpecification == nil || d.LatestStreamArn != "arn:aws:dynamodb:us-east-1:000000000000:table/upd/stream/"+first {
		t.Errorf("enable stream: %s", catJSON(t, d))
	}
	if s := db.table("upd").m().Stream; s == nil || !s.Enabled || s.ViewType != "NEW_IMAGE" || s.Label != first {
		t.Errorf("stream meta: %+v", s)
	}
	_, err = db.UpdateTable(context.Background(), &UpdateTableInput{TableName: "upd", StreamSpecification: &StreamSpecification{StreamEnabled: bptr(true), StreamViewType: "KEYS_ONLY"}})
	catWantErr(t, err, "ValidationException", "Table already has an enabled stream: TableName: upd")
	d = catUpdate(t, db, &UpdateTableInput{TableName: "upd", StreamSpecification: &StreamSpecification{StreamEnabled: bptr(false)}})
	if d.StreamSpecification != nil || d.LatestStreamLabel != first {
		t.Errorf("disable stream: %s", catJSON(t, d))
	}
	// Same millisecond: the new stream still gets a new label.
	d = catUpdate(t, db, &UpdateTableInput{TableName: "upd", StreamSpecification: &StreamSpecification{StreamEnabled: bptr(true), StreamViewType: "KEYS_ONLY"}})
	if d.LatestStreamLabel != "2026-07-09T09:10:12.001" || d.StreamSpecification.StreamViewType != "KEYS_ONLY" {
		t.Errorf("re-enable stream: %s / %s", d.LatestStreamLabel, catJSON(t, d.StreamSpecification))
	}

	// SSE, table class, deletion protection.
	d = catUpdate(t, db, &UpdateTableInput{TableName: "upd", SSESpecification: &SSESpecification{Enabled: bptr(true), SSEType: "KMS", KMSMasterKeyId: "1234"}})
	if d.TableStatus != "ACTIVE" || d.SSEDescription == nil || d.SSEDescription.KMSMasterKeyArn != "arn:aws:kms:us-east-1:000000000000:key/1234" {
		t.Errorf("sse: %s", catJSON(t, d))
	}
	_, err = db.UpdateTable(context.Background(), &UpdateTableInput{TableName: "upd", SSESpecification: &SSESpecification{Enabled: bptr(true), SSEType: "KMS", KMSMasterKeyId: "1234"}})
	catWantErr(t, err, "ValidationException", catInvalid+"Table is already encrypted with given KMSMasterKeyId. Use KMSMasterKeyId parameter if you want to change Master Key")
	if d := catUpdate(t, db, &UpdateTableInput{TableName: "upd", SSESpecification: &SSESpecification{Enabled: bptr(false)}}); d.SSEDescription != nil {
		t.Errorf("sse off: %s", catJSON(t, d.SSEDescription))
	}
	if d := catUpdate(t, db, &UpdateTableInput{TableName: "upd", TableClass: "STANDARD"}); d.TableClassSummary != nil {
		t.Errorf("STANDARD on a never-set table must stay unset: %s", catJSON(t, d.TableClassSummary))
	}
	if d := catUpdate(t, db, &UpdateTableInput{TableName: "upd", TableClass: "STANDARD_INFREQUENT_ACCESS"}); d.TableClassSummary == nil || d.TableClassSummary.TableClass != "STANDARD_INFREQUENT_ACCESS" {
		t.Errorf("table class: %s", catJSON(t, d.TableClassSummary))
	}
	if d := catUpdate(t, db, &UpdateTableInput{TableName: "upd", DeletionProtectionEnabled: bptr(true)}); !d.DeletionProtectionEnabled || d.TableStatus != "ACTIVE" {
		t.Errorf("deletion protection: %v %s", d.DeletionProtectionEnabled, d.TableStatus)
	}

	// GSI limits: 20 at most; one create/delete at a time.
	var defs []AttributeDefinition
	for i := range 19 {
		defs = append(defs, AttributeDefinition{AttributeName: fmt.Sprint("a", i), AttributeType: "S"})
	}
	m := db.table("upd").m().clone()
	for i := range 19 {
		m.Indexes = append(m.Indexes, &indexMeta{ID: uint16(100 + i), Name: fmt.Sprint("x", i), HashKey: fmt.Sprint("a", i), HashType: 1, ProjectionType: "ALL", Status: "ACTIVE"})
	}
	tb := db.table("upd")
	db.mu.Lock()
	err = db.saveMeta(tb, m)
	db.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.UpdateTable(context.Background(), &UpdateTableInput{TableName: "upd", AttributeDefinitions: catDefs("z", "S"),
		GlobalSecondaryIndexUpdates: []GlobalSecondaryIndexUpdate{{Create: &GlobalSecondaryIndex{IndexName: "z21", KeySchema: catKS("z", ""),
			Projection: catProj("ALL"), ProvisionedThroughput: catPT(1, 1)}}}})
	catWantErr(t, err, "LimitExceededException", "Subscriber limit exceeded: Number of global secondary indexes exceeds per-table limit of 20")
	if !strings.Contains(catJSON(t, catDescribe(t, db, "upd").GlobalSecondaryIndexes), "x18") {
		t.Error("describe misses an index")
	}
}
