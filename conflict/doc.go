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
// Classify tells whether a replicated change's outcome overrode a
// concurrent version (a conflict), from the stored and incoming versions
// and the versions each was made over:
//
//	o := conflict.Classify(conflict.Stamp{Version: stored, Prev: storedPrev, PrevKnown: true},
//		conflict.Stamp{Version: incoming, Prev: incomingPrev, PrevKnown: true})
//	o.Applies(); o.Conflict() // RemoteWon, RemoteLost
//
// A remote stamp further ahead of the physical clock than the max offset
// is refused by Update and not followed by NextAfter, so one fast clock
// cannot drag a region's clock forward.
//
// The package imports nothing of godwit's and never reads time.Now itself:
// the physical clock is injected.
package conflict
