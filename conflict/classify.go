package conflict

// Outcome is what last-writer-wins does with a replicated change, and
// whether that overrode a concurrent write (a conflict).
type Outcome int

const (
	// Applied: the incoming version is newer than the stored one and was
	// made over it (or over something newer than it): ordinary replication.
	Applied Outcome = iota
	// Stale: the incoming version is the stored one (a replay) or one the
	// stored version was made over: nothing to do, no conflict.
	Stale
	// RemoteWon: the incoming version is newer and was made without seeing
	// the stored one, which it overwrites: a conflict the remote write won.
	RemoteWon
	// RemoteLost: the incoming version is older and the stored one was made
	// without seeing it: a conflict the remote write lost (it is discarded).
	RemoteLost
)

func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Stale:
		return "stale"
	case RemoteWon:
		return "remote-won"
	case RemoteLost:
		return "remote-lost"
	}
	return "unknown"
}

// Applies reports whether the incoming change is written.
func (o Outcome) Applies() bool { return o == Applied || o == RemoteWon }

// Conflict reports whether last-writer-wins overrode a concurrent write.
func (o Outcome) Conflict() bool { return o == RemoteWon || o == RemoteLost }

// Stamp is a stored or incoming version together with the version it was
// made over (Prev): the item's or tombstone's version that the write
// replaced in the region that made it, the zero Version for a write over
// nothing. Prev is carried unchanged when a version is replicated, so it is
// a property of the version, the same in every region. PrevKnown is false
// for data written before previous versions were kept.
type Stamp struct {
	Version   Version
	Prev      Version
	PrevKnown bool
}

// Classify decides what last-writer-wins does with an incoming change
// (its version and the version it was made over) given the stored one
// (zero Version when the key holds neither item nor tombstone), and whether
// that is a conflict.
//
// Whether a change "saw" another is judged on the chain of versions each
// write was made over: a write's version is greater than its Prev (the HLC
// and NextAfter guarantee it), so every version in a chain is greater than
// the ones before it. Hence, with S stored and I incoming:
//
//   - I == S: a replay. Stale.
//   - I > S (I is written):
//   - S is zero: nothing is overwritten. Applied.
//   - S == I.Prev: I was made over S. Applied.
//   - S > I.Prev: S is not in I's chain (everything there is ≤ I.Prev),
//     and S < I so S did not see I either: concurrent. RemoteWon. Exact.
//   - S < I.Prev: I was made over a version newer than ours that has not
//     reached us (yet), e.g. relayed through a third region. Whether that
//     one saw S is unknown from here; counted as Applied, so a conflict is
//     never reported that was not one, and the region that received the
//     concurrent pair in the other order reports it.
//   - I < S (I is discarded):
//   - S's Prev unknown: Stale (no claim made).
//   - I == S.Prev: S was made over I. Stale.
//   - I > S.Prev: I is not in S's chain, and I < S so I did not see S:
//     concurrent. RemoteLost. Exact.
//   - I < S.Prev: S was made over a newer version than I, which most
//     likely descends from I (a late or relayed copy). Stale, as above.
//
// So every reported conflict is real; conflicts whose chains are longer
// than one hop and arrive out of order may go unreported in one region
// (never in both when each side's write reaches the other directly).
func Classify(stored, incoming Stamp) Outcome {
	s, i := stored.Version, incoming.Version
	switch c := i.Compare(s); {
	case c == 0:
		return Stale
	case c > 0:
		if s.IsZero() || !incoming.PrevKnown || s.Compare(incoming.Prev) <= 0 {
			return Applied
		}
		return RemoteWon
	default:
		if !stored.PrevKnown || i.Compare(stored.Prev) <= 0 {
			return Stale
		}
		return RemoteLost
	}
}
