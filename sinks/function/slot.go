package function

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/godwit-db/godwit/sinks"
)

// slot is one handler process slot: a Runtime API listener of its own and
// the process (restarted as needed) that polls it. One invocation at a
// time: Deliver holds the slot from offer to answer.
type slot struct {
	f    *Function
	idx  int
	addr string
	srv  *http.Server
	log  hclog.Logger
	// offer hands an invocation to the process's /next (unbuffered).
	offer chan *invocation

	mu       sync.Mutex
	proc     *process    // the current process (exited while restarting)
	inflight *invocation // taken by proc, not answered yet
}

// process is one run of the handler.
type process struct {
	cmd      *exec.Cmd
	exited   chan struct{} // closed once the process has exited
	exitErr  error         // set before exited is closed
	mu       sync.Mutex
	ready    bool   // asked for an invocation at least once
	served   bool   // completed an invocation
	initErr  string // reported on /runtime/init/error
	killedBy string // why godwit killed it ("" if it exited by itself)
}

func (p *process) state() (ready, served bool, initErr, killedBy string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready, p.served, p.initErr, p.killedBy
}

// kill kills p (if it runs) and records why.
func (p *process) kill(reason string) {
	p.mu.Lock()
	if p.killedBy == "" {
		p.killedBy = reason
	}
	proc := p.cmd.Process
	p.mu.Unlock()
	if proc != nil {
		_ = proc.Kill()
	}
}

func (p *process) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// exitReason describes why p is not serving, for error messages.
func (p *process) exitReason() string {
	_, _, initErr, killedBy := p.state()
	switch {
	case initErr != "":
		return "init error: " + initErr
	case killedBy != "":
		return "killed (" + killedBy + ")"
	case p.exitErr != nil:
		return p.exitErr.Error()
	}
	return "exited"
}

// env is the handler's environment.
func (s *slot) env() []string {
	c := s.f.cfg
	now := time.Now().UTC()
	m := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        c.Name,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(c.MemoryMB),
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + c.Name,
		"AWS_LAMBDA_LOG_STREAM_NAME":      fmt.Sprintf("%s/[$LATEST]%s", now.Format("2006/01/02"), newRequestID()[:8]),
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_REGION":                      c.Region,
		"AWS_DEFAULT_REGION":              c.Region,
		"_HANDLER":                        c.Handler,
		"TZ":                              ":UTC",
	}
	if c.Dir != "" {
		m["LAMBDA_TASK_ROOT"] = c.Dir
	}
	for k, v := range c.Env {
		m[k] = v
	}
	m["AWS_LAMBDA_RUNTIME_API"] = s.addr
	env := make([]string, 0, len(m))
	for k, v := range m {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

// start starts a process and makes it the slot's current one. A process
// that cannot be started is returned already exited, with the error.
func (s *slot) start() *process {
	c := s.f.cfg
	cmd := exec.Command(c.Command[0], c.Command[1:]...)
	cmd.Env = s.env()
	cmd.Dir = c.Dir
	// NB: the output goes through a pipe of our own, not one exec.Cmd
	// copies from, so that Wait returns as soon as the process is reaped
	// (exec's copying would wait for the pipe to drain, and a grandchild
	// could hold it open), and a dead process stops getting events at once.
	pr, pw, perr := os.Pipe()
	if perr == nil {
		cmd.Stdout, cmd.Stderr = pw, pw
		go s.copyOutput(pr)
		defer pw.Close()
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	// NB: p is the current process before it runs, so that its first
	// /next finds it; p.mu held across Start orders Start before any kill.
	p.mu.Lock()
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	if err := cmd.Start(); err != nil {
		p.exitErr = fmt.Errorf("start %s: %w", c.Command[0], err)
		p.mu.Unlock()
		close(p.exited)
		return p
	}
	p.mu.Unlock()
	s.log.Debug("handler started", "pid", cmd.Process.Pid)
	go func() {
		p.exitErr = cmd.Wait()
		close(p.exited)
	}()
	return p
}

// copyOutput logs a process's output line by line until the pipe closes.
func (s *slot) copyOutput(r *os.File) {
	defer r.Close()
	// NB: ReadLine, not a Scanner: a line longer than the buffer is
	// logged in pieces instead of stopping the copy (and the child).
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, _, err := br.ReadLine()
		if len(line) > 0 {
			s.log.Info(string(line))
		}
		if err != nil {
			return
		}
	}
}

// supervise watches p, the slot's first process, and restarts it (and
// its successors) until the Function closes.
func (s *slot) supervise(p *process) {
	defer s.f.wg.Done()
	c := s.f.cfg
	backoff := c.MinBackoff
	for {
		select {
		case <-p.exited:
		case <-s.f.closing:
			s.stop(p)
		}
		s.mu.Lock()
		inv := s.inflight
		s.inflight = nil
		s.mu.Unlock()
		if inv != nil {
			if s.closed() {
				inv.complete(sinks.Result{}, transient("closed during the invocation"))
			} else {
				inv.complete(sinks.Result{}, &FunctionError{Type: "Runtime.ExitError", Message: "handler exited during the invocation: " + p.exitReason()})
			}
		}
		if s.closed() {
			return
		}
		_, served, initErr, killedBy := p.state()
		if served {
			backoff = c.MinBackoff
		}
		reason := "exit"
		switch {
		case killedBy != "":
			reason = killedBy
		case initErr != "":
			reason = "init-error"
		}
		s.log.Warn("handler exited; restarting", "reason", reason, "status", p.exitReason(), "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-s.f.closing:
			t.Stop()
			return
		}
		if !served {
			backoff = min(2*backoff, c.MaxBackoff)
		}
		if c.OnRestart != nil {
			c.OnRestart(reason)
		}
		if h := s.f.restartHook.Load(); h != nil {
			(*h)()
		}
		p = s.start()
	}
}

func (s *slot) closed() bool {
	select {
	case <-s.f.closing:
		return true
	default:
		return false
	}
}

// stop ends p for Close: SIGTERM, then SIGKILL after ShutdownGrace.
func (s *slot) stop(p *process) {
	p.mu.Lock()
	proc := p.cmd.Process
	p.mu.Unlock()
	if proc == nil {
		return
	}
	_ = proc.Signal(syscall.SIGTERM)
	t := time.NewTimer(s.f.cfg.ShutdownGrace)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		p.kill("close")
		<-p.exited
	}
}

