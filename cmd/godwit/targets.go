package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/godwit-db/godwit/sinks"
	"github.com/godwit-db/godwit/sinks/auditlog"
	"github.com/godwit-db/godwit/sinks/function"
	sinkshttp "github.com/godwit-db/godwit/sinks/http"
	sinksnats "github.com/godwit-db/godwit/sinks/nats"
	"github.com/godwit-db/godwit/sinks/webhook"
)

// targetSpec is a consumer's Target: section. Type picks the target; the
// other keys are that type's settings (PascalCase, as the AWS names the
// consumer section uses). A key of another type is an error, as is a key
// of no type. Zero values mean the target package's defaults.
//
//	Target:
//	  Type: function          # function | http | webhook | nats | auditlog
//	  Command: [./bootstrap]
//	  Timeout: 30s
type targetSpec struct {
	Type string `yaml:"Type"`

	// function: the handler's argv, environment (PATH is added from
	// godwit's own when absent), working directory, _HANDLER, function
	// name, AWS_REGION, memory size, invocation timeout, init timeout and
	// process count.
	Command     []string          `yaml:"Command"`
	Env         map[string]string `yaml:"Env"`
	Name        string            `yaml:"Name"`
	Handler     string            `yaml:"Handler"`
	Region      string            `yaml:"Region"`
	MemoryMB    int               `yaml:"MemoryMB"`
	InitTimeout time.Duration     `yaml:"InitTimeout"`
	Concurrency int               `yaml:"Concurrency"`

	// Dir: function's working directory; auditlog's directory (required;
	// a relative one is under the data directory).
	Dir string `yaml:"Dir"`
	// Timeout: function invocation, http/webhook request, nats flush/ack.
	Timeout time.Duration `yaml:"Timeout"`

	// http and webhook.
	URL     string            `yaml:"URL"`
	Headers map[string]string `yaml:"Headers"`
	// webhook: the HMAC secret, or the environment variable holding it
	// (exactly one).
	Secret    string `yaml:"Secret"`
	SecretEnv string `yaml:"SecretEnv"`

	// nats: the subject template and JetStream acks.
	Subject   string `yaml:"Subject"`
	JetStream bool   `yaml:"JetStream"`

	// auditlog: segment rotation.
	MaxBytes int64         `yaml:"MaxBytes"`
	MaxAge   time.Duration `yaml:"MaxAge"`

	// set are the keys the YAML had (nil for a spec built in code: then
	// the non-zero fields count as set).
	set map[string]bool
}

// Target types.
const (
	targetFunction = "function"
	targetHTTP     = "http"
	targetWebhook  = "webhook"
	targetNATS     = "nats"
	targetAuditLog = "auditlog"
)

// targetKeys are the keys each type accepts besides Type.
var targetKeys = map[string][]string{
	targetFunction: {"Command", "Env", "Dir", "Name", "Handler", "Region", "MemoryMB", "Timeout", "InitTimeout", "Concurrency"},
	targetHTTP:     {"URL", "Headers", "Timeout"},
	targetWebhook:  {"URL", "Headers", "Secret", "SecretEnv", "Timeout"},
	targetNATS:     {"Subject", "JetStream", "Timeout"},
	targetAuditLog: {"Dir", "MaxBytes", "MaxAge"},
}

// targetTypes lists the types for messages.
func targetTypes() string {
	ts := make([]string, 0, len(targetKeys))
	for t := range targetKeys {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return strings.Join(ts, ", ")
}

// yamlKeys maps each yaml key of targetSpec to its field index.
var yamlKeys = func() map[string]int {
	m := map[string]int{}
	rt := reflect.TypeFor[targetSpec]()
	for i := range rt.NumField() {
		if tag := rt.Field(i).Tag.Get("yaml"); tag != "" {
			m[tag] = i
		}
	}
	return m
}()

// UnmarshalYAML decodes a Target: mapping, remembering which keys it
// had. An unknown key is reported like yaml's own unknown fields (so the
// config loader reports it with every other problem).
func (s *targetSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain targetSpec
	var p plain
	var terrs []string
	if err := n.Decode(&p); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return err
		}
		terrs = append(terrs, te.Errors...)
	}
	*s = targetSpec(p)
	s.set = map[string]bool{}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if _, ok := yamlKeys[k.Value]; !ok {
				terrs = append(terrs, fmt.Sprintf("line %d: field %s not found in type main.targetSpec", k.Line, k.Value))
				continue
			}
			s.set[k.Value] = true
		}
	}
	if len(terrs) > 0 {
		return &yaml.TypeError{Errors: terrs}
	}
	return nil
}

