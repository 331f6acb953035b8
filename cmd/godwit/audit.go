package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/godwit-db/godwit/sinks/auditlog"
)

// runAudit is `godwit audit verify DIR`: it checks an audit-log sink's
// directory (sinks/auditlog.Verify) and prints every place it does not
// verify, one per line ("FILE:LINE (seq N): what"), then a summary.
// Exit status 0 when the log verifies, 1 when it does not (or cannot be
// read), 2 on a usage error. --json prints the report as one JSON object.
func runAudit(_ context.Context, args []string, stdout, stderr io.Writer) int {
	usage := func() {
		fmt.Fprintf(stderr, "Usage: godwit audit verify [--json] DIR\n")
	}
	if len(args) == 0 || args[0] != "verify" {
		usage()
		return exitUsage
	}
	fs := flag.NewFlagSet("godwit audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		usage()
		fs.PrintDefaults()
	}
	rest := args[1:]
	var dir string
	if len(rest) > 0 && len(rest[0]) > 0 && rest[0][0] != '-' {
		dir, rest = rest[0], rest[1:]
	}
	err := fs.Parse(rest)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if dir == "" && fs.NArg() > 0 {
		dir = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "godwit audit verify: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if dir == "" || fs.NArg() > 1 {
		usage()
		return exitUsage
	}
	rep, err := auditlog.Verify(dir)
	if err != nil {
		fmt.Fprintf(stderr, "godwit audit verify: %v\n", err)
		return exitFailure
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		_ = enc.Encode(struct {
			OK bool `json:"ok"`
			auditlog.Report
		}{rep.OK(), rep})
	} else {
		for _, p := range rep.Problems {
			fmt.Fprintln(stdout, p.String())
		}
		if rep.OK() {
			fmt.Fprintf(stdout, "ok: %d entries in %d segments, last seq %d, hash %s\n", rep.Entries, rep.Segments, rep.LastSeq, rep.LastHash)
		} else {
			fmt.Fprintf(stdout, "TAMPERED: %d problems in %d entries, %d segments\n", len(rep.Problems), rep.Entries, rep.Segments)
		}
	}
	if !rep.OK() {
		return exitFailure
	}
	return exitOK
}
