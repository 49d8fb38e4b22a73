// Package config reads the main job's TOML configuration: an embedded default,
// overlaid by a config file and by --set key=value overrides, all decoded
// strictly (an unknown key is an error naming the key and, for a file, its
// line). The [algo] and [reward] tables belong to the plugins and are passed
// to their Configure verbatim.
package config

import (
	"bytes"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

//go:embed default.toml
var defaultTOML string

// DefaultTOML returns the embedded default configuration text.
func DefaultTOML() string { return defaultTOML }

// Config is the whole configuration of a run.
type Config struct {
	Run         Run         `toml:"run"`
	Task        Task        `toml:"task"`
	Policy      Policy      `toml:"policy"`
	Train       Train       `toml:"train"`
	KL          KL          `toml:"kl"`
	Prefs       Prefs       `toml:"prefs"`
	RewardModel RewardModel `toml:"reward_model"`
	Eval        Eval        `toml:"eval"`
	Offline     Offline     `toml:"offline"`
	// Algo and Reward are the plugins' own tables, passed to Configure.
	Algo   map[string]any `toml:"algo"`
	Reward map[string]any `toml:"reward"`
}

// Run holds the run-level settings.
type Run struct {
	Seed            uint64 `toml:"seed"`
	Steps           int    `toml:"steps"`
	Out             string `toml:"out"`
	Algo            string `toml:"algo"`
	Reward          string `toml:"reward"`
	CheckpointEvery int    `toml:"checkpoint_every"`
	KeepCheckpoints int    `toml:"keep_checkpoints"`
	LogEvery        int    `toml:"log_every"`
	CacheDir        string `toml:"cache_dir"`
	Progress        bool   `toml:"progress"`
	// PluginTimeout bounds every plugin call (a Go duration, "15m"); a
	// plugin that does not answer in time is killed and replaced.
	PluginTimeout string `toml:"plugin_timeout"`
	// AlgoSHA256 and RewardSHA256 pin prebuilt plugin executables by
	// SHA-256 (hex, "" = not pinned); a mismatch refuses to start one.
	AlgoSHA256   string `toml:"algo_sha256"`
	RewardSHA256 string `toml:"reward_sha256"`
}

// PluginCallTimeout returns run.plugin_timeout (valid after Validate).
func (r Run) PluginCallTimeout() time.Duration {
	d, _ := time.ParseDuration(r.PluginTimeout)
	return d
}

// Task selects the task and the rollout shape.
type Task struct {
	Name           string `toml:"name"`
	DataDir        string `toml:"data_dir"`
	PromptsPerStep int    `toml:"prompts_per_step"`
	ResponseLen    int    `toml:"response_len"`
	// Path is the prompt file of task "prompts" (JSONL, one object a
	// line), PromptKey its prompt field ("" = "prompt", TRL's column).
	Path      string `toml:"path"`
	PromptKey string `toml:"prompt_key"`
	// EvalPath holds task "prompts"' held-out prompts; when empty, HeldOut
	// of Path's prompts are held out for evaluation.
	EvalPath string  `toml:"eval_path"`
	HeldOut  float64 `toml:"heldout"`
	// MaxPromptTokens bounds a prompt: longer ones keep their last
	// MaxPromptTokens tokens (counted in the log).
	MaxPromptTokens int `toml:"max_prompt_tokens"`
	// Stop is "none" (every response is exactly response_len tokens,
	// end-of-text banned: the IMDB setting) or "eot" (a response ends at
	// the policy's end-of-text token, kept as its last token, or at
	// max_new_tokens).
	Stop string `toml:"stop"`
	// MaxNewTokens bounds a response with stop = "eot" (0: response_len).
	MaxNewTokens int     `toml:"max_new_tokens"`
	Temperature  float64 `toml:"temperature"`
	TopK         int     `toml:"top_k"`
}

// MaxResponse is the longest response a rollout may draw: response_len,
// or max_new_tokens when it is set with stop = "eot".
func (t Task) MaxResponse() int {
	if t.Stop == "eot" && t.MaxNewTokens > 0 {
		return t.MaxNewTokens
	}
	return t.ResponseLen
}

// Policy says where the initial policy comes from.
type Policy struct {
	SFT string `toml:"sft"`
	// HF is a Hugging Face GPT-2 directory (config.json, model.safetensors,
	// vocab.json + merges.txt or tokenizer.json): the policy and frozen
	// reference, with its BPE tokenizer and end-of-text id. It wins over
	// SFT when set.
	HF   string     `toml:"hf"`
	Init ModelShape `toml:"init"`
}

// ModelShape is the shape of a randomly initialised policy (tests, ablations).
type ModelShape struct {
	Vocab   int `toml:"vocab"`
	Context int `toml:"context"`
	DModel  int `toml:"d_model"`
	Heads   int `toml:"heads"`
	Layers  int `toml:"layers"`
}

// Train holds the optimiser and minibatch settings.
type Train struct {
	LR          float64 `toml:"lr"`
	Beta1       float64 `toml:"beta1"`
	Beta2       float64 `toml:"beta2"`
	Eps         float64 `toml:"eps"`
	WeightDecay float64 `toml:"weight_decay"`
	GradClip    float64 `toml:"grad_clip"`
	Epochs      int     `toml:"epochs"`
	Minibatches int     `toml:"minibatches"`
	OldLogp     string  `toml:"old_logp"`
}

// KL configures the KL coefficient controller.
type KL struct {
	Mode    string  `toml:"mode"`
	Beta    float64 `toml:"beta"`
	Target  float64 `toml:"target"`
	Horizon float64 `toml:"horizon"`
}

// Prefs configures the preference data.
type Prefs struct {
	Path    string  `toml:"path"`
	N       int     `toml:"n"`
	HeldOut float64 `toml:"heldout"`
}

// RewardModel configures the reward model stage.
type RewardModel struct {
	State     string  `toml:"state"`
	Normalize string  `toml:"normalize"`
	Clip      float64 `toml:"clip"`
	// Shift adds a prompt-dependent offset delta(x), uniform in
	// [-Shift, Shift] by a hash of the prompt, to every reward: the
	// reward-shift invariance experiment (0 = off).
	Shift float64 `toml:"shift"`
}

// Eval configures the held-out evaluation.
type Eval struct {
	Prompts int `toml:"prompts"`
	Samples int `toml:"samples"`
	Every   int `toml:"every"`
	// Seed alone picks the evaluation prompts and their sampling streams, so
	// runs of every algorithm and run.seed are scored on the same prompts
	// with the same random numbers (paired comparisons, win rates).
	Seed uint64 `toml:"seed"`
}

// Offline configures offline (preference-data) algorithms.
type Offline struct {
	Batch int `toml:"batch"`
	Probe int `toml:"probe"`
}

// Default returns the embedded default configuration.
func Default() (*Config, error) {
	c := &Config{}
	if err := decodeStrict("default config", defaultTOML, c); err != nil {
		return nil, err
	}
	return c, nil
}

// Load returns the default configuration overlaid by the file at path (when
// not empty) and by overrides of the form "a.b=value" (value in TOML syntax; a
// bare word is taken as a string).
func Load(path string, overrides []string) (*Config, error) {
	c, err := Default()
	if err != nil {
		return nil, err
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		if err := decodeStrict(path, string(b), c); err != nil {
			return nil, err
		}
	}
	for _, o := range overrides {
		if err := c.Set(o); err != nil {
			return nil, err
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeStrict decodes text over c; keys c does not have are errors naming
// the key and its line. Keys under [algo] and [reward] belong to plugins.
func decodeStrict(name, text string, c *Config) error {
	// Plugin tables merge key by key over what c already holds.
	algo, reward := c.Algo, c.Reward
	c.Algo, c.Reward = nil, nil
	md, err := toml.Decode(text, c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("config %s:%d: %s", name, pe.Position.Line, pe.Message)
		}
		if line, key, ok := decodeErrorAt(err); ok {
			if line == 0 {
				line = keyLine(text, toml.Key(strings.Split(key, ".")))
			}
			return fmt.Errorf("config %s:%d: %s", name, line, typeError(key, err))
		}
		return fmt.Errorf("config %s: %w", name, err)
	}
	c.Algo = mergeMaps(algo, c.Algo)
	c.Reward = mergeMaps(reward, c.Reward)
	for _, k := range md.Undecoded() {
		if len(k) > 0 && (k[0] == "algo" || k[0] == "reward") {
			continue
		}
		return fmt.Errorf("config %s:%d: %s", name, keyLine(text, k), unknownKey(k))
	}
	return nil
}

// maxListed caps how many known keys an error lists.
const maxListed = 30

// unknownKey explains an unknown key: the keys its table does have, or the
// tables there are when the table itself is unknown.
func unknownKey(k toml.Key) string {
	for i := len(k) - 1; i >= 1; i-- {
		if known := knownKeys(k[:i]); known != nil {
			return fmt.Sprintf("unknown key %q (known keys of [%s]: %s)", k.String(), k[:i].String(), listCapped(known))
		}
	}
	if len(k) > 1 {
		return fmt.Sprintf("unknown table %q in %q (tables: %s)", k[0], k.String(), listCapped(append(knownKeys(nil), "algo", "reward")))
	}
	return fmt.Sprintf("unknown table %q (tables: %s)", k.String(), listCapped(append(knownKeys(nil), "algo", "reward")))
}

// listCapped joins names, at most maxListed of them.
func listCapped(names []string) string {
	sort.Strings(names)
	if len(names) > maxListed {
		return fmt.Sprintf("%s, ... (%d more)", strings.Join(names[:maxListed], ", "), len(names)-maxListed)
	}
	return strings.Join(names, ", ")
}

func mergeMaps(base, over map[string]any) map[string]any {
	if base == nil && over == nil {
		return nil
	}
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = mergeMaps(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// knownKeys lists the keys a table of the default config has, for errors.
func knownKeys(table toml.Key) []string {
	var m map[string]any
	if _, err := toml.Decode(defaultTOML, &m); err != nil {
		return nil
	}
	cur := m
	for _, t := range table {
		next, ok := cur[t].(map[string]any)
		if !ok {
			return nil // not a table of the config
		}
		cur = next
	}
	keys := make([]string, 0, len(cur))
	for k := range cur {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// keyLine finds the 1-based line defining key in text (0 if not found). It
// understands [table] headers, dotted keys and inline key = value lines,
// which is all a config file needs.
func keyLine(text string, key toml.Key) int {
	want := key.String()
	var table string
	for i, line := range strings.Split(text, "\n") {
		s := strings.TrimSpace(line)
		if s == "" || s[0] == '#' {
			continue
		}
		if strings.HasPrefix(s, "[") {
			h := strings.Trim(strings.SplitN(s, "#", 2)[0], " \t")
			h = strings.Trim(h, "[] \t")
			table = normKey(h)
			if table == want || strings.HasPrefix(table, want+".") {
				return i + 1
			}
			continue
		}
		eq := strings.Index(s, "=")
		if eq < 0 {
			continue
		}
		k := normKey(s[:eq])
		full := k
		if table != "" {
			full = table + "." + k
		}
		if full == want || strings.HasPrefix(want, full+".") || strings.HasPrefix(full, want+".") {
			return i + 1
		}
	}
	return 0
}

func normKey(s string) string {
	parts := strings.Split(s, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return toml.Key(parts).String()
}

// Set applies one "a.b=value" override. Keys under algo. and reward. go to
// the plugin tables (checked by the plugin); others must exist.
func (c *Config) Set(kv string) error {
	eq := strings.Index(kv, "=")
	if eq <= 0 {
		return fmt.Errorf("--set %q: want key=value", kv)
	}
	key, raw := strings.TrimSpace(kv[:eq]), strings.TrimSpace(kv[eq+1:])
	val, err := parseValue(raw)
	if err != nil {
		return fmt.Errorf("--set %s: %w", key, err)
	}
	path := strings.Split(key, ".")
	if path[0] == "algo" || path[0] == "reward" {
		if len(path) < 2 {
			// The whole table: --set reward={} clears it, --set
			// algo={variant="v1"} replaces it.
			t, ok := val.(map[string]any)
			if !ok {
				return fmt.Errorf("--set %s: name a key inside [%s] (%s.KEY=VALUE), or give a whole table (%s={} clears it)", key, path[0], path[0], path[0])
			}
			if path[0] == "algo" {
				c.Algo = t
			} else {
				c.Reward = t
			}
			return nil
		}
		m := c.Algo
		if path[0] == "reward" {
			m = c.Reward
		}
		if m == nil {
			m = map[string]any{}
		}
		setPath(m, path[1:], val)
		if path[0] == "algo" {
			c.Algo = m
		} else {
			c.Reward = m
		}
		return nil
	}
	// Round-trip the host part through a map so the key is checked against
	// the struct and the value against its type.
	tree, err := c.hostTree()
	if err != nil {
		return err
	}
	if !hasPath(tree, path) {
		if known := knownKeys(toml.Key(path)); known != nil {
			return fmt.Errorf("--set %s: [%s] is a table: set a key inside it (%s.KEY=VALUE; keys: %s)", kv, key, key, listCapped(known))
		}
		return fmt.Errorf("--set %s: %s", kv, unknownKey(toml.Key(path)))
	}
	setPath(tree, path, val)
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(tree); err != nil {
		return fmt.Errorf("--set %s: %w", kv, err)
	}
	nc := &Config{Algo: c.Algo, Reward: c.Reward}
	if _, err := toml.Decode(buf.String(), nc); err != nil {
		// The text decoded is generated: report the flag, not its lines.
		return fmt.Errorf("--set %s: %s", kv, typeError(key, err))
	}
	*c = *nc
	return nil
}

// typeErrorRE picks the types out of BurntSushi/toml's type mismatch error.
var typeErrorRE = regexp.MustCompile(`TOML value has type (\S+); destination has type (\S+)`)

// tableErrorRE picks the types out of its error for a table given as
// another kind ([[train]]).
var tableErrorRE = regexp.MustCompile(`type mismatch for \S+: expected (\S+) but found (\S+)`)

// decodeErrorRE picks the line (when given) and key out of a decode error.
var decodeErrorRE = regexp.MustCompile(`^toml: (?:line (\d+) )?\(last key "([^"]+)"\)`)

// decodeErrorAt returns the line and key of a decode error of text (the
// line of the key in text when the error has none).
func decodeErrorAt(err error) (line int, key string, ok bool) {
	m := decodeErrorRE.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, "", false
	}
	line, _ = strconv.Atoi(m[1])
	return line, m[2], true
}

// tomlKind names a type of BurntSushi/toml's errors as a config's author
// knows it.
func tomlKind(t string) string {
	switch {
	case strings.HasPrefix(t, "map["):
		return "table"
	case strings.HasPrefix(t, "[]map["):
		return "array of tables"
	case strings.HasPrefix(t, "[]"):
		return "array"
	case strings.HasPrefix(t, "float"):
		return "float"
	case strings.HasPrefix(t, "int"):
		return "integer"
	}
	return t
}

// typeError rewords a decode error of one key in the config's terms,
// without the line number of a generated text.
func typeError(key string, err error) string {
	msg := err.Error()
	if m := typeErrorRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s takes a value of type %s, not %s", key, tomlKind(m[2]), tomlKind(m[1]))
	}
	if m := tableErrorRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("[%s] is a %s, not an %s", key, tomlKind(m[1]), tomlKind(m[2]))
	}
	if _, rest, ok := strings.Cut(msg, "): "); ok && strings.HasPrefix(msg, "toml: line") {
		return rest
	}
	return msg
}

func parseValue(raw string) (any, error) {
	var m map[string]any
	if _, err := toml.Decode("v = "+raw, &m); err == nil {
		return m["v"], nil
	}
	if strings.ContainsAny(raw, "\"'[]{}\n") {
		return nil, fmt.Errorf("value %q is not valid TOML", raw)
	}
	return raw, nil // a bare word: a string
}

func setPath(m map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

func hasPath(m map[string]any, path []string) bool {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = mm[p]; !ok {
			return false
		}
	}
	_, isTable := cur.(map[string]any)
	return !isTable
}

// hostTree renders the host part of c (without plugin tables) as a map.
func (c *Config) hostTree() (map[string]any, error) {
	cc := *c
	cc.Algo, cc.Reward = nil, nil
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(cc); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	var m map[string]any
	if _, err := toml.Decode(buf.String(), &m); err != nil {
		return nil, fmt.Errorf("re-read config: %w", err)
	}
	return m, nil
}

// Validate reports settings that cannot work, naming the key.
func (c *Config) Validate() error {
	var errs []string
	check := func(ok bool, format string, a ...any) {
		if !ok {
			errs = append(errs, fmt.Sprintf(format, a...))
		}
	}
	errs = append(errs, nonFinite(reflect.ValueOf(*c), "")...)
	check(c.Run.Steps >= 0, "run.steps = %d must be >= 0", c.Run.Steps)
	if d, err := time.ParseDuration(c.Run.PluginTimeout); err != nil || d <= 0 {
		errs = append(errs, fmt.Sprintf("run.plugin_timeout = %q must be a positive duration such as \"15m\" or \"90s\"", c.Run.PluginTimeout))
	}
	for _, p := range []struct{ key, v string }{{"run.algo_sha256", c.Run.AlgoSHA256}, {"run.reward_sha256", c.Run.RewardSHA256}} {
		if b, err := hex.DecodeString(p.v); p.v != "" && (err != nil || len(b) != 32) {
			errs = append(errs, fmt.Sprintf("%s = %q must be 64 hex digits (sha256sum PLUGIN) or empty", p.key, p.v))
		}
	}
	check(c.Run.LogEvery >= 0, "run.log_every = %d must be >= 0", c.Run.LogEvery)
	check(c.Task.TopK >= 0, "task.top_k = %d must be >= 0 (0 = full vocabulary)", c.Task.TopK)
	check(c.Train.Beta1 >= 0 && c.Train.Beta1 < 1, "train.beta1 = %g must be in [0, 1)", c.Train.Beta1)
	check(c.Train.Beta2 >= 0 && c.Train.Beta2 < 1, "train.beta2 = %g must be in [0, 1)", c.Train.Beta2)
	check(c.Train.Eps > 0, "train.eps = %g must be > 0", c.Train.Eps)
	check(c.Train.WeightDecay >= 0, "train.weight_decay = %g must be >= 0", c.Train.WeightDecay)
	check(c.Prefs.N >= 0, "prefs.n = %d must be >= 0", c.Prefs.N)
	check(c.Offline.Probe >= 0, "offline.probe = %d must be >= 0", c.Offline.Probe)
	if c.Policy.SFT == "" && c.Policy.HF == "" {
		s := c.Policy.Init
		check(s.Vocab >= 1 && s.Context >= 2 && s.DModel >= 1 && s.Heads >= 1 && s.Layers >= 1,
			"policy.init: vocab %d, context %d, d_model %d, heads %d, layers %d must be >= 1 (context >= 2)", s.Vocab, s.Context, s.DModel, s.Heads, s.Layers)
		check(s.Heads < 1 || s.DModel%s.Heads == 0, "policy.init.d_model = %d must be a multiple of policy.init.heads = %d", s.DModel, s.Heads)
		check(s.Context < 1 || c.Task.MaxResponse() < s.Context, "responses of %d tokens (task.response_len or max_new_tokens) must be shorter than policy.init.context = %d (the prompt needs a token)", c.Task.MaxResponse(), s.Context)
	}
	check(c.Run.CheckpointEvery >= 0, "run.checkpoint_every = %d must be >= 0", c.Run.CheckpointEvery)
	check(c.Run.KeepCheckpoints >= 1, "run.keep_checkpoints = %d must be >= 1", c.Run.KeepCheckpoints)
	check(c.Task.PromptsPerStep >= 1, "task.prompts_per_step = %d must be >= 1", c.Task.PromptsPerStep)
	check(c.Task.ResponseLen >= 1, "task.response_len = %d must be >= 1", c.Task.ResponseLen)
	check(c.Task.Name == "imdb-sentiment" || c.Task.Name == "prompts", `task.name = %q must be "imdb-sentiment" or "prompts" (a JSONL prompt file in task.path)`, c.Task.Name)
	check(c.Task.Name != "prompts" || c.Task.Path != "", `task.name = "prompts" needs task.path, a JSONL file with a "prompt" field (or task.prompt_key) per line`)
	check(c.Task.HeldOut >= 0 && c.Task.HeldOut < 1, "task.heldout = %g must be in [0, 1)", c.Task.HeldOut)
	check(c.Task.Name != "prompts" || c.Task.EvalPath != "" || c.Task.HeldOut > 0 || c.Eval.Prompts == 0, `task "prompts" needs held-out prompts for eval.prompts = %d: set task.eval_path or task.heldout > 0`, c.Eval.Prompts)
	check(c.Task.MaxPromptTokens >= 1, "task.max_prompt_tokens = %d must be >= 1", c.Task.MaxPromptTokens)
	check(c.Task.Stop == "none" || c.Task.Stop == "eot", `task.stop = %q must be "none" (fixed response_len) or "eot" (end at end-of-text or max_new_tokens)`, c.Task.Stop)
	check(c.Task.MaxNewTokens >= 0, "task.max_new_tokens = %d must be >= 0 (0 = response_len)", c.Task.MaxNewTokens)
	check(c.Task.Stop == "eot" || c.Task.MaxNewTokens == 0, `task.max_new_tokens = %d needs task.stop = "eot" (with stop = "none" every response is response_len tokens)`, c.Task.MaxNewTokens)
	check(c.Task.Temperature > 0, "task.temperature = %g must be > 0", c.Task.Temperature)
	check(c.Train.LR > 0, "train.lr = %g must be > 0", c.Train.LR)
	check(c.Train.Epochs >= 1, "train.epochs = %d must be >= 1", c.Train.Epochs)
	check(c.Train.Minibatches >= 1, "train.minibatches = %d must be >= 1", c.Train.Minibatches)
	check(c.Train.Minibatches <= c.Task.PromptsPerStep, "train.minibatches = %d must be <= task.prompts_per_step = %d (groups are never split)", c.Train.Minibatches, c.Task.PromptsPerStep)
	check(c.Train.GradClip >= 0, "train.grad_clip = %g must be >= 0 (0 = off)", c.Train.GradClip)
	check(c.Train.OldLogp == "sampler" || c.Train.OldLogp == "recompute", `train.old_logp = %q must be "sampler" or "recompute"`, c.Train.OldLogp)
	check(c.KL.Mode == "fixed" || c.KL.Mode == "adaptive", `kl.mode = %q must be "fixed" or "adaptive"`, c.KL.Mode)
	check(c.KL.Beta >= 0, "kl.beta = %g must be >= 0", c.KL.Beta)
	check(c.KL.Mode != "adaptive" || (c.KL.Target > 0 && c.KL.Horizon > 0), "kl.target and kl.horizon must be > 0 in adaptive mode")
	check(c.RewardModel.Normalize == "none" || c.RewardModel.Normalize == "running" || c.RewardModel.Normalize == "scale", `reward_model.normalize = %q must be "none", "running" or "scale"`, c.RewardModel.Normalize)
	check(c.RewardModel.Clip >= 0, "reward_model.clip = %g must be >= 0", c.RewardModel.Clip)
	check(c.RewardModel.Shift >= 0 && !math.IsInf(c.RewardModel.Shift, 0), "reward_model.shift = %g must be finite and >= 0", c.RewardModel.Shift)
	check(c.Eval.Every >= 0, "eval.every = %d must be >= 0 (0 = only before and after)", c.Eval.Every)
	check(c.Eval.Samples >= 0, "eval.samples = %d must be >= 0", c.Eval.Samples)
	check(c.Prefs.HeldOut >= 0 && c.Prefs.HeldOut < 1, "prefs.heldout = %g must be in [0, 1)", c.Prefs.HeldOut)
	check(c.Eval.Prompts >= 0, "eval.prompts = %d must be >= 0", c.Eval.Prompts)
	check(c.Offline.Batch >= 1, "offline.batch = %d must be >= 1", c.Offline.Batch)
	if len(errs) > 0 {
		return fmt.Errorf("config: %s", strings.Join(errs, "; "))
	}
	return nil
}

// nonFinite names every float field of the host config that is NaN or
// infinite (a value like lr = inf passes a "> 0" check).
func nonFinite(v reflect.Value, prefix string) []string {
	var out []string
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("toml"), ",")[0]
		if prefix != "" {
			name = prefix + "." + name
		}
		switch fv := v.Field(i); fv.Kind() {
		case reflect.Struct:
			out = append(out, nonFinite(fv, name)...)
		case reflect.Float32, reflect.Float64:
			if x := fv.Float(); math.IsNaN(x) || math.IsInf(x, 0) {
				out = append(out, fmt.Sprintf("%s = %g must be a finite number", name, x))
			}
		}
	}
	return out
}

// PluginOptions renders a plugin table as TOML text for Configure (empty for
// no table).
func PluginOptions(table map[string]any) ([]byte, error) {
	if len(table) == 0 {
		return nil, nil
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(table); err != nil {
		return nil, fmt.Errorf("encode plugin options: %w", err)
	}
	return buf.Bytes(), nil
}

// Encode renders the whole resolved configuration as TOML.
func (c *Config) Encode() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# Resolved configuration of this run (defaults + config file + --set).\n")
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return buf.Bytes(), nil
}

// WithPluginDefaults returns table with the plugin's default options filled
// in for keys it does not set (for the resolved config).
func WithPluginDefaults(table, defaults map[string]any) map[string]any {
	return mergeMaps(defaults, table)
}
