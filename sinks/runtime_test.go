package sinks

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// restartingTarget reports handler restarts through the runtime's hook.
type restartingTarget struct {
	scripted
	hook func()
}

func (r *restartingTarget) SetHandlerRestartHook(f func()) { r.hook = f }

// A Runtime runs several consumers and serves their status as JSON: state
// (running, disabled, failing), position, last error; its metrics carry
// the consumer label.
func TestRuntimeStatusAndMetrics(t *testing.T) {
	e := newEnv(t, 1, nil)
	okT := &restartingTarget{scripted: scripted{t: t}}
	badT := &scripted{t: t, script: func(int, *Batch) (Result, error) { return Result{}, errFunction }}
	offT := &scripted{t: t}
	off := mapping("off")
	off.Enabled = false
	if _, err := NewRuntime(RuntimeConfig{JetStream: e.js, Region: testRegion, Consumers: []ConsumerSpec{
		{Mapping: mapping("x"), Target: okT}, {Mapping: mapping("x"), Target: okT},
	}}); err == nil || !strings.Contains(err.Error(), "used by two consumers") {
		t.Fatalf("duplicate names: %v", err)
	}
	rt, err := NewRuntime(RuntimeConfig{JetStream: e.js, Region: testRegion, Registerer: e.reg, Logger: testLogger(),
		Consumers: []ConsumerSpec{{Mapping: mapping("ok"), Target: okT}, {Mapping: mapping("bad"), Target: badT}, {Mapping: off, Target: offT}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e.put("k", "v", "")
	okT.waitValues("v")
	okT.hook()
	badT.waitCalls(2)
	srv := httptest.NewServer(rt)
	defer srv.Close()
	var st StatusResponse
	eventually(t, 5*time.Second, "status", func() bool {
		resp, err := http.Get(srv.URL + StatusPath)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return len(st.Consumers) == 3 && len(st.Consumers[0].Shards) == 1 &&
			sameMessage(t, st.Consumers[0].Shards[0].SequenceNumber, okT.delivered()[0].seq) && st.Consumers[2].State == StateDisabled
	})
	states := map[string]ConsumerStatus{}
	for _, c := range st.Consumers {
		states[c.Name] = c
	}
	if states["ok"].State != StateRunning || states["bad"].State != StateFailing || states["off"].State != StateDisabled {
		t.Fatalf("states %+v", st.Consumers)
	}
	if states["bad"].LastError != errFunction.Error() || states["ok"].LastError != "" || states["ok"].StreamARN == "" {
		t.Fatalf("status %+v", st.Consumers)
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	if !okT.closed || !badT.closed {
		t.Errorf("targets not closed by Runtime.Close")
	}
	if n := testutil.ToFloat64(HandlerRestarts(e.reg, "ok")); n != 1 {
		t.Errorf("handler_restarts_total{consumer=ok} %v, want 1", n)
	}
	for _, name := range []string{"godwit_sink_iterator_age_seconds", "godwit_sink_batches_total", "godwit_sink_records_total",
		"godwit_sink_invocations_total", "godwit_sink_retries_total", "godwit_sink_bisects_total",
		"godwit_sink_dead_lettered_records_total", "godwit_sink_filtered_records_total", "godwit_sink_handler_restarts_total"} {
		if n, err := testutil.GatherAndCount(e.reg, name); err != nil || n == 0 {
			t.Errorf("metric %s: %d series, %v", name, n, err)
		}
	}
	if n := testutil.ToFloat64(rt.Consumers()[1].m.invocations.WithLabelValues(outcomeFunctionError)); n < 2 {
		t.Errorf("bad consumer's function_error invocations %v", n)
	}
}

// Every Mapping problem is reported at once with AWS's field names.
func TestMappingValidate(t *testing.T) {
	m := Mapping{Name: "bad name", BatchSize: 10001, MaximumRecordAgeInSeconds: 0, ParallelizationFactor: 2, TumblingWindowInSeconds: 10,
		OnFailureDestination: "nats:a b", FilterPatterns: []string{"[]"}}
	err := m.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"Name:", "Table: is required", "StartingPosition: is required", "BatchSize: 10001",
		"MaximumRecordAgeInSeconds: 0", "TumblingWindowInSeconds: cannot be combined", "DestinationConfig.OnFailure.Destination:",
		"FilterCriteria: filter 1:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	d := DefaultMapping()
	d.Name, d.Table, d.StartingPosition = "ok", "T", Latest
	if err := d.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
