// Package sdk is the contract between the host and its plugins.
//
// An algorithm plugin is a loss head on log-probabilities: the host owns the
// models, samples rollouts and computes per-token log-probabilities; the
// plugin turns them into a scalar loss and its gradients with respect to every
// response token's log-probability (and value, when it uses a value head).
// The host back-propagates the surrogate sum(g_logp*logp) + sum(g_value*value)
// through the model, which is exactly the chain rule whatever the algorithm.
//
// A reward plugin scores (prompt, response) pairs and may learn from
// comparisons; the host saves and restores its state with every checkpoint.
//
// Plugin authors import this package only. A plugin's main is a call of
// ServeAlgorithm or ServeReward; the wire code lives in sdk/internal.
package sdk

// ProtocolVersion is the version of the plugin protocol spoken by this SDK.
// It is part of the go-plugin handshake: a host and a plugin built against
// different versions refuse each other with an error naming both versions.
const ProtocolVersion = 1

// Kind says which contract a plugin implements.
type Kind string

// The two kinds of plugin.
const (
	KindAlgorithm Kind = "algorithm"
	KindReward    Kind = "reward"
)

// Mode says where an algorithm's training data comes from.
type Mode string

// The two modes of an algorithm.
const (
	// ModeOnline algorithms learn from rollouts of the current policy scored
	// by a reward plugin (P3O, PPO).
	ModeOnline Mode = "online"
	// ModeOffline algorithms learn from fixed preference data (DPO).
	ModeOffline Mode = "offline"
)

// Spec describes a plugin. Describe returns it before anything else is called.
type Spec struct {
	// Name and Version identify the plugin, e.g. "p3o", "1.0.0".
	Name    string `json:"name"`
	Version string `json:"version"`
	// ProtocolVersion is the sdk.ProtocolVersion the plugin was built with.
	ProtocolVersion int  `json:"protocol_version"`
	Kind            Kind `json:"kind"`
	// Mode is online or offline (algorithms only).
	Mode Mode `json:"mode,omitempty"`
	// ResponsesPerPrompt is the size of a prompt group: 2 for pairwise
	// algorithms, K for k-wise ones (algorithms only).
	ResponsesPerPrompt int `json:"responses_per_prompt,omitempty"`
	// NeedsValueHead asks the host for Values/OldValues and accepts GradValues.
	NeedsValueHead bool `json:"needs_value_head"`
	// NeedsReference asks the host for RefLogp from a frozen reference model.
	NeedsReference bool `json:"needs_reference"`
	// ShiftInvariant declares that adding any delta(prompt) to every reward of
	// a prompt group leaves the loss gradients unchanged. sdktest checks it.
	ShiftInvariant bool `json:"shift_invariant"`
	// Trainable is true for reward plugins that implement Train (rewards only).
	Trainable bool `json:"trainable,omitempty"`
	// DefaultOptions are the plugin's options with their default values, as
	// they would appear in the plugin's TOML table.
	DefaultOptions map[string]any `json:"default_options"`
}

// ConfigureRequest carries a plugin's own TOML table from the host config.
type ConfigureRequest struct {
	// Options is the TOML text of the plugin's table (may be empty: defaults).
	// Decode it with DecodeOptions, which rejects unknown keys.
	Options []byte
}
