package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// FuzzConfigFile: any config file text decodes to an error or to a config
// that Validate judges; no panic, no hang. Seeds: testdata/fuzz/FuzzConfigFile,
// the default config and the testdata files.
func FuzzConfigFile(f *testing.F) {
	f.Add(DefaultTOML())
	for _, p := range []string{"testdata/good.toml", "testdata/typo.toml", "testdata/badtable.toml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(string(b))
		}
	}
	f.Add("[train]\nlr = inf\n[task]\ntop_k = -1\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := Default()
		if err != nil {
			t.Fatal(err)
		}
		if err := decodeStrict("fuzz.toml", text, c); err != nil {
			if strings.Contains(err.Error(), "known keys: )") {
				t.Fatalf("error lists no known keys: %v", err)
			}
			return
		}
		if err := c.Validate(); err == nil {
			for _, s := range nonFinite(reflectValue(c), "") {
				t.Fatalf("a valid config holds %s", s)
			}
		}
	})
}

// FuzzConfigSet: any --set argument gives an error naming the flag or a
// config Validate judges; an error never points at a line of generated text.
func FuzzConfigSet(f *testing.F) {
	for _, s := range []string{"train.lr=1e-4", "algo.variant=v2", "reward={}", "foo.bar=1", "train=1", `task.top_k="x"`, "run.plugin_timeout=90s", "train.lr=nan", "=", "a.b.c.d=[1,2]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, kv string) {
		c, err := Default()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Set(kv); err != nil {
			if !strings.HasPrefix(err.Error(), "--set ") {
				t.Fatalf("error does not name the flag: %v", err)
			}
			if strings.Contains(err.Error(), "toml: line") {
				t.Fatalf("error points at a line of generated text: %v", err)
			}
			return
		}
		c.Validate()
	})
}

func reflectValue(c *Config) reflect.Value { return reflect.ValueOf(*c) }
