package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"testing"
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
	tf := newTerraform(t)
	names := []string{"us-east-1", "us-west-2", "eu-west-1"}
	natsAddr := map[string]string{}
	for _, n := range names {
		natsAddr[n] = harness.FreeAddr(t)
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

	render := func(both bool) {
		tf.render("testdata/terraform/replicas.tf.tmpl", map[string]any{"Endpoint": router.URL, "Both": both})
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
	tf.run(0, "init")
	tf.run(0, "apply", "-auto-approve")
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
	tf.run(0, "plan", "-detailed-exitcode")

	render(false)
	tf.run(0, "apply", "-auto-approve")
	if got := replicasIn("eu-west-1"); !strings.Contains(got, "ResourceNotFoundException") {
		t.Errorf("eu-west-1 after its replica was removed: %s", got)
	}
	for _, n := range names[:2] {
		if got, want := replicasIn(n), others(n, "us-east-1", "us-west-2"); got != want {
			t.Errorf("%s after removing eu-west-1: %s, want %s", n, got, want)
		}
	}
	tf.run(0, "plan", "-detailed-exitcode")

	tf.run(0, "destroy", "-auto-approve")
	for _, n := range names {
		if got := replicasIn(n); !strings.Contains(got, "ResourceNotFoundException") {
			t.Errorf("%s after destroy: %s", n, got)
		}
	}
}
