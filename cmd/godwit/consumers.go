package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/godwit-db/godwit/sinks"
	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// consumerConfig is one entry of the config file's consumers: section: an
// event source mapping with AWS's PascalCase names (so a SAM or
// CloudFormation definition can be pasted) and its Target: block. Unset
// optional fields take AWS's defaults (sinks.DefaultMapping).
type consumerConfig struct {
	Name                           string   `yaml:"Name"`
	Table                          string   `yaml:"Table"`
	StartingPosition               string   `yaml:"StartingPosition"`
	BatchSize                      *int     `yaml:"BatchSize"`
	MaximumBatchingWindowInSeconds *int     `yaml:"MaximumBatchingWindowInSeconds"`
	ParallelizationFactor          *int     `yaml:"ParallelizationFactor"`
	BisectBatchOnFunctionError     *bool    `yaml:"BisectBatchOnFunctionError"`
	MaximumRetryAttempts           *int     `yaml:"MaximumRetryAttempts"`
	MaximumRecordAgeInSeconds      *int     `yaml:"MaximumRecordAgeInSeconds"`
	FunctionResponseTypes          []string `yaml:"FunctionResponseTypes"`
	TumblingWindowInSeconds        *int     `yaml:"TumblingWindowInSeconds"`
	Enabled                        *bool    `yaml:"Enabled"`
	DestinationConfig              *struct {
		OnFailure *struct {
			Destination string `yaml:"Destination"`
		} `yaml:"OnFailure"`
	} `yaml:"DestinationConfig"`
	FilterCriteria *struct {
		Filters []struct {
			Pattern string `yaml:"Pattern"`
		} `yaml:"Filters"`
	} `yaml:"FilterCriteria"`
	Target targetSpec `yaml:"Target"`
}

// mapping is c as a sinks.Mapping, defaults filled in.
func (c consumerConfig) mapping() sinks.Mapping {
	m := sinks.DefaultMapping()
	m.Name, m.Table, m.StartingPosition = c.Name, c.Table, c.StartingPosition
	setInt := func(dst *int, src *int) {
		if src != nil {
			*dst = *src
		}
	}
	setInt(&m.BatchSize, c.BatchSize)
	setInt(&m.MaximumBatchingWindowInSeconds, c.MaximumBatchingWindowInSeconds)
	setInt(&m.ParallelizationFactor, c.ParallelizationFactor)
	setInt(&m.MaximumRetryAttempts, c.MaximumRetryAttempts)
	setInt(&m.MaximumRecordAgeInSeconds, c.MaximumRecordAgeInSeconds)
	setInt(&m.TumblingWindowInSeconds, c.TumblingWindowInSeconds)
	if c.BisectBatchOnFunctionError != nil {
		m.BisectBatchOnFunctionError = *c.BisectBatchOnFunctionError
	}
	if c.Enabled != nil {
		m.Enabled = *c.Enabled
	}
	if d := c.DestinationConfig; d != nil && d.OnFailure != nil {
		m.OnFailureDestination = d.OnFailure.Destination
	}
	m.FunctionResponseTypes = c.FunctionResponseTypes
	if f := c.FilterCriteria; f != nil {
		for _, p := range f.Filters {
			m.FilterPatterns = append(m.FilterPatterns, p.Pattern)
		}
	}
	return m
}

