package function

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/godwit-db/godwit/sinks"
)

// FunctionError is a function error as Lambda reports it: the handler
// returned an error (/invocation/{id}/error), crashed, timed out or sent
// something the Runtime API refuses. Deliver returns it (never wrapping
// sinks.ErrTransient).
type FunctionError struct {
	// Type is the errorType: the handler's own, or Lambda's for what the
	// runtime detects: "Runtime.ExitError" (the process exited during the
	// invocation), "Sandbox.Timedout" (Config.Timeout passed),
	// "Function.ResponseSizeTooLarge", "Runtime.NoResponse" (the handler
	// asked for the next invocation without answering this one).
	Type string
	// Message is the errorMessage.
	Message string
}

func (e *FunctionError) Error() string { return fmt.Sprintf("function: %s: %s", e.Type, e.Message) }

// ErrClosed: Deliver was called on (or during) Close.
var ErrClosed = errors.New("function: closed")

// Function runs a Lambda handler as child processes fed through the
// Lambda Runtime API. Safe for concurrent use.
type Function struct {
	cfg   Config
	log   hclog.Logger
	arn   string
	slots []*slot
	free  chan *slot

	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup // supervisors

	restartHook atomic.Pointer[func()] // the runtime's handler-restart counter
}

var (
	_ sinks.Target                 = (*Function)(nil)
	_ sinks.HandlerRestartReporter = (*Function)(nil)
)

// SetHandlerRestartHook makes f call restarted after each restart of a
// handler process (the runtime counts godwit_sink_handler_restarts_total
// per consumer with it), besides Config.OnRestart.
func (f *Function) SetHandlerRestartHook(restarted func()) { f.restartHook.Store(&restarted) }

// New listens on one loopback port per handler process and starts the
// processes (Config.Concurrency of them). It returns once they are
// started, not once they are ready: the first Deliver waits for that, up
// to InitTimeout. The caller's Config is not modified.
func New(cfg Config) (*Function, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	f := &Function{
		cfg:     cfg,
		log:     cfg.Logger.Named("function").With("function", cfg.Name),
		arn:     fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", cfg.Region, cfg.Account, cfg.Name),
		free:    make(chan *slot, cfg.Concurrency),
		closing: make(chan struct{}),
	}
	for i := range cfg.Concurrency {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			for _, s := range f.slots {
				_ = s.srv.Close()
			}
			return nil, fmt.Errorf("function: listen for the runtime API: %w", err)
		}
		s := &slot{f: f, idx: i, addr: ln.Addr().String(), offer: make(chan *invocation)}
		s.log = f.log.With("slot", i, "runtime-api", s.addr)
		s.srv = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = s.srv.Serve(ln) }()
		f.slots = append(f.slots, s)
	}
	for _, s := range f.slots {
		p := s.start()
		f.wg.Add(1)
		go s.supervise(p)
		f.free <- s
	}
	return f, nil
}

// ARN is the invoked function ARN the handlers see.
func (f *Function) ARN() string { return f.arn }

// PIDs returns the process ids of the handler processes running now, one
// per slot at most (a slot that is restarting has none), for diagnosis.
func (f *Function) PIDs() []int {
	var pids []int
	for _, s := range f.slots {
		s.mu.Lock()
		p := s.proc
		s.mu.Unlock()
		if p == nil || p.hasExited() {
			continue
		}
		p.mu.Lock()
		if p.cmd.Process != nil {
			pids = append(pids, p.cmd.Process.Pid)
		}
		p.mu.Unlock()
	}
	return pids
}

// invocation is one Deliver's event on its way through a slot.
type invocation struct {
	id    string
	event []byte

	done chan struct{}
	once sync.Once
	res  sinks.Result
	err  error
}

func (inv *invocation) complete(res sinks.Result, err error) bool {
	first := false
	inv.once.Do(func() {
		inv.res, inv.err, first = res, err, true
		close(inv.done)
	})
	return first
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func transient(format string, args ...any) error {
	return fmt.Errorf("%w: function: %s", sinks.ErrTransient, fmt.Sprintf(format, args...))
}

// Deliver is one invocation with b.Event() as its payload, on the first
// free handler process. See the package doc for how each outcome maps.
func (f *Function) Deliver(ctx context.Context, b *sinks.Batch) (sinks.Result, error) {
	ev, err := b.Event()
	if err != nil {
		return sinks.Result{}, fmt.Errorf("function: encode event: %w", err)
	}
	select {
	case <-f.closing:
		return sinks.Result{}, fmt.Errorf("%w: %w", sinks.ErrTransient, ErrClosed)
	default:
	}
	var s *slot
	select {
	case s = <-f.free:
	case <-ctx.Done():
		return sinks.Result{}, fmt.Errorf("%w: function: waiting for a free handler: %w", sinks.ErrTransient, ctx.Err())
	case <-f.closing:
		return sinks.Result{}, fmt.Errorf("%w: %w", sinks.ErrTransient, ErrClosed)
	}
	inv := &invocation{id: newRequestID(), event: ev, done: make(chan struct{})}
	res, err, busy := s.invoke(ctx, inv)
	if !busy {
		f.free <- s
	} else {
		// NB: the caller gave up but the handler still runs the invocation:
		// the slot is free again only once it ends (or times out).
		go func() {
			<-inv.done
			f.free <- s
		}()
	}
	return res, err
}

// Close stops the handler processes (SIGTERM, then SIGKILL after
// ShutdownGrace) and the Runtime API listeners. Invocations in flight
// fail with ErrTransient. Idempotent.
func (f *Function) Close() error {
	f.closeOnce.Do(func() {
		close(f.closing)
		f.wg.Wait()
		for _, s := range f.slots {
			_ = s.srv.Close()
		}
	})
	return nil
}
