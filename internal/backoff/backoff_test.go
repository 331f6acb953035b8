package backoff

import (
	"context"
	"testing"
	"time"
)

func TestBackoffDoublesToLimitAndResets(t *testing.T) {
	ctx := context.Background()
	b := New(time.Microsecond, 5*time.Microsecond)
	for _, want := range []time.Duration{1, 2, 4, 5, 5} {
		if got := b.Delay(); got != want*time.Microsecond {
			t.Fatalf("Delay = %s, want %s", got, want*time.Microsecond)
		}
		if !b.Wait(ctx) {
			t.Fatal("Wait reported a done context")
		}
	}
	b.Reset()
	if got := b.Delay(); got != time.Microsecond {
		t.Fatalf("after Reset, Delay = %s, want 1µs", got)
	}
}

func TestWaitStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// NB: an hour-long delay: the test would hang if Wait did not watch ctx.
	b := New(time.Hour, time.Hour)
	if b.Wait(ctx) {
		t.Fatal("Wait on a done context reported true")
	}
	if got := b.Delay(); got != time.Hour {
		t.Fatalf("Wait on a done context moved the delay to %s", got)
	}
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep on a done context reported true")
	}
	if !Sleep(context.Background(), 0) {
		t.Fatal("Sleep(0) on a live context reported false")
	}
}
