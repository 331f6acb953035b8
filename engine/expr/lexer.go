package expr

import (
	"strings"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF    tokKind = iota
	tIdent          // [A-Za-z_][A-Za-z0-9_]*: a name, keyword or function
	tName           // #placeholder
	tValue          // :placeholder
	tNumber         // [0-9]+, only meaningful as a list index
	tLParen         // (
	tRParen         // )
	tLBrack         // [
	tRBrack         // ]
	tComma          // ,
	tDot            // .
	tCmp            // = <> < <= > >=
	tPlus           // +
	tMinus          // -
	tBad            // any other character
)

// token is one lexeme; pos and end are byte offsets into the source.
type token struct {
	kind     tokKind
	text     string
	pos, end int
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentByte(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// lex splits src into tokens, always ending with one tEOF at len(src).
// Characters outside the language become tBad tokens: the parser reports
// them as syntax errors when it reaches them, as DynamoDB reports the first
// offending token.
func lex(src string) []token {
	toks := make([]token, 0, len(src)/2+1)
	i := 0
	for i < len(src) {
		c := src[i]
		start := i
		kind := tBad
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case isIdentStart(c):
			for i++; i < len(src) && isIdentByte(src[i]); i++ {
			}
			kind = tIdent
		case c >= '0' && c <= '9':
			for i++; i < len(src) && src[i] >= '0' && src[i] <= '9'; i++ {
			}
			kind = tNumber
		case c == '#' || c == ':':
			for i++; i < len(src) && isIdentByte(src[i]); i++ {
			}
			kind = tName
			if c == ':' {
				kind = tValue
			}
		case c == '<':
			i++
			if i < len(src) && (src[i] == '=' || src[i] == '>') {
				i++
			}
			kind = tCmp
		case c == '>':
			i++
			if i < len(src) && src[i] == '=' {
				i++
			}
			kind = tCmp
		case c == '=':
			i++
			kind = tCmp
		default:
			i++
			switch c {
			case '(':
				kind = tLParen
			case ')':
				kind = tRParen
			case '[':
				kind = tLBrack
			case ']':
				kind = tRBrack
			case ',':
				kind = tComma
			case '.':
				kind = tDot
			case '+':
				kind = tPlus
			case '-':
				kind = tMinus
			default:
				// One whole (possibly invalid) UTF-8 sequence.
				_, size := utf8.DecodeRuneInString(src[start:])
				i = start + size
			}
		}
		toks = append(toks, token{kind: kind, text: src[start:i], pos: start, end: i})
	}
	return append(toks, token{kind: tEOF, pos: len(src), end: len(src)})
}

// isKeyword reports whether t is the (case-insensitive) keyword kw.
func (t token) isKeyword(kw string) bool {
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}
