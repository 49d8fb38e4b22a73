package rl

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/p3o-rlhf/p3o/host/internal/metrics"
	"github.com/p3o-rlhf/p3o/nn"
	"github.com/p3o-rlhf/p3o/sdk"
)

// stepTimes accumulates where a step's wall time goes.
type stepTimes struct {
	rollout, ref, reward, plugin, train time.Duration
	rolloutTokens, trainTokens          int
}

// sampleOptions are the rollout's sampling options: fixed-length responses
// with end-of-text banned (task.stop = "none"), or responses that end at
// end-of-text, kept as their last token, or at the limit (task.stop =
// "eot"; the sampler drops finished sequences from its batch).
func (r *Run) sampleOptions(temperature float64) nn.SampleOptions {
	o := nn.SampleOptions{
		MaxNew:      r.Cfg.Task.MaxResponse(),
		Temperature: temperature,
		TopK:        r.Cfg.Task.TopK,
		Stop:        -1,
		Ban:         []int32{r.Tok.EOT()},
	}
	if r.Cfg.Task.Stop == "eot" {
		o.Stop, o.Ban = r.Tok.EOT(), nil
	}
	return o
}

// sample draws k responses per prompt at temperature (top-k from the
// config) and returns the sequences.
func (r *Run) sample(ctx context.Context, s *nn.Sampler, prompts []string, k int, temperature float64, seed func(i, j int) uint64) ([]*seq, error) {
	return r.sampleWith(ctx, s, prompts, k, r.sampleOptions(temperature), seed)
}

// sampleWith draws k responses per prompt with opts.
func (r *Run) sampleWith(ctx context.Context, s *nn.Sampler, prompts []string, k int, opts nn.SampleOptions, seed func(i, j int) uint64) ([]*seq, error) {
	reqs := make([]nn.SampleRequest, 0, len(prompts)*k)
	enc := make([][]int32, len(prompts))
	for i, p := range prompts {
		enc[i] = r.encodePrompt(p)
		for j := 0; j < k; j++ {
			reqs = append(reqs, nn.SampleRequest{Prompt: enc[i], Seed: seed(i, j)})
		}
	}
	res, err := s.Sample(ctx, reqs, opts)
	if err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	if len(res) != len(reqs) {
		return nil, fmt.Errorf("sample: got %d results for %d requests", len(res), len(reqs))
	}
	seqs := make([]*seq, len(reqs))
	for n, out := range res {
		i := n / k
		if err := checkResponse(out.Tokens, opts); err != nil {
			return nil, fmt.Errorf("sample: %w", err)
		}
		lp := make([]float64, len(out.Logp))
		for t, v := range out.Logp {
			lp[t] = float64(v)
		}
		seqs[n] = &seq{
			group:      int64(i),
			prompt:     enc[i],
			resp:       out.Tokens,
			promptText: prompts[i],
			respText:   r.Tok.Decode(out.Tokens),
			sampleLogp: lp,
		}
	}
	return seqs, nil
}

// checkResponse checks a sampled response's length against opts: exactly
// MaxNew tokens without a stop token, else 1..MaxNew tokens where only the
// last may be the stop token and a short one must end with it.
func checkResponse(tokens []int32, opts nn.SampleOptions) error {
	n := len(tokens)
	if opts.Stop < 0 {
		if n != opts.MaxNew {
			return fmt.Errorf("got a response of %d tokens, want %d", n, opts.MaxNew)
		}
		return nil
	}
	if n < 1 || n > opts.MaxNew {
		return fmt.Errorf("got a response of %d tokens, want 1..%d", n, opts.MaxNew)
	}
	for i, t := range tokens[:n-1] {
		if t == opts.Stop {
			return fmt.Errorf("response has end-of-text at token %d of %d", i, n)
		}
	}
	if n < opts.MaxNew && tokens[n-1] != opts.Stop {
		return fmt.Errorf("response of %d tokens (limit %d) does not end with end-of-text", n, opts.MaxNew)
	}
	return nil
}

