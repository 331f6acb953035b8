package harness

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// Binary builds ./cmd/godwit once per test process and returns its path.
// The binary lives in a directory removed by CleanupBinary (call it from TestMain).
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "godwit-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "godwit")
		cmd := exec.Command("go", "build", "-o", buildBin, "github.com/godwit-db/godwit/cmd/godwit")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// CleanupBinary removes the binary built by Binary, if any.
func CleanupBinary() {
	if buildBin != "" {
		os.RemoveAll(filepath.Dir(buildBin))
	}
}

// Process is a godwit server running as a child process.
type Process struct {
	URL  string
	Addr string
	cmd  *exec.Cmd
	done chan struct{}
	logs *syncBuffer
}

var listeningRE = regexp.MustCompile(`listening: addr=(\S+)`)

// StartProcess runs `godwit serve` on a free loopback port with dataDir and
// extra flags, and waits until it listens. The process is killed when the
// test ends if it still runs.
func StartProcess(t testing.TB, dataDir string, extra ...string) *Process {
	t.Helper()
	bin := Binary(t)
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "info",
		"--http-server", string(HTTPTransport())}, extra...)
	if !slices.Contains(extra, "--nats-listen") && !slices.Contains(extra, "--nats-url") {
		// NB: never the default 127.0.0.1:4222: tests run in parallel, and
		// another process may take that port between godwit's check and its bind.
		args = append(args, "--nats-listen", "-")
	}
	cmd := exec.Command(bin, args...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("start godwit: %v", err)
	}
	p := &Process{cmd: cmd, done: make(chan struct{}), logs: &syncBuffer{}}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			p.logs.add(line)
			if m := listeningRE.FindStringSubmatch(line); m != nil && !sent {
				addrc <- m[1]
				sent = true
			}
		}
	}()
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.Kill() })
	select {
	case addr := <-addrc:
		p.Addr = addr
		p.URL = "http://" + addr
	case <-p.done:
		t.Fatalf("godwit exited before listening:\n%s", p.logs.String())
	case <-time.After(30 * time.Second):
		p.Kill()
		t.Fatalf("godwit did not listen within 30s:\n%s", p.logs.String())
	}
	return p
}

// Kill sends SIGKILL and waits for the process to exit.
func (p *Process) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and waits for a clean exit, returning its error.
func (p *Process) Stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
	if st := p.cmd.ProcessState; st != nil && !st.Success() {
		return fmt.Errorf("godwit exited: %v", st)
	}
	return nil
}

// Logs returns everything the process printed so far.
func (p *Process) Logs() string { return p.logs.String() }

type syncBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *syncBuffer) add(l string) {
	b.mu.Lock()
	b.lines = append(b.lines, l)
	b.mu.Unlock()
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := ""
	for _, l := range b.lines {
		out += l + "\n"
	}
	return out
}
