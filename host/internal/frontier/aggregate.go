package frontier

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/p3o-rlhf/p3o/host/internal/evalpoint"
)

// Curve is one run's held-out evaluations, by step (step 0 is the SFT
// reference, the same for every run of a sweep).
type Curve struct {
	Run    Run
	Points []*evalpoint.Point
}

// Data is what a sweep has measured so far.
type Data struct {
	// Series are the curves' series (Run.Series) in plan order.
	Series []string
	Curves []Curve
	// Missing lists the planned runs with no evaluation yet.
	Missing []string
}

// Load reads the evaluation files of the planned runs. A run without any is
// listed in Missing; a damaged file is an error.
func Load(runs []Run) (*Data, error) {
	d := &Data{}
	seen := map[string]bool{}
	for _, r := range runs {
		if !seen[r.Series()] {
			seen[r.Series()] = true
			d.Series = append(d.Series, r.Series())
		}
		ps, err := evalpoint.ReadRun(r.Dir)
		if err != nil {
			if _, serr := os.Stat(r.Dir); serr != nil || strings.Contains(err.Error(), "no evaluation files") {
				d.Missing = append(d.Missing, r.Name)
				continue
			}
			return nil, err
		}
		if len(ps) == 0 {
			d.Missing = append(d.Missing, r.Name)
			continue
		}
		d.Curves = append(d.Curves, Curve{Run: r, Points: ps})
	}
	// Paired comparisons need every run scored on the same prompts.
	var ref *evalpoint.Point
	for _, c := range d.Curves {
		for _, p := range c.Points {
			if ref == nil {
				ref = p
				continue
			}
			if p.EvalSeed != ref.EvalSeed || p.Prompts != ref.Prompts {
				return nil, fmt.Errorf("run %s step %d was evaluated on %d prompts with eval seed %d, others on %d with seed %d: a sweep needs one eval.prompts and eval.seed",
					c.Run.Name, p.Step, p.Prompts, p.EvalSeed, ref.Prompts, ref.EvalSeed)
			}
		}
	}
	return d, nil
}

// curves returns the curves of one series.
func (d *Data) curves(series string) []Curve {
	var out []Curve
	for _, c := range d.Curves {
		if c.Run.Series() == series {
			out = append(out, c)
		}
	}
	return out
}

// WriteCSV writes one row per evaluation point.
func (d *Data) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"series", "beta", "seed", "run", "step", "kl", "kl_se", "gold", "gold_se", "gold_positive", "proxy", "proxy_se", "word_validity", "prompts"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }
	for _, c := range d.Curves {
		for _, p := range c.Points {
			proxy, proxySE := "", ""
			if len(p.Proxy) > 0 {
				proxy, proxySE = f(p.ProxyMean), f(p.ProxySE)
			}
			validity := ""
			if len(p.Words) > 0 {
				validity = f(p.WordValidity)
			}
			cw.Write([]string{c.Run.Series(), f(c.Run.Beta), strconv.FormatUint(c.Run.Seed, 10), c.Run.Name,
				strconv.Itoa(p.Step), f(p.KLMean), f(p.KLSE), f(p.GoldMean), f(p.GoldSE), f(p.Positive), proxy, proxySE, validity, strconv.Itoa(p.Prompts)})
		}
	}
	cw.Flush()
	return cw.Error()
}

