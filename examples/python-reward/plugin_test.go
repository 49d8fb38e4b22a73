// Package pythonreward checks the Python reward plugin in this folder from
// Go, through the real wire: go-plugin's handshake with AutoMTLS, the sdk's
// gRPC protocol, and the sdk's reward conformance kit.
package pythonreward

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/sdk"
	"github.com/p3o-rlhf/p3o/sdk/sdktest"
)

// python is Debian's interpreter, the one with python3-grpcio (the python3
// first on PATH may be another without it).
const python = "/usr/bin/python3"

// needPython skips the test, loudly, where the plugin cannot run.
func needPython(t *testing.T) {
	t.Helper()
	out, err := exec.Command(python, "-c", "import grpc, google.protobuf, cryptography, tomllib").CombinedOutput()
	if err != nil {
		t.Skipf("SKIPPED: the Python reward plugin needs %s with grpc, protobuf, cryptography and tomllib (%v: %s); install them with: apt-get install -y python3-grpcio python3-protobuf python3-cryptography",
			python, err, strings.TrimSpace(string(out)))
	}
}

func TestConformance(t *testing.T) {
	needPython(t)
	sdktest.RunReward(t, sdktest.RewardProcess("plugin.py"), sdktest.RewardOptions{})
}

// TestScores checks the model's arithmetic from Go: a response's score is
// the sum of its words' lexicon weights over the square root of its word
// count; the prompt is not scored.
func TestScores(t *testing.T) {
	needPython(t)
	ctx := context.Background()
	r := sdktest.StartReward(t, "plugin.py")
	if err := r.Configure(ctx, &sdk.ConfigureRequest{Options: []byte("prior = 2.0\n")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		prompt, response string
		want             float64
	}{
		{"I hated it but", " it was GOOD, good!", 2 * 2 / 2.0}, // words: it was good good
		{"x", " awful", -2},                                 // one word
		{"x", " a dull, boring waste", 2 * -3 / 2.0},        // 4 words
		{"great great", "", 0},                              // no words
		{"x", " 123 ... 日本語", 0},                            // no ASCII words
		{"x", " the best film", 2 * 1 / 1.7320508075688772}, // 3 words
	}
	var req sdk.ScoreRequest
	for _, tt := range tests {
		req.Samples = append(req.Samples, sdk.Sample{Prompt: tt.prompt, Response: tt.response})
	}
	got, err := r.Score(ctx, &req)
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		if d := got.Scores[i] - tt.want; d > 1e-12 || d < -1e-12 {
			t.Errorf("score(%q) = %v, want %v", tt.response, got.Scores[i], tt.want)
		}
	}
}

func TestSpecAndOptions(t *testing.T) {
	needPython(t)
	ctx := context.Background()
	r := sdktest.StartReward(t, "plugin.py")
	spec, err := r.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Name != "python-lexicon" || !spec.Trainable || spec.Kind != sdk.KindReward || spec.ProtocolVersion != sdk.ProtocolVersion {
		t.Errorf("got spec %+v", spec)
	}
	d := spec.DefaultOptions
	if d["lr"] != 0.5 || d["batch"] != int64(8) || d["seed"] != int64(1) {
		t.Errorf("default options %v (want TOML types: lr float, batch and seed integers)", d)
	}
	for _, tt := range []struct{ options, want string }{
		{"learning_rate = 0.1", "unknown option learning_rate"},
		{"batch = 0", "option batch = 0"},
		{"batch = 2.5", "option batch = 2.5: want an integer"},
		{"lr = -1.0", "option lr = -1.0"},
		{"steps = 0\nepochs = 0.0", "option epochs"},
		{"lr = ", "decode options"},
	} {
		err := r.Configure(ctx, &sdk.ConfigureRequest{Options: []byte(tt.options)})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Configure(%q): got %v, want an error with %q", tt.options, err, tt.want)
		}
	}
}

// TestHandshakeConstants keeps the Python side's handshake in step with the
// Go sdk's.
func TestHandshakeConstants(t *testing.T) {
	b, err := os.ReadFile("p3o_plugin.py")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf("PROTOCOL_VERSION = %d\n", sdk.ProtocolVersion),
		fmt.Sprintf("MAGIC_COOKIE_KEY = %q\n", sdk.Handshake.MagicCookieKey),
		fmt.Sprintf("MAGIC_COOKIE_VALUE = %q\n", sdk.Handshake.MagicCookieValue),
		fmt.Sprintf("MAX_MESSAGE_SIZE = %d << 20\n", sdk.MaxMessageSize>>20),
	} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("p3o_plugin.py lacks %q (the Go sdk's value)", want)
		}
	}
}

// TestRunByHand: without the host's magic cookie the plugin says what it is
// and exits 1, printing nothing on stdout.
func TestRunByHand(t *testing.T) {
	needPython(t)
	cmd := exec.Command("./plugin.py")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("got %v, want exit status 1", err)
	}
	if stdout.Len() != 0 || !strings.Contains(stderr.String(), "not meant to be run directly") {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
}

// TestStubsUpToDate regenerates the stubs where protoc and the gRPC Python
// plugin are installed and compares them with the committed ones.
func TestStubsUpToDate(t *testing.T) {
	for _, tool := range []string{"protoc", "grpc_python_plugin"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install -y protobuf-compiler protobuf-compiler-grpc): cannot check gen/", tool)
		}
	}
	dir := t.TempDir()
	if out, err := exec.Command("./regen.sh", dir).CombinedOutput(); err != nil {
		t.Fatalf("regen.sh: %v\n%s", err, out)
	}
	fresh, _ := filepath.Glob(filepath.Join(dir, "*.py"))
	committed, _ := filepath.Glob(filepath.Join("gen", "*.py"))
	if len(fresh) != len(committed) {
		t.Errorf("regen.sh makes %d files, gen/ holds %d", len(fresh), len(committed))
	}
	for _, f := range fresh {
		want, _ := os.ReadFile(f)
		got, err := os.ReadFile(filepath.Join("gen", filepath.Base(f)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("gen/%s is stale: run examples/python-reward/regen.sh and commit it", filepath.Base(f))
		}
	}
}
