package engine

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine/attr"
)

// TestReadOutboxRaw: the raw read returns the stored encoding of exactly
// the changes ReadOutbox decodes, in (after, upto], with the header fields
// the decoder gives, up to max.
func TestReadOutboxRaw(t *testing.T) {
	db := catOpen(t, Config{})
	in := catSimple("streamed")
	in.StreamSpecification = &StreamSpecification{StreamEnabled: bptr(true), StreamViewType: "NEW_AND_OLD_IMAGES"}
	catCreate(t, db, in)
	for i := range 40 {
		catPut(t, db, "streamed", attr.Item{"pk": attr.Str(fmt.Sprint(i % 13)), "sk": attr.Str("s"), "n": attr.Str(fmt.Sprint(i))})
	}
	info, _ := db.Table("streamed")
	total := 0
	for part := 0; part < info.Partitions; part++ {
		head, _ := db.OutboxHead("streamed", part)
		want, err := db.ReadOutbox(info.ID, part, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if uint64(len(want)) != head {
			t.Fatalf("partition %d: %d changes, head %d", part, len(want), head)
		}
		total += len(want)
		got, err := db.ReadOutboxRaw(info.ID, part, 0, ^uint64(0), 1000, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("partition %d: raw read %d entries, want %d", part, len(got), len(want))
		}
		for i, c := range want {
			e := got[i]
			if e.Seq != c.Seq || e.StreamLabel != c.StreamLabel || e.Origin != c.Origin || e.CreatedAt != c.CreatedAt ||
				!bytes.Equal(e.Data, c.AppendBinary(nil)) {
				t.Fatalf("partition %d entry %d: %+v, want change %+v", part, i, e, c)
			}
		}
		// Bounds: (after, upto] and max.
		for after := uint64(0); after <= head; after++ {
			for upto := after; upto <= head+1; upto++ {
				got, err := db.ReadOutboxRaw(info.ID, part, after, upto, 2, []OutboxEntry{{Seq: 999}})
				if err != nil {
					t.Fatal(err)
				}
				n := min(min(upto, head)-after, 2)
				if uint64(len(got)) != 1+n || got[0].Seq != 999 {
					t.Fatalf("(%d, %d] max 2: %d entries, want %d after the kept one", after, upto, len(got)-1, n)
				}
				for i, e := range got[1:] {
					if e.Seq != after+1+uint64(i) {
						t.Fatalf("(%d, %d]: entry %d has seq %d", after, upto, i, e.Seq)
					}
				}
			}
		}
	}
	// After a trim, a read from before it returns what is left (the point
	// reads meet a missing entry and the iterator takes over).
	for part := 0; part < info.Partitions; part++ {
		head, _ := db.OutboxHead("streamed", part)
		if head < 3 {
			continue
		}
		if err := db.TrimOutbox(info.ID, part, 2); err != nil {
			t.Fatal(err)
		}
		for _, upto := range []uint64{head, ^uint64(0)} {
			got, err := db.ReadOutboxRaw(info.ID, part, 0, upto, 100, nil)
			if err != nil {
				t.Fatal(err)
			}
			if uint64(len(got)) != head-2 || got[0].Seq != 3 || got[len(got)-1].Seq != head {
				t.Fatalf("partition %d after trimming 2, upto %d: %d entries from %d, want 3..%d", part, upto, len(got), got[0].Seq, head)
			}
		}
	}
	if total != 40 {
		t.Fatalf("%d changes in the outbox, want 40", total)
	}
}

// TestParseOutboxEntry: the header parse agrees with DecodeChange on random
// changes, rejects every truncation, and never panics on corruption.
func TestParseOutboxEntry(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	str := func() string {
		b := make([]byte, r.IntN(20))
		for i := range b {
			b[i] = byte('a' + r.IntN(26))
		}
		return string(b)
	}
	item := func() attr.Item {
		if r.IntN(3) == 0 {
			return nil
		}
		return attr.Item{"pk": attr.Str(str()), "v": attr.Str(fmt.Sprint(r.Int64()))}
	}
	for range 500 {
		c := Change{
			TableID: r.Uint32(), Table: str(), StreamLabel: str(), Partition: r.IntN(64), Seq: r.Uint64(),
			EventName: EventModify, Keys: item(), OldImage: item(), NewImage: item(),
			Version: conflict.Version{Wall: r.Int64(), Logical: r.Uint32(), Region: str()},
			Origin:  str(), CreatedAt: r.Int64() - r.Int64(), TTL: r.IntN(2) == 0, AccessKeyID: str(),
		}
		if r.IntN(2) == 0 {
			c.PrevVersion = conflict.Version{Wall: r.Int64(), Logical: r.Uint32(), Region: str()}
		}
		b := c.AppendBinary(nil)
		if got, err := DecodeChange(b); err != nil || got.PrevVersion != c.PrevVersion || got.Version != c.Version || got.AccessKeyID != c.AccessKeyID {
			t.Fatalf("round trip of %+v: %+v, %v", c, got, err)
		}
		e, err := parseOutboxEntry(b, "", "")
		if err != nil {
			t.Fatalf("parse %+v: %v", c, err)
		}
		if e.Seq != c.Seq || e.StreamLabel != c.StreamLabel || e.Origin != c.Origin || e.CreatedAt != c.CreatedAt || !bytes.Equal(e.Data, b) {
			t.Fatalf("parsed %+v from %+v", e, c)
		}
		// Everything the parse reads ends at CreatedAt; cutting into it fails.
		end := len(b) - 1 - len(appendString(nil, c.AccessKeyID)) - len(c.PrevVersion.AppendBinary(nil))
		for n := 0; n < end; n++ {
			if _, err := parseOutboxEntry(b[:n], "", ""); err == nil {
				t.Fatalf("truncated to %d of %d bytes: no error", n, len(b))
			}
		}
		for n := 0; n < len(b); n++ {
			if _, err := DecodeChange(b[:n]); err == nil {
				t.Fatalf("DecodeChange of %d of %d bytes: no error", n, len(b))
			}
		}
		// Format 1 (no PrevVersion) is still read, by both.
		v1 := append([]byte{changeFormatV1}, b[1:len(b)-len(c.PrevVersion.AppendBinary(nil))]...)
		if got, err := DecodeChange(v1); err != nil || !got.PrevVersion.IsZero() || got.Version != c.Version || got.AccessKeyID != c.AccessKeyID {
			t.Fatalf("format 1 of %+v: %+v, %v", c, got, err)
		}
		if e, err := parseOutboxEntry(v1, "", ""); err != nil || e.Seq != c.Seq || e.Origin != c.Origin {
			t.Fatalf("format 1 parse of %+v: %+v, %v", c, e, err)
		}
		for range 20 {
			bad := bytes.Clone(b)
			bad[r.IntN(len(bad))] = byte(r.Uint32())
			_, _ = parseOutboxEntry(bad, "", "")
		}
	}
}

func FuzzParseOutboxEntry(f *testing.F) {
	c := Change{TableID: 7, Table: "t", StreamLabel: "l", Seq: 3, EventName: EventInsert,
		NewImage: attr.Item{"pk": attr.Str("a")}, Version: conflict.Version{Wall: 1, Region: "r"}, Origin: "r"}
	f.Add(c.AppendBinary(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := parseOutboxEntry(b, "", "")
		if err == nil && !bytes.Equal(e.Data, b) {
			t.Fatal("Data is not the input")
		}
	})
}

// BenchmarkReadOutbox compares the decoding read with the raw one, one
// small batch per call as the publisher reads under load.
func BenchmarkReadOutbox(b *testing.B) {
	db, err := Open(Config{InMemory: true, DefaultPartitions: 1, TTLSweepInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer catClose(db)
	in := catSimple("streamed")
	in.StreamSpecification = &StreamSpecification{StreamEnabled: bptr(true), StreamViewType: "NEW_AND_OLD_IMAGES"}
	if _, err := db.CreateTable(context.Background(), in); err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		if err := catWrite(db, "streamed", attr.Item{"pk": attr.Str(fmt.Sprint(i)), "sk": attr.Str("s"), "v": attr.Str(strings.Repeat("x", 100))}, false); err != nil {
			b.Fatal(err)
		}
	}
	info, _ := db.Table("streamed")
	b.Run("decode", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := db.ReadOutbox(info.ID, 0, uint64(i%990), 4); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		var buf []OutboxEntry
		for i := 0; b.Loop(); i++ {
			var err error
			if buf, err = db.ReadOutboxRaw(info.ID, 0, uint64(i%990), 1000, 4, buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestCommittedEntriesHandedOver: every group commit of a streamed table
// hands its listener the entries it appended, exactly as ReadOutboxRaw
// reads them back, in order per partition; a transaction's notification
// carries none (the publisher reads those). Concurrent writers make groups
// of several writes.
func TestCommittedEntriesHandedOver(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	type note struct {
		lastSeq uint64
		entries []OutboxEntry
	}
	var mu sync.Mutex
	notes := map[int][]note{}
	db := catOpen(t, Config{DefaultPartitions: 2, Listener: EventListener{
		ChangesCommitted: func(_ uint32, part int, lastSeq uint64, entries []OutboxEntry) {
			mu.Lock()
			notes[part] = append(notes[part], note{lastSeq, entries})
			mu.Unlock()
		},
	}})
	catCreate(t, db, &CreateTableInput{TableName: "Tbl", AttributeDefinitions: catDefs("pk", "S"),
		KeySchema: catKS("pk", ""), BillingMode: "PAY_PER_REQUEST",
		StreamSpecification: &StreamSpecification{StreamEnabled: bptr(true), StreamViewType: "NEW_AND_OLD_IMAGES"}})
	var wg sync.WaitGroup
	var txns atomic.Int64
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(g)))
			for range 150 {
				op, _, run := randomWrite(t, rng, 40, "")
				if op == "bypassing write" {
					continue // NB: it writes no change record
				}
				if _, err := run(db); err == nil && op == "transaction" {
					txns.Add(1)
				}
			}
		}()
	}
	wg.Wait()

	info, _ := db.Table("Tbl")
	handed, multi, bare := 0, 0, 0
	for part := 0; part < info.Partitions; part++ {
		head, _ := db.OutboxHead("Tbl", part)
		var prev uint64
		for _, n := range notes[part] {
			if n.lastSeq <= prev {
				t.Fatalf("partition %d: notification of %d after one of %d", part, n.lastSeq, prev)
			}
			if n.entries == nil {
				bare++
				prev = n.lastSeq
				continue
			}
			first := n.entries[0].Seq
			if first != prev+1 || n.entries[len(n.entries)-1].Seq != n.lastSeq {
				t.Fatalf("partition %d: entries %d..%d handed with lastSeq %d after %d", part, first, n.entries[len(n.entries)-1].Seq, n.lastSeq, prev)
			}
			want, err := db.ReadOutboxRaw(info.ID, part, prev, n.lastSeq, 1<<20, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) != len(n.entries) {
				t.Fatalf("partition %d (%d, %d]: %d entries handed, the outbox holds %d", part, prev, n.lastSeq, len(n.entries), len(want))
			}
			for i, e := range n.entries {
				w := want[i]
				if e.Seq != w.Seq || e.StreamLabel != w.StreamLabel || e.Origin != w.Origin || e.CreatedAt != w.CreatedAt || !bytes.Equal(e.Data, w.Data) {
					t.Fatalf("partition %d: handed entry %+v, the outbox holds %+v", part, e, w)
				}
			}
			handed += len(n.entries)
			if len(n.entries) > 1 {
				multi++
			}
			prev = n.lastSeq
		}
		if prev != head {
			t.Fatalf("partition %d: notifications end at %d, the outbox head is %d", part, prev, head)
		}
	}
	t.Logf("%d entries handed over, %d notifications of several, %d without entries; %d transactions", handed, multi, bare, txns.Load())
	if handed == 0 || multi == 0 {
		t.Fatalf("%d entries handed over, %d notifications of several entries: want both", handed, multi)
	}
	// NB: a transaction notifies each partition it wrote (two writes here).
	if n := txns.Load(); (n > 0 && bare == 0) || int64(bare) > 2*n {
		t.Fatalf("%d notifications without entries for %d transactions", bare, n)
	}
}
