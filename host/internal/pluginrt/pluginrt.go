// Package pluginrt launches and supervises the host's plugins.
//
// A plugin is named by a path: an executable file runs as it is; a directory
// holding a Go main package is built with `go build` into a cache directory
// (rebuilt only when its sources change) and then run. Plugins are launched
// through go-plugin with AutoMTLS; their hclog output appears in the host's
// log under their name. The runtime calls Describe and Configure, checks the
// plugin is of the kind asked for, and replaces a plugin process that died:
// an algorithm call is retried transparently on the fresh process; a reward
// call returns an error wrapping ErrRestarted, because the fresh process lost
// the reward's in-memory state (the host restores it with LoadState and
// retries).
package pluginrt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/p3o-rlhf/p3o/sdk"
)

// ErrRestarted is wrapped by the error of a reward plugin call that found its
// plugin process dead and replaced it: the fresh process is described and
// configured but lost the old one's state. Restore it with LoadState, then
// retry the call.
var ErrRestarted = errors.New("plugin process was replaced and lost its state")

// maxAttempts bounds how often one call is tried on fresh processes.
const maxAttempts = 3

// DefaultCallTimeout bounds one plugin call (and the Describe and Configure
// of a starting plugin) unless Runtime.CallTimeout says otherwise. It is
// generous: a reward plugin that asks a remote service may retry for minutes
// (rewardhttp's worst case is about 5.3 minutes a request).
const DefaultCallTimeout = 15 * time.Minute

// slowCallAfter is when a call still running is logged, long before its
// timeout (a variable for tests).
var slowCallAfter = time.Minute

// startTimeout bounds a plugin process's start, from exec to handshake (a
// variable for tests).
var startTimeout = time.Minute

// Replacing a dead plugin process is tried maxStarts times, waiting
// startBackoff, then twice as long each time, in between (a replacement may
// itself be killed while it starts).
const (
	maxStarts    = 4
	startBackoff = 500 * time.Millisecond
)

// live holds the process ids of every running plugin process of this host,
// for KillAll.
var live = struct {
	sync.Mutex
	pids map[int]bool
}{pids: map[int]bool{}}

// KillAll kills every plugin process this host runs (with its process
// group) at once, without asking them to stop: for a host that must stop
// now. It returns how many it killed.
func KillAll() int {
	live.Lock()
	defer live.Unlock()
	n := 0
	for pid := range live.pids {
		killGroup(pid)
		n++
	}
	return n
}

// Runtime starts plugins and stops them all on Close. It is safe for
// concurrent use.
type Runtime struct {
	logger   hclog.Logger
	cacheDir string

	// CallTimeout bounds every plugin call (0: DefaultCallTimeout). A call
	// that runs past it is logged, its process is killed and replaced as if
	// it had crashed, and the call is retried or fails like one that found
	// the process dead. Set it before the first plugin starts.
	CallTimeout time.Duration

	// Checksums pins plugin executables by SHA-256 (hex), keyed by the
	// path given to Algorithm or Reward: a mismatch refuses to start the
	// plugin, naming both hashes (go-plugin's SecureConfig checks it again
	// at every start). Set it before the first plugin starts.
	Checksums map[string]string

	mu      sync.Mutex
	plugins []*proc
	closed  bool
}

// New returns a runtime logging to logger (nil: discard) and building
// directory plugins into cacheDir ("": the user cache directory,
// e.g. ~/.cache/p3o/plugins).
func New(logger hclog.Logger, cacheDir string) *Runtime {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	if cacheDir == "" {
		if d, err := os.UserCacheDir(); err == nil {
			cacheDir = filepath.Join(d, "p3o", "plugins")
		} else {
			cacheDir = filepath.Join(os.TempDir(), "p3o-plugins")
		}
	}
	return &Runtime{logger: logger, cacheDir: cacheDir}
}

func (rt *Runtime) callTimeout() time.Duration {
	if rt.CallTimeout > 0 {
		return rt.CallTimeout
	}
	return DefaultCallTimeout
}

