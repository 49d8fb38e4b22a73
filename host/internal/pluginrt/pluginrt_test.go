package pluginrt

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/p3o-rlhf/p3o/plugins/p3o/p3o"
	"github.com/p3o-rlhf/p3o/sdk"
)

// bin holds the test plugins, built once per test binary by TestMain.
var bin string

// testPlugins are the plugin directories built by TestMain: the small test
// plugins under testdata and the real P3O plugin.
var testPlugins = []string{
	"./testdata/echo", "./testdata/memreward", "./testdata/badversion", "./testdata/exits", "./testdata/stdout", "./testdata/hangs",
	"../../../plugins/p3o",
}

func TestMain(m *testing.M) {
	if os.Getenv(orphanHostEnv) != "" {
		orphanHost(os.Getenv(orphanHostEnv))
		return
	}
	dir, err := os.MkdirTemp("", "pluginrt-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = dir
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	for _, p := range testPlugins {
		args = append(args, p)
	}
	cmd := exec.Command("go", args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build test plugins:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// newRuntime returns a runtime closed at the end of the test, logging into
// the returned buffer.
func newRuntime(t *testing.T) (*Runtime, *syncBuffer) {
	t.Helper()
	buf := &syncBuffer{}
	logger := hclog.New(&hclog.LoggerOptions{Name: "host", Level: hclog.Info, Output: buf})
	rt := New(logger, t.TempDir())
	t.Cleanup(func() { rt.Close() })
	return rt, buf
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lossBatch is a deterministic batch of n sequences of t tokens.
func lossBatch(n, t int, seed uint64) sdk.Batch {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := sdk.Batch{Beta: 0.05, Sequences: make([]sdk.Sequence, n)}
	for i := range b.Sequences {
		s := &b.Sequences[i]
		s.Group = int64(i / 2)
		s.Prompt = make([]int32, 16)
		for j := range s.Prompt {
			s.Prompt[j] = int32(rng.IntN(257))
		}
		s.Response = make([]int32, t)
		s.Logp, s.OldLogp, s.RefLogp = make([]float64, t), make([]float64, t), make([]float64, t)
		for j := 0; j < t; j++ {
			s.Response[j] = int32(rng.IntN(257))
			s.Logp[j] = -5 * rng.Float64()
			s.OldLogp[j] = s.Logp[j] + 0.1*rng.NormFloat64()
			s.RefLogp[j] = s.Logp[j] + 0.1*rng.NormFloat64()
		}
		s.Reward = rng.NormFloat64()
	}
	return b
}

func TestAlgorithmDescribeConfigureLoss(t *testing.T) {
	rt, logs := newRuntime(t)
	ctx := context.Background()
	a, err := rt.Algorithm(ctx, filepath.Join(bin, "echo"), []byte("scale = 2.0\n"))
	if err != nil {
		t.Fatal(err)
	}
	spec := a.Spec()
	if spec.Name != "echo" || spec.Kind != sdk.KindAlgorithm || spec.ProtocolVersion != sdk.ProtocolVersion {
		t.Errorf("got spec %+v, want name echo, kind algorithm, protocol %d", spec, sdk.ProtocolVersion)
	}
	if got, want := spec.DefaultOptions["scale"], 1.0; got != want {
		t.Errorf("got default scale %v, want %v", got, want)
	}
	b := lossBatch(2, 3, 1)
	resp, err := a.Loss(ctx, &sdk.LossRequest{Batch: b})
	if err != nil {
		t.Fatal(err)
	}
	s := b.Sequences[1]
	want := 2 * s.Reward * (math.Exp(s.Logp[2]-s.OldLogp[2]) + b.Beta*(s.Logp[2]-s.RefLogp[2]))
	if got := resp.GradLogp[1][2]; got != want {
		t.Errorf("got grad %v, want %v (scale 2 applied by Configure)", got, want)
	}
	// The plugin's hclog output appears in the host's log under its name.
	if l := logs.String(); !strings.Contains(l, "host.echo: configured: scale=2") {
		t.Errorf("host log lacks the plugin's line %q under its name; got:\n%s", "host.echo: configured: scale=2", l)
	}
}

func TestPluginErrorReachesHost(t *testing.T) {
	rt, _ := newRuntime(t)
	ctx := context.Background()
	_, err := rt.Algorithm(ctx, filepath.Join(bin, "echo"), []byte("scael = 2.0\n"))
	want := fmt.Sprintf("plugin %s: configure: unknown option scael", filepath.Join(bin, "echo"))
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	a, err := rt.Algorithm(ctx, filepath.Join(bin, "echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Loss(ctx, &sdk.LossRequest{})
	if err == nil || err.Error() != "empty batch" {
		t.Errorf("got %v, want %q", err, "empty batch")
	}
	if a.Restarts() != 0 {
		t.Errorf("got %d restarts after a plugin error, want 0", a.Restarts())
	}
}

// pid returns the process id of the plugin's current process.
func pid(t testing.TB, p *proc) int {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	rc := p.cur.client.ReattachConfig()
	if rc == nil {
		t.Fatal("no running plugin process")
	}
	return rc.Pid
}

func TestKilledAlgorithmIsReplaced(t *testing.T) {
	rt, logs := newRuntime(t)
	ctx := context.Background()
	a, err := rt.Algorithm(ctx, filepath.Join(bin, "echo"), []byte("scale = 3.0"))
	if err != nil {
		t.Fatal(err)
	}
	req := &sdk.LossRequest{Batch: lossBatch(4, 5, 2)}
	first, err := a.Loss(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	old := pid(t, a.p)
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	second, err := a.Loss(ctx, req)
	if err != nil {
		t.Fatalf("Loss after the kill: %v", err)
	}
	if got := a.Restarts(); got != 1 {
		t.Errorf("got %d restarts, want 1", got)
	}
	if got := pid(t, a.p); got == old {
		t.Errorf("got the same pid %d after the kill, want a new process", got)
	}
	// The replacement is configured again (scale 3), so results are equal.
	if first.Loss != second.Loss {
		t.Errorf("got loss %v on the new process, want %v as before", second.Loss, first.Loss)
	}
	if !strings.Contains(logs.String(), "plugin echo replaced") {
		t.Errorf("host log lacks %q; got:\n%s", "plugin echo replaced", logs.String())
	}
}

func TestAlgorithmDyingInEveryCallGivesUp(t *testing.T) {
	rt, _ := newRuntime(t)
	ctx := context.Background()
	a, err := rt.Algorithm(ctx, filepath.Join(bin, "echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := lossBatch(2, 2, 3)
	b.Beta = -1 // echo exits in the middle of the call
	_, err = a.Loss(ctx, &sdk.LossRequest{Batch: b})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("died %d times in a row", maxAttempts)) {
		t.Errorf("got %v, want an error saying the plugin died %d times in a row", err, maxAttempts)
	}
	if got, want := a.Restarts(), maxAttempts-1; got != want {
		t.Errorf("got %d restarts, want %d", got, want)
	}
	// The plugin still works for a good call.
	if _, err := a.Loss(ctx, &sdk.LossRequest{Batch: lossBatch(2, 2, 3)}); err != nil {
		t.Errorf("good call after the failures: %v", err)
	}
}

func TestKilledRewardReturnsErrRestarted(t *testing.T) {
	rt, _ := newRuntime(t)
	ctx := context.Background()
	r, err := rt.Reward(ctx, filepath.Join(bin, "memreward"), []byte("steps = 5"))
	if err != nil {
		t.Fatal(err)
	}
	// A state above gRPC's default 4 MiB message limit goes through.
	state := bytes.Repeat([]byte{1, 2, 3, 4, 5}, 1<<20)
	if err := r.LoadState(ctx, state); err != nil {
		t.Fatal(err)
	}
	got, err := r.SaveState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, state) {
		t.Fatalf("got a state of %d bytes back, want the %d bytes loaded", len(got), len(state))
	}
	if err := syscall.Kill(pid(t, r.p), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	req := &sdk.ScoreRequest{Samples: []sdk.Sample{{Prompt: "p", Response: "abc"}}}
	_, err = r.Score(ctx, req)
	if !errors.Is(err, ErrRestarted) {
		t.Fatalf("got %v, want an error wrapping ErrRestarted", err)
	}
	if got := r.Restarts(); got != 1 {
		t.Errorf("got %d restarts, want 1", got)
	}
	if err := r.LoadState(ctx, state[:10]); err != nil {
		t.Fatal(err)
	}
	scores, err := r.Score(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := scores.Scores[0], 13.0; got != want {
		t.Errorf("got score %v after LoadState, want %v (3 bytes + 10 bytes of state)", got, want)
	}
}

func TestDescribe(t *testing.T) {
	rt, _ := newRuntime(t)
	ctx := context.Background()
	for _, tc := range []struct {
		plugin string
		kind   sdk.Kind
		name   string
	}{
		{"echo", sdk.KindAlgorithm, "echo"},
		{"memreward", sdk.KindReward, "memreward"},
	} {
		t.Run(tc.plugin, func(t *testing.T) {
			spec, err := rt.Describe(ctx, filepath.Join(bin, tc.plugin))
			if err != nil {
				t.Fatal(err)
			}
			if spec.Kind != tc.kind || spec.Name != tc.name {
				t.Errorf("got kind %q name %q, want %q %q", spec.Kind, spec.Name, tc.kind, tc.name)
			}
		})
	}
}

func TestBadPlugins(t *testing.T) {
	rt, _ := newRuntime(t)
	ctx := context.Background()
	text := filepath.Join("testdata", "notaplugin.txt")
	script := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hello from a script\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	silent := filepath.Join(t.TempDir(), "silent")
	if err := os.WriteFile(silent, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		path   string
		reward bool
		want   string // the whole error, one line
	}{
		{"other protocol version", filepath.Join(bin, "badversion"), false,
			"speaks another plugin protocol (Plugin version: 99, Client versions: [1]); rebuild it against this sdk (protocol 1)"},
		{"text file", text, false,
			"not an executable file (a plugin is an executable or a directory with a Go main package)"},
		{"missing path", filepath.Join("testdata", "missing"), false, "no such file or directory"},
		{"directory without a main package", filepath.Join("testdata", "notmain"), false,
			"directory holds Go package notmain, not a main package (a plugin needs package main calling sdk.ServeAlgorithm or sdk.ServeReward)"},
		{"directory without Go files", filepath.Join("testdata", "nogo"), false, "go list: no Go files in "},
		{"exits at start", filepath.Join(bin, "exits"), false,
			"exited before the handshake: exits: cannot open weights.safetensors: no such file"},
		{"stdout before handshake", filepath.Join(bin, "stdout"), false,
			`wrote "loading model..." to stdout before the handshake; a plugin must not print to stdout (log to stderr)`},
		{"executable that is no plugin", script, false,
			`wrote "hello from a script" to stdout before the handshake; a plugin must not print to stdout (log to stderr)`},
		{"exits silently", silent, false,
			"exited before the handshake (no output on stderr): its main returned without serving; a plugin's main must call sdk.ServeAlgorithm or sdk.ServeReward"},
		{"algorithm given as reward", filepath.Join(bin, "echo"), true, "is an algorithm plugin (echo), not a reward plugin"},
		{"reward given as algorithm", filepath.Join(bin, "memreward"), false, "is a reward plugin (memreward), not an algorithm plugin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.reward {
				_, err = rt.Reward(ctx, tc.path, nil)
			} else {
				_, err = rt.Algorithm(ctx, tc.path, nil)
			}
			if err == nil {
				t.Fatal("got no error, want one")
			}
			msg := err.Error()
			prefix := "plugin " + tc.path + ": "
			if !strings.HasPrefix(msg, prefix) || !strings.HasPrefix(msg[len(prefix):], tc.want) {
				t.Errorf("got %q, want %q", msg, prefix+tc.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("got a multi-line error %q, want one line", msg)
			}
		})
	}
}

func TestDirectoryPluginIsBuiltOnceAndRebuiltOnChange(t *testing.T) {
	rt, _ := newRuntime(t)
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/tiny\n\ngo 1.26\n")
	write("main.go", "package main\n\nfunc main() { println(1) }\n")
	exe, err := rt.executable(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	fi1, err := os.Stat(exe)
	if err != nil {
		t.Fatal(err)
	}
	exe2, err := rt.executable(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	fi2, _ := os.Stat(exe2)
	if exe2 != exe || !fi2.ModTime().Equal(fi1.ModTime()) {
		t.Errorf("unchanged sources: got %s (mtime %v), want %s untouched (mtime %v)", exe2, fi2.ModTime(), exe, fi1.ModTime())
	}
	time.Sleep(10 * time.Millisecond) // a visible mtime step on coarse file systems
	write("main.go", "package main\n\nfunc main() { println(2) }\n")
	exe3, err := rt.executable(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(exe3).CombinedOutput()
	if got := strings.TrimSpace(string(out)); got != "2" {
		t.Errorf("after a source change the binary prints %q, want %q (rebuilt)", got, "2")
	}
}

func TestDirectoryPluginRuns(t *testing.T) {
	rt, _ := newRuntime(t)
	a, err := rt.Algorithm(context.Background(), filepath.Join("testdata", "echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Spec().Name; got != "echo" {
		t.Errorf("got name %q, want echo", got)
	}
}

// TestLossBitsEqualInProcess sends the same Loss call to the real P3O plugin
// binary and to package p3o in this process: the bits must be identical.
func TestLossBitsEqualInProcess(t *testing.T) {
	rt, _ := newRuntime(t)
	ctx := context.Background()
	for _, opts := range []string{`variant = "v1"`, `variant = "v2"`, `variant = "v2"` + "\nclip = 0.05"} {
		t.Run(opts, func(t *testing.T) {
			remote, err := rt.Algorithm(ctx, filepath.Join(bin, "p3o"), []byte(opts))
			if err != nil {
				t.Fatal(err)
			}
			local := p3o.New()
			if err := local.Configure(ctx, &sdk.ConfigureRequest{Options: []byte(opts)}); err != nil {
				t.Fatal(err)
			}
			req := &sdk.LossRequest{Batch: lossBatch(64, 64, 4)}
			got, err := remote.Loss(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			want, err := local.Loss(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if want.Loss == 0 {
				t.Fatal("in-process loss is 0: the batch does not exercise the plugin")
			}
			compareLoss(t, got, want)
		})
	}
}

// compareLoss checks two responses are bit for bit equal.
func compareLoss(t *testing.T, got, want *sdk.LossResponse) {
	t.Helper()
	if math.Float64bits(got.Loss) != math.Float64bits(want.Loss) {
		t.Errorf("got loss %v, want %v", got.Loss, want.Loss)
	}
	for name, g := range map[string][2][][]float64{"grad logp": {got.GradLogp, want.GradLogp}, "grad values": {got.GradValues, want.GradValues}} {
		if len(g[0]) != len(g[1]) {
			t.Fatalf("%s: got %d sequences, want %d", name, len(g[0]), len(g[1]))
		}
		for i := range g[0] {
			if len(g[0][i]) != len(g[1][i]) {
				t.Fatalf("%s[%d]: got %d tokens, want %d", name, i, len(g[0][i]), len(g[1][i]))
			}
			for j := range g[0][i] {
				if math.Float64bits(g[0][i][j]) != math.Float64bits(g[1][i][j]) {
					t.Fatalf("%s[%d][%d]: got %v, want %v", name, i, j, g[0][i][j], g[1][i][j])
				}
			}
		}
	}
	if len(got.Stats) != len(want.Stats) {
		t.Errorf("got %d stats, want %d", len(got.Stats), len(want.Stats))
	}
	for k, v := range want.Stats {
		if math.Float64bits(got.Stats[k]) != math.Float64bits(v) {
			t.Errorf("stat %s: got %v, want %v", k, got.Stats[k], v)
		}
	}
}

// BenchmarkLossRoundTrip measures one Loss call of 64 sequences x 64 tokens
// through the real P3O plugin process (gRPC over a Unix socket with
// AutoMTLS), P3O's own computation included. Besides wall time it reports
// the CPU time per call of the host (host-cpu-us/op) and of the plugin
// process (plugin-cpu-us/op), which do not depend on the machine's load.
func BenchmarkLossRoundTrip(b *testing.B) {
	benchLoss(b, "p3o", lossBatch(64, 64, 5))
}

// BenchmarkSmallLossRoundTrip measures the fixed cost of a call: one
// sequence of one token, to a plugin (echo) doing next to nothing.
func BenchmarkSmallLossRoundTrip(b *testing.B) {
	benchLoss(b, "echo", lossBatch(1, 1, 5))
}

func benchLoss(b *testing.B, plugin string, batch sdk.Batch) {
	rt := New(hclog.NewNullLogger(), b.TempDir())
	defer rt.Close()
	ctx := context.Background()
	a, err := rt.Algorithm(ctx, filepath.Join(bin, plugin), nil)
	if err != nil {
		b.Fatal(err)
	}
	req := &sdk.LossRequest{Batch: batch}
	if _, err := a.Loss(ctx, req); err != nil { // warm up the connection
		b.Fatal(err)
	}
	pluginPid := pid(b, a.p)
	host0, plugin0 := hostCPU(), processCPU(pluginPid)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.Loss(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(hostCPU()-host0)/1e3/float64(b.N), "host-cpu-us/op")
	b.ReportMetric(float64(processCPU(pluginPid)-plugin0)/1e3/float64(b.N), "plugin-cpu-us/op")
}

// hostCPU is this process's user+system CPU time in nanoseconds.
func hostCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// processCPU is process pid's user+system CPU time in nanoseconds, from
// /proc (clock-tick resolution, 10 ms: fine over a benchmark's second).
func processCPU(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start at ")".
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	var utime, stime int64
	fmt.Sscan(f[11], &utime)
	fmt.Sscan(f[12], &stime)
	return (utime + stime) * 1e7 // 100 ticks per second
}

func TestTailWriterLast(t *testing.T) {
	for _, tc := range []struct {
		name, written, want string
	}{
		{"plain lines", "first\nsecond line\n\n", "second line"},
		{"unterminated", "a\nb", "b"},
		{"only a partial line", "partial", "partial"},
		{"hclog JSON", `{"@level":"error","@message":"load model","error":"open w.bin: no such file","@timestamp":"x"}` + "\n", "load model: open w.bin: no such file"},
		{"hclog JSON without error", `{"@level":"info","@message":"starting"}` + "\n", "starting"},
		{"nothing", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &tailWriter{}
			w.Write([]byte(tc.written))
			if got := w.last(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestConcurrentCallsSurviveAKill runs Loss calls from several goroutines
// while the plugin process is killed: every call succeeds and the process is
// replaced exactly once.
func TestConcurrentCallsSurviveAKill(t *testing.T) {
	rt, _ := newRuntime(t)
	ctx := context.Background()
	a, err := rt.Algorithm(ctx, filepath.Join(bin, "echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req := &sdk.LossRequest{Batch: lossBatch(8, 8, 6)}
	want, err := a.Loss(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	const workers, calls = 4, 30
	var wg sync.WaitGroup
	errs := make(chan error, workers*calls)
	start := make(chan struct{})
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := 0; i < calls; i++ {
				got, err := a.Loss(ctx, req)
				if err == nil && got.Loss != want.Loss {
					err = fmt.Errorf("got loss %v, want %v", got.Loss, want.Loss)
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	victim := pid(t, a.p)
	close(start)
	time.Sleep(5 * time.Millisecond)
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := a.Restarts(); got != 1 {
		t.Errorf("got %d restarts, want 1", got)
	}
}

func TestCancelledStartKillsThePlugin(t *testing.T) {
	rt, _ := newRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	_, err := rt.Algorithm(ctx, filepath.Join(bin, "hangs"), nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want an error wrapping context.DeadlineExceeded", err)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("took %v to give up, want about the 300 ms deadline", d)
	}
}

// TestSpecIsTheConfiguredOne: a Spec may depend on the options (P3O's k sets
// the group size), so the host must see the Spec of the configured plugin,
// at start and after a later Configure.
func TestSpecIsTheConfiguredOne(t *testing.T) {
	ctx := context.Background()
	rt := New(hclog.NewNullLogger(), t.TempDir())
	defer rt.Close()
	a, err := rt.Algorithm(ctx, filepath.Join(bin, "p3o"), []byte("k = 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.Spec().ResponsesPerPrompt, 3; got != want {
		t.Errorf("after start with k = 3: ResponsesPerPrompt = %d, want %d", got, want)
	}
	if err := a.Configure(ctx, &sdk.ConfigureRequest{Options: []byte("k = 5\n")}); err != nil {
		t.Fatal(err)
	}
	if got, want := a.Spec().ResponsesPerPrompt, 5; got != want {
		t.Errorf("after Configure with k = 5: ResponsesPerPrompt = %d, want %d", got, want)
	}
}

// orphanHostEnv makes the test binary act as a host that starts the plugin
// at the given path, prints the plugin's pid and waits to be killed.
const orphanHostEnv = "P3O_TEST_ORPHAN_HOST"

func orphanHost(path string) {
	rt := New(hclog.NewNullLogger(), "")
	a, err := rt.Algorithm(context.Background(), path, nil)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	a.p.mu.Lock()
	fmt.Println(a.p.cur.client.ReattachConfig().Pid)
	a.p.mu.Unlock()
	time.Sleep(time.Minute)
	os.Exit(1)
}

// TestPluginDiesWithTheHost: a host killed by SIGKILL (no chance to clean
// up) leaves no plugin process behind.
func TestPluginDiesWithTheHost(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux-only")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	host := exec.Command(exe, "-test.run", "^$")
	host.Env = append(os.Environ(), orphanHostEnv+"="+filepath.Join(bin, "echo"))
	out, err := host.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		host.Process.Kill()
		t.Fatalf("read the plugin pid from the fake host: %v", err)
	}
	pluginPid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		host.Process.Kill()
		t.Fatalf("fake host said %q, want a pid", line)
	}
	if err := host.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	host.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pluginPid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(pluginPid, syscall.SIGKILL)
			t.Fatalf("plugin process %d still runs 5 s after its host was killed", pluginPid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
