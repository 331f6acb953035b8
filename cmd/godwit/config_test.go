package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	want := Config{Listen: ":8000", DataDir: "./data", Region: "us-east-1", Partitions: 8,
		LogLevel: "info", LogFormat: "text", TTLSweepInterval: 30 * time.Second, HTTPServer: "lean"}
	if cfg != want {
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
	if cfg != want {
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
	if cfg, err := loadConfig([]string{"--config", writeFile(t, "")}, &bytes.Buffer{}); err != nil || cfg != DefaultConfig() {
		t.Errorf("empty file: %+v %v", cfg, err)
	}
	if _, err := loadConfig([]string{"--config", writeFile(t, "listen: [\n")}, &bytes.Buffer{}); err == nil {
		t.Error("malformed YAML accepted")
	}
}
