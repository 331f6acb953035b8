package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/godwit-db/godwit/globaltables"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// runConflicts is `godwit conflicts TABLE`: it prints the conflict log of
// a table (replicated changes that last-writer-wins decided against a
// concurrent version, see globaltables.ConflictLog) as one JSON record per
// line, or with --format text one readable line each. It reads the
// region's GW_CONFLICTS stream directly from the region's NATS
// (--nats-url, default the embedded server's default address); with
// --follow it keeps printing new records until interrupted.
func runConflicts(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("godwit conflicts", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		natsURL, format, domain string
		since                   time.Duration
		follow                  bool
	)
	fs.StringVar(&natsURL, "nats-url", "nats://"+defaultNATSListen, "the region's NATS `URL` (its embedded server, or the external NATS)")
	fs.StringVar(&domain, "js-domain", "", "JetStream `domain` of the region (an external supercluster); empty for the server's own")
	fs.DurationVar(&since, "since", 0, "print only records of the last `duration` (e.g. 1h); 0 for all kept")
	fs.BoolVar(&follow, "follow", false, "keep printing new records until interrupted")
	fs.StringVar(&format, "format", "json", "output `format`: json (one record per line) or text")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: godwit conflicts TABLE [--since DUR] [--follow] [--nats-url URL] [--format json|text]\n\n")
		fs.PrintDefaults()
	}
	table, code, ok := parseTableArgs(fs, args)
	if !ok {
		return code
	}
	if format != "json" && format != "text" {
		fmt.Fprintf(stderr, "godwit conflicts: --format %q: want json or text\n", format)
		return exitUsage
	}
	nc, err := nats.Connect(natsURL, nats.Name("godwit conflicts"))
	if err != nil {
		fmt.Fprintf(stderr, "godwit conflicts: connect to %s: %v\n", natsURL, err)
		return exitFailure
	}
	defer nc.Close()
	var js jetstream.JetStream
	if domain != "" {
		js, err = jetstream.NewWithDomain(nc, domain)
	} else {
		js, err = jetstream.New(nc)
	}
	if err != nil {
		fmt.Fprintf(stderr, "godwit conflicts: %v\n", err)
		return exitFailure
	}
	q := globaltables.ConflictQuery{Table: table, Follow: follow}
	if since > 0 {
		q.Since = time.Now().Add(-since)
	}
	err = globaltables.ReadConflicts(ctx, js, q, func(rec globaltables.ConflictRecord, raw []byte) error {
		var line string
		if format == "text" {
			line = conflictText(rec)
		} else {
			line = string(raw)
		}
		_, err := fmt.Fprintln(stdout, line)
		return err
	})
	if err != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "godwit conflicts: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// conflictText renders a record on one readable line.
func conflictText(r globaltables.ConflictRecord) string {
	img := func(deleted bool, raw json.RawMessage) string {
		if deleted || len(raw) == 0 || string(raw) == "null" {
			return "(deleted)"
		}
		return string(raw)
	}
	v := func(cv globaltables.ConflictVersion) string { return cv.Version().String() }
	return fmt.Sprintf("%s %s key=%s %s from %s: winner %s %s | stored %s %s | incoming %s (over %s) %s",
		r.Time.Format(time.RFC3339Nano), r.Table, string(r.Key), r.Outcome, r.Source, r.Winner, v(r.WinnerVersion),
		v(r.Stored), img(r.StoredDeleted, r.StoredImage), v(r.Incoming), v(r.IncomingPrev),
		img(string(r.IncomingImage) == "null", r.IncomingImage))
}

// parseTableArgs parses "TABLE [flags]" or "[flags] TABLE". ok is false
// when the command must return code.
func parseTableArgs(fs *flag.FlagSet, args []string) (table string, code int, ok bool) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		table, args = args[0], args[1:]
	}
	err := fs.Parse(args)
	if err == nil && table == "" && fs.NArg() > 0 {
		table = fs.Arg(0)
		err = fs.Parse(fs.Args()[1:])
	}
	if errors.Is(err, flag.ErrHelp) {
		return "", exitOK, false
	}
	if err != nil {
		return "", exitUsage, false
	}
	if table == "" || fs.NArg() > 0 {
		fs.Usage()
		return "", exitUsage, false
	}
	return table, 0, true
}
