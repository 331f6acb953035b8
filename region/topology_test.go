package region

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/godwit-db/godwit/test/harness"
)

// The example topologies under deploy/nats and their credentials
// (accounts.conf).
const (
	deployNATS     = "../deploy/nats"
	godwitUser     = "godwit"
	godwitPassword = "change-me-godwit"
)

var topologyRegions = []string{"us-east-1", "us-west-2", "eu-west-1"}

// TestThreeRegionsOverNATSTopologies runs global tables over the external
// NATS topologies of deploy/nats, started in-process as written (addresses
// moved to loopback): each region's godwit uses its region's JetStream
// server (NATSURL, domain = region name) and reaches its peers only by
// JetStream domain (Peers {other: {Domain: other}}, no URL), so control
// requests, snapshot transfer and stream reads (direct gets with the
// domain's API prefix) all cross leaf-node (and gateway) connections. A
// table with items in us-east-1 gets replicas in the two other regions
// through UpdateTable; writes and deletes in all three converge.
func TestThreeRegionsOverNATSTopologies(t *testing.T) {
	for _, tc := range []struct {
		name     string
		files    []string
		jsServer func(region string) string
	}{
		{"leafnodes", append([]string{"hub.conf"}, prefixed("leaf-", ".conf")...),
			func(r string) string { return "leaf-" + r }},
		{"supercluster", append(prefixed("hub-", ".conf"), prefixed("js-", ".conf")...),
			func(r string) string { return "js-" + r }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var files []string
			for _, f := range tc.files {
				files = append(files, filepath.Join(deployNATS, tc.name, f))
			}
			tp := harness.StartNATSTopology(t, files...)
			rs := startRegionsWith(t, func(c *Config) {
				c.NATSURL = tp.URL(t, tc.jsServer(c.Region), godwitUser, godwitPassword)
				c.Peers = map[string]Peer{}
				for _, p := range topologyRegions {
					if p != c.Region {
						c.Peers[p] = Peer{Domain: p}
					}
				}
			}, topologyRegions...)
			replicateAcrossDomains(t, rs)
		})
	}
}

func prefixed(prefix, suffix string) []string {
	var out []string
	for _, r := range topologyRegions {
		out = append(out, prefix+r+suffix)
	}
	return out
}

// replicateAcrossDomains is the global-tables story on three regions named
// as topologyRegions.
func replicateAcrossDomains(t *testing.T, rs map[string]*testRegion) {
	t.Helper()
	east, west, eu := rs["us-east-1"].client, rs["us-west-2"].client, rs["eu-west-1"].client
	const table = "orders"
	createTable(t, east, table, newImages())
	for i := 0; i < 30; i++ {
		put(t, east, table, fmt.Sprintf("e-%03d", i), "east")
	}
	if err := addReplica(east, table, "us-west-2"); err != nil {
		t.Fatal(err)
	}
	waitReplicas(t, rs, table, "us-east-1:ACTIVE,us-west-2:ACTIVE", "us-east-1", "us-west-2")
	if err := addReplica(west, table, "eu-west-1"); err != nil {
		t.Fatal(err)
	}
	all := []string{"us-east-1", "us-west-2", "eu-west-1"}
	waitReplicas(t, rs, table, "eu-west-1:ACTIVE,us-east-1:ACTIVE,us-west-2:ACTIVE", all...)
	waitConverged(t, rs, table, 30, all...)

	for i := 0; i < 10; i++ {
		put(t, west, table, fmt.Sprintf("w-%03d", i), "west")
		put(t, eu, table, fmt.Sprintf("u-%03d", i), "eu")
	}
	for i := 0; i < 5; i++ {
		del(t, eu, table, fmt.Sprintf("e-%03d", i))
	}
	put(t, east, table, "hot", "east")
	put(t, west, table, "hot", "west")
	put(t, eu, table, "hot", "eu")
	got := waitConverged(t, rs, table, 30-5+10+10+1, all...)
	for _, line := range got {
		if line < "e-005" && line >= "e-" {
			t.Errorf("deleted item %s is back", line)
		}
	}
	// Every region replicates from both others, by domain.
	for _, n := range all {
		eventually(t, 10*time.Second, n+"'s drivers", func() string {
			if ds := rs[n].r.Manager().Drivers(); len(ds) != 2 {
				return fmt.Sprintf("%d drivers: %+v", len(ds), ds)
			}
			return ""
		})
	}
}
