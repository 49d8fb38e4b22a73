package bow

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/p3o-rlhf/p3o/sdk"
	"github.com/p3o-rlhf/p3o/sdk/sdktest"
)

// TestMain silences the plugin's log during tests.
func TestMain(m *testing.M) {
	hclog.SetDefault(hclog.NewNullLogger())
	os.Exit(m.Run())
}

func configured(t *testing.T, options string) *Reward {
	t.Helper()
	r := New()
	if err := r.Configure(context.Background(), &sdk.ConfigureRequest{Options: []byte(options)}); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRewardConformance runs the sdk's reward kit with a budget of 8 steps.
func TestRewardConformance(t *testing.T) {
	sdktest.RunReward(t, func(testing.TB) sdk.Reward { return New() },
		sdktest.RewardOptions{Config: []byte("steps = 8\ntokenizer = \"words:4096\"\n")})
}

// lexiconJudge is a toy VADER: the gold score of a response is the sum of
// its words' valences (filler words have none).
type lexiconJudge struct {
	valence map[string]float64
	words   []string
	// flip: "not" (drawn like any word) flips the next word's valence.
	flip bool
}

func newLexiconJudge(rng *rand.Rand) lexiconJudge {
	j := lexiconJudge{valence: map[string]float64{}}
	for i := range 200 {
		w := "w" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		j.words = append(j.words, w)
		if i < 60 { // 60 sentiment words, 140 filler words
			j.valence[w] = rng.Float64()*4 - 2
		}
	}
	return j
}

func (j lexiconJudge) response(rng *rand.Rand) (string, float64) {
	var (
		b    strings.Builder
		gold float64
	)
	negated := false
	for range 8 {
		w := j.words[rng.IntN(len(j.words))]
		if j.flip && rng.IntN(4) == 0 {
			w = "not"
		}
		b.WriteString(w + " ")
		if negated {
			gold -= j.valence[w]
		} else {
			gold += j.valence[w]
		}
		negated = w == "not"
	}
	return b.String(), gold
}

// comparisons labels pairs of responses by the judge (ties skipped) and
// returns them with both sides' gold scores.
func (j lexiconJudge) comparisons(rng *rand.Rand, n int) ([]sdk.Comparison, [][2]float64) {
	var (
		cs   []sdk.Comparison
		gold [][2]float64
	)
	for len(cs) < n {
		a, ga := j.response(rng)
		b, gb := j.response(rng)
		if ga == gb {
			continue
		}
		if ga < gb {
			a, b, ga, gb = b, a, gb, ga
		}
		cs = append(cs, sdk.Comparison{Prompt: "p", Chosen: a, Rejected: b})
		gold = append(gold, [2]float64{ga, gb})
	}
	return cs, gold
}

func ranks(v []float64) []float64 {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] < v[idx[b]] })
	r := make([]float64, len(v))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && v[idx[j+1]] == v[idx[i]] {
			j++
		}
		for k := i; k <= j; k++ {
			r[idx[k]] = float64(i+j) / 2
		}
		i = j + 1
	}
	return r
}

// spearman is the rank correlation of x and y.
func spearman(x, y []float64) float64 {
	rx, ry := ranks(x), ranks(y)
	var mx, my float64
	for i := range rx {
		mx += rx[i]
		my += ry[i]
	}
	mx /= float64(len(rx))
	my /= float64(len(ry))
	var sxy, sxx, syy float64
	for i := range rx {
		sxy += (rx[i] - mx) * (ry[i] - my)
		sxx += (rx[i] - mx) * (rx[i] - mx)
		syy += (ry[i] - my) * (ry[i] - my)
	}
	return sxy / math.Sqrt(sxx*syy)
}