// onlineStep runs one rollout and its optimisation; it returns the step's
// metrics.
func (r *Run) onlineStep(ctx context.Context, step int) (metrics.Record, error) {
	c := r.Cfg
	spec := r.AlgoSpec
	t0 := time.Now()
	var tm stepTimes
	P := c.Task.PromptsPerStep
	K := max(spec.ResponsesPerPrompt, 1)
	seed := c.Run.Seed

	// 1. Rollout: K responses per prompt, one RNG stream per (seed, step, prompt, sample).
	prompts := r.prompts.Batch(step-1, P)
	seqs, err := r.sample(ctx, r.polSampler(), prompts, K, c.Task.Temperature, func(i, j int) uint64 {
		return mix(seed, purposeRollout, uint64(step), uint64(i), uint64(j))
	})
	if err != nil {
		return nil, err
	}
	tm.rollout = time.Since(t0)
	var eotEnded int
	for _, s := range seqs {
		tm.rolloutTokens += len(s.resp)
		if s.resp[len(s.resp)-1] == r.Tok.EOT() && c.Task.Stop == "eot" {
			eotEnded++
		}
	}

	// 2. Reference log-probs, and old values / recomputed old log-probs.
	t1 := time.Now()
	ref, _, err := forwardAll(ctx, r.refTr, r.grid, seqs, false)
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	for i, s := range seqs {
		s.refLogp = ref[i]
		s.oldLogp = s.sampleLogp
	}
	if spec.NeedsValueHead || c.Train.OldLogp == "recompute" {
		lp, vs, err := forwardAll(ctx, r.polTr, r.grid, seqs, spec.NeedsValueHead)
		if err != nil {
			return nil, fmt.Errorf("old values: %w", err)
		}
		for i, s := range seqs {
			if c.Train.OldLogp == "recompute" {
				s.oldLogp = lp[i]
			}
			if spec.NeedsValueHead {
				s.oldValues = vs[i]
			}
		}
	}
	tm.ref = time.Since(t1)

	// 3. Rewards.
	t2 := time.Now()
	raw, err := r.score(ctx, seqs, step)
	if err != nil {
		return nil, err
	}
	rewards, err := r.norm.Normalize(raw)
	if err != nil {
		return nil, fmt.Errorf("normalise rewards: %w", err)
	}
	for i, s := range seqs {
		s.reward = rewards[i]
	}
	tm.reward = time.Since(t2)

	// 4. Prepare over the whole rollout.
	beta := r.kl.Beta()
	t3 := time.Now()
	prep, err := r.Algo.Prepare(ctx, &sdk.PrepareRequest{Batch: sdk.Batch{Sequences: r.sdkSeqs(seqs, nil, nil), Beta: beta}})
	tm.plugin += time.Since(t3)
	if err != nil {
		return nil, fmt.Errorf("algorithm plugin %s: prepare: %w", spec.Name, err)
	}
	if prep != nil && prep.Aux != nil {
		if len(prep.Aux) != len(seqs) {
			return nil, fmt.Errorf("algorithm plugin %s: prepare returned %d aux entries for %d sequences", spec.Name, len(prep.Aux), len(seqs))
		}
		for i, aux := range prep.Aux {
			for name, a := range aux {
				if !finite(a...) {
					return nil, fmt.Errorf("algorithm plugin %s returned a %w in aux array %q at step %d", spec.Name, ErrNonFinite, name, step)
				}
			}
			seqs[i].aux = aux
		}
	}

	// 5. Epochs x minibatches of whole groups.
	rec := metrics.Record{}
	stats := map[string]float64{}
	var calls int
	var lossSum, gradSum, diffMax float64
	gpm := ceilDiv(P, c.Train.Minibatches)
	for e := 0; e < c.Train.Epochs; e++ {
		order := perm(P, mix(seed, purposeShuffle, uint64(step), uint64(e)))
		for mb := 0; mb*gpm < P; mb++ {
			var mbSeqs []*seq
			for _, g := range order[mb*gpm : min((mb+1)*gpm, P)] {
				mbSeqs = append(mbSeqs, seqs[g*K:(g+1)*K]...)
			}
			res, err := r.trainMinibatch(ctx, step, mbSeqs, beta, &tm)
			if err != nil {
				return nil, err
			}
			if e == 0 && mb == 0 {
				for i, s := range mbSeqs {
					for t, v := range res.logp[i] {
						diffMax = math.Max(diffMax, math.Abs(v-s.sampleLogp[t]))
					}
				}
			}
			calls++
			lossSum += res.loss
			gradSum += res.gradNorm
			for k, v := range res.stats {
				stats[k] += v
			}
		}
	}
	for k, v := range stats {
		rec[r.statKey(k)] = v / float64(calls)
	}

	// 6. KL to the reference, the controller, gold reward.
	var klSum, goldSum, rSum, r2Sum float64
	for i, s := range seqs {
		for t := range s.resp {
			klSum += s.oldLogp[t] - s.refLogp[t]
		}
		if r.judge != nil {
			goldSum += r.judge.Score(s.promptText, s.respText)
		}
		rSum += raw[i]
		r2Sum += raw[i] * raw[i]
	}
	n := float64(len(seqs))
	kl := klSum / n
	r.kl.Update(kl, len(seqs))

	stepS := time.Since(t0).Seconds()
	rmean := rSum / n
	rec["step"] = float64(step)
	rec["reward/mean"] = rmean
	rec["reward/std"] = math.Sqrt(math.Max(0, r2Sum/n-rmean*rmean))
	if r.norm.Mode() != "none" {
		var s float64
		for _, v := range rewards {
			s += v
		}
		rec["reward/normalized_mean"] = s / n
	}
	if r.judge != nil {
		rec["gold/mean"] = goldSum / n
	}
	rec["rollout/prompts_truncated"] = float64(r.truncated(prompts))
	rec["kl/ref"] = kl
	rec["kl/beta"] = beta
	rec["loss/total"] = lossSum / float64(calls)
	rec["grad/norm"] = gradSum / float64(calls)
	rec["rollout/logp_diff_max"] = diffMax
	rec["rollout/response_tokens_mean"] = float64(tm.rolloutTokens) / n
	if c.Task.Stop == "eot" {
		rec["rollout/eot_share"] = float64(eotEnded) / n
	}
	rec["time/step_s"] = stepS
	rec["time/rollout_s"] = tm.rollout.Seconds()
	rec["time/ref_s"] = tm.ref.Seconds()
	rec["time/reward_s"] = tm.reward.Seconds()
	rec["time/train_s"] = tm.train.Seconds()
	rec["time/plugin_s"] = tm.plugin.Seconds()
	rec["time/plugin_frac"] = tm.plugin.Seconds() / stepS
	rec["throughput/rollout_tokens_per_s"] = float64(tm.rolloutTokens) / tm.rollout.Seconds()
	rec["throughput/train_tokens_per_s"] = float64(tm.trainTokens) / tm.train.Seconds()
	rec["throughput/tokens_per_s"] = float64(tm.rolloutTokens+tm.trainTokens) / stepS
	return rec, nil
}

