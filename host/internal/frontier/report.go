package frontier

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
)

// ReportOptions says what to tabulate.
type ReportOptions struct {
	// Budgets are the KL budgets (nats) of the envelope table.
	Budgets []float64
	// WinKL is the common KL of the win rates (0: CommonBudget).
	WinKL float64
	// Pairs are the algorithm pairs compared head to head ("A/B" labels);
	// nil: the first algorithm against each other one.
	Pairs [][2]string
	// Boot is the number of bootstrap resamples (0: 2000).
	Boot int
	// Title heads the figure and the Markdown file.
	Title string
	// PlotKLMax > 0 limits the figure's KL axis to [0, PlotKLMax].
	PlotKLMax float64
	// Grid is the sweep's --grid axes: with exactly one, numeric, the
	// report adds scaling.csv and scaling.png/.svg (step time against it).
	Grid []Axis
	// CompareWith, when set, is another sweep folder whose runs of the
	// same names are compared with these (reward-shift invariance).
	CompareWith string
}

// Outputs are the files a report writes into the sweep folder.
var Outputs = []string{"frontier.csv", "frontier.png", "frontier.svg", "frontier.md"}

// Report writes frontier.csv, frontier.png, frontier.svg and frontier.md
// (the KL-budget and win-rate tables) into out, and prints the tables to w.
func Report(d *Data, out string, o ReportOptions, w io.Writer) error {
	if len(d.Curves) == 0 {
		return fmt.Errorf("no run has held-out evaluations yet (%d planned runs missing)", len(d.Missing))
	}
	var csvBuf bytes.Buffer
	if err := d.WriteCSV(&csvBuf); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(out, "frontier.csv"), csvBuf.Bytes()); err != nil {
		return err
	}
	title := o.Title
	if title == "" {
		title = "KL-reward frontier"
	}
	if err := PlotFrontier(d, title, o.PlotKLMax, filepath.Join(out, "frontier.png"), filepath.Join(out, "frontier.svg")); err != nil {
		return err
	}
	if o.Boot == 0 {
		o.Boot = 2000
	}
	if o.WinKL == 0 {
		o.WinKL = d.CommonBudget()
	}
	pairs := o.Pairs
	if pairs == nil {
		for _, a := range d.Series[1:] {
			pairs = append(pairs, [2]string{d.Series[0], a})
		}
	}
	var md bytes.Buffer
	fmt.Fprintf(&md, "# %s\n\n", title)
	fmt.Fprintf(&md, "%d runs with evaluations", len(d.Curves))
	if len(d.Missing) > 0 {
		fmt.Fprintf(&md, "; %d planned runs have none yet: %s", len(d.Missing), strings.Join(d.Missing, ", "))
	}
	md.WriteString(".\n\n")
	writeBudgetTable(&md, d, o.Budgets)
	if o.WinKL > 0 {
		writeWinTable(&md, d.WinRates(o.WinKL, pairs, o.Boot), o.WinKL, o.Boot)
	}
	writeStabilityTable(&md, d)
	if len(o.Grid) == 1 {
		if err := WriteScaling(d, o.Grid[0], out, &md); err != nil {
			return err
		}
	}
	if o.CompareWith != "" {
		rows, err := Compare(d, o.CompareWith)
		if err != nil {
			return fmt.Errorf("--compare %s: %w", o.CompareWith, err)
		}
		WriteCompare(&md, rows, o.CompareWith)
	}
	if err := writeAtomic(filepath.Join(out, "frontier.md"), md.Bytes()); err != nil {
		return err
	}
	if w != nil {
		w.Write(md.Bytes())
	}
	return nil
}

func writeBudgetTable(w io.Writer, d *Data, budgets []float64) {
	if len(budgets) == 0 {
		return
	}
	fmt.Fprintln(w, "## Gold reward within a KL budget")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Best held-out mean gold reward among an algorithm's evaluation points (all KL coefficients and")
	fmt.Fprintln(w, "steps) whose KL to the SFT policy is at most the budget, then mean ± sd over seeds (n seeds).")
	fmt.Fprintln(w, "A `*` marks a budget some seeds never reached (their value is the best at a lower KL).")
	fmt.Fprintln(w)
	head := "| algorithm |"
	sep := "|---|"
	for _, b := range budgets {
		head += fmt.Sprintf(" KL ≤ %g |", b)
		sep += "---|"
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, sep)
	rows := d.BudgetTable(budgets)
	for _, a := range d.Series {
		line := "| " + a + " |"
		for _, r := range rows {
			if r.Algo != a {
				continue
			}
			switch {
			case r.N == 0 || math.IsNaN(r.Mean):
				line += " - |"
			default:
				star := ""
				if r.Short > 0 {
					star = "*"
				}
				line += fmt.Sprintf(" %+.3f ± %.3f (%d)%s |", r.Mean, r.SD, r.N, star)
			}
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w)
}

func writeWinTable(w io.Writer, ws []WinRate, budget float64, boot int) {
	fmt.Fprintf(w, "## Win rates by the gold judge at KL ≈ %g nats\n\n", budget)
	fmt.Fprintln(w, "Paired on the same held-out prompts and sampling streams: each side's evaluation point closest")
	fmt.Fprintf(w, "to the budget, per seed; a win counts 1, a tie 1/2; 95%% interval from %d bootstrap resamples\n", boot)
	fmt.Fprintln(w, "of seeds, then prompts within each.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| A | B | A's win rate | 95% CI | KL of A | KL of B | seeds | prompts |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, x := range ws {
		fmt.Fprintf(w, "| %s | %s | %.1f%% | [%.1f, %.1f] | %.2f | %.2f | %d | %d |\n",
			x.A, x.B, 100*x.Rate, 100*x.Lo, 100*x.Hi, x.KLA, x.KLB, x.Seeds, x.Prompts)
	}
	fmt.Fprintln(w)
}
