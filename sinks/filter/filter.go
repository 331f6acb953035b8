package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Limits (reference §6.1).
const (
	// MaxPatternLen is the longest pattern accepted, in characters.
	MaxPatternLen = 4096
	// MaxFilters is how many patterns one FilterCriteria may hold. AWS
	// allows 5 by default and up to 10 on request; godwit accepts 10.
	MaxFilters = 10
)

// ErrInvalid wraps every error reporting a bad pattern.
var ErrInvalid = errors.New("filter: invalid pattern")

// Filter is a compiled FilterCriteria: several patterns ORed. A nil
// *Filter matches everything. Safe for concurrent use.
type Filter struct {
	patterns []*object
}

// Compile parses patterns (each a JSON text) into a Filter. An empty list
// gives a nil Filter, which matches everything. Every bad pattern is
// reported, each error wrapping ErrInvalid.
func Compile(patterns []string) (*Filter, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	var errs []error
	if len(patterns) > MaxFilters {
		errs = append(errs, fmt.Errorf("%w: %d filters, at most %d are allowed", ErrInvalid, len(patterns), MaxFilters))
	}
	f := &Filter{}
	for i, p := range patterns {
		o, err := Parse(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("filter %d: %w", i+1, err))
			continue
		}
		f.patterns = append(f.patterns, o.root)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return f, nil
}

// Pattern is one parsed event pattern.
type Pattern struct {
	root *object
}

// Match reports whether the JSON event matches p.
func (p *Pattern) Match(event []byte) (bool, error) {
	v, err := decode(event)
	if err != nil {
		return false, err
	}
	return p.root.match(v), nil
}

// Match reports whether the JSON event matches any of f's patterns. A
// nil Filter matches everything without decoding the event.
func (f *Filter) Match(event []byte) (bool, error) {
	if f == nil {
		return true, nil
	}
	v, err := decode(event)
	if err != nil {
		return false, err
	}
	return f.MatchValue(v), nil
}

// MatchValue is Match for an event already decoded with encoding/json's
// UseNumber (objects as map[string]any, numbers as json.Number).
func (f *Filter) MatchValue(v any) bool {
	if f == nil {
		return true
	}
	for _, p := range f.patterns {
		if p.match(v) {
			return true
		}
	}
	return false
}

func decode(event []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(event))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("filter: decode event: %w", err)
	}
	return v, nil
}

// object is a pattern object: every field must match, and when ors is
// set, at least one of them too.
type object struct {
	fields []field
	ors    []*object
}

type field struct {
	name   string
	object *object   // a nested pattern
	leaf   []matcher // or a list of matchers (ORed)
}

func (o *object) match(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	for _, f := range o.fields {
		val, present := m[f.name]
		if f.object != nil {
			if !present || !f.object.matchAny(val) {
				return false
			}
			continue
		}
		if !matchLeaf(f.leaf, val, present) {
			return false
		}
	}
	if len(o.ors) == 0 {
		return true
	}
	for _, alt := range o.ors {
		if alt.match(v) {
			return true
		}
	}
	return false
}

// matchAny matches an object pattern against v, or against any element
// of v when v is an array.
func (o *object) matchAny(v any) bool {
	if arr, ok := v.([]any); ok {
		for _, e := range arr {
			if o.match(e) {
				return true
			}
		}
		return false
	}
	return o.match(v)
}

func matchLeaf(ms []matcher, v any, present bool) bool {
	for _, m := range ms {
		if !present {
			if m.kind == mExists && !m.exists {
				return true
			}
			continue
		}
		if arr, ok := v.([]any); ok {
			if m.kind == mExists {
				// NB: an array is a leaf when its elements are: exists
				// looks at the member, not each element.
				if m.exists {
					return true
				}
				continue
			}
			for _, e := range arr {
				if m.match(e) {
					return true
				}
			}
			continue
		}
		if m.match(v) {
			return true
		}
	}
	return false
}

type matcherKind int

