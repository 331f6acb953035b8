package globaltables

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nats-io/nats.go"
)

// VerifyRegion is one region to compare: its name and a connection to its
// NATS (where its DigestServer listens).
type VerifyRegion struct {
	Name string
	Conn *nats.Conn
}

// VerifyConfig configures Verify.
type VerifyConfig struct {
	// Table is the table to compare. Required.
	Table string
	// Regions are the replicas to compare, at least two. Required.
	Regions []VerifyRegion
	// Buckets is the number of digest buckets per partition. Default 64.
	Buckets int
	// Settle is how long Verify waits before it re-checks the keys that
	// differed, so that changes still replicating are not reported as
	// divergence: a key is reported only if it differs twice. Default 2s.
	Settle time.Duration
	// Timeout bounds one request to a region. Default 30s.
	Timeout time.Duration
}

// Validate reports every problem with c at once.
func (c VerifyConfig) Validate() error {
	var errs []error
	if c.Table == "" {
		errs = append(errs, errors.New("globaltables: verify Table is required"))
	}
	if len(c.Regions) < 2 {
		errs = append(errs, fmt.Errorf("globaltables: verify needs at least two regions, got %d", len(c.Regions)))
	}
	seen := map[string]bool{}
	for _, r := range c.Regions {
		if r.Name == "" || r.Conn == nil {
			errs = append(errs, errors.New("globaltables: verify region needs a name and a connection"))
		}
		if seen[r.Name] {
			errs = append(errs, fmt.Errorf("globaltables: verify region %s given twice", r.Name))
		}
		seen[r.Name] = true
	}
	if c.Buckets < 0 || c.Buckets > 1<<16 {
		errs = append(errs, fmt.Errorf("globaltables: verify Buckets %d out of range 1..65536", c.Buckets))
	}
	if c.Settle < 0 || c.Timeout < 0 {
		errs = append(errs, errors.New("globaltables: verify Settle and Timeout must not be negative"))
	}
	return errors.Join(errs...)
}

// KeyState is one region's state of a differing key.
type KeyState struct {
	// Present is false when the region holds neither item nor tombstone.
	Present bool            `json:"present"`
	Deleted bool            `json:"deleted,omitempty"` // a tombstone
	Version ConflictVersion `json:"version"`
	Hash    string          `json:"hash,omitempty"`
}

// KeyDiff is a key whose replicas differ.
type KeyDiff struct {
	Key     json.RawMessage     `json:"key"`
	Regions map[string]KeyState `json:"regions"`
}

// VerifyReport is Verify's answer.
type VerifyReport struct {
	Table      string   `json:"table"`
	Regions    []string `json:"regions"`
	Partitions int      `json:"partitions"`
	// Entries counts each region's items and tombstones.
	Entries map[string]int `json:"entries"`
	// Identical is true when no key differs.
	Identical bool `json:"identical"`
	// Differing lists the keys that differed at both checks, sorted.
	Differing []KeyDiff `json:"differing"`
}

