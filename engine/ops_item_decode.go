package engine

import (
	"github.com/godwit-db/godwit/engine/attr"
	"github.com/godwit-db/godwit/engine/wire"
)

// Hand-written decoders for the item operations' common request shapes
// (wire.FastDecoder): encoding/json's reflection was ~7 % of the CPU of a
// GetItem or PutItem. Each accepts only what it can decode exactly as
// encoding/json would (see wire.FastDecoder) and otherwise returns false,
// leaving the request to encoding/json. They decode into a copy and store
// it only on success; a map or pointer member the receiver already holds
// sends the request to encoding/json, which would merge into it.

var (
	_ wire.FastDecoder = (*GetItemInput)(nil)
	_ wire.FastDecoder = (*PutItemInput)(nil)
	_ wire.FastDecoder = (*DeleteItemInput)(nil)
	_ wire.FastDecoder = (*UpdateItemInput)(nil)
)

// memberSet records the members read, to send a repeated one (which
// encoding/json would merge or overwrite) to encoding/json.
type memberSet uint32

const (
	mTableName memberSet = 1 << iota
	mKey
	mItem
	mConditionExpression
	mUpdateExpression
	mProjectionExpression
	mNames
	mValues
	mConditionalOperator
	mReturnValues
	mReturnConsumedCapacity
	mReturnItemCollectionMetrics
	mReturnValuesOnConditionCheckFailure
	mConsistentRead
)

// once reports whether m is read for the first time, and records it.
func (s *memberSet) once(m memberSet) bool {
	if *s&m != 0 {
		return false
	}
	*s |= m
	return true
}

func fastString(s *wire.Scanner, dst *string) bool {
	v, ok := s.String()
	*dst = v
	return ok
}

// fastStringPtr reads a string member into a new *string, as
// encoding/json does for a nil pointer.
func fastStringPtr(s *wire.Scanner, dst **string) bool {
	if *dst != nil {
		return false
	}
	v, ok := s.String()
	if !ok {
		return false
	}
	*dst = &v
	return true
}

// fastItem reads an attr.Item member (Key, Item). A null is left to
// encoding/json (which would keep the old value).
func fastItem(s *wire.Scanner, dst *attr.Item) bool {
	it, n, err := attr.DecodeItemJSONPrefix(s.Rest())
	if err != nil || it == nil {
		s.Fail()
		return false
	}
	s.Skip(n)
	*dst = it
	return !s.Failed()
}

func fastNames(s *wire.Scanner, dst *map[string]string) bool {
	if *dst != nil {
		return false
	}
	m := make(map[string]string)
	ok := s.Object(func(name []byte) bool {
		v, ok := s.String()
		m[string(name)] = v
		return ok
	})
	*dst = m
	return ok
}

func fastValues(s *wire.Scanner, dst *map[string]attr.Value) bool {
	if *dst != nil {
		return false
	}
	m := make(map[string]attr.Value)
	ok := s.Object(func(name []byte) bool {
		v, n, err := attr.DecodeValueJSONPrefix(s.Rest())
		if err != nil {
			return false
		}
		s.Skip(n)
		m[string(name)] = v
		return !s.Failed()
	})
	*dst = m
	return ok
}