// invoke runs inv on s. busy reports that the process still holds inv
// (the caller's ctx ended first): the slot is free once inv.done closes.
func (s *slot) invoke(ctx context.Context, inv *invocation) (res sinks.Result, err error, busy bool) {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil || p.hasExited() {
		return sinks.Result{}, transient("handler is restarting (%s)", reasonOf(p)), false
	}
	c := s.f.cfg
	initT := time.NewTimer(c.InitTimeout)
	defer initT.Stop()
	select {
	case s.offer <- inv:
	case <-p.exited:
		return sinks.Result{}, transient("handler exited before taking the invocation (%s)", p.exitReason()), false
	case <-initT.C:
		// NB: a process that does not come to /next in InitTimeout is stuck
		// (in init, or after its last answer): start it afresh.
		p.kill("init-timeout")
		return sinks.Result{}, transient("handler did not ask for an invocation within %s", c.InitTimeout), false
	case <-ctx.Done():
		return sinks.Result{}, fmt.Errorf("%w: function: waiting for the handler: %w", sinks.ErrTransient, ctx.Err()), false
	case <-s.f.closing:
		return sinks.Result{}, fmt.Errorf("%w: %w", sinks.ErrTransient, ErrClosed), false
	}
	// The handler has the event; its deadline runs from now.
	t := time.NewTimer(c.Timeout)
	select {
	case <-inv.done:
		t.Stop()
		return inv.res, inv.err, false
	case <-t.C:
		s.timeout(inv)
		return inv.res, inv.err, false
	case <-ctx.Done():
		go func() {
			select {
			case <-inv.done:
			case <-t.C:
				s.timeout(inv)
			}
		}()
		return sinks.Result{}, fmt.Errorf("%w: function: invocation abandoned: %w", sinks.ErrTransient, ctx.Err()), true
	}
}

// timeout fails inv as timed out and kills the process that holds it.
func (s *slot) timeout(inv *invocation) {
	msg := fmt.Sprintf("Task timed out after %.2f seconds", s.f.cfg.Timeout.Seconds())
	if !inv.complete(sinks.Result{}, &FunctionError{Type: "Sandbox.Timedout", Message: msg}) {
		return // answered just in time
	}
	s.mu.Lock()
	p := s.proc
	if s.inflight == inv {
		s.inflight = nil
	}
	s.mu.Unlock()
	if p != nil {
		p.kill("timeout")
	}
}

func reasonOf(p *process) string {
	if p == nil {
		return "not started"
	}
	return p.exitReason()
}
