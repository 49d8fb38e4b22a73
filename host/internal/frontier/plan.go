// Package frontier runs KL-reward frontier experiments: it plans ordinary
// runs (algorithm x option overrides x KL coefficient x seed), hands them to
// an executor (local child processes or a Slurm job array), and aggregates
// their held-out evaluations into a CSV, plots, KL-budget tables and paired
// win rates.
package frontier

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Algo is one entry of --algos: a plugin path (a directory with a Go main
// package, or an executable) with optional option overrides.
type Algo struct {
	// Path is the plugin as given; Abs is its absolute path.
	Path, Abs string
	// Options are key=value overrides of the plugin's [algo] table, in the
	// order given (values in TOML syntax, as --set takes them).
	Options []string
	// Label names the algorithm in files and plots: the plugin's base name
	// and its overrides, e.g. "p3o:variant=v1".
	Label string
}

// ParseAlgos parses a comma-separated list of PATH[:key=value[:key=value]]
// entries, e.g. "plugins/p3o,plugins/p3o:variant=v1,../my-algo". Labels are
// the base names of the paths (with the parent folder added where two
// paths share a base name) and the overrides.
func ParseAlgos(list string) ([]Algo, error) {
	var out []Algo
	for _, entry := range splitList(list) {
		parts := strings.Split(entry, ":")
		a := Algo{Path: parts[0]}
		if a.Path == "" {
			return nil, fmt.Errorf("--algos entry %q: no plugin path before the options", entry)
		}
		for _, kv := range parts[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
				return nil, fmt.Errorf("--algos entry %q: option %q is not key=value (e.g. plugins/p3o:variant=v1:clip=0.1)", entry, kv)
			}
			a.Options = append(a.Options, strings.TrimSpace(k)+"="+strings.TrimSpace(v))
		}
		abs, err := filepath.Abs(a.Path)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("--algos entry %q: plugin %s: %w", entry, a.Path, err)
		}
		a.Abs = abs
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--algos is empty: give plugin paths, e.g. plugins/p3o,plugins/ppo")
	}
	// Labels: base names, widened with the parent folder where two
	// different plugins share one.
	byBase := map[string]map[string]bool{}
	for _, a := range out {
		b := filepath.Base(a.Abs)
		if byBase[b] == nil {
			byBase[b] = map[string]bool{}
		}
		byBase[b][a.Abs] = true
	}
	seen := map[string]bool{}
	for i := range out {
		a := &out[i]
		name := filepath.Base(a.Abs)
		if len(byBase[name]) > 1 {
			name = filepath.Base(filepath.Dir(a.Abs)) + "/" + name
		}
		a.Label = strings.Join(append([]string{name}, a.Options...), ":")
		if seen[a.Label] {
			return nil, fmt.Errorf("--algos lists %s twice", a.Label)
		}
		seen[a.Label] = true
	}
	return out, nil
}

// ParseFloats parses a comma-separated list of finite numbers >= 0 (the KL
// coefficients).
func ParseFloats(flag, list string) ([]float64, error) {
	var out []float64
	for _, s := range splitList(list) {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return nil, fmt.Errorf("%s: %q is not a finite number >= 0", flag, s)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s is empty", flag)
	}
	return dedupSorted(out), nil
}

// ParseSeeds parses a comma-separated list of seeds; "1-5" is a range.
func ParseSeeds(list string) ([]uint64, error) {
	var out []uint64
	for _, s := range splitList(list) {
		lo, hi, isRange := strings.Cut(s, "-")
		a, err := strconv.ParseUint(lo, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("--seeds: %q is not a seed (a non-negative integer, or a range like 1-3)", s)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 64); err != nil || b < a || b-a > 1000 {
				return nil, fmt.Errorf("--seeds: %q is not a range like 1-3", s)
			}
		}
		for v := a; v <= b; v++ {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--seeds is empty")
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	var uniq []uint64
	for i, v := range out {
		if i == 0 || v != out[i-1] {
			uniq = append(uniq, v)
		}
	}
	return uniq, nil
}

func splitList(list string) []string {
	var out []string
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func dedupSorted(v []float64) []float64 {
	sort.Float64s(v)
	var out []float64
	for i, x := range v {
		if i == 0 || x != v[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// Axis is one --grid axis: a config key and the values it takes.
type Axis struct {
	Key    string
	Values []string
}

// ParseAxis parses KEY=V1,V2,... (values in TOML syntax, as --set takes
// them).
func ParseAxis(s string) (Axis, error) {
	k, v, ok := strings.Cut(s, "=")
	a := Axis{Key: strings.TrimSpace(k), Values: splitList(v)}
	if !ok || a.Key == "" || len(a.Values) == 0 {
		return a, fmt.Errorf("--grid %q: want KEY=V1,V2,... (e.g. task.prompts_per_step=8,16,32)", s)
	}
	switch a.Key {
	case "kl.beta", "run.seed":
		return a, fmt.Errorf("--grid %s: use --betas and --seeds for that axis", a.Key)
	}
	return a, nil
}

// Run is one planned run of a sweep.
type Run struct {
	// Name is the run's folder under OUT/runs, e.g.
	// "p3o-variant=v1_beta0.05_seed1".
	Name string
	Algo Algo
	Beta float64
	Seed uint64
	// Grid holds the run's --grid settings, "key=value".
	Grid []string
	// Dir is OUT/runs/Name (absolute).
	Dir string
}

// Series names the curve a run belongs to: its algorithm label and grid
// settings (the KL coefficients and seeds of one series form its frontier).
func (r Run) Series() string {
	return strings.Join(append([]string{r.Algo.Label}, r.Grid...), " ")
}

// clean replaces characters outside [A-Za-z0-9._=+-] with '-'.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("._=+-", r):
			return r
		}
		return '-'
	}, s)
}

// RunName is the folder name of (algo, beta, seed, grid settings): the
// label with characters outside [A-Za-z0-9._=+-] replaced by '-'.
func RunName(label string, beta float64, seed uint64, grid ...string) string {
	name := fmt.Sprintf("%s_beta%s_seed%d", clean(label), strconv.FormatFloat(beta, 'g', -1, 64), seed)
	for _, g := range grid {
		name += "_" + clean(g)
	}
	return name
}

// Plan lists the runs of algos x betas x seeds x the grid axes under
// out/runs, in that nesting order.
func Plan(out string, algos []Algo, betas []float64, seeds []uint64, grid ...Axis) ([]Run, error) {
	abs, err := filepath.Abs(out)
	if err != nil {
		return nil, err
	}
	// The grid's cartesian product, first axis outermost.
	combos := [][]string{nil}
	for _, ax := range grid {
		var next [][]string
		for _, c := range combos {
			for _, v := range ax.Values {
				next = append(next, append(append([]string{}, c...), ax.Key+"="+v))
			}
		}
		combos = next
	}
	var runs []Run
	names := map[string]bool{}
	for _, a := range algos {
		for _, b := range betas {
			for _, s := range seeds {
				for _, g := range combos {
					r := Run{Name: RunName(a.Label, b, s, g...), Algo: a, Beta: b, Seed: s, Grid: g}
					if names[r.Name] {
						return nil, fmt.Errorf("two runs would share the folder %s: make the --algos labels differ", r.Name)
					}
					names[r.Name] = true
					r.Dir = filepath.Join(abs, "runs", r.Name)
					runs = append(runs, r)
				}
			}
		}
	}
	return runs, nil
}
