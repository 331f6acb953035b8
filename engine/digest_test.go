package engine

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

func digests(t *testing.T, r *region, buckets int) [][]BucketDigest {
	t.Helper()
	info, _ := r.db.Table("glob")
	out := make([][]BucketDigest, info.Partitions)
	for p := range out {
		d, err := r.db.TableDigest("glob", p, buckets)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = d
	}
	return out
}

// diffBuckets returns the (partition, bucket) pairs whose digests differ.
func diffBuckets(a, b [][]BucketDigest) [][2]int {
	var out [][2]int
	for p := range a {
		for i := range a[p] {
			if a[p][i] != b[p][i] {
				out = append(out, [2]int{p, i})
			}
		}
	}
	return out
}

func TestTableDigestComparesReplicas(t *testing.T) {
	rs := newRegions(t, "r1", "r2")
	r1, r2 := rs[0], rs[1]
	for i := 0; i < 200; i++ {
		gtPut(t, r1, fmt.Sprintf("k%03d", i), fmt.Sprint(i))
	}
	for i := 0; i < 200; i += 7 {
		gtDelete(t, r1, fmt.Sprintf("k%03d", i))
	}
	ship(t, r1, r2, r1.pending(t))
	const buckets = 16
	d1, d2 := digests(t, r1, buckets), digests(t, r2, buckets)
	if diff := diffBuckets(d1, d2); diff != nil {
		t.Fatalf("converged replicas differ in %v", diff)
	}
	total := 0
	for p := range d1 {
		for _, b := range d1[p] {
			total += b.Count
		}
	}
	if total != 200 { // 171 items + 29 tombstones
		t.Fatalf("digests cover %d entries, want 200", total)
	}

	// An item stored in the first item value format hashes alike.
	m := r2.db.table("glob").m()
	k, _ := m.keyFromKey(gtKey("k001"))
	st, item, err := readItemStamp(r2.db.pebble, k.itemKey(m))
	if err != nil || item == nil || !st.PrevKnown {
		t.Fatalf("k001: %+v %v %v", st, item, err)
	}
	if err := r2.db.pebble.Set(k.itemKey(m), encodeItemValue(st.Version, item), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if diff := diffBuckets(d1, digests(t, r2, buckets)); diff != nil {
		t.Fatalf("item value format changed the digest: %v", diff)
	}

	// A write made in r2 only (not shipped) shows in exactly one bucket,
	// and DigestKeys lists that key with its version in both.
	gtPut(t, r2, "k005", "diverged")
	diff := diffBuckets(d1, digests(t, r2, buckets))
	if len(diff) != 1 {
		t.Fatalf("one diverging key changed buckets %v", diff)
	}
	p, b := diff[0][0], diff[0][1]
	e1, err := r1.db.DigestKeys("glob", p, b, buckets)
	if err != nil {
		t.Fatal(err)
	}
	e2, err := r2.db.DigestKeys("glob", p, b, buckets)
	if err != nil {
		t.Fatal(err)
	}
	if len(e1) != len(e2) || len(e1) != d1[p][b].Count {
		t.Fatalf("bucket lists %d and %d entries, digest counts %d", len(e1), len(e2), d1[p][b].Count)
	}
	var differing []string
	for i := range e1 {
		if e1[i].Key["pk"].S != e2[i].Key["pk"].S {
			t.Fatalf("entries out of step: %v %v", e1[i].Key, e2[i].Key)
		}
		if e1[i].Hash != e2[i].Hash {
			differing = append(differing, e1[i].Key["pk"].S)
			if e1[i].Version == e2[i].Version || e2[i].Version.Region != "r2" {
				t.Fatalf("versions %v %v", e1[i].Version, e2[i].Version)
			}
		}
	}
	if len(differing) != 1 || differing[0] != "k005" {
		t.Fatalf("differing keys %v, want [k005]", differing)
	}
	// Tombstones are listed as such.
	var tomb bool
	for _, e := range e1 {
		tomb = tomb || e.Deleted
	}
	for p := range d1 {
		for b := range d1[p] {
			es, _ := r1.db.DigestKeys("glob", p, b, buckets)
			for _, e := range es {
				tomb = tomb || e.Deleted && e.Key["pk"].S == "k007"
			}
		}
	}
	if !tomb {
		t.Fatal("no tombstone listed for k007")
	}
	if _, err := r1.db.TableDigest("glob", 0, 0); err == nil {
		t.Fatal("0 buckets accepted")
	}
	if _, err := r1.db.DigestKeys("glob", 0, buckets, buckets); err == nil {
		t.Fatal("bucket out of range accepted")
	}
}
