package filter

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// The spec files under testdata/specs hold one case per directive:
//
//	match
//	pattern: {...}      (repeatable: several patterns are ORed, as Filters)
//	event: {...}        (repeatable)
//	----
//	one line per event: true or false; or "error: <message>" when the
//	patterns do not compile
//
// "parse" is match without events: it prints "ok" or the error.
func TestSpecs(t *testing.T) {
	datadriven.Walk(t, "testdata/specs", func(t *testing.T, path string) {
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			var patterns, events []string
			for _, line := range strings.Split(d.Input, "\n") {
				key, rest, ok := strings.Cut(line, ":")
				if !ok {
					if strings.TrimSpace(line) != "" {
						d.Fatalf(t, "bad input line %q", line)
					}
					continue
				}
				rest = strings.TrimPrefix(rest, " ")
				switch key {
				case "pattern":
					patterns = append(patterns, rest)
				case "event":
					events = append(events, rest)
				default:
					d.Fatalf(t, "unknown input key %q", key)
				}
			}
			f, err := Compile(patterns)
			if err != nil {
				return "error: " + strings.ReplaceAll(err.Error(), "\n", "\nerror: ") + "\n"
			}
			switch d.Cmd {
			case "parse":
				return "ok\n"
			case "match":
				var out strings.Builder
				for _, ev := range events {
					ok, err := f.Match([]byte(ev))
					if err != nil {
						fmt.Fprintf(&out, "error: %v\n", err)
						continue
					}
					fmt.Fprintf(&out, "%v\n", ok)
				}
				return out.String()
			}
			d.Fatalf(t, "unknown command %q", d.Cmd)
			return ""
		})
	})
}