// secureConfig checks exe against the checksum pinned for path (nil when
// none is).
func (rt *Runtime) secureConfig(path, exe string) (*plugin.SecureConfig, error) {
	want := strings.ToLower(strings.TrimSpace(rt.Checksums[path]))
	if want == "" {
		return nil, nil
	}
	sum, err := hex.DecodeString(want)
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("the pinned SHA-256 %q of %s is not 64 hex digits", want, path)
	}
	f, err := os.Open(exe)
	if err != nil {
		return nil, fmt.Errorf("checksum: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("checksum %s: %w", exe, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return nil, fmt.Errorf("SHA-256 of %s is %s, but the config pins %s: refusing to start it (rebuild or re-pin it)", exe, got, want)
	}
	return &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}, nil
}

// Close stops every plugin process this runtime started. Plugins used after
// Close return an error.
func (rt *Runtime) Close() error {
	rt.mu.Lock()
	ps := rt.plugins
	rt.plugins = nil
	rt.closed = true
	rt.mu.Unlock()
	for _, p := range ps {
		p.close()
	}
	return nil
}

// Algorithm starts the algorithm plugin at path, describes it, checks it is
// an algorithm, and configures it with options (TOML text of its table).
func (rt *Runtime) Algorithm(ctx context.Context, path string, options []byte) (*AlgorithmPlugin, error) {
	p, err := rt.open(ctx, path, sdk.KindAlgorithm, options)
	if err != nil {
		return nil, err
	}
	return &AlgorithmPlugin{handle{p}}, nil
}

// Reward starts the reward plugin at path, describes it, checks it is a
// reward, and configures it with options (TOML text of its table).
func (rt *Runtime) Reward(ctx context.Context, path string, options []byte) (*RewardPlugin, error) {
	p, err := rt.open(ctx, path, sdk.KindReward, options)
	if err != nil {
		return nil, err
	}
	return &RewardPlugin{handle{p}}, nil
}

// Describe starts the plugin at path, whatever its kind, returns its Spec and
// stops it. It does not configure the plugin.
func (rt *Runtime) Describe(ctx context.Context, path string) (*sdk.Spec, error) {
	exe, err := rt.executable(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", path, err)
	}
	p := &proc{rt: rt, path: path, exe: exe}
	inst, err := p.launch(ctx)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", path, err)
	}
	defer inst.kill()
	spec, _, err := inst.describe(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", path, err)
	}
	return spec, nil
}

// open resolves, launches, describes, checks and configures a plugin.
func (rt *Runtime) open(ctx context.Context, path string, kind sdk.Kind, options []byte) (*proc, error) {
	exe, err := rt.executable(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", path, err)
	}
	p := &proc{rt: rt, path: path, exe: exe, kind: kind, options: options}
	inst, err := p.start(ctx)
	if err != nil {
		return nil, err
	}
	p.cur = inst
	p.spec = inst.spec
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		inst.kill()
		return nil, fmt.Errorf("plugin %s: runtime is closed", path)
	}
	rt.plugins = append(rt.plugins, p)
	rt.mu.Unlock()
	return p, nil
}

// proc is one plugin: its path and options and the process currently serving
// it, replaced when it dies.
type proc struct {
	rt      *Runtime
	path    string
	exe     string
	kind    sdk.Kind
	options []byte

	mu       sync.Mutex
	cur      *instance
	spec     *sdk.Spec
	restarts int
	closed   bool
}

// instance is one plugin process and its dispensed client.
type instance struct {
	pid    int
	client *plugin.Client
	proto  plugin.ClientProtocol
	stderr *tailWriter
	spec   *sdk.Spec
	impl   any // *sdk.AlgorithmClient or *sdk.RewardClient
	stop   context.CancelFunc
}

// kill stops the process: gracefully through go-plugin, then for sure (a
// frozen process never answers the graceful request).
func (inst *instance) kill() {
	done := make(chan struct{})
	go func() {
		inst.client.Kill()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		killGroup(inst.pid)
		<-done
	}
	inst.stop()
	inst.forget()
}

// killHard kills the process (and its group) at once, then cleans up.
func (inst *instance) killHard() {
	killGroup(inst.pid)
	inst.kill()
}

