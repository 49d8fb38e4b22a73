package rundir

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Change is one setting whose value differs between two configs ("" for a
// key one of them lacks).
type Change struct {
	Key string `json:"key"`
	Old string `json:"old"`
	New string `json:"new"`
}

func (c Change) String() string {
	o, n := c.Old, c.New
	if o == "" {
		o = "(unset)"
	}
	if n == "" {
		n = "(unset)"
	}
	return fmt.Sprintf("%s %s -> %s", c.Key, o, n)
}

// Diff compares two TOML configs key by key (dotted keys, values in TOML
// syntax) and returns the changes, sorted by key.
func Diff(old, new []byte) ([]Change, error) {
	a, err := flatten(old)
	if err != nil {
		return nil, fmt.Errorf("saved config: %w", err)
	}
	b, err := flatten(new)
	if err != nil {
		return nil, fmt.Errorf("new config: %w", err)
	}
	var out []Change
	for k, v := range a {
		if b[k] != v {
			out = append(out, Change{Key: k, Old: v, New: b[k]})
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			out = append(out, Change{Key: k, New: v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func flatten(text []byte) (map[string]string, error) {
	var m map[string]any
	if _, err := toml.Decode(string(text), &m); err != nil {
		return nil, err
	}
	out := map[string]string{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			if sub, ok := v.(map[string]any); ok {
				walk(key, sub)
				continue
			}
			b, err := json.Marshal(v)
			if err != nil {
				b = []byte(fmt.Sprint(v))
			}
			out[key] = string(b)
		}
	}
	walk("", m)
	return out, nil
}

// Event is one line of a run's history: a start or a resume, with the
// settings that changed since the previous one.
type Event struct {
	Time    string   `json:"time"`
	Event   string   `json:"event"` // "start" or "resume"
	PID     int      `json:"pid"`
	Changes []Change `json:"changes,omitempty"`
}

// AppendHistory adds ev (timestamped now) to dir's history file, synced.
func AppendHistory(dir string, ev Event, now time.Time) error {
	ev.Time = now.UTC().Format(time.RFC3339)
	ev.PID = os.Getpid()
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, HistoryName), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("history: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("history: %w", err)
	}
	return f.Close()
}

// Operational are the config keys (or key prefixes ending in ".") that do
// not change what a run computes: resuming with new values for them is
// always allowed (and still recorded).
var Operational = []string{
	"run.steps", "run.checkpoint_every", "run.keep_checkpoints", "run.log_every", "run.progress",
	"run.cache_dir", "run.plugin_timeout", "run.algo_sha256", "run.reward_sha256", "run.out", "task.data_dir", "eval.samples",
}

// Experimental returns the changes that alter the experiment (not in
// Operational).
func Experimental(changes []Change) []Change {
	var out []Change
	for _, c := range changes {
		op := false
		for _, k := range Operational {
			if c.Key == k || (strings.HasSuffix(k, ".") && strings.HasPrefix(c.Key, k)) {
				op = true
			}
		}
		if !op {
			out = append(out, c)
		}
	}
	return out
}
