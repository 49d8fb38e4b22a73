package sdktest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/sdk"
)

// NewReward returns a fresh, unconfigured instance of the reward plugin
// under test, each call a new one: a new in-process value
//
//	func(testing.TB) sdk.Reward { return myreward.New() }
//
// or a new plugin process (RewardProcess). The kit needs fresh instances to
// check that a state loads into a process that never saw it, and that two
// instances configured alike score alike. t is the (sub)test asking; a
// factory may fail it and register cleanups on it.
type NewReward func(t testing.TB) sdk.Reward

// RewardOptions tune the reward kit. The zero value runs every check with
// its defaults.
type RewardOptions struct {
	// Config is the TOML text passed to every Configure (empty: defaults).
	Config []byte
	// Samples are scored by every check (default RewardSamples(): short
	// English reviews and the edge cases a host can send).
	Samples []sdk.Sample
	// Comparisons are the training data of a trainable plugin (default
	// ToyComparisons(48, seed)); the last quarter is the held-out set.
	Comparisons []sdk.Comparison
	// TrainSteps is the MaxSteps of each Train call of the state check
	// (default 2). The plugin's budget must allow at least 2*TrainSteps.
	TrainSteps int
	// Tol is the largest |difference| allowed between two scores of the same
	// sample that must be equal (another request, another instance, a
	// loaded state). Default 0: bit for bit.
	Tol float64
	// VocabSize > 0 declares that the plugin scores token ids, all below
	// VocabSize; the kit then sends ids outside [0, VocabSize) and wants an
	// error naming them. 0: the plugin scores the texts and may ignore the
	// ids (the kit cannot know its tokenizer).
	VocabSize int
	// Seed fixes the shuffles and the default comparisons (0: 1).
	Seed uint64
}

func (o RewardOptions) withDefaults() RewardOptions {
	if o.Seed == 0 {
		o.Seed = 1
	}
	if len(o.Samples) == 0 {
		o.Samples = RewardSamples()
	}
	if len(o.Comparisons) == 0 {
		o.Comparisons = ToyComparisons(48, o.Seed)
	}
	if o.TrainSteps <= 0 {
		o.TrainSteps = 2
	}
	return o
}

