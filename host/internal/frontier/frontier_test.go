package frontier

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/host/internal/evalpoint"
)

func TestParseAlgos(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"plugins/p3o", "other/p3o", "plugins/ppo"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	t.Chdir(root)
	tests := []struct {
		list       string
		wantLabels []string
		wantErr    string
	}{
		{"plugins/p3o,plugins/p3o:variant=v1:clip=0.1,plugins/ppo", []string{"p3o", "p3o:variant=v1:clip=0.1", "ppo"}, ""},
		{"plugins/p3o, other/p3o", []string{"plugins/p3o", "other/p3o"}, ""},
		{"plugins/p3o:variant", nil, "not key=value"},
		{"plugins/nope", nil, "plugins/nope"},
		{"plugins/ppo,plugins/ppo", nil, "twice"},
		{":variant=v1", nil, "no plugin path"},
		{"", nil, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.list, func(t *testing.T) {
			as, err := ParseAlgos(tt.list)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range as {
				got = append(got, a.Label)
				if !filepath.IsAbs(a.Abs) {
					t.Errorf("got path %q, want absolute", a.Abs)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.wantLabels, ",") {
				t.Errorf("got labels %v, want %v", got, tt.wantLabels)
			}
		})
	}
	as, _ := ParseAlgos("plugins/p3o:variant=v1:clip=0.1")
	if got := strings.Join(as[0].Options, ";"); got != "variant=v1;clip=0.1" {
		t.Errorf("got options %q, want variant=v1;clip=0.1", got)
	}
}

func TestParseLists(t *testing.T) {
	s, err := ParseSeeds("3,1-2,2")
	if err != nil || len(s) != 3 || s[0] != 1 || s[2] != 3 {
		t.Errorf("got %v, %v; want [1 2 3]", s, err)
	}
	for _, bad := range []string{"x", "3-1", ""} {
		if _, err := ParseSeeds(bad); err == nil {
			t.Errorf("ParseSeeds(%q): got no error", bad)
		}
	}
	b, err := ParseFloats("--betas", "0.1, 0.02,0.1")
	if err != nil || len(b) != 2 || b[0] != 0.02 {
		t.Errorf("got %v, %v; want [0.02 0.1]", b, err)
	}
	for _, bad := range []string{"-1", "nan", "inf", "a"} {
		if _, err := ParseFloats("--betas", bad); err == nil || !strings.Contains(err.Error(), "--betas") {
			t.Errorf("ParseFloats(%q): got %v, want an error naming --betas", bad, err)
		}
	}
	if got := RunName("p3o:variant=v1/x", 0.05, 2); got != "p3o-variant=v1-x_beta0.05_seed2" {
		t.Errorf("got run name %q", got)
	}
}

func TestRunState(t *testing.T) {
	dir := t.TempDir()
	if got := RunState(dir, 10); got != Fresh {
		t.Errorf("empty dir: got %v, want fresh", got)
	}
	os.MkdirAll(filepath.Join(dir, "checkpoints", "step-00000005"), 0o755)
	os.WriteFile(filepath.Join(dir, "checkpoints", "step-00000005", "MANIFEST.json"), []byte("{}"), 0o644)
	if got := RunState(dir, 10); got != Partial {
		t.Errorf("with a checkpoint: got %v, want partial", got)
	}
	os.WriteFile(filepath.Join(dir, "eval.json"), []byte(`{"steps": 10}`), 0o644)
	if got := RunState(dir, 10); got != Finished {
		t.Errorf("with eval.json of 10 steps: got %v, want finished", got)
	}
	if got := RunState(dir, 20); got != Partial {
		t.Errorf("eval.json of 10 steps, 20 planned: got %v, want partial", got)
	}
}

// synth builds curves from (kl, gold) points per run; every prompt's gold
// equals the mean so win rates are predictable.
func synth(label string, seed uint64, beta float64, pts [][2]float64, prompts int) Curve {
	c := Curve{Run: Run{Name: RunName(label, beta, seed), Algo: Algo{Label: label}, Beta: beta, Seed: seed}}
	for i, p := range append([][2]float64{{0, 0}}, pts...) {
		g := make([]float64, prompts)
		k := make([]float64, prompts)
		for j := range g {
			g[j], k[j] = p[1], p[0]
		}
		ep, _ := evalpoint.New(i*10, 1, g, k)
		c.Points = append(c.Points, ep)
	}
	return c
}

func TestEnvelopeAndBudgets(t *testing.T) {
	d := &Data{Series: []string{"a", "b"}}
	d.Curves = []Curve{
		synth("a", 1, 0.1, [][2]float64{{1, 0.2}, {3, 0.5}, {7, 0.4}}, 4),
		synth("a", 1, 0.05, [][2]float64{{2, 0.3}, {5, 0.6}}, 4),
		synth("a", 2, 0.1, [][2]float64{{1, 0.1}, {3, 0.3}}, 4),
		synth("b", 1, 0.1, [][2]float64{{1, 0.05}}, 4),
	}
	tests := []struct {
		seed      uint64
		budget    float64
		want, max float64
	}{
		{1, 0.5, 0, 7},
		{1, 2, 0.3, 7},
		{1, 4, 0.5, 7},
		{1, 6, 0.6, 7},
		{1, 100, 0.6, 7},
		{2, 4, 0.3, 3},
	}
	for _, tt := range tests {
		g, m, ok := Envelope(d.curves("a"), tt.seed, tt.budget)
		if !ok || g != tt.want || m != tt.max {
			t.Errorf("seed %d budget %g: got %v (max KL %v, ok %v), want %v (max %v)", tt.seed, tt.budget, g, m, ok, tt.want, tt.max)
		}
	}
	rows := d.BudgetTable([]float64{4})
	if rows[0].N != 2 || math.Abs(rows[0].Mean-0.4) > 1e-12 || rows[0].Short != 1 {
		t.Errorf("got row %+v, want 2 seeds, mean (0.5+0.3)/2, 1 seed short of KL 4", rows[0])
	}
	if math.Abs(rows[0].SD-math.Sqrt(0.02)) > 1e-12 {
		t.Errorf("got sd %v, want sqrt(0.02)", rows[0].SD)
	}
	if rows[1].N != 1 || rows[1].Mean != 0.05 {
		t.Errorf("got row %+v for b, want one seed at 0.05", rows[1])
	}
	if got := d.CommonBudget(); got != 1 {
		t.Errorf("got common budget %v, want 1 (b reaches KL 1 only)", got)
	}
}

func TestWinRates(t *testing.T) {
	mk := func(label string, seed uint64, kl float64, gold []float64) Curve {
		c := synth(label, seed, 0.1, [][2]float64{{kl, 0}}, len(gold))
		ref := make([]float64, len(gold)) // SFT scores 0 on every prompt
		c.Points[0].Gold = ref
		c.Points[1].Gold = gold
		return c
	}
	// a: wins 3 of 4 prompts against SFT (one tie); b: loses all.
	d := &Data{Series: []string{"a", "b"}, Curves: []Curve{
		mk("a", 1, 4, []float64{0.5, 0.2, 0.1, 0}),
		mk("a", 2, 4, []float64{0.5, 0.2, 0.1, 0}),
		mk("b", 1, 4, []float64{-0.1, -0.1, -0.1, -0.1}),
		mk("b", 2, 4, []float64{-0.1, -0.1, -0.1, -0.1}),
	}}
	ws := d.WinRates(4, [][2]string{{"a", "b"}}, 500)
	if len(ws) != 3 {
		t.Fatalf("got %d win rates, want 3 (a vs SFT, b vs SFT, a vs b)", len(ws))
	}
	want := map[string]float64{"a/SFT": 3.5 / 4, "b/SFT": 0, "a/b": 1}
	for _, w := range ws {
		k := w.A + "/" + w.B
		if math.Abs(w.Rate-want[k]) > 1e-12 {
			t.Errorf("%s: got rate %v, want %v", k, w.Rate, want[k])
		}
		if w.Lo > w.Rate || w.Hi < w.Rate || w.Lo < 0 || w.Hi > 1 {
			t.Errorf("%s: got interval [%v, %v] around %v", k, w.Lo, w.Hi, w.Rate)
		}
		if w.Seeds != 2 || w.Prompts != 8 {
			t.Errorf("%s: got %d seeds %d prompts, want 2 and 8", k, w.Seeds, w.Prompts)
		}
	}
	// The same win-rate data twice gives the same interval (fixed stream).
	again := d.WinRates(4, nil, 500)
	if again[0].Lo != ws[0].Lo || again[0].Hi != ws[0].Hi {
		t.Errorf("bootstrap not deterministic: [%v %v] vs [%v %v]", again[0].Lo, again[0].Hi, ws[0].Lo, ws[0].Hi)
	}
}

func TestReportWritesValidFiles(t *testing.T) {
	d := &Data{Series: []string{"a", "b"}}
	for _, s := range []uint64{1, 2} {
		d.Curves = append(d.Curves,
			synth("a", s, 0.1, [][2]float64{{1, 0.2 + 0.01*float64(s)}, {3, 0.5}}, 8),
			synth("b", s, 0.1, [][2]float64{{2, 0.1}, {4, 0.3 - 0.01*float64(s)}}, 8))
	}
	out := t.TempDir()
	var log bytes.Buffer
	if err := Report(d, out, ReportOptions{Budgets: []float64{2, 4}}, &log); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(out, "frontier.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if cfg, err := png.DecodeConfig(f); err != nil || cfg.Width < 100 {
		t.Errorf("frontier.png: got %+v, %v; want a decodable PNG", cfg, err)
	}
	svg, _ := os.ReadFile(filepath.Join(out, "frontier.svg"))
	if err := xml.Unmarshal(svg, new(struct{})); err != nil || !bytes.Contains(svg, []byte("<svg")) {
		t.Errorf("frontier.svg: not a valid SVG document: %v", err)
	}
	rows, err := csv.NewReader(bytes.NewReader(must(os.ReadFile(filepath.Join(out, "frontier.csv"))))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+4*3 { // header + 4 runs x (SFT + 2 points)
		t.Errorf("got %d CSV rows, want 13", len(rows))
	}
	for _, want := range []string{"KL ≤ 2", "| a | SFT |", "| a | b |"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, log.String())
		}
	}
}

