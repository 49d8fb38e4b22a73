package sdktest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
	"github.com/p3o-rlhf/p3o/sdk"
)

// safeCall runs f, turning a panic into an error wrapping errPanicked.
func safeCall(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v\n%s", errPanicked, p, debug.Stack())
		}
	}()
	return f()
}

// Score scores samples and checks the answer: one finite score per sample.
func Score(ctx context.Context, impl sdk.Reward, samples []sdk.Sample) ([]float64, error) {
	var resp *sdk.ScoreResponse
	err := safeCall(func() error {
		var err error
		resp, err = impl.Score(ctx, &sdk.ScoreRequest{Samples: samples})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("score %d samples: %w", len(samples), err)
	}
	if resp == nil {
		return nil, fmt.Errorf("score %d samples: nil response", len(samples))
	}
	if len(resp.Scores) != len(samples) {
		return nil, fmt.Errorf("score %d samples: got %d scores, want one per sample", len(samples), len(resp.Scores))
	}
	for i, x := range resp.Scores {
		if !sdk.Finite(x) {
			return nil, fmt.Errorf("score %d samples: score %d is %v, want finite", len(samples), i, x)
		}
	}
	return resp.Scores, nil
}

// sameScores compares the scores of the same samples from two sources.
func sameScores(what string, got, want []float64, tol float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("%s: %d scores, want %d", what, len(got), len(want))
	}
	for i := range want {
		if !agree(got[i], want[i], tol) {
			return fmt.Errorf("%s: sample %d scores %v, want %v (difference %.3g, allowed %g)", what, i, got[i], want[i], got[i]-want[i], tol)
		}
	}
	return nil
}

func agree(a, b, tol float64) bool {
	if tol == 0 {
		return math.Float64bits(a) == math.Float64bits(b)
	}
	return math.Abs(a-b) <= tol
}

// CheckRewardSpec checks the Spec of impl (configured with opts.Config) and
// its options:
// kind, name, version, protocol version, no algorithm fields; an unknown
// option is rejected by fresh (naming it); the Spec's defaults spelled out
// under opts.Config configure fresh2 to score exactly as a plugin configured
// with opts.Config alone (the Spec's DefaultOptions are what a host writes in
// a run's config.toml and sends back on --resume).
func CheckRewardSpec(ctx context.Context, impl sdk.Reward, spec *sdk.Spec, fresh, fresh2 sdk.Reward, opts RewardOptions) []error {
	opts = opts.withDefaults()
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if spec.Kind != sdk.KindReward {
		fail("Spec.Kind is %q, want %q", spec.Kind, sdk.KindReward)
	}
	if spec.Name == "" || spec.Version == "" {
		fail("Spec.Name %q, Spec.Version %q: want both set (the host logs them and keys its caches by them)", spec.Name, spec.Version)
	}
	if spec.ProtocolVersion != sdk.ProtocolVersion {
		fail("Spec.ProtocolVersion is %d, want %d (sdk.ProtocolVersion)", spec.ProtocolVersion, sdk.ProtocolVersion)
	}
	if spec.Mode != "" || spec.ResponsesPerPrompt != 0 || spec.NeedsValueHead || spec.NeedsReference || spec.ShiftInvariant {
		fail("a reward Spec sets algorithm fields (mode %q, responses per prompt %d, value head %v, reference %v, shift invariant %v)",
			spec.Mode, spec.ResponsesPerPrompt, spec.NeedsValueHead, spec.NeedsReference, spec.ShiftInvariant)
	}

	const unknown = "p3o_sdktest_no_such_option"
	bad := append(append([]byte(nil), opts.Config...), []byte("\n"+unknown+" = 1\n")...)
	if _, err := ConfigureReward(ctx, fresh, bad); err == nil {
		fail("Configure accepted the unknown option %s: options must be decoded strictly (sdk.DecodeOptions)", unknown)
	} else if errors.Is(err, errPanicked) {
		fail("Configure with an unknown option: %v", err)
	} else if !strings.Contains(err.Error(), unknown) {
		fail("Configure with an unknown option: error %q does not name the option %s", err, unknown)
	}

	full, err := withDefaults(spec.DefaultOptions, opts.Config)
	if err != nil {
		fail("%v", err)
		return errs
	}
	if _, err := ConfigureReward(ctx, fresh2, full); err != nil {
		fail("Configure with the Spec's DefaultOptions spelled out under Config (what a resumed run sends):\n%s\n%v", full, err)
		return errs
	}
	want, err := Score(ctx, impl, opts.Samples)
	if err != nil {
		fail("%v", err)
		return errs
	}
	got, err := Score(ctx, fresh2, opts.Samples)
	if err != nil {
		fail("configured with the defaults spelled out: %v", err)
	} else if err := sameScores("configured with the Spec's DefaultOptions spelled out vs left out (a default in the Spec differs from the one the plugin applies)", got, want, opts.Tol); err != nil {
		fail("%v", err)
	}
	return errs
}

