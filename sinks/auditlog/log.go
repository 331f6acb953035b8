package auditlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/godwit-db/godwit/sinks"
)

// ErrTampered: the log on disk is not one this package wrote (an entry
// does not verify, or the log is shorter than its head file says). The
// Log refuses to append to it; `godwit audit verify DIR` says where.
var ErrTampered = errors.New("auditlog: log does not verify")

// Config configures a Log.
type Config struct {
	// Dir holds the segments and the head file; created if missing.
	// Required.
	Dir string
	// MaxBytes starts a new segment when the next entry would take the
	// current one past it. Default 64 MiB.
	MaxBytes int64
	// MaxAge starts a new segment for an entry appended MaxAge or more
	// after the current segment's first entry. Default 24h.
	MaxAge time.Duration
	// Now is the clock for entry times and MaxAge. Default time.Now.
	Now func() time.Time
	// Logger receives the target's logs. Default a null logger.
	Logger hclog.Logger
}

// DefaultConfig returns a Config with every default filled in but Dir.
func DefaultConfig() Config {
	return Config{MaxBytes: 64 << 20, MaxAge: 24 * time.Hour}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxBytes == 0 {
		c.MaxBytes = d.MaxBytes
	}
	if c.MaxAge == 0 {
		c.MaxAge = d.MaxAge
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	return c
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("auditlog: Dir is required"))
	}
	if c.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("auditlog: MaxBytes %d is negative", c.MaxBytes))
	}
	if c.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("auditlog: MaxAge %s is negative", c.MaxAge))
	}
	return errors.Join(errs...)
}

// Log is the audit-log target. Deliver calls are serialised (one file).
type Log struct {
	cfg Config
	log hclog.Logger

	mu       sync.Mutex
	seg      *os.File // current segment, nil before the first entry or while broken
	segN     int      // its number (the next segment's, when seg is nil)
	segSize  int64
	segStart time.Time // time of its first entry; zero while it is empty
	headF    *os.File
	seq      uint64 // last entry's seq
	last     string // last entry's hash
	broken   error  // set after a failure: reopen before the next append
	closed   bool
}

var _ sinks.Target = (*Log)(nil)

// New opens (creating if need be) the log in cfg.Dir and resumes its
// chain: see the package doc for what it does with a torn last line. The
// caller's Config is not modified.
func New(cfg Config) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("auditlog: %w", err)
	}
	l := &Log{cfg: cfg, log: cfg.Logger.Named("auditlog").With("dir", cfg.Dir)}
	if err := l.open(); err != nil {
		l.closeFiles()
		return nil, err
	}
	return l, nil
}

// scanSegment reads path and checks the chain inside it. It returns the
// entries' count, the first entry's time, the last entry, and the length
// of the complete lines (a torn last line lies beyond it).
func scanSegment(path string) (n int, first time.Time, last Entry, good int64, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, first, last, 0, err
	}
	for len(data[good:]) > 0 {
		i := bytes.IndexByte(data[good:], '\n')
		if i < 0 {
			break // torn
		}
		e, derr := decodeLine(data[good : good+int64(i)])
		if derr == nil && n > 0 && (e.Prev != last.Hash || e.Seq != last.Seq+1) {
			derr = errors.New("chain broken")
		}
		if derr != nil {
			return 0, first, last, 0, fmt.Errorf("%w: %s line %d: %v", ErrTampered, filepath.Base(path), n+1, derr)
		}
		if n == 0 {
			first, _ = time.Parse(time.RFC3339Nano, e.Time)
		}
		last = e
		n++
		good += int64(i) + 1
	}
	return n, first, last, good, nil
}