// Verify compares a table's replicas: per partition, each region's bucket
// digests; for buckets that differ, their keys; and after Settle, those
// keys' buckets again. Items compare by key, version and content;
// tombstones by version. A tombstone in one region and nothing in another
// is not a difference: tombstones are collected on each region's own
// schedule.
func Verify(ctx context.Context, cfg VerifyConfig) (*VerifyReport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Buckets == 0 {
		cfg.Buckets = 64
	}
	if cfg.Settle == 0 {
		cfg.Settle = 2 * time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	v := &verifier{cfg: cfg}
	rep := &VerifyReport{Table: cfg.Table, Entries: map[string]int{}}
	for _, r := range cfg.Regions {
		rep.Regions = append(rep.Regions, r.Name)
	}
	// Partition counts must agree (replicas are created alike).
	first, err := v.digests(ctx, 0)
	if err != nil {
		return nil, err
	}
	parts := first[0].Partitions
	for i, d := range first {
		if d.Partitions != parts {
			return nil, fmt.Errorf("globaltables: %s has %d partitions of %s, %s has %d",
				cfg.Regions[i].Name, d.Partitions, cfg.Table, cfg.Regions[0].Name, parts)
		}
	}
	rep.Partitions = parts
	type pb struct{ p, b int }
	var suspect []pb
	for p := 0; p < parts; p++ {
		ds := first
		if p > 0 {
			if ds, err = v.digests(ctx, p); err != nil {
				return nil, err
			}
		}
		for i, d := range ds {
			if len(d.Buckets) != cfg.Buckets {
				return nil, fmt.Errorf("globaltables: %s answered %d buckets, asked %d", cfg.Regions[i].Name, len(d.Buckets), cfg.Buckets)
			}
			for _, b := range d.Buckets {
				rep.Entries[cfg.Regions[i].Name] += b.N
			}
		}
		for b := 0; b < cfg.Buckets; b++ {
			for i := 1; i < len(ds); i++ {
				if ds[i].Buckets[b] != ds[0].Buckets[b] {
					suspect = append(suspect, pb{p, b})
					break
				}
			}
		}
	}
	diffs := map[string]KeyDiff{}
	for _, s := range suspect {
		d, err := v.bucketDiffs(ctx, s.p, s.b)
		if err != nil {
			return nil, err
		}
		for k, kd := range d {
			diffs[k] = kd
		}
	}
	if len(diffs) > 0 {
		// NB: re-check once after the changes in flight had time to land.
		t := time.NewTimer(cfg.Settle)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		again := map[string]KeyDiff{}
		for _, s := range suspect {
			d, err := v.bucketDiffs(ctx, s.p, s.b)
			if err != nil {
				return nil, err
			}
			for k, kd := range d {
				if _, ok := diffs[k]; ok {
					again[k] = kd
				}
			}
		}
		diffs = again
	}
	keys := make([]string, 0, len(diffs))
	for k := range diffs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rep.Differing = []KeyDiff{}
	for _, k := range keys {
		rep.Differing = append(rep.Differing, diffs[k])
	}
	rep.Identical = len(rep.Differing) == 0
	return rep, nil
}

type verifier struct {
	cfg VerifyConfig
}

// digests asks every region for partition p's bucket digests.
func (v *verifier) digests(ctx context.Context, p int) ([]*DigestReply, error) {
	out := make([]*DigestReply, len(v.cfg.Regions))
	for i, r := range v.cfg.Regions {
		rep, err := v.request(ctx, r, DigestRequest{Op: "digest", Partition: p})
		if err != nil {
			return nil, err
		}
		out[i] = rep
	}
	return out, nil
}

// bucketDiffs lists the keys of one bucket whose regions' states differ,
// by the key's JSON.
func (v *verifier) bucketDiffs(ctx context.Context, p, b int) (map[string]KeyDiff, error) {
	all := map[string]KeyDiff{}
	for _, r := range v.cfg.Regions {
		for off := 0; ; {
			rep, err := v.request(ctx, r, DigestRequest{Op: "keys", Partition: p, Bucket: b, Offset: off})
			if err != nil {
				return nil, err
			}
			for _, e := range rep.Entries {
				kd, ok := all[string(e.Key)]
				if !ok {
					kd = KeyDiff{Key: e.Key, Regions: map[string]KeyState{}}
					all[string(e.Key)] = kd
				}
				kd.Regions[r.Name] = KeyState{Present: true, Deleted: e.Deleted, Version: e.Version, Hash: e.H}
			}
			off += len(rep.Entries)
			if !rep.More || len(rep.Entries) == 0 {
				break
			}
		}
	}
	out := map[string]KeyDiff{}
	for k, kd := range all {
		for _, r := range v.cfg.Regions {
			if _, ok := kd.Regions[r.Name]; !ok {
				kd.Regions[r.Name] = KeyState{}
			}
		}
		if differs(kd, v.cfg.Regions) {
			out[k] = kd
		}
	}
	return out, nil
}

// differs reports whether a key's states differ between regions: items by
// hash; a tombstone and nothing count as the same (deleted); tombstones
// differ by version.
func differs(kd KeyDiff, regions []VerifyRegion) bool {
	var ref *KeyState
	for _, r := range regions {
		s := kd.Regions[r.Name]
		if ref == nil {
			ref = &s
			continue
		}
		refLive, live := ref.Present && !ref.Deleted, s.Present && !s.Deleted
		switch {
		case refLive != live:
			return true
		case live && ref.Hash != s.Hash:
			return true
		case !live && ref.Deleted && s.Deleted && ref.Hash != s.Hash:
			return true
		case !live && !ref.Deleted && s.Deleted:
			ref = &s // compare later tombstones with this one
		}
	}
	return false
}

func (v *verifier) request(ctx context.Context, r VerifyRegion, req DigestRequest) (*DigestReply, error) {
	req.V, req.Table, req.Buckets = digestProtoVersion, v.cfg.Table, v.cfg.Buckets
	data, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, v.cfg.Timeout)
	defer cancel()
	m, err := r.Conn.RequestWithContext(rctx, DigestSubject(r.Name), data)
	if err != nil {
		return nil, fmt.Errorf("globaltables: ask %s for digests: %w", r.Name, err)
	}
	var rep DigestReply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		return nil, fmt.Errorf("globaltables: %s's digest reply: %w", r.Name, err)
	}
	if rep.Error != "" {
		return nil, fmt.Errorf("globaltables: %s: %s", r.Name, rep.Error)
	}
	return &rep, nil
}