func (inst *instance) forget() {
	live.Lock()
	delete(live.pids, inst.pid)
	live.Unlock()
}

// launch starts the plugin process and completes the handshake; a cancelled
// ctx kills a plugin that is still starting.
func (p *proc) launch(ctx context.Context) (*instance, error) {
	secure, err := p.rt.secureConfig(p.path, p.exe)
	if err != nil {
		return nil, err
	}
	tail := &tailWriter{}
	// go-plugin's Start cannot be interrupted (Kill waits for it), so a
	// cancelled ctx kills the process through its own context, which is
	// cancelled for good only when the instance is stopped.
	procCtx, stop := context.WithCancel(context.Background())
	cmd := exec.CommandContext(procCtx, p.exe)
	dieWithHost(cmd)
	// Cancelling kills the plugin's whole process group, and Wait returns
	// soon after even if a child of the plugin holds its output pipes.
	cmd.Cancel = func() error {
		killGroup(cmd.Process.Pid)
		return nil
	}
	cmd.WaitDelay = 2 * time.Second
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          sdk.PluginSet(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           p.rt.logger,
		Stderr:           tail,
		GRPCDialOptions:  sdk.GRPCDialOptions(),
		StartTimeout:     startTimeout,
		SecureConfig:     secure,
	})
	type started struct {
		proto plugin.ClientProtocol
		err   error
	}
	done := make(chan started, 1)
	go func() {
		proto, err := client.Client()
		done <- started{proto, err}
	}()
	var s started
	timer := time.NewTimer(startTimeout + 5*time.Second)
	defer timer.Stop()
	select {
	case s = <-done:
	case <-ctx.Done():
		stop()
		<-done
		client.Kill()
		return nil, fmt.Errorf("start: %w", ctx.Err())
	case <-timer.C:
		// go-plugin's own start timeout did not end it (a child of the
		// plugin keeps its pipes open): kill the process group.
		stop()
		<-done
		client.Kill()
		return nil, fmt.Errorf("start: no handshake within %v; is it a plugin built with sdk.ServeAlgorithm or sdk.ServeReward?", startTimeout)
	}
	if s.err != nil {
		err := startError(s.err, client, tail)
		// The whole process group: a child of the plugin holding its
		// output pipes would keep client.Kill waiting forever.
		if cmd.Process != nil {
			killGroup(cmd.Process.Pid)
		}
		stop()
		client.Kill()
		return nil, err
	}
	inst := &instance{client: client, proto: s.proto, stderr: tail, stop: stop}
	if rc := client.ReattachConfig(); rc != nil {
		inst.pid = rc.Pid
		live.Lock()
		live.pids[inst.pid] = true
		live.Unlock()
	}
	return inst, nil
}

// start launches a process and describes, checks and configures it.
func (p *proc) start(ctx context.Context) (*instance, error) {
	inst, err := p.launch(ctx)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", p.path, err)
	}
	// Describe and Configure are plugin calls like any other: bounded.
	ctx, cancel := context.WithTimeout(ctx, p.rt.callTimeout())
	defer cancel()
	spec, impl, err := inst.describe(ctx, p.kind)
	if err == nil && spec.Kind != p.kind {
		err = fmt.Errorf("is a %s plugin (%s), not an %s plugin", spec.Kind, spec.Name, p.kind)
		if p.kind == sdk.KindReward {
			err = fmt.Errorf("is an %s plugin (%s), not a %s plugin", spec.Kind, spec.Name, p.kind)
		}
	}
	if err == nil {
		req := &sdk.ConfigureRequest{Options: p.options}
		switch c := impl.(type) {
		case sdk.Algorithm:
			err = c.Configure(ctx, req)
		case sdk.Reward:
			err = c.Configure(ctx, req)
		}
		if err != nil {
			err = fmt.Errorf("configure: %w", err)
		}
	}
	if err == nil {
		// A Spec may depend on the options (P3O's k sets ResponsesPerPrompt),
		// so the Spec the host uses is the configured plugin's.
		spec, impl, err = inst.describe(ctx, p.kind)
	}
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			err = fmt.Errorf("%w (no answer within %v)", err, p.rt.callTimeout())
		}
		inst.killHard()
		return nil, fmt.Errorf("plugin %s: %w", p.path, shorten(err))
	}
	inst.spec, inst.impl = spec, impl
	return inst, nil
}