// fastMember reads one member of writeCommon; false for any other name.
func (in *writeCommon) fastMember(s *wire.Scanner, seen *memberSet) bool {
	switch string(s.Name()) {
	case "TableName":
		return seen.once(mTableName) && fastString(s, &in.TableName)
	case "ConditionExpression":
		return seen.once(mConditionExpression) && fastStringPtr(s, &in.ConditionExpression)
	case "ExpressionAttributeNames":
		return seen.once(mNames) && fastNames(s, &in.ExpressionAttributeNames)
	case "ExpressionAttributeValues":
		return seen.once(mValues) && fastValues(s, &in.ExpressionAttributeValues)
	case "ConditionalOperator":
		return seen.once(mConditionalOperator) && fastString(s, &in.ConditionalOperator)
	case "ReturnValues":
		return seen.once(mReturnValues) && fastString(s, &in.ReturnValues)
	case "ReturnConsumedCapacity":
		return seen.once(mReturnConsumedCapacity) && fastString(s, &in.ReturnConsumedCapacity)
	case "ReturnItemCollectionMetrics":
		return seen.once(mReturnItemCollectionMetrics) && fastString(s, &in.ReturnItemCollectionMetrics)
	case "ReturnValuesOnConditionCheckFailure":
		return seen.once(mReturnValuesOnConditionCheckFailure) && fastString(s, &in.ReturnValuesOnConditionCheckFailure)
	}
	return false
}

// DecodeFast implements wire.FastDecoder.
func (in *PutItemInput) DecodeFast(body []byte) bool {
	tmp := *in
	var seen memberSet
	s := wire.NewScanner(body)
	for s.Next() {
		var ok bool
		if string(s.Name()) == "Item" {
			ok = seen.once(mItem) && fastItem(&s, &tmp.Item)
		} else {
			ok = tmp.fastMember(&s, &seen)
		}
		if !ok {
			return false
		}
	}
	if !s.Done() {
		return false
	}
	*in = tmp
	return true
}

// DecodeFast implements wire.FastDecoder.
func (in *DeleteItemInput) DecodeFast(body []byte) bool {
	tmp := *in
	var seen memberSet
	s := wire.NewScanner(body)
	for s.Next() {
		var ok bool
		if string(s.Name()) == "Key" {
			ok = seen.once(mKey) && fastItem(&s, &tmp.Key)
		} else {
			ok = tmp.fastMember(&s, &seen)
		}
		if !ok {
			return false
		}
	}
	if !s.Done() {
		return false
	}
	*in = tmp
	return true
}

// DecodeFast implements wire.FastDecoder. AttributeUpdates is left to
// encoding/json.
func (in *UpdateItemInput) DecodeFast(body []byte) bool {
	tmp := *in
	var seen memberSet
	s := wire.NewScanner(body)
	for s.Next() {
		var ok bool
		switch string(s.Name()) {
		case "Key":
			ok = seen.once(mKey) && fastItem(&s, &tmp.Key)
		case "UpdateExpression":
			ok = seen.once(mUpdateExpression) && fastStringPtr(&s, &tmp.UpdateExpression)
		default:
			ok = tmp.fastMember(&s, &seen)
		}
		if !ok {
			return false
		}
	}
	if !s.Done() {
		return false
	}
	*in = tmp
	return true
}

// DecodeFast implements wire.FastDecoder. AttributesToGet is left to
// encoding/json.
func (in *GetItemInput) DecodeFast(body []byte) bool {
	tmp := *in
	var seen memberSet
	s := wire.NewScanner(body)
	for s.Next() {
		var ok bool
		switch string(s.Name()) {
		case "TableName":
			ok = seen.once(mTableName) && fastString(&s, &tmp.TableName)
		case "Key":
			ok = seen.once(mKey) && fastItem(&s, &tmp.Key)
		case "ConsistentRead":
			if ok = seen.once(mConsistentRead); ok {
				tmp.ConsistentRead, ok = s.Bool()
			}
		case "ProjectionExpression":
			ok = seen.once(mProjectionExpression) && fastStringPtr(&s, &tmp.ProjectionExpression)
		case "ExpressionAttributeNames":
			ok = seen.once(mNames) && fastNames(&s, &tmp.ExpressionAttributeNames)
		case "ReturnConsumedCapacity":
			ok = seen.once(mReturnConsumedCapacity) && fastString(&s, &tmp.ReturnConsumedCapacity)
		}
		if !ok {
			return false
		}
	}
	if !s.Done() {
		return false
	}
	*in = tmp
	return true
}
