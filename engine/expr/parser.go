package expr

import (
	"strconv"

	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/attr"
)

type nodeKind uint8

const (
	nPath    nodeKind = iota // a document path
	nValue                   // a :value placeholder
	nFunc                    // name(args...)
	nCompare                 // args[0] op args[1]
	nBetween                 // args[0] BETWEEN args[1] AND args[2]
	nIn                      // args[0] IN (args[1:]...)
	nAnd                     // args[0] AND args[1]
	nOr                      // args[0] OR args[1]
	nNot                     // NOT args[0]
	nArith                   // args[0] op args[1], op "+" or "-" (update only)
)

// rawElem is one path step as written: a tIdent or tName token (a name), or
// a tNumber token holding index.
type rawElem struct {
	tok   token
	index int
}

// node is the syntax tree shared by every expression language. Parsing
// fills the syntactic fields; resolution (check.go) fills path and val, after
// which the tree is immutable and evaluated as is.
type node struct {
	kind   nodeKind
	op     string // comparator, arithmetic operator or function name
	tok    token  // the node's first token
	raw    []rawElem
	path   Path
	val    attr.Value
	args   []*node
	parens int // parentheses written directly around this node
}

func (n *node) isCond() bool {
	switch n.kind {
	case nCompare, nBetween, nIn, nAnd, nOr, nNot, nFunc:
		return true
	}
	return false
}

func (n *node) isOperand() bool {
	return n.kind == nPath || n.kind == nValue || n.kind == nFunc
}

// parser is a recursive-descent parser over lex's tokens. The first syntax
// error stops it; every parse method returns nil once err is set.
type parser struct {
	src      string
	exprName string
	toks     []token
	i        int
	err      error
	kw       func(token) bool // identifiers that cannot start a path
	ops      int              // operators and functions seen
	inMax    int              // most operands right of one IN
}

func newParser(exprName, src string, kw func(token) bool) *parser {
	return &parser{src: src, exprName: exprName, toks: lex(src), kw: kw}
}

func (p *parser) peek() token { return p.toks[p.i] }

