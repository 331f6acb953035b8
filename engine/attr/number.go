package attr

import (
	"bytes"
	"strings"

	"github.com/cockroachdb/apd/v3"

	"github.com/godwit-db/godwit/engine/apierr"
)

// DynamoDB's number limits: up to 38 significant digits, magnitudes from
// 1E-130 to 9.9999999999999999999999999999999999999E+125.
const (
	maxDigits = 38
	maxAdjExp = 125  // largest exponent of the leading digit (d.ddd×10^e form)
	minAdjExp = -130 // smallest exponent of the leading digit
)

// Number error texts, as DynamoDB words them.
const (
	msgNumberFormat    = "A value provided cannot be converted into a number"
	msgNumberPrecision = "Attempting to store more than 38 significant digits in a Number"
	msgNumberOverflow  = "Number overflow. Attempting to store a number with magnitude larger than supported range"
	msgNumberUnderflow = "Number underflow. Attempting to store a number with magnitude smaller than supported range"
)

// decimal is a parsed finite number: its value is 0.digits × 10^exp (sign
// apart). digits are ASCII '0'..'9' with no leading or trailing zeros; zero
// has no digits and is never negative.
type decimal struct {
	neg    bool
	digits []byte
	exp    int
}

// expClamp bounds a parsed exponent so that arithmetic on it cannot
// overflow; anything that large is out of DynamoDB's range anyway.
const expClamp = 1 << 30

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseDecimal parses s in Java BigDecimal's grammar ([+-] digits [. digits]
// [(e|E) [+-] digits], at least one mantissa digit; ".5" and "5." are fine),
// appending the significant digits to buf. ok is false when s is not a
// number. The range is not checked (see decimal.check).
func parseDecimal(s string, buf []byte) (d decimal, ok bool) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		d.neg = s[i] == '-'
		i++
	}
	intStart := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intEnd := i
	fracStart, fracEnd := i, i
	if i < len(s) && s[i] == '.' {
		i++
		fracStart = i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		fracEnd = i
	}
	if intEnd == intStart && fracEnd == fracStart {
		return decimal{}, false
	}
	e10 := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		if i == len(s) {
			return decimal{}, false
		}
		for ; i < len(s); i++ {
			c := s[i]
			if !isDigit(c) {
				return decimal{}, false
			}
			if e10 < expClamp {
				e10 = e10*10 + int(c-'0')
			}
		}
		if eneg {
			e10 = -e10
		}
	}
	if i != len(s) {
		return decimal{}, false
	}

	// The mantissa digit sequence D is int digits then fraction digits; the
	// point sits after the int digits.
	digits := buf[:0]
	first := -1 // index in D of the first non-zero digit
	pos := 0
	for _, part := range [2]string{s[intStart:intEnd], s[fracStart:fracEnd]} {
		for j := 0; j < len(part); j++ {
			c := part[j]
			if first < 0 {
				if c == '0' {
					pos++
					continue
				}
				first = pos
			}
			digits = append(digits, c)
			pos++
		}
	}
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
	}
	if len(digits) == 0 {
		return decimal{}, true
	}
	d.digits = digits
	d.exp = (intEnd - intStart) - first + e10
	return d, true
}

// check reports a number DynamoDB would not store, in DynamoDB's order of
// checks (overflow, underflow, then precision).
func (d decimal) check() error {
	if len(d.digits) == 0 {
		return nil
	}
	switch adj := d.exp - 1; {
	case adj > maxAdjExp:
		return apierr.Validation(msgNumberOverflow)
	case adj < minAdjExp:
		return apierr.Validation(msgNumberUnderflow)
	}
	if len(d.digits) > maxDigits {
		return apierr.Validation(msgNumberPrecision)
	}
	return nil
}

// maxNumberText bounds the normalised text of any in-range number:
// sign, "0.", 129 zeros and 38 digits.
const maxNumberText = 1 + 2 + 129 + maxDigits

// appendText appends d in DynamoDB's normalised form: plain positional
// notation, no exponent, no leading or trailing zeros, "0" for zero. Only
// call it on a checked decimal (the text grows with the exponent).
func (d decimal) appendText(dst []byte) []byte {
	n := len(d.digits)
	if n == 0 {
		return append(dst, '0')
	}
	if d.neg {
		dst = append(dst, '-')
	}
	switch {
	case d.exp <= 0:
		dst = append(dst, '0', '.')
		for i := 0; i < -d.exp; i++ {
			dst = append(dst, '0')
		}
		dst = append(dst, d.digits...)
	case d.exp >= n:
		dst = append(dst, d.digits...)
		for i := n; i < d.exp; i++ {
			dst = append(dst, '0')
		}
	default:
		dst = append(dst, d.digits[:d.exp]...)
		dst = append(dst, '.')
		dst = append(dst, d.digits[d.exp:]...)
	}
	return dst
}