// open reads the directory and resumes the chain (the Log's lock held).
func (l *Log) open() error {
	dir := l.cfg.Dir
	segs, err := listSegments(dir)
	if err != nil {
		return fmt.Errorf("%w: auditlog: %w", sinks.ErrTransient, err)
	}
	h, hasHead, err := readHead(dir)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrTampered, err)
	}
	had := l.seq
	l.seq, l.last, l.segN, l.segSize, l.segStart = 0, GenesisHash, 1, 0, time.Time{}
	if len(segs) > 0 {
		cur := segs[len(segs)-1]
		path := filepath.Join(dir, cur.name)
		n, first, lastE, good, err := scanSegment(path)
		if err != nil {
			return err
		}
		if fi, err := os.Stat(path); err == nil && fi.Size() > good {
			// NB: a torn last line is a write a crash cut short; its batch
			// was never acknowledged, so it will be delivered again.
			l.log.Warn("truncating a torn last entry", "segment", cur.name, "bytes", fi.Size()-good)
			if err := os.Truncate(path, good); err != nil {
				return fmt.Errorf("%w: auditlog: truncate torn entry: %w", sinks.ErrTransient, err)
			}
		}
		l.segN, l.segSize, l.segStart = cur.n, good, first
		if n > 0 {
			l.seq, l.last = lastE.Seq, lastE.Hash
		} else if len(segs) > 1 {
			// An empty last segment (a crash right after a rotation): the
			// chain ends in the one before.
			prev := segs[len(segs)-2]
			pn, _, pl, pgood, err := scanSegment(filepath.Join(dir, prev.name))
			if err != nil {
				return err
			}
			if fi, err := os.Stat(filepath.Join(dir, prev.name)); err == nil && fi.Size() != pgood {
				return fmt.Errorf("%w: %s ends in a torn entry but is not the last segment", ErrTampered, prev.name)
			}
			if pn > 0 {
				l.seq, l.last = pl.Seq, pl.Hash
			}
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return fmt.Errorf("%w: auditlog: %w", sinks.ErrTransient, err)
		}
		l.seg = f
	}
	if hasHead && h.Seq > l.seq {
		return fmt.Errorf("%w: the log ends at seq %d but %s records seq %d: entries were removed", ErrTampered, l.seq, headName, h.Seq)
	}
	if had > 0 && l.seq < had {
		// NB: never start the chain again silently (a directory replaced
		// or emptied under us).
		return fmt.Errorf("%w: the log in %s ends at seq %d, before the %d already written", ErrTampered, dir, l.seq, had)
	}
	hf, err := os.OpenFile(filepath.Join(dir, headName), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("%w: auditlog: %w", sinks.ErrTransient, err)
	}
	l.headF = hf
	return nil
}

func (l *Log) closeFiles() {
	if l.seg != nil {
		_ = l.seg.Close()
		l.seg = nil
	}
	if l.headF != nil {
		_ = l.headF.Close()
		l.headF = nil
	}
}

// checkInPlace fails unless the open segment is still the file at its
// path and the directory is still there.
func (l *Log) checkInPlace() error {
	if l.seg == nil {
		_, err := os.Stat(filepath.Join(l.cfg.Dir, headName))
		return err
	}
	a, err := l.seg.Stat()
	if err != nil {
		return err
	}
	b, err := os.Stat(filepath.Join(l.cfg.Dir, segmentName(l.segN)))
	if err != nil {
		return err
	}
	if !os.SameFile(a, b) {
		return fmt.Errorf("%s was replaced", segmentName(l.segN))
	}
	return nil
}

// recordMeta is what an entry takes from a record's JSON.
type recordMeta struct {
	EventID      string `json:"eventID"`
	EventName    string `json:"eventName"`
	UserIdentity *struct {
		Type        string `json:"type"`
		PrincipalID string `json:"principalId"`
	} `json:"userIdentity"`
}

