package sdk

import "context"

// Reward is the interface a reward plugin implements. A trainable reward
// model keeps its weights in the plugin process; the host saves them with
// SaveState at every checkpoint and restores them with LoadState, so a
// replaced process loses nothing.
type Reward interface {
	// Describe returns the plugin's Spec (Kind is KindReward).
	Describe(ctx context.Context) (*Spec, error)
	// Configure sets the plugin's options. Unknown keys are an error.
	Configure(ctx context.Context, req *ConfigureRequest) error
	// Score returns one scalar per sample, in order.
	Score(ctx context.Context, req *ScoreRequest) (*ScoreResponse, error)
	// Train learns from comparisons. Plugins that are not trainable return an
	// error saying so.
	Train(ctx context.Context, req *TrainRequest) (*TrainResponse, error)
	// SaveState returns the plugin's whole state (weights, optimiser, cursor).
	SaveState(ctx context.Context) ([]byte, error)
	// LoadState restores a state returned by SaveState.
	LoadState(ctx context.Context, state []byte) error
}

// Sample is one (prompt, response). Both text and token ids are sent, so a
// backend with its own tokenizer can ignore the ids. Text crosses the wire as
// UTF-8: invalid bytes (a byte-level policy may stop inside a character)
// arrive as U+FFFD; the token ids are always exact.
type Sample struct {
	Prompt         string
	Response       string
	PromptTokens   []int32
	ResponseTokens []int32
}

// ScoreRequest asks for the scores of samples.
type ScoreRequest struct {
	Samples []Sample
}

// ScoreResponse holds one score per requested sample.
type ScoreResponse struct {
	Scores []float64
}

// Comparison is one human or gold-labelled preference.
type Comparison struct {
	Prompt   string
	Chosen   string
	Rejected string
}

// TrainRequest asks a reward plugin to train on comparisons.
type TrainRequest struct {
	// Train and HeldOut are the training and evaluation comparisons.
	Train   []Comparison
	HeldOut []Comparison
	// MaxSteps bounds the optimiser steps of this call (0: the plugin's own
	// budget). A host that trains in chunks calls Train repeatedly and saves
	// the state between calls, so training can be interrupted and resumed.
	MaxSteps int
}

// TrainResponse reports on training.
type TrainResponse struct {
	// Steps is the total number of optimiser steps taken so far.
	Steps int
	// Done is true when the plugin's training budget is used up.
	Done bool
	// Loss is the mean training loss of this call.
	Loss float64
	// HeldOutAccuracy is the fraction of held-out comparisons ranked right.
	HeldOutAccuracy float64
	// Stats are other named diagnostics.
	Stats map[string]float64
}
