// Package conflict decides which of two versions of an item wins when regions
// write it concurrently: a hybrid logical clock stamps every local write with
// a Version, and last-writer-wins compares Versions (wall time, then logical
// counter, then region id), so every region decides the same way.
//
//	clk := conflict.NewClock("us-east-1", conflict.SystemClock{}, 500*time.Millisecond)
//	v := clk.Now()                 // stamp a local write
//	err := clk.Update(remote)      // observe a replicated version
//	if incoming.After(stored) { ... apply ... }
//
// The package imports nothing of godwit's and never reads time.Now itself:
// the physical clock is injected.
package conflict
