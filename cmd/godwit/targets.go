package main

// NB: this file is a placeholder owned by the sinks-targets branch: at
// merge it is replaced by that branch's targets.go (the YAML Target: block
// and the real targets). The names below are the contract between the two.

import (
	"errors"
	"fmt"

	"github.com/godwit-db/godwit/sinks"
	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// targetSpec is a consumer's Target: block.
type targetSpec struct {
	Type string `yaml:"Type"`
}

// validate reports every problem with s.
func (s targetSpec) validate() []error {
	if s.Type == "" {
		return []error{errors.New("Target.Type: is required")}
	}
	return nil
}

// targetDeps is what building a target may use.
type targetDeps struct {
	NATS       *nats.Conn
	DataDir    string
	Logger     hclog.Logger
	Registerer prometheus.Registerer
}

// newTarget builds the target s describes.
func newTarget(s targetSpec, _ targetDeps) (sinks.Target, error) {
	return nil, fmt.Errorf("target type %q: no targets are built into this godwit", s.Type)
}
