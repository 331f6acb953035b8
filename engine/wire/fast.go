package wire

import "unicode/utf8"

// FastDecoder is implemented by request types that decode their common
// shape without reflection. Decode calls DecodeFast first and falls back to
// encoding/json when it returns false.
//
// The contract that keeps the two paths indistinguishable: DecodeFast
// returns true only when body is a well-formed JSON object that encoding/json
// would decode into the receiver with no error and with exactly the result
// DecodeFast produced. On anything else — an unknown, repeated or
// differently cased member, a null, an escape in a string, a member of an
// unexpected type, malformed JSON, an error from a nested decoder — it
// returns false having changed nothing, and encoding/json then gives the
// answer (and the error text) it always gave. Scanner makes this easy to
// honour.
type FastDecoder interface {
	DecodeFast(body []byte) bool
}

// Scanner reads one JSON object member by member, strictly, for a
// FastDecoder. Each method reports false on anything it does not accept;
// the scanner is then failed and Done reports false. It never panics.
//
//	s := wire.NewScanner(body)
//	for s.Next() {
//		switch string(s.Name()) {
//		case "TableName":
//			in.TableName, ok = s.String()
//		...
//		default:
//			return false
//		}
//	}
//	if !s.Done() { return false }
type Scanner struct {
	b     []byte
	i     int
	name  []byte
	first bool
	end   bool
	bad   bool
}

// NewScanner starts scanning body, which must be a JSON object.
func NewScanner(body []byte) Scanner {
	s := Scanner{b: body, first: true}
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		s.bad = true
		return s
	}
	s.i++
	return s
}

func (s *Scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// Next moves to the next member and reads its name and the colon after
// it. It returns false at the end of the object or when the scanner failed.
func (s *Scanner) Next() bool {
	if s.bad || s.end {
		return false
	}
	s.ws()
	if s.i >= len(s.b) {
		s.bad = true
		return false
	}
	if s.b[s.i] == '}' {
		// NB: a '}' right after a ',' never gets here: the name read fails.
		s.i++
		s.end = true
		return false
	}
	if !s.first {
		if s.b[s.i] != ',' {
			s.bad = true
			return false
		}
		s.i++
		s.ws()
	}
	s.first = false
	name, ok := s.plainString()
	if !ok {
		s.bad = true
		return false
	}
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		s.bad = true
		return false
	}
	s.i++
	s.ws()
	s.name = name
	return true
}

// plainString reads a string literal at s.i that has no escape, no control
// character and only valid UTF-8 — one whose bytes are its value.
func (s *Scanner) plainString() ([]byte, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	ascii := true
	for j := start; j < len(s.b); j++ {
		c := s.b[j]
		switch {
		case c == '"':
			v := s.b[start:j]
			if !ascii && !utf8.Valid(v) {
				return nil, false
			}
			s.i = j + 1
			return v, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// Name is the current member's name. It aliases the body.
func (s *Scanner) Name() []byte { return s.name }

// String reads the current member's value as a plain string (see
// plainString); a null, an escape or another type fails.
func (s *Scanner) String() (string, bool) {
	v, ok := s.plainString()
	if !ok {
		s.bad = true
		return "", false
	}
	return string(v), true
}

// Bool reads the current member's value as true or false.
func (s *Scanner) Bool() (bool, bool) {
	switch {
	case len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "true":
		s.i += 4
		return true, true
	case len(s.b)-s.i >= 5 && string(s.b[s.i:s.i+5]) == "false":
		s.i += 5
		return false, true
	}
	s.bad = true
	return false, false
}

// Rest is the body from the current value on, for a nested decoder; it
// must then call Skip with the bytes it consumed, or Fail.
func (s *Scanner) Rest() []byte { return s.b[s.i:] }

// Skip advances past n bytes of Rest.
func (s *Scanner) Skip(n int) {
	if n <= 0 || n > len(s.b)-s.i {
		s.bad = true
		return
	}
	s.i += n
}

// Fail marks the scan failed.
func (s *Scanner) Fail() { s.bad = true }

// Failed reports whether the scan failed.
func (s *Scanner) Failed() bool { return s.bad }

// Done reports whether the whole body was one well-formed object that was
// read to its end, with only whitespace after it.
func (s *Scanner) Done() bool {
	if s.bad || !s.end {
		return false
	}
	s.ws()
	return s.i == len(s.b)
}

// Object reads the current member's value as an object of plain string
// names, calling member for each with the scanner positioned at the value
// (member reads it with String, Rest/Skip, ...). An empty object calls
// nothing. It returns false if the scan failed.
func (s *Scanner) Object(member func(name []byte) bool) bool {
	if s.bad || s.i >= len(s.b) || s.b[s.i] != '{' {
		s.bad = true
		return false
	}
	s.i++
	for first := true; ; first = false {
		s.ws()
		if s.i >= len(s.b) {
			s.bad = true
			return false
		}
		if s.b[s.i] == '}' {
			s.i++
			return true
		}
		if !first {
			if s.b[s.i] != ',' {
				s.bad = true
				return false
			}
			s.i++
			s.ws()
		}
		name, ok := s.plainString()
		if !ok {
			s.bad = true
			return false
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			s.bad = true
			return false
		}
		s.i++
		s.ws()
		if !member(name) || s.bad {
			s.bad = true
			return false
		}
	}
}