// withDefaults renders config's keys over defaults as one TOML table.
func withDefaults(defaults map[string]any, config []byte) ([]byte, error) {
	m := map[string]any{}
	for k, v := range defaults {
		m[k] = v
	}
	var user map[string]any
	if _, err := toml.Decode(string(config), &user); err != nil {
		return nil, fmt.Errorf("RewardOptions.Config is not TOML: %w", err)
	}
	for k, v := range user {
		m[k] = v
	}
	return sdk.EncodeOptions(m)
}

// CheckRewardDeterminism scores opts.Samples twice with impl (configured)
// and once with other, configured here with opts.Config: all three must
// agree (within opts.Tol).
func CheckRewardDeterminism(ctx context.Context, impl, other sdk.Reward, opts RewardOptions) error {
	opts = opts.withDefaults()
	a, err := Score(ctx, impl, opts.Samples)
	if err != nil {
		return err
	}
	b, err := Score(ctx, impl, opts.Samples)
	if err != nil {
		return err
	}
	if err := sameScores("the same request twice", b, a, 0); err != nil {
		return err
	}
	if _, err := ConfigureReward(ctx, other, opts.Config); err != nil {
		return fmt.Errorf("second instance: %w", err)
	}
	c, err := Score(ctx, other, opts.Samples)
	if err != nil {
		return fmt.Errorf("second instance: %w", err)
	}
	return sameScores("a second instance configured alike (seed everything)", c, a, opts.Tol)
}

// CheckBatchIndependence checks that a sample's score does not depend on
// the other samples of its request or their order: each sample alone, in the
// full request, reversed, and shuffled with duplicates among other samples
// must score the same (within opts.Tol). An empty request must give no
// scores and no error. impl must be configured.
func CheckBatchIndependence(ctx context.Context, impl sdk.Reward, opts RewardOptions) error {
	opts = opts.withDefaults()
	s := opts.Samples
	full, err := Score(ctx, impl, s)
	if err != nil {
		return err
	}
	for i := range s {
		one, err := Score(ctx, impl, s[i:i+1])
		if err != nil {
			return fmt.Errorf("sample %d alone: %w", i, err)
		}
		if !agree(one[0], full[i], opts.Tol) {
			return fmt.Errorf("sample %d scores %v alone and %v in a request of %d (difference %.3g): a sample's score must not depend on the other samples of its request",
				i, one[0], full[i], len(s), one[0]-full[i])
		}
	}
	rev := make([]sdk.Sample, len(s))
	for i := range s {
		rev[len(s)-1-i] = s[i]
	}
	got, err := Score(ctx, impl, rev)
	if err != nil {
		return fmt.Errorf("reversed: %w", err)
	}
	for i := range s {
		if !agree(got[len(s)-1-i], full[i], opts.Tol) {
			return fmt.Errorf("sample %d scores %v in reverse order and %v in order: a sample's score must not depend on its position", i, got[len(s)-1-i], full[i])
		}
	}
	// Shuffled, each sample twice, among samples the plugin saw nowhere else.
	rng := newRNG(opts.Seed, 21)
	var mixed []sdk.Sample
	var index []int // index[k]: which of s mixed[k] is, -1 for an extra
	for i := range s {
		mixed, index = append(mixed, s[i], s[i]), append(index, i, i)
	}
	for k, extra := range []string{"An extra sample", strings.Repeat("zzz ", 64), "ok"} {
		mixed = append(mixed, sdk.Sample{Prompt: fmt.Sprintf("Extra %d:", k), Response: extra,
			PromptTokens: byteTokens(fmt.Sprintf("Extra %d:", k)), ResponseTokens: byteTokens(extra)})
		index = append(index, -1)
	}
	rng.Shuffle(len(mixed), func(a, b int) {
		mixed[a], mixed[b] = mixed[b], mixed[a]
		index[a], index[b] = index[b], index[a]
	})
	got, err = Score(ctx, impl, mixed)
	if err != nil {
		return fmt.Errorf("shuffled with duplicates: %w", err)
	}
	for k, i := range index {
		if i >= 0 && !agree(got[k], full[i], opts.Tol) {
			return fmt.Errorf("sample %d scores %v shuffled among %d samples and %v in order: a sample's score must not depend on the other samples of its request or their order",
				i, got[k], len(mixed), full[i])
		}
	}
	var resp *sdk.ScoreResponse
	err = safeCall(func() error {
		var err error
		resp, err = impl.Score(ctx, &sdk.ScoreRequest{})
		return err
	})
	if err != nil {
		return fmt.Errorf("an empty request: %w (want no scores and no error)", err)
	}
	if resp == nil || len(resp.Scores) != 0 {
		return fmt.Errorf("an empty request: got %v, want no scores", resp)
	}
	return nil
}

