package e2e

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/godwit-db/godwit/globaltables"
	"github.com/godwit-db/godwit/region"
	"github.com/godwit-db/godwit/test/harness"
)

// credentialRegion finds the region of a SigV4 Authorization header's
// credential scope (Credential=AKID/DATE/REGION/SERVICE/aws4_request).
var credentialRegion = regexp.MustCompile(`Credential=[^/]+/[0-9]+/([a-z0-9-]+)/`)

// TestTerraformReplicas drives aws_dynamodb_table with replica blocks
// (global tables 2019.11.21) against three godwit regions: create with two
// replicas, an empty plan, remove one replica, an empty plan, destroy.
// Terraform's one provider sends every region's requests to one endpoint:
// a router here passes each to the region its SigV4 scope names, as AWS's
// regional endpoints would. Skips like TestTerraform without terraform.
//
// NB: the provider (5.100, flattenReplicaDescriptions) maps every entry of
// DescribeTable.Replicas to a replica block, so the empty plans here hold
// only because each region lists the other regions, not itself (see
// docs/global-tables.md, "Terraform").
func TestTerraformReplicas(t *testing.T) {
	bin, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("terraform not installed")
	}
	mirror := os.Getenv("GODWIT_TF_PLUGINS")
	if mirror == "" {
		mirror = "/opt/tf-plugins"
	}
	if m, _ := filepath.Glob(filepath.Join(mirror, "registry.terraform.io/hashicorp/aws/*")); len(m) == 0 {
		t.Skipf("no hashicorp/aws provider under %s (set GODWIT_TF_PLUGINS)", mirror)
	}
	names := []string{"us-east-1", "us-west-2", "eu-west-1"}
	natsAddr := map[string]string{}
	for _, n := range names {
		natsAddr[n] = freeLoopback(t)
	}
	regions := map[string]*region.Region{}
	for _, n := range names {
		peers := map[string]region.Peer{}
		for _, p := range names {
			if p != n {
				peers[p] = region.Peer{URL: "nats://" + natsAddr[p]}
			}
		}
		r, err := region.Start(context.Background(), region.Config{
			Listen: "127.0.0.1:0", DataDir: t.TempDir(), Region: n, Partitions: 2, NoSync: true,
			NATSListen: natsAddr[n], NATSMaxStore: 1 << 30, StreamMaxBytes: 64 << 20,
			PublisherPollInterval: 20 * time.Millisecond, Peers: peers, Timing: globaltables.TestTiming(),
		})
		if err != nil {
			t.Fatalf("start %s: %v", n, err)
		}
		t.Cleanup(func() { _ = r.Close() })
		regions[n] = r
	}
	proxies := map[string]*httputil.ReverseProxy{}
	for n, r := range regions {
		u, _ := url.Parse(r.URL())
		proxies[n] = httputil.NewSingleHostReverseProxy(u)
	}
	router := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		m := credentialRegion.FindStringSubmatch(req.Header.Get("Authorization"))
		if m == nil || proxies[m[1]] == nil {
			http.Error(w, "no region in the credential scope", http.StatusBadRequest)
			return
		}
		proxies[m[1]].ServeHTTP(w, req)
	}))
	t.Cleanup(router.Close)

	dir := t.TempDir()
	rc := filepath.Join(dir, "terraformrc")
	writeFile(t, rc, `provider_installation {
  filesystem_mirror {
    path    = "`+mirror+`"
    include = ["registry.terraform.io/*/*"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
`)
	tmpl := template.Must(template.ParseFiles("testdata/terraform/replicas.tf.tmpl"))
	render := func(both bool) {
		var b bytes.Buffer
		if err := tmpl.Execute(&b, map[string]any{"Endpoint": router.URL, "Both": both}); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "main.tf"), b.String())
	}
	env := append(clientEnv(t), "TF_CLI_CONFIG_FILE="+rc, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1")
	tf := func(wantExit int, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append(args, "-no-color", "-input=false")...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("terraform %s: %v", args[0], err)
		}
		if code != wantExit {
			t.Fatalf("terraform %s exited %d, want %d:\n%s", strings.Join(args, " "), code, wantExit, out)
		}
		return string(out)
	}
	ctx := context.Background()
	replicasIn := func(n string) string {
		out, err := harness.NewClient(regions[n].URL()).DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("GlobalOrders")})
		if err != nil {
			return "error: " + err.Error()
		}
		var parts []string
		for _, r := range out.Table.Replicas {
			parts = append(parts, aws.ToString(r.RegionName)+":"+string(r.ReplicaStatus))
		}
		return string(out.Table.TableStatus) + " " + strings.Join(parts, ",")
	}

	render(true)
	tf(0, "init")
	tf(0, "apply", "-auto-approve")
	others := func(n string, all ...string) string {
		var o []string
		for _, r := range all {
			if r != n {
				o = append(o, r+":ACTIVE")
			}
		}
		return "ACTIVE " + strings.Join(o, ",")
	}
	for _, n := range names {
		if got, want := replicasIn(n), others(n, "eu-west-1", "us-east-1", "us-west-2"); got != want {
			t.Errorf("%s after create: %s, want %s", n, got, want)
		}
	}
	tf(0, "plan", "-detailed-exitcode")

	render(false)
	tf(0, "apply", "-auto-approve")
	if got := replicasIn("eu-west-1"); !strings.Contains(got, "ResourceNotFoundException") {
		t.Errorf("eu-west-1 after its replica was removed: %s", got)
	}
	for _, n := range names[:2] {
		if got, want := replicasIn(n), others(n, "us-east-1", "us-west-2"); got != want {
			t.Errorf("%s after removing eu-west-1: %s, want %s", n, got, want)
		}
	}
	tf(0, "plan", "-detailed-exitcode")

	tf(0, "destroy", "-auto-approve")
	for _, n := range names {
		if got := replicasIn(n); !strings.Contains(got, "ResourceNotFoundException") {
			t.Errorf("%s after destroy: %s", n, got)
		}
	}
}

func freeLoopback(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