// describe asks the plugin for its Spec, as the kind asked for first ("" for
// any), then as the other kind, so a plugin of the wrong kind is named.
func (inst *instance) describe(ctx context.Context, kind sdk.Kind) (*sdk.Spec, any, error) {
	kinds := []sdk.Kind{sdk.KindAlgorithm, sdk.KindReward}
	if kind == sdk.KindReward {
		kinds = []sdk.Kind{sdk.KindReward, sdk.KindAlgorithm}
	}
	var firstErr error
	for _, k := range kinds {
		raw, err := inst.proto.Dispense(string(k))
		if err != nil {
			return nil, nil, fmt.Errorf("dispense %s: %w", k, err)
		}
		var spec *sdk.Spec
		switch c := raw.(type) {
		case *sdk.AlgorithmClient:
			spec, err = c.Describe(ctx)
		case *sdk.RewardClient:
			spec, err = c.Describe(ctx)
		default:
			return nil, nil, fmt.Errorf("dispense %s: unexpected client %T", k, raw)
		}
		if errors.Is(err, sdk.ErrNotServed) {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("describe: %w", err)
		}
		if spec.Kind == "" {
			spec.Kind = k
		}
		if spec.Kind != k {
			return nil, nil, fmt.Errorf("serves the %s protocol but its Spec says kind %q", k, spec.Kind)
		}
		if spec.ProtocolVersion == 0 {
			spec.ProtocolVersion = inst.client.NegotiatedVersion()
		}
		return spec, raw, nil
	}
	return nil, nil, fmt.Errorf("describe: serves neither an algorithm nor a reward: %w", firstErr)
}

// startError turns a go-plugin start error into a one-line cause.
func startError(err error, client *plugin.Client, tail *tailWriter) error {
	msg := err.Error()
	first, _, _ := strings.Cut(msg, "\n")
	if strings.Contains(msg, "Failed to read any lines from plugin's stdout") {
		// Stdout closed without a line: the process is exiting. Give it a
		// moment so its exit and last stderr line can be reported.
		for i := 0; i < 100 && !client.Exited(); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		for i := 0; i < 20 && tail.last() == ""; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		if client.Exited() {
			msg = "plugin exited before we could connect"
		}
	}
	switch {
	case strings.HasPrefix(strings.ToLower(msg), "incompatible api version with plugin"):
		// "Incompatible API version with plugin. Plugin version: 2, Client versions: [1]"
		_, versions, _ := strings.Cut(first, ". ")
		return fmt.Errorf("speaks another plugin protocol (%s); rebuild it against this sdk (protocol %d)", versions, sdk.ProtocolVersion)
	case strings.HasPrefix(msg, "plugin exited before we could connect"):
		if last := tail.last(); last != "" {
			return fmt.Errorf("exited before the handshake: %s", last)
		}
		return errors.New("exited before the handshake (no output on stderr): its main returned without serving; a plugin's main must call sdk.ServeAlgorithm or sdk.ServeReward (see examples/)")
	case strings.HasPrefix(msg, "Unrecognized remote plugin message"):
		line := strings.TrimSpace(strings.TrimPrefix(first, "Unrecognized remote plugin message:"))
		if line == "" {
			return errors.New("printed nothing on stdout and no handshake; is it a plugin built with sdk.ServeAlgorithm or sdk.ServeReward?")
		}
		return fmt.Errorf("wrote %q to stdout before the handshake; a plugin must not print to stdout (log to stderr)", line)
	case strings.Contains(msg, "exec format error"):
		return errors.New("not a program this machine can run (exec format error)")
	}
	return errors.New(strings.Join(strings.Fields(msg), " "))
}

