package globaltables

import "github.com/godwit-db/godwit/conflict"

// Decision is what the engine does with a replicated change.
type Decision int

const (
	// Skip leaves the stored item or tombstone as it is: the incoming
	// version lost, or it is the very version already stored (a replay).
	Skip Decision = iota
	// Apply writes the incoming change (put or delete), replacing what is stored.
	Apply
)

func (d Decision) String() string {
	switch d {
	case Skip:
		return "skip"
	case Apply:
		return "apply"
	}
	return "unknown"
}

// Decide is last-writer-wins (DESIGN invariant 4) for one item. incoming is
// the replicated change's version; stored is the version of the item or
// tombstone the key holds locally, and storedExists says whether there is
// one (items and tombstones alike: a tombstone is a stored version).
//
// Without a stored version the change applies. Otherwise it applies iff
// incoming is strictly newer: by wall time, then logical counter, then
// region id (bytewise), so every region decides the same for the same
// pair. An equal version is the same write seen again and is skipped, so
// applying a change twice is harmless. A zero stored version (an item from
// before versions were kept) loses to any non-zero incoming one.
func Decide(incoming, stored conflict.Version, storedExists bool) Decision {
	if !storedExists || incoming.After(stored) {
		return Apply
	}
	return Skip
}
