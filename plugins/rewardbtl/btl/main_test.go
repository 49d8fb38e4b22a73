package btl

import (
	"os"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// TestMain silences the plugin's progress log during tests.
func TestMain(m *testing.M) {
	hclog.SetDefault(hclog.NewNullLogger())
	os.Exit(m.Run())
}
