package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"

	"github.com/p3o-rlhf/p3o/host/internal/config"
	"github.com/p3o-rlhf/p3o/host/internal/prefdata"
	"github.com/p3o-rlhf/p3o/host/internal/progress"
	"github.com/p3o-rlhf/p3o/host/internal/task"
	"github.com/p3o-rlhf/p3o/nn"
)

func init() {
	register("prefs", "make gold-labelled preference data from the SFT policy (imdb-sentiment)", runPrefs)
}

// Labelling modes of `host prefs`.
const (
	labelBT            = "bt"
	labelDeterministic = "deterministic"
)

// prefsConfig holds the flags of `host prefs`.
type prefsConfig struct {
	n           int
	out, sft    string
	seed        uint64
	label       string
	temperature float64
	dataDir     string
	batch       int
}

func runPrefs(ctx context.Context, args []string) error {
	var c prefsConfig
	def, err := config.Default() // its policy.sft is the SFT checkpoint committed with the project
	if err != nil {
		return err
	}
	fs := newFlagSet("prefs")
	fs.IntVar(&c.n, "n", 2000, "number of comparisons to write")
	fs.StringVar(&c.out, "out", "imdb-prefs.jsonl", "output JSONL file (TRL format plus gold_chosen/gold_rejected)")
	fs.StringVar(&c.sft, "sft", def.Policy.SFT, "SFT policy checkpoint to sample responses from")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the prompt order, the samples and the labels")
	fs.StringVar(&c.label, "label", labelBT, "labelling: bt (Bradley-Terry draw, P(a>b) = sigmoid((g_a-g_b)/T)) or deterministic (higher gold wins)")
	fs.Float64Var(&c.temperature, "temperature", 0.1, "Bradley-Terry temperature T of --label bt (gold scores are in [-1, 1])")
	fs.StringVar(&c.dataDir, "data-dir", "", "shared data folder (default: ../shared/data next to the project root)")
	fs.IntVar(&c.batch, "batch", 64, "prompts sampled per sampler call")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: host prefs [flags]\n\nSamples 2 responses per imdb-sentiment train prompt from the SFT policy\n(48 bytes, end-of-text banned, temperature 1), labels each pair with the VADER\ngold judge, and writes TRL preference JSONL. Pairs with equal gold scores are\nskipped (counted).\n\nflags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("prefs: unexpected argument %q", fs.Arg(0))
	}
	switch {
	case c.n < 1:
		return fmt.Errorf("prefs: --n %d: want >= 1", c.n)
	case c.label != labelBT && c.label != labelDeterministic:
		return fmt.Errorf("prefs: --label %q: want bt or deterministic", c.label)
	case c.label == labelBT && !(c.temperature > 0):
		return fmt.Errorf("prefs: --temperature %v: want > 0", c.temperature)
	case c.batch < 1:
		return fmt.Errorf("prefs: --batch %d: want >= 1", c.batch)
	}
	// The output's folder must exist before the sampling, not after it.
	if st, err := os.Stat(filepath.Dir(c.out)); err != nil || !st.IsDir() {
		return fmt.Errorf("prefs: --out %s: the folder %s does not exist (create it first)", c.out, filepath.Dir(c.out))
	}
	return makePrefs(ctx, c)
}

// prefsCounts summarises a prefs run.
type prefsCounts struct {
	prompts, pairs, ties, invalid, disagree int
}