// RunReward runs the conformance kit for reward plugins, each check a
// subtest:
//
//   - spec: Describe says kind reward, a name, a version and this sdk's
//     protocol version, and sets no algorithm fields; an unknown option is
//     an error naming it; the Spec's DefaultOptions spelled out in full
//     (as a resumed run's config.toml does), under Config, configure a fresh
//     instance that scores exactly as Config alone.
//   - determinism: the same request twice, and a second instance configured
//     alike, give the same scores; every call returns one finite score per
//     sample.
//   - batch_independence: each sample scores the same alone, in the full
//     request, in reverse order, shuffled among duplicates and other
//     samples; an empty request gives no scores and no error.
//   - concurrency: requests sent at once give the scores they give alone
//     (run with -race for in-process plugins).
//   - state: SaveState then LoadState into a fresh instance gives the same
//     scores; a trainable plugin is trained first, Train is checked (steps
//     advance, finite loss, accuracy in [0, 1], scores change), and after
//     loading both instances continue training to the same scores, which
//     also equal one straight run. A non-trainable plugin's Train is an
//     error.
//   - bad_input: LoadState of foreign or truncated bytes is an error and
//     leaves the plugin scoring as before; a trainable plugin rejects Train
//     without comparisons or with negative MaxSteps; with VocabSize set,
//     token ids out of range are rejected.
//
// Calls that panic (in-process plugins) fail the check with the panic.
func RunReward(t *testing.T, newReward NewReward, opts RewardOptions) {
	t.Helper()
	opts = opts.withDefaults()
	ctx := context.Background()
	impl := newReward(t)
	spec, err := ConfigureReward(ctx, impl, opts.Config)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s %s: trainable %v, %d samples", spec.Name, spec.Version, spec.Trainable, len(opts.Samples))
	t.Run("spec", func(t *testing.T) {
		for _, err := range CheckRewardSpec(ctx, impl, spec, newReward(t), newReward(t), opts) {
			t.Error(err)
		}
	})
	t.Run("determinism", func(t *testing.T) {
		if err := CheckRewardDeterminism(ctx, impl, newReward(t), opts); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("batch_independence", func(t *testing.T) {
		if err := CheckBatchIndependence(ctx, impl, opts); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("concurrency", func(t *testing.T) {
		if err := CheckRewardConcurrency(ctx, impl, opts); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("state", func(t *testing.T) {
		if err := CheckRewardState(ctx, spec, newReward(t), newReward(t), newReward(t), opts); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("bad_input", func(t *testing.T) {
		for _, err := range CheckRewardBadInput(ctx, spec, newReward(t), opts) {
			t.Error(err)
		}
	})
}

// ConfigureReward configures impl with config and returns its Spec.
func ConfigureReward(ctx context.Context, impl sdk.Reward, config []byte) (*sdk.Spec, error) {
	if err := safeCall(func() error { return impl.Configure(ctx, &sdk.ConfigureRequest{Options: config}) }); err != nil {
		return nil, fmt.Errorf("configure: %w", err)
	}
	var spec *sdk.Spec
	err := safeCall(func() error {
		var err error
		spec, err = impl.Describe(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("describe: %w", err)
	}
	if spec == nil {
		return nil, fmt.Errorf("describe: nil Spec")
	}
	return spec, nil
}

// RewardSamples returns the kit's default samples: short English reviews
// of both polarities and the edge cases a host may send (an empty response,
// an empty prompt, a long response, non-ASCII text, a byte policy's response
// cut inside a character, control characters, an exact duplicate). Token ids
// are the texts' bytes, as the byte tokenizer makes them.
func RewardSamples() []sdk.Sample {
	texts := [][2]string{
		{"This movie", " was wonderful, I loved every minute of it."},
		{"This movie", " was awful and boring."},
		{"I watched it twice and", " it is the best film of the year!"},
		{"The plot", " makes no sense and the acting is terrible."},
		{"Honestly,", " fine."},
		{"A quiet film", ""},
		{"", "Great cast, great score."},
		{"Long review:", " " + strings.Repeat("good scenes, bad pacing, lovely music; ", 100)},
		{"Café review ☕", " très bon, 日本語も上手 😀"},
		{"Cut off", " caf\xc3"},
		{"Tabs\tand", "\nnew\r\nlines\x00 and a NUL"},
		{"This movie", " was awful and boring."},
	}
	out := make([]sdk.Sample, len(texts))
	for i, pr := range texts {
		out[i] = sdk.Sample{Prompt: pr[0], Response: pr[1], PromptTokens: byteTokens(pr[0]), ResponseTokens: byteTokens(pr[1])}
	}
	return out
}

func byteTokens(s string) []int32 {
	ids := make([]int32, len(s))
	for i := range len(s) {
		ids[i] = int32(s[i])
	}
	return ids
}

// ToyComparisons returns n comparisons a reward model can learn: the chosen
// response holds a positive word, the rejected one a negative word, around
// random filler drawn from seed.
func ToyComparisons(n int, seed uint64) []sdk.Comparison {
	rng := rand.New(rand.NewPCG(seed, 0xc0ffee))
	filler := []string{"the", "film", "a", "plot", "was", "so", "it", "and", "very", "cast"}
	pos := []string{"good", "great", "wonderful", "loved"}
	neg := []string{"bad", "awful", "boring", "hated"}
	words := func(k int) string {
		var b strings.Builder
		for range k {
			b.WriteString(filler[rng.IntN(len(filler))] + " ")
		}
		return b.String()
	}
	cs := make([]sdk.Comparison, n)
	for i := range cs {
		cs[i] = sdk.Comparison{
			Prompt:   fmt.Sprintf("Review %d:", rng.IntN(100)),
			Chosen:   " " + words(2) + pos[rng.IntN(len(pos))],
			Rejected: " " + words(2) + neg[rng.IntN(len(neg))],
		}
	}
	return cs
}
