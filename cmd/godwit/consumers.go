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

	"github.com/godwit-db/godwit/region"
	"github.com/godwit-db/godwit/sinks"
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

// consumerSpecs returns the region's builder of the consumers of cfg's
// consumers: section: each Target: block becomes its target once the
// region's NATS is up. nil when there are none.
func consumerSpecs(cfg Config) func(region.ConsumerDeps) ([]sinks.ConsumerSpec, error) {
	if len(cfg.consumers()) == 0 {
		return nil
	}
	return func(d region.ConsumerDeps) ([]sinks.ConsumerSpec, error) {
		var specs []sinks.ConsumerSpec
		var errs []error
		for _, c := range cfg.consumers() {
			t, err := newTarget(c.Target, targetDeps{NATS: d.NATS, DataDir: cfg.DataDir, Logger: d.Logger, Registerer: d.Registerer})
			if err != nil {
				errs = append(errs, fmt.Errorf("consumer %s: target: %w", c.Name, err))
				continue
			}
			specs = append(specs, sinks.ConsumerSpec{Mapping: c.mapping(), Target: t})
		}
		if err := errors.Join(errs...); err != nil {
			for _, s := range specs {
				_ = s.Target.Close()
			}
			return nil, err
		}
		return specs, nil
	}
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
