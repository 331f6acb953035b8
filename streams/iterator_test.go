package streams

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

func TestIteratorRoundTrip(t *testing.T) {
	c := iteratorCodec{key: bytes.Repeat([]byte{1}, 32)}
	arn := StreamARN("eu-test-1", "000000000000", "orders", "2026-11-21T14:27:59.123")
	for _, it := range []shardIterator{
		{arn: arn},
		{arn: arn, tableID: 7, partition: 1023, createdMs: 1732199279123, pos: 1 << 62, issuedMs: -5},
		{arn: strings.Repeat("a", 1024), tableID: 1<<32 - 1, partition: 65536, createdMs: -1, pos: 3, issuedMs: 1 << 50},
	} {
		s := c.encode(it)
		if len(s) > 2048 {
			t.Errorf("iterator of %d characters", len(s))
		}
		got, err := c.decode(s)
		if err != nil || got != it {
			t.Errorf("decode(encode(%+v)) = %+v, %v", it, got, err)
		}
	}
}

// TestIteratorTamper: changing any byte of an iterator, its ARN, or its
// key makes it invalid.
func TestIteratorTamper(t *testing.T) {
	c := iteratorCodec{key: bytes.Repeat([]byte{1}, 32)}
	arn := StreamARN("eu-test-1", "000000000000", "orders", "2026-11-21T14:27:59.123")
	s := c.encode(shardIterator{arn: arn, tableID: 3, partition: 2, createdMs: 10, pos: 99, issuedMs: 1000})
	for i := range s {
		for _, b := range []byte{'A', '0', '|', '_', 'z'} {
			if s[i] == b {
				continue
			}
			m := s[:i] + string(b) + s[i+1:]
			if got, err := c.decode(m); err == nil {
				// NB: base64 without padding may decode a changed final
				// character to the same bytes; only that case may pass.
				if got.arn == arn && i >= len(s)-1 {
					continue
				}
				t.Fatalf("tampered iterator %q (byte %d) accepted: %+v", m, i, got)
			}
		}
	}
	other := iteratorCodec{key: bytes.Repeat([]byte{2}, 32)}
	if _, err := other.decode(s); err == nil {
		t.Error("another key accepted the iterator")
	}
	// A well-signed payload with trailing bytes or a bad format is refused.
	raw := []byte{9, 0, 0, 0, 1, 0, 0, 0, 0}
	forged := arn + iteratorSep + base64.RawURLEncoding.EncodeToString(append(raw, c.mac(arn, raw)...))
	if _, err := c.decode(forged); err == nil {
		t.Error("unknown format accepted")
	}
}

// FuzzDecodeIterator: decode never panics, and whatever it accepts
// re-encodes to the same text.
func FuzzDecodeIterator(f *testing.F) {
	c := iteratorCodec{key: []byte("0123456789abcdef0123456789abcdef")}
	arn := StreamARN("r", "1", "tbl", "2026-11-21T14:27:59.123")
	f.Add(c.encode(shardIterator{arn: arn, pos: 5}))
	f.Add("garbage")
	f.Add(arn + "|1|")
	f.Add("|1|AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		it, err := c.decode(s)
		if err != nil {
			return
		}
		if again := c.encode(it); again != s {
			// Only a different base64 spelling of the same bytes may differ.
			if _, err := c.decode(again); err != nil {
				t.Fatalf("accepted %q re-encodes to an invalid %q", s, again)
			}
		}
	})
}

// TestIteratorFormat1: an iterator issued before layout 2 (format 1, whose
// pos is the next JetStream sequence) decodes to that message's first
// record, Pos(seq, 0); a new one is format 2.
func TestIteratorFormat1(t *testing.T) {
	c := iteratorCodec{key: bytes.Repeat([]byte{1}, 32)}
	arn := StreamARN("eu-test-1", "000000000000", "orders", "2026-11-21T14:27:59.123")
	s := c.encode(shardIterator{arn: arn, tableID: 3, partition: 2, createdMs: 10, pos: 99, issuedMs: 1000})
	raw, _ := base64.RawURLEncoding.DecodeString(s[len(arn)+len(iteratorSep):])
	if raw[0] != iteratorFormat {
		t.Fatalf("format %d", raw[0])
	}
	payload := append([]byte(nil), raw[:len(raw)-iteratorMACLen]...)
	payload[0] = iteratorFormatV1
	old := arn + iteratorSep + base64.RawURLEncoding.EncodeToString(append(payload, c.mac(arn, payload)...))
	got, err := c.decode(old)
	if err != nil || got.pos != Pos(99, 0) || got.partition != 2 || got.issuedMs != 1000 {
		t.Fatalf("format 1 iterator: %+v, %v; want pos %d", got, err, Pos(99, 0))
	}
}