// tailWriter keeps the last lines a plugin wrote to stderr, for errors.
type tailWriter struct {
	mu    sync.Mutex
	lines []string
	part  []byte
}

func (w *tailWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range b {
		if c != '\n' {
			if len(w.part) < 4096 {
				w.part = append(w.part, c)
			}
			continue
		}
		if s := strings.TrimSpace(string(w.part)); s != "" {
			w.lines = append(w.lines, s)
			if len(w.lines) > 8 {
				w.lines = w.lines[1:]
			}
		}
		w.part = w.part[:0]
	}
	return len(b), nil
}

// last returns the last non-empty line written; an hclog JSON line is
// reduced to its message and error.
func (w *tailWriter) last() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	line := strings.TrimSpace(string(w.part))
	if line == "" && len(w.lines) > 0 {
		line = w.lines[len(w.lines)-1]
	}
	var entry struct {
		Message string `json:"@message"`
		Error   string `json:"error"`
	}
	if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &entry) == nil && entry.Message != "" {
		if entry.Error != "" {
			return entry.Message + ": " + entry.Error
		}
		return entry.Message
	}
	return line
}

// close stops the current process; later calls fail.
func (p *proc) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.cur != nil {
		p.cur.kill()
		p.cur = nil
	}
}

// current returns a live instance, replacing a dead one. replaced reports
// whether this call started a new process.
func (p *proc) current(ctx context.Context, dead *instance) (inst *instance, replaced bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, false, fmt.Errorf("plugin %s: closed", p.path)
	}
	if p.cur != nil && p.cur != dead && !p.cur.client.Exited() {
		return p.cur, false, nil
	}
	if p.cur != nil {
		p.cur.killHard()
	}
	p.cur = nil
	wait := startBackoff
	for try := 1; ; try++ {
		if inst, err = p.start(ctx); err == nil {
			break
		}
		if try >= maxStarts || ctx.Err() != nil {
			return nil, false, fmt.Errorf("replace dead process (%d tries): %w", try, err)
		}
		p.rt.logger.Warn(fmt.Sprintf("plugin %s: replacement did not start; retrying", p.spec.Name), "path", p.path, "try", try, "wait", wait, "error", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, false, fmt.Errorf("replace dead process: %w", ctx.Err())
		}
		wait *= 2
	}
	p.cur = inst
	p.restarts++
	p.rt.logger.Warn(fmt.Sprintf("plugin %s replaced", p.spec.Name), "path", p.path, "restarts", p.restarts)
	return inst, true, nil
}

// died reports whether err means the process serving inst is gone (rather
// than an error returned by the plugin or a cancelled context).
func died(ctx context.Context, inst *instance, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if inst.client.Exited() {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.Canceled:
		return true
	}
	return false
}

// call runs f (the plugin method named method) on a live process, within
// the runtime's call timeout. When the process is found dead, before or
// during the call, or does not answer in time (it is then killed), it is
// replaced; the call is then retried if retry is true and otherwise fails
// with an error wrapping ErrRestarted.
func call[T any](ctx context.Context, p *proc, retry bool, method string, f func(ctx context.Context, impl any) (T, error)) (T, error) {
	var zero T
	var dead *instance
	timeout := p.rt.callTimeout()
	for attempt := 1; ; attempt++ {
		inst, replaced, err := p.current(ctx, dead)
		if err != nil {
			return zero, err
		}
		if replaced && !retry {
			return zero, fmt.Errorf("plugin %s: %w", p.path, ErrRestarted)
		}
		callCtx, cancel := context.WithTimeout(ctx, timeout)
		slow := time.AfterFunc(slowCallAfter, func() {
			p.rt.logger.Warn(fmt.Sprintf("plugin %s has not answered %s for %v; it is killed and replaced at %v (run.plugin_timeout)", p.spec.Name, method, slowCallAfter, timeout),
				"path", p.path, "pid", inst.pid)
		})
		v, err := f(callCtx, inst.impl)
		slow.Stop()
		// By the clock: gRPC may report the deadline a moment before
		// callCtx's own timer fires.
		deadline, _ := callCtx.Deadline()
		hung := err != nil && ctx.Err() == nil && (callCtx.Err() == context.DeadlineExceeded || !time.Now().Before(deadline))
		cancel()
		if err == nil {
			return v, nil
		}
		if hung {
			p.rt.logger.Error(fmt.Sprintf("plugin %s did not answer %s within %v: killing process %d and replacing it", p.spec.Name, method, timeout, inst.pid),
				"path", p.path, "error", err)
			inst.killHard()
			if attempt >= maxAttempts {
				return zero, fmt.Errorf("plugin %s: %s did not answer within %v, %d times in a row (run.plugin_timeout sets the limit)", p.path, method, timeout, attempt)
			}
			dead = inst
			continue
		}
		if !died(ctx, inst, err) {
			return zero, shorten(err)
		}
		p.rt.logger.Warn(fmt.Sprintf("plugin %s died", p.spec.Name), "path", p.path, "error", err)
		if attempt >= maxAttempts {
			return zero, fmt.Errorf("plugin %s: died %d times in a row: %w", p.path, attempt, err)
		}
		dead = inst
	}
}