const (
	mExact matcherKind = iota // value (string, json.Number, bool, nil)
	mPrefix
	mSuffix
	mEqualsIgnoreCase
	mWildcard
	mAnythingBut // values, or one of the string matchers in but
	mNumeric
	mExists
)

type matcher struct {
	kind       matcherKind
	value      any    // mExact: string, json.Number, bool or nil
	text       string // mPrefix, mSuffix, mEqualsIgnoreCase, mWildcard
	ignoreCase bool   // mPrefix, mSuffix
	values     []any  // mAnythingBut: excluded values
	but        *matcher
	bounds     []bound // mNumeric
	exists     bool
}

type bound struct {
	op string // =, <, <=, >, >=
	n  float64
}

func (m *matcher) match(v any) bool {
	switch m.kind {
	case mExact:
		return sameValue(m.value, v)
	case mPrefix, mSuffix, mEqualsIgnoreCase, mWildcard:
		s, ok := v.(string)
		return ok && m.matchString(s)
	case mAnythingBut:
		if _, ok := v.(map[string]any); ok {
			return false
		}
		if m.but != nil {
			s, ok := v.(string)
			return ok && !m.but.matchString(s)
		}
		for _, x := range m.values {
			if sameValue(x, v) {
				return false
			}
		}
		return true
	case mNumeric:
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		r, err := strconv.ParseFloat(string(n), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return false
		}
		for _, b := range m.bounds {
			var hit bool
			switch b.op {
			case "=":
				hit = r == b.n
			case "<":
				hit = r < b.n
			case "<=":
				hit = r <= b.n
			case ">":
				hit = r > b.n
			case ">=":
				hit = r >= b.n
			}
			if !hit {
				return false
			}
		}
		return true
	case mExists:
		_, isObj := v.(map[string]any)
		return m.exists && !isObj
	}
	return false
}

func (m *matcher) matchString(s string) bool {
	switch m.kind {
	case mPrefix:
		if m.ignoreCase {
			return len(s) >= len(m.text) && strings.EqualFold(s[:len(m.text)], m.text)
		}
		return strings.HasPrefix(s, m.text)
	case mSuffix:
		if m.ignoreCase {
			return len(s) >= len(m.text) && strings.EqualFold(s[len(s)-len(m.text):], m.text)
		}
		return strings.HasSuffix(s, m.text)
	case mEqualsIgnoreCase:
		return strings.EqualFold(s, m.text)
	case mWildcard:
		return wildcardMatch(m.text, s)
	case mExact:
		t, ok := m.value.(string)
		return ok && t == s
	case mAnythingBut:
		for _, x := range m.values {
			if t, ok := x.(string); ok && strings.EqualFold(t, s) {
				return true
			}
		}
	}
	return false
}

// sameValue compares an exact matcher's value with an event value: same
// JSON type and same text (numbers as written).
func sameValue(want, got any) bool {
	switch w := want.(type) {
	case nil:
		return got == nil
	case string:
		g, ok := got.(string)
		return ok && g == w
	case json.Number:
		g, ok := got.(json.Number)
		return ok && g == w
	case bool:
		g, ok := got.(bool)
		return ok && g == w
	}
	return false
}

// wildcardMatch matches s against pattern p, where '*' matches any run of
// characters and "\*" a literal '*'.
func wildcardMatch(p, s string) bool {
	// Split p into literal segments separated by unescaped '*'.
	var segs []string
	var cur strings.Builder
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '\\' && i+1 < len(p) && p[i+1] == '*':
			cur.WriteByte('*')
			i++
		case p[i] == '*':
			segs = append(segs, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(p[i])
		}
	}
	segs = append(segs, cur.String())
	if len(segs) == 1 {
		return s == segs[0]
	}
	if !strings.HasPrefix(s, segs[0]) {
		return false
	}
	s = s[len(segs[0]):]
	last := segs[len(segs)-1]
	for _, seg := range segs[1 : len(segs)-1] {
		i := strings.Index(s, seg)
		if i < 0 {
			return false
		}
		s = s[i+len(seg):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}

// Parse parses one pattern. Errors wrap ErrInvalid and name the path of
// the offending member.
func Parse(pattern string) (*Pattern, error) {
	if n := len([]rune(pattern)); n > MaxPatternLen {
		return nil, fmt.Errorf("%w: %d characters, at most %d are allowed", ErrInvalid, n, MaxPatternLen)
	}
	dec := json.NewDecoder(strings.NewReader(pattern))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: not JSON: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: text after the JSON object", ErrInvalid)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: a pattern must be a JSON object", ErrInvalid)
	}
	o, err := parseObject(m, "")
	if err != nil {
		return nil, err
	}
	return &Pattern{root: o}, nil
}

