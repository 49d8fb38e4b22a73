package sdk

import "context"

// Algorithm is the interface an algorithm plugin implements. Implementations
// must be stateless apart from their configured options: the host may replace
// a plugin process at any time and retry the call on a fresh one.
//
// All arrays are float64; per-token arrays have one entry per response token.
type Algorithm interface {
	// Describe returns the plugin's Spec. It may depend on the configured
	// options (P3O's k sets ResponsesPerPrompt); the host describes the
	// plugin again after every Configure and uses that Spec.
	Describe(ctx context.Context) (*Spec, error)
	// Configure sets the plugin's options. Unknown keys are an error.
	Configure(ctx context.Context, req *ConfigureRequest) error
	// Prepare runs once per rollout, over the whole rollout, before any
	// minibatch (PPO computes GAE advantages here). The returned Aux arrays are
	// stored by the host with each sequence and handed back in every Loss call.
	Prepare(ctx context.Context, req *PrepareRequest) (*PrepareResponse, error)
	// Loss computes the loss of one minibatch and its gradients.
	Loss(ctx context.Context, req *LossRequest) (*LossResponse, error)
}

// Sequence is one (prompt, response) with everything an algorithm may need.
type Sequence struct {
	// Group identifies the prompt group; the sequences of a group are adjacent
	// and a minibatch never splits a group.
	Group int64
	// Prompt and Response are token ids.
	Prompt   []int32
	Response []int32
	// Logp is log pi(response_t | prompt, response_<t) under the current policy,
	// one per response token, shape (T).
	Logp []float64
	// OldLogp is the same under the policy that sampled the rollout, shape (T).
	OldLogp []float64
	// RefLogp is the same under the frozen reference model, shape (T); set
	// when the Spec says NeedsReference.
	RefLogp []float64
	// Values and OldValues are the value head's outputs, shape (T); set when
	// the Spec says NeedsValueHead.
	Values    []float64
	OldValues []float64
	// Reward is the reward plugin's score of the whole response (online).
	Reward float64
	// Rank orders responses within a group (offline): 0 is preferred.
	Rank int32
	// Aux holds the per-token arrays this plugin's Prepare returned for this
	// sequence, keyed by name, each of shape (T).
	Aux map[string][]float64
}

// Batch is a list of whole prompt groups.
type Batch struct {
	Sequences []Sequence
	// Beta is the current KL coefficient chosen by the host (fixed or adaptive).
	Beta float64
}

// PrepareRequest carries a whole rollout.
type PrepareRequest struct {
	Batch Batch
}

// PrepareResponse returns per-sequence aux arrays, aligned with the request's
// sequences. Aux may be nil when the algorithm keeps nothing.
type PrepareResponse struct {
	Aux []map[string][]float64
}

// LossRequest carries one minibatch.
type LossRequest struct {
	Batch Batch
}

// LossResponse is the loss of a minibatch and its gradients.
type LossResponse struct {
	Loss float64
	// GradLogp[i][t] is dLoss/dLogp[i][t], aligned with the request.
	GradLogp [][]float64
	// GradValues[i][t] is dLoss/dValues[i][t]; nil without a value head.
	GradValues [][]float64
	// Stats are named diagnostics, namespaced: "policy/clipfrac",
	// "policy/approx_kl", "value/loss", ... The host averages each over a
	// step's Loss calls (online: every minibatch of every epoch) and writes
	// it to metrics.jsonl under its name. Names the host writes itself are
	// reserved: "step", "reward/mean", "reward/std",
	// "reward/normalized_mean", "loss/total", "grad/norm" and everything
	// under "gold/", "kl/", "rollout/", "time/", "throughput/", "eval/" and
	// "data/". A stat with a reserved name is recorded as "algo/" + name
	// (with a warning), never overwritten.
	Stats map[string]float64
}
