// Command godwit is the godwit server: a self-hosted, DynamoDB-compatible
// regional database.
//
//	godwit serve [flags]     serve the DynamoDB API (see serve.go)
//	godwit tail TABLE        follow a table's stream (see tail.go)
//	godwit conflicts TABLE   print a global table's conflict log (conflicts.go)
//	godwit verify TABLE      compare a global table's replicas (verify.go)
//	godwit consumers         list a server's stream consumers (see consumers.go)
//	godwit audit verify DIR  check an audit-log sink (see audit.go)
//	godwit version           print the version
//	godwit help              print this help
//
// Each subcommand lives in its own file; main only dispatches. Exit status:
// 0 on success (including a clean shutdown on SIGINT/SIGTERM), 1 on a runtime
// failure, 2 on a usage or configuration error.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
// When empty, the module version from the build info is used.
var version string

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// NB: after the first signal, restore the default handling so that a
		// second one kills a shutdown that hangs.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches args[0] to its subcommand and returns the exit status.
// ctx is cancelled on SIGINT/SIGTERM.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printHelp(stderr)
		return exitUsage
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stderr)
	case "tail":
		return runTail(ctx, args[1:], stdout, stderr)
	case "conflicts":
		return runConflicts(ctx, args[1:], stdout, stderr)
	case "verify":
		return runVerify(ctx, args[1:], stdout, stderr)
	case "consumers":
		return runConsumers(ctx, args[1:], stdout, stderr)
	case "audit":
		return runAudit(ctx, args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "godwit %s (%s)\n", versionString(), runtime.Version())
		return exitOK
	case "help", "-h", "-help", "--help":
		printHelp(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "godwit: unknown command %q\n\n", args[0])
	printHelp(stderr)
	return exitUsage
}

func printHelp(w io.Writer) {
	fmt.Fprint(w, `godwit is a self-hosted, DynamoDB-compatible database.

Usage:

	godwit <command> [arguments]

Commands:

	serve     serve the DynamoDB API (godwit serve -h for its flags)
	tail      print a table's stream, one JSON record per line (godwit tail -h)
	conflicts print a global table's replication conflicts (godwit conflicts -h)
	verify    compare a global table's replicas across regions (godwit verify -h)
	consumers list a server's stream consumers: state, position, iterator age, last error
	audit     verify an audit-log sink's directory (godwit audit verify DIR)
	version   print the version
	help      print this help
`)
}

// versionString is the build's version: the -ldflags one, else the module
// version and VCS revision recorded by the go command.
func versionString() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
}
