// Package expr implements DynamoDB's expression languages: condition and
// filter expressions, update expressions, projection expressions and key
// condition expressions. It parses them, resolves their #name and :value
// placeholders, validates them with DynamoDB's exact error texts, and
// evaluates them against items. The deprecated pre-expression parameters
// (Expected, AttributeUpdates, AttributesToGet, KeyConditions, QueryFilter,
// ScanFilter) are translated into the same trees, so the engine has one
// evaluator for both.
//
//	p := expr.NewParams(req.ExpressionAttributeNames, req.ExpressionAttributeValues)
//	cond, err := expr.ParseCondition("ConditionExpression", *req.ConditionExpression, p)
//	upd, err := expr.ParseUpdate(*req.UpdateExpression, p)
//	if err := p.CheckUnused(); err != nil { ... } // after every expression of the request
//	if cond != nil && !cond.Eval(old) { ... }     // ConditionalCheckFailed
//	newItem, err := upd.Apply(old)                // old is never modified
//
// Every error a client can cause is an *apierr.Error (ValidationException)
// worded as DynamoDB words it. Nothing here panics on any input; parsers are
// fuzzed. Parsed values are immutable and safe for concurrent use; a Params
// is not (it records usage while a request's expressions are parsed).
package expr
