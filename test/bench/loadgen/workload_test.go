package main

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestParseMix(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"put", "put"},
		{"put=1", "put"},
		{" get = 3 ", "get"},
		{"put=50,get=30,query=10,update=10", "put=50,get=30,query=10,update=10"},
		{"delete,put=2", "delete=1,put=2"},
	} {
		m, err := parseMix(tc.in)
		if err != nil {
			t.Errorf("parseMix(%q): %v", tc.in, err)
			continue
		}
		if got := m.String(); got != tc.want {
			t.Errorf("parseMix(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, in := range []string{"", " ", "scan", "put=0", "put=-1", "put=x", "put=1,put=2", "put,", "=3", "put=1=2", "put=99999999999999999999"} {
		if _, err := parseMix(in); err == nil {
			t.Errorf("parseMix(%q) accepted", in)
		}
	}
}

func TestMixPickFollowsWeights(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 3))
	m, err := parseMix("put=50,get=30,query=20")
	if err != nil {
		t.Fatal(err)
	}
	var counts [numOpKinds]int
	const n = 100000
	for range n {
		counts[m.pick(r)]++
	}
	for k, want := range map[opKind]float64{opPut: 0.5, opGet: 0.3, opQuery: 0.2} {
		if got := float64(counts[k]) / n; got < want-0.01 || got > want+0.01 {
			t.Errorf("%s picked %.3f of the time, want %.2f", k, got, want)
		}
	}
	if counts[opUpdate]+counts[opDelete] != 0 {
		t.Error("picked an op that is not in the mix")
	}
}

func FuzzParseMix(f *testing.F) {
	for _, s := range []string{"put", "put=50,get=30,query=10,update=10", "x=", "=,", "put=1,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseMix(s)
		if err != nil {
			return
		}
		// A valid mix round-trips through String and picks only its ops.
		m2, err := parseMix(m.String())
		if err != nil || m2.String() != m.String() {
			t.Fatalf("round trip of %q: %q, %v", s, m2.String(), err)
		}
		r := rand.New(rand.NewPCG(1, 2))
		for range 10 {
			k := m.pick(r)
			if !strings.Contains(","+m.String()+",", ","+k.String()) {
				t.Fatalf("picked %s from %q", k, m.String())
			}
		}
	})
}

func TestAppendPadded(t *testing.T) {
	for _, tc := range []struct {
		n, width int
		want     string
	}{{0, 3, "000"}, {42, 6, "000042"}, {123456, 3, "123456"}, {7, 0, "7"}} {
		if got := string(appendPadded([]byte("x"), tc.n, tc.width)); got != "x"+tc.want {
			t.Errorf("appendPadded(%d, %d) = %q, want x%s", tc.n, tc.width, got, tc.want)
		}
	}
}

func TestParseTemplate(t *testing.T) {
	tm, err := parseTemplate(`a{{pk}}b{{sk}}{{v}}c`)
	if err != nil {
		t.Fatal(err)
	}
	got := string(tm.render(nil, 12, 3, []byte("VAL")))
	if want := "ap0000000012bs000003VALc"; got != want {
		t.Fatalf("render = %q, want %q", got, want)
	}
	for _, bad := range []string{"{{pk", "{{nope}}", "x{{}}", "{{v}}{{"} {
		if _, err := parseTemplate(bad); err == nil {
			t.Errorf("parseTemplate(%q) accepted", bad)
		}
	}
}

// attrS extracts m[name]["S"].
func attrS(t *testing.T, m map[string]map[string]string, name string) string {
	t.Helper()
	v, ok := m[name]["S"]
	if !ok {
		t.Fatalf("attribute %s missing or not S: %v", name, m)
	}
	return v
}

func TestBodiesAreValidDynamoDBJSON(t *testing.T) {
	tmpl, err := bodyTemplates("bench")
	if err != nil {
		t.Fatal(err)
	}
	ks := keyspace{n: 1000, perPK: 10}
	r := rand.New(rand.NewPCG(4, 5))
	pool := newPayloadPool(r, payloadLen(100))
	pk, sk := ks.split(987)
	val := pool.window(r)

	var put struct {
		TableName string
		Item      map[string]map[string]string
	}
	if err := json.Unmarshal(tmpl[opPut].render(nil, pk, sk, val), &put); err != nil {
		t.Fatalf("put body: %v", err)
	}
	if put.TableName != "bench" || attrS(t, put.Item, "pk") != "p0000000098" || attrS(t, put.Item, "sk") != "s000007" {
		t.Fatalf("put body has wrong keys: %+v", put)
	}
	// DynamoDB item size: attribute name lengths plus value lengths.
	size := 0
	for name, v := range put.Item {
		size += len(name) + len(v["S"])
	}
	if size != 100 {
		t.Fatalf("item size %d, want 100", size)
	}

	var get struct {
		TableName string
		Key       map[string]map[string]string
	}
	for _, k := range []opKind{opGet, opDelete} {
		if err := json.Unmarshal(tmpl[k].render(nil, pk, sk, nil), &get); err != nil {
			t.Fatalf("%s body: %v", k, err)
		}
		if len(get.Key) != 2 || attrS(t, get.Key, "pk") != "p0000000098" || attrS(t, get.Key, "sk") != "s000007" {
			t.Fatalf("%s key: %v", k, get.Key)
		}
	}

	var q struct {
		KeyConditionExpression    string
		ExpressionAttributeValues map[string]map[string]string
	}
	if err := json.Unmarshal(tmpl[opQuery].render(nil, pk, sk, nil), &q); err != nil {
		t.Fatalf("query body: %v", err)
	}
	if q.KeyConditionExpression != "pk = :p" || attrS(t, q.ExpressionAttributeValues, ":p") != "p0000000098" {
		t.Fatalf("query body: %+v", q)
	}

	var u struct {
		Key                       map[string]map[string]string
		UpdateExpression          string
		ExpressionAttributeValues map[string]map[string]string
	}
	if err := json.Unmarshal(tmpl[opUpdate].render(nil, pk, sk, val), &u); err != nil {
		t.Fatalf("update body: %v", err)
	}
	if attrS(t, u.ExpressionAttributeValues, ":v") != string(val) || u.ExpressionAttributeValues[":one"]["N"] != "1" {
		t.Fatalf("update body: %+v", u)
	}
}

func TestPayloadWindowsVary(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 7))
	p := newPayloadPool(r, 50)
	seen := map[string]bool{}
	for range 100 {
		w := p.window(r)
		if len(w) != 50 {
			t.Fatalf("window length %d", len(w))
		}
		seen[string(w)] = true
	}
	if len(seen) < 90 {
		t.Fatalf("only %d distinct payloads in 100 draws", len(seen))
	}
	if payloadLen(1) != 1 {
		t.Fatal("tiny items still carry a 1-byte payload")
	}
}

func TestValidTableName(t *testing.T) {
	for name, want := range map[string]bool{"bench": true, "a.b-c_D9": true, "ab": false, `x"y`: false, "tab le": false, strings.Repeat("a", 256): false} {
		if validTableName(name) != want {
			t.Errorf("validTableName(%q) = %v", name, !want)
		}
	}
}