// keys returns the keys s sets besides Type.
func (s targetSpec) keys() []string {
	var out []string
	if s.set != nil {
		for k := range s.set {
			if k != "Type" {
				out = append(out, k)
			}
		}
	} else {
		v := reflect.ValueOf(s)
		for k, i := range yamlKeys {
			if k != "Type" && !v.Field(i).IsZero() {
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

// validate reports every problem with s at once, each prefixed "Target".
func (s targetSpec) validate() []error {
	allowed, ok := targetKeys[s.Type]
	if !ok {
		if s.Type == "" {
			return []error{fmt.Errorf("Target.Type is required (one of %s)", targetTypes())}
		}
		return []error{fmt.Errorf("Target.Type %q is not one of %s", s.Type, targetTypes())}
	}
	var errs []error
	for _, k := range s.keys() {
		if !contains(allowed, k) {
			errs = append(errs, fmt.Errorf("Target.%s does not apply to Type %s (its keys: %s)", k, s.Type, strings.Join(allowed, ", ")))
		}
	}
	var err error
	switch s.Type {
	case targetFunction:
		err = s.functionConfig(targetDeps{}).Validate()
	case targetHTTP:
		err = s.httpConfig(targetDeps{}).Validate()
	case targetWebhook:
		c := s.webhookConfig(targetDeps{})
		switch {
		case s.Secret != "" && s.SecretEnv != "":
			errs = append(errs, errors.New("Target: set one of Secret and SecretEnv, not both"))
		case s.Secret == "" && s.SecretEnv == "":
			errs = append(errs, errors.New("Target: Secret or SecretEnv is required"))
		case s.SecretEnv != "" && c.Secret == "":
			errs = append(errs, fmt.Errorf("Target.SecretEnv: environment variable %s is not set", s.SecretEnv))
		}
		if c.Secret == "" {
			c.Secret = "placeholder" // reported above
		}
		err = c.Validate()
	case targetNATS:
		err = s.natsConfig(targetDeps{}).Validate()
	case targetAuditLog:
		err = s.auditConfig(targetDeps{}).Validate()
	}
	for _, e := range unjoin(err) {
		errs = append(errs, fmt.Errorf("Target: %w", e))
	}
	return errs
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// unjoin splits an errors.Join error into its parts.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// targetDeps are what targets need from the server.
type targetDeps struct {
	// NATS is the server's connection (nats targets publish on it).
	NATS *nats.Conn
	// DataDir resolves a relative auditlog Dir.
	DataDir string
	// Logger is the consumer's logger.
	Logger hclog.Logger
	// Registerer receives target metrics (the function target's handler
	// restarts); the runtime passes one wrapped with the consumer's label.
	Registerer prometheus.Registerer
}

func (s targetSpec) functionConfig(d targetDeps) function.Config {
	env := make(map[string]string, len(s.Env)+1)
	for k, v := range s.Env {
		env[k] = v
	}
	if _, ok := env["PATH"]; !ok {
		// NB: the handler gets none of godwit's environment but PATH, so
		// that a script handler finds its interpreter.
		if p := os.Getenv("PATH"); p != "" {
			env["PATH"] = p
		}
	}
	return function.Config{Name: s.Name, Command: s.Command, Env: env, Dir: s.Dir, Handler: s.Handler, Region: s.Region,
		MemoryMB: s.MemoryMB, Timeout: s.Timeout, InitTimeout: s.InitTimeout, Concurrency: s.Concurrency, Logger: d.Logger}
}

func (s targetSpec) httpConfig(d targetDeps) sinkshttp.Config {
	return sinkshttp.Config{URL: s.URL, Headers: s.Headers, Timeout: s.Timeout, Logger: d.Logger}
}

func (s targetSpec) webhookConfig(d targetDeps) webhook.Config {
	secret := s.Secret
	if s.SecretEnv != "" {
		secret = os.Getenv(s.SecretEnv)
	}
	return webhook.Config{URL: s.URL, Headers: s.Headers, Secret: secret, Timeout: s.Timeout, Logger: d.Logger}
}

func (s targetSpec) natsConfig(d targetDeps) sinksnats.Config {
	return sinksnats.Config{Subject: s.Subject, JetStream: s.JetStream, Timeout: s.Timeout, Logger: d.Logger}
}

func (s targetSpec) auditConfig(d targetDeps) auditlog.Config {
	dir := s.Dir
	if dir != "" && !filepath.IsAbs(dir) && d.DataDir != "" {
		dir = filepath.Join(d.DataDir, dir)
	}
	return auditlog.Config{Dir: dir, MaxBytes: s.MaxBytes, MaxAge: s.MaxAge, Logger: d.Logger}
}

// newTarget builds the target s describes. It validates s first.
func newTarget(s targetSpec, d targetDeps) (sinks.Target, error) {
	if errs := s.validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if d.Logger == nil {
		d.Logger = hclog.NewNullLogger()
	}
	switch s.Type {
	case targetFunction:
		c := s.functionConfig(d)
		// NB: restarts are counted by the runtime per consumer
		// (godwit_sink_handler_restarts_total{consumer}) through
		// sinks.HandlerRestartReporter, which the function target implements;
		// each restart's reason is in its log.
		return function.New(c)
	case targetHTTP:
		return sinkshttp.New(s.httpConfig(d))
	case targetWebhook:
		return webhook.New(s.webhookConfig(d))
	case targetNATS:
		if d.NATS == nil {
			return nil, errors.New("nats target: no NATS connection")
		}
		return sinksnats.New(d.NATS, s.natsConfig(d))
	case targetAuditLog:
		return auditlog.New(s.auditConfig(d))
	}
	return nil, fmt.Errorf("Target.Type %q is not one of %s", s.Type, targetTypes())
}
