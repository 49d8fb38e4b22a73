// Package remote is the rewardhttp plugin: a reward that scores samples
// through a remote reward service over HTTP, with the wire protocol of
// OpenRLHF's remote reward model (openrlhf/cli/serve_rm.py and the client in
// openrlhf/utils/agent.py):
//
//	POST <url>   Content-Type: application/json
//	{"query": [prompt+response, ...], "prompts": [prompt, ...], "labels": ["", ...]}
//
//	200 OK
//	{"rewards": [r, ...], ...}
//
// query[i] is the sample's prompt text followed by its response text;
// labels are empty strings, as OpenRLHF sends them for a prompt data set
// without a label key. Only "rewards" is read from the answer (OpenRLHF's
// server also sends "scores" and "extra_logs"); it must hold one finite
// number per query, in order.
//
// A Score call is split into requests of at most Batch samples. Each request
// has a timeout, and failures that may pass (connection errors, timeouts,
// HTTP 408, 425, 429 and 5xx other than 501 and 505) are retried a bounded
// number of times with exponential backoff; errors name the URL, the HTTP
// status and the start of the answer's body. An API key is read from the
// environment variable named by option api_key_env, sent as a header, and
// never logged, saved in the state, or shown in an error.
//
// The plugin is a fixed scorer: not trainable, and its state is empty.
package remote

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/p3o-rlhf/p3o/sdk"
)

// Version is the plugin's version.
const Version = "1.0.0"

// Reward is the rewardhttp plugin; it implements sdk.Reward. Safe for
// concurrent use.
type Reward struct {
	mu  sync.Mutex
	cfg *config
	// client sends the requests; its transport keeps connections alive
	// between calls.
	client *http.Client
	// maxBody bounds the answer's size (a runaway answer is an error, not
	// an out-of-memory).
	maxBody int64
	// log receives a warning for each retried attempt.
	log hclog.Logger
}

var _ sdk.Reward = (*Reward)(nil)

// defaultMaxBody bounds an answer: 16 MiB is ~1M rewards as JSON text.
const defaultMaxBody = 16 << 20

// New returns an unconfigured plugin (Configure sets the URL).
func New() *Reward {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	return &Reward{client: &http.Client{Transport: tr}, maxBody: defaultMaxBody, log: hclog.Default()}
}

// Describe returns the plugin's Spec: a reward that is not trainable.
func (r *Reward) Describe(context.Context) (*sdk.Spec, error) {
	return &sdk.Spec{
		Name:            "rewardhttp",
		Version:         Version,
		ProtocolVersion: sdk.ProtocolVersion,
		Kind:            sdk.KindReward,
		DefaultOptions:  sdk.OptionsMap(DefaultOptions()),
	}, nil
}

// Configure decodes the options strictly, checks them and reads the API key
// from the environment. It does not contact the service (a host may configure
// a plugin long before it scores).
func (r *Reward) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	var raw []byte
	if req != nil {
		raw = req.Options
	}
	c, err := decodeOptions(raw)
	if err != nil {
		return fmt.Errorf("rewardhttp: %w", err)
	}
	r.mu.Lock()
	r.cfg = c
	r.mu.Unlock()
	return nil
}

// errNotConfigured is returned by Score before Configure.
var errNotConfigured = errors.New("rewardhttp: not configured: call Configure with at least option url")

// Score sends the samples to the service in requests of at most Batch
// samples, Concurrency at a time, and returns their rewards in order. An
// empty request is answered without contacting the service. The first
// failing request cancels the others and its error is returned.
func (r *Reward) Score(ctx context.Context, req *sdk.ScoreRequest) (*sdk.ScoreResponse, error) {
	r.mu.Lock()
	c := r.cfg
	r.mu.Unlock()
	if c == nil {
		return nil, errNotConfigured
	}
	n := len(req.Samples)
	scores := make([]float64, n)
	if n == 0 {
		return &sdk.ScoreResponse{Scores: scores}, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type chunk struct{ lo, hi int }
	var chunks []chunk
	for lo := 0; lo < n; lo += c.opts.Batch {
		chunks = append(chunks, chunk{lo, min(lo+c.opts.Batch, n)})
	}
	errs := make([]error, len(chunks))
	sem := make(chan struct{}, c.opts.Concurrency)
	var wg sync.WaitGroup
launch:
	for i, ch := range chunks {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break launch
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s, err := r.post(ctx, c, req.Samples[ch.lo:ch.hi])
			if err != nil {
				if len(chunks) > 1 {
					err = fmt.Errorf("samples %d to %d of %d: %w", ch.lo, ch.hi-1, n, err)
				}
				errs[i] = err
				cancel()
				return
			}
			copy(scores[ch.lo:], s)
		}()
	}
	wg.Wait()
	// The first failure in sample order that is not the cancellation caused
	// by another failure.
	var first error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if first == nil {
			first = err
		}
		if !errors.Is(err, context.Canceled) {
			return nil, c.redact(fmt.Errorf("rewardhttp: %w", err))
		}
	}
	if first != nil {
		return nil, c.redact(fmt.Errorf("rewardhttp: %w", first))
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rewardhttp: %w", err)
	}
	return &sdk.ScoreResponse{Scores: scores}, nil
}

// Train is refused: the remote reward model is trained elsewhere.
func (r *Reward) Train(context.Context, *sdk.TrainRequest) (*sdk.TrainResponse, error) {
	return nil, errors.New("rewardhttp scores through a remote service and is not trainable")
}

// SaveState returns the empty state: the options come from the config, and
// the API key must never be saved.
func (r *Reward) SaveState(context.Context) ([]byte, error) { return []byte{}, nil }

// LoadState accepts only the empty state SaveState returns.
func (r *Reward) LoadState(_ context.Context, state []byte) error {
	if len(state) != 0 {
		return fmt.Errorf("rewardhttp has no state, got %d bytes (a state saved by another reward plugin?)", len(state))
	}
	return nil
}

// redact replaces the API key, wherever it appears in err's message (a
// server may echo the request's headers in its error page), by [redacted].
func (c *config) redact(err error) error {
	if err == nil || c.key == "" || !strings.Contains(err.Error(), c.key) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), c.key, "[redacted]"), err: err}
}

// redactedError is an error whose message had the key removed; errors.Is and
// errors.As still see the original.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
