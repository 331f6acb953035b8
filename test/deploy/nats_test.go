package deploy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godwit-db/godwit/test/harness"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// deployDir is the repository's deploy/ folder.
const deployDir = "../../deploy"

var regions = []string{"us-east-1", "us-west-2", "eu-west-1"}

// The credentials of the example accounts.conf files.
const (
	godwitUser     = "godwit"
	godwitPassword = "change-me-godwit"
)

// natsConfigs returns every NATS configuration file under deploy/.
func natsConfigs(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(deployDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".conf") && strings.Contains(p, "nats") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no NATS configuration files found under deploy/")
	}
	return files
}

// regionOf returns the region a file's base name ends with, or "".
func regionOf(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	for _, r := range regions {
		if strings.HasSuffix(base, r) {
			return r
		}
	}
	return ""
}

// TestNATSConfigsLoad loads every NATS configuration file under deploy/
// with nats-server's own parser, and checks what godwit relies on: a
// regional JetStream server's domain is its region, message payloads fit a
// change record with two 400 KB images, and hubs store nothing.
func TestNATSConfigsLoad(t *testing.T) {
	for _, f := range natsConfigs(t) {
		t.Run(strings.TrimPrefix(f, deployDir+"/"), func(t *testing.T) {
			opts, err := server.ProcessConfigFile(f)
			if err != nil {
				t.Fatalf("nats-server rejects %s: %v", f, err)
			}
			if filepath.Base(f) == "accounts.conf" {
				if opts.SystemAccount != "SYS" {
					t.Errorf("system account %q, want SYS", opts.SystemAccount)
				}
				return
			}
			if opts.MaxPayload < 4<<20 {
				t.Errorf("max_payload %d: want at least 4 MiB (a change record holds two 400 KB images)", opts.MaxPayload)
			}
			base := filepath.Base(f)
			switch {
			case strings.HasPrefix(base, "hub"):
				if opts.JetStream {
					t.Errorf("hub has JetStream enabled; hubs must store nothing (domains differ only across leaf nodes)")
				}
				if opts.LeafNode.Port == 0 {
					t.Errorf("hub accepts no leaf nodes")
				}
			case strings.HasPrefix(base, "js-"), strings.HasPrefix(base, "leaf-"):
				r := regionOf(f)
				if !opts.JetStream || opts.JetStreamDomain != r {
					t.Errorf("JetStream %v, domain %q: want JetStream in domain %q", opts.JetStream, opts.JetStreamDomain, r)
				}
				if len(opts.LeafNode.Remotes) != 1 || opts.LeafNode.Remotes[0].LocalAccount != "GODWIT" {
					t.Errorf("want one leaf remote bound to account GODWIT, got %+v", opts.LeafNode.Remotes)
				}
				if opts.Gateway.Name != "" {
					t.Errorf("a JetStream server with its own domain must not join gateways (gateway %q)", opts.Gateway.Name)
				}
			default:
				t.Errorf("unexpected NATS config file %s (the test knows hub*, js-*, leaf-* and accounts.conf)", base)
			}
		})
	}
}

// topology is a set of nats-servers started from deploy/ files
// (harness.StartNATSTopology).
type topology struct{ *harness.NATSTopology }

func startTopology(t *testing.T, files ...string) *topology {
	t.Helper()
	return &topology{harness.StartNATSTopology(t, files...)}
}

// url returns a client URL of the named server with godwit's credentials.
func (tp *topology) url(t *testing.T, name string) string {
	t.Helper()
	return tp.URL(t, name, godwitUser, godwitPassword)
}

