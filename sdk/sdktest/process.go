package sdktest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/p3o-rlhf/p3o/sdk"
)

// StartReward starts the reward plugin executable at path (a Go binary, or a
// script with a shebang line, in any language that speaks the sdk's gRPC
// protocol) the way the host does: go-plugin with the sdk's handshake, gRPC
// only, AutoMTLS, the sdk's dial options. It returns the dispensed client
// (configure it yourself) and stops the process when t ends. The plugin's
// log lines appear in the test's log. Any failure to start fails t.
//
// With it the reward kit runs through the real wire:
//
//	sdktest.RunReward(t, sdktest.RewardProcess("./myreward"), sdktest.RewardOptions{})
func StartReward(t testing.TB, path string) sdk.Reward {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	logw := &testWriter{t: t}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          sdk.PluginSet(),
		Cmd:              exec.Command(abs),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		GRPCDialOptions:  sdk.GRPCDialOptions(),
		StartTimeout:     time.Minute,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:   filepath.Base(abs),
			Level:  hclog.Info,
			Output: logw,
		}),
	})
	t.Cleanup(func() {
		client.Kill()
		logw.close()
	})
	proto, err := client.Client()
	if err != nil {
		t.Fatalf("start plugin %s: %v", path, err)
	}
	raw, err := proto.Dispense(sdk.PluginKeyReward)
	if err != nil {
		t.Fatalf("plugin %s: dispense %s: %v", path, sdk.PluginKeyReward, err)
	}
	r, ok := raw.(sdk.Reward)
	if !ok {
		t.Fatalf("plugin %s: dispensed %T, not an sdk.Reward", path, raw)
	}
	return r
}

// RewardProcess returns a NewReward that starts a new process of the plugin
// executable at path for every instance (StartReward).
func RewardProcess(path string) NewReward {
	return func(t testing.TB) sdk.Reward { return StartReward(t, path) }
}

// BuildPlugin builds the Go main package in dir into a temporary directory
// of t and returns the binary's path, for StartReward.
func BuildPlugin(t testing.TB, dir string) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), filepath.Base(dir))
	cmd := exec.Command("go", "build", "-o", exe, ".")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, out)
	}
	return exe
}

// testWriter writes log lines to t.Log until closed: go-plugin's goroutines
// may log after the test ends, when t.Log would panic.
type testWriter struct {
	mu     sync.Mutex
	t      testing.TB
	closed bool
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log(strings.TrimRight(string(b), "\n"))
	}
	return len(b), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}