// TestPlotKLMax: --plot-kl-max limits the KL axis and says so on it, and
// points beyond the limit are left out (b's second point, at KL 4).
func TestPlotKLMax(t *testing.T) {
	d := &Data{Series: []string{"a", "b"}}
	d.Curves = append(d.Curves,
		synth("a", 1, 0.1, [][2]float64{{1, 0.2}, {2, 0.5}}, 8),
		synth("b", 1, 0.1, [][2]float64{{2, 0.1}, {40, 0.3}}, 8))
	for _, tc := range []struct {
		klMax    float64
		wantAxis bool
	}{{0, false}, {3, true}} {
		out := t.TempDir()
		if err := PlotFrontier(d, "t", tc.klMax, filepath.Join(out, "f.svg")); err != nil {
			t.Fatal(err)
		}
		svg := string(must(os.ReadFile(filepath.Join(out, "f.svg"))))
		if got := strings.Contains(svg, "up to 3"); got != tc.wantAxis {
			t.Errorf("klMax %g: axis label says 'up to 3': got %v, want %v", tc.klMax, got, tc.wantAxis)
		}
		// The x axis of an unlimited plot reaches KL 40, so it has a tick at 40.
		if got := strings.Contains(svg, ">40<"); got == tc.wantAxis {
			t.Errorf("klMax %g: a tick at KL 40: got %v, want %v", tc.klMax, got, !tc.wantAxis)
		}
	}
}

