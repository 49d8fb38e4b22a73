package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestZZProbe(t *testing.T) {
	d := t.TempDir()
	for i, s := range []string{"[trian]\nlr=1\n", "[train.foo]\nx=1\n", "[policy.init.x]\ny=1\n", "[policy.foo]\nx=1\n", "[run]\n[run.x]\na=1\n", "[task.x]\na=1\n", "[train]\nlr=inf\n", "[eval]\nsamples=-1\n", "[[train]]\nlr=1\n", "[train]\nlr=\"x\"\n"} {
		p := filepath.Join(d, "c.toml")
		os.WriteFile(p, []byte(s), 0o644)
		_, err := Load(p, nil)
		t.Logf("%d %q -> %v", i, s, err)
	}
	for _, s := range [][]string{{"train.foo.x=1"}, {"policy.init.x=1"}, {"policy.foo=1"}, {"train.lr=[1]"}, {"train.lr=\"1\""}, {"run.steps=1.5"}, {"train.lr=1e400"}, {"task.top_k=-1"}, {"algo.k=10000"}} {
		_, err := Load("", s)
		t.Logf("%q -> %v", s, err)
	}
}
