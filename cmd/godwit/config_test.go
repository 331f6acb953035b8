package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/godwit-db/godwit/region"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "godwit.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := loadConfig(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Listen: ":8000", DataDir: "./data", Region: "us-east-1", Partitions: region.DefaultPartitions(),
		LogLevel: "info", LogFormat: "text", TTLSweepInterval: 30 * time.Second, HTTPServer: "lean"}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults = %+v, want %+v", cfg, want)
	}
}

func TestConfigFlagsWinOverFile(t *testing.T) {
	path := writeFile(t, `
listen: 127.0.0.1:9000
data-dir: /var/lib/godwit
region: eu-west-1
partitions: 16
log-format: json
ttl-sweep-interval: 1m
no-sync: true
http-server: std
`)
	cfg, err := loadConfig([]string{"--config", path, "--region=ap-south-1", "-partitions", "4", "--no-sync=false"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Listen:           "127.0.0.1:9000",  // file
		DataDir:          "/var/lib/godwit", // file
		Region:           "ap-south-1",      // flag over file
		Partitions:       4,                 // flag over file
		LogLevel:         "info",            // default
		LogFormat:        "json",            // file
		TTLSweepInterval: time.Minute,       // file
		NoSync:           false,             // flag over file
		HTTPServer:       "std",             // file
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}

	// A bare boolean flag means true.
	cfg, err = loadConfig([]string{"--no-sync", "--ttl-sweep-interval", "0"}, &bytes.Buffer{})
	if err != nil || !cfg.NoSync || cfg.TTLSweepInterval != 0 {
		t.Errorf("--no-sync --ttl-sweep-interval 0: %+v %v", cfg, err)
	}
}

func TestConfigReportsEveryProblem(t *testing.T) {
	path := writeFile(t, `
listen: 127.0.0.1:9000
bogus: 1
partitions: lots
nats:
  url: nats://x
`)
	_, err := loadConfig([]string{"--config", path, "--log-level=loud", "--ttl-sweep-interval=soon",
		"--region", "Not A Region", "--log-format", "xml", "--listen", "nope", "--http-server", "h2"}, &bytes.Buffer{})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		"field bogus not found",
		"field nats not found",
		"cannot unmarshal !!str `lots` into int",
		"--ttl-sweep-interval: \"soon\" is not a duration",
		`log-level: "loud" is not one of`,
		`log-format: "xml" is not one of`,
		`region: "Not A Region"`,
		`listen: "nope" is not a host:port address`,
		`http-server: "h2" is not one of lean, std`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if errors.Is(err, errUsage) {
		t.Error("value problems reported as a usage error")
	}
}

func TestConfigValueRanges(t *testing.T) {
	for _, args := range [][]string{
		{"--partitions", "0"},
		{"--partitions", "1025"},
		{"--partitions", "x"},
		{"--data-dir", ""},
		{"--ttl-sweep-interval", "-1s"},
		{"--no-sync=maybe"},
	} {
		if _, err := loadConfig(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestConfigUsageErrors(t *testing.T) {
	var out bytes.Buffer
	if _, err := loadConfig([]string{"--nope"}, &out); !errors.Is(err, errUsage) || !strings.Contains(out.String(), "Usage: godwit serve") {
		t.Errorf("unknown flag: %v, output %q", err, out.String())
	}
	if _, err := loadConfig([]string{"extra"}, &bytes.Buffer{}); !errors.Is(err, errUsage) {
		t.Errorf("positional argument: %v", err)
	}
	if _, err := loadConfig([]string{"-h"}, &bytes.Buffer{}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	if _, err := loadConfig([]string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}, &bytes.Buffer{}); err == nil ||
		!strings.Contains(err.Error(), "config file") {
		t.Errorf("missing file: %v", err)
	}
	// An empty file is no settings at all.
	if cfg, err := loadConfig([]string{"--config", writeFile(t, "")}, &bytes.Buffer{}); err != nil || !reflect.DeepEqual(cfg, DefaultConfig()) {
		t.Errorf("empty file: %+v %v", cfg, err)
	}
	if _, err := loadConfig([]string{"--config", writeFile(t, "listen: [\n")}, &bytes.Buffer{}); err == nil {
		t.Error("malformed YAML accepted")
	}
}

func TestConfigPeers(t *testing.T) {
	path := writeFile(t, `
region: us-east-1
peers:
  us-west-2:
    url: nats://10.0.0.2:4222
    creds: /etc/godwit/west.creds
    tls: {ca: /etc/ca.pem, cert: /etc/c.pem, key: /etc/k.pem}
  eu-west-1:
    domain: eu-west-1
`)
	cfg, err := loadConfig([]string{"--config", path, "--peer", "ap-south-1=nats://10.0.0.9:4222",
		"--peer", "eu-west-1=nats://10.0.0.3:4222"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]PeerConfig{
		"us-west-2":  {URL: "nats://10.0.0.2:4222", Creds: "/etc/godwit/west.creds", TLS: PeerTLS{CA: "/etc/ca.pem", Cert: "/etc/c.pem", Key: "/etc/k.pem"}},
		"eu-west-1":  {URL: "nats://10.0.0.3:4222"}, // the flag replaces the file's entry
		"ap-south-1": {URL: "nats://10.0.0.9:4222"},
	}
	if !reflect.DeepEqual(cfg.Peers, want) {
		t.Errorf("peers = %+v\nwant %+v", cfg.Peers, want)
	}
	rc := cfg.regionConfig(nil)
	if rc.Peers["us-west-2"].TLS.Key != "/etc/k.pem" || rc.Peers["eu-west-1"].URL != "nats://10.0.0.3:4222" {
		t.Errorf("region peers = %+v", rc.Peers)
	}

	// Every problem at once: unknown key, bad name, the local region, no
	// url or domain, credentials without a url, a bad flag.
	bad := writeFile(t, `
region: us-east-1
peers:
  us-east-1: {url: nats://x:4222}
  Bad_Name: {url: nats://x:4222}
  lonely: {}
  nourl: {domain: nourl, token: t}
  typo: {url: nats://x:4222, passwrd: x}
`)
	_, err = loadConfig([]string{"--config", bad, "--peer", "nourlatall"}, &bytes.Buffer{})
	if err == nil {
		t.Fatal("bad peers accepted")
	}
	for _, want := range []string{"passwrd", "--peer: \"nourlatall\""} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// Without the unknown key, the semantic problems are all reported.
	bad = writeFile(t, `
region: us-east-1
peers:
  us-east-1: {url: nats://x:4222}
  Bad_Name: {url: nats://x:4222}
  lonely: {}
  nourl: {domain: nourl, token: t}
`)
	_, err = loadConfig([]string{"--config", bad}, &bytes.Buffer{})
	for _, want := range []string{"peers.us-east-1: is this region", `"Bad_Name" is not a region name`,
		"peers.lonely: needs a url or a JetStream domain", "peers.nourl: credentials and TLS apply"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
