package globaltables

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/godwit-db/godwit/engine"
)

// TestScripts runs the scripts under testdata/. Commands:
//
//	new peer=R [max-batch=N] [max-reorder=N|no-reorder] [gap-timeout=N] [reread-timeout=N]
//	restore            input lines: p=P seq=S cseq=C
//	deliver            input lines: p=P seq=S cseq=C [first=F] [origin=R] [created=T]
//	tick [n=N]
//	trimmed p=P first=S
//	trimmed-change p=P first=C
//	applied p=P seq=S
//	ready              prints the Ready, then Advances it
//	status
func TestScripts(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		var r *Replicator
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			args := map[string]string{}
			for _, a := range d.CmdArgs {
				args[a.Key] = strings.Join(a.Vals, ",")
			}
			num := func(k string) int {
				v, err := strconv.Atoi(args[k])
				if args[k] != "" && err != nil {
					d.Fatalf(t, "%s: %v", k, err)
				}
				return v
			}
			switch d.Cmd {
			case "new":
				_, noReorder := args["no-reorder"]
				var err error
				r, err = NewReplicator(Config{Peer: args["peer"], MaxBatch: num("max-batch"), MaxReorder: num("max-reorder"),
					NoReorder: noReorder, GapTimeout: num("gap-timeout"), ReReadTimeout: num("reread-timeout")})
				if err != nil {
					return "error: " + err.Error()
				}
				return "ok"
			case "restore":
				pos := map[int]Pos{}
				for _, l := range lines(d.Input) {
					kv := fields(t, d, l)
					pos[kv.int("p")] = Pos{StreamSeq: uint64(kv.int("seq")), ChangeSeq: uint64(kv.int("cseq"))}
				}
				if err := r.Restore(pos); err != nil {
					return "error: " + err.Error()
				}
				return "ok"
			case "deliver":
				var out []string
				for _, l := range lines(d.Input) {
					kv := fields(t, d, l)
					rec := scriptRecord(kv)
					if err := r.Deliver(rec); err != nil {
						out = append(out, "error: "+err.Error())
					}
				}
				if len(out) == 0 {
					return "ok"
				}
				return strings.Join(out, "\n")
			case "tick":
				n := max(num("n"), 1)
				for range n {
					r.Tick()
				}
				return fmt.Sprintf("ready=%t", r.HasReady())
			case "trimmed":
				r.Trimmed(num("p"), uint64(num("first")))
				return fmt.Sprintf("ready=%t", r.HasReady())
			case "trimmed-change":
				r.TrimmedChange(num("p"), uint64(num("first")))
				return fmt.Sprintf("ready=%t", r.HasReady())
			case "applied":
				if err := r.Applied(num("p"), uint64(num("seq"))); err != nil {
					return "error: " + err.Error()
				}
				return "ok"
			case "ready":
				if !r.HasReady() {
					return "none"
				}
				rd := r.Ready()
				r.Advance(rd)
				return formatReady(rd)
			case "status":
				return formatStatus(r.Status())
			}
			d.Fatalf(t, "unknown command %s", d.Cmd)
			return ""
		})
	})
}

type kvs map[string]string

func (kv kvs) int(k string) int {
	v, _ := strconv.Atoi(kv[k])
	return v
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func fields(t *testing.T, d *datadriven.TestData, l string) kvs {
	kv := kvs{}
	for _, f := range strings.Fields(l) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			d.Fatalf(t, "bad field %q", f)
		}
		kv[k] = v
	}
	return kv
}

func scriptRecord(kv kvs) Record {
	rec := Record{Partition: kv.int("p"), Seq: uint64(kv.int("seq")), Origin: kv["origin"], FirstChangeSeq: uint64(kv.int("first"))}
	if _, nil := kv["nil"]; !nil {
		part := rec.Partition
		if _, ok := kv["cpart"]; ok {
			part = kv.int("cpart")
		}
		rec.Change = &engine.Change{Partition: part, Seq: uint64(kv.int("cseq")), Origin: kv["corigin"], CreatedAt: int64(kv.int("created"))}
	}
	return rec
}

func fmtPos(p Pos) string { return fmt.Sprintf("%d/%d", p.StreamSeq, p.ChangeSeq) }

func fmtRecs(rs []Record) string {
	var s []string
	for _, r := range rs {
		s = append(s, fmt.Sprintf("%d/%d@%s", r.Seq, r.Change.Seq, r.origin()))
	}
	return "[" + strings.Join(s, " ") + "]"
}

func formatReady(rd Ready) string {
	var b strings.Builder
	for _, x := range rd.Batches {
		fmt.Fprintf(&b, "batch p=%d %s..%s apply=%s skip=%s\n", x.Partition, fmtPos(x.From), fmtPos(x.Position), fmtRecs(x.Apply), fmtRecs(x.Skipped))
	}
	for _, x := range rd.ReReads {
		fmt.Fprintf(&b, "reread p=%d after=%d: %s\n", x.Partition, x.After, x.Reason)
	}
	if x := rd.Resync; x != nil {
		fmt.Fprintf(&b, "resync p=%d after=%d first=%d: %s\n", x.Partition, x.After, x.FirstAvailable, x.Reason)
	}
	b.WriteString(formatCounters(rd.Counters))
	return b.String()
}

func formatCounters(c Counters) string {
	return fmt.Sprintf("counters handed=%d applied=%d skipped=%d dups=%d gaps=%d rereads=%d resyncs=%d invalid=%d",
		c.Handed, c.Applied, c.SkippedLoop, c.Duplicates, c.Gaps, c.ReReads, c.Resyncs, c.Invalid)
}

func formatStatus(s Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "peer=%s resyncing=%t\n", s.Peer, s.Resyncing)
	for _, id := range slices.Sorted(maps.Keys(s.Partitions)) {
		p := s.Partitions[id]
		fmt.Fprintf(&b, "p=%d applied=%s accepted=%s buffered=%d inflight=%d reread=%t latest=%d\n",
			id, fmtPos(p.Applied), fmtPos(p.Accepted), p.Buffered, p.InFlight, p.ReRead, p.LatestOriginWrite)
	}
	b.WriteString(formatCounters(s.Counters))
	return b.String()
}
