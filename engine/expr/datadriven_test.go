package expr

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/attr"
)

// The spec files under testdata/ hold one case per directive:
//
//	condition|update|projection|keycondition [name=FilterExpression] [hash=pk:S] [range=sk:N]
//	names: {"#a": "a"}            (optional ExpressionAttributeNames)
//	values: {":v": {"N": "1"}}    (optional ExpressionAttributeValues)
//	item: {"a": {"N": "1"}}       (optional, repeatable; "item: none" is no item)
//	expr: a = :v                  (the expression, the rest of the line)
//	----
//	expected output
//
// Errors print as "error: <message>"; after a successful parse an unused
// placeholder prints as "unused: <message>".
func TestSpecs(t *testing.T) {
	datadriven.Walk(t, "testdata/specs", func(t *testing.T, path string) {
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return runSpec(t, d)
		})
	})
}

type specInput struct {
	names  map[string]string
	values map[string]attr.Value
	items  []attr.Item
	expr   string
}

func parseSpecInput(t *testing.T, d *datadriven.TestData) specInput {
	t.Helper()
	var in specInput
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
		case "names":
			if err := json.Unmarshal([]byte(rest), &in.names); err != nil {
				d.Fatalf(t, "names: %v", err)
			}
		case "values":
			if err := json.Unmarshal([]byte(rest), &in.values); err != nil {
				d.Fatalf(t, "values: %v", err)
			}
		case "item":
			if rest == "none" {
				in.items = append(in.items, nil)
				continue
			}
			it, err := attr.DecodeItemJSON([]byte(rest))
			if err != nil {
				d.Fatalf(t, "item: %v", err)
			}
			in.items = append(in.items, it)
		case "expr":
			in.expr = rest
		default:
			d.Fatalf(t, "unknown input key %q", key)
		}
	}
	return in
}

func errString(err error) string {
	if e := apierr.As(err); e != nil {
		if e.Code != "ValidationException" {
			return "error: " + e.Code + ": " + e.Message
		}
		return "error: " + e.Message
	}
	return "error (not an API error!): " + err.Error()
}

func runSpec(t *testing.T, d *datadriven.TestData) string {
	in := parseSpecInput(t, d)
	p := NewParams(in.names, in.values)
	var out strings.Builder
	unused := func() {
		if err := p.CheckUnused(); err != nil {
			fmt.Fprintf(&out, "unused: %s\n", strings.TrimPrefix(errString(err), "error: "))
		}
	}
	switch d.Cmd {
	case "condition":
		name := "ConditionExpression"
		if d.HasArg("name") {
			d.ScanArgs(t, "name", &name)
		}
		c, err := ParseCondition(name, in.expr, p)
		if err != nil {
			return errString(err) + "\n"
		}
		unused()
		if len(in.items) == 0 {
			fmt.Fprintf(&out, "ok; paths: %s\n", pathsString(c.Paths()))
		}
		for _, it := range in.items {
			fmt.Fprintf(&out, "%v\n", c.Eval(it))
		}
	case "update":
		u, err := ParseUpdate(in.expr, p)
		if err != nil {
			return errString(err) + "\n"
		}
		unused()
		fmt.Fprintf(&out, "paths: %s\n", pathsString(u.Paths()))
		for _, it := range in.items {
			nv, err := u.Apply(it)
			if err != nil {
				out.WriteString(errString(err) + "\n")
				continue
			}
			out.Write(attr.AppendItemJSON(nil, nv))
			out.WriteByte('\n')
		}
	case "projection":
		pr, err := ParseProjection(in.expr, p)
		if err != nil {
			return errString(err) + "\n"
		}
		unused()
		fmt.Fprintf(&out, "paths: %s\n", pathsString(pr))
		for _, it := range in.items {
			out.Write(attr.AppendItemJSON(nil, pr.Apply(it)))
			out.WriteByte('\n')
		}
	case "keycondition":
		kc, err := ParseKeyCondition(in.expr, p)
		if err != nil {
			return errString(err) + "\n"
		}
		unused()
		if d.HasArg("hash") {
			var hash, rng string
			d.ScanArgs(t, "hash", &hash)
			if d.HasArg("range") {
				d.ScanArgs(t, "range", &rng)
			}
			if err := kc.Bind(keyAttrArg(hash), keyAttrArg(rng)); err != nil {
				return out.String() + errString(err) + "\n"
			}
		}
		out.WriteString(keyCondString(kc) + "\n")
	default:
		d.Fatalf(t, "unknown command %q", d.Cmd)
	}
	return out.String()
}

func keyAttrArg(s string) KeyAttr {
	if s == "" {
		return KeyAttr{}
	}
	name, typ, _ := strings.Cut(s, ":")
	return KeyAttr{Name: name, Type: attr.ParseType(typ)}
}

func keyCondString(kc *KeyCondition) string {
	s := fmt.Sprintf("%s = %s", kc.PartitionKey, kc.PartitionValue)
	if kc.Op != SortNone {
		s += fmt.Sprintf("; %s %s", kc.SortKey, kc.Op)
		for _, v := range kc.Values {
			s += " " + v.String()
		}
	}
	return s
}

func pathsString(ps []Path) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.listString()
	}
	return strings.Join(parts, " ")
}