func makePrefs(ctx context.Context, c prefsConfig) error {
	t0 := time.Now()
	if c.dataDir == "" {
		d, err := task.DataDir()
		if err != nil {
			return fmt.Errorf("prefs: %w (or pass --data-dir)", err)
		}
		c.dataDir = d
	}
	tk, err := task.Load(ctx, filepath.Join(c.dataDir, "imdb"), c.seed, c.seed) // only the train prompts are used
	if err != nil {
		return fmt.Errorf("prefs: %w", err)
	}
	m, _, err := nn.LoadModel(c.sft)
	if err != nil {
		return fmt.Errorf("prefs: load SFT policy (--sft): %w", err)
	}
	tok := nn.NewByteTokenizer()
	if m.Config.Vocab != tok.VocabSize() {
		return fmt.Errorf("prefs: SFT policy %s has vocabulary %d, want the byte tokenizer's %d", c.sft, m.Config.Vocab, tok.VocabSize())
	}
	if need := task.MaxPromptBytes + task.ResponseBytes; m.Config.Context < need {
		return fmt.Errorf("prefs: SFT policy %s has context %d, want >= %d (prompt %d + response %d bytes)", c.sft, m.Config.Context, need, task.MaxPromptBytes, task.ResponseBytes)
	}
	sampler := nn.NewSampler(m, 2*c.batch)
	prompts := task.NewPromptSampler(tk.TrainPrompts(), c.seed)
	judge := tk.Judge()
	labels := rand.New(rand.NewPCG(c.seed, 0x1abe1))
	opts := nn.SampleOptions{MaxNew: task.ResponseBytes, Temperature: 1, Stop: -1, Ban: []int32{tok.EOT()}}

	var (
		pairs []prefdata.Pair
		cnt   prefsCounts
	)
	bar := progress.Stderr().NewBar("prefs", c.n, "pair")
	// Ties are common (VADER scores text without sentiment words 0), so
	// sample until n pairs, within a bound.
	maxPrompts := 20*c.n + 1000
	for step := 0; len(pairs) < c.n; step++ {
		if cnt.prompts >= maxPrompts {
			return fmt.Errorf("prefs: only %d usable pairs from %d prompts (%d gold ties, %d invalid UTF-8 or identical): the policy's responses carry too little sentiment", len(pairs), cnt.prompts, cnt.ties, cnt.invalid)
		}
		batch := prompts.Batch(step, c.batch)
		reqs := make([]nn.SampleRequest, 0, 2*len(batch))
		for j, p := range batch {
			ids := tok.Encode(p)
			for k := range 2 {
				reqs = append(reqs, nn.SampleRequest{Prompt: ids, Seed: sampleSeed(c.seed, step*c.batch+j, k)})
			}
		}
		res, err := sampler.Sample(ctx, reqs, opts)
		if err != nil {
			return fmt.Errorf("prefs: sample: %w", err)
		}
		for j, p := range batch {
			if len(pairs) >= c.n {
				break
			}
			cnt.prompts++
			a, b := tok.Decode(res[2*j].Tokens), tok.Decode(res[2*j+1].Tokens)
			if !utf8.ValidString(a) || !utf8.ValidString(b) || a == b {
				cnt.invalid++
				continue
			}
			ga, gb := judge.Score(p, a), judge.Score(p, b)
			if ga == gb {
				cnt.ties++
				continue
			}
			pair, disagree := labelPair(p, a, b, ga, gb, c.label, c.temperature, labels)
			if disagree {
				cnt.disagree++
			}
			pairs = append(pairs, pair)
			bar.Add(1)
		}
	}
	bar.Finish()
	cnt.pairs = len(pairs)
	if err := prefdata.WriteFile(c.out, pairs); err != nil {
		return fmt.Errorf("prefs: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %d comparisons to %s (%s labels", cnt.pairs, c.out, c.label)
	if c.label == labelBT {
		fmt.Fprintf(stdout, ", T=%g", c.temperature)
	}
	fmt.Fprintf(stdout, ") in %.1fs\n", time.Since(t0).Seconds())
	fmt.Fprintf(stdout, "prompts used %d; skipped: %d gold ties, %d invalid UTF-8 or identical responses\n", cnt.prompts, cnt.ties, cnt.invalid)
	fmt.Fprintf(stdout, "labels disagreeing with the gold ordering: %d of %d (%.1f%%)\n", cnt.disagree, cnt.pairs, 100*float64(cnt.disagree)/float64(cnt.pairs))
	return nil
}

// sampleSeed derives the sampler seed of (run seed, prompt index, sample).
func sampleSeed(seed uint64, prompt, sample int) uint64 {
	z := seed ^ 0x9e3779b97f4a7c15*uint64(prompt+1) ^ 0xbf58476d1ce4e5b9*uint64(sample+1)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// labelPair orders responses a and b of prompt by their gold scores ga != gb:
// deterministic mode prefers the higher score; bt mode draws "a wins" with
// probability sigmoid((ga-gb)/T) from rng. disagree is true when the label
// prefers the lower gold score.
func labelPair(prompt, a, b string, ga, gb float64, mode string, T float64, rng *rand.Rand) (p prefdata.Pair, disagree bool) {
	aWins := ga > gb
	if mode == labelBT {
		aWins = rng.Float64() < 1/(1+math.Exp(-(ga-gb)/T))
	}
	if !aWins {
		a, b, ga, gb = b, a, gb, ga
	}
	return prefdata.Pair{Prompt: prompt, Chosen: a, Rejected: b, GoldChosen: &ga, GoldRejected: &gb}, ga < gb
}
