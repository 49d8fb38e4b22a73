package sdktest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/p3o-rlhf/p3o/sdk"
)

// GradientReport summarises a gradient check.
type GradientReport struct {
	// Coordinates is the number of log-prob and value entries checked.
	Coordinates int
	// Kinks counts coordinates that agreed only at a smaller step (a kink
	// of the loss lies within Step of the point).
	Kinks int
	// Zero counts coordinates whose returned gradient is exactly zero
	// (evidence that clipping was active).
	Zero int
	// MaxError is the largest |fd - grad| among coordinates that agreed.
	MaxError float64
}

// newRNG returns the kit's generator for one check; each check has its own
// stream so checks do not depend on each other's order.
func newRNG(seed uint64, check uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x5d7e57+check))
}

// CheckGradients compares central finite differences of the loss with the
// returned gradients, on opts.Batches random batches alternating near
// (ratios inside clip ranges) and clipped ones. impl must be configured.
func CheckGradients(ctx context.Context, impl sdk.Algorithm, opts Options) (*GradientReport, error) {
	opts = opts.withDefaults()
	spec, err := describe(ctx, impl)
	if err != nil {
		return nil, err
	}
	rng := newRNG(opts.Seed, 1)
	rep := &GradientReport{}
	for n := range opts.Batches {
		far := Far(n%2 == 1)
		b, err := Prepare(ctx, impl, RandomBatch(rng, spec, opts.Groups, opts.MaxTokens, far))
		if err != nil {
			return rep, fmt.Errorf("batch %d: %w", n, err)
		}
		if err := checkBatchGradients(ctx, impl, spec, b, opts, rep); err != nil {
			return rep, fmt.Errorf("batch %d (far=%v): %w", n, far, err)
		}
	}
	allowed := max(1, int(opts.MaxKinkFraction*float64(rep.Coordinates)))
	if rep.Kinks > allowed {
		return rep, fmt.Errorf("%d of %d coordinates lie within a step of a kink (at most %d allowed): the loss is probably discontinuous", rep.Kinks, rep.Coordinates, allowed)
	}
	return rep, nil
}

