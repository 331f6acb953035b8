package sinks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/godwit-db/godwit/conflict"
	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// StatusPath is where Runtime.ServeHTTP answers (GET): the consumers'
// status as JSON, {"Consumers":[ConsumerStatus...]}.
const StatusPath = "/godwit/consumers"

// RuntimeConfig configures a Runtime: the consumers and what they share.
type RuntimeConfig struct {
	// Consumers are the mappings and their targets. Names must be unique.
	Consumers []ConsumerSpec
	// JetStream, Region, Account, Bucket, Clock, Logger and Registerer are
	// passed to every consumer (see ConsumerConfig). JetStream and Region
	// are required.
	JetStream  jetstream.JetStream
	Region     string
	Account    string
	Bucket     string
	Clock      conflict.PhysicalClock
	Logger     hclog.Logger
	Registerer prometheus.Registerer
}

// ConsumerSpec is one consumer of a Runtime.
type ConsumerSpec struct {
	Mapping Mapping
	Target  Target
}

// Runtime runs several consumers. Safe for concurrent use.
type Runtime struct {
	consumers []*Consumer
	targets   []Target
}

// NewRuntime validates every consumer (all problems at once) and builds
// them; Start runs them.
func NewRuntime(cfg RuntimeConfig) (*Runtime, error) {
	var errs []error
	seen := map[string]bool{}
	rt := &Runtime{}
	for _, spec := range cfg.Consumers {
		if seen[spec.Mapping.Name] {
			errs = append(errs, fmt.Errorf("sinks: consumer %q: Name: used by two consumers", spec.Mapping.Name))
			continue
		}
		seen[spec.Mapping.Name] = true
		cc := DefaultConsumerConfig()
		cc.Mapping = spec.Mapping
		cc.Target = spec.Target
		cc.JetStream, cc.Region = cfg.JetStream, cfg.Region
		if cfg.Account != "" {
			cc.Account = cfg.Account
		}
		if cfg.Bucket != "" {
			cc.Bucket = cfg.Bucket
		}
		if cfg.Clock != nil {
			cc.Clock = cfg.Clock
		}
		cc.Logger, cc.Registerer = cfg.Logger, cfg.Registerer
		c, err := NewConsumer(cc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rt.consumers = append(rt.consumers, c)
		rt.targets = append(rt.targets, spec.Target)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return rt, nil
}

// Start starts every consumer; on an error the ones started are closed.
func (rt *Runtime) Start(ctx context.Context) error {
	for i, c := range rt.consumers {
		if err := c.Start(ctx); err != nil {
			for _, s := range rt.consumers[:i] {
				_ = s.Close()
			}
			return err
		}
	}
	return nil
}

// Close stops every consumer, then closes their targets.
func (rt *Runtime) Close() error {
	var errs []error
	for _, c := range rt.consumers {
		errs = append(errs, c.Close())
	}
	for _, t := range rt.targets {
		if t != nil {
			errs = append(errs, t.Close())
		}
	}
	return errors.Join(errs...)
}

// Consumers returns the runtime's consumers, in configuration order.
func (rt *Runtime) Consumers() []*Consumer { return rt.consumers }

// Status returns every consumer's status, in configuration order.
func (rt *Runtime) Status() []ConsumerStatus {
	out := make([]ConsumerStatus, 0, len(rt.consumers))
	for _, c := range rt.consumers {
		out = append(out, c.Status())
	}
	return out
}

// StatusResponse is the JSON body served at StatusPath.
type StatusResponse struct {
	Consumers []ConsumerStatus `json:"Consumers"`
	// Time is when the status was taken.
	Time time.Time `json:"Time"`
}

// ServeHTTP answers GET StatusPath with the consumers' status as JSON.
func (rt *Runtime) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, _ := json.MarshalIndent(StatusResponse{Consumers: rt.Status(), Time: time.Now().UTC()}, "", "  ") // NB: plain data cannot fail to marshal
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(body, '\n'))
}