func invalid(path, format string, args ...any) error {
	if path == "" {
		path = "(top)"
	}
	return fmt.Errorf("%w: %s: %s", ErrInvalid, path, fmt.Sprintf(format, args...))
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func parseObject(m map[string]any, path string) (*object, error) {
	if len(m) == 0 {
		return nil, invalid(path, "empty object")
	}
	o := &object{}
	// NB: sorted field order makes evaluation (and error messages) stable.
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, name := range names {
		v := m[name]
		p := join(path, name)
		if name == "$or" {
			arr, ok := v.([]any)
			if !ok || len(arr) < 2 {
				return nil, invalid(p, "$or must be an array of at least two pattern objects")
			}
			for i, e := range arr {
				em, ok := e.(map[string]any)
				if !ok {
					return nil, invalid(fmt.Sprintf("%s[%d]", p, i), "$or members must be pattern objects")
				}
				alt, err := parseObject(em, path)
				if err != nil {
					return nil, err
				}
				o.ors = append(o.ors, alt)
			}
			continue
		}
		switch v := v.(type) {
		case map[string]any:
			sub, err := parseObject(v, p)
			if err != nil {
				return nil, err
			}
			o.fields = append(o.fields, field{name: name, object: sub})
		case []any:
			if len(v) == 0 {
				return nil, invalid(p, "empty array matches nothing")
			}
			var ms []matcher
			for i, e := range v {
				m, err := parseMatcher(e, fmt.Sprintf("%s[%d]", p, i))
				if err != nil {
					return nil, err
				}
				ms = append(ms, m)
			}
			o.fields = append(o.fields, field{name: name, leaf: ms})
		default:
			return nil, invalid(p, "must be an object or an array of matchers, not %s", describe(v))
		}
	}
	return o, nil
}

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	}
	return "an object"
}

func parseMatcher(v any, path string) (matcher, error) {
	switch v := v.(type) {
	case nil, string, json.Number, bool:
		return matcher{kind: mExact, value: v}, nil
	case []any:
		return matcher{}, invalid(path, "arrays cannot be nested")
	}
	m := v.(map[string]any)
	if len(m) != 1 {
		return matcher{}, invalid(path, "a matcher object has exactly one operator, got %d", len(m))
	}
	for op, arg := range m {
		p := join(path, op)
		switch op {
		case "prefix", "suffix":
			kind := mPrefix
			if op == "suffix" {
				kind = mSuffix
			}
			switch a := arg.(type) {
			case string:
				return matcher{kind: kind, text: a}, nil
			case map[string]any:
				s, ok := a["equals-ignore-case"].(string)
				if len(a) != 1 || !ok {
					return matcher{}, invalid(p, `must be a string or {"equals-ignore-case": string}`)
				}
				return matcher{kind: kind, text: s, ignoreCase: true}, nil
			}
			return matcher{}, invalid(p, "must be a string")
		case "equals-ignore-case":
			s, ok := arg.(string)
			if !ok {
				return matcher{}, invalid(p, "must be a string")
			}
			return matcher{kind: mEqualsIgnoreCase, text: s}, nil
		case "wildcard":
			s, ok := arg.(string)
			if !ok {
				return matcher{}, invalid(p, "must be a string")
			}
			if strings.Contains(s, "**") {
				return matcher{}, invalid(p, "consecutive wildcards are not allowed")
			}
			return matcher{kind: mWildcard, text: s}, nil
		case "exists":
			b, ok := arg.(bool)
			if !ok {
				return matcher{}, invalid(p, "must be true or false")
			}
			return matcher{kind: mExists, exists: b}, nil
		case "anything-but":
			return parseAnythingBut(arg, p)
		case "numeric":
			return parseNumeric(arg, p)
		}
		return matcher{}, invalid(p, "unknown operator %q", op)
	}
	return matcher{}, invalid(path, "empty matcher object") // NB: unreachable: len(m) == 1
}

