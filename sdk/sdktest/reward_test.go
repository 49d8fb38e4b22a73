package sdktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/p3o-rlhf/p3o/sdk"
)

// toyReward is a word-weight reward model, trainable or fixed, with knobs
// that break it in the ways the reward kit must catch. Its score is
// sum of weights of the response's words + len/1000 + bonus; training moves
// the weights of the chosen words up and the rejected ones down, one
// comparison per step in a fixed order.
type toyReward struct {
	mu         sync.Mutex
	trainable  bool
	configured bool
	lr         float64
	steps      int
	bonus      float64
	w          map[string]float64
	step       int

	batchNorm      bool // subtract the request's mean score
	positional     bool // add 1e-3 * position in the request
	noise          bool // add random noise
	acceptUnknown  bool // ignore unknown options
	forgetStep     bool // the state does not hold the step
	acceptGarbage  bool // LoadState accepts anything
	halfLoad       bool // LoadState clears the weights before failing
	emptyFails     bool // an empty request is an error
	defaultsDiffer bool // the Spec's default bonus is not the one applied
	trainNoop      bool // Train counts steps and learns nothing
	vocab          int  // >0: reject token ids outside [0, vocab)
}

func (r *toyReward) Describe(context.Context) (*sdk.Spec, error) {
	bonus := 0.0
	if r.defaultsDiffer {
		bonus = 1
	}
	return &sdk.Spec{Name: "toyreward", Version: "0.1.0", ProtocolVersion: sdk.ProtocolVersion, Kind: sdk.KindReward,
		Trainable: r.trainable, DefaultOptions: map[string]any{"lr": 0.5, "steps": int64(10), "bonus": bonus}}, nil
}

func (r *toyReward) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	o := struct {
		LR    float64 `toml:"lr"`
		Steps int     `toml:"steps"`
		Bonus float64 `toml:"bonus"`
	}{0.5, 10, 0}
	if err := sdk.DecodeOptions(req.Options, &o); err != nil && !r.acceptUnknown {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lr, r.steps, r.bonus, r.w, r.step, r.configured = o.LR, o.Steps, o.Bonus, map[string]float64{"good": 1, "bad": -1, "wonderful": 1, "awful": -1}, 0, true
	return nil
}

func (r *toyReward) Score(_ context.Context, req *sdk.ScoreRequest) (*sdk.ScoreResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(req.Samples) == 0 && r.emptyFails {
		return nil, errors.New("nothing to score")
	}
	out := make([]float64, len(req.Samples))
	var mean float64
	for i, s := range req.Samples {
		if r.vocab > 0 {
			for _, ids := range [][]int32{s.PromptTokens, s.ResponseTokens} {
				for _, id := range ids {
					if id < 0 || int(id) >= r.vocab {
						return nil, fmt.Errorf("sample %d: token id %d outside the vocabulary [0, %d)", i, id, r.vocab)
					}
				}
			}
		}
		for _, w := range strings.Fields(strings.ToLower(s.Response)) {
			out[i] += r.w[strings.Trim(w, ".,!;")]
		}
		out[i] += float64(len(s.Response))/1000 + r.bonus
		if r.positional {
			out[i] += 1e-3 * float64(i)
		}
		if r.noise {
			out[i] += rand.Float64() * 1e-9
		}
		mean += out[i] / float64(len(req.Samples))
	}
	if r.batchNorm {
		for i := range out {
			out[i] -= mean
		}
	}
	return &sdk.ScoreResponse{Scores: out}, nil
}

func (r *toyReward) Train(_ context.Context, req *sdk.TrainRequest) (*sdk.TrainResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.trainable {
		return nil, errors.New("toyreward is not trainable")
	}
	if len(req.Train) == 0 {
		return nil, errors.New("train: no comparisons")
	}
	if req.MaxSteps < 0 {
		return nil, fmt.Errorf("train: max_steps %d: want >= 0", req.MaxSteps)
	}
	todo := r.steps - r.step
	if req.MaxSteps > 0 {
		todo = min(todo, req.MaxSteps)
	}
	for range todo {
		c := req.Train[r.step%len(req.Train)]
		if !r.trainNoop {
			for _, w := range strings.Fields(c.Chosen) {
				r.w[w] += r.lr
			}
			for _, w := range strings.Fields(c.Rejected) {
				r.w[w] -= r.lr
			}
			r.lr *= 0.9 // a schedule: lost on reload unless the step is saved
		}
		r.step++
	}
	return &sdk.TrainResponse{Steps: r.step, Done: r.step >= r.steps, Loss: 0.5, HeldOutAccuracy: 1}, nil
}

type toyState struct {
	Step int                `json:"step"`
	LR   float64            `json:"lr"`
	W    map[string]float64 `json:"w"`
}

func (r *toyReward) SaveState(context.Context) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := toyState{Step: r.step, LR: r.lr, W: r.w}
	if r.forgetStep {
		st.Step = 0
	}
	b, err := json.Marshal(st)
	return append([]byte("TOY1"), b...), err
}

func (r *toyReward) LoadState(_ context.Context, state []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.halfLoad {
		r.w = map[string]float64{}
	}
	var st toyState
	if !strings.HasPrefix(string(state), "TOY1") || json.Unmarshal(state[4:], &st) != nil {
		if r.acceptGarbage {
			return nil
		}
		return errors.New("load state: not a toyreward state")
	}
	r.step, r.lr, r.w = st.Step, st.LR, st.W
	return nil
}

