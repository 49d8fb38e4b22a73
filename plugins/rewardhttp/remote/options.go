package remote

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"time"

	"github.com/p3o-rlhf/p3o/sdk"
)

// Options are the plugin's TOML options, decoded strictly (an unknown key is
// an error naming it). Durations are Go duration strings ("500ms", "30s").
type Options struct {
	// URL is the endpoint the samples are POSTed to, e.g.
	// "http://127.0.0.1:5000/get_reward" (OpenRLHF's serve_rm). Required.
	// It must not hold a password: secrets go in the environment variable
	// named by APIKeyEnv.
	URL string `toml:"url"`
	// Batch is the number of samples per request; a Score call of more
	// samples sends several requests, in order.
	Batch int `toml:"batch"`
	// Concurrency is the number of requests in flight at once.
	Concurrency int `toml:"concurrency"`
	// Timeout bounds one attempt: connecting, sending, the server's work and
	// reading the answer.
	Timeout string `toml:"timeout"`
	// Retries is the number of further attempts after an attempt that may
	// succeed when repeated (a connection error, a timeout, HTTP 408, 425,
	// 429 or 5xx other than 501 and 505). Other failures are not retried.
	Retries int `toml:"retries"`
	// Backoff is the wait before the first retry, doubled before each next
	// one up to MaxBackoff. A Retry-After header asking for longer is
	// honoured, up to MaxBackoff.
	Backoff    string `toml:"backoff"`
	MaxBackoff string `toml:"max_backoff"`
	// APIKeyEnv names the environment variable that holds the API key ("":
	// no key). Only the name is in the config; the key itself is read from
	// the plugin's environment at Configure and never logged or saved.
	APIKeyEnv string `toml:"api_key_env"`
	// APIKeyHeader is the header that carries the key: "Authorization"
	// (default) sends "Authorization: Bearer KEY"; any other name (e.g.
	// "X-API-Key") sends the bare key.
	APIKeyHeader string `toml:"api_key_header"`
}

// DefaultOptions returns the defaults: 32 samples a request, one request in
// flight, 60 s per attempt, 4 retries (5 attempts, as OpenRLHF's client)
// waiting 1, 2, 4, 8 s.
func DefaultOptions() Options {
	return Options{
		Batch:        32,
		Concurrency:  1,
		Timeout:      "60s",
		Retries:      4,
		Backoff:      "1s",
		MaxBackoff:   "30s",
		APIKeyHeader: "Authorization",
	}
}

// config is the validated form of Options, with the key read.
type config struct {
	opts       Options
	url        *url.URL
	timeout    time.Duration
	backoff    time.Duration
	maxBackoff time.Duration
	key        string
}

// envName is what a POSIX shell accepts as a variable name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// maxRetries bounds option retries: a run that cannot reach its reward after
// this many attempts should stop and say so.
const maxRetries = 100

// resolve validates o and reads the API key from the environment.
func (o Options) resolve(getenv func(string) string) (*config, error) {
	c := &config{opts: o}
	if o.URL == "" {
		return nil, errors.New(`option url is required: the reward service's endpoint, e.g. url = "http://127.0.0.1:5000/get_reward"`)
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		// url.Parse's error quotes the URL, which might hold a secret.
		return nil, errors.New("option url is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("option url %s: scheme %q, want http or https", u.Redacted(), u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("option url %s: no host", u.Redacted())
	}
	if _, ok := u.User.Password(); ok {
		return nil, fmt.Errorf("option url %s holds a password: put the secret in an environment variable and name it with api_key_env (the url is written to the run's config.toml)", u.Redacted())
	}
	c.url = u
	if o.Batch < 1 {
		return nil, fmt.Errorf("option batch %d: want >= 1", o.Batch)
	}
	if o.Concurrency < 1 {
		return nil, fmt.Errorf("option concurrency %d: want >= 1", o.Concurrency)
	}
	if o.Retries < 0 || o.Retries > maxRetries {
		return nil, fmt.Errorf("option retries %d: want 0 to %d", o.Retries, maxRetries)
	}
	dur := func(name, s string, positive bool) (time.Duration, error) {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || (positive && d == 0) {
			want := ">= 0"
			if positive {
				want = "> 0"
			}
			return 0, fmt.Errorf("option %s %q: want a duration %s such as \"500ms\" or \"30s\"", name, s, want)
		}
		return d, nil
	}
	if c.timeout, err = dur("timeout", o.Timeout, true); err != nil {
		return nil, err
	}
	if c.backoff, err = dur("backoff", o.Backoff, false); err != nil {
		return nil, err
	}
	if c.maxBackoff, err = dur("max_backoff", o.MaxBackoff, false); err != nil {
		return nil, err
	}
	if c.maxBackoff < c.backoff {
		return nil, fmt.Errorf("option max_backoff %s is below backoff %s", o.MaxBackoff, o.Backoff)
	}
	if o.APIKeyEnv != "" {
		if !envName.MatchString(o.APIKeyEnv) {
			// Do not echo the value: it may be the key itself, pasted
			// where its variable's name belongs.
			return nil, errors.New("option api_key_env must be the name of an environment variable (letters, digits and _, e.g. \"MY_RM_KEY\"), not the key itself")
		}
		c.key = getenv(o.APIKeyEnv)
		if c.key == "" {
			return nil, fmt.Errorf("option api_key_env: environment variable %s is not set or empty; export it in the environment that starts the host", o.APIKeyEnv)
		}
	}
	if o.APIKeyHeader == "" {
		return nil, errors.New(`option api_key_header is empty: want a header name such as "Authorization" (sends "Bearer KEY") or "X-API-Key"`)
	}
	return c, nil
}

// decodeOptions decodes raw over the defaults and resolves them.
func decodeOptions(raw []byte) (*config, error) {
	o := DefaultOptions()
	if err := sdk.DecodeOptions(raw, &o); err != nil {
		return nil, err
	}
	return o.resolve(os.Getenv)
}