func parseAnythingBut(arg any, path string) (matcher, error) {
	switch a := arg.(type) {
	case nil, string, json.Number, bool:
		return matcher{kind: mAnythingBut, values: []any{a}}, nil
	case []any:
		if len(a) == 0 {
			return matcher{}, invalid(path, "empty list")
		}
		for i, e := range a {
			switch e.(type) {
			case nil, string, json.Number, bool:
			default:
				return matcher{}, invalid(fmt.Sprintf("%s[%d]", path, i), "must be a string, number, boolean or null")
			}
		}
		return matcher{kind: mAnythingBut, values: a}, nil
	case map[string]any:
		if len(a) != 1 {
			return matcher{}, invalid(path, "takes one operator")
		}
		for op, v := range a {
			p := join(path, op)
			switch op {
			case "prefix", "suffix":
				s, ok := v.(string)
				if !ok {
					return matcher{}, invalid(p, "must be a string")
				}
				kind := mPrefix
				if op == "suffix" {
					kind = mSuffix
				}
				return matcher{kind: mAnythingBut, but: &matcher{kind: kind, text: s}}, nil
			case "equals-ignore-case":
				var vals []any
				switch s := v.(type) {
				case string:
					vals = []any{s}
				case []any:
					for i, e := range s {
						if _, ok := e.(string); !ok {
							return matcher{}, invalid(fmt.Sprintf("%s[%d]", p, i), "must be a string")
						}
					}
					vals = s
				}
				if len(vals) == 0 {
					return matcher{}, invalid(p, "must be a string or a non-empty list of strings")
				}
				return matcher{kind: mAnythingBut, but: &matcher{kind: mAnythingBut, values: vals}}, nil
			}
			return matcher{}, invalid(p, "unknown operator %q inside anything-but", op)
		}
	}
	return matcher{}, invalid(path, "must be a value, a list of values, or a prefix/suffix/equals-ignore-case object")
}

func parseNumeric(arg any, path string) (matcher, error) {
	a, ok := arg.([]any)
	if !ok || len(a) == 0 || len(a)%2 != 0 || len(a) > 4 {
		return matcher{}, invalid(path, `must be [op, number] or [">"/">=", number, "<"/"<=", number]`)
	}
	m := matcher{kind: mNumeric}
	for i := 0; i < len(a); i += 2 {
		op, ok := a[i].(string)
		if !ok {
			return matcher{}, invalid(fmt.Sprintf("%s[%d]", path, i), "must be an operator string")
		}
		n, ok := a[i+1].(json.Number)
		if !ok {
			return matcher{}, invalid(fmt.Sprintf("%s[%d]", path, i+1), "must be a number")
		}
		r, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return matcher{}, invalid(fmt.Sprintf("%s[%d]", path, i+1), "number %s out of range", n)
		}
		switch op {
		case "=", "<", "<=", ">", ">=":
		default:
			return matcher{}, invalid(fmt.Sprintf("%s[%d]", path, i), "unknown operator %q", op)
		}
		m.bounds = append(m.bounds, bound{op: op, n: r})
	}
	if len(m.bounds) == 2 {
		lo, hi := m.bounds[0], m.bounds[1]
		if lo.op != ">" && lo.op != ">=" || hi.op != "<" && hi.op != "<=" {
			return matcher{}, invalid(path, `a range is [">" or ">=", low, "<" or "<=", high]`)
		}
		if lo.n > hi.n {
			return matcher{}, invalid(path, "range bounds out of order")
		}
	}
	return m, nil
}
