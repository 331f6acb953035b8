package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestKubernetesConfigs starts godwit with each region overlay's
// godwit.yaml (the ConfigMap the StatefulSet mounts). The embedded NATS
// moves to a free loopback port; peers are unreachable here, which godwit
// must tolerate (a region keeps serving while its peers are away).
func TestKubernetesConfigs(t *testing.T) {
	for _, r := range regions {
		f := filepath.Join(deployDir, "k8s", "overlays", r, "godwit.yaml")
		logs := startGodwit(t, []string{"--config", configFile(t, f)}, "--nats-listen", "127.0.0.1:0")
		if !strings.Contains(logs, "region="+r) {
			t.Errorf("%s: godwit did not run as region %s:\n%s", f, r, logs)
		}
		if !strings.Contains(logs, "embedded NATS server up") {
			t.Errorf("%s: the embedded NATS server did not start:\n%s", f, logs)
		}
	}
}

// TestComposeCommands starts godwit with the command line of each region
// service of deploy/compose/docker-compose.yml, with loopback addresses.
func TestComposeCommands(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(deployDir, "compose", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Command []string `yaml:"command"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatal(err)
	}
	for _, r := range regions {
		svc, ok := compose.Services[r]
		if !ok {
			t.Fatalf("no service %s", r)
		}
		if len(svc.Command) == 0 || svc.Command[0] != "serve" {
			t.Fatalf("%s: command %q is not a godwit serve", r, svc.Command)
		}
		if !slices.Contains(svc.Command, "--region="+r) {
			t.Errorf("%s: command %q does not set --region=%s", r, svc.Command, r)
		}
		var peers []string
		for _, a := range svc.Command {
			if p, ok := strings.CutPrefix(a, "--peer="); ok {
				peers = append(peers, strings.SplitN(p, "=", 2)[0])
			}
		}
		want := slices.DeleteFunc(slices.Clone(regions), func(o string) bool { return o == r })
		slices.Sort(want)
		slices.Sort(peers)
		if !slices.Equal(peers, want) {
			t.Errorf("%s: peers %v, want %v", r, peers, want)
		}
		if !slices.Contains(svc.Volumes, r+":/data") {
			t.Errorf("%s: volumes %v: want the named volume %s on /data", r, svc.Volumes, r)
		}
		logs := startGodwit(t, svc.Command[1:], "--nats-listen", "127.0.0.1:0")
		if !strings.Contains(logs, "region="+r) {
			t.Errorf("%s: godwit did not run as region %s:\n%s", r, r, logs)
		}
	}
}

// conflictsMetric is being added by the global-tables conflict work (named
// in issue 4); every other metric the dashboards use must exist in code.
const conflictsMetric = "godwit_replication_conflicts_total"

var (
	promQuery   = regexp.MustCompile(`\bgodwit_[a-z0-9_]+`)
	fullName    = regexp.MustCompile(`"(godwit_[a-z0-9_]+)"`)
	nsSubsystem = regexp.MustCompile(`Namespace:\s*"godwit",\s*Subsystem:\s*"([a-z0-9_]+)",\s*Name:\s*"([a-z0-9_]+)"`)
)

// metricNames returns every metric name defined in the repository's Go
// code (as a literal "godwit_..." or a godwit Namespace/Subsystem/Name).
func metricNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	err := filepath.WalkDir("../..", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "test" || d.Name() == "deploy") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range fullName.FindAllSubmatch(src, -1) {
			names[string(m[1])] = true
		}
		for _, m := range nsSubsystem.FindAllSubmatch(src, -1) {
			names["godwit_"+string(m[1])+"_"+string(m[2])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestDashboardMetricsExist checks that the Grafana dashboard and the
// Prometheus files only use metric names the code exports (histogram
// series by their base name), so a renamed metric breaks this test rather
// than a panel.
func TestDashboardMetricsExist(t *testing.T) {
	names := metricNames(t)
	if !names["godwit_requests_total"] || !names["godwit_replication_latency_seconds"] {
		t.Fatalf("the metric scan found too little (%d names): fix the scan", len(names))
	}
	files, err := filepath.Glob(filepath.Join(deployDir, "grafana", "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards found (%v)", err)
	}
	used := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range promQuery.FindAllString(string(data), -1) {
			used++
			base := m
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(m, s); ok && names[b] {
					base = b
				}
			}
			if !names[base] && base != conflictsMetric {
				t.Errorf("%s uses %s, which no Go code defines", filepath.Base(f), m)
			}
		}
	}
	if used == 0 {
		t.Fatal("the dashboards use no godwit metric")
	}
}
