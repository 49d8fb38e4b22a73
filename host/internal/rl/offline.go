package rl

import (
	"context"
	"fmt"
	"time"

	"github.com/p3o-rlhf/p3o/host/internal/metrics"
)

// offlineData holds the comparisons of an offline run as sequence pairs
// (chosen: rank 0, rejected: rank 1) with reference log-probs computed once.
type offlineData struct {
	pairs [][2]*seq
	refS  float64 // seconds spent computing the reference log-probs
}

// loadOffline tokenises the preference data and computes reference log-probs.
func (r *Run) loadOffline(ctx context.Context) error {
	if r.offline != nil {
		return nil
	}
	t0 := time.Now()
	respMax := r.grid.T + 1 - r.maxPrmt
	d := &offlineData{}
	var all []*seq
	for i, p := range r.Prefs {
		prompt := r.encodePrompt(p.Prompt)
		mk := func(text string, rank int32) *seq {
			resp := r.Tok.Encode(text)
			if len(resp) > respMax {
				resp = resp[:respMax]
			}
			if len(resp) == 0 {
				resp = []int32{r.Tok.EOT()}
			}
			return &seq{group: int64(i), prompt: prompt, resp: resp, promptText: p.Prompt, respText: text, rank: rank}
		}
		pair := [2]*seq{mk(p.Chosen, 0), mk(p.Rejected, 1)}
		d.pairs = append(d.pairs, pair)
		all = append(all, pair[0], pair[1])
	}
	ref, _, err := forwardAll(ctx, r.refTr, r.grid, all, false)
	if err != nil {
		return fmt.Errorf("reference log-probs of the preference data: %w", err)
	}
	for i, s := range all {
		s.refLogp = ref[i]
		s.oldLogp = ref[i] // the data's behaviour policy is the reference (SFT) policy
	}
	d.refS = time.Since(t0).Seconds()
	r.Log.Info("reference log-probs of the preference data computed once", "pairs", len(d.pairs), "seconds", d.refS)
	r.offline = d
	return nil
}

// offlineStep trains on one minibatch of comparisons: item (step-1)*batch+j of
// an endless sequence of seeded epoch permutations (a pure function of the
// step, so resuming needs no cursor), then probes the policy on a few
// prompts for the gold reward and KL.
func (r *Run) offlineStep(ctx context.Context, step int) (metrics.Record, error) {
	if err := r.loadOffline(ctx); err != nil {
		return nil, err
	}
	c := r.Cfg
	t0 := time.Now()
	var tm stepTimes
	n := len(r.offline.pairs)
	bs := min(c.Offline.Batch, n)
	var mbSeqs []*seq
	var probePrompts []string
	for j := 0; j < bs; j++ {
		idx := (step-1)*bs + j
		epoch, pos := idx/n, idx%n
		p := r.offline.pairs[r.offlinePerm(epoch)[pos]]
		mbSeqs = append(mbSeqs, p[0], p[1])
		if j < c.Offline.Probe {
			probePrompts = append(probePrompts, p[0].promptText)
		}
	}
	// Group ids must be distinct and adjacent within the minibatch.
	for i, s := range mbSeqs {
		s.group = int64(i / 2)
	}
	beta := r.kl.Beta()
	res, err := r.trainMinibatch(ctx, step, mbSeqs, beta, &tm)
	if err != nil {
		return nil, err
	}
	rec := metrics.Record{}
	for k, v := range res.stats {
		rec[r.statKey(k)] = v
	}

	// Probe: sample from the current policy for gold reward and KL.
	t1 := time.Now()
	probe, err := r.sample(ctx, r.polSampler(), probePrompts, 1, 1, func(i, _ int) uint64 {
		return mix(c.Run.Seed, purposeProbe, uint64(step), uint64(i))
	})
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	tm.rollout = time.Since(t1)
	for _, q := range probe {
		tm.rolloutTokens += len(q.resp)
	}
	lp, _, err := forwardAll(ctx, r.polTr, r.grid, probe, false)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	ref, _, err := forwardAll(ctx, r.refTr, r.grid, probe, false)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	var kl, gold float64
	for i, s := range probe {
		for t := range s.resp {
			kl += lp[i][t] - ref[i][t]
		}
		if r.judge != nil {
			gold += r.judge.Score(s.promptText, s.respText)
		}
	}
	np := float64(max(len(probe), 1))
	if r.Reward != nil && len(probe) > 0 {
		t2 := time.Now()
		raw, err := r.score(ctx, probe, step)
		if err != nil {
			return nil, err
		}
		var s float64
		for _, v := range raw {
			s += v
		}
		rec["reward/mean"] = s / np
		tm.reward = time.Since(t2)
	}
	stepS := time.Since(t0).Seconds()
	rec["step"] = float64(step)
	if r.judge != nil {
		rec["gold/mean"] = gold / np
	}
	rec["kl/ref"] = kl / np
	rec["kl/beta"] = beta
	rec["loss/total"] = res.loss
	rec["grad/norm"] = res.gradNorm
	rec["data/epoch"] = float64(((step - 1) * bs) / n)
	rec["time/step_s"] = stepS
	rec["time/rollout_s"] = tm.rollout.Seconds()
	rec["time/reward_s"] = tm.reward.Seconds()
	rec["time/train_s"] = tm.train.Seconds()
	rec["time/plugin_s"] = tm.plugin.Seconds()
	rec["time/plugin_frac"] = tm.plugin.Seconds() / stepS
	rec["throughput/rollout_tokens_per_s"] = float64(tm.rolloutTokens) / tm.rollout.Seconds()
	rec["throughput/train_tokens_per_s"] = float64(tm.trainTokens) / tm.train.Seconds()
	rec["throughput/tokens_per_s"] = float64(tm.rolloutTokens+tm.trainTokens) / stepS
	return rec, nil
}

func (r *Run) offlinePerm(epoch int) []int {
	if r.permEpoch != epoch || r.permCache == nil {
		r.permCache = perm(len(r.offline.pairs), mix(r.Cfg.Run.Seed, purposeOffline, uint64(epoch)))
		r.permEpoch = epoch
	}
	return r.permCache
}
