package expr

import (
	"strconv"
	"strings"

	"github.com/godwit-db/godwit/engine/attr"
)

// PathElem is one step of a document path: a map key (or, first, a
// top-level attribute name) when IsIndex is false, else a list index.
type PathElem struct {
	Name    string
	Index   int
	IsIndex bool
}

// Path is a resolved document path such as a.b[3].c: placeholders are
// already replaced by the names they stand for. Path[0] is always a name.
type Path []PathElem

// String renders the path in document-path syntax ("a.b[3].c"). Names are
// written as they are, unescaped.
func (p Path) String() string {
	var b strings.Builder
	for i, e := range p {
		switch {
		case e.IsIndex:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(e.Index))
			b.WriteByte(']')
		case i > 0:
			b.WriteByte('.')
			b.WriteString(e.Name)
		default:
			b.WriteString(e.Name)
		}
	}
	return b.String()
}

// listString renders the path as DynamoDB's messages do: "[a, b, [3]]".
func (p Path) listString() string {
	parts := make([]string, len(p))
	for i, e := range p {
		if e.IsIndex {
			parts[i] = "[" + strconv.Itoa(e.Index) + "]"
		} else {
			parts[i] = e.Name
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// Top is the top-level attribute the path starts from.
func (p Path) Top() string {
	if len(p) == 0 {
		return ""
	}
	return p[0].Name
}

// Get returns the value at p in item, and whether every step exists (a step
// through the wrong container type does not).
func (p Path) Get(item attr.Item) (attr.Value, bool) {
	if len(p) == 0 || p[0].IsIndex || item == nil {
		return attr.Value{}, false
	}
	v, ok := item[p[0].Name]
	if !ok {
		return attr.Value{}, false
	}
	return getIn(v, p[1:])
}

// getIn descends from v along rest.
func getIn(v attr.Value, rest Path) (attr.Value, bool) {
	for _, e := range rest {
		if e.IsIndex {
			if v.Type != attr.L || e.Index < 0 || e.Index >= len(v.L) {
				return attr.Value{}, false
			}
			v = v.L[e.Index]
			continue
		}
		if v.Type != attr.M {
			return attr.Value{}, false
		}
		c, ok := v.M[e.Name]
		if !ok {
			return attr.Value{}, false
		}
		v = c
	}
	return v, true
}

func (p Path) equal(q Path) bool {
	if len(p) != len(q) {
		return false
	}
	for i := range p {
		if p[i] != q[i] {
			return false
		}
	}
	return true
}

func (p Path) clone() Path { return append(Path(nil), p...) }

// pathChecker reports the first overlap and the first conflict among a
// sequence of paths, as DynamoDB does for update and projection expressions.
type pathChecker struct {
	seen     []Path
	overlap  string
	conflict string
}

func (c *pathChecker) add(p Path) {
	if c.overlap != "" {
		return
	}
	for _, q := range c.seen {
		if c.check(q, p) {
			return
		}
	}
	c.seen = append(c.seen, p)
}

// check compares an earlier path q with p; it returns true once an overlap
// has been recorded (later paths are then ignored).
func (c *pathChecker) check(q, p Path) bool {
	for i := 0; i < len(q) && i < len(p); i++ {
		if q[i].IsIndex != p[i].IsIndex {
			if c.conflict == "" {
				c.conflict = "Two document paths conflict with each other; must remove or rewrite one of these paths; path one: " +
					q.listString() + ", path two: " + p.listString()
			}
			return false
		}
		if q[i] != p[i] {
			return false
		}
	}
	c.overlap = "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: " +
		q.listString() + ", path two: " + p.listString()
	return true
}

// orderKey compares paths for applying updates: list indexes numerically,
// names as equal (their subtrees are disjoint, so their order is free), and a
// name before an index at the same depth, a shorter path first. That is the
// lexicographic order of the paths with every name replaced by one symbol, a
// total preorder, so a stable sort keeps the expression's order wherever the
// order is free.
func orderKey(a, b Path) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		x, y := a[i], b[i]
		switch {
		case x.IsIndex && y.IsIndex:
			if x.Index != y.Index {
				if x.Index < y.Index {
					return -1
				}
				return 1
			}
		case x.IsIndex:
			return 1
		case y.IsIndex:
			return -1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}
