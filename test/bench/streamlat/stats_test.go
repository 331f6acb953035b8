package main

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godwit-db/godwit/test/bench/benchkit"
)

func TestItemKeyRoundTrip(t *testing.T) {
	for _, id := range []int{0, 1, 9, 10, 12345, 999999999} {
		got, ok := parseItemKey(itemKey("Labc", id), "Labc")
		if !ok || got != id {
			t.Errorf("parseItemKey(itemKey(%d)) = %d, %v", id, got, ok)
		}
	}
	for _, pk := range []string{"", "Labc", "Labc-", "Labd-1", "Labc-01", "Labc-1x", "Labc--1", "Labc-+1",
		"Labc-1234567890123", "xLabc-1", "p0000000001", "Labc-١"} {
		if id, ok := parseItemKey(pk, "Labc"); ok {
			t.Errorf("parseItemKey(%q) = %d, true; want false", pk, id)
		}
	}
}

func FuzzParseItemKey(f *testing.F) {
	f.Add("Labc-12", "Labc")
	f.Add("", "")
	f.Add("--", "-")
	f.Fuzz(func(t *testing.T, pk, nonce string) {
		id, ok := parseItemKey(pk, nonce)
		if ok && (id < 0 || itemKey(nonce, id) != pk) {
			t.Fatalf("parseItemKey(%q, %q) = %d: not the inverse of itemKey", pk, nonce, id)
		}
	})
}

func TestQuantileNearestRank(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 1000; i++ {
		s = append(s, time.Duration(i))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.5, 500}, {0.99, 990}, {0.999, 999}, {1, 1000}} {
		if got := benchkit.Quantile(s, c.q); got != c.want {
			t.Errorf("benchkit.Quantile(1..1000, %v) = %d, want %d", c.q, got, c.want)
		}
	}
	if got := benchkit.Quantile([]time.Duration{7}, 0.99); got != 7 {
		t.Errorf("quantile of one = %d, want 7", got)
	}
	if got := benchkit.Quantile(nil, 0.5); got != 0 {
		t.Errorf("quantile of none = %d, want 0", got)
	}
}

// TestSummarizeMatchesItems builds a run with known outcomes: lost records,
// failed puts whose record still arrived, records before their ack, a
// duplicate, a foreign id and a warmup. Randomized; the seed is printed.
func TestSummarizeMatchesItems(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	const total, issued, skip = 2000, 1900, 100
	ack, recv := benchkit.NewTimeline(total), benchkit.NewTimeline(total)
	var want latencySummary
	var lat []time.Duration
	for id := range issued {
		a := int64(1_000_000 + id*1000)
		switch k := r.IntN(20); {
		case k == 0: // put failed, record never came
		case k == 1: // put failed, record came anyway
			recv.Set(id, a+5)
			want.Unacked++
		case k == 2: // acknowledged, lost
			ack.Set(id, a)
			want.Acked++
			want.Lost++
		case k == 3: // record before the ack
			ack.Set(id, a)
			recv.Set(id, a-10)
			want.Acked++
			want.Received++
			want.Early++
			if id >= skip {
				lat = append(lat, 0)
			}
		default:
			d := int64(r.IntN(5_000_000))
			ack.Set(id, a)
			recv.Set(id, a+d)
			want.Acked++
			want.Received++
			if id >= skip {
				lat = append(lat, time.Duration(d))
			}
		}
	}
	recv.Set(issued+3, 42) // never issued
	recv.Set(total+5, 42)  // out of range
	want.Foreign = 2
	// A duplicate keeps the first time.
	for id := skip; id < issued; id++ {
		if first := recv.Get(id); first != 0 && ack.Get(id) != 0 {
			recv.Set(id, first+1e9)
			want.Duplicates = 1
			break
		}
	}
	slices.Sort(lat)
	want.Measured = len(lat)
	want.P50, want.P99, want.P999, want.Max = benchkit.Quantile(lat, 0.5), benchkit.Quantile(lat, 0.99), benchkit.Quantile(lat, 0.999), lat[len(lat)-1]

	got := summarize(ack, recv, issued, skip)
	got.Mean = 0
	if got != want {
		t.Fatalf("summarize:\n got %+v\nwant %+v", got, want)
	}
	if got.Lost > 0 && got.failure() == nil {
		t.Error("a run with lost records does not fail")
	}
}

func TestSummarizeCleanRunPasses(t *testing.T) {
	ack, recv := benchkit.NewTimeline(10), benchkit.NewTimeline(10)
	for id := range 10 {
		ack.Set(id, int64(100+id))
		recv.Set(id, int64(100+id+2*id))
	}
	s := summarize(ack, recv, 10, 0)
	if s.failure() != nil || s.Received != 10 || s.Max != 18 || s.P50 != 8 || s.Mean != 9 {
		t.Fatalf("clean run: %+v, failure %v", s, s.failure())
	}
	recv.Set(3, 1)
	if summarize(ack, recv, 10, 0).failure() == nil {
		t.Error("a duplicate does not fail the run")
	}
}

func TestAckRate(t *testing.T) {
	due, ack := benchkit.NewTimeline(11), benchkit.NewTimeline(11)
	for id := range 11 {
		due.Set(id, int64(1+id)*int64(time.Millisecond))
		if id != 4 {
			ack.Set(id, int64(1+id)*int64(time.Millisecond)+int64(time.Millisecond))
		}
	}
	// ids 1..10: 9 acked between due(1)=2ms and ack(10)=12ms.
	if got := benchkit.AckRate(due, ack, 1, 11); got < 899 || got > 901 {
		t.Errorf("ackRate = %v, want 900", got)
	}
	if got := benchkit.AckRate(due, ack, 5, 5); got != 0 {
		t.Errorf("ackRate of none = %v", got)
	}
}

func TestPutBodyIsValidJSON(t *testing.T) {
	b := putBody("tbl", itemKey("Lff", 7), payload(100))
	var v struct {
		TableName string
		Item      map[string]map[string]string
	}
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&v); err != nil {
		t.Fatalf("putBody: %v: %s", err, b)
	}
	if v.TableName != "tbl" || v.Item["pk"]["S"] != "Lff-7" || v.Item["sk"]["S"] != "s" || len(v.Item["v"]["S"]) != 80 {
		t.Fatalf("putBody = %s", b)
	}
}

func TestFlagValidation(t *testing.T) {
	var stderr bytes.Buffer
	_, err := parseFlags([]string{"-rate", "0", "-readers", "consumer,foo", "-table", "x", "-conns", "0"}, &stderr)
	if err == nil {
		t.Fatal("bad flags accepted")
	}
	for _, want := range []string{"-rate", `"foo"`, "-table", "-conns"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	c, err := parseFlags([]string{"-readers", "both"}, &stderr)
	if err != nil || !slices.Equal(c.readers, []string{"consumer", "api"}) {
		t.Fatalf("-readers both: %v, %v", c.readers, err)
	}
}
