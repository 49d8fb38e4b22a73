// Package rewardnorm normalises rewards on the host side, between the reward
// plugin's Score and the algorithm's Prepare.
//
// Modes:
//
//	none     (default) rewards pass unchanged. P3O and DPO do not need
//	         normalisation: P3O's update uses reward differences within a
//	         prompt group, so any per-prompt shift cancels.
//	running  r' = (r - mean) / (std + eps), with mean and std running
//	         statistics over every reward seen so far (Welford/Chan update,
//	         the batch included before normalising it). This is what PPO
//	         implementations usually do: it keeps the value targets and the
//	         advantages at unit scale whatever the reward model's scale.
//	scale    r' = r / (std + eps): the running std only, keeping the reward's
//	         sign and zero point (the variant of Ziegler et al. 2019 without
//	         the bias term).
//
// Optionally the normalised reward is clipped to [-Clip, Clip] (Clip 0: no
// clipping). The running statistics are part of a run's state: State and
// SetState save and restore them with each checkpoint, so a resumed run
// normalises exactly as an uninterrupted one.
package rewardnorm

import (
	"encoding/json"
	"fmt"
	"math"
)

// Mode names a normalisation.
type Mode string

// The normalisation modes.
const (
	None    Mode = "none"
	Running Mode = "running"
	Scale   Mode = "scale"
)

// Eps keeps the division finite while the std is still ~0.
const Eps = 1e-8

// Normalizer normalises batches of rewards. Not safe for concurrent use.
type Normalizer struct {
	mode Mode
	clip float64
	st   State
}

// State is the saveable state: the mode, the clip and the running
// statistics of every reward seen (Count, Mean and M2, the sum of squared
// deviations from the mean).
type State struct {
	Mode  Mode    `json:"mode"`
	Clip  float64 `json:"clip"`
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	M2    float64 `json:"m2"`
}

// New returns a normaliser; mode "" means none. clip < 0 or NaN is an error.
func New(mode Mode, clip float64) (*Normalizer, error) {
	switch mode {
	case "":
		mode = None
	case None, Running, Scale:
	default:
		return nil, fmt.Errorf("reward normalisation %q: want one of none, running, scale", mode)
	}
	if !(clip >= 0) || math.IsInf(clip, 0) {
		return nil, fmt.Errorf("reward clip %v: want a finite number >= 0 (0: no clipping)", clip)
	}
	return &Normalizer{mode: mode, clip: clip}, nil
}

// Mode returns the normaliser's mode.
func (n *Normalizer) Mode() Mode { return n.mode }

// Observe adds rewards to the running statistics (Chan et al.'s parallel
// update of the batch's own mean and M2, which is exact and stable).
func (n *Normalizer) Observe(rewards []float64) {
	if len(rewards) == 0 {
		return
	}
	var mean, m2 float64
	for i, r := range rewards {
		d := r - mean
		mean += d / float64(i+1)
		m2 += d * (r - mean)
	}
	nb := float64(len(rewards))
	na := float64(n.st.Count)
	tot := na + nb
	delta := mean - n.st.Mean
	n.st.Mean += delta * nb / tot
	n.st.M2 += m2 + delta*delta*na*nb/tot
	n.st.Count += int64(len(rewards))
}

// MeanStd returns the running mean and the (population) standard deviation
// of the rewards observed; (0, 1) before any.
func (n *Normalizer) MeanStd() (mean, std float64) {
	if n.st.Count == 0 {
		return 0, 1
	}
	return n.st.Mean, math.Sqrt(n.st.M2 / float64(n.st.Count))
}

// Normalize observes rewards (in running and scale modes) and returns their
// normalised values in a new slice. A NaN or infinite reward is an error
// naming its index, and the statistics are left unchanged.
func (n *Normalizer) Normalize(rewards []float64) ([]float64, error) {
	for i, r := range rewards {
		if math.IsNaN(r) || math.IsInf(r, 0) {
			return nil, fmt.Errorf("reward %d is %v: the reward plugin returned a non-finite score", i, r)
		}
	}
	out := make([]float64, len(rewards))
	copy(out, rewards)
	if n.mode != None {
		n.Observe(rewards)
		mean, std := n.MeanStd()
		for i, r := range out {
			if n.mode == Running {
				r -= mean
			}
			out[i] = r / (std + Eps)
		}
	}
	if n.clip > 0 {
		for i, r := range out {
			out[i] = math.Max(-n.clip, math.Min(n.clip, r))
		}
	}
	return out, nil
}

// State returns the normaliser's state as JSON, for checkpoints.
func (n *Normalizer) State() ([]byte, error) {
	s := n.st
	s.Mode, s.Clip = n.mode, n.clip
	return json.Marshal(s)
}

// SetState restores a state returned by State. A state saved with another
// mode or clip is an error: changing normalisation mid-run is a new run.
func (n *Normalizer) SetState(b []byte) error {
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("reward normaliser state: %w", err)
	}
	if s.Mode != n.mode || s.Clip != n.clip {
		return fmt.Errorf("reward normaliser state was saved with mode %q clip %v, this run uses mode %q clip %v", s.Mode, s.Clip, n.mode, n.clip)
	}
	if s.Count < 0 || s.M2 < 0 || math.IsNaN(s.Mean) || math.IsNaN(s.M2) {
		return fmt.Errorf("reward normaliser state is corrupt: %+v", s)
	}
	n.st = s
	return nil
}