// TestStabilityTablePeakAndProxy: a run whose gold peaks at step 10 and falls
// while the proxy rises shows the peak, its step and the proxy gain over step 0.
func TestStabilityTablePeakAndProxy(t *testing.T) {
	d := &Data{Series: []string{"a"}}
	c := synth("a", 1, 0.1, [][2]float64{{1, 0.5}, {3, 0.2}}, 4)
	for i := range c.Points {
		c.Points[i].Proxy = []float64{float64(i)}
		c.Points[i].ProxyMean = float64(i)
		if err := c.Points[i].SetWords([]int{4, 4, 4, 4}, []int{3, 3, 3, 3}); err != nil {
			t.Fatal(err)
		}
	}
	d.Curves = []Curve{c, synth("a", 1, 0.2, [][2]float64{{1, 0.1}}, 4)}
	var md bytes.Buffer
	writeStabilityTable(&md, d)
	for _, want := range []string{
		"| a | 0.1 | 1 | +0.200 ± 0.000 | +0.500 @ 10 | +2.000 ± 0.000 | 0.750 ± 0.000 |", // proxy 2 at the end, 0 at step 0
		"proxy gain | word validity",
		"| a | 0.2 | 1 | +0.100 ± 0.000 | +0.100 @ 10 | - | - |",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("stability table lacks %q; got\n%s", want, md.String())
		}
	}
}

// TestPlotLineStylesPastThePalette: with more series than the palette's 7
// colours, the series whose colour repeats are drawn dashed; with fewer,
// no line is.
func TestPlotLineStylesPastThePalette(t *testing.T) {
	for _, tc := range []struct {
		series     int
		wantDashed bool
	}{{5, false}, {8, true}} {
		d := &Data{}
		for i := range tc.series {
			label := fmt.Sprintf("s%d", i)
			d.Series = append(d.Series, label)
			d.Curves = append(d.Curves,
				synth(label, 1, 0.1, [][2]float64{{1, 0.1}, {2, 0.2}}, 4),
				synth(label, 2, 0.1, [][2]float64{{1, 0.2}, {2, 0.3}}, 4))
		}
		out := filepath.Join(t.TempDir(), "f.svg")
		if err := PlotFrontier(d, "t", 0, out); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(must(os.ReadFile(out))), "dasharray"); got != tc.wantDashed {
			t.Errorf("%d series: a dashed line: got %v, want %v", tc.series, got, tc.wantDashed)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
