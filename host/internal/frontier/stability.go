package frontier

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot/plotter"

	"github.com/p3o-rlhf/p3o/host/internal/metrics"
)

// trainStats summarises a run's metrics.jsonl.
type trainStats struct {
	steps             int
	maxKL, maxKLJump  float64 // training-rollout kl/ref: the largest value and the largest rise in one step
	medianStepSeconds float64
}

func readTrainStats(dir string) (trainStats, error) {
	rs, err := metrics.Read(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		return trainStats{}, err
	}
	st := trainStats{steps: len(rs), maxKL: math.Inf(-1), maxKLJump: math.Inf(-1)}
	var times []float64
	for i, r := range rs {
		kl := r["kl/ref"]
		st.maxKL = math.Max(st.maxKL, kl)
		if i > 0 {
			st.maxKLJump = math.Max(st.maxKLJump, kl-rs[i-1]["kl/ref"])
		}
		if t, ok := r["time/step_s"]; ok {
			times = append(times, t)
		}
	}
	st.medianStepSeconds = median(times)
	return st, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64{}, xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// writeStabilityTable tabulates, per series and KL coefficient, the final
// evaluation over seeds (mean ± sd: the spread over seeds is the stability
// the clipping ablation asks about) and the training KL's largest value and
// largest one-step rise (KL spikes).
func writeStabilityTable(w io.Writer, d *Data) {
	fmt.Fprintln(w, "## Final evaluation and stability, per KL coefficient")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Last evaluation of each run, mean ± sd over seeds; peak gold: each run's best evaluation, mean")
	fmt.Fprintln(w, "over seeds, at the median step it came (a peak before the last step with a still rising proxy is")
	fmt.Fprintln(w, "over-optimisation of the reward); proxy gain: the reward plugin's mean score of the final")
	fmt.Fprintln(w, "held-out responses minus its score of the SFT policy's (step 0) on the same prompts; word validity: the share of the final responses' words that the task's")
	fmt.Fprintln(w, "reference corpus uses at least 5 times (a policy that gains reward by writing gibberish shows")
	fmt.Fprintln(w, "here; the SFT policy's is in the step-0 evaluations); training-rollout KL (`kl/ref`): the largest value and the largest rise in")
	fmt.Fprintln(w, "one step, mean over seeds (KL spikes show there); median step time.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| series | kl.beta | seeds | final gold | peak gold @ step | proxy gain | word validity | final KL | max train KL | max KL rise/step | s/step |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	type key struct {
		series string
		beta   float64
	}
	groups := map[key][]Curve{}
	var order []key
	for _, c := range d.Curves {
		k := key{c.Run.Series(), c.Run.Beta}
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], c)
	}
	for _, k := range order {
		var gold, peak, peakStep, proxy, valid, kl, maxKL, jump, secs []float64
		for _, c := range groups[k] {
			last := c.Points[len(c.Points)-1]
			gold = append(gold, last.GoldMean)
			kl = append(kl, last.KLMean)
			if first := c.Points[0]; len(last.Proxy) > 0 && len(first.Proxy) > 0 {
				proxy = append(proxy, last.ProxyMean-first.ProxyMean)
			}
			if len(last.Words) > 0 {
				valid = append(valid, last.WordValidity)
			}
			best := c.Points[0]
			for _, p := range c.Points[1:] {
				if p.GoldMean > best.GoldMean {
					best = p
				}
			}
			peak = append(peak, best.GoldMean)
			peakStep = append(peakStep, float64(best.Step))
			if st, err := readTrainStats(c.Run.Dir); err == nil && st.steps > 0 {
				maxKL = append(maxKL, st.maxKL)
				if st.steps > 1 {
					jump = append(jump, st.maxKLJump)
				}
				secs = append(secs, st.medianStepSeconds)
			}
		}
		gm, gs := meanSD(gold)
		pm, _ := meanSD(peak)
		km, ks := meanSD(kl)
		mk, _ := meanSD(maxKL)
		mj, _ := meanSD(jump)
		px := "-"
		if len(proxy) == len(groups[k]) {
			m, sd := meanSD(proxy)
			px = fmt.Sprintf("%+.3f ± %.3f", m, sd)
		}
		wv := "-"
		if len(valid) == len(groups[k]) {
			m, sd := meanSD(valid)
			wv = fmt.Sprintf("%.3f ± %.3f", m, sd)
		}
		fmt.Fprintf(w, "| %s | %g | %d | %+.3f ± %.3f | %+.3f @ %g | %s | %s | %.2f ± %.2f | %.2f | %.2f | %.2f |\n",
			k.series, k.beta, len(groups[k]), gm, gs, pm, median(peakStep), px, wv, km, ks, mk, mj, median(secs))
	}
	fmt.Fprintln(w)
}

