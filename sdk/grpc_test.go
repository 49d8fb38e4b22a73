package sdk

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// fakeAlgorithm records what it receives and answers with fixed values that
// depend on the request, so a round trip checks both directions.
type fakeAlgorithm struct {
	spec    *Spec
	options []byte
	got     *Batch
	err     error
	panics  bool
}

func (f *fakeAlgorithm) Describe(context.Context) (*Spec, error) { return f.spec, f.err }

func (f *fakeAlgorithm) Configure(_ context.Context, req *ConfigureRequest) error {
	f.options = req.Options
	return f.err
}

func (f *fakeAlgorithm) Prepare(_ context.Context, req *PrepareRequest) (*PrepareResponse, error) {
	if f.err != nil {
		return nil, f.err
	}
	f.got = &req.Batch
	aux := make([]map[string][]float64, len(req.Batch.Sequences))
	for i, s := range req.Batch.Sequences {
		aux[i] = map[string][]float64{"adv": {s.Reward, -s.Reward}, "ret": {float64(i)}}
	}
	return &PrepareResponse{Aux: aux}, nil
}

func (f *fakeAlgorithm) Loss(_ context.Context, req *LossRequest) (*LossResponse, error) {
	if f.panics {
		var m map[string]int
		m["boom"] = 1
	}
	if f.err != nil {
		return nil, f.err
	}
	f.got = &req.Batch
	r := &LossResponse{Loss: req.Batch.Beta * 2, Stats: map[string]float64{"policy/clipfrac": 0.25}}
	for _, s := range req.Batch.Sequences {
		g := make([]float64, len(s.Logp))
		for t := range g {
			g[t] = s.Logp[t] - s.OldLogp[t]
		}
		r.GradLogp = append(r.GradLogp, g)
		r.GradValues = append(r.GradValues, s.Values)
	}
	return r, nil
}

type fakeReward struct {
	spec    *Spec
	options []byte
	samples []Sample
	train   *TrainRequest
	state   []byte
	err     error
}

func (f *fakeReward) Describe(context.Context) (*Spec, error) { return f.spec, f.err }
func (f *fakeReward) Configure(_ context.Context, req *ConfigureRequest) error {
	f.options = req.Options
	return f.err
}
func (f *fakeReward) Score(_ context.Context, req *ScoreRequest) (*ScoreResponse, error) {
	if f.err != nil {
		return nil, f.err
	}
	f.samples = req.Samples
	s := make([]float64, len(req.Samples))
	for i, x := range req.Samples {
		s[i] = float64(len(x.Response)) + float64(len(x.ResponseTokens))/10
	}
	return &ScoreResponse{Scores: s}, nil
}
func (f *fakeReward) Train(_ context.Context, req *TrainRequest) (*TrainResponse, error) {
	if f.err != nil {
		return nil, f.err
	}
	f.train = req
	return &TrainResponse{Steps: 7, Done: true, Loss: 0.5, HeldOutAccuracy: 0.75, Stats: map[string]float64{"reward/margin": 1}}, nil
}
func (f *fakeReward) SaveState(context.Context) ([]byte, error) { return f.state, f.err }
func (f *fakeReward) LoadState(_ context.Context, b []byte) error {
	f.state = b
	return f.err
}

func testBatch() Batch {
	return Batch{Beta: 0.05, Sequences: []Sequence{
		{Group: 3, Prompt: []int32{1, 2}, Response: []int32{3, 4}, Logp: []float64{-1, -2}, OldLogp: []float64{-1.5, -2.5},
			RefLogp: []float64{-1.25, -2}, Values: []float64{0.5, 0.25}, OldValues: []float64{0.1, 0.2}, Reward: 1.5, Rank: 0,
			Aux: map[string][]float64{"adv": {1, 2}}},
		{Group: 3, Prompt: []int32{1, 2}, Response: []int32{5, 6}, Logp: []float64{-3, -4}, OldLogp: []float64{-3, -4.5},
			RefLogp: []float64{-3, -4}, Values: []float64{0, 1}, OldValues: []float64{0, 1}, Reward: -0.5, Rank: 1,
			Aux: map[string][]float64{"adv": {3, 4}}},
	}}
}