// peekN looks k tokens ahead (the EOF token repeats at the end).
func (p *parser) peekN(k int) token {
	if p.i+k >= len(p.toks) {
		return p.toks[len(p.toks)-1]
	}
	return p.toks[p.i+k]
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// failAt records a syntax error at token index j, worded as DynamoDB words
// it: the offending token and the text from the token before it to the one
// after it.
func (p *parser) failAt(j int) {
	if p.err != nil {
		return
	}
	t := p.toks[j]
	prev, next := t, t
	if j > 0 {
		prev = p.toks[j-1]
	}
	if j+1 < len(p.toks) {
		next = p.toks[j+1]
	}
	text := t.text
	if t.kind == tEOF {
		text = "<EOF>"
	}
	p.err = apierr.Validation("Invalid %s: Syntax error; token: \"%s\", near: \"%s\"", p.exprName, text, p.src[prev.pos:next.end])
}

func (p *parser) fail() { p.failAt(p.i) }

func (p *parser) expect(k tokKind) bool {
	if p.err != nil {
		return false
	}
	if p.peek().kind != k {
		p.fail()
		return false
	}
	p.next()
	return true
}

func (p *parser) atEOF() bool {
	if p.err != nil {
		return false
	}
	if p.peek().kind != tEOF {
		p.fail()
		return false
	}
	return true
}

func condKeyword(t token) bool {
	return t.isKeyword("AND") || t.isKeyword("OR") || t.isKeyword("NOT") || t.isKeyword("BETWEEN") || t.isKeyword("IN")
}

func updateKeyword(t token) bool {
	return t.isKeyword("SET") || t.isKeyword("REMOVE") || t.isKeyword("ADD") || t.isKeyword("DELETE")
}

func noKeyword(token) bool { return false }

// pathStart reports whether t can begin a path.
func (p *parser) pathStart(t token) bool {
	return t.kind == tName || (t.kind == tIdent && !p.kw(t))
}

// parsePath reads name ('.' name | '[' n ']')*.
func (p *parser) parsePath() *node {
	if p.err != nil {
		return nil
	}
	t := p.peek()
	if !p.pathStart(t) {
		p.fail()
		return nil
	}
	p.next()
	n := &node{kind: nPath, tok: t, raw: []rawElem{{tok: t}}}
	for {
		switch p.peek().kind {
		case tDot:
			p.next()
			e := p.peek()
			if !p.pathStart(e) {
				p.fail()
				return nil
			}
			p.next()
			n.raw = append(n.raw, rawElem{tok: e})
		case tLBrack:
			p.next()
			e := p.peek()
			if e.kind != tNumber || len(e.text) > maxListIndexText {
				p.fail()
				return nil
			}
			p.next()
			ix, _ := strconv.Atoi(e.text) // at most 9 digits: cannot fail
			n.raw = append(n.raw, rawElem{tok: e, index: ix})
			if !p.expect(tRBrack) {
				return nil
			}
		default:
			return n
		}
	}
}

// parseArgs reads '(' operand (',' operand)* ')' after a function name.
func (p *parser) parseArgs(operand func() *node) []*node {
	if !p.expect(tLParen) {
		return nil
	}
	var args []*node
	for {
		a := operand()
		if p.err != nil {
			return nil
		}
		args = append(args, a)
		if p.peek().kind != tComma {
			break
		}
		p.next()
	}
	if !p.expect(tRParen) {
		return nil
	}
	return args
}

// ---- condition grammar ----
//
//	cond    := and (OR and)*
//	and     := not (AND not)*
//	not     := NOT not | compare
//	compare := atom [ cmp atom | BETWEEN atom AND atom | IN '(' atom (',' atom)* ')' ]
//	atom    := '(' cond ')' | :v | path | name '(' operand (',' operand)* ')'
//
// A parenthesised group may hold an operand or a condition; which one is
// allowed where is checked as the tree is built, at the token where
// DynamoDB's parser would stop.

func (p *parser) parseCondition() *node {
	n := p.parseOr()
	if !p.atEOF() {
		return nil
	}
	if !n.isCond() {
		p.fail()
		return nil
	}
	return n
}

func (p *parser) parseOr() *node {
	l := p.parseAnd()
	for p.err == nil && p.peek().isKeyword("OR") {
		at := p.i
		if !l.isCond() {
			p.failAt(at)
			return nil
		}
		t := p.next()
		r := p.parseAnd()
		if p.err != nil {
			return nil
		}
		if !r.isCond() {
			p.fail()
			return nil
		}
		p.ops++
		l = &node{kind: nOr, tok: t, args: []*node{l, r}}
	}
	if p.err != nil {
		return nil
	}
	return l
}

func (p *parser) parseAnd() *node {
	l := p.parseNot()
	for p.err == nil && p.peek().isKeyword("AND") {
		at := p.i
		if !l.isCond() {
			p.failAt(at)
			return nil
		}
		t := p.next()
		r := p.parseNot()
		if p.err != nil {
			return nil
		}
		if !r.isCond() {
			p.fail()
			return nil
		}
		p.ops++
		l = &node{kind: nAnd, tok: t, args: []*node{l, r}}
	}
	if p.err != nil {
		return nil
	}
	return l
}

func (p *parser) parseNot() *node {
	if p.err != nil {
		return nil
	}
	if t := p.peek(); t.isKeyword("NOT") {
		p.next()
		x := p.parseNot()
		if p.err != nil {
			return nil
		}
		if !x.isCond() {
			p.fail()
			return nil
		}
		p.ops++
		return &node{kind: nNot, tok: t, args: []*node{x}}
	}
	return p.parseCompare()
}

func (p *parser) parseCompare() *node {
	l := p.parseAtom(false)
	if p.err != nil {
		return nil
	}
	t := p.peek()
	switch {
	case t.kind == tCmp:
		if !l.isOperand() {
			p.fail()
			return nil
		}
		p.next()
		r := p.parseAtom(true)
		if p.err != nil {
			return nil
		}
		p.ops++
		return &node{kind: nCompare, op: t.text, tok: t, args: []*node{l, r}}
	case t.isKeyword("BETWEEN"):
		if !l.isOperand() {
			p.fail()
			return nil
		}
		p.next()
		lo := p.parseAtom(true)
		if p.err != nil {
			return nil
		}
		if !p.peek().isKeyword("AND") {
			p.fail()
			return nil
		}
		p.next()
		hi := p.parseAtom(true)
		if p.err != nil {
			return nil
		}
		p.ops++
		return &node{kind: nBetween, tok: t, args: []*node{l, lo, hi}}
	case t.isKeyword("IN"):
		if !l.isOperand() {
			p.fail()
			return nil
		}
		p.next()
		list := p.parseArgs(func() *node { return p.parseAtom(true) })
		if p.err != nil {
			return nil
		}
		p.ops++
		p.inMax = max(p.inMax, len(list))
		return &node{kind: nIn, tok: t, args: append([]*node{l}, list...)}
	}
	return l
}

// parseAtom reads one operand, or (unless operandOnly) a parenthesised
// condition.
func (p *parser) parseAtom(operandOnly bool) *node {
	if p.err != nil {
		return nil
	}
	t := p.peek()
	switch t.kind {
	case tLParen:
		p.next()
		var inner *node
		if operandOnly {
			inner = p.parseAtom(true)
		} else {
			inner = p.parseOr()
		}
		if !p.expect(tRParen) {
			return nil
		}
		inner.parens++
		return inner
	case tValue:
		p.next()
		return &node{kind: nValue, tok: t}
	case tIdent:
		if !p.kw(t) && p.peekN(1).kind == tLParen {
			p.next()
			args := p.parseArgs(func() *node { return p.parseAtom(true) })
			if p.err != nil {
				return nil
			}
			p.ops++
			return &node{kind: nFunc, op: t.text, tok: t, args: args}
		}
	}
	return p.parsePath()
}

// ---- update grammar ----
//
//	update  := section+
//	section := SET path '=' value (',' path '=' value)*
//	         | REMOVE path (',' path)*
//	         | ADD path :v (',' path :v)* | DELETE path :v (',' path :v)*
//	value   := '(' value ')' [op operand] | operand [op operand]   (op: + or -)
//	operand := '(' operand ')' | :v | path | name '(' operand (',' operand)* ')'

type section struct {
	keyword string // SET, REMOVE, ADD or DELETE (upper case)
	actions []*updAction
}

type updAction struct {
	kind  actKind
	path  *node
	value *node // SET: the value expression; ADD/DELETE: the :value
}

func (p *parser) parseUpdate() []section {
	var secs []section
	for p.err == nil && p.peek().kind != tEOF {
		t := p.peek()
		var kind actKind
		switch {
		case t.isKeyword("SET"):
			kind = actSet
		case t.isKeyword("REMOVE"):
			kind = actRemove
		case t.isKeyword("ADD"):
			kind = actAdd
		case t.isKeyword("DELETE"):
			kind = actDelete
		default:
			p.fail()
			return nil
		}
		p.next()
		sec := section{keyword: kind.String()}
		for {
			a := &updAction{kind: kind, path: p.parsePath()}
			switch kind {
			case actSet:
				if !p.expectCmp("=") {
					return nil
				}
				a.value = p.parseSetValue()
			case actAdd, actDelete:
				if p.err == nil && p.peek().kind != tValue {
					p.fail()
				}
				if p.err == nil {
					v := p.next()
					a.value = &node{kind: nValue, tok: v}
				}
			}
			if p.err != nil {
				return nil
			}
			sec.actions = append(sec.actions, a)
			if p.peek().kind != tComma {
				break
			}
			p.next()
		}
		secs = append(secs, sec)
	}
	if len(secs) == 0 {
		p.fail()
	}
	if p.err != nil {
		return nil
	}
	return secs
}

func (p *parser) expectCmp(op string) bool {
	if p.err != nil {
		return false
	}
	if t := p.peek(); t.kind != tCmp || t.text != op {
		p.fail()
		return false
	}
	p.next()
	return true
}

func (p *parser) parseSetValue() *node {
	if p.err != nil {
		return nil
	}
	var l *node
	if p.peek().kind == tLParen {
		p.next()
		inner := p.parseSetValue()
		if !p.expect(tRParen) {
			return nil
		}
		inner.parens++
		if inner.kind == nArith {
			return inner
		}
		l = inner
	} else {
		l = p.parseUpdOperand()
	}
	if p.err != nil {
		return nil
	}
	if t := p.peek(); t.kind == tPlus || t.kind == tMinus {
		p.next()
		r := p.parseUpdOperand()
		if p.err != nil {
			return nil
		}
		p.ops++
		return &node{kind: nArith, op: t.text, tok: t, args: []*node{l, r}}
	}
	return l
}

func (p *parser) parseUpdOperand() *node {
	if p.err != nil {
		return nil
	}
	t := p.peek()
	switch t.kind {
	case tLParen:
		p.next()
		inner := p.parseUpdOperand()
		if !p.expect(tRParen) {
			return nil
		}
		inner.parens++
		return inner
	case tValue:
		p.next()
		return &node{kind: nValue, tok: t}
	case tIdent:
		if !p.kw(t) && p.peekN(1).kind == tLParen {
			p.next()
			args := p.parseArgs(p.parseUpdOperand)
			if p.err != nil {
				return nil
			}
			p.ops++
			return &node{kind: nFunc, op: t.text, tok: t, args: args}
		}
	}
	return p.parsePath()
}

// ---- projection grammar ----
//
//	projection := path (',' path)*

func (p *parser) parseProjection() []*node {
	var paths []*node
	for {
		n := p.parsePath()
		if p.err != nil {
			return nil
		}
		paths = append(paths, n)
		if p.peek().kind != tComma {
			break
		}
		p.next()
	}
	if !p.atEOF() {
		return nil
	}
	return paths
}

// checkCounts applies the operator and IN-operand limits after a
// successful parse.
func (p *parser) checkCounts() error {
	if p.ops > maxOperators {
		return invalid(p.exprName, "The expression contains too many operators; operator count: %d", p.ops)
	}
	if p.inMax > maxInOperands {
		return invalid(p.exprName, "The IN operator is provided with too many operands; number of operands: %d", p.inMax)
	}
	return nil
}
