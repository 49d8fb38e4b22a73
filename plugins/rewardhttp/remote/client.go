package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/p3o-rlhf/p3o/sdk"
)

// request is the JSON body OpenRLHF's client POSTs to a remote reward model.
type request struct {
	Query   []string `json:"query"`
	Prompts []string `json:"prompts"`
	Labels  []string `json:"labels"`
}

// newRequest builds the body for samples: query = prompt + response.
func newRequest(samples []sdk.Sample) request {
	q := request{
		Query:   make([]string, len(samples)),
		Prompts: make([]string, len(samples)),
		Labels:  make([]string, len(samples)),
	}
	for i, s := range samples {
		q.Query[i] = s.Prompt + s.Response
		q.Prompts[i] = s.Prompt
	}
	return q
}

// post scores samples with one request, retried as the options say.
func (r *Reward) post(ctx context.Context, c *config, samples []sdk.Sample) ([]float64, error) {
	body, err := json.Marshal(newRequest(samples))
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	where := "POST " + c.url.Redacted()
	start := time.Now()
	for attempt := 0; ; attempt++ {
		scores, f := r.attempt(ctx, c, body, len(samples))
		if f == nil {
			return scores, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if !f.retry {
			return nil, fmt.Errorf("%s: %w", where, f.err)
		}
		if attempt == c.opts.Retries {
			return nil, fmt.Errorf("%s: %w (gave up after %d attempts in %.1f s; options retries, timeout)",
				where, f.err, attempt+1, time.Since(start).Seconds())
		}
		wait := c.backoffFor(attempt, f.retryAfter)
		r.log.Warn("reward service call failed, retrying", "url", c.url.Redacted(), "attempt", attempt+1,
			"of", c.opts.Retries+1, "wait", wait.String(), "error", c.redact(f.err).Error())
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%s: %w (while waiting to retry after: %v)", where, ctx.Err(), c.redact(f.err))
		}
	}
}

// backoffFor is the wait after failed attempt number attempt (0-based):
// backoff * 2^attempt, or the server's Retry-After when longer, at most
// max_backoff.
func (c *config) backoffFor(attempt int, retryAfter time.Duration) time.Duration {
	d := c.backoff
	for range attempt {
		if d >= c.maxBackoff {
			break
		}
		d *= 2
	}
	d = max(d, retryAfter)
	return min(d, c.maxBackoff)
}

// failure is a failed attempt: its error, and whether repeating it may help.
type failure struct {
	err        error
	retry      bool
	retryAfter time.Duration
}

// attempt sends body once and parses the answer.
func (r *Reward) attempt(ctx context.Context, c *config, body []byte, n int) ([]float64, *failure) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, c.url.String(), bytes.NewReader(body))
	if err != nil {
		return nil, &failure{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "p3o-rewardhttp/"+Version)
	if c.key != "" {
		if strings.EqualFold(c.opts.APIKeyHeader, "Authorization") {
			req.Header.Set("Authorization", "Bearer "+c.key)
		} else {
			req.Header.Set(c.opts.APIKeyHeader, c.key)
		}
	}
	timedOut := func() *failure {
		return &failure{err: fmt.Errorf("no complete answer within %s (option timeout)", c.timeout), retry: true}
	}
	resp, err := r.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, &failure{err: ctx.Err()}
		}
		if actx.Err() != nil {
			return nil, timedOut()
		}
		// *url.Error repeats the method and URL, which the caller adds.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, &failure{err: fmt.Errorf("connection failed: %w", err), retry: true}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, r.maxBody+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, &failure{err: ctx.Err()}
		}
		if actx.Err() != nil {
			return nil, timedOut()
		}
		return nil, &failure{err: fmt.Errorf("HTTP %s: reading the answer: %w", resp.Status, err), retry: true}
	}
	if int64(len(b)) > r.maxBody {
		return nil, &failure{err: fmt.Errorf("HTTP %s: answer larger than %d bytes: %s", resp.Status, r.maxBody, c.snippet(b))}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &failure{
			err:        fmt.Errorf("HTTP %s: %s", resp.Status, c.snippet(b)),
			retry:      retryableStatus(resp.StatusCode),
			retryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now()),
		}
	}
	scores, err := parseRewards(b, n)
	if err != nil {
		return nil, &failure{err: fmt.Errorf("HTTP %s, but %w; answer: %s", resp.Status, err, c.snippet(b))}
	}
	return scores, nil
}