// TestRecoversALexiconJudge trains on comparisons labelled by a lexicon-sum
// judge and checks that the held-out scores rank responses as the judge
// does. Sum pooling has the judge's shape; mean pooling divides by the
// length (constant here), so it recovers it too, only with steps 8 times
// smaller.
func TestRecoversALexiconJudge(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 0))
	j := newLexiconJudge(rng)
	train, _ := j.comparisons(rng, 3000)
	held, gold := j.comparisons(rng, 500)
	for _, tc := range []struct {
		pool        string
		min, minAcc float64
	}{{PoolSum, 0.95, 0.9}, {PoolMean, 0.9, 0.85}} {
		t.Run(tc.pool, func(t *testing.T) {
			r := configured(t, "epochs = 5\npool = \""+tc.pool+"\"\n")
			resp, err := r.Train(context.Background(), &sdk.TrainRequest{Train: train, HeldOut: held})
			if err != nil {
				t.Fatal(err)
			}
			var req sdk.ScoreRequest
			var g []float64
			for i, c := range held {
				req.Samples = append(req.Samples, sdk.Sample{Response: c.Chosen}, sdk.Sample{Response: c.Rejected})
				g = append(g, gold[i][0], gold[i][1])
			}
			sc, err := r.Score(context.Background(), &req)
			if err != nil {
				t.Fatal(err)
			}
			if got := spearman(sc.Scores, g); got < tc.min {
				t.Errorf("held-out Spearman(reward, gold) = %.3f, want >= %.2f", got, tc.min)
			}
			if resp.HeldOutAccuracy < tc.minAcc {
				t.Errorf("held-out accuracy %.3f, want >= %.2f", resp.HeldOutAccuracy, tc.minAcc)
			}
		})
	}
}

// TestChunkedTrainingIsBitIdentical: 3 + 5 steps with a save and a load into
// a fresh instance in between end with the same state as 8 steps at once.
func TestChunkedTrainingIsBitIdentical(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 0))
	train, _ := newLexiconJudge(rng).comparisons(rng, 50)
	const opts = "steps = 8\nbatch = 16\n"
	whole := configured(t, opts)
	if _, err := whole.Train(ctx, &sdk.TrainRequest{Train: train}); err != nil {
		t.Fatal(err)
	}
	want, err := whole.SaveState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first := configured(t, opts)
	if _, err := first.Train(ctx, &sdk.TrainRequest{Train: train, MaxSteps: 3}); err != nil {
		t.Fatal(err)
	}
	mid, err := first.SaveState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second := New()
	if err := second.LoadState(ctx, mid); err != nil {
		t.Fatal(err)
	}
	resp, err := second.Train(ctx, &sdk.TrainRequest{Train: train})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Steps != 8 || !resp.Done {
		t.Errorf("got steps %d done %v, want 8 true", resp.Steps, resp.Done)
	}
	got, err := second.SaveState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("state after 3 + 5 steps differs from 8 steps at once (%d vs %d bytes)", len(got), len(want))
	}
}

