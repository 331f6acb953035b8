package engine

// Wire shapes of the control-plane operations, named and tagged exactly as
// the members of botocore's DynamoDB model (2012-08-10). Input members that
// AWS distinguishes by presence are pointers or nil-able slices; output
// members AWS leaves out when unset carry omitempty.

// AttributeDefinition declares the type (S, N or B) of one key attribute of
// the table or of an index.
type AttributeDefinition struct {
	AttributeName string `json:"AttributeName"`
	AttributeType string `json:"AttributeType"`
}

// KeySchemaElement is one element of a KeySchema: HASH or RANGE.
type KeySchemaElement struct {
	AttributeName string `json:"AttributeName"`
	KeyType       string `json:"KeyType"`
}

// Projection says which attributes an index stores.
type Projection struct {
	ProjectionType   *string  `json:"ProjectionType,omitempty"`
	NonKeyAttributes []string `json:"NonKeyAttributes,omitempty"`
}

// ProvisionedThroughput is a table's or GSI's requested capacity.
type ProvisionedThroughput struct {
	ReadCapacityUnits  *int64 `json:"ReadCapacityUnits"`
	WriteCapacityUnits *int64 `json:"WriteCapacityUnits"`
}

// ProvisionedThroughputDescription is the capacity DescribeTable reports
// (0/0 for PAY_PER_REQUEST). Date-times are epoch seconds.
type ProvisionedThroughputDescription struct {
	LastIncreaseDateTime   *float64 `json:"LastIncreaseDateTime,omitempty"`
	LastDecreaseDateTime   *float64 `json:"LastDecreaseDateTime,omitempty"`
	NumberOfDecreasesToday int64    `json:"NumberOfDecreasesToday"`
	ReadCapacityUnits      int64    `json:"ReadCapacityUnits"`
	WriteCapacityUnits     int64    `json:"WriteCapacityUnits"`
}

// LocalSecondaryIndex is CreateTable's definition of an LSI.
type LocalSecondaryIndex struct {
	IndexName  string             `json:"IndexName"`
	KeySchema  []KeySchemaElement `json:"KeySchema"`
	Projection *Projection        `json:"Projection"`
}

// GlobalSecondaryIndex is CreateTable's definition of a GSI (and the body
// of UpdateTable's Create action).
type GlobalSecondaryIndex struct {
	IndexName             string                 `json:"IndexName"`
	KeySchema             []KeySchemaElement     `json:"KeySchema"`
	Projection            *Projection            `json:"Projection"`
	ProvisionedThroughput *ProvisionedThroughput `json:"ProvisionedThroughput,omitempty"`
}

// StreamSpecification turns the table's stream on or off. In a
// TableDescription it appears only while a stream is enabled.
type StreamSpecification struct {
	StreamEnabled  *bool  `json:"StreamEnabled"`
	StreamViewType string `json:"StreamViewType,omitempty"`
}

// SSESpecification asks for server-side encryption with a KMS key. godwit
// stores the setting and reports it; it does not encrypt with KMS.
type SSESpecification struct {
	Enabled        *bool  `json:"Enabled,omitempty"`
	SSEType        string `json:"SSEType,omitempty"`
	KMSMasterKeyId string `json:"KMSMasterKeyId,omitempty"`
}

// Tag is one key/value tag of a table.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// TableDescription is what CreateTable, DescribeTable, UpdateTable and
// DeleteTable return (botocore's TableDescription).
type TableDescription struct {
	AttributeDefinitions      []AttributeDefinition             `json:"AttributeDefinitions"`
	TableName                 string                            `json:"TableName"`
	KeySchema                 []KeySchemaElement                `json:"KeySchema"`
	TableStatus               string                            `json:"TableStatus"`
	CreationDateTime          float64                           `json:"CreationDateTime"`
	ProvisionedThroughput     *ProvisionedThroughputDescription `json:"ProvisionedThroughput"`
	TableSizeBytes            int64                             `json:"TableSizeBytes"`
	ItemCount                 int64                             `json:"ItemCount"`
	TableArn                  string                            `json:"TableArn"`
	TableId                   string                            `json:"TableId"`
	BillingModeSummary        *BillingModeSummary               `json:"BillingModeSummary,omitempty"`
	LocalSecondaryIndexes     []LocalSecondaryIndexDescription  `json:"LocalSecondaryIndexes,omitempty"`
	GlobalSecondaryIndexes    []GlobalSecondaryIndexDescription `json:"GlobalSecondaryIndexes,omitempty"`
	StreamSpecification       *StreamSpecification              `json:"StreamSpecification,omitempty"`
	LatestStreamLabel         string                            `json:"LatestStreamLabel,omitempty"`
	LatestStreamArn           string                            `json:"LatestStreamArn,omitempty"`
	GlobalTableVersion        string                            `json:"GlobalTableVersion,omitempty"`
	Replicas                  []any                             `json:"Replicas,omitempty"`
	SSEDescription            *SSEDescription                   `json:"SSEDescription,omitempty"`
	TableClassSummary         *TableClassSummary                `json:"TableClassSummary,omitempty"`
	DeletionProtectionEnabled bool                              `json:"DeletionProtectionEnabled"`
}

// BillingModeSummary is the table's billing mode and when it last became PAY_PER_REQUEST.
type BillingModeSummary struct {
	BillingMode                       string   `json:"BillingMode"`
	LastUpdateToPayPerRequestDateTime *float64 `json:"LastUpdateToPayPerRequestDateTime,omitempty"`
}

// LocalSecondaryIndexDescription describes an LSI.
type LocalSecondaryIndexDescription struct {
	IndexName      string             `json:"IndexName"`
	KeySchema      []KeySchemaElement `json:"KeySchema"`
	Projection     Projection         `json:"Projection"`
	IndexSizeBytes int64              `json:"IndexSizeBytes"`
	ItemCount      int64              `json:"ItemCount"`
	IndexArn       string             `json:"IndexArn"`
}

// GlobalSecondaryIndexDescription describes a GSI.
type GlobalSecondaryIndexDescription struct {
	IndexName             string                            `json:"IndexName"`
	KeySchema             []KeySchemaElement                `json:"KeySchema"`
	Projection            Projection                        `json:"Projection"`
	IndexStatus           string                            `json:"IndexStatus"`
	Backfilling           *bool                             `json:"Backfilling,omitempty"`
	ProvisionedThroughput *ProvisionedThroughputDescription `json:"ProvisionedThroughput"`
	IndexSizeBytes        int64                             `json:"IndexSizeBytes"`
	ItemCount             int64                             `json:"ItemCount"`
	IndexArn              string                            `json:"IndexArn"`
}

// SSEDescription reports server-side encryption with a KMS key (absent for
// the default AWS-owned key, as on AWS).
type SSEDescription struct {
	Status          string `json:"Status"`
	SSEType         string `json:"SSEType"`
	KMSMasterKeyArn string `json:"KMSMasterKeyArn,omitempty"`
}

// TableClassSummary is the table class (absent until one is set: STANDARD).
type TableClassSummary struct {
	TableClass string `json:"TableClass"`
}

// tableDescriptionOutput wraps a TableDescription as CreateTable, UpdateTable and DeleteTable answer.
type tableDescriptionOutput struct {
	TableDescription *TableDescription `json:"TableDescription"`
}

// describeTableOutput is DescribeTable's answer.
type describeTableOutput struct {
	Table *TableDescription `json:"Table"`
}
