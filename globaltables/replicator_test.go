package globaltables

import (
	"testing"

	"github.com/godwit-db/godwit/engine"
)

func rec(p int, seq, cs uint64, origin string) Record {
	return Record{Partition: p, Seq: seq, Origin: origin, Change: &engine.Change{Partition: p, Seq: cs}}
}

func TestReadyAdvanceKeepsLaterItems(t *testing.T) {
	r, err := NewReplicator(Config{Peer: "b", MaxBatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Restore(map[int]Pos{0: {StreamSeq: 1, ChangeSeq: 1}})
	_ = r.Deliver(rec(0, 2, 2, "b"))
	rd1 := r.Ready()
	_ = r.Deliver(rec(0, 3, 3, "b"))
	rd2 := r.Ready() // without Advance: the same batch again plus the new one
	if len(rd1.Batches) != 1 || len(rd2.Batches) != 2 || rd2.Batches[0].Position != rd1.Batches[0].Position {
		t.Fatalf("ready twice: %+v then %+v", rd1.Batches, rd2.Batches)
	}
	r.Advance(rd1)
	if rd := r.Ready(); len(rd.Batches) != 1 || rd.Batches[0].Position.ChangeSeq != 3 {
		t.Fatalf("after Advance(rd1): %+v", rd.Batches)
	}
	stale := r.Ready()
	_ = r.Restore(map[int]Pos{0: {StreamSeq: 3, ChangeSeq: 3}})
	_ = r.Deliver(rec(0, 4, 4, "b"))
	r.Advance(stale) // from before Restore: ignored
	if rd := r.Ready(); len(rd.Batches) != 1 || rd.Batches[0].From != (Pos{StreamSeq: 3, ChangeSeq: 3}) {
		t.Fatalf("stale Advance dropped new work: %+v", rd.Batches)
	}
}

func TestConfigDefaultsDoNotMutate(t *testing.T) {
	cfg := Config{Peer: "b"}
	r, err := NewReplicator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxBatch != 0 || r.cfg != (Config{Peer: "b", MaxBatch: 128, MaxReorder: 64, GapTimeout: 10, ReReadTimeout: 50}) {
		t.Fatalf("config %+v / %+v", cfg, r.cfg)
	}
}

// FuzzDeliver feeds arbitrary events: the core must never panic, and the
// batches it hands out must stay contiguous per partition.
func FuzzDeliver(f *testing.F) {
	f.Add([]byte{0, 1, 1, 1, 0, 2, 2, 0, 3, 5, 4, 2, 9, 9})
	f.Fuzz(func(t *testing.T, ops []byte) {
		r, _ := NewReplicator(Config{Peer: "b", MaxReorder: 2, GapTimeout: 2, ReReadTimeout: 3})
		_ = r.Restore(map[int]Pos{0: {StreamSeq: 1, ChangeSeq: 1}, 1: {StreamSeq: 1, ChangeSeq: 1}})
		end := map[int]Pos{0: {StreamSeq: 1, ChangeSeq: 1}, 1: {StreamSeq: 1, ChangeSeq: 1}}
		for i := 0; i+3 < len(ops); i += 4 {
			p, seq, cs := int(ops[i+1]%3)-1+int(ops[i+1]/200), uint64(ops[i+2]), uint64(ops[i+3])
			switch ops[i] % 5 {
			case 0, 1:
				o := "b"
				if ops[i]%2 == 1 {
					o = "c"
				}
				_ = r.Deliver(rec(max(p, 0), seq, cs, o))
			case 2:
				r.Tick()
			case 3:
				r.Trimmed(p, seq)
			case 4:
				_ = r.Applied(p, seq)
			}
			rd := r.Ready()
			for _, b := range rd.Batches {
				if b.From != end[b.Partition] && end[b.Partition] != (Pos{}) {
					t.Fatalf("batch from %v, previous ended at %v", b.From, end[b.Partition])
				}
				end[b.Partition] = b.Position
			}
			r.Advance(rd)
		}
	})
}