func TestLoadStateRejectsDamage(t *testing.T) {
	ctx := context.Background()
	good, err := configured(t, "tokenizer = \"words:64\"\n").SaveState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	flip := slices.Clone(good)
	flip[len(flip)/2] ^= 1
	for _, tc := range []struct {
		name  string
		state []byte
		want  string
	}{
		{"empty", nil, "bad magic"},
		{"another plugin's", append([]byte("RBTL\x02"), good[5:]...), "bad magic"},
		{"truncated", good[:len(good)-9], "checksum"},
		{"one bit flipped", flip, "checksum"},
		{"future version", append([]byte("RBOW\x09"), good[5:]...), "version 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := New().LoadState(ctx, tc.state)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if err := New().LoadState(ctx, good); err != nil {
		t.Errorf("the undamaged state: %v", err)
	}
}

func TestConfigureRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct{ options, want string }{
		{"tokenizer = \"byte\"", "tokenizer \"byte\""},
		{"tokenizer = \"words:1\"", "words:N"},
		{"pool = \"last\"", "option pool"},
		{"lr = 0", "option lr"},
		{"lr = inf", "option lr"},
		{"epochs = nan", "option epochs"},
		{"tokenizer = \"words:100000000\"", "more than the 16777216"},
		{"batch = 0", "option batch"},
		{"bound = -1", "option bound"},
		{"negation = -1", "option negation"},
		{"steps = 0\nepochs = 0", "option epochs"},
		{"d_model = 64", "d_model"},
	} {
		t.Run(tc.options, func(t *testing.T) {
			err := New().Configure(context.Background(), &sdk.ConfigureRequest{Options: []byte(tc.options)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestBoundSaturates: with option bound the reward of a response that
// repeats the best word 40 times stays within bound, while the plain sum
// keeps growing with every repetition.
func TestBoundSaturates(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 0))
	j := newLexiconJudge(rng)
	train, _ := j.comparisons(rng, 2000)
	best := j.words[0]
	for _, w := range j.words[:60] {
		if j.valence[w] > j.valence[best] {
			best = w
		}
	}
	for _, tc := range []struct {
		bound     float64
		saturates bool
	}{{0, false}, {2, true}} {
		t.Run(fmt.Sprint("bound ", tc.bound), func(t *testing.T) {
			r := configured(t, fmt.Sprintf("epochs = 3\nbound = %v\n", tc.bound))
			if _, err := r.Train(context.Background(), &sdk.TrainRequest{Train: train}); err != nil {
				t.Fatal(err)
			}
			s2 := r.score(r.features(strings.Repeat(best+" ", 2)))
			s40 := r.score(r.features(strings.Repeat(best+" ", 40)))
			if s2 <= 0 {
				t.Fatalf("r(%q x2) = %v, want > 0", best, s2)
			}
			if tc.saturates {
				if s40 > tc.bound || s40-s2 > tc.bound/2 {
					t.Errorf("r(x40) = %.3f, r(x2) = %.3f: want r(x40) <= bound %v and within bound/2 of r(x2)", s40, s2, tc.bound)
				}
			} else if s40 < 10*s2 {
				t.Errorf("plain sum: r(x40) = %.3f, want >= 10 * r(x2) = %.3f", s40, 10*s2)
			}
		})
	}
}

// TestNegationScope: the words after a negator get their own buckets, up to
// the scope's length or the next punctuation mark.
func TestNegationScope(t *testing.T) {
	r := configured(t, "negation = 2\n")
	id := r.tok.ID
	for _, tc := range []struct {
		text string
		want []int32
	}{
		{"good film", []int32{id("good"), id("film")}},
		{"not good film at all", []int32{id("not"), id("not_good"), id("not_film"), id("at"), id("all")}},
		{"didn't like it", []int32{id("didn't"), id("not_like"), id("not_it")}},
		{"never. good", []int32{id("never"), id("."), id("good")}},
	} {
		if got := r.features(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("features(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}

// TestNegationRecoversAFlippingJudge: a judge that flips the valence of the
// word after "not" is tracked far better with option negation than without.
func TestNegationRecoversAFlippingJudge(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 0))
	j := newLexiconJudge(rng)
	j.flip = true
	train, _ := j.comparisons(rng, 4000)
	held, gold := j.comparisons(rng, 500)
	got := map[int]float64{}
	for _, neg := range []int{0, 1} {
		r := configured(t, fmt.Sprintf("epochs = 5\nbound = 0\nnegation = %d\n", neg))
		if _, err := r.Train(context.Background(), &sdk.TrainRequest{Train: train}); err != nil {
			t.Fatal(err)
		}
		var sc, g []float64
		for i, c := range held {
			sc = append(sc, r.score(r.features(c.Chosen)), r.score(r.features(c.Rejected)))
			g = append(g, gold[i][0], gold[i][1])
		}
		got[neg] = spearman(sc, g)
	}
	t.Logf("held-out Spearman %.3f with negation, %.3f without", got[1], got[0])
	if got[1] < 0.9 || got[1] < got[0]+0.05 {
		t.Errorf("held-out Spearman %.3f with negation, %.3f without: want >= 0.9 and 0.05 above", got[1], got[0])
	}
}
