package expr

import (
	"sort"

	"github.com/godwit-db/godwit/engine/attr"
)

// Projection is a parsed ProjectionExpression (or AttributesToGet): the
// document paths to return. A nil or empty Projection selects the whole
// item.
type Projection []Path

// ParseProjection parses a ProjectionExpression, resolving #names against
// p (nil: none), which records them as used. Overlapping paths ("a, a.b")
// are rejected as DynamoDB rejects them.
func ParseProjection(s string, p *Params) (Projection, error) {
	const exprName = "ProjectionExpression"
	if err := checkSize(exprName, s); err != nil {
		return nil, err
	}
	ps := newParser(exprName, s, noKeyword)
	nodes := ps.parseProjection()
	if ps.err != nil {
		return nil, ps.err
	}
	c := &checker{params: p}
	var pc pathChecker
	out := make(Projection, 0, len(nodes))
	for _, n := range nodes {
		if c.resolvePath(n) {
			pc.add(n.path)
			out = append(out, n.path)
		}
	}
	if pc.overlap != "" {
		c.record(catOverlap, "%s", pc.overlap)
	}
	if pc.conflict != "" {
		c.record(catConflict, "%s", pc.conflict)
	}
	if err := c.first(exprName, projOrder); err != nil {
		return nil, err
	}
	return out, nil
}

// ProjectionFromAttributesToGet translates the legacy AttributesToGet: each
// name is a top-level attribute, taken literally.
func ProjectionFromAttributesToGet(names []string) Projection {
	out := make(Projection, len(names))
	for i, n := range names {
		out[i] = Path{{Name: n}}
	}
	return out
}

// Apply returns the part of item the projection selects. An empty
// projection returns item itself. Missing paths are left out silently.
// Nested paths keep their structure: "a.b" yields {a: {b: ...}}, and list
// elements selected by index come back as a list of just those elements, in
// index order ("l[3], l[1]" yields l: [l[1], l[3]]). item is not modified;
// the result shares the selected values.
func (pr Projection) Apply(item attr.Item) attr.Item {
	if len(pr) == 0 {
		return item
	}
	if item == nil {
		return nil
	}
	root := &projNode{}
	for _, p := range pr {
		if len(p) == 0 || p[0].IsIndex {
			continue
		}
		v, ok := item[p[0].Name]
		if !ok {
			continue
		}
		vals := []attr.Value{v}
		for _, e := range p[1:] {
			v, ok = getIn(v, Path{e})
			if !ok {
				break
			}
			vals = append(vals, v)
		}
		if !ok {
			continue
		}
		n := root
		for i, e := range p {
			n = n.child(e)
			if i == len(p)-1 {
				n.leaf, n.val = true, vals[i]
			}
		}
	}
	out := make(attr.Item, len(root.fields))
	for k, c := range root.fields {
		out[k] = c.build()
	}
	return out
}

// projNode merges the selected paths into one tree.
type projNode struct {
	leaf   bool
	val    attr.Value
	fields map[string]*projNode
	elems  map[int]*projNode
}

func (n *projNode) child(e PathElem) *projNode {
	if e.IsIndex {
		if n.elems == nil {
			n.elems = make(map[int]*projNode)
		}
		c := n.elems[e.Index]
		if c == nil {
			c = &projNode{}
			n.elems[e.Index] = c
		}
		return c
	}
	if n.fields == nil {
		n.fields = make(map[string]*projNode)
	}
	c := n.fields[e.Name]
	if c == nil {
		c = &projNode{}
		n.fields[e.Name] = c
	}
	return c
}

func (n *projNode) build() attr.Value {
	if n.leaf {
		return n.val
	}
	if n.elems != nil {
		idx := make([]int, 0, len(n.elems))
		for i := range n.elems {
			idx = append(idx, i)
		}
		sort.Ints(idx)
		l := make([]attr.Value, len(idx))
		for j, i := range idx {
			l[j] = n.elems[i].build()
		}
		return attr.Value{Type: attr.L, L: l}
	}
	m := make(map[string]attr.Value, len(n.fields))
	for k, c := range n.fields {
		m[k] = c.build()
	}
	return attr.Value{Type: attr.M, M: m}
}
