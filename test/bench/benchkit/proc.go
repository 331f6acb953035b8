package benchkit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// FreePort returns a loopback port nobody listened on a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Proc is a started process in a process group of its own (so that what it
// starts, e.g. Lambda handlers, is stopped with it), killed if this
// program dies (Pdeathsig).
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Log  string
	done chan struct{}
	err  error
}

// Start runs bin with args, stdout and stderr appended to logPath.
func Start(name, bin, logPath string, args ...string) (*Proc, error) {
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, Cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM to the process group, waits up to grace, then
// SIGKILLs the group. It is safe to call twice.
func (p *Proc) Stop(grace time.Duration) {
	if p == nil || p.Cmd.Process == nil {
		return
	}
	pg := -p.Cmd.Process.Pid
	if !p.Exited() {
		_ = syscall.Kill(pg, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
		}
	}
	_ = syscall.Kill(pg, syscall.SIGKILL)
	<-p.done
}

// Godwit is one started `godwit serve`.
type Godwit struct {
	*Proc
	Region   string
	API      string // http://127.0.0.1:PORT
	NATS     string // nats://127.0.0.1:PORT
	NATSPort int
	DataDir  string
}

// GodwitConfig says how to start one `godwit serve`.
type GodwitConfig struct {
	Bin     string
	Region  string
	DataDir string
	Log     string
	// NATSPort is the embedded NATS port (0: a free one).
	NATSPort int
	Extra    []string // more serve arguments (--peer, --config, ...)
}

// StartGodwit starts godwit serve (fsync on: the default) on free loopback
// ports and waits until its API answers ListTables (up to 60 s).
func StartGodwit(ctx context.Context, cfg GodwitConfig) (*Godwit, error) {
	api, err := FreePort()
	if err != nil {
		return nil, err
	}
	np := cfg.NATSPort
	if np == 0 {
		if np, err = FreePort(); err != nil {
			return nil, err
		}
	}
	args := append([]string{"serve", "--region", cfg.Region, "--listen", fmt.Sprintf("127.0.0.1:%d", api),
		"--data-dir", cfg.DataDir, "--nats-listen", fmt.Sprintf("127.0.0.1:%d", np)}, cfg.Extra...)
	p, err := Start("godwit "+cfg.Region, cfg.Bin, cfg.Log, args...)
	if err != nil {
		return nil, err
	}
	g := &Godwit{Proc: p, Region: cfg.Region, API: fmt.Sprintf("http://127.0.0.1:%d", api),
		NATS: fmt.Sprintf("nats://127.0.0.1:%d", np), NATSPort: np, DataDir: cfg.DataDir}
	c, err := NewClient(g.API, 2, 5*time.Second)
	if err != nil {
		p.Stop(time.Second)
		return nil, err
	}
	defer c.Close()
	ready := make(chan error, 1)
	go func() { ready <- c.WaitReady(ctx, 60*time.Second) }()
	select {
	case err = <-ready:
	case <-p.done:
		err = errors.New("exited")
	}
	if err != nil {
		p.Stop(time.Second)
		return nil, fmt.Errorf("godwit %s did not come up (see %s): %w", cfg.Region, cfg.Log, err)
	}
	return g, nil
}
