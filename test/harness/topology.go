package harness

import (
	"net"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATSTopology is a set of nats-servers started in-process from
// configuration files (deploy/nats's supercluster or leaf-node examples).
type NATSTopology struct {
	// Servers are the running servers by server_name.
	Servers map[string]*server.Server
}

// StartNATSTopology starts one in-process nats-server per file, as the
// files say except for addresses: every listener moves to a free loopback
// port, and every URL naming another server of the set ("hub-us-east-1:7222",
// the server's name and configured port) is rewritten to match. JetStream
// stores go to t.TempDir() directories and monitoring ports are off. The
// servers are shut down when the test ends.
func StartNATSTopology(t testing.TB, files ...string) *NATSTopology {
	t.Helper()
	type entry struct {
		file string
		opts *server.Options
	}
	var entries []entry
	moved := map[string]string{} // "name:configured-port" -> "127.0.0.1:port"
	move := func(name string, port *int, host *string) {
		if *port == 0 {
			return
		}
		p := freePort(t)
		moved[name+":"+strconv.Itoa(*port)] = "127.0.0.1:" + strconv.Itoa(p)
		*port, *host = p, "127.0.0.1"
	}
	for _, f := range files {
		opts, err := server.ProcessConfigFile(f)
		if err != nil {
			t.Fatalf("load %s: %v", f, err)
		}
		move(opts.ServerName, &opts.Port, &opts.Host)
		move(opts.ServerName, &opts.Gateway.Port, &opts.Gateway.Host)
		move(opts.ServerName, &opts.LeafNode.Port, &opts.LeafNode.Host)
		opts.HTTPPort = 0
		opts.NoLog, opts.NoSigs = true, true
		if opts.JetStream {
			opts.StoreDir = t.TempDir()
		}
		entries = append(entries, entry{f, opts})
	}
	rewrite := func(f string, urls []*url.URL) {
		for _, u := range urls {
			to, ok := moved[u.Host]
			if !ok {
				t.Fatalf("%s: URL %s names no server of the topology", f, u.Redacted())
			}
			u.Host = to
		}
	}
	tp := &NATSTopology{Servers: map[string]*server.Server{}}
	for _, e := range entries {
		for _, g := range e.opts.Gateway.Gateways {
			rewrite(e.file, g.URLs)
		}
		for _, r := range e.opts.LeafNode.Remotes {
			rewrite(e.file, r.URLs)
		}
		s, err := server.NewServer(e.opts)
		if err != nil {
			t.Fatalf("%s: %v", e.file, err)
		}
		go s.Start()
		t.Cleanup(s.Shutdown)
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("%s: server not ready", e.file)
		}
		tp.Servers[e.opts.ServerName] = s
	}
	return tp
}

// URL returns a client URL of the named server with the given user and
// password.
func (tp *NATSTopology) URL(t testing.TB, name, user, password string) string {
	t.Helper()
	s, ok := tp.Servers[name]
	if !ok {
		t.Fatalf("no server %q", name)
	}
	u, err := url.Parse(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(user, password)
	return u.String()
}

func freePort(t testing.TB) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(FreeAddr(t))
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
