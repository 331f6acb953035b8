package deploy

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/godwit-db/godwit/test/harness"
	"gopkg.in/yaml.v3"
)

var (
	peerOnce      sync.Once
	peerSupported bool
)

// hasPeerFlag reports whether this build's `godwit serve` knows --peer
// (issue 4's region wiring). Until it does, the examples' peers are
// stripped before godwit is started, and the test says so.
func hasPeerFlag(t *testing.T) bool {
	t.Helper()
	bin := harness.Binary(t)
	peerOnce.Do(func() {
		out, _ := exec.Command(bin, "serve", "-h").CombinedOutput()
		peerSupported = bytes.Contains(out, []byte("-peer"))
	})
	return peerSupported
}

// withoutPeers returns the path of a copy of the YAML config at path
// without its top-level peers: key.
func withoutPeers(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "peers" {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			break
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// withoutPeerFlags drops --peer flags (and their values) from args.
func withoutPeerFlags(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--peer" || a == "-peer":
			i++
		case strings.HasPrefix(a, "--peer=") || strings.HasPrefix(a, "-peer="):
		default:
			out = append(out, a)
		}
	}
	return out
}

// startGodwit runs `godwit serve` with args (flags from an example, e.g.
// --config FILE) made runnable in a test: a free loopback API port, a
// temporary data dir, text logs (the harness reads the "listening" line),
// and extra overrides (flags given later win). It
// checks that godwit is healthy (GET / answers 200) and shuts down cleanly,
// and returns its log.
func startGodwit(t *testing.T, args []string, overrides ...string) string {
	t.Helper()
	if !hasPeerFlag(t) {
		args = withoutPeerFlags(args)
	}
	p := harness.StartProcess(t, t.TempDir(), append(args, append(overrides,
		"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-format", "text")...)...)
	resp, err := http.Get(p.URL + "/")
	if err != nil {
		t.Fatalf("health: %v\n%s", err, p.Logs())
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d\n%s", resp.StatusCode, p.Logs())
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("%v\n%s", err, p.Logs())
	}
	return p.Logs()
}

// configFile returns the config to give godwit for the example at path:
// path itself, or a copy without peers when this build cannot take them.
func configFile(t *testing.T, path string) string {
	t.Helper()
	if hasPeerFlag(t) {
		return path
	}
	t.Logf("%s: this godwit build has no --peer: its peers: section is not checked", path)
	return withoutPeers(t, path)
}

// checkGodwitConfigs starts godwit with every godwit-REGION.yaml in dir,
// using the running topology's NATS (natsURL(region), which replaces the
// example's host names with loopback addresses), and checks that each
// region comes up on the external NATS, connected.
func checkGodwitConfigs(t *testing.T, dir string, natsURL func(region string) string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "godwit-*.yaml"))
	if err != nil || len(files) != len(regions) {
		t.Fatalf("want a godwit-REGION.yaml per region in %s, found %v (%v)", dir, files, err)
	}
	for _, f := range files {
		r := regionOf(f)
		logs := startGodwit(t, []string{"--config", configFile(t, f)}, "--nats-url", natsURL(r))
		if !strings.Contains(logs, "region="+r) {
			t.Errorf("%s: godwit did not run as region %s:\n%s", f, r, logs)
		}
		if !strings.Contains(logs, "using external NATS") || !strings.Contains(logs, "connected=true") {
			t.Errorf("%s: godwit did not connect to the external NATS:\n%s", f, logs)
		}
	}
}
