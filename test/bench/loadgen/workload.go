package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// opKind is one DynamoDB operation the generator can issue.
type opKind int

const (
	opPut opKind = iota
	opGet
	opQuery
	opUpdate
	opDelete
	numOpKinds
)

var opNames = [numOpKinds]string{"put", "get", "query", "update", "delete"}

// opTargets are the X-Amz-Target header values, DynamoDB JSON 1.0 protocol.
var opTargets = [numOpKinds]string{
	"DynamoDB_20120810.PutItem",
	"DynamoDB_20120810.GetItem",
	"DynamoDB_20120810.Query",
	"DynamoDB_20120810.UpdateItem",
	"DynamoDB_20120810.DeleteItem",
}

func (k opKind) String() string {
	if k >= 0 && k < numOpKinds {
		return opNames[k]
	}
	return "op(" + strconv.Itoa(int(k)) + ")"
}

// mix is a weighted choice of operations.
type mix struct {
	kinds []opKind
	cum   []int // cumulative weights, same length as kinds
}

// parseMix parses "put=50,get=30,query=10,update=10". A bare name means
// weight 1 ("put" is "put=1"). Names must be distinct and weights positive.
func parseMix(s string) (mix, error) {
	var m mix
	if strings.TrimSpace(s) == "" {
		return m, errors.New("empty op mix")
	}
	seen := map[opKind]bool{}
	total := 0
	for _, part := range strings.Split(s, ",") {
		name, weight, hasWeight := strings.Cut(strings.TrimSpace(part), "=")
		name = strings.TrimSpace(name)
		w := 1
		if hasWeight {
			n, err := strconv.Atoi(strings.TrimSpace(weight))
			if err != nil || n <= 0 || n > 1_000_000 {
				return mix{}, fmt.Errorf("op %q: weight must be an integer in 1..1000000, got %q", name, weight)
			}
			w = n
		}
		k := opKind(-1)
		for i, n := range opNames {
			if n == name {
				k = opKind(i)
			}
		}
		if k < 0 {
			return mix{}, fmt.Errorf("unknown op %q (want one of %s)", name, strings.Join(opNames[:], ", "))
		}
		if seen[k] {
			return mix{}, fmt.Errorf("op %q listed twice", name)
		}
		seen[k] = true
		total += w
		m.kinds = append(m.kinds, k)
		m.cum = append(m.cum, total)
	}
	return m, nil
}

// pick returns an op with probability proportional to its weight.
func (m mix) pick(r *rand.Rand) opKind {
	if len(m.kinds) == 1 {
		return m.kinds[0]
	}
	x := r.IntN(m.cum[len(m.cum)-1])
	for i, c := range m.cum {
		if x < c {
			return m.kinds[i]
		}
	}
	return m.kinds[len(m.kinds)-1]
}

// String renders the mix in parseMix syntax; a single op is just its name.
func (m mix) String() string {
	if len(m.kinds) == 1 {
		return m.kinds[0].String()
	}
	var b strings.Builder
	prev := 0
	for i, k := range m.kinds {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%d", k, m.cum[i]-prev)
		prev = m.cum[i]
	}
	return b.String()
}

// Key layout. Item i lives at pk = "p" + i/perPK (pkDigits wide, zero padded)
// and sk = "s" + i%perPK (skDigits wide), so Query on one pk returns perPK
// items and every body of one op has the same length.
const (
	pkDigits = 10
	skDigits = 6
	// maxKeys bounds -keys so the numbers fit their fixed widths.
	maxKeys = 1_000_000_000
)

// keyspace maps item indexes to key numbers.
type keyspace struct {
	n     int // number of distinct items
	perPK int // items per partition key
}

func (ks keyspace) validate() error {
	var errs []error
	if ks.n < 1 || ks.n > maxKeys {
		errs = append(errs, fmt.Errorf("keys must be in 1..%d, got %d", maxKeys, ks.n))
	}
	if ks.perPK < 1 || ks.perPK > 100_000 {
		errs = append(errs, fmt.Errorf("per-pk must be in 1..100000, got %d", ks.perPK))
	}
	return errors.Join(errs...)
}

// split returns the partition and sort number of item i.
func (ks keyspace) split(i int) (pk, sk int) { return i / ks.perPK, i % ks.perPK }

// appendPadded appends n in decimal, left-padded with zeros to width digits.
// n must be non-negative; wider numbers are written in full.
func appendPadded(dst []byte, n, width int) []byte {
	var tmp [20]byte
	b := strconv.AppendUint(tmp[:0], uint64(n), 10)
	for i := len(b); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, b...)
}

