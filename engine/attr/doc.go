// Package attr is DynamoDB's attribute value model: the ten types, their
// DynamoDB-JSON form, exact decimal numbers, DynamoDB's ordering and size
// accounting, and the binary encodings godwit stores (items, and
// order-preserving key bytes).
//
//	item, err := attr.DecodeItemJSON(raw)  // validated, numbers normalised
//	key := attr.AppendKey(nil, item["pk"]) // sorts as DynamoDB sorts
//	stored := attr.AppendItem(nil, item)   // versioned binary form
//	back, err := attr.DecodeItem(stored)
//	out := attr.AppendItemJSON(nil, back)  // DynamoDB JSON, keys sorted
//
// Errors a client caused (bad JSON shapes, invalid numbers, empty sets...)
// are *apierr.Error values worded as DynamoDB words them. Errors from the
// binary decoders (DecodeItem, DecodeKey) wrap ErrCorrupt: stored bytes that
// do not decode are a storage fault, never a client error.
//
// Values are immutable once built; decoders may share memory between the
// values they return (substrings of one copy of the input), never with the
// caller's input buffer.
package attr
