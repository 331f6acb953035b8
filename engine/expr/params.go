package expr

import (
	"sort"
	"strings"

	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/attr"
)

// Params carries a request's ExpressionAttributeNames and
// ExpressionAttributeValues and records which ones the request's
// expressions used, so CheckUnused can reject the leftovers as DynamoDB does.
// A nil *Params behaves as one with no names and no values. A Params is
// used by one request at a time (it is not safe for concurrent use).
type Params struct {
	Names  map[string]string
	Values map[string]attr.Value

	usedNames  map[string]bool
	usedValues map[string]bool
}

// NewParams wraps a request's placeholder maps; either may be nil. The maps
// are read, never modified.
func NewParams(names map[string]string, values map[string]attr.Value) *Params {
	return &Params{Names: names, Values: values}
}

// Validate checks the maps themselves, as DynamoDB does before parsing any
// expression: a present map must not be empty, every key must be "#" (names)
// or ":" (values) followed by [A-Za-z0-9_]+ and be at most 255 bytes, and a
// name must not map to the empty string. Whether a map was sent at all (nil
// vs empty) is up to the caller: pass nil for an absent map.
func (p *Params) Validate() error {
	if p == nil {
		return nil
	}
	if p.Names != nil {
		if len(p.Names) == 0 {
			return apierr.Validation("ExpressionAttributeNames must not be empty")
		}
		keys := sortedKeys(p.Names)
		for _, k := range keys {
			if err := checkPlaceholderKey("ExpressionAttributeNames", '#', k, true); err != nil {
				return err
			}
		}
		for _, k := range keys {
			if p.Names[k] == "" {
				return apierr.Validation("ExpressionAttributeNames contains invalid value: Empty attribute name for key %s", k)
			}
		}
	}
	if p.Values != nil {
		if len(p.Values) == 0 {
			return apierr.Validation("ExpressionAttributeValues must not be empty")
		}
		for _, k := range sortedKeys(p.Values) {
			if err := checkPlaceholderKey("ExpressionAttributeValues", ':', k, false); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkPlaceholderKey(param string, prefix byte, k string, withSize bool) error {
	if len(k) > maxPlaceholder {
		if withSize {
			return apierr.Validation("%s contains invalid key: The expression attribute map contains a key that is too long; size of key: %d", param, len(k))
		}
		return apierr.Validation("%s contains invalid key: The expression attribute map contains a key that is too long;", param)
	}
	ok := len(k) > 1 && k[0] == prefix
	for i := 1; ok && i < len(k); i++ {
		ok = isIdentByte(k[i])
	}
	if !ok {
		return apierr.Validation("%s contains invalid key: Syntax error; key: \"%s\"", param, k)
	}
	return nil
}

// CheckUnused reports, once every expression of a request has been parsed
// against p, the names and values no expression used, with DynamoDB's
// messages ("Value provided in ExpressionAttributeNames unused in
// expressions: keys: {#a, #b}"). Names are checked before values; keys are
// listed in sorted order.
func (p *Params) CheckUnused() error {
	if p == nil {
		return nil
	}
	var unused []string
	for k := range p.Names {
		if !p.usedNames[k] {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		return apierr.Validation("Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}", strings.Join(unused, ", "))
	}
	for k := range p.Values {
		if !p.usedValues[k] {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		return apierr.Validation("Value provided in ExpressionAttributeValues unused in expressions: keys: {%s}", strings.Join(unused, ", "))
	}
	return nil
}

// name resolves a #name placeholder and marks it used.
func (p *Params) name(ref string) (string, bool) {
	if p == nil {
		return "", false
	}
	n, ok := p.Names[ref]
	if !ok || n == "" {
		return "", false
	}
	if p.usedNames == nil {
		p.usedNames = make(map[string]bool)
	}
	p.usedNames[ref] = true
	return n, true
}

// value resolves a :value placeholder and marks it used.
func (p *Params) value(ref string) (attr.Value, bool) {
	if p == nil {
		return attr.Value{}, false
	}
	v, ok := p.Values[ref]
	if !ok || v.Type == attr.TypeInvalid {
		return attr.Value{}, false
	}
	if p.usedValues == nil {
		p.usedValues = make(map[string]bool)
	}
	p.usedValues[ref] = true
	return v, true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
