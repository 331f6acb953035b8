// Package filter implements the FilterCriteria of a Lambda event source
// mapping: EventBridge event patterns matched against the JSON of each
// stream record (reference §6.3).
//
//	f, err := filter.Compile([]string{`{"dynamodb":{"NewImage":{"status":{"S":["SHIPPED"]}}}}`})
//	ok, err := f.Match(recordJSON) // true: deliver; false: drop and checkpoint past
//
// A pattern is a JSON object (at most MaxPatternLen characters). Each key
// names a member of the record; its value is either a nested pattern object
// (the record's member must be an object that matches it) or a non-empty
// array of matchers, at least one of which must match the record's value.
// Every key of an object must match (AND); the matchers of one array are
// ORed; the patterns of a Filter are ORed (at most MaxFilters). When the
// record's value is an array, the matchers are tried on each element.
//
// Matchers:
//
//	"v", 12, true, null   exact: same type and same text (numbers compare as
//	                      written: 300 does not match 300.0; DynamoDB's N
//	                      values are strings, so {"N":["5"]} is how to match one)
//	""                    the empty string
//	{"prefix":"v"}        a string starting with v; {"prefix":{"equals-ignore-case":"v"}}
//	{"suffix":"v"}        a string ending with v; {"suffix":{"equals-ignore-case":"v"}}
//	{"equals-ignore-case":"v"}
//	{"wildcard":"a*b"}    a string matching a glob with '*' (any run); "\*" is a literal '*'
//	{"anything-but":X}    X a value, a list of values, {"prefix":"v"},
//	                      {"suffix":"v"} or {"equals-ignore-case":"v"|[...]}:
//	                      a present value that X does not match
//	{"numeric":[op,n,...]} a JSON number value: "=" n, or one or two bounds
//	                      (">"/">=" then "<"/"<=", or either alone)
//	{"exists":true|false} the member is present as a leaf (not an object) /
//	                      absent
//
// and, at any object level, {"$or":[pattern, pattern, ...]}: the object
// matches when at least one of the listed patterns (and every other key)
// does. A missing member matches only {"exists":false}. Invalid patterns
// are rejected by Compile with a message naming the filter and the path.
package filter
