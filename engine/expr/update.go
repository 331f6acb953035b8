package expr

import (
	"bytes"
	"sort"

	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/attr"
)

type actKind uint8

const (
	actSet actKind = iota
	actRemove
	actAdd
	actDelete
)

func (k actKind) String() string {
	return [...]string{"SET", "REMOVE", "ADD", "DELETE"}[k]
}

// action is one resolved update action.
type action struct {
	kind  actKind
	path  Path
	value *node // SET: value expression; ADD/DELETE: a resolved nValue
}

// Update is a parsed UpdateExpression or a translated AttributeUpdates. It
// is immutable and safe for concurrent use.
type Update struct {
	actions []action
	// legacy selects AttributeUpdates semantics: ADD appends lists, and type
	// errors use the legacy message.
	legacy bool
}

// ParseUpdate parses an UpdateExpression, resolving placeholders against p
// (nil: none), which records them as used.
func ParseUpdate(s string, p *Params) (*Update, error) {
	const exprName = "UpdateExpression"
	if err := checkSize(exprName, s); err != nil {
		return nil, err
	}
	ps := newParser(exprName, s, updateKeyword)
	secs := ps.parseUpdate()
	if ps.err != nil {
		return nil, ps.err
	}
	if err := ps.checkCounts(); err != nil {
		return nil, err
	}
	c := &checker{params: p}
	var paths pathChecker
	seen := map[string]bool{}
	u := &Update{}
	for _, sec := range secs {
		for _, a := range sec.actions {
			ok := c.resolvePath(a.path)
			switch a.kind {
			case actSet:
				c.updValue(a.value)
			case actAdd, actDelete:
				c.addDeleteOperand(a.kind, a.value)
			}
			if ok {
				paths.add(a.path.path)
			}
			u.actions = append(u.actions, action{kind: a.kind, path: a.path.path, value: a.value})
		}
		if seen[sec.keyword] {
			c.record(catSection, "The \"%s\" section can only be used once in an update expression;", sec.keyword)
		}
		seen[sec.keyword] = true
	}
	if paths.overlap != "" {
		c.record(catOverlap, "%s", paths.overlap)
	}
	if paths.conflict != "" {
		c.record(catConflict, "%s", paths.conflict)
	}
	if err := c.first(exprName, updateOrder); err != nil {
		return nil, err
	}
	return u, nil
}

// Paths lists the document path of every action (SET, REMOVE, ADD and
// DELETE alike) in the order written: what ReturnValues UPDATED_OLD and
// UPDATED_NEW project, and what the engine checks against key attributes.
func (u *Update) Paths() []Path {
	out := make([]Path, len(u.actions))
	for i, a := range u.actions {
		out[i] = a.path
	}
	return out
}

