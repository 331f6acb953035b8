package streams

import (
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"
)

func tcSeed(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// TestTailCacheModel drives one cache through random histories of
// publishes, acks, failures and evictions against a model of the
// partition's subject, and checks every read it answers against the
// model: the records from the position on (cut at the limit and at the
// byte bound as a direct get cuts) and "nothing pending" only when the
// subject holds nothing more.
func TestTailCacheModel(t *testing.T) {
	rng := tcSeed(t)
	hits, served, ends := 0, 0, 0
	for round := 0; round < 200; round++ {
		var lost atomic.Uint64
		c := &tailCache{maxRecords: 1 + rng.IntN(16), maxBytes: 50 + rng.IntN(400), lost: &lost}
		created := time.Unix(int64(round), 0)
		var (
			subject  []tailEntry // the model: this partition's messages in the stream
			inflight []tailSent  // published, not yet acknowledged
			jsSeq    uint64      // the stream's last sequence (other partitions too)
			out      uint64      // the outbox
			epoch    uint64
		)
		for step := 0; step < 300; step++ {
			switch k := rng.IntN(100); {
			case k < 30: // publish, priming a cold cache first as the worker does
				out++
				sent := tailSent{data: make([]byte, rng.IntN(60)), n: 1}
				if rng.IntN(3) == 0 {
					sent.n = 2 + rng.IntN(4) // a message of several records
				}
				out += uint64(sent.n - 1) // NB: a message is named by its last record's outbox sequence
				sent.out = out
				sent.size = len(sent.data) + 10
				if !c.sending("S", epoch, lost.Load(), sent) && rng.IntN(5) > 0 {
					for _, s := range inflight { // settle everything in flight
						jsSeq++
						subject = append(subject, tailEntry{seq: jsSeq, data: s.data, n: s.n, size: s.size})
						c.acked(epoch, s.out, jsSeq, false, nil)
					}
					inflight = nil
					var last uint64
					if len(subject) > 0 {
						last = subject[len(subject)-1].seq
					}
					c.prime("S", created, epoch, lost.Load(), last)
					c.sending("S", epoch, lost.Load(), sent)
				}
				inflight = append(inflight, sent)
			case k < 60 && len(inflight) > 0: // JetStream stores and acknowledges the oldest
				jsSeq += uint64(rng.IntN(3)) // other partitions' messages
				jsSeq++
				s := inflight[0]
				inflight = inflight[1:]
				subject = append(subject, tailEntry{seq: jsSeq, data: s.data, n: s.n, size: s.size})
				if rng.IntN(30) == 0 {
					c.acked(epoch+1, s.out, jsSeq, false, nil) // an ack of another epoch
				} else {
					c.acked(epoch, s.out, jsSeq, false, nil)
				}
			case k == 60 && len(inflight) > 0: // a duplicate: JetStream had it already
				s := inflight[0]
				inflight = inflight[1:]
				c.acked(epoch, s.out, jsSeq, true, nil)
			case k == 61 && len(inflight) > 0: // a failure, then the worker's unsync
				c.acked(epoch, inflight[0].out, 0, false, errors.New("no"))
				inflight = nil
				epoch++
				c.invalidate()
			case k == 62:
				lost.Add(1) // the connection was lost
			case k < 66:
				jsSeq++ // another partition
			default: // read from a random position
				from := uint64(rng.IntN(int(jsSeq) + 3)) // NB: mostly near the end
				if back := uint64(rng.IntN(12)); rng.IntN(4) > 0 && back <= jsSeq {
					from = jsSeq + 1 - back
				}
				limit := 1 + rng.IntN(6)
				maxBytes := 20 + rng.IntN(200)
				got, pending, res := c.read("S", created, from, limit, maxBytes, nil)
				if res != tailHit {
					if len(got) != 0 {
						t.Fatalf("round %d step %d: a miss returned records", round, step)
					}
					continue
				}
				var want []uint64
				var wantN []int
				size, i := 0, 0
				for ; i < len(subject) && subject[i].seq < from; i++ {
				}
				for ; i < len(subject) && len(want) < limit; i++ {
					want = append(want, subject[i].seq)
					wantN = append(wantN, subject[i].n)
					if size += subject[i].size; size >= maxBytes {
						i++
						break
					}
				}
				if len(got) != len(want) {
					t.Fatalf("round %d step %d: read from %d limit %d: %d records, want %v", round, step, from, limit, len(got), want)
				}
				hits++
				if len(got) > 0 {
					served++
				}
				if pending == 0 {
					ends++
				}
				for j := range got {
					if got[j].seq != want[j] {
						t.Fatalf("round %d step %d: read from %d: message %d is seq %d, want %d", round, step, from, j, got[j].seq, want[j])
					}
					if n, err := got[j].count(); err != nil || n != wantN[j] {
						t.Fatalf("round %d step %d: read from %d: message %d has %d records (%v), want %d", round, step, from, j, n, err, wantN[j])
					}
				}
				if pending == 0 && (i < len(subject) || len(inflight) > 0) {
					t.Fatalf("round %d step %d: read from %d says nothing is pending, but %d stored and %d in flight follow",
						round, step, from, len(subject)-i, len(inflight))
				}
			}
			recs := 0
			for j := 0; j < c.ents.len(); j++ {
				recs += c.ents.at(j).n
			}
			if recs != c.recs || c.recs > c.maxRecords || c.bytes > c.maxBytes {
				t.Fatalf("round %d step %d: %d records (counted %d), %d bytes cached; bounds %d, %d", round, step, recs, c.recs, c.bytes, c.maxRecords, c.maxBytes)
			}
		}
	}
	t.Logf("%d reads answered, %d with records, %d at the end", hits, served, ends)
	if served < 5000 || ends < 500 {
		t.Fatalf("only %d reads answered with records and %d at the end: the histories do not exercise the cache", served, ends)
	}
}
