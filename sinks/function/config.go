package function

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Config configures a Function.
type Config struct {
	// Name is the function's name (AWS_LAMBDA_FUNCTION_NAME and the
	// invoked function ARN). Default "function".
	Name string
	// Command is the handler's argv: Command[0] is looked up in godwit's
	// PATH. Required.
	Command []string
	// Env is the handler's environment besides the Lambda variables
	// (see the package doc); it wins over them, except
	// AWS_LAMBDA_RUNTIME_API. Nothing of godwit's own environment is
	// passed on unless it is put here.
	Env map[string]string
	// Dir is the handler's working directory (and LAMBDA_TASK_ROOT).
	// Default godwit's.
	Dir string
	// Handler is the _HANDLER variable. Default the base name of Command[0].
	Handler string
	// Region is AWS_REGION and the ARN's region. Default "us-east-1".
	Region string
	// Account is the ARN's account. Default "000000000000".
	Account string
	// MemoryMB is AWS_LAMBDA_FUNCTION_MEMORY_SIZE (informational: nothing
	// is enforced). Default 128.
	MemoryMB int
	// Timeout bounds one invocation, from the moment the handler takes it
	// (Lambda-Runtime-Deadline-Ms). Past it the invocation is a function
	// error and the handler process is killed and restarted, as Lambda
	// does. Default 3s (Lambda's default); at most 15m.
	Timeout time.Duration
	// InitTimeout bounds how long an invocation waits for a handler process
	// to ask for it (/invocation/next): a process that is starting, or
	// stuck. Past it Deliver returns ErrTransient and the process is killed
	// and restarted. Default 10s (Lambda's init phase limit).
	InitTimeout time.Duration
	// Concurrency is the number of handler processes, each serving one
	// invocation at a time; concurrent Delivers beyond it wait for a free
	// process. Default 1; at most 100.
	Concurrency int
	// MinBackoff and MaxBackoff bound the delay before a handler process
	// that exited is started again: it doubles from MinBackoff with each
	// exit of a process that completed no invocation, and falls back to
	// MinBackoff after one that did. Defaults 100ms and 10s.
	MinBackoff, MaxBackoff time.Duration
	// ShutdownGrace is how long Close waits after SIGTERM before it kills
	// a handler process. Default 2s.
	ShutdownGrace time.Duration
	// MaxResponseBytes bounds a response's size; a larger one is a function
	// error. Default 6 MiB (Lambda's synchronous response limit).
	MaxResponseBytes int64
	// OnRestart, when set, is called each time a handler process is
	// started again, with the reason ("exit", "timeout", "init-timeout",
	// "init-error"). Called from the process's supervisor goroutine.
	OnRestart func(reason string)
	// Logger receives the target's logs and the handlers' stdout and
	// stderr (at info level). Default a null logger.
	Logger hclog.Logger
}

// Limits.
const (
	MaxTimeout     = 15 * time.Minute
	MaxConcurrency = 100
)

// DefaultConfig returns a Config with every default filled in but Command.
func DefaultConfig() Config {
	return Config{
		Name:             "function",
		Region:           "us-east-1",
		Account:          "000000000000",
		MemoryMB:         128,
		Timeout:          3 * time.Second,
		InitTimeout:      10 * time.Second,
		Concurrency:      1,
		MinBackoff:       100 * time.Millisecond,
		MaxBackoff:       10 * time.Second,
		ShutdownGrace:    2 * time.Second,
		MaxResponseBytes: 6 << 20,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	def := func(v *string, dv string) {
		if *v == "" {
			*v = dv
		}
	}
	def(&c.Name, d.Name)
	def(&c.Region, d.Region)
	def(&c.Account, d.Account)
	if c.Handler == "" && len(c.Command) > 0 {
		c.Handler = baseName(c.Command[0])
	}
	if c.MemoryMB == 0 {
		c.MemoryMB = d.MemoryMB
	}
	for _, p := range []struct{ v, d *time.Duration }{{&c.Timeout, &d.Timeout}, {&c.InitTimeout, &d.InitTimeout},
		{&c.MinBackoff, &d.MinBackoff}, {&c.MaxBackoff, &d.MaxBackoff}, {&c.ShutdownGrace, &d.ShutdownGrace}} {
		if *p.v == 0 {
			*p.v = *p.d
		}
	}
	if c.Concurrency == 0 {
		c.Concurrency = d.Concurrency
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = d.MaxResponseBytes
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	return c
}

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' || p[i] == '\\' {
			return p[i+1:]
		}
	}
	return p
}

// namePattern is Lambda's function name syntax.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Validate reports every problem with c at once (after defaults).
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if !namePattern.MatchString(c.Name) {
		errs = append(errs, fmt.Errorf("function: Name %q must be 1-64 letters, digits, '-' or '_'", c.Name))
	}
	if len(c.Command) == 0 || c.Command[0] == "" {
		errs = append(errs, errors.New("function: Command is required"))
	}
	for k := range c.Env {
		if k == "" || containsAny(k, "=\x00") {
			errs = append(errs, fmt.Errorf("function: Env: %q is not a variable name", k))
		}
	}
	if c.Timeout < 0 || c.Timeout > MaxTimeout {
		errs = append(errs, fmt.Errorf("function: Timeout %s must be in (0, %s]", c.Timeout, MaxTimeout))
	}
	if c.InitTimeout < 0 {
		errs = append(errs, fmt.Errorf("function: InitTimeout %s is negative", c.InitTimeout))
	}
	if c.Concurrency < 0 || c.Concurrency > MaxConcurrency {
		errs = append(errs, fmt.Errorf("function: Concurrency %d must be in [1, %d]", c.Concurrency, MaxConcurrency))
	}
	if c.MemoryMB < 0 {
		errs = append(errs, fmt.Errorf("function: MemoryMB %d is negative", c.MemoryMB))
	}
	if c.MinBackoff < 0 || c.MaxBackoff < c.MinBackoff {
		errs = append(errs, fmt.Errorf("function: backoff [%s, %s] is not a range", c.MinBackoff, c.MaxBackoff))
	}
	if c.ShutdownGrace < 0 {
		errs = append(errs, fmt.Errorf("function: ShutdownGrace %s is negative", c.ShutdownGrace))
	}
	if c.MaxResponseBytes < 0 {
		errs = append(errs, fmt.Errorf("function: MaxResponseBytes %d is negative", c.MaxResponseBytes))
	}
	return errors.Join(errs...)
}

func containsAny(s, chars string) bool {
	for i := 0; i < len(s); i++ {
		for j := 0; j < len(chars); j++ {
			if s[i] == chars[j] {
				return true
			}
		}
	}
	return false
}