// Apply returns the item the update produces from item (nil: no item yet).
// item is never modified; the result may share values Apply did not touch.
// Errors are ValidationExceptions with DynamoDB's texts: a path through a
// missing or wrong-typed parent ("The document path provided in the update
// expression is invalid for update"), a SET reading a missing attribute, an
// operand of the wrong type, number overflow.
//
// Every SET value is computed from the original item first; then SET, ADD
// and DELETE are applied (list indexes in ascending order, so SETs past the
// end of a list append in index order), then REMOVE (list indexes in
// descending order, so each index refers to the original list).
func (u *Update) Apply(item attr.Item) (attr.Item, error) {
	values := make([]attr.Value, len(u.actions))
	for i, a := range u.actions {
		if a.kind != actSet {
			continue
		}
		v, err := evalUpdValue(a.value, item)
		if err != nil {
			return nil, err
		}
		values[i] = v
	}

	order := make([]int, len(u.actions))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(x, y int) bool {
		a, b := u.actions[order[x]], u.actions[order[y]]
		ra, rb := a.kind == actRemove, b.kind == actRemove
		if ra != rb {
			return rb
		}
		if ra {
			return orderKey(a.path, b.path) > 0
		}
		return orderKey(a.path, b.path) < 0
	})

	out := make(attr.Item, len(item)+1)
	for k, v := range item {
		out[k] = v
	}
	for _, i := range order {
		a := u.actions[i]
		if err := u.applyOne(out, a, values[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// applyOne performs one action on out, which Apply owns at the top level;
// nested containers are copied on the way down, never modified.
func (u *Update) applyOne(out attr.Item, a action, setValue attr.Value) error {
	if len(a.path) == 0 {
		return apierr.Validation(msgInvalidPath)
	}
	edit := func(old attr.Value, exists bool) (attr.Value, bool, error) {
		switch a.kind {
		case actSet:
			return setValue, true, nil
		case actRemove:
			return attr.Value{}, false, nil
		case actAdd:
			return u.add(old, exists, a.value.val)
		default:
			return u.del(old, exists, a.value.val)
		}
	}
	name := a.path[0].Name
	if len(a.path) == 1 {
		old, exists := out[name]
		nv, keep, err := edit(old, exists)
		if err != nil {
			return err
		}
		if keep {
			out[name] = nv
		} else {
			delete(out, name)
		}
		return nil
	}
	root, ok := out[name]
	if !ok {
		return apierr.Validation(msgInvalidPath)
	}
	nv, err := editIn(root, a.path[1:], edit)
	if err != nil {
		return err
	}
	out[name] = nv
	return nil
}

// editFunc computes a new value for a path from the old one; keep false
// removes it.
type editFunc func(old attr.Value, exists bool) (nv attr.Value, keep bool, err error)

// editIn returns a copy of container v with the value at rest replaced by
// edit's result. Every container on the way must exist and have the type the
// path expects.
func editIn(v attr.Value, rest Path, edit editFunc) (attr.Value, error) {
	e := rest[0]
	if e.IsIndex {
		if v.Type != attr.L {
			return attr.Value{}, apierr.Validation(msgInvalidPath)
		}
		inRange := e.Index < len(v.L)
		if len(rest) > 1 {
			if !inRange {
				return attr.Value{}, apierr.Validation(msgInvalidPath)
			}
			child, err := editIn(v.L[e.Index], rest[1:], edit)
			if err != nil {
				return attr.Value{}, err
			}
			l := append([]attr.Value(nil), v.L...)
			l[e.Index] = child
			return attr.Value{Type: attr.L, L: l}, nil
		}
		var old attr.Value
		if inRange {
			old = v.L[e.Index]
		}
		nv, keep, err := edit(old, inRange)
		if err != nil {
			return attr.Value{}, err
		}
		switch {
		case keep && inRange:
			l := append([]attr.Value(nil), v.L...)
			l[e.Index] = nv
			return attr.Value{Type: attr.L, L: l}, nil
		case keep:
			l := make([]attr.Value, len(v.L), len(v.L)+1)
			copy(l, v.L)
			return attr.Value{Type: attr.L, L: append(l, nv)}, nil
		case inRange:
			l := make([]attr.Value, 0, len(v.L)-1)
			l = append(l, v.L[:e.Index]...)
			return attr.Value{Type: attr.L, L: append(l, v.L[e.Index+1:]...)}, nil
		}
		return v, nil
	}
	if v.Type != attr.M {
		return attr.Value{}, apierr.Validation(msgInvalidPath)
	}
	old, exists := v.M[e.Name]
	if len(rest) > 1 {
		if !exists {
			return attr.Value{}, apierr.Validation(msgInvalidPath)
		}
		child, err := editIn(old, rest[1:], edit)
		if err != nil {
			return attr.Value{}, err
		}
		return attr.Value{Type: attr.M, M: withKey(v.M, e.Name, child)}, nil
	}
	nv, keep, err := edit(old, exists)
	if err != nil {
		return attr.Value{}, err
	}
	if keep {
		return attr.Value{Type: attr.M, M: withKey(v.M, e.Name, nv)}, nil
	}
	if !exists {
		return v, nil
	}
	m := make(map[string]attr.Value, len(v.M))
	for k, x := range v.M {
		if k != e.Name {
			m[k] = x
		}
	}
	return attr.Value{Type: attr.M, M: m}, nil
}

func withKey(m map[string]attr.Value, k string, v attr.Value) map[string]attr.Value {
	out := make(map[string]attr.Value, len(m)+1)
	for key, x := range m {
		out[key] = x
	}
	out[k] = v
	return out
}

func (u *Update) typeError() error {
	if u.legacy {
		return apierr.Validation(msgLegacyMismatch)
	}
	return apierr.Validation(msgBadOperandType)
}

// add is ADD: number addition (a missing number counts as 0), set union,
// and, for legacy AttributeUpdates only, list append.
func (u *Update) add(old attr.Value, exists bool, v attr.Value) (attr.Value, bool, error) {
	if !exists {
		return v, true, nil
	}
	if old.Type != v.Type {
		return attr.Value{}, false, u.typeError()
	}
	switch v.Type {
	case attr.N:
		sum, err := attr.NumberAdd(old.S, v.S)
		if err != nil {
			return attr.Value{}, false, err
		}
		return attr.Value{Type: attr.N, S: sum}, true, nil
	case attr.SS, attr.NS:
		set := append([]string(nil), old.Set...)
		for _, x := range v.Set {
			if !hasString(old, x) {
				set = append(set, x)
			}
		}
		return attr.Value{Type: v.Type, Set: set}, true, nil
	case attr.BS:
		set := append([][]byte(nil), old.BSet...)
		for _, x := range v.BSet {
			if !hasBytes(old.BSet, x) {
				set = append(set, x)
			}
		}
		return attr.Value{Type: attr.BS, BSet: set}, true, nil
	case attr.L:
		if u.legacy {
			l := make([]attr.Value, 0, len(old.L)+len(v.L))
			l = append(append(l, old.L...), v.L...)
			return attr.Value{Type: attr.L, L: l}, true, nil
		}
	}
	return attr.Value{}, false, u.typeError()
}

// del is DELETE with a value: set difference; an emptied set disappears.
func (u *Update) del(old attr.Value, exists bool, v attr.Value) (attr.Value, bool, error) {
	if !exists {
		return attr.Value{}, false, nil
	}
	if old.Type != v.Type {
		return attr.Value{}, false, u.typeError()
	}
	switch v.Type {
	case attr.SS, attr.NS:
		var set []string
		for _, x := range old.Set {
			if !hasString(v, x) {
				set = append(set, x)
			}
		}
		if len(set) == 0 {
			return attr.Value{}, false, nil
		}
		return attr.Value{Type: v.Type, Set: set}, true, nil
	case attr.BS:
		var set [][]byte
		for _, x := range old.BSet {
			if !hasBytes(v.BSet, x) {
				set = append(set, x)
			}
		}
		if len(set) == 0 {
			return attr.Value{}, false, nil
		}
		return attr.Value{Type: attr.BS, BSet: set}, true, nil
	}
	return attr.Value{}, false, u.typeError()
}

// hasString reports whether set (SS or NS) holds x; numbers compare by value.
func hasString(set attr.Value, x string) bool {
	for _, e := range set.Set {
		if e == x {
			return true
		}
		if set.Type == attr.NS && attr.CompareNumbers(e, x) == 0 {
			return true
		}
	}
	return false
}

func hasBytes(set [][]byte, x []byte) bool {
	for _, e := range set {
		if bytes.Equal(e, x) {
			return true
		}
	}
	return false
}

// evalUpdValue computes a SET value against the original item.
func evalUpdValue(n *node, item attr.Item) (attr.Value, error) {
	switch n.kind {
	case nValue:
		return n.val, nil
	case nPath:
		v, ok := n.path.Get(item)
		if !ok {
			return attr.Value{}, apierr.Validation(msgMissingAttr)
		}
		return v, nil
	case nArith:
		a, err := evalUpdValue(n.args[0], item)
		if err != nil {
			return attr.Value{}, err
		}
		if a.Type != attr.N {
			return attr.Value{}, apierr.Validation(msgBadOperandType)
		}
		b, err := evalUpdValue(n.args[1], item)
		if err != nil {
			return attr.Value{}, err
		}
		if b.Type != attr.N {
			return attr.Value{}, apierr.Validation(msgBadOperandType)
		}
		var r string
		if n.op == "+" {
			r, err = attr.NumberAdd(a.S, b.S)
		} else {
			r, err = attr.NumberSub(a.S, b.S)
		}
		if err != nil {
			return attr.Value{}, err
		}
		return attr.Value{Type: attr.N, S: r}, nil
	case nFunc:
		switch n.op {
		case "if_not_exists":
			if v, ok := n.args[0].path.Get(item); ok {
				return v, nil
			}
			return evalUpdValue(n.args[1], item)
		case "list_append":
			a, err := evalUpdValue(n.args[0], item)
			if err != nil {
				return attr.Value{}, err
			}
			if a.Type != attr.L {
				return attr.Value{}, apierr.Validation(msgBadOperandType)
			}
			b, err := evalUpdValue(n.args[1], item)
			if err != nil {
				return attr.Value{}, err
			}
			if b.Type != attr.L {
				return attr.Value{}, apierr.Validation(msgBadOperandType)
			}
			l := make([]attr.Value, 0, len(a.L)+len(b.L))
			return attr.Value{Type: attr.L, L: append(append(l, a.L...), b.L...)}, nil
		}
	}
	return attr.Value{}, apierr.Validation(msgBadOperandType)
}
