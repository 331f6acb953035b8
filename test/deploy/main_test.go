package deploy

import (
	"os"
	"testing"

	"github.com/godwit-db/godwit/test/harness"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.CleanupBinary()
	os.Exit(code)
}
