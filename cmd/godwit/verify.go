package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/godwit-db/godwit/globaltables"
	"github.com/nats-io/nats.go"
)

// Exit statuses of godwit verify (as diff(1)).
const (
	verifyIdentical = 0
	verifyDifferent = 1
	verifyTrouble   = 2
)

// regionFlags is a repeatable --region NAME=NATS_URL.
type regionFlags []struct{ name, url string }

func (r *regionFlags) String() string { return "" }

func (r *regionFlags) Set(v string) error {
	name, url, ok := strings.Cut(v, "=")
	if !ok || name == "" || url == "" {
		return fmt.Errorf("%q: want NAME=NATS_URL", v)
	}
	*r = append(*r, struct{ name, url string }{name, url})
	return nil
}

// runVerify is `godwit verify TABLE --region NAME=NATS_URL ...`: it asks
// each region's digest server (on its NATS, subject gw.ctl.<region>.digest;
// every godwit serve runs one) for the table's digests, compares them, and
// prints "identical" or the differing keys with each region's version.
// Exit status 0 identical, 1 different, 2 usage error or a region that
// could not be asked.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("godwit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		regions regionFlags
		buckets int
		settle  time.Duration
		timeout time.Duration
		format  string
	)
	fs.Var(&regions, "region", "a replica to compare, as `NAME=NATS_URL` (repeat for each region, at least two)")
	fs.IntVar(&buckets, "buckets", 64, "digest `buckets` per partition")
	fs.DurationVar(&settle, "settle", 2*time.Second, "wait before re-checking differing keys (changes still replicating are not divergence)")
	fs.DurationVar(&timeout, "timeout", 30*time.Second, "bound on one request to a region")
	fs.StringVar(&format, "format", "text", "output `format`: text or json")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: godwit verify TABLE --region NAME=NATS_URL --region NAME=NATS_URL [...]\n\n"+
			"Exit status: 0 identical, 1 different, 2 trouble.\n\n")
		fs.PrintDefaults()
	}
	table, code, ok := parseTableArgs(fs, args)
	if !ok {
		if code == exitUsage {
			return verifyTrouble
		}
		return code
	}
	if len(regions) < 2 || (format != "text" && format != "json") {
		fs.Usage()
		return verifyTrouble
	}
	cfg := globaltables.VerifyConfig{Table: table, Buckets: buckets, Settle: settle, Timeout: timeout}
	for _, r := range regions {
		nc, err := nats.Connect(r.url, nats.Name("godwit verify"))
		if err != nil {
			fmt.Fprintf(stderr, "godwit verify: connect to %s at %s: %v\n", r.name, r.url, err)
			return verifyTrouble
		}
		defer nc.Close()
		cfg.Regions = append(cfg.Regions, globaltables.VerifyRegion{Name: r.name, Conn: nc})
	}
	rep, err := globaltables.Verify(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "godwit verify: %v\n", err)
		return verifyTrouble
	}
	if format == "json" {
		b, _ := json.Marshal(rep)
		fmt.Fprintln(stdout, string(b))
	} else {
		printVerify(stdout, rep)
	}
	if rep.Identical {
		return verifyIdentical
	}
	return verifyDifferent
}

func printVerify(w io.Writer, rep *globaltables.VerifyReport) {
	counts := make([]string, 0, len(rep.Regions))
	for _, r := range rep.Regions {
		counts = append(counts, fmt.Sprintf("%s=%d", r, rep.Entries[r]))
	}
	if rep.Identical {
		fmt.Fprintf(w, "identical: table %s, %d partitions, entries %s\n", rep.Table, rep.Partitions, strings.Join(counts, " "))
		return
	}
	fmt.Fprintf(w, "different: table %s, %d keys differ (entries %s)\n", rep.Table, len(rep.Differing), strings.Join(counts, " "))
	for _, d := range rep.Differing {
		names := make([]string, 0, len(d.Regions))
		for n := range d.Regions {
			names = append(names, n)
		}
		sort.Strings(names)
		parts := make([]string, 0, len(names))
		for _, n := range names {
			s := d.Regions[n]
			switch {
			case !s.Present:
				parts = append(parts, n+"=absent")
			case s.Deleted:
				parts = append(parts, fmt.Sprintf("%s=deleted@%v", n, s.Version.Version()))
			default:
				parts = append(parts, fmt.Sprintf("%s=%v", n, s.Version.Version()))
			}
		}
		fmt.Fprintf(w, "%s %s\n", string(d.Key), strings.Join(parts, " "))
	}
}