// WriteScaling writes scaling.csv and scaling.png/.svg for a sweep with one
// numeric --grid axis: the median training step time of each algorithm at
// each value of the axis (over KL coefficients, seeds and steps).
func WriteScaling(d *Data, axis Axis, out string, w io.Writer) error {
	type key struct {
		algo string
		x    float64
	}
	times := map[key][]float64{}
	var algos []string
	seen := map[string]bool{}
	for _, c := range d.Curves {
		var x float64
		var ok bool
		for _, g := range c.Run.Grid {
			if k, v, _ := strings.Cut(g, "="); k == axis.Key {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return fmt.Errorf("--grid %s: value %q is not a number (the scaling plot needs numbers)", axis.Key, v)
				}
				x, ok = f, true
			}
		}
		if !ok {
			continue
		}
		st, err := readTrainStats(c.Run.Dir)
		if err != nil {
			return err
		}
		a := c.Run.Algo.Label
		if !seen[a] {
			seen[a] = true
			algos = append(algos, a)
		}
		times[key{a, x}] = append(times[key{a, x}], st.medianStepSeconds)
	}
	var csv strings.Builder
	fmt.Fprintf(&csv, "algo,%s,median_step_seconds,runs\n", axis.Key)
	var series []plotter.XYs
	fmt.Fprintf(w, "## Step time against %s\n\n| algorithm | %s | median s/step | runs |\n|---|---|---|---|\n", axis.Key, axis.Key)
	for _, a := range algos {
		var xs plotter.XYs
		for k, v := range times {
			if k.algo == a {
				xs = append(xs, plotter.XY{X: k.x, Y: median(v)})
			}
		}
		sort.Slice(xs, func(i, j int) bool { return xs[i].X < xs[j].X })
		for _, p := range xs {
			n := len(times[key{a, p.X}])
			fmt.Fprintf(&csv, "%s,%g,%.6g,%d\n", a, p.X, p.Y, n)
			fmt.Fprintf(w, "| %s | %g | %.3f | %d |\n", a, p.X, p.Y, n)
		}
		series = append(series, xs)
	}
	fmt.Fprintln(w)
	if err := writeAtomic(filepath.Join(out, "scaling.csv"), []byte(csv.String())); err != nil {
		return err
	}
	return PlotLines("training step time against "+axis.Key, axis.Key, "median seconds per step", algos, series,
		filepath.Join(out, "scaling.png"), filepath.Join(out, "scaling.svg"))
}

// CompareRow compares one run with its namesake in another sweep.
type CompareRow struct {
	Run                     string
	Steps                   int
	GradRel, LossRel, KLRel float64 // largest relative difference per step
	GoldA, GoldB, KLA, KLB  float64 // final evaluation
	MissingInB              bool
}

// Compare pairs each run of d with the run of the same name under otherOut
// and measures how far their per-step metrics and final evaluations differ:
// the reward-shift invariance check (the same sweep with and without
// reward_model.shift).
func Compare(d *Data, otherOut string) ([]CompareRow, error) {
	var rows []CompareRow
	for _, c := range d.Curves {
		row := CompareRow{Run: c.Run.Name}
		otherDir := filepath.Join(otherOut, "runs", c.Run.Name)
		if _, err := os.Stat(otherDir); err != nil {
			row.MissingInB = true
			rows = append(rows, row)
			continue
		}
		a, err := metrics.Read(filepath.Join(c.Run.Dir, "metrics.jsonl"))
		if err != nil {
			return nil, err
		}
		b, err := metrics.Read(filepath.Join(otherDir, "metrics.jsonl"))
		if err != nil {
			return nil, err
		}
		row.Steps = min(len(a), len(b))
		rel := func(x, y float64) float64 {
			den := math.Max(math.Max(math.Abs(x), math.Abs(y)), 1e-300)
			return math.Abs(x-y) / den
		}
		for i := 0; i < row.Steps; i++ {
			row.GradRel = math.Max(row.GradRel, rel(a[i]["grad/norm"], b[i]["grad/norm"]))
			row.LossRel = math.Max(row.LossRel, rel(a[i]["loss/total"], b[i]["loss/total"]))
			row.KLRel = math.Max(row.KLRel, rel(a[i]["kl/ref"], b[i]["kl/ref"]))
		}
		pa := c.Points[len(c.Points)-1]
		pb, err := readLast(otherDir)
		if err != nil {
			return nil, err
		}
		row.GoldA, row.GoldB, row.KLA, row.KLB = pa.GoldMean, pb.GoldMean, pa.KLMean, pb.KLMean
		rows = append(rows, row)
	}
	return rows, nil
}

// WriteCompare renders Compare's rows as Markdown.
func WriteCompare(w io.Writer, rows []CompareRow, other string) {
	fmt.Fprintf(w, "## Against %s\n\n", other)
	fmt.Fprintln(w, "Largest relative difference over steps of the per-step metrics (grad/norm is the norm of the whole")
	fmt.Fprintln(w, "policy gradient before clipping), and the final held-out evaluation of both.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| run | steps | grad/norm | loss/total | kl/ref | final gold (this / other) | final KL (this / other) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range rows {
		if r.MissingInB {
			fmt.Fprintf(w, "| %s | - | not in the other sweep | | | | |\n", r.Run)
			continue
		}
		fmt.Fprintf(w, "| %s | %d | %.1e | %.1e | %.1e | %+.3f / %+.3f | %.3f / %.3f |\n",
			r.Run, r.Steps, r.GradRel, r.LossRel, r.KLRel, r.GoldA, r.GoldB, r.KLA, r.KLB)
	}
	fmt.Fprintln(w)
}