func (tp *topology) connect(t *testing.T, name string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(tp.url(t, name), nats.Name("test "+name))
	if err != nil {
		t.Fatalf("connect to %s: %v", name, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// eventually retries f until it succeeds or 30 s pass (leaf and gateway
// connections, and subject interest across them, take a moment).
func eventually(t *testing.T, what string, f func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := f(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after 30s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond) // NB: a retry interval, not a wait for an event
	}
}

// checkRegionsReachEachOther asserts what godwit's replication needs of a
// topology, with jsServer(region) naming each region's JetStream server:
//   - each region's local JetStream is in the domain named after it;
//   - the same stream name can exist in every region (table ids collide
//     across regions; the domains keep them apart);
//   - from every region, every other region's stream is readable through
//     jetstream.NewWithDomain on the local connection (how a peer given as
//     {domain: REGION} is reached);
//   - a core request on gw.ctl.<region>.* reaches that region's
//     subscriber (the global-tables control subjects).
func checkRegionsReachEachOther(t *testing.T, tp *topology, jsServer func(region string) string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conns := map[string]*nats.Conn{}
	const stream = "GW_1_DEPLOYTEST" // the same name in every region
	for _, r := range regions {
		nc := tp.connect(t, jsServer(r))
		conns[r] = nc
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		info, err := js.AccountInfo(ctx)
		if err != nil {
			t.Fatalf("%s: local JetStream: %v", r, err)
		}
		if info.Domain != r {
			t.Fatalf("%s: local JetStream domain %q, want the region name", r, info.Domain)
		}
		s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{"gw." + r + ".1.DEPLOYTEST.*"},
			AllowDirect: true}) // as godwit's table streams
		if err != nil {
			t.Fatalf("%s: create stream: %v", r, err)
		}
		if _, err := js.Publish(ctx, "gw."+r+".1.DEPLOYTEST.0", []byte("change from "+r)); err != nil {
			t.Fatalf("%s: publish: %v", r, err)
		}
		if n := s.CachedInfo().State.Msgs; n != 0 {
			t.Fatalf("%s: fresh stream holds %d messages", r, n)
		}
		ctl, err := nc.Subscribe("gw.ctl."+r+".ping", func(m *nats.Msg) { _ = m.Respond([]byte("pong from " + r)) })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ctl.Unsubscribe() })
	}
	for _, from := range regions {
		for _, to := range regions {
			if from == to {
				continue
			}
			nc := conns[from]
			eventually(t, fmt.Sprintf("%s reads %s's stream through domain %s", from, to, to), func(ctx context.Context) error {
				js, err := jetstream.NewWithDomain(nc, to)
				if err != nil {
					return err
				}
				info, err := js.AccountInfo(ctx)
				if err != nil {
					return err
				}
				if info.Domain != to {
					return fmt.Errorf("domain %s answered as %q", to, info.Domain)
				}
				s, err := js.Stream(ctx, stream)
				if err != nil {
					return err
				}
				c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
				if err != nil {
					return err
				}
				m, err := c.Next(jetstream.FetchMaxWait(time.Second))
				if err != nil {
					return err
				}
				if got, want := string(m.Data()), "change from "+to; got != want {
					t.Fatalf("%s read %q from %s's stream, want %q", from, got, to, want)
				}
				return nil
			})
			// godwit's Streams API and consumers read by direct get with the
			// domain's API prefix (streams.jsAPIPrefix).
			eventually(t, fmt.Sprintf("%s direct-gets from %s's stream through domain %s", from, to, to), func(ctx context.Context) error {
				m, err := nc.RequestWithContext(ctx, "$JS."+to+".API.DIRECT.GET."+stream, []byte(`{"seq":1}`))
				if err != nil {
					return err
				}
				if got, want := string(m.Data), "change from "+to; got != want {
					return fmt.Errorf("direct get answered %q (status %q), want %q", got, m.Header.Get("Status"), want)
				}
				return nil
			})
			eventually(t, fmt.Sprintf("%s's control request reaches %s", from, to), func(ctx context.Context) error {
				m, err := nc.RequestWithContext(ctx, "gw.ctl."+to+".ping", nil)
				if err != nil {
					return err
				}
				if got := string(m.Data); got != "pong from "+to {
					return fmt.Errorf("answer %q", got)
				}
				return nil
			})
		}
	}
}

// TestSuperclusterTopology starts deploy/nats/supercluster as written
// (three hubs joined by gateways, a JetStream server per region attached as
// a leaf node with the region as its domain) and checks that the regions
// reach each other's streams by domain, then starts godwit per region with
// its godwit-REGION.yaml against it.
func TestSuperclusterTopology(t *testing.T) {
	dir := filepath.Join(deployDir, "nats", "supercluster")
	var files []string
	for _, r := range regions {
		files = append(files, filepath.Join(dir, "hub-"+r+".conf"))
	}
	for _, r := range regions {
		files = append(files, filepath.Join(dir, "js-"+r+".conf"))
	}
	tp := startTopology(t, files...)
	eventually(t, "gateways between the three hubs", func(context.Context) error {
		for _, r := range regions {
			if n := tp.Servers["hub-"+r].NumOutboundGateways(); n != len(regions)-1 {
				return fmt.Errorf("hub-%s has %d outbound gateways", r, n)
			}
		}
		return nil
	})
	js := func(r string) string { return "js-" + r }
	checkRegionsReachEachOther(t, tp, js)
	checkGodwitConfigs(t, dir, func(r string) string { return tp.url(t, js(r)) })
}

// TestLeafNodeTopology starts deploy/nats/leafnodes as written (one hub,
// a JetStream server per region as its leaf node with the region as its
// domain) and runs the same checks.
func TestLeafNodeTopology(t *testing.T) {
	dir := filepath.Join(deployDir, "nats", "leafnodes")
	files := []string{filepath.Join(dir, "hub.conf")}
	for _, r := range regions {
		files = append(files, filepath.Join(dir, "leaf-"+r+".conf"))
	}
	tp := startTopology(t, files...)
	js := func(r string) string { return "leaf-" + r }
	checkRegionsReachEachOther(t, tp, js)
	checkGodwitConfigs(t, dir, func(r string) string { return tp.url(t, js(r)) })
}
