package rundir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDiffAndExperimental(t *testing.T) {
	old := []byte("[run]\nsteps = 3\nout = \"a\"\n[train]\nlr = 0.001\n[algo]\nvariant = \"v1\"\nk = 2\n")
	new := []byte("[run]\nsteps = 5\nout = \"a\"\n[train]\nlr = 0.002\n[algo]\nvariant = \"v2\"\n")
	changes, err := Diff(old, new)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range changes {
		got = append(got, c.String())
	}
	want := `algo.k 2 -> (unset), algo.variant "v1" -> "v2", run.steps 3 -> 5, train.lr 0.001 -> 0.002`
	if strings.Join(got, ", ") != want {
		t.Errorf("got %s\nwant %s", strings.Join(got, ", "), want)
	}
	var exp []string
	for _, c := range Experimental(changes) {
		exp = append(exp, c.Key)
	}
	if g := strings.Join(exp, " "); g != "algo.k algo.variant train.lr" {
		t.Errorf("experimental changes: got %s, want algo.k algo.variant train.lr", g)
	}
}

func TestAppendHistory(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	AppendHistory(dir, Event{Event: "start"}, now)
	if err := AppendHistory(dir, Event{Event: "resume", Changes: []Change{{Key: "train.lr", Old: "1", New: "2"}}}, now); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, HistoryName))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"time":"2026-01-02T03:04:05Z","event":"start"`) ||
		!strings.Contains(lines[1], `"changes":[{"key":"train.lr","old":"1","new":"2"}]`) {
		t.Errorf("history:\n%s", b)
	}
}