// Deliver appends one entry per record and fsyncs before it returns.
// Every failure is sinks.ErrTransient (a record must never be skipped).
func (l *Log) Deliver(ctx context.Context, b *sinks.Batch) (sinks.Result, error) {
	if err := ctx.Err(); err != nil {
		return sinks.Result{}, fmt.Errorf("%w: auditlog: %w", sinks.ErrTransient, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return sinks.Result{}, fmt.Errorf("%w: auditlog: closed", sinks.ErrTransient)
	}
	if l.broken != nil {
		l.closeFiles()
		if err := l.open(); err != nil {
			l.closeFiles()
			return sinks.Result{}, fmt.Errorf("%w: auditlog: reopen after %v: %w", sinks.ErrTransient, l.broken, err)
		}
		l.log.Info("reopened", "seq", l.seq)
		l.broken = nil
	}
	if err := l.checkInPlace(); err != nil {
		l.broken = err
		return sinks.Result{}, fmt.Errorf("%w: auditlog: the log is not where it was: %w", sinks.ErrTransient, err)
	}
	if err := l.append(b); err != nil {
		l.broken = err
		l.log.Error("append failed; the log is reopened before the next append", "error", err)
		return sinks.Result{}, fmt.Errorf("%w: auditlog: %w", sinks.ErrTransient, err)
	}
	return sinks.Result{}, nil
}

// append writes b's entries (the Log's lock held).
func (l *Log) append(b *sinks.Batch) error {
	now := l.cfg.Now()
	ts := formatTime(now)
	seq, last := l.seq, l.last
	var buf bytes.Buffer
	for i := range b.Records {
		r := &b.Records[i]
		var m recordMeta
		if err := json.Unmarshal(r.Event, &m); err != nil {
			return fmt.Errorf("record %s: %w", r.SequenceNumber, err)
		}
		e := Entry{V: FormatVersion, Seq: seq + 1, Time: ts, Consumer: b.Consumer, Table: b.Table, ShardID: b.ShardID,
			EventID: m.EventID, EventName: m.EventName, SequenceNumber: r.SequenceNumber, Record: r.Event, Prev: last}
		if c := r.Change; c != nil {
			e.Identity.AccessKeyID, e.Identity.OriginRegion = c.AccessKeyID, c.Origin
		}
		if m.UserIdentity != nil {
			e.Identity.Type, e.Identity.PrincipalID = m.UserIdentity.Type, m.UserIdentity.PrincipalID
		}
		line, h, err := encodeLine(e)
		if err != nil {
			return fmt.Errorf("record %s: %w", r.SequenceNumber, err)
		}
		if l.seg == nil || (l.segSize > 0 && (l.segSize+int64(len(line)) > l.cfg.MaxBytes || now.Sub(l.segStart) >= l.cfg.MaxAge)) {
			if err := l.flush(&buf); err != nil {
				return err
			}
			if err := l.rotate(); err != nil {
				return err
			}
		}
		buf.Write(line)
		if l.segSize == 0 {
			l.segStart = now
		}
		l.segSize += int64(len(line))
		seq, last = e.Seq, h
	}
	if err := l.flush(&buf); err != nil {
		return err
	}
	if _, err := l.headF.WriteAt(encodeHead(head{V: FormatVersion, Segment: segmentName(l.segN), Seq: seq, Hash: last}), 0); err != nil {
		return fmt.Errorf("write head: %w", err)
	}
	if err := l.headF.Sync(); err != nil {
		return fmt.Errorf("sync head: %w", err)
	}
	l.seq, l.last = seq, last
	return nil
}

// flush writes buf to the current segment and fsyncs it.
func (l *Log) flush(buf *bytes.Buffer) error {
	if buf.Len() == 0 {
		return nil
	}
	if _, err := l.seg.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write %s: %w", segmentName(l.segN), err)
	}
	if err := l.seg.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", segmentName(l.segN), err)
	}
	buf.Reset()
	return nil
}

// rotate closes the current segment (if any) and creates the next.
func (l *Log) rotate() error {
	n := l.segN
	if l.seg != nil {
		if err := l.seg.Close(); err != nil {
			return err
		}
		l.seg = nil
		n++
	}
	f, err := os.OpenFile(filepath.Join(l.cfg.Dir, segmentName(n)), os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("create segment: %w", err)
	}
	if err := syncDir(l.cfg.Dir); err != nil {
		_ = f.Close()
		return err
	}
	l.seg, l.segN, l.segSize, l.segStart = f, n, 0, time.Time{}
	return nil
}

// syncDir makes a file created in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// Close closes the files. Every acknowledged entry is already durable.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closeFiles()
	l.closed = true
	return nil
}

// ReadAll returns every entry of the log in dir, in order, without
// verifying the chain (use Verify for that). Meant for tools and tests.
func ReadAll(dir string) ([]Entry, error) {
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, s := range segs {
		f, err := os.Open(filepath.Join(dir, s.name))
		if err != nil {
			return nil, err
		}
		br := bufio.NewReader(f)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 && line[len(line)-1] == '\n' {
				var e Entry
				if jerr := json.Unmarshal(line, &e); jerr != nil {
					_ = f.Close()
					return nil, fmt.Errorf("auditlog: %s: %w", s.name, jerr)
				}
				out = append(out, e)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				_ = f.Close()
				return nil, err
			}
		}
		_ = f.Close()
	}
	return out, nil
}