// CheckRewardConcurrency sends four requests at once (different orders of
// opts.Samples) and checks each gets the scores the samples get alone in
// order. A host may score from several goroutines; sdk.RewardClient is safe
// for concurrent use, so the plugin must be too. impl must be configured.
func CheckRewardConcurrency(ctx context.Context, impl sdk.Reward, opts RewardOptions) error {
	opts = opts.withDefaults()
	want, err := Score(ctx, impl, opts.Samples)
	if err != nil {
		return err
	}
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	for g := range n {
		rng := newRNG(opts.Seed, 30+uint64(g))
		perm := rng.Perm(len(opts.Samples))
		req := make([]sdk.Sample, len(perm))
		for k, i := range perm {
			req[k] = opts.Samples[i]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				got, err := Score(ctx, impl, req)
				if err != nil {
					errs[g] = err
					return
				}
				for k, i := range perm {
					if !agree(got[k], want[i], opts.Tol) {
						errs[g] = fmt.Errorf("sample %d scores %v in one of %d concurrent requests and %v alone: the plugin is not safe for concurrent use", i, got[k], n, want[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// CheckRewardState checks SaveState and LoadState. a, b and c are fresh
// instances; each is configured here with opts.Config.
//
// Not trainable: Train is an error; a's state loads into b, which then
// scores as a.
//
// Trainable: a trains TrainSteps steps (the report is checked and the
// scores must change); its state loads into b, which scores as a; a and b
// both train TrainSteps more and must report the same steps and score the
// same; c trains 2*TrainSteps in one call and must score as they do.
func CheckRewardState(ctx context.Context, spec *sdk.Spec, a, b, c sdk.Reward, opts RewardOptions) error {
	opts = opts.withDefaults()
	for name, r := range map[string]sdk.Reward{"first": a, "second": b, "third": c} {
		if _, err := ConfigureReward(ctx, r, opts.Config); err != nil {
			return fmt.Errorf("%s instance: %w", name, err)
		}
	}
	before, err := Score(ctx, a, opts.Samples)
	if err != nil {
		return err
	}
	train, held := splitComparisons(opts.Comparisons)
	if !spec.Trainable {
		err := safeCall(func() error {
			_, err := a.Train(ctx, &sdk.TrainRequest{Train: train, HeldOut: held})
			return err
		})
		if err == nil {
			return errors.New("Train succeeded on a plugin whose Spec says it is not trainable")
		}
		if errors.Is(err, errPanicked) {
			return fmt.Errorf("Train: %w", err)
		}
		return loadsInto(ctx, a, b, before, "", opts)
	}

	step := func(r sdk.Reward, steps int, what string) (*sdk.TrainResponse, error) {
		var resp *sdk.TrainResponse
		err := safeCall(func() error {
			var err error
			resp, err = r.Train(ctx, &sdk.TrainRequest{Train: train, HeldOut: held, MaxSteps: steps})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("%s: Train(MaxSteps %d): %w", what, steps, err)
		}
		if resp == nil {
			return nil, fmt.Errorf("%s: Train returned nil", what)
		}
		if !sdk.Finite(resp.Loss) || !(resp.HeldOutAccuracy >= 0 && resp.HeldOutAccuracy <= 1) {
			return nil, fmt.Errorf("%s: Train reports loss %v and held-out accuracy %v, want finite and in [0, 1]", what, resp.Loss, resp.HeldOutAccuracy)
		}
		for k, v := range resp.Stats {
			if !sdk.Finite(v) {
				return nil, fmt.Errorf("%s: Train stat %s is %v", what, k, v)
			}
		}
		return resp, nil
	}
	k := opts.TrainSteps
	r1, err := step(a, k, "first instance")
	if err != nil {
		return err
	}
	if r1.Steps != k || r1.Done {
		return fmt.Errorf("first instance: after Train(MaxSteps %d): Steps %d, Done %v; want %d steps and budget left (give the plugin a budget of at least %d steps in RewardOptions.Config)", k, r1.Steps, r1.Done, k, 2*k)
	}
	trained, err := Score(ctx, a, opts.Samples)
	if err != nil {
		return err
	}
	if sameScores("", trained, before, 0) == nil {
		return fmt.Errorf("scores are bit for bit the same before and after %d training steps: Train changed nothing", k)
	}
	if err := loadsInto(ctx, a, b, trained, "after training", opts); err != nil {
		return err
	}
	ra, err := step(a, k, "first instance, continuing")
	if err != nil {
		return err
	}
	rb, err := step(b, k, "second instance, continuing from the loaded state")
	if err != nil {
		return err
	}
	if ra.Steps == rb.Steps && ra.Steps < 2*k && ra.Done && rb.Done {
		return fmt.Errorf("continuing: the training budget ran out at %d steps; give the plugin a budget of at least %d steps in RewardOptions.Config", ra.Steps, 2*k)
	}
	if ra.Steps != 2*k || rb.Steps != 2*k {
		return fmt.Errorf("continuing: Steps %d (saving instance) and %d (loading instance), want %d: the state must carry the step count", ra.Steps, rb.Steps, 2*k)
	}
	sa, err := Score(ctx, a, opts.Samples)
	if err != nil {
		return err
	}
	sb, err := Score(ctx, b, opts.Samples)
	if err != nil {
		return err
	}
	if err := sameScores("continued training after LoadState vs without a save (the state must hold everything: weights, optimiser moments, step, data order)", sb, sa, opts.Tol); err != nil {
		return err
	}
	if _, err := step(c, 2*k, "third instance, straight"); err != nil {
		return err
	}
	sc, err := Score(ctx, c, opts.Samples)
	if err != nil {
		return err
	}
	return sameScores(fmt.Sprintf("%d steps in one Train call vs two calls of %d (a host trains in chunks)", 2*k, k), sc, sa, opts.Tol)
}

// loadsInto saves from's state, loads it into to and checks to scores want.
func loadsInto(ctx context.Context, from, to sdk.Reward, want []float64, when string, opts RewardOptions) error {
	var state []byte
	if err := safeCall(func() error {
		var err error
		state, err = from.SaveState(ctx)
		return err
	}); err != nil {
		return fmt.Errorf("SaveState %s: %w", when, err)
	}
	if err := safeCall(func() error { return to.LoadState(ctx, state) }); err != nil {
		return fmt.Errorf("LoadState of a %d-byte state saved %s into a fresh instance: %w", len(state), when, err)
	}
	got, err := Score(ctx, to, opts.Samples)
	if err != nil {
		return fmt.Errorf("after LoadState: %w", err)
	}
	return sameScores("a fresh instance after LoadState vs the instance that saved the state "+when, got, want, opts.Tol)
}

// splitComparisons keeps the last quarter for evaluation.
func splitComparisons(cs []sdk.Comparison) (train, held []sdk.Comparison) {
	n := len(cs) - len(cs)/4
	if n == len(cs) && n > 1 {
		n--
	}
	return cs[:n], cs[n:]
}

// CheckRewardBadInput sends a fresh instance (configured here) the input a
// plugin must refuse, and returns one error per case it accepted, panicked
// on, or answered vaguely:
//
//   - LoadState of bytes that no SaveState wrote, and of the plugin's own
//     state truncated, must be errors that leave it scoring as before
//     (nothing loaded is better than half loaded); LoadState of the empty
//     state too, for a plugin whose own state is not empty;
//   - a trainable plugin's Train without comparisons, or with negative
//     MaxSteps, must be an error;
//   - with opts.VocabSize set: token ids below 0 or at or above VocabSize
//     must be an error naming the token.
func CheckRewardBadInput(ctx context.Context, spec *sdk.Spec, impl sdk.Reward, opts RewardOptions) []error {
	opts = opts.withDefaults()
	if _, err := ConfigureReward(ctx, impl, opts.Config); err != nil {
		return []error{err}
	}
	want, err := Score(ctx, impl, opts.Samples)
	if err != nil {
		return []error{err}
	}
	var state []byte
	if err := safeCall(func() error {
		var err error
		state, err = impl.SaveState(ctx)
		return err
	}); err != nil {
		return []error{fmt.Errorf("SaveState: %w", err)}
	}
	var fails []error
	rejected := func(name string, err error, words ...string) {
		switch {
		case err == nil:
			fails = append(fails, fmt.Errorf("%s: accepted, want an error", name))
		case errors.Is(err, errPanicked):
			fails = append(fails, fmt.Errorf("%s: %w", name, err))
		case len(words) > 0 && !containsAny(strings.ToLower(err.Error()), words):
			fails = append(fails, fmt.Errorf("%s: error %q does not name the problem (want one of %q)", name, err, words))
		}
	}
	unchanged := func(name string) {
		got, err := Score(ctx, impl, opts.Samples)
		if err != nil {
			fails = append(fails, fmt.Errorf("after %s: %w", name, err))
			return
		}
		if err := sameScores("after a refused "+name, got, want, 0); err != nil {
			fails = append(fails, fmt.Errorf("%w: a failed LoadState must leave the plugin as it was", err))
		}
	}
	bads := []struct {
		name  string
		state []byte
	}{
		{"LoadState of foreign bytes", []byte("\x00not a state saved by this plugin\xff{\"json\": true}")},
		{"LoadState of one byte", []byte{0x01}},
	}
	if len(state) > 1 {
		bads = append(bads, struct {
			name  string
			state []byte
		}{"LoadState of its own state truncated to half", bytes.Clone(state[:len(state)/2])})
		bads = append(bads, struct {
			name  string
			state []byte
		}{"LoadState of the empty state", []byte{}})
	}
	for _, bad := range bads {
		if bytes.Equal(bad.state, state) {
			continue
		}
		rejected(bad.name, safeCall(func() error { return impl.LoadState(ctx, bad.state) }))
		unchanged(bad.name)
	}
	if spec.Trainable {
		train, held := splitComparisons(opts.Comparisons)
		for _, c := range []struct {
			name  string
			req   sdk.TrainRequest
			words []string
		}{
			{"Train without comparisons", sdk.TrainRequest{HeldOut: held}, []string{"comparison", "empty", "no "}},
			{"Train with MaxSteps -1", sdk.TrainRequest{Train: train, HeldOut: held, MaxSteps: -1}, []string{"max_steps", "maxsteps", "max steps", "-1"}},
		} {
			rejected(c.name, safeCall(func() error {
				_, err := impl.Train(ctx, &c.req)
				return err
			}), c.words...)
		}
	}
	if opts.VocabSize > 0 {
		good := opts.Samples[0]
		for _, c := range []struct {
			name string
			mut  func(s *sdk.Sample)
		}{
			{"a negative prompt token id", func(s *sdk.Sample) { s.PromptTokens = append([]int32{-1}, s.PromptTokens...) }},
			{fmt.Sprintf("response token id %d (VocabSize)", opts.VocabSize), func(s *sdk.Sample) {
				s.ResponseTokens = append(append([]int32(nil), s.ResponseTokens...), int32(opts.VocabSize))
			}},
		} {
			s := good
			c.mut(&s)
			_, err := Score(ctx, impl, []sdk.Sample{opts.Samples[1], s})
			rejected("Score with "+c.name, err, "token")
		}
	}
	return fails
}