func algorithmConn(t *testing.T, impl Algorithm) *AlgorithmClient {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, plugin.PluginSet{PluginKeyAlgorithm: &AlgorithmGRPCPlugin{Impl: impl}})
	t.Cleanup(func() { client.Close() })
	raw, err := client.Dispense(PluginKeyAlgorithm)
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	return raw.(*AlgorithmClient)
}

func rewardConn(t *testing.T, impl Reward) *RewardClient {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, plugin.PluginSet{PluginKeyReward: &RewardGRPCPlugin{Impl: impl}})
	t.Cleanup(func() { client.Close() })
	raw, err := client.Dispense(PluginKeyReward)
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	return raw.(*RewardClient)
}

func TestAlgorithmRoundTrip(t *testing.T) {
	ctx := context.Background()
	spec := &Spec{Name: "fake", Version: "1.2.3", ProtocolVersion: ProtocolVersion, Kind: KindAlgorithm, Mode: ModeOnline,
		ResponsesPerPrompt: 2, NeedsValueHead: true, NeedsReference: true, ShiftInvariant: true,
		DefaultOptions: map[string]any{"variant": "v2", "clip": 0.2, "c": int64(10), "nested": map[string]any{"on": true}}}
	impl := &fakeAlgorithm{spec: spec}
	c := algorithmConn(t, impl)

	t.Run("Describe", func(t *testing.T) {
		got, err := c.Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, spec) {
			t.Errorf("got %+v, want %+v", got, spec)
		}
	})
	t.Run("Configure", func(t *testing.T) {
		opts := []byte("clip = 0.1\n")
		if err := c.Configure(ctx, &ConfigureRequest{Options: opts}); err != nil {
			t.Fatal(err)
		}
		if string(impl.options) != string(opts) {
			t.Errorf("got options %q, want %q", impl.options, opts)
		}
	})
	t.Run("Prepare", func(t *testing.T) {
		b := testBatch()
		got, err := c.Prepare(ctx, &PrepareRequest{Batch: b})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*impl.got, b) {
			t.Errorf("plugin got %+v, want %+v", *impl.got, b)
		}
		want := []map[string][]float64{{"adv": {1.5, -1.5}, "ret": {0}}, {"adv": {-0.5, 0.5}, "ret": {1}}}
		if !reflect.DeepEqual(got.Aux, want) {
			t.Errorf("got aux %v, want %v", got.Aux, want)
		}
	})
	t.Run("Loss", func(t *testing.T) {
		b := testBatch()
		got, err := c.Loss(ctx, &LossRequest{Batch: b})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*impl.got, b) {
			t.Errorf("plugin got %+v, want %+v", *impl.got, b)
		}
		want := &LossResponse{Loss: 0.1, GradLogp: [][]float64{{0.5, 0.5}, {0, 0.5}},
			GradValues: [][]float64{{0.5, 0.25}, {0, 1}}, Stats: map[string]float64{"policy/clipfrac": 0.25}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
}

func TestRewardRoundTrip(t *testing.T) {
	ctx := context.Background()
	spec := &Spec{Name: "rw", Version: "0.1.0", ProtocolVersion: ProtocolVersion, Kind: KindReward, Trainable: true}
	impl := &fakeReward{spec: spec}
	c := rewardConn(t, impl)

	t.Run("Describe", func(t *testing.T) {
		got, err := c.Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, spec) {
			t.Errorf("got %+v, want %+v", got, spec)
		}
	})
	t.Run("Configure", func(t *testing.T) {
		if err := c.Configure(ctx, &ConfigureRequest{Options: []byte("lr = 1e-3")}); err != nil {
			t.Fatal(err)
		}
		if got, want := string(impl.options), "lr = 1e-3"; got != want {
			t.Errorf("got options %q, want %q", got, want)
		}
	})
	t.Run("Score", func(t *testing.T) {
		samples := []Sample{{Prompt: "a", Response: "bcd", PromptTokens: []int32{97}, ResponseTokens: []int32{98, 99, 100}},
			{Prompt: "é", Response: "", PromptTokens: []int32{195, 169}}}
		got, err := c.Score(ctx, &ScoreRequest{Samples: samples})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(impl.samples, samples) {
			t.Errorf("plugin got %+v, want %+v", impl.samples, samples)
		}
		if want := []float64{3.3, 0}; !reflect.DeepEqual(got.Scores, want) {
			t.Errorf("got scores %v, want %v", got.Scores, want)
		}
	})
	t.Run("Train", func(t *testing.T) {
		req := &TrainRequest{Train: []Comparison{{Prompt: "p", Chosen: "c", Rejected: "r"}},
			HeldOut: []Comparison{{Prompt: "q", Chosen: "x", Rejected: "y"}}, MaxSteps: 12}
		got, err := c.Train(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(impl.train, req) {
			t.Errorf("plugin got %+v, want %+v", impl.train, req)
		}
		want := &TrainResponse{Steps: 7, Done: true, Loss: 0.5, HeldOutAccuracy: 0.75, Stats: map[string]float64{"reward/margin": 1}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
	t.Run("SaveState/LoadState", func(t *testing.T) {
		// TestPluginGRPCConn uses gRPC's default size limits; pluginrt's tests
		// send a state above 4 MiB through a real plugin process.
		state := make([]byte, 1<<20)
		for i := range state {
			state[i] = byte(i * 7)
		}
		if err := c.LoadState(ctx, state); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(impl.state, state) {
			t.Errorf("plugin got a different state (%d bytes), want the sent one (%d bytes)", len(impl.state), len(state))
		}
		got, err := c.SaveState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, state) {
			t.Errorf("got a different state (%d bytes), want the loaded one (%d bytes)", len(got), len(state))
		}
	})
}

func TestPluginErrorsKeepTheirMessage(t *testing.T) {
	ctx := context.Background()
	const msg = `unknown option "clipp" (did you mean clip?)`
	a := algorithmConn(t, &fakeAlgorithm{err: errors.New(msg)})
	r := rewardConn(t, &fakeReward{err: errors.New(msg)})
	calls := map[string]func() error{
		"Algorithm.Describe":  func() error { _, err := a.Describe(ctx); return err },
		"Algorithm.Configure": func() error { return a.Configure(ctx, &ConfigureRequest{}) },
		"Algorithm.Prepare":   func() error { _, err := a.Prepare(ctx, &PrepareRequest{}); return err },
		"Algorithm.Loss":      func() error { _, err := a.Loss(ctx, &LossRequest{}); return err },
		"Reward.Describe":     func() error { _, err := r.Describe(ctx); return err },
		"Reward.Configure":    func() error { return r.Configure(ctx, &ConfigureRequest{}) },
		"Reward.Score":        func() error { _, err := r.Score(ctx, &ScoreRequest{}); return err },
		"Reward.Train":        func() error { _, err := r.Train(ctx, &TrainRequest{}); return err },
		"Reward.SaveState":    func() error { _, err := r.SaveState(ctx); return err },
		"Reward.LoadState":    func() error { return r.LoadState(ctx, nil) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			if err == nil || err.Error() != msg {
				t.Errorf("got error %v, want %q", err, msg)
			}
		})
	}
}

func TestPluginPanicIsAnError(t *testing.T) {
	a := algorithmConn(t, &fakeAlgorithm{panics: true})
	_, err := a.Loss(context.Background(), &LossRequest{Batch: testBatch()})
	if err == nil {
		t.Fatal("got no error from a panicking Loss, want one")
	}
	if want := "Loss: plugin panic: assignment to entry in nil map"; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
}

func TestWrongKindIsErrNotServed(t *testing.T) {
	client, _ := plugin.TestPluginGRPCConn(t, false, plugin.PluginSet{
		PluginKeyReward:    &RewardGRPCPlugin{Impl: &fakeReward{spec: &Spec{Kind: KindReward}}},
		PluginKeyAlgorithm: &clientOnlyAlgorithm{}, // the algorithm service is not registered
	})
	defer client.Close()
	raw, err := client.Dispense(PluginKeyAlgorithm)
	if err == nil {
		_, err = raw.(*AlgorithmClient).Describe(context.Background())
	}
	if !errors.Is(err, ErrNotServed) {
		t.Errorf("got %v, want an error wrapping ErrNotServed", err)
	}
}

// clientOnlyAlgorithm registers nothing on the server side, like a reward
// plugin asked for an algorithm.
type clientOnlyAlgorithm struct{ AlgorithmGRPCPlugin }

func (*clientOnlyAlgorithm) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }
