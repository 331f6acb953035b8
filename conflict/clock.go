package conflict

import (
	"fmt"
	"sync"
	"time"
)

// PhysicalClock is the wall clock a Clock reads. Production passes
// SystemClock; tests pass a ManualClock.
type PhysicalClock interface {
	Now() time.Time
}

// SystemClock reads the operating system's clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// ManualClock is a PhysicalClock that moves only when told to. Safe for
// concurrent use.
type ManualClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewManualClock returns a ManualClock reading t.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{t: t} }

// Now returns the clock's current time.
func (m *ManualClock) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.t
}

// Advance moves the clock forward by d.
func (m *ManualClock) Advance(d time.Duration) {
	m.mu.Lock()
	m.t = m.t.Add(d)
	m.mu.Unlock()
}

// Set moves the clock to t (forwards or backwards, to simulate skew).
func (m *ManualClock) Set(t time.Time) {
	m.mu.Lock()
	m.t = t
	m.mu.Unlock()
}

// Clock is a hybrid logical clock for one region. Now never returns the same
// or a smaller Version twice, even if the physical clock goes backwards, and
// after Update(remote) every later Now is greater than remote. Safe for
// concurrent use.
type Clock struct {
	region    string
	phys      PhysicalClock
	maxOffset time.Duration

	mu   sync.Mutex
	last Version
}

// ErrClockOffset is wrapped by Update when a remote version is further ahead
// of the local physical clock than the maximum offset allows.
type ErrClockOffset struct {
	Remote, Local int64
	Max           time.Duration
}

func (e *ErrClockOffset) Error() string {
	return fmt.Sprintf("conflict: remote wall time %d is %v ahead of local %d (max offset %v)",
		e.Remote, time.Duration(e.Remote-e.Local), e.Local, e.Max)
}

// NewClock returns a Clock stamping versions for region. maxOffset bounds how
// far ahead of the local physical clock a remote version may be before Update
// refuses it; 0 disables the check.
func NewClock(region string, phys PhysicalClock, maxOffset time.Duration) *Clock {
	return &Clock{region: region, phys: phys, maxOffset: maxOffset}
}

// Region is the region this clock stamps.
func (c *Clock) Region() string { return c.region }

// PhysicalNow is the injected physical clock's reading (for callers that need
// wall time consistent with the clock, e.g. TTL).
func (c *Clock) PhysicalNow() time.Time { return c.phys.Now() }

// Now returns a new Version greater than every Version this clock returned
// or observed before.
func (c *Clock) Now() Version {
	pt := c.phys.Now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	if pt > c.last.Wall {
		c.last = Version{Wall: pt, Region: c.region}
	} else {
		c.last = Version{Wall: c.last.Wall, Logical: c.last.Logical + 1, Region: c.region}
	}
	return c.last
}

// Update folds a remote Version into the clock so later local writes order
// after it. It refuses (and leaves the clock unchanged) a remote wall time
// more than maxOffset ahead of the local physical clock, so one region's bad
// clock cannot drag everyone's forward.
func (c *Clock) Update(remote Version) error {
	pt := c.phys.Now().UnixNano()
	if c.maxOffset > 0 && remote.Wall-pt > int64(c.maxOffset) {
		return &ErrClockOffset{Remote: remote.Wall, Local: pt, Max: c.maxOffset}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if remote.Wall > c.last.Wall || (remote.Wall == c.last.Wall && remote.Logical > c.last.Logical) {
		c.last = Version{Wall: remote.Wall, Logical: remote.Logical, Region: c.region}
	}
	return nil
}

// NextAfter returns a fresh local Version that is also greater than prev (the
// version a local write overwrites): a region never loses its own later write
// to an older remote one, even under clock skew.
//
// A prev more than the max offset ahead of the physical clock (a remote
// stamp from a clock running fast) is not folded into the clock: the
// result is then the smallest Version after prev for this region, and the
// clock's later stamps for other items stay near physical time.
func (c *Clock) NextAfter(prev Version) Version {
	if !prev.IsZero() {
		if c.maxOffset > 0 && prev.Wall-c.phys.Now().UnixNano() > int64(c.maxOffset) {
			return justAfter(prev, c.region)
		}
		c.mu.Lock()
		if prev.Wall > c.last.Wall || (prev.Wall == c.last.Wall && prev.Logical > c.last.Logical) {
			c.last = Version{Wall: prev.Wall, Logical: prev.Logical, Region: c.region}
		}
		c.mu.Unlock()
	}
	return c.Now()
}

// justAfter is the smallest Version of region greater than prev's wall and
// logical counter (so greater than prev whatever prev's region).
func justAfter(prev Version, region string) Version {
	if prev.Logical == ^uint32(0) {
		return Version{Wall: prev.Wall + 1, Region: region}
	}
	return Version{Wall: prev.Wall, Logical: prev.Logical + 1, Region: region}
}
