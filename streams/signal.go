package streams

import (
	"sync"
	"sync/atomic"
)

// pubSignal tells readers in the same process that a partition's subject
// has a new record in JetStream: the publisher fires it when JetStream
// acknowledges one of the partition's records (so a read that follows
// sees it). A reader notes the generation before it reads and, finding
// nothing, waits on the channel unless the generation moved meanwhile.
//
// Firing costs an atomic add and a load while nobody waits; a channel is
// made (and closed by the next fire) only for a waiting reader.
type pubSignal struct {
	gen atomic.Uint64
	ch  atomic.Pointer[chan struct{}]
}

// fire records a new record and wakes every waiter.
func (s *pubSignal) fire() {
	s.gen.Add(1)
	if p := s.ch.Load(); p != nil && s.ch.CompareAndSwap(p, nil) {
		close(*p)
	}
}

// generation is the number of fires so far.
func (s *pubSignal) generation() uint64 { return s.gen.Load() }

// wait returns a channel closed by the next fire after gen, already
// closed if one happened since.
func (s *pubSignal) wait(gen uint64) <-chan struct{} {
	for {
		p := s.ch.Load()
		if p == nil {
			c := make(chan struct{})
			if !s.ch.CompareAndSwap(nil, &c) {
				continue
			}
			p = &c
		}
		// NB: checked after the channel is in place, so a fire between
		// the caller's read and now is never missed.
		if s.gen.Load() != gen {
			return closedChan
		}
		return *p
	}
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// pubSignals holds a pubSignal per (table id, partition), made on first use
// by either the publisher or a reader.
type pubSignals struct {
	mu sync.Mutex
	m  map[pubKey]*pubSignal
}

func (r *pubSignals) get(tableID uint32, part int) *pubSignal {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[pubKey]*pubSignal{}
	}
	k := pubKey{tableID, part}
	s := r.m[k]
	if s == nil {
		s = &pubSignal{}
		r.m[k] = s
	}
	return s
}

// PublishSignal is how a reader in the publisher's process (the Streams
// API) learns that a partition has new records in JetStream without
// polling it. Generation returns a number to note before reading the
// partition; Wait returns a channel that is closed once JetStream has
// acknowledged a record of the partition after that generation (at once
// if one was acknowledged since).
type PublishSignal interface {
	Generation(tableID uint32, partition int) uint64
	Wait(tableID uint32, partition int, gen uint64) <-chan struct{}
}

var _ PublishSignal = (*Publisher)(nil)

// Generation implements PublishSignal.
func (p *Publisher) Generation(tableID uint32, partition int) uint64 {
	return p.signals.get(tableID, partition).generation()
}

// Wait implements PublishSignal.
func (p *Publisher) Wait(tableID uint32, partition int, gen uint64) <-chan struct{} {
	return p.signals.get(tableID, partition).wait(gen)
}
