package rl

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/p3o-rlhf/p3o/host/internal/metrics"
	"github.com/p3o-rlhf/p3o/nn"
)

// Checkpoint file names.
const (
	filePolicy = "policy.safetensors" // policy (+ value head) and AdamW moments
	fileState  = "state.json"         // runState
	fileReward = "reward.state"       // the reward plugin's SaveState bytes
)

// runState is the small part of a checkpoint: everything that is not weights.
type runState struct {
	Step int    `json:"step"`
	Seed uint64 `json:"seed"`
	// Cursor is the number of training prompts (online) or comparisons
	// (offline) consumed; the data order itself is a function of the seed.
	Cursor int     `json:"cursor"`
	KLBeta float64 `json:"kl_beta"`
	// RNG names the random streams: each is derived from (seed, purpose,
	// step, index), so the seed is the whole RNG state.
	RNG         string          `json:"rng"`
	Algo        string          `json:"algo"`
	AlgoVersion string          `json:"algo_version"`
	RewardNorm  json.RawMessage `json:"reward_norm"`
	// RefSHA256 fingerprints the reference (SFT) weights: resuming against
	// another reference would not continue the same run.
	RefSHA256 string `json:"ref_sha256"`
	// Metrics pins the metrics.jsonl lines this checkpoint covers; resume
	// restores exactly them or refuses.
	Metrics *metrics.Pin `json:"metrics,omitempty"`
}

// refHash fingerprints the reference model's weights.
func (r *Run) refHash() (string, error) {
	b, err := nn.EncodeModel(r.Ref, nil)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// checkpoint saves the state after step.
func (r *Run) checkpoint(ctx context.Context, step int) error {
	pol, err := nn.EncodeModel(r.Policy, r.opt)
	if err != nil {
		return fmt.Errorf("checkpoint step %d: %w", step, err)
	}
	ns, err := r.norm.State()
	if err != nil {
		return fmt.Errorf("checkpoint step %d: %w", step, err)
	}
	cursor := step * r.Cfg.Task.PromptsPerStep
	if r.offline != nil {
		cursor = step * min(r.Cfg.Offline.Batch, len(r.offline.pairs))
	}
	st := runState{
		Step: step, Seed: r.Cfg.Run.Seed, Cursor: cursor, KLBeta: r.kl.Beta(),
		RNG:  "splitmix64(seed, purpose, step, index)",
		Algo: r.AlgoSpec.Name, AlgoVersion: r.AlgoSpec.Version, RewardNorm: ns,
	}
	if st.RefSHA256, err = r.refHash(); err != nil {
		return fmt.Errorf("checkpoint step %d: %w", step, err)
	}
	if err := r.mw.Sync(); err != nil {
		return fmt.Errorf("checkpoint step %d: sync metrics: %w", step, err)
	}
	pin := r.mw.Pin()
	st.Metrics = &pin
	sb, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("checkpoint step %d: %w", step, err)
	}
	files := map[string][]byte{filePolicy: pol, fileState: sb}
	if r.Reward != nil {
		rs, err := r.Reward.SaveState(ctx)
		if err != nil && r.IsRestart != nil && r.IsRestart(err) && len(r.RewardState) > 0 {
			// The process was replaced: restore the state it was running
			// with (a frozen reward model does not change during RL).
			r.Log.Warn("reward plugin replaced; restoring its state", "plugin", r.RewardName, "step", step)
			if err = r.Reward.LoadState(ctx, r.RewardState); err == nil {
				rs, err = r.Reward.SaveState(ctx)
			}
		}
		if err != nil {
			return fmt.Errorf("checkpoint step %d: reward plugin %s: save state: %w", step, r.RewardName, err)
		}
		files[fileReward] = rs
		r.RewardState = rs
	}
	dir, err := r.store.Save(step, files)
	if err != nil {
		return fmt.Errorf("checkpoint step %d: %w", step, err)
	}
	r.lastCkpt, r.ckptStep = dir, step
	r.Log.Debug("checkpoint written", "dir", dir)
	return nil
}

// restore loads a checkpoint's files into the run.
func (r *Run) restore(ctx context.Context, step int, files map[string][]byte) error {
	var st runState
	sb, ok := files[fileState]
	if !ok {
		return fmt.Errorf("no %s", fileState)
	}
	if err := json.Unmarshal(sb, &st); err != nil {
		return fmt.Errorf("%s: %w", fileState, err)
	}
	if st.Step != step {
		return fmt.Errorf("%s says step %d, the directory says %d", fileState, st.Step, step)
	}
	if st.Seed != r.Cfg.Run.Seed {
		return fmt.Errorf("checkpoint seed %d differs from run.seed %d: resuming with another seed is a new run", st.Seed, r.Cfg.Run.Seed)
	}
	if st.Algo != r.AlgoSpec.Name {
		return fmt.Errorf("checkpoint was written by algorithm %q, this run uses %q", st.Algo, r.AlgoSpec.Name)
	}
	if h, err := r.refHash(); err != nil {
		return err
	} else if st.RefSHA256 != "" && h != st.RefSHA256 {
		return fmt.Errorf("the reference (SFT) weights differ from the ones this run started from (policy.sft changed?): resuming would not continue the same run")
	}
	m, opt, err := nn.DecodeModel(files[filePolicy])
	if err != nil {
		return fmt.Errorf("%s: %w", filePolicy, err)
	}
	if opt == nil {
		return fmt.Errorf("%s holds no optimiser state", filePolicy)
	}
	if m.Config != r.Policy.Config {
		return fmt.Errorf("%s: model config %+v differs from this run's %+v", filePolicy, m.Config, r.Policy.Config)
	}
	r.Policy, r.opt = m, opt
	r.metricsPin = st.Metrics
	r.kl.SetBeta(st.KLBeta)
	if err := r.norm.SetState(st.RewardNorm); err != nil {
		return fmt.Errorf("reward normaliser: %w", err)
	}
	if r.Reward != nil {
		rs, ok := files[fileReward]
		if !ok {
			return fmt.Errorf("no %s for reward plugin %s", fileReward, r.RewardName)
		}
		if err := r.Reward.LoadState(ctx, rs); err != nil {
			return fmt.Errorf("reward plugin %s: load state: %w", r.RewardName, err)
		}
		r.RewardState = rs
	}
	return nil
}