// validateConsumers reports every problem of the consumers: section, each
// naming the consumer and the field.
func validateConsumers(cs []consumerConfig) []error {
	var errs []error
	seen := map[string]bool{}
	for i, c := range cs {
		where := fmt.Sprintf("consumers[%d]", i)
		if c.Name != "" {
			where += fmt.Sprintf(" (%s)", c.Name)
		}
		if c.Name != "" && seen[c.Name] {
			errs = append(errs, fmt.Errorf("%s: Name: %q is used by another consumer", where, c.Name))
		}
		seen[c.Name] = true
		if err := c.mapping().Validate(); err != nil {
			for _, e := range unjoin(err) {
				errs = append(errs, fmt.Errorf("%s: %w", where, e))
			}
		}
		for _, e := range c.Target.validate() {
			errs = append(errs, fmt.Errorf("%s: %w", where, e))
		}
	}
	return errs
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// startConsumers builds every configured consumer's target and starts the
// sinks runtime on the local JetStream. It returns a runtime even with no
// consumers (its status endpoint then lists none).
func startConsumers(ctx context.Context, cfg Config, nc *nats.Conn, js jetstream.JetStream, account string,
	log hclog.Logger, reg prometheus.Registerer) (*sinks.Runtime, error) {
	var specs []sinks.ConsumerSpec
	var errs []error
	var built []sinks.Target
	for _, c := range cfg.consumers() {
		t, err := newTarget(c.Target, targetDeps{NATS: nc, DataDir: cfg.DataDir, Logger: log, Registerer: reg})
		if err != nil {
			errs = append(errs, fmt.Errorf("consumer %s: target: %w", c.Name, err))
			continue
		}
		built = append(built, t)
		specs = append(specs, sinks.ConsumerSpec{Mapping: c.mapping(), Target: t})
	}
	closeBuilt := func() {
		for _, t := range built {
			_ = t.Close()
		}
	}
	if err := errors.Join(errs...); err != nil {
		closeBuilt()
		return nil, err
	}
	rt, err := sinks.NewRuntime(sinks.RuntimeConfig{
		Consumers: specs, JetStream: js, Region: cfg.Region, Account: account, Logger: log, Registerer: reg,
	})
	if err != nil {
		closeBuilt()
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := rt.Start(sctx); err != nil {
		closeBuilt()
		return nil, err
	}
	if n := len(specs); n > 0 {
		log.Info("stream consumers started", "consumers", n)
	}
	return rt, nil
}

// runConsumers is `godwit consumers`: it prints the consumers of a running
// server (GET /godwit/consumers on its API listener) with their state,
// checkpointed position, iterator age and last error.
func runConsumers(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("godwit consumers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := fs.String("endpoint", "http://localhost:8000", "the godwit server's URL")
	asJSON := fs.Bool("json", false, "print the server's JSON answer as is")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: godwit consumers [--endpoint URL] [--json]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	url := strings.TrimSuffix(*endpoint, "/") + sinks.StatusPath
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "godwit consumers: %v\n", err)
		return exitUsage
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "godwit consumers: %v\n", err)
		return exitFailure
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "godwit consumers: GET %s: %s %v\n", url, resp.Status, err)
		return exitFailure
	}
	if *asJSON {
		_, _ = stdout.Write(body)
		return exitOK
	}
	var st sinks.StatusResponse
	if err := json.Unmarshal(body, &st); err != nil {
		fmt.Fprintf(stderr, "godwit consumers: GET %s: %v\n", url, err)
		return exitFailure
	}
	printConsumers(stdout, st.Consumers)
	return exitOK
}

// printConsumers prints one line per consumer, then one per shard.
func printConsumers(w io.Writer, cs []sinks.ConsumerStatus) {
	if len(cs) == 0 {
		fmt.Fprintln(w, "no consumers configured")
		return
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTABLE\tSTATE\tSTREAM\tITERATOR AGE\tLAST ERROR")
	for _, c := range cs {
		label := c.StreamLabel
		if label == "" {
			label = "-"
		}
		lastErr := c.LastError
		if lastErr == "" {
			lastErr = "-"
		} else if !c.LastErrorAt.IsZero() {
			lastErr = c.LastErrorAt.UTC().Format(time.RFC3339) + " " + lastErr
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Table, c.State, label,
			time.Duration(c.IteratorAgeSeconds*float64(time.Second)).Round(time.Millisecond), lastErr)
		for _, s := range c.Shards {
			fmt.Fprintf(tw, "  %s\t\t\tposition %s\t%s\t\n", s.ShardID, s.SequenceNumber,
				time.Duration(s.IteratorAgeSeconds*float64(time.Second)).Round(time.Millisecond))
		}
	}
	_ = tw.Flush()
}
