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

// pubShard is what the publisher shares about one partition with the
// readers of its process: the signal of new records and the tail cache.
type pubShard struct {
	signal pubSignal
	tail   tailCache
}

// pubShards holds a pubShard per (table id, partition), made on first use
// by either the publisher or a reader, and kept for the process's life (a
// deleted table's tail cache is emptied by its worker, see pubWorker.run).
type pubShards struct {
	mu sync.Mutex
	m  map[pubKey]*pubShard
	// newTail configures a new shard's tail cache (the Publisher's bounds).
	newTail func(*tailCache)
}

func (r *pubShards) get(tableID uint32, part int) *pubShard {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[pubKey]*pubShard{}
	}
	k := pubKey{tableID, part}
	s := r.m[k]
	if s == nil {
		s = &pubShard{}
		if r.newTail != nil {
			r.newTail(&s.tail)
		}
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
	return p.shards.get(tableID, partition).signal.generation()
}

// Wait implements PublishSignal.
func (p *Publisher) Wait(tableID uint32, partition int, gen uint64) <-chan struct{} {
	return p.shards.get(tableID, partition).signal.wait(gen)
}
