// Package nn holds the models the host owns and model-based reward plugins
// share: a small GPT (decoder-only transformer) whose training graph is built
// with gorgonia, a KV-cached sampler in plain Go over the same weights,
// tokenizers, and safetensors I/O. No gorgonia type appears in its API.
package nn
