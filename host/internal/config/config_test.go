package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, path string
		sets       []string
		want       []string
	}{
		{"unknown key names key and line", "testdata/typo.toml", nil, []string{"testdata/typo.toml:6", `"train.learning_rate"`}},
		{"unknown table", "testdata/badtable.toml", nil, []string{"testdata/badtable.toml:4", `"trian"`}},
		{"unknown --set key", "", []string{"train.lrr=1"}, []string{"--set train.lrr", "unknown key"}},
		{"--set wrong type", "", []string{"train.epochs=abc"}, []string{"train.epochs"}},
		{"invalid value", "", []string{"kl.mode=bogus"}, []string{`kl.mode = "bogus"`}},
		{"missing file", "testdata/nope.toml", nil, []string{"nope.toml"}},
		{"lr inf", "", []string{"train.lr=inf"}, []string{"train.lr = +Inf must be a finite number"}},
		{"lr nan", "", []string{"train.lr=nan"}, []string{"train.lr = NaN"}},
		{"kl target -inf", "", []string{"kl.target=-inf"}, []string{"kl.target = -Inf must be a finite number"}},
		{"negative top-k", "", []string{"task.top_k=-1"}, []string{"task.top_k = -1 must be >= 0"}},
		{"beta1 outside [0,1)", "", []string{"train.beta1=2.0"}, []string{"train.beta1 = 2 must be in [0, 1)"}},
		{"beta2 = 1", "", []string{"train.beta2=1.0"}, []string{"train.beta2 = 1 must be in [0, 1)"}},
		{"plugin timeout not a duration", "", []string{"run.plugin_timeout=soon"}, []string{`run.plugin_timeout = "soon" must be a positive duration`}},
		{"plugin timeout zero", "", []string{"run.plugin_timeout=0s"}, []string{`run.plugin_timeout = "0s"`}},
		{"bad plugin pin", "", []string{"run.algo_sha256=abc"}, []string{`run.algo_sha256 = "abc" must be 64 hex digits`}},
		{"eps 0", "", []string{"train.eps=0.0"}, []string{"train.eps = 0 must be > 0"}},
		{"eval samples negative", "", []string{"eval.samples=-1"}, []string{"eval.samples = -1 must be >= 0"}},
		{"heads do not divide d_model", "", []string{`policy.sft=""`, "policy.init.heads=3"}, []string{"multiple of policy.init.heads = 3"}},
		{"response longer than context", "", []string{`policy.sft=""`, "task.response_len=500"}, []string{"responses of 500 tokens (task.response_len or max_new_tokens) must be shorter than policy.init.context = 128"}},
		{"--set type error names the flag", "", []string{"train.lr=abc"}, []string{"--set train.lr=abc: train.lr takes a value of type float, not string"}},
		{"unknown table via --set", "", []string{"foo.bar=1"}, []string{`unknown table "foo"`, "tables: algo, eval"}},
		{"--set on a table", "", []string{"train=1"}, []string{"[train] is a table", "lr"}},
		{"unknown table in a file lists tables", "testdata/badtable.toml", nil, []string{"tables: algo, eval"}},
		{"wrong type in a file", "testdata/badtype.toml", nil, []string{"testdata/badtype.toml:3: train.epochs takes a value of type integer, not float"}},
		{"table for a value in a file", "testdata/tablevalue.toml", nil, []string{"testdata/tablevalue.toml:2: run.steps takes a value of type integer, not table"}},
		{"array of tables in a file", "testdata/arraytable.toml", nil, []string{"testdata/arraytable.toml:1: [train] is a table, not an array of tables"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.path, tt.sets)
			if err == nil {
				t.Fatalf("got no error, want one containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got error %q, want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "map[") || strings.Contains(err.Error(), "destination has type") {
				t.Errorf("error %q shows Go types", err)
			}
			for _, bad := range []string{"known keys: )", "line "} {
				if strings.Contains(err.Error(), bad) && !strings.Contains(tt.path, "toml") {
					t.Errorf("error %q contains %q", err, bad)
				}
			}
		})
	}
}

func TestLoadOverlay(t *testing.T) {
	c, err := Load("testdata/good.toml", []string{"train.lr=1", "algo.clip=0.3", "reward.model=tiny", "run.out=/tmp/x"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Run.Seed != 7 || c.Run.Steps != 3 {
		t.Errorf("got seed %d steps %d, want 7 and 3", c.Run.Seed, c.Run.Steps)
	}
	if c.KL.Mode != "adaptive" || c.KL.Target != 4 || c.KL.Horizon != 10000 {
		t.Errorf("got kl %+v, want adaptive target 4 horizon 10000 (default)", c.KL)
	}
	if c.Train.LR != 1 || c.Train.Epochs != 1 {
		t.Errorf("got lr %g epochs %d, want 1 (set) and 1 (default)", c.Train.LR, c.Train.Epochs)
	}
	if c.Run.Out != "/tmp/x" {
		t.Errorf("got out %q, want /tmp/x", c.Run.Out)
	}
	if c.Algo["variant"] != "v2" || c.Algo["clip"] != 0.3 {
		t.Errorf("got algo table %v, want variant v2, clip 0.3", c.Algo)
	}
	if c.Reward["model"] != "tiny" {
		t.Errorf("got reward table %v, want model tiny", c.Reward)
	}
	opts, err := PluginOptions(c.Algo)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(opts), `variant = "v2"`) || !strings.Contains(string(opts), "clip = 0.3") {
		t.Errorf("got algo options %q", opts)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	c, err := Load("testdata/good.toml", []string{"algo.clip=0.25"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	d := &Config{}
	if err := decodeStrict("resolved", string(b), d); err != nil {
		t.Fatalf("resolved config does not decode strictly: %v\n%s", err, b)
	}
	if d.Run != c.Run || d.Train != c.Train || d.KL != c.KL || d.Algo["clip"] != 0.25 {
		t.Errorf("round trip changed the config:\n%s", b)
	}
}

func TestExamplesLoadStrictly(t *testing.T) {
	paths, _ := filepath.Glob("../../../examples/*.toml")
	if len(paths) == 0 {
		t.Skip("no examples/*.toml found")
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			c, err := Load(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.Run.Algo == "" {
				t.Errorf("got no run.algo, want every example to name its plugin")
			}
		})
	}
}

// TestPluginTables checks that the default config sends no options to a
// plugin (a plugin's defaults are its own), that a config file's table
// reaches it, and that --set TABLE={} clears what a file filled.
func TestPluginTables(t *testing.T) {
	tests := []struct {
		name, path       string
		sets             []string
		wantAlgo, wantRw int // number of keys
	}{
		{"default sends nothing", "", nil, 0, 0},
		{"file fills", "testdata/good.toml", nil, 2, 0},
		{"set adds", "", []string{"reward.url=http://x"}, 0, 1},
		{"set {} clears", "testdata/good.toml", []string{"algo={}"}, 0, 0},
		{"set table replaces", "testdata/good.toml", []string{`algo={clip=0.1, k=4}`}, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.path, tt.sets)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Algo) != tt.wantAlgo || len(c.Reward) != tt.wantRw {
				t.Errorf("got algo %v reward %v, want %d and %d keys", c.Algo, c.Reward, tt.wantAlgo, tt.wantRw)
			}
			opts, err := PluginOptions(c.Reward)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantRw == 0 && len(opts) != 0 {
				t.Errorf("got reward options %q, want none", opts)
			}
		})
	}
	if _, err := Load("", []string{"reward=3"}); err == nil || !strings.Contains(err.Error(), "reward={} clears it") {
		t.Errorf("got %v, want an error saying how to clear the table", err)
	}
}
