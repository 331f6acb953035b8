package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	texttemplate "text/template"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/godwit-db/godwit/test/harness"
)

// TestTerraform drives Terraform's aws_dynamodb_table through its whole
// life against godwit: create (GSI, LSI, TTL, stream, tags), a plan that
// must find nothing to change (every attribute Terraform reads back
// matches what it wrote), an update that adds a GSI and a tag, another
// empty plan, and destroy.
//
// It needs the terraform binary and the hashicorp/aws provider in a
// filesystem mirror (no registry access on the build machines):
// GODWIT_TF_PLUGINS names the mirror, default /opt/tf-plugins. The test
// skips, saying why, when either is missing.
func TestTerraform(t *testing.T) {
	tf := newTerraform(t)
	srv := harness.Start(t)
	render := func(second bool) {
		tf.render("testdata/terraform/main.tf.tmpl", map[string]any{"Endpoint": srv.URL, "Second": second})
	}
	ctx := context.Background()
	ddb := srv.Client()

	render(false)
	tf.run(0, "init")
	tf.run(0, "apply", "-auto-approve")
	out, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("Orders")})
	if err != nil {
		t.Fatal(err)
	}
	tb := out.Table
	if len(tb.GlobalSecondaryIndexes) != 1 || len(tb.LocalSecondaryIndexes) != 1 ||
		tb.StreamSpecification == nil || !aws.ToBool(tb.StreamSpecification.StreamEnabled) ||
		tb.BillingModeSummary == nil || tb.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Fatalf("table after create: %+v", tb)
	}
	ttl, err := ddb.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String("Orders")})
	if err != nil || ttl.TimeToLiveDescription.TimeToLiveStatus != types.TimeToLiveStatusEnabled ||
		aws.ToString(ttl.TimeToLiveDescription.AttributeName) != "expires" {
		t.Fatalf("TTL after create: %+v, %v", ttl, err)
	}
	// -detailed-exitcode: 0 means no changes, 2 means a diff. A diff right
	// after apply would mean Terraform reads back something other than it
	// wrote: the classic emulator bug that makes every plan dirty.
	tf.run(0, "plan", "-detailed-exitcode")

	render(true)
	tf.run(0, "apply", "-auto-approve")
	out, err = ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("Orders")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Table.GlobalSecondaryIndexes) != 2 {
		t.Fatalf("GSIs after update: %+v", out.Table.GlobalSecondaryIndexes)
	}
	tags, err := ddb.ListTagsOfResource(ctx, &dynamodb.ListTagsOfResourceInput{ResourceArn: out.Table.TableArn})
	if err != nil || len(tags.Tags) != 2 {
		t.Fatalf("tags after update: %+v, %v", tags, err)
	}
	tf.run(0, "plan", "-detailed-exitcode")

	tf.run(0, "destroy", "-auto-approve")
	if _, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("Orders")}); err == nil {
		t.Fatal("table still exists after terraform destroy")
	}
}

// terraform runs the terraform binary in a directory of its own, with the
// hashicorp/aws provider from a filesystem mirror (no registry access on
// the build machines): GODWIT_TF_PLUGINS names the mirror, default
// /opt/tf-plugins. newTerraform skips the test, saying why, when either is
// missing.
type terraform struct {
	t   *testing.T
	bin string
	dir string
	env []string
}

func newTerraform(t *testing.T) *terraform {
	t.Helper()
	bin, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("terraform not installed")
	}
	mirror := os.Getenv("GODWIT_TF_PLUGINS")
	if mirror == "" {
		mirror = "/opt/tf-plugins"
	}
	if m, _ := filepath.Glob(filepath.Join(mirror, "registry.terraform.io/hashicorp/aws/*")); len(m) == 0 {
		t.Skipf("no hashicorp/aws provider under %s (set GODWIT_TF_PLUGINS)", mirror)
	}
	dir := t.TempDir()
	rc := filepath.Join(dir, "terraformrc")
	writeFile(t, rc, `provider_installation {
  filesystem_mirror {
    path    = "`+mirror+`"
    include = ["registry.terraform.io/*/*"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
`)
	env := append(clientEnv(t), "TF_CLI_CONFIG_FILE="+rc, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1")
	return &terraform{t: t, bin: bin, dir: dir, env: env}
}

// render writes main.tf from the template file with data.
func (tf *terraform) render(template string, data any) {
	tf.t.Helper()
	tmpl, err := texttemplate.ParseFiles(template)
	if err != nil {
		tf.t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		tf.t.Fatal(err)
	}
	writeFile(tf.t, filepath.Join(tf.dir, "main.tf"), b.String())
}

// run runs terraform with args (non-interactive, no colour) and fails the
// test unless it exits with wantExit.
func (tf *terraform) run(wantExit int, args ...string) string {
	tf.t.Helper()
	cmd := exec.Command(tf.bin, append(args, "-no-color", "-input=false")...)
	cmd.Dir, cmd.Env = tf.dir, tf.env
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		tf.t.Fatalf("terraform %s: %v", args[0], err)
	}
	if code != wantExit {
		tf.t.Fatalf("terraform %s exited %d, want %d:\n%s", strings.Join(args, " "), code, wantExit, out)
	}
	return string(out)
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