func toyFactory(mut func(r *toyReward)) NewReward {
	return func(testing.TB) sdk.Reward {
		r := &toyReward{}
		if mut != nil {
			mut(r)
		}
		return r
	}
}

func TestRewardKitPasses(t *testing.T) {
	t.Run("fixed", func(t *testing.T) {
		RunReward(t, toyFactory(nil), RewardOptions{})
	})
	t.Run("trainable", func(t *testing.T) {
		RunReward(t, toyFactory(func(r *toyReward) { r.trainable = true }), RewardOptions{})
	})
	t.Run("token ids", func(t *testing.T) {
		RunReward(t, toyFactory(func(r *toyReward) { r.vocab = 256 }), RewardOptions{VocabSize: 256})
	})
}

// failures runs every reward check on a toy built by factory and returns
// the messages of the checks that failed, by check name.
func failures(t *testing.T, factory NewReward, opts RewardOptions) map[string]string {
	t.Helper()
	ctx := context.Background()
	impl := factory(t)
	spec, err := ConfigureReward(ctx, impl, opts.Config)
	if err != nil {
		return map[string]string{"configure": err.Error()}
	}
	out := map[string]string{}
	add := func(name string, errs ...error) {
		if err := errors.Join(errs...); err != nil {
			out[name] = err.Error()
		}
	}
	add("spec", CheckRewardSpec(ctx, impl, spec, factory(t), factory(t), opts)...)
	add("determinism", CheckRewardDeterminism(ctx, impl, factory(t), opts))
	add("batch_independence", CheckBatchIndependence(ctx, impl, opts))
	add("concurrency", CheckRewardConcurrency(ctx, impl, opts))
	add("state", CheckRewardState(ctx, spec, factory(t), factory(t), factory(t), opts))
	add("bad_input", CheckRewardBadInput(ctx, spec, factory(t), opts)...)
	return out
}

func TestRewardKitCatches(t *testing.T) {
	tests := []struct {
		name  string
		mut   func(r *toyReward)
		opts  RewardOptions
		check string // the check that must fail
		want  string // in its message
	}{
		{"batch-normalised scores", func(r *toyReward) { r.batchNorm = true }, RewardOptions{}, "batch_independence", "alone"},
		{"position-dependent scores", func(r *toyReward) { r.positional = true }, RewardOptions{}, "batch_independence", "alone"},
		{"noisy scores", func(r *toyReward) { r.noise = true }, RewardOptions{}, "determinism", "the same request twice"},
		{"unknown options accepted", func(r *toyReward) { r.acceptUnknown = true }, RewardOptions{}, "spec", "accepted the unknown option"},
		{"Spec defaults differ from applied ones", func(r *toyReward) { r.defaultsDiffer = true }, RewardOptions{}, "spec", "DefaultOptions spelled out"},
		{"step not saved", func(r *toyReward) { r.trainable, r.forgetStep = true, true }, RewardOptions{}, "state", "must carry the step count"},
		{"garbage state accepted", func(r *toyReward) { r.acceptGarbage = true }, RewardOptions{}, "bad_input", "foreign bytes: accepted"},
		{"failed load half-applied", func(r *toyReward) { r.halfLoad = true }, RewardOptions{}, "bad_input", "must leave the plugin as it was"},
		{"empty request fails", func(r *toyReward) { r.emptyFails = true }, RewardOptions{}, "batch_independence", "empty request"},
		{"training learns nothing", func(r *toyReward) { r.trainable, r.trainNoop = true, true }, RewardOptions{}, "state", "Train changed nothing"},
		{"fixed reward that trains", func(r *toyReward) { r.trainable = true }, RewardOptions{}, "", ""}, // control: passes
		{"token ids not checked", nil, RewardOptions{VocabSize: 256}, "bad_input", "a negative prompt token id: accepted"},
		{"budget too small", func(r *toyReward) { r.trainable = true }, RewardOptions{Config: []byte("steps = 3")}, "state", "budget"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := failures(t, toyFactory(tt.mut), tt.opts)
			if tt.check == "" {
				if len(got) > 0 {
					t.Errorf("got failures %v, want none", got)
				}
				return
			}
			msg, ok := got[tt.check]
			if !ok {
				t.Fatalf("check %s passed, want it to fail with %q (failures: %v)", tt.check, tt.want, got)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("check %s failed with %q, want %q in it", tt.check, msg, tt.want)
			}
			var others []string
			for k := range got {
				if k != tt.check {
					others = append(others, k)
				}
			}
			sort.Strings(others)
			t.Logf("also failed: %v", others)
		})
	}
}

// TestNonTrainableTrainIsAnError: a fixed reward whose Train succeeds fails
// the state check.
func TestNonTrainableTrainIsAnError(t *testing.T) {
	ctx := context.Background()
	spec := &sdk.Spec{Kind: sdk.KindReward} // says not trainable
	r := toyFactory(func(r *toyReward) { r.trainable = true })
	err := CheckRewardState(ctx, spec, r(t), r(t), r(t), RewardOptions{})
	if err == nil || !strings.Contains(err.Error(), "not trainable") {
		t.Errorf("got %v, want an error about Train succeeding", err)
	}
}

// TestRewardKitOverTheWire builds a small Go reward plugin and runs the kit
// on it through go-plugin (StartReward), as the Python plugin is run.
func TestRewardKitOverTheWire(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go tool")
	}
	exe := BuildPlugin(t, "testdata/lexreward")
	RunReward(t, RewardProcess(exe), RewardOptions{})
}