// score asks the reward plugin for the rollout's rewards, plus the
// reward_model.shift offset when set.
func (r *Run) score(ctx context.Context, seqs []*seq, step int) ([]float64, error) {
	scores, err := r.scoreRaw(ctx, seqs, step)
	if err != nil {
		return nil, err
	}
	if sh := r.Cfg.RewardModel.Shift; sh != 0 {
		for i, s := range seqs {
			scores[i] += ShiftOffset(sh, s.promptText)
		}
	}
	return scores, nil
}

// scoreRaw asks the reward plugin for the scores of seqs. A replaced reward
// plugin process lost its state: restore it and retry (bounded).
func (r *Run) scoreRaw(ctx context.Context, seqs []*seq, step int) ([]float64, error) {
	samples := make([]sdk.Sample, len(seqs))
	for i, s := range seqs {
		// The wire format carries text as UTF-8 strings; a byte-level response
		// may end mid-character, so the text is made valid (the exact bytes
		// travel as token ids).
		samples[i] = sdk.Sample{Prompt: strings.ToValidUTF8(s.promptText, "\uFFFD"), Response: strings.ToValidUTF8(s.respText, "\uFFFD"), PromptTokens: s.prompt, ResponseTokens: s.resp}
	}
	for attempt := 0; ; attempt++ {
		resp, err := r.Reward.Score(ctx, &sdk.ScoreRequest{Samples: samples})
		if err != nil && r.IsRestart != nil && r.IsRestart(err) && attempt < 3 {
			r.Log.Warn("reward plugin replaced; restoring its state and retrying", "plugin", r.RewardName, "step", step)
			if len(r.RewardState) > 0 {
				if err := r.Reward.LoadState(ctx, r.RewardState); err != nil {
					return nil, fmt.Errorf("reward plugin %s: restore state after restart: %w", r.RewardName, err)
				}
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reward plugin %s: score: %w", r.RewardName, err)
		}
		if len(resp.Scores) != len(samples) {
			return nil, fmt.Errorf("reward plugin %s returned %d scores for %d samples at step %d", r.RewardName, len(resp.Scores), len(samples), step)
		}
		for i, v := range resp.Scores {
			if !finite(v) {
				return nil, fmt.Errorf("reward plugin %s returned a %w as a reward (%g, sample %d) at step %d", r.RewardName, ErrNonFinite, v, i, step)
			}
		}
		return resp.Scores, nil
	}
}

// sdkSeqs converts sequences for the plugin; logp/values are the current
// policy's (nil in Prepare).
func (r *Run) sdkSeqs(seqs []*seq, logp, values [][]float64) []sdk.Sequence {
	out := make([]sdk.Sequence, len(seqs))
	for i, s := range seqs {
		q := sdk.Sequence{
			Group:     s.group,
			Prompt:    s.prompt,
			Response:  s.resp,
			OldLogp:   s.oldLogp,
			RefLogp:   s.refLogp,
			OldValues: s.oldValues,
			Reward:    s.reward,
			Rank:      s.rank,
			Aux:       s.aux,
		}
		if logp != nil {
			q.Logp = logp[i]
		}
		if values != nil {
			q.Values = values[i]
		}
		out[i] = q
	}
	return out
}

type mbResult struct {
	loss, gradNorm float64
	stats          map[string]float64
	logp           [][]float64
}

// trainMinibatch runs forward, the plugin's Loss, backward, clipping and one
// AdamW update on seqs (whole groups). Non-finite plugin output stops before
// any weight changes.
func (r *Run) trainMinibatch(ctx context.Context, step int, seqs []*seq, beta float64, tm *stepTimes) (*mbResult, error) {
	spec := r.AlgoSpec
	t0 := time.Now()
	g := r.grid
	if err := g.fill(seqs); err != nil {
		return nil, err
	}
	lp, vs, err := r.polTr.Forward(ctx, g.tokens, g.targets)
	if err != nil {
		return nil, fmt.Errorf("policy forward: %w", err)
	}
	logp := make([][]float64, len(seqs))
	var values [][]float64
	if spec.NeedsValueHead {
		if vs == nil {
			return nil, fmt.Errorf("policy has no value head but algorithm %s needs one", spec.Name)
		}
		values = make([][]float64, len(seqs))
	}
	for i, s := range seqs {
		logp[i] = gather(lp, g, s, i)
		if values != nil {
			values[i] = gather(vs, g, s, i)
		}
		tm.trainTokens += len(s.prompt) + len(s.resp) - 1
	}
	tm.train += time.Since(t0)

	t1 := time.Now()
	resp, err := r.Algo.Loss(ctx, &sdk.LossRequest{Batch: sdk.Batch{Sequences: r.sdkSeqs(seqs, logp, values), Beta: beta}})
	tm.plugin += time.Since(t1)
	if err != nil {
		return nil, fmt.Errorf("algorithm plugin %s: loss: %w", spec.Name, err)
	}
	if !finite(resp.Loss) {
		return nil, fmt.Errorf("algorithm plugin %s returned a %w as its loss (%g) at step %d", spec.Name, ErrNonFinite, resp.Loss, step)
	}
	if len(resp.GradLogp) != len(seqs) {
		return nil, fmt.Errorf("algorithm plugin %s returned %d gradient rows for %d sequences at step %d", spec.Name, len(resp.GradLogp), len(seqs), step)
	}
	if i, t, ok := finiteRows(resp.GradLogp); !ok {
		return nil, fmt.Errorf("algorithm plugin %s returned a %w in grad_logp, the log-prob gradient (sequence %d, token %d) at step %d", spec.Name, ErrNonFinite, i, t, step)
	}
	if i, t, ok := finiteRows(resp.GradValues); !ok {
		return nil, fmt.Errorf("algorithm plugin %s returned a %w in grad_values, the value-head gradient (sequence %d, token %d) at step %d", spec.Name, ErrNonFinite, i, t, step)
	}
	for k, v := range resp.Stats {
		if !finite(v) {
			return nil, fmt.Errorf("algorithm plugin %s returned a %w in stat %s at step %d", spec.Name, ErrNonFinite, k, step)
		}
	}

	t2 := time.Now()
	var dValues []float32
	if spec.NeedsValueHead && resp.GradValues != nil {
		if len(resp.GradValues) != len(seqs) {
			return nil, fmt.Errorf("algorithm plugin %s returned %d value-gradient rows for %d sequences", spec.Name, len(resp.GradValues), len(seqs))
		}
		dValues = g.dValues
	}
	for i, s := range seqs {
		if len(resp.GradLogp[i]) != len(s.resp) {
			return nil, fmt.Errorf("algorithm plugin %s returned %d gradients for a response of %d tokens", spec.Name, len(resp.GradLogp[i]), len(s.resp))
		}
		for t, v := range resp.GradLogp[i] {
			g.dLogp[g.respIndex(s, i, t)] = float32(v)
		}
		if dValues != nil {
			if len(resp.GradValues[i]) != len(s.resp) {
				return nil, fmt.Errorf("algorithm plugin %s returned %d value gradients for a response of %d tokens", spec.Name, len(resp.GradValues[i]), len(s.resp))
			}
			for t, v := range resp.GradValues[i] {
				dValues[g.respIndex(s, i, t)] = float32(v)
			}
		}
	}
	r.Policy.ZeroGrad()
	if err := r.polTr.Backward(ctx, g.dLogp, dValues); err != nil {
		return nil, fmt.Errorf("policy backward: %w", err)
	}
	maxNorm := r.Cfg.Train.GradClip
	if maxNorm <= 0 {
		maxNorm = math.Inf(1)
	}
	norm := nn.ClipGradNorm(r.Policy.Grads, maxNorm)
	if !finite(norm) {
		return nil, fmt.Errorf("algorithm plugin %s: the gradient norm is %w (%g) at step %d", spec.Name, ErrNonFinite, norm, step)
	}
	r.opt.Update(r.Policy, r.Cfg.Train.LR)
	tm.train += time.Since(t2)
	return &mbResult{loss: resp.Loss, gradNorm: norm, stats: resp.Stats, logp: logp}, nil
}

// ShiftOffset is the prompt-dependent reward offset delta(x) of the
// reward-shift invariance experiment (reward_model.shift): uniform in
// [-shift, shift], a function of the prompt text alone (its SHA-256), so
// both responses to a prompt get the same offset. Algorithms that learn
// from reward differences within a prompt (P3O, RLOO) are unchanged by it;
// PPO's value targets and advantages are not.
func ShiftOffset(shift float64, prompt string) float64 {
	h := sha256.Sum256([]byte(prompt))
	u := float64(binary.BigEndian.Uint64(h[:8])>>11) / (1 << 53) // [0, 1)
	return shift * (2*u - 1)
}