func (d decimal) sign() int {
	switch {
	case len(d.digits) == 0:
		return 0
	case d.neg:
		return -1
	}
	return 1
}

// cmp orders decimals numerically.
func (d decimal) cmp(x decimal) int {
	sd, sx := d.sign(), x.sign()
	if sd != sx {
		return cmpInt(sd, sx)
	}
	if sd == 0 {
		return 0
	}
	c := cmpInt(d.exp, x.exp)
	if c == 0 {
		// Same exponent: the digit strings compare as fractions 0.ddd, and
		// a proper prefix is the smaller one, as bytes.Compare has it.
		c = bytes.Compare(d.digits, x.digits)
	}
	return c * sd
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ParseNumber validates s as a DynamoDB number and returns its normalised
// text: "00042"→"42", "1.0"→"1", "-0"→"0", "1.5E2"→"150", "1E+100"→a 1 and
// 100 zeros (DynamoDB never answers with an exponent). The error is a
// ValidationException worded as DynamoDB words it: not a number, more than
// 38 significant digits, magnitude above 9.99…E+125 (overflow) or below
// 1E-130 (underflow). An input already in normal form is returned without
// allocating.
func ParseNumber(s string) (string, error) {
	var buf [maxDigits + 8]byte
	d, ok := parseDecimal(s, buf[:0])
	if !ok {
		return "", apierr.Validation(msgNumberFormat)
	}
	if err := d.check(); err != nil {
		return "", err
	}
	var out [maxNumberText]byte
	b := d.appendText(out[:0])
	if string(b) == s {
		return s, nil
	}
	return string(b), nil
}

// CompareNumbers orders two numbers numerically (-1, 0, +1). a and b are
// meant to be normalised (ParseNumber's output) but any number text works;
// text that is not a number sorts by its bytes after every number, so the
// order stays total.
func CompareNumbers(a, b string) int {
	if a == b {
		return 0
	}
	var ba, bb [maxDigits + 8]byte
	da, oka := parseDecimal(a, ba[:0])
	db, okb := parseDecimal(b, bb[:0])
	switch {
	case oka && okb:
		return da.cmp(db)
	case oka:
		return -1
	case okb:
		return 1
	}
	return strings.Compare(a, b)
}

// arith does NumberAdd/NumberSub exactly: operands are in DynamoDB's range
// (at most 38 digits between 10^126 and 10^-130), so a sum has at most ~300
// digits and never rounds at this precision. Read-only after init, shared.
var arith = apd.Context{
	Precision:   400,
	MaxExponent: apd.MaxExponent,
	MinExponent: apd.MinExponent,
	Traps:       apd.DefaultTraps,
	Rounding:    apd.RoundHalfEven,
}

// NumberAdd returns a+b, normalised. Operands are validated first; the
// result must itself be a storable number (else a ValidationException:
// overflow, underflow or more than 38 significant digits).
func NumberAdd(a, b string) (string, error) { return numberOp(a, b, false) }

// NumberSub returns a-b, normalised, with NumberAdd's validation.
func NumberSub(a, b string) (string, error) { return numberOp(a, b, true) }

func numberOp(a, b string, sub bool) (string, error) {
	na, err := ParseNumber(a)
	if err != nil {
		return "", err
	}
	nb, err := ParseNumber(b)
	if err != nil {
		return "", err
	}
	var x, y, z apd.Decimal
	if _, _, err := x.SetString(na); err != nil {
		return "", apierr.Validation(msgNumberFormat)
	}
	if _, _, err := y.SetString(nb); err != nil {
		return "", apierr.Validation(msgNumberFormat)
	}
	if sub {
		_, err = arith.Sub(&z, &x, &y)
	} else {
		_, err = arith.Add(&z, &x, &y)
	}
	if err != nil {
		return "", apierr.Validation(msgNumberOverflow)
	}
	z.Reduce(&z)
	return ParseNumber(z.Text('E'))
}

// significantDigits counts the digits of number text s between its first
// and last non-zero digit (mantissa only); zero counts as one digit.
func significantDigits(s string) int {
	first, last, pos := -1, -1, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 'e' || c == 'E' {
			break
		}
		if !isDigit(c) {
			continue
		}
		if c != '0' {
			if first < 0 {
				first = pos
			}
			last = pos
		}
		pos++
	}
	if first < 0 {
		return 1
	}
	return last - first + 1
}