func checkBatchGradients(ctx context.Context, impl sdk.Algorithm, spec *sdk.Spec, b sdk.Batch, opts Options, rep *GradientReport) error {
	base, err := safeLoss(ctx, impl, &sdk.LossRequest{Batch: b})
	if err != nil {
		return err
	}
	if err := CheckResponse(spec, b, base); err != nil {
		return err
	}
	detached, _ := impl.(DetachedLosser)
	frozen := CloneBatch(b)
	if detached != nil {
		d, err := safeDetached(ctx, detached, &sdk.LossRequest{Batch: b}, &frozen)
		if err != nil {
			return err
		}
		if math.Float64bits(d.Loss) != math.Float64bits(base.Loss) {
			return fmt.Errorf("LossDetached(x, x) = %v, Loss(x) = %v: they must be equal", d.Loss, base.Loss)
		}
	}
	work := CloneBatch(b)
	loss := func() (float64, error) {
		var resp *sdk.LossResponse
		var err error
		if detached != nil {
			resp, err = safeDetached(ctx, detached, &sdk.LossRequest{Batch: work}, &frozen)
		} else {
			resp, err = safeLoss(ctx, impl, &sdk.LossRequest{Batch: work})
		}
		if err != nil {
			return 0, err
		}
		return resp.Loss, nil
	}
	// check compares the derivative of loss along *x with grad.
	check := func(name string, i, t int, x *float64, grad float64) error {
		x0 := *x
		defer func() { *x = x0 }()
		fd := func(h float64) (float64, error) {
			*x = x0 + h
			up, err := loss()
			if err != nil {
				return 0, err
			}
			*x = x0 - h
			down, err := loss()
			if err != nil {
				return 0, err
			}
			return (up - down) / (2 * h), nil
		}
		// Round-off of a difference of two losses of size |L|, divided by 2h.
		tol := func(h float64) float64 {
			return opts.AbsTol + opts.RelTol*math.Abs(grad) + 64*0x1p-52*(1+math.Abs(base.Loss))/h
		}
		rep.Coordinates++
		if grad == 0 {
			rep.Zero++
		}
		var first float64
		for k, h := range []float64{opts.Step, opts.Step / 10, opts.Step / 100} {
			d, err := fd(h)
			if err != nil {
				return err
			}
			if k == 0 {
				first = d
			}
			if e := math.Abs(d - grad); e <= tol(h) {
				if k > 0 {
					rep.Kinks++
				} else {
					rep.MaxError = max(rep.MaxError, e)
				}
				return nil
			}
		}
		return fmt.Errorf("d loss/d %s[%d][%d]: finite difference %.10g, returned gradient %.10g (difference %.3g)", name, i, t, first, grad, first-grad)
	}
	for i := range work.Sequences {
		s := &work.Sequences[i]
		for t := range s.Logp {
			if err := check("Logp", i, t, &s.Logp[t], base.GradLogp[i][t]); err != nil {
				return err
			}
		}
		if spec.NeedsValueHead {
			for t := range s.Values {
				if err := check("Values", i, t, &s.Values[t], base.GradValues[i][t]); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// ShiftChange returns the largest change of any returned gradient (GradLogp
// and GradValues) when delta(group) is added to every reward of the group,
// with one random delta of size about 10 per group, over opts.Batches random
// batches. Prepare and Loss both see the shifted rewards. impl must be
// configured.
func ShiftChange(ctx context.Context, impl sdk.Algorithm, opts Options) (float64, error) {
	opts = opts.withDefaults()
	spec, err := describe(ctx, impl)
	if err != nil {
		return 0, err
	}
	rng := newRNG(opts.Seed, 2)
	change := 0.0
	for n := range opts.Batches {
		raw := RandomBatch(rng, spec, opts.Groups, opts.MaxTokens, Far(n%2 == 1))
		shifted := CloneBatch(raw)
		delta := map[int64]float64{}
		for i := range shifted.Sequences {
			s := &shifted.Sequences[i]
			if _, ok := delta[s.Group]; !ok {
				delta[s.Group] = 3 + 10*rng.NormFloat64()
			}
			s.Reward += delta[s.Group]
		}
		var resp [2]*sdk.LossResponse
		for j, b := range []sdk.Batch{raw, shifted} {
			pb, err := Prepare(ctx, impl, b)
			if err != nil {
				return 0, fmt.Errorf("batch %d: %w", n, err)
			}
			resp[j], err = safeLoss(ctx, impl, &sdk.LossRequest{Batch: pb})
			if err != nil {
				return 0, fmt.Errorf("batch %d: %w", n, err)
			}
			if err := CheckResponse(spec, pb, resp[j]); err != nil {
				return 0, fmt.Errorf("batch %d: %w", n, err)
			}
		}
		for i := range resp[0].GradLogp {
			for t := range resp[0].GradLogp[i] {
				change = max(change, math.Abs(resp[0].GradLogp[i][t]-resp[1].GradLogp[i][t]))
			}
		}
		if spec.NeedsValueHead {
			for i := range resp[0].GradValues {
				for t := range resp[0].GradValues[i] {
					change = max(change, math.Abs(resp[0].GradValues[i][t]-resp[1].GradValues[i][t]))
				}
			}
		}
	}
	return change, nil
}

// CheckShiftInvariance returns ShiftChange and an error when the plugin
// declares itself shift invariant and the change exceeds opts.ShiftTol.
func CheckShiftInvariance(ctx context.Context, impl sdk.Algorithm, opts Options) (float64, error) {
	opts = opts.withDefaults()
	spec, err := describe(ctx, impl)
	if err != nil {
		return 0, err
	}
	change, err := ShiftChange(ctx, impl, opts)
	if err != nil {
		return change, err
	}
	if spec.ShiftInvariant && change > opts.ShiftTol {
		return change, fmt.Errorf("%s declares itself shift invariant, but a per-group reward shift changed its gradients by %.3g (tolerance %.3g)", spec.Name, change, opts.ShiftTol)
	}
	return change, nil
}

// CheckDeterminism calls Prepare and Loss twice with the same requests and
// requires identical bits in the aux arrays, the loss, the gradients and the
// stats. impl must be configured.
func CheckDeterminism(ctx context.Context, impl sdk.Algorithm, opts Options) error {
	opts = opts.withDefaults()
	spec, err := describe(ctx, impl)
	if err != nil {
		return err
	}
	rng := newRNG(opts.Seed, 3)
	for n := range opts.Batches {
		raw := RandomBatch(rng, spec, opts.Groups, opts.MaxTokens, Far(n%2 == 1))
		var b [2]sdk.Batch
		var resp [2]*sdk.LossResponse
		for j := range 2 {
			if b[j], err = Prepare(ctx, impl, raw); err != nil {
				return fmt.Errorf("batch %d: %w", n, err)
			}
			if resp[j], err = safeLoss(ctx, impl, &sdk.LossRequest{Batch: b[j]}); err != nil {
				return fmt.Errorf("batch %d: %w", n, err)
			}
			if err := CheckResponse(spec, b[j], resp[j]); err != nil {
				return fmt.Errorf("batch %d: %w", n, err)
			}
		}
		for i := range b[0].Sequences {
			for name, v := range b[0].Sequences[i].Aux {
				if err := sameBits(fmt.Sprintf("aux %q[%d]", name, i), v, b[1].Sequences[i].Aux[name]); err != nil {
					return fmt.Errorf("batch %d: %w", n, err)
				}
			}
		}
		if err := sameResponse(resp[0], resp[1]); err != nil {
			return fmt.Errorf("batch %d: %w", n, err)
		}
	}
	return nil
}

func sameResponse(a, b *sdk.LossResponse) error {
	if err := sameBits("loss", []float64{a.Loss}, []float64{b.Loss}); err != nil {
		return err
	}
	for i := range a.GradLogp {
		if err := sameBits(fmt.Sprintf("GradLogp[%d]", i), a.GradLogp[i], b.GradLogp[i]); err != nil {
			return err
		}
	}
	if len(a.GradValues) != len(b.GradValues) {
		return fmt.Errorf("GradValues: %d rows, then %d", len(a.GradValues), len(b.GradValues))
	}
	for i := range a.GradValues {
		if err := sameBits(fmt.Sprintf("GradValues[%d]", i), a.GradValues[i], b.GradValues[i]); err != nil {
			return err
		}
	}
	if len(a.Stats) != len(b.Stats) {
		return fmt.Errorf("stats: %d, then %d entries", len(a.Stats), len(b.Stats))
	}
	for k, v := range a.Stats {
		w, ok := b.Stats[k]
		if !ok {
			return fmt.Errorf("stat %q missing the second time", k)
		}
		if err := sameBits("stat "+k, []float64{v}, []float64{w}); err != nil {
			return err
		}
	}
	return nil
}

func sameBits(name string, a, b []float64) error {
	if len(a) != len(b) {
		return fmt.Errorf("%s: %d entries, then %d", name, len(a), len(b))
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return fmt.Errorf("%s[%d]: %v, then %v for the same request", name, i, a[i], b[i])
		}
	}
	return nil
}

// BadInput is one malformed batch the kit sends, with the words the error
// must contain: every group of Want must have one word in the message
// (case-insensitive).
type BadInput struct {
	Name  string
	Batch sdk.Batch
	Want  [][]string
}

// BadInputs returns the malformed batches the kit sends to a plugin shaped by
// spec, each made from a valid random batch: NaN and Inf rewards, a NaN
// log-prob, NaN/Inf rollout and reference log-probs, a NaN KL coefficient, a
// Logp longer than the response, a group with one sequence too many, an empty
// batch, and (per spec) a missing RefLogp, missing or NaN Values. Rollout
// log-probs are only checked for online algorithms.
func BadInputs(rng *rand.Rand, spec *sdk.Spec, groups, maxTokens int) []BadInput {
	good := RandomBatch(rng, spec, max(groups, 2), maxTokens, Near)
	var cases []BadInput
	add := func(name string, want [][]string, mutate func(b *sdk.Batch)) {
		b := CloneBatch(good)
		mutate(&b)
		cases = append(cases, BadInput{Name: name, Batch: b, Want: want})
	}
	nan := []string{"nan", "finite"}
	inf := []string{"inf", "finite"}
	last := len(good.Sequences) - 1
	add("NaN reward", [][]string{{"reward"}, nan}, func(b *sdk.Batch) { b.Sequences[0].Reward = math.NaN() })
	add("+Inf reward", [][]string{{"reward"}, inf}, func(b *sdk.Batch) { b.Sequences[last].Reward = math.Inf(1) })
	add("NaN logp", [][]string{{"logp"}, nan}, func(b *sdk.Batch) { b.Sequences[1].Logp[0] = math.NaN() })
	add("-Inf logp", [][]string{{"logp"}, inf}, func(b *sdk.Batch) {
		s := b.Sequences[last]
		s.Logp[len(s.Logp)-1] = math.Inf(-1)
	})
	add("NaN beta", [][]string{{"beta"}, nan}, func(b *sdk.Batch) { b.Beta = math.NaN() })
	add("ragged logp", [][]string{{"logp"}}, func(b *sdk.Batch) { b.Sequences[0].Logp = append(b.Sequences[0].Logp, -1) })
	add("group of the wrong size", [][]string{{"group"}}, func(b *sdk.Batch) {
		k := max(spec.ResponsesPerPrompt, 1)
		extra := cloneSequence(b.Sequences[0])
		b.Sequences = append(b.Sequences[:k], append([]sdk.Sequence{extra}, b.Sequences[k:]...)...)
	})
	add("empty batch", [][]string{{"empty"}}, func(b *sdk.Batch) { b.Sequences = nil })
	if spec.Mode != sdk.ModeOffline {
		add("NaN old_logp", [][]string{{"old_logp", "oldlogp", "old logp"}, nan}, func(b *sdk.Batch) { b.Sequences[0].OldLogp[0] = math.NaN() })
		add("ragged old_logp", [][]string{{"old_logp", "oldlogp", "old logp"}}, func(b *sdk.Batch) { b.Sequences[1].OldLogp = append(b.Sequences[1].OldLogp, -1) })
	}
	if spec.NeedsReference {
		add("missing ref_logp", [][]string{{"ref"}}, func(b *sdk.Batch) { b.Sequences[1].RefLogp = nil })
		add("+Inf ref_logp", [][]string{{"ref"}, inf}, func(b *sdk.Batch) { b.Sequences[0].RefLogp[0] = math.Inf(1) })
	}
	if spec.NeedsValueHead {
		add("missing values", [][]string{{"value"}}, func(b *sdk.Batch) { b.Sequences[0].Values = nil })
		add("missing old values", [][]string{{"value"}}, func(b *sdk.Batch) { b.Sequences[1].OldValues = nil })
		add("NaN values", [][]string{{"value"}, nan}, func(b *sdk.Batch) { b.Sequences[last].Values[0] = math.NaN() })
	}
	return cases
}

// CheckBadInput sends every BadInputs batch to Prepare (as at rollout time)
// and, when Prepare accepts it, to Loss with the returned aux arrays. Each
// must be rejected by one of them with an error naming the problem; a panic,
// an accepted batch or a vague error is returned as a failure, one per case.
// impl must be configured.
func CheckBadInput(ctx context.Context, impl sdk.Algorithm, opts Options) []error {
	opts = opts.withDefaults()
	spec, err := describe(ctx, impl)
	if err != nil {
		return []error{err}
	}
	var fails []error
	for _, c := range BadInputs(newRNG(opts.Seed, 4), spec, opts.Groups, opts.MaxTokens) {
		err := rejects(ctx, impl, spec, c.Batch)
		if err == nil {
			fails = append(fails, fmt.Errorf("%s: accepted, want an error", c.Name))
			continue
		}
		if errors.Is(err, errAccepted) || errors.Is(err, errPanicked) {
			fails = append(fails, fmt.Errorf("%s: %w", c.Name, err))
			continue
		}
		msg := strings.ToLower(err.Error())
		for _, words := range c.Want {
			if !containsAny(msg, words) {
				fails = append(fails, fmt.Errorf("%s: error %q does not name the problem (want one of %q)", c.Name, err, words))
				break
			}
		}
	}
	return fails
}

// errAccepted marks a bad batch that went through.
var errAccepted = errors.New("accepted")

// errPanicked marks a call that panicked.
var errPanicked = errors.New("panicked")

// rejects returns the error with which Prepare or Loss rejected b, or nil.
func rejects(ctx context.Context, impl sdk.Algorithm, spec *sdk.Spec, b sdk.Batch) error {
	pb, err := Prepare(ctx, impl, b)
	if err != nil {
		return err
	}
	resp, err := safeLoss(ctx, impl, &sdk.LossRequest{Batch: pb})
	if err != nil {
		return err
	}
	if err := CheckResponse(spec, pb, resp); err != nil {
		return fmt.Errorf("%w with a malformed response: %v", errAccepted, err)
	}
	return nil
}

func containsAny(s string, words []string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}