// maxErrorLen caps the text of an error a plugin returns: a plugin listing
// 700k unknown option keys in one error is reported in 4 KiB, not 6 MB.
const maxErrorLen = 4 << 10

// longError is a plugin's error whose text is cut to maxErrorLen bytes; it
// still wraps the original (errors.Is and errors.As see it).
type longError struct{ err error }

func (e longError) Error() string {
	m := e.err.Error()
	cut := maxErrorLen
	for cut > 0 && !utf8.RuneStart(m[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d more bytes of the plugin's error)", m[:cut], len(m)-cut)
}

func (e longError) Unwrap() error { return e.err }

// shorten caps err's text at maxErrorLen bytes.
func shorten(err error) error {
	if err == nil || len(err.Error()) <= maxErrorLen {
		return err
	}
	return longError{err}
}

// handle is what both kinds of plugin share: the supervised process.
type handle struct{ p *proc }

// Spec returns the plugin's Spec, as described after its last Configure (do
// not modify).
func (h handle) Spec() *sdk.Spec {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	return h.p.spec
}

// Restarts returns how many times the plugin process was replaced.
func (h handle) Restarts() int {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	return h.p.restarts
}

// Close stops the plugin process.
func (h handle) Close() error {
	h.p.close()
	return nil
}

// reconfigure calls configure and then describe on the running process; on
// success it keeps the options (a replacement process gets the same ones) and
// the configured plugin's Spec, which may depend on them.
func (h handle) reconfigure(ctx context.Context, req *sdk.ConfigureRequest, retry bool, configure func(ctx context.Context, impl any) error, describe func(ctx context.Context, impl any) (*sdk.Spec, error)) error {
	if _, err := call(ctx, h.p, retry, "Configure", func(ctx context.Context, impl any) (struct{}, error) { return struct{}{}, configure(ctx, impl) }); err != nil {
		return err
	}
	spec, err := call(ctx, h.p, true, "Describe", describe)
	if err != nil {
		return fmt.Errorf("describe after configure: %w", err)
	}
	h.p.mu.Lock()
	h.p.options = req.Options
	h.p.spec = spec
	h.p.mu.Unlock()
	return nil
}

// AlgorithmPlugin is an algorithm plugin process supervised by a Runtime. It
// implements sdk.Algorithm; a call that finds the process dead, or that it
// does not answer within the call timeout, starts a fresh one (Describe and
// Configure again) and retries. Safe for concurrent use.
type AlgorithmPlugin struct{ handle }

var _ sdk.Algorithm = (*AlgorithmPlugin)(nil)

func describeAlgorithm(ctx context.Context, impl any) (*sdk.Spec, error) {
	return impl.(sdk.Algorithm).Describe(ctx)
}

// Describe returns the plugin's Spec from the running process.
func (a *AlgorithmPlugin) Describe(ctx context.Context) (*sdk.Spec, error) {
	return call(ctx, a.p, true, "Describe", describeAlgorithm)
}

// Configure reconfigures the plugin and takes the configured plugin's Spec.
func (a *AlgorithmPlugin) Configure(ctx context.Context, req *sdk.ConfigureRequest) error {
	return a.reconfigure(ctx, req, true,
		func(ctx context.Context, impl any) error { return impl.(sdk.Algorithm).Configure(ctx, req) }, describeAlgorithm)
}

// Prepare calls the plugin's Prepare.
func (a *AlgorithmPlugin) Prepare(ctx context.Context, req *sdk.PrepareRequest) (*sdk.PrepareResponse, error) {
	return call(ctx, a.p, true, "Prepare", func(ctx context.Context, impl any) (*sdk.PrepareResponse, error) {
		return impl.(sdk.Algorithm).Prepare(ctx, req)
	})
}

// Loss calls the plugin's Loss.
func (a *AlgorithmPlugin) Loss(ctx context.Context, req *sdk.LossRequest) (*sdk.LossResponse, error) {
	return call(ctx, a.p, true, "Loss", func(ctx context.Context, impl any) (*sdk.LossResponse, error) {
		return impl.(sdk.Algorithm).Loss(ctx, req)
	})
}

// RewardPlugin is a reward plugin process supervised by a Runtime. It
// implements sdk.Reward. A call that finds the process dead (or hung: see
// Runtime.CallTimeout) starts a fresh one (Describe and Configure again);
// since the fresh process lost the reward's state, the call returns an error
// wrapping ErrRestarted instead of retrying, except LoadState (which restores
// the state) and, for a reward whose Spec says it is not Trainable (no state
// beyond its options), every call. Safe for concurrent use.
type RewardPlugin struct{ handle }

var _ sdk.Reward = (*RewardPlugin)(nil)

// stateless reports whether a replaced process loses nothing.
func (r *RewardPlugin) stateless() bool { return !r.Spec().Trainable }

func describeReward(ctx context.Context, impl any) (*sdk.Spec, error) {
	return impl.(sdk.Reward).Describe(ctx)
}

// Describe returns the plugin's Spec from the running process.
func (r *RewardPlugin) Describe(ctx context.Context) (*sdk.Spec, error) {
	return call(ctx, r.p, true, "Describe", describeReward)
}

// Configure reconfigures the plugin and takes the configured plugin's Spec.
func (r *RewardPlugin) Configure(ctx context.Context, req *sdk.ConfigureRequest) error {
	return r.reconfigure(ctx, req, r.stateless(),
		func(ctx context.Context, impl any) error { return impl.(sdk.Reward).Configure(ctx, req) }, describeReward)
}

// Score calls the plugin's Score.
func (r *RewardPlugin) Score(ctx context.Context, req *sdk.ScoreRequest) (*sdk.ScoreResponse, error) {
	return call(ctx, r.p, r.stateless(), "Score", func(ctx context.Context, impl any) (*sdk.ScoreResponse, error) {
		return impl.(sdk.Reward).Score(ctx, req)
	})
}

// Train calls the plugin's Train.
func (r *RewardPlugin) Train(ctx context.Context, req *sdk.TrainRequest) (*sdk.TrainResponse, error) {
	return call(ctx, r.p, r.stateless(), "Train", func(ctx context.Context, impl any) (*sdk.TrainResponse, error) {
		return impl.(sdk.Reward).Train(ctx, req)
	})
}

// SaveState calls the plugin's SaveState.
func (r *RewardPlugin) SaveState(ctx context.Context) ([]byte, error) {
	return call(ctx, r.p, r.stateless(), "SaveState", func(ctx context.Context, impl any) ([]byte, error) {
		return impl.(sdk.Reward).SaveState(ctx)
	})
}

// LoadState calls the plugin's LoadState; it is retried on a fresh process,
// since it restores everything a replacement lost.
func (r *RewardPlugin) LoadState(ctx context.Context, state []byte) error {
	_, err := call(ctx, r.p, true, "LoadState", func(ctx context.Context, impl any) (struct{}, error) {
		return struct{}{}, impl.(sdk.Reward).LoadState(ctx, state)
	})
	return err
}