// seeds returns the seeds present among curves, sorted.
func seedsOf(cs []Curve) []uint64 {
	m := map[uint64]bool{}
	for _, c := range cs {
		m[c.Run.Seed] = true
	}
	var out []uint64
	for s := range m {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Envelope returns, for one algorithm and seed, the best mean gold reward
// among its evaluation points (every KL coefficient, every step, the SFT
// point included) whose KL is at most budget, and the largest KL any of its
// points reached. It is the upper envelope of the seed's (KL, gold) cloud:
// what the algorithm achieves within a KL budget. Being a maximum over noisy
// points it is biased upwards by about the points' standard error; every
// algorithm of a sweep has the same number of points, so the bias is shared.
func Envelope(cs []Curve, seed uint64, budget float64) (gold, maxKL float64, ok bool) {
	gold = math.Inf(-1)
	maxKL = math.Inf(-1)
	for _, c := range cs {
		if c.Run.Seed != seed {
			continue
		}
		for _, p := range c.Points {
			maxKL = math.Max(maxKL, p.KLMean)
			if p.KLMean <= budget && p.GoldMean > gold {
				gold, ok = p.GoldMean, true
			}
		}
	}
	return gold, maxKL, ok
}

// BudgetRow is one cell group of the KL-budget table.
type BudgetRow struct {
	Algo   string
	Budget float64
	// Mean and SD of the envelope over seeds; N seeds; Short counts the
	// seeds whose points never reached the budget (their value is the best
	// at a lower KL).
	Mean, SD float64
	N, Short int
}

// BudgetTable computes the envelope at each budget for each algorithm.
func (d *Data) BudgetTable(budgets []float64) []BudgetRow {
	var rows []BudgetRow
	for _, a := range d.Series {
		cs := d.curves(a)
		for _, b := range budgets {
			row := BudgetRow{Algo: a, Budget: b}
			var vals []float64
			for _, s := range seedsOf(cs) {
				g, maxKL, ok := Envelope(cs, s, b)
				if !ok {
					continue
				}
				vals = append(vals, g)
				if maxKL < b {
					row.Short++
				}
			}
			row.N = len(vals)
			row.Mean, row.SD = meanSD(vals)
			rows = append(rows, row)
		}
	}
	return rows
}

func meanSD(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	var m float64
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	if len(xs) < 2 {
		return m, 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return m, math.Sqrt(ss / float64(len(xs)-1))
}

// closest returns, for one algorithm and seed, the evaluation point after
// step 0 whose KL is closest to budget, and its run.
func closest(cs []Curve, seed uint64, budget float64) (*evalpoint.Point, *Curve) {
	var best *evalpoint.Point
	var bestC *Curve
	for i := range cs {
		c := &cs[i]
		if c.Run.Seed != seed {
			continue
		}
		for _, p := range c.Points {
			if p.Step == 0 {
				continue
			}
			if best == nil || math.Abs(p.KLMean-budget) < math.Abs(best.KLMean-budget) {
				best, bestC = p, c
			}
		}
	}
	return best, bestC
}

// reference returns a seed's SFT evaluation (step 0 of any of its runs).
func reference(cs []Curve, seed uint64) *evalpoint.Point {
	for _, c := range cs {
		if c.Run.Seed == seed && len(c.Points) > 0 && c.Points[0].Step == 0 {
			return c.Points[0]
		}
	}
	return nil
}

// WinRate is a paired comparison by the gold judge: A's and B's responses
// to the same held-out prompts, sampled with the same random numbers; a win
// counts 1, a tie 1/2.
type WinRate struct {
	A, B string
	// Budget is the KL both sides were matched at; KLA, KLB the mean KL of
	// the points used (over seeds).
	Budget, KLA, KLB float64
	Rate, Lo, Hi     float64 // rate and its bootstrap 95% interval
	Seeds, Prompts   int
	// Points names the evaluation points used, "run@step".
	Points []string
}

// sideFunc picks one side's per-prompt gold scores for a seed.
type sideFunc func(seed uint64) (gold []float64, kl float64, name string, ok bool)

// algoSide matches algorithm label at budget.
func (d *Data) algoSide(label string, budget float64) sideFunc {
	cs := d.curves(label)
	return func(seed uint64) ([]float64, float64, string, bool) {
		p, c := closest(cs, seed, budget)
		if p == nil {
			return nil, 0, "", false
		}
		return p.Gold, p.KLMean, fmt.Sprintf("%s@%d", c.Run.Name, p.Step), true
	}
}

// sftSide is the SFT reference of the seed (of any algorithm's runs).
func (d *Data) sftSide() sideFunc {
	return func(seed uint64) ([]float64, float64, string, bool) {
		p := reference(d.Curves, seed)
		if p == nil {
			return nil, 0, "", false
		}
		return p.Gold, 0, "sft", true
	}
}

// Compare computes the win rate of side a over side b on the seeds both
// have, with a two-level bootstrap (seeds, then prompts within each, paired)
// of nBoot resamples from a fixed random stream.
func compare(nameA, nameB string, a, b sideFunc, seeds []uint64, budget float64, nBoot int) (WinRate, bool) {
	w := WinRate{A: nameA, B: nameB, Budget: budget}
	var wins [][]float64 // per seed, per prompt: 1, 0.5, 0
	var klA, klB float64
	for _, s := range seeds {
		ga, ka, na, okA := a(s)
		gb, kb, nb, okB := b(s)
		if !okA || !okB || len(ga) != len(gb) {
			continue
		}
		row := make([]float64, len(ga))
		for i := range ga {
			switch {
			case ga[i] > gb[i]:
				row[i] = 1
			case ga[i] == gb[i]:
				row[i] = 0.5
			}
		}
		wins = append(wins, row)
		klA += ka
		klB += kb
		w.Points = append(w.Points, na+" vs "+nb)
		w.Prompts += len(row)
	}
	if len(wins) == 0 {
		return w, false
	}
	w.Seeds = len(wins)
	w.KLA, w.KLB = klA/float64(len(wins)), klB/float64(len(wins))
	w.Rate = meanRows(wins, nil, nil)
	rng := rand.New(rand.NewPCG(0x5eed, 0xb007))
	est := make([]float64, nBoot)
	seedIdx := make([]int, len(wins))
	for k := range est {
		for i := range seedIdx {
			seedIdx[i] = rng.IntN(len(wins))
		}
		est[k] = meanRows(wins, seedIdx, rng)
	}
	sort.Float64s(est)
	w.Lo, w.Hi = est[int(0.025*float64(nBoot))], est[int(math.Ceil(0.975*float64(nBoot)))-1]
	return w, true
}

// meanRows averages rows; with idx it averages the rows idx picks, each
// with its prompts resampled with replacement.
func meanRows(rows [][]float64, idx []int, rng *rand.Rand) float64 {
	var sum float64
	var n int
	if idx == nil {
		for _, r := range rows {
			for _, v := range r {
				sum += v
			}
			n += len(r)
		}
		return sum / float64(n)
	}
	for _, i := range idx {
		r := rows[i]
		for range r {
			sum += r[rng.IntN(len(r))]
		}
		n += len(r)
	}
	return sum / float64(n)
}

// WinRates compares every algorithm with the SFT policy, and each pair in
// pairs (labels "A/B"), at the common KL budget.
func (d *Data) WinRates(budget float64, pairs [][2]string, nBoot int) []WinRate {
	var out []WinRate
	all := seedsOf(d.Curves)
	for _, a := range d.Series {
		if w, ok := compare(a, "SFT", d.algoSide(a, budget), d.sftSide(), all, budget, nBoot); ok {
			out = append(out, w)
		}
	}
	for _, p := range pairs {
		if w, ok := compare(p[0], p[1], d.algoSide(p[0], budget), d.algoSide(p[1], budget), all, budget, nBoot); ok {
			out = append(out, w)
		}
	}
	return out
}

// CommonBudget is the largest KL (rounded down to 0.5 nats) that every
// algorithm's points reach on average over seeds: the budget at which all
// can be compared.
func (d *Data) CommonBudget() float64 {
	b := math.Inf(1)
	for _, a := range d.Series {
		cs := d.curves(a)
		var maxes []float64
		for _, s := range seedsOf(cs) {
			_, m, _ := Envelope(cs, s, math.Inf(1))
			maxes = append(maxes, m)
		}
		if len(maxes) == 0 {
			continue
		}
		m, _ := meanSD(maxes)
		b = math.Min(b, m)
	}
	if math.IsInf(b, 1) || b <= 0 {
		return 0
	}
	return math.Max(0.5, math.Floor(b*2)/2)
}

// readLast returns a run directory's last evaluation.
func readLast(dir string) (*evalpoint.Point, error) {
	ps, err := evalpoint.ReadRun(dir)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("%s: no evaluations", dir)
	}
	return ps[len(ps)-1], nil
}
