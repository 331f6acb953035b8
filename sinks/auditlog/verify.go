package auditlog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Problem is one place where the log does not verify.
type Problem struct {
	// File is the segment (or head file) name; Line its 1-based line, 0
	// for a problem with a whole file; Seq the entry's seq when known.
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	Seq  uint64 `json:"seq,omitempty"`
	Msg  string `json:"msg"`
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	if p.Seq > 0 {
		fmt.Fprintf(&b, " (seq %d)", p.Seq)
	}
	b.WriteString(": ")
	b.WriteString(p.Msg)
	return b.String()
}

// Report is what Verify found.
type Report struct {
	// Segments and Entries are the segment files and entries read.
	Segments int `json:"segments"`
	Entries  int `json:"entries"`
	// LastSeq and LastHash are the last entry's.
	LastSeq  uint64 `json:"lastSeq"`
	LastHash string `json:"lastHash"`
	// HeadSeq is the seq the head file records (0 without one). It may
	// lag LastSeq by the batch a crash interrupted between the segment's
	// fsync and the head's.
	HeadSeq uint64 `json:"headSeq"`
	// Problems are every place the log does not verify, in log order.
	Problems []Problem `json:"problems"`
}

// OK reports whether the log verified.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Verify checks the whole log in dir: every entry's own hash, the chain
// of prev hashes and seqs across segments (an edited, removed, reordered,
// truncated or inserted entry breaks it where it happened), segment
// numbering (a removed or renamed segment), and the head file (entries
// removed from the end). The error is for a log that cannot be read at
// all; a log that reads but does not verify has Report.Problems.
//
// After a problem the check resynchronises on the next entry that
// decodes, so each independent break is reported once where it is.
func Verify(dir string) (Report, error) {
	var rep Report
	segs, err := listSegments(dir)
	if err != nil {
		return rep, fmt.Errorf("auditlog: %w", err)
	}
	h, hasHead, herr := readHead(dir)
	if herr != nil {
		rep.Problems = append(rep.Problems, Problem{File: headName, Msg: herr.Error()})
	}
	rep.HeadSeq = h.Seq
	headSeen := false
	prev, seq := GenesisHash, uint64(0) // expected prev and the previous seq; "" / 0: unknown
	lastFile, lastLine := "", 0
	want := 1
	for si, s := range segs {
		rep.Segments++
		if s.n != want {
			msg := fmt.Sprintf("segment %s missing", segmentName(want))
			if s.n-want > 1 {
				msg = fmt.Sprintf("segments %s to %s missing", segmentName(want), segmentName(s.n-1))
			}
			rep.Problems = append(rep.Problems, Problem{File: s.name, Msg: msg + " (removed or renamed)"})
		}
		want = s.n + 1
		data, err := os.ReadFile(filepath.Join(dir, s.name))
		if err != nil {
			return rep, fmt.Errorf("auditlog: %w", err)
		}
		if len(data) == 0 && si != len(segs)-1 {
			rep.Problems = append(rep.Problems, Problem{File: s.name, Msg: "empty segment before the last one (its entries were removed)"})
		}
		line := 0
		for len(data) > 0 {
			line++
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				rep.Problems = append(rep.Problems, Problem{File: s.name, Line: line, Seq: next(seq),
					Msg: "truncated entry (no end of line): the file was cut here"})
				prev, seq = "", 0
				break
			}
			raw := data[:i]
			data = data[i+1:]
			e, derr := decodeLine(raw)
			if derr != nil {
				p := Problem{File: s.name, Line: line, Seq: e.Seq, Msg: "entry does not verify: " + strings.TrimPrefix(derr.Error(), "auditlog: bad entry: ") + " (edited)"}
				if p.Seq == 0 {
					p.Seq = next(seq)
				}
				rep.Problems = append(rep.Problems, p)
				if errors.Is(derr, errBadLine) && e.Hash != "" && (e.Seq != 0 || seq != 0) {
					// Resynchronise: the next entry should link to the hash
					// this one claims, and follow it in seq by position.
					prev = e.Hash
					if seq != 0 {
						seq++
					} else {
						seq = e.Seq
					}
				} else {
					prev, seq = "", 0
				}
				rep.Entries++
				continue
			}
			var msgs []string
			if prev != "" && e.Prev != prev {
				msgs = append(msgs, fmt.Sprintf("prev %s is not the previous entry's hash %s", short(e.Prev), short(prev)))
			}
			if seq != 0 && e.Seq != seq+1 {
				msgs = append(msgs, fmt.Sprintf("seq %d follows seq %d", e.Seq, seq))
			} else if prev == GenesisHash && seq == 0 && e.Seq != 1 {
				msgs = append(msgs, fmt.Sprintf("the log starts at seq %d", e.Seq))
			}
			if len(msgs) > 0 {
				rep.Problems = append(rep.Problems, Problem{File: s.name, Line: line, Seq: e.Seq,
					Msg: "chain broken: " + strings.Join(msgs, "; ") + " (an entry before it was removed, reordered or edited)"})
			}
			if hasHead && e.Seq == h.Seq {
				headSeen = true
				if e.Hash != h.Hash {
					rep.Problems = append(rep.Problems, Problem{File: s.name, Line: line, Seq: e.Seq,
						Msg: fmt.Sprintf("hash %s differs from the %s's %s (the log was rewritten)", short(e.Hash), headName, short(h.Hash))})
				}
			}
			prev, seq = e.Hash, e.Seq
			rep.Entries++
			rep.LastSeq, rep.LastHash = e.Seq, e.Hash
			lastFile, lastLine = s.name, line
		}
	}
	switch {
	case herr != nil:
	case !hasHead && rep.Entries > 0:
		rep.Problems = append(rep.Problems, Problem{File: headName, Msg: "head file missing (removed)"})
	case hasHead && h.Seq > rep.LastSeq:
		where := "the log is empty"
		if lastFile != "" {
			where = fmt.Sprintf("the log ends at seq %d (%s:%d)", rep.LastSeq, lastFile, lastLine)
		}
		rep.Problems = append(rep.Problems, Problem{File: h.Segment, Seq: rep.LastSeq + 1,
			Msg: fmt.Sprintf("%s but %s records seq %d: entries from seq %d on were removed", where, headName, h.Seq, rep.LastSeq+1)})
	case hasHead && h.Seq > 0 && !headSeen:
		rep.Problems = append(rep.Problems, Problem{File: headName, Seq: h.Seq, Msg: fmt.Sprintf("no entry has the head's seq %d", h.Seq)})
	}
	return rep, nil
}

func next(seq uint64) uint64 {
	if seq == 0 {
		return 0
	}
	return seq + 1
}