// retryableStatus reports whether an HTTP status may change when the same
// request is sent again: request timeout, too early, too many requests, and
// server errors other than "not implemented" and "HTTP version not
// supported". Other 4xx (a bad request, a wrong key, a wrong path) will not.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return true
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported:
		return false
	}
	return code >= 500 && code <= 599
}

// retryAfter parses a Retry-After header: seconds or an HTTP date (0 when
// absent or malformed).
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(min(s, 1<<20)) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// snippetBytes is how much of an answer's body an error quotes.
const snippetBytes = 200

// snippet quotes the start of an answer's body for an error message: at most
// snippetBytes, whitespace runs folded to one space, the API key replaced.
func (c *config) snippet(b []byte) string {
	if len(bytes.TrimSpace(b)) == 0 {
		return "(empty body)"
	}
	s := strings.Join(strings.Fields(string(b)), " ")
	if c.key != "" {
		s = strings.ReplaceAll(s, c.key, "[redacted]")
	}
	cut := false
	if len(s) > snippetBytes {
		i := snippetBytes
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s, cut = s[:i], true
	}
	q := strconv.Quote(s)
	if cut {
		q += "..."
	}
	return q
}

// parseRewards reads the "rewards" list of an answer and checks it holds n
// finite numbers.
func parseRewards(b []byte, n int) ([]float64, error) {
	// Python's json.dumps writes NaN and Infinity (invalid JSON) unless
	// allow_nan=False; name them instead of failing on the syntax.
	b = quoteNonFinite(b)
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil || top == nil {
		return nil, errors.New(`the answer is not a JSON object (want {"rewards": [...]})`)
	}
	raw, ok := top["rewards"]
	if !ok {
		keys := make([]string, 0, len(top))
		for k := range top {
			keys = append(keys, strconv.Quote(k))
		}
		sort.Strings(keys)
		return nil, fmt.Errorf(`the answer has no "rewards" key (keys: %s)`, strings.Join(keys, ", "))
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || items == nil {
		return nil, errors.New(`"rewards" is not a list of numbers`)
	}
	if len(items) != n {
		return nil, fmt.Errorf(`"rewards" has %d entries for %d queries`, len(items), n)
	}
	out := make([]float64, n)
	for i, it := range items {
		var x float64
		// null decodes into a float64 as a no-op: check it first.
		isNull := string(bytes.TrimSpace(it)) == "null"
		if err := json.Unmarshal(it, &x); isNull || err != nil || !sdk.Finite(x) {
			v := string(it)
			if len(v) > 40 {
				v = v[:40] + "..."
			}
			switch v {
			case `"NaN"`, `"Infinity"`, `"-Infinity"`, "null":
				return nil, fmt.Errorf(`rewards[%d] is %s: the reward model produced a non-finite score`, i, strings.Trim(v, `"`))
			}
			return nil, fmt.Errorf(`rewards[%d] is %s, want a finite number`, i, v)
		}
		out[i] = x
	}
	return out, nil
}

// quoteNonFinite turns the bare tokens NaN, Infinity and -Infinity outside
// JSON strings into the strings "NaN", "Infinity" and "-Infinity", so that
// the answer parses and the bad entry can be named.
func quoteNonFinite(b []byte) []byte {
	if !bytes.Contains(b, []byte("NaN")) && !bytes.Contains(b, []byte("Infinity")) {
		return b
	}
	var out bytes.Buffer
	inString, escaped := false, false
	for i := 0; i < len(b); i++ {
		ch := b[i]
		if inString {
			out.WriteByte(ch)
			switch {
			case escaped:
				escaped = false
			case ch == '\\':
				escaped = true
			case ch == '"':
				inString = false
			}
			continue
		}
		if ch == '"' {
			inString = true
			out.WriteByte(ch)
			continue
		}
		matched := false
		for _, tok := range []string{"NaN", "Infinity", "-Infinity"} {
			if bytes.HasPrefix(b[i:], []byte(tok)) {
				out.WriteString(strconv.Quote(tok))
				i += len(tok) - 1
				matched = true
				break
			}
		}
		if !matched {
			out.WriteByte(ch)
		}
	}
	return out.Bytes()
}
