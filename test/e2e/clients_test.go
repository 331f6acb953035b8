package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/godwit-db/godwit/test/harness"
)

// Other real clients, driven as a user would. Each test skips (saying why)
// when its client is not installed; .ci/run installs them where it can.

// clientEnv is an environment that points AWS tools at nothing but the
// test server: dummy credentials, no config files, no instance metadata.
func clientEnv(t *testing.T) []string {
	home := t.TempDir()
	return append(os.Environ(),
		"HOME="+home,
		"AWS_ACCESS_KEY_ID=cli", "AWS_SECRET_ACCESS_KEY=cli", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE="+filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "none"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=",
	)
}

func TestBoto3(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	if exec.Command(py, "-c", "import boto3").Run() != nil {
		t.Skip("boto3 not installed (apt-get install python3-boto3)")
	}
	srv := harness.Start(t)
	cmd := exec.Command(py, "testdata/boto3_check.py", srv.URL)
	cmd.Env = clientEnv(t)
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.HasPrefix(out, []byte("OK ")) {
		t.Fatalf("boto3 check failed: %v\n%s", err, out)
	}
	t.Logf("boto3: %s", bytes.TrimSpace(out))
}

func TestAWSCLI(t *testing.T) {
	bin, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws CLI not installed (apt-get install awscli)")
	}
	srv := harness.Start(t)
	env := clientEnv(t)
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append(append([]string{}, args...), "--endpoint-url", srv.URL, "--output", "json")...)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String() + stderr.String(), err
	}
	mustRun := func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	mustRun("dynamodb", "create-table", "--table-name", "Music",
		"--attribute-definitions", "AttributeName=Artist,AttributeType=S", "AttributeName=Song,AttributeType=S",
		"--key-schema", "AttributeName=Artist,KeyType=HASH", "AttributeName=Song,KeyType=RANGE",
		"--billing-mode", "PAY_PER_REQUEST")
	mustRun("dynamodb", "wait", "table-exists", "--table-name", "Music")
	mustRun("dynamodb", "put-item", "--table-name", "Music",
		"--item", `{"Artist":{"S":"Nina Simone"},"Song":{"S":"Sinnerman"},"Year":{"N":"1965"}}`)
	out := mustRun("dynamodb", "query", "--table-name", "Music",
		"--key-condition-expression", "Artist = :a",
		"--expression-attribute-values", `{":a":{"S":"Nina Simone"}}`)
	if !strings.Contains(out, `"Sinnerman"`) || !strings.Contains(out, `"1965"`) {
		t.Fatalf("query output lacks the item:\n%s", out)
	}
	out, err = run("dynamodb", "put-item", "--table-name", "Music",
		"--item", `{"Artist":{"S":"Nina Simone"},"Song":{"S":"Sinnerman"}}`,
		"--condition-expression", "attribute_not_exists(Artist)")
	if err == nil || !strings.Contains(out, "ConditionalCheckFailedException") {
		t.Fatalf("conditional put: err=%v\n%s", err, out)
	}
	out = mustRun("dynamodb", "scan", "--table-name", "Music", "--select", "COUNT")
	if !strings.Contains(out, `"Count": 1`) {
		t.Fatalf("scan count:\n%s", out)
	}
	mustRun("dynamodb", "delete-table", "--table-name", "Music")
	mustRun("dynamodb", "wait", "table-not-exists", "--table-name", "Music")
}
