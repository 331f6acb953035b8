package streams

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
)

func TestMessageRecordsRoundTrip(t *testing.T) {
	for _, n := range []int{1, 2, 3, 17, MaxRecordsPerMessage} {
		recs := make([][]byte, n)
		var body []byte
		for i := range recs {
			recs[i] = bytes.Repeat([]byte{byte(i)}, i%300) // includes empty and >127-byte records
			body = AppendRecord(body, recs[i])
		}
		h := nats.Header{}
		if n == 1 {
			body = recs[0] // one record is its bare encoding
		} else {
			h.Set(HeaderCount, fmt.Sprint(n))
		}
		count, err := MessageCount(h)
		if err != nil || count != n {
			t.Fatalf("n=%d: MessageCount = %d, %v", n, count, err)
		}
		got, err := SplitRecords(nil, count, body)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if len(got) != n {
			t.Fatalf("n=%d: %d records", n, len(got))
		}
		for i := range got {
			if !bytes.Equal(got[i], recs[i]) {
				t.Fatalf("n=%d: record %d differs", n, i)
			}
		}
	}
}

func TestMessageRecordsRejectsMalformed(t *testing.T) {
	for _, v := range []string{"0", "-1", "x", fmt.Sprint(MaxRecordsPerMessage + 1)} {
		if _, err := MessageCount(nats.Header{HeaderCount: {v}}); err == nil {
			t.Errorf("count %q accepted", v)
		}
	}
	body := AppendRecord(AppendRecord(nil, []byte("ab")), []byte("cde"))
	for name, tc := range map[string]struct {
		count int
		body  []byte
	}{
		"truncated":   {2, body[:len(body)-1]},
		"trailing":    {2, append(body[:len(body):len(body)], 0)},
		"short count": {3, body},
		"bad varint":  {2, []byte{0xff, 0xff}},
	} {
		if _, err := SplitRecords(nil, tc.count, tc.body); err == nil {
			t.Errorf("%s body accepted", name)
		}
	}
}

func TestPositions(t *testing.T) {
	for _, c := range []struct {
		js  uint64
		idx int
	}{{1, 0}, {1, 1}, {2, 0}, {1 << 40, MaxRecordsPerMessage - 1}} {
		js, idx := SplitPos(Pos(c.js, c.idx))
		if js != c.js || idx != c.idx {
			t.Errorf("SplitPos(Pos(%d, %d)) = %d, %d", c.js, c.idx, js, idx)
		}
	}
	// Positions order by message, then index, and so do sequence numbers.
	order := []uint64{Pos(1, 0), Pos(1, 1), Pos(1, MaxRecordsPerMessage-1), Pos(2, 0), Pos(10, 3), Pos(1<<50, 0)}
	for i := 1; i < len(order); i++ {
		a, b := SequenceNumber(order[i-1]), SequenceNumber(order[i])
		if !(order[i-1] < order[i]) || !(a < b) || len(a) != 21 || len(b) != 21 {
			t.Errorf("%s !< %s", a, b)
		}
		if p, ok := ParseSequenceNumber(b); !ok || p != order[i] {
			t.Errorf("ParseSequenceNumber(%s) = %d, %v", b, p, ok)
		}
	}
}