// slot is a hole in a body template.
type slot uint8

const (
	slotLit slot = iota // literal bytes
	slotPK              // "p" + partition number
	slotSK              // "s" + sort number
	slotVal             // payload bytes (JSON-safe)
)

var slotNames = map[string]slot{"pk": slotPK, "sk": slotSK, "v": slotVal}

type segment struct {
	kind slot
	lit  []byte
}

// template is a pre-built request body with holes for keys and payload, so
// the hot path only appends bytes (no encoding/json).
type template struct {
	segs []segment
}

// parseTemplate splits s on {{pk}}, {{sk}} and {{v}} holes. Any other
// "{{name}}" or an unclosed "{{" is an error.
func parseTemplate(s string) (template, error) {
	var t template
	for len(s) > 0 {
		i := strings.Index(s, "{{")
		if i < 0 {
			t.segs = append(t.segs, segment{kind: slotLit, lit: []byte(s)})
			break
		}
		if i > 0 {
			t.segs = append(t.segs, segment{kind: slotLit, lit: []byte(s[:i])})
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			return template{}, fmt.Errorf("template: unclosed {{ at offset %d", i)
		}
		name := s[i+2 : i+j]
		k, ok := slotNames[name]
		if !ok {
			return template{}, fmt.Errorf("template: unknown hole {{%s}}", name)
		}
		t.segs = append(t.segs, segment{kind: k})
		s = s[i+j+2:]
	}
	return t, nil
}

// render appends the body for partition pk, sort key sk and payload val.
func (t template) render(dst []byte, pk, sk int, val []byte) []byte {
	for _, s := range t.segs {
		switch s.kind {
		case slotLit:
			dst = append(dst, s.lit...)
		case slotPK:
			dst = append(dst, 'p')
			dst = appendPadded(dst, pk, pkDigits)
		case slotSK:
			dst = append(dst, 's')
			dst = appendPadded(dst, sk, skDigits)
		case slotVal:
			dst = append(dst, val...)
		}
	}
	return dst
}

// bodyTemplates returns the body template of every op for table.
// The item shape is {pk S, sk S, v S}; update also bumps a counter c.
func bodyTemplates(table string) ([numOpKinds]template, error) {
	key := `"pk":{"S":"{{pk}}"},"sk":{"S":"{{sk}}"}`
	src := [numOpKinds]string{
		opPut:   `{"TableName":"` + table + `","Item":{` + key + `,"v":{"S":"{{v}}"}}}`,
		opGet:   `{"TableName":"` + table + `","Key":{` + key + `}}`,
		opQuery: `{"TableName":"` + table + `","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"S":"{{pk}}"}}}`,
		opUpdate: `{"TableName":"` + table + `","Key":{` + key + `},"UpdateExpression":"SET v = :v ADD c :one",` +
			`"ExpressionAttributeValues":{":v":{"S":"{{v}}"},":one":{"N":"1"}}}`,
		opDelete: `{"TableName":"` + table + `","Key":{` + key + `}}`,
	}
	var out [numOpKinds]template
	for i, s := range src {
		t, err := parseTemplate(s)
		if err != nil {
			return out, fmt.Errorf("%s body: %w", opKind(i), err)
		}
		out[i] = t
	}
	return out, nil
}

// validTableName reports whether name matches DynamoDB's table name rule
// ([a-zA-Z0-9_.-]{3,255}); such a name needs no JSON escaping.
func validTableName(name string) bool {
	if len(name) < 3 || len(name) > 255 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// payloadLen returns the length of the v attribute so that the item's
// DynamoDB size (attribute names plus values) is itemSize bytes, at least 1.
func payloadLen(itemSize int) int {
	overhead := len("pk") + 1 + pkDigits + len("sk") + 1 + skDigits + len("v")
	if n := itemSize - overhead; n > 1 {
		return n
	}
	return 1
}

// payloadPool is a block of random alphanumerics; a request's payload is a
// random window of it, so values differ between writes and do not compress
// away in the storage engine.
type payloadPool struct {
	buf []byte
	n   int // window length
}

func newPayloadPool(r *rand.Rand, n int) payloadPool {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	buf := make([]byte, n+64<<10)
	for i := range buf {
		buf[i] = alphabet[r.IntN(len(alphabet))]
	}
	return payloadPool{buf: buf, n: n}
}

func (p payloadPool) window(r *rand.Rand) []byte {
	off := r.IntN(len(p.buf) - p.n + 1)
	return p.buf[off : off+p.n]
}
