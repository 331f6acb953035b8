package engine

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/godwit-db/godwit/engine/apierr"
)

// constraints collects AWS's model-level ("1 validation error detected: ...")
// violations so they are reported together, as AWS does.
type constraints struct{ msgs []string }

func (c *constraints) add(format string, args ...any) {
	c.msgs = append(c.msgs, fmt.Sprintf(format, args...))
}

// err returns the combined ValidationException, or nil.
func (c *constraints) err() error {
	switch len(c.msgs) {
	case 0:
		return nil
	case 1:
		return apierr.Validation("1 validation error detected: %s", c.msgs[0])
	}
	return apierr.Validation("%d validation errors detected: %s", len(c.msgs), strings.Join(c.msgs, "; "))
}

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9_.\-]+$`)

// tableName checks a TableName member (a name, or an ARN up to 1024 characters).
func (c *constraints) tableName(member, name string) {
	if strings.HasPrefix(name, "arn:") {
		if len(name) > 1024 {
			c.add("Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to 1024", name, member)
		}
		return
	}
	c.name(member, name)
}

// name checks a table or index name: 3-255 characters of [a-zA-Z0-9_.-].
func (c *constraints) name(member, name string) {
	if name == "" {
		c.add("Value null at '%s' failed to satisfy constraint: Member must not be null", member)
		return
	}
	if !namePattern.MatchString(name) {
		c.add("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+", name, member)
	}
	if len(name) < 3 {
		c.add("Value '%s' at '%s' failed to satisfy constraint: Member must have length greater than or equal to 3", name, member)
	}
	if len(name) > 255 {
		c.add("Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to 255", name, member)
	}
}

// enum checks an optional enum member.
func (c *constraints) enum(member, v string, allowed ...string) {
	if v == "" {
		return
	}
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	c.add("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]", v, member, strings.Join(allowed, ", "))
}

// intRange checks an optional integer member.
func (c *constraints) intRange(member string, v *int64, lo, hi int64) {
	if v == nil {
		return
	}
	if *v < lo {
		c.add("Value '%d' at '%s' failed to satisfy constraint: Member must have value greater than or equal to %d", *v, member, lo)
	}
	if *v > hi {
		c.add("Value '%d' at '%s' failed to satisfy constraint: Member must have value less than or equal to %d", *v, member, hi)
	}
}

func (c *constraints) notNull(member string, present bool) {
	if !present {
		c.add("Value null at '%s' failed to satisfy constraint: Member must not be null", member)
	}
}

var (
	returnConsumedCapacityValues = []string{"INDEXES", "TOTAL", "NONE"}
	returnItemCollectionValues   = []string{"SIZE", "NONE"}
	// NB: in the order AWS lists them in its message (a Java set's order, not the model's).
	returnValuesValues        = []string{"ALL_NEW", "UPDATED_OLD", "ALL_OLD", "NONE", "UPDATED_NEW"}
	returnOnFailureValues     = []string{"ALL_OLD", "NONE"}
	conditionalOperatorValues = []string{"AND", "OR"}
	selectValues              = []string{"ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES", "SPECIFIC_ATTRIBUTES", "COUNT"}
)
