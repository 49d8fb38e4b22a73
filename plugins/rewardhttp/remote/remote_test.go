package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/p3o-rlhf/p3o/sdk"
)

// lexicon is the toy reward model of the test server: +1 per "good", -1 per
// "bad", plus a length term so every query scores differently.
func lexicon(query string) float64 {
	return float64(strings.Count(query, "good")-strings.Count(query, "bad")) + float64(len(query))/1000
}

// rm is a reward service on 127.0.0.1 speaking OpenRLHF's protocol. Each
// request is recorded; answer (when set) replaces the default handler for
// the request with the given 0-based number.
type rm struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []recorded
	answer func(w http.ResponseWriter, r *http.Request, n int, body request) bool
}

type recorded struct {
	method, path, contentType string
	header                    http.Header
	raw                       map[string]json.RawMessage
	body                      request
}

func newRM(t *testing.T) *rm {
	s := &rm{t: t}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *rm) url() string { return s.srv.URL + "/get_reward" }

func (s *rm) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var raw map[string]json.RawMessage
	var body request
	json.Unmarshal(b, &raw)
	json.Unmarshal(b, &body)
	s.mu.Lock()
	n := len(s.reqs)
	s.reqs = append(s.reqs, recorded{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Clone(), raw, body})
	answer := s.answer
	s.mu.Unlock()
	if answer != nil && answer(w, r, n, body) {
		return
	}
	rewards := make([]float64, len(body.Query))
	for i, q := range body.Query {
		rewards[i] = lexicon(q)
	}
	// OpenRLHF's serve_rm answers rewards, scores and extra_logs.
	json.NewEncoder(w).Encode(map[string]any{"rewards": rewards, "scores": rewards, "extra_logs": map[string]any{"dummy_scores": rewards}})
}

func (s *rm) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

// newPlugin configures a plugin with options (TOML) and a log buffer.
func newPlugin(t *testing.T, options string) (*Reward, *bytes.Buffer) {
	t.Helper()
	r := New()
	var log bytes.Buffer
	r.log = hclog.New(&hclog.LoggerOptions{Output: &log, Level: hclog.Trace})
	if err := r.Configure(context.Background(), &sdk.ConfigureRequest{Options: []byte(options)}); err != nil {
		t.Fatalf("configure: %v", err)
	}
	return r, &log
}

func samples(n int) []sdk.Sample {
	words := []string{" good", " bad", " so good", " very bad bad", " fine", ""}
	out := make([]sdk.Sample, n)
	for i := range out {
		out[i] = sdk.Sample{Prompt: fmt.Sprintf("Prompt %d:", i), Response: words[i%len(words)] + strings.Repeat("!", i),
			PromptTokens: []int32{1, 2}, ResponseTokens: []int32{3}}
	}
	return out
}

func TestProtocol(t *testing.T) {
	s := newRM(t)
	t.Setenv("P3O_TEST_RM_KEY", "sk-test-0123456789")
	r, _ := newPlugin(t, fmt.Sprintf("url = %q\nbatch = 3\napi_key_env = \"P3O_TEST_RM_KEY\"\n", s.url()))
	in := samples(7)
	got, err := r.Score(context.Background(), &sdk.ScoreRequest{Samples: in})
	if err != nil {
		t.Fatal(err)
	}
	for i, smp := range in {
		if want := lexicon(smp.Prompt + smp.Response); got.Scores[i] != want {
			t.Errorf("score %d: got %v, want %v", i, got.Scores[i], want)
		}
	}
	reqs := s.requests()
	if len(reqs) != 3 {
		t.Fatalf("got %d requests, want 3 (7 samples, batch 3)", len(reqs))
	}
	next := 0
	for k, q := range reqs {
		if q.method != http.MethodPost || q.path != "/get_reward" || q.contentType != "application/json" {
			t.Errorf("request %d: %s %s (%s), want POST /get_reward (application/json)", k, q.method, q.path, q.contentType)
		}
		if got, want := q.header.Get("Authorization"), "Bearer sk-test-0123456789"; got != want {
			t.Errorf("request %d: Authorization %q, want %q", k, got, want)
		}
		if len(q.raw) != 3 || q.raw["query"] == nil || q.raw["prompts"] == nil || q.raw["labels"] == nil {
			t.Errorf("request %d: keys %v, want query, prompts, labels", k, keysOf(q.raw))
		}
		if want := []int{3, 3, 1}[k]; len(q.body.Query) != want || len(q.body.Prompts) != want || len(q.body.Labels) != want {
			t.Errorf("request %d: %d queries, %d prompts, %d labels; want %d each", k, len(q.body.Query), len(q.body.Prompts), len(q.body.Labels), want)
		}
		for i := range q.body.Query {
			smp := in[next]
			next++
			if q.body.Query[i] != smp.Prompt+smp.Response || q.body.Prompts[i] != smp.Prompt || q.body.Labels[i] != "" {
				t.Errorf("request %d item %d: query %q prompt %q label %q; want %q, %q, \"\"", k, i,
					q.body.Query[i], q.body.Prompts[i], q.body.Labels[i], smp.Prompt+smp.Response, smp.Prompt)
			}
		}
	}
}

func keysOf(m map[string]json.RawMessage) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	return k
}

func TestAPIKeyHeader(t *testing.T) {
	s := newRM(t)
	t.Setenv("P3O_TEST_RM_KEY", "k-123")
	tests := []struct {
		name, options        string
		wantAuth, wantCustom string
	}{
		{"no key", "", "", ""},
		{"bearer", `api_key_env = "P3O_TEST_RM_KEY"`, "Bearer k-123", ""},
		{"custom header", "api_key_env = \"P3O_TEST_RM_KEY\"\napi_key_header = \"X-API-Key\"", "", "k-123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newPlugin(t, fmt.Sprintf("url = %q\n%s\n", s.url(), tt.options))
			if _, err := r.Score(context.Background(), &sdk.ScoreRequest{Samples: samples(1)}); err != nil {
				t.Fatal(err)
			}
			reqs := s.requests()
			h := reqs[len(reqs)-1].header
			if got := h.Get("Authorization"); got != tt.wantAuth {
				t.Errorf("Authorization %q, want %q", got, tt.wantAuth)
			}
			if got := h.Get("X-API-Key"); got != tt.wantCustom {
				t.Errorf("X-API-Key %q, want %q", got, tt.wantCustom)
			}
		})
	}
}

// status answers the listed statuses (with a body naming them) to the first
// requests, then the default handler.
func status(codes ...int) func(w http.ResponseWriter, r *http.Request, n int, body request) bool {
	return func(w http.ResponseWriter, r *http.Request, n int, body request) bool {
		if n >= len(codes) {
			return false
		}
		if codes[n] == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "0")
		}
		w.WriteHeader(codes[n])
		fmt.Fprintf(w, "<html><body>\n  failure number %d: CUDA out of memory\n</body></html>", n+1)
		return true
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name         string
		answer       func(w http.ResponseWriter, r *http.Request, n int, body request) bool
		wantAttempts int
		wantErr      []string // empty: success
	}{
		{"500 then success", status(500), 2, nil},
		{"503 and 429 then success", status(503, 429), 3, nil},
		{"connection dropped then success", func(w http.ResponseWriter, r *http.Request, n int, body request) bool {
			if n > 0 {
				return false
			}
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return true
		}, 2, nil},
		{"400 is not retried", status(400), 1, []string{"/get_reward", "400 Bad Request", "failure number 1: CUDA out of memory"}},
		{"401 is not retried", status(401), 1, []string{"401 Unauthorized"}},
		{"501 is not retried", status(501), 1, []string{"501 Not Implemented"}},
		{"500 every time", status(500, 500, 500, 500), 3, []string{"/get_reward", "500 Internal Server Error", "failure number 3", "gave up after 3 attempts"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newRM(t)
			s.answer = tt.answer
			r, log := newPlugin(t, fmt.Sprintf("url = %q\nretries = 2\nbackoff = \"1ms\"\n", s.url()))
			in := samples(4)
			got, err := r.Score(context.Background(), &sdk.ScoreRequest{Samples: in})
			if n := len(s.requests()); n != tt.wantAttempts {
				t.Errorf("got %d attempts, want %d", n, tt.wantAttempts)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("got %v, want success after retries", err)
				}
				for i, smp := range in {
					if want := lexicon(smp.Prompt + smp.Response); got.Scores[i] != want {
						t.Errorf("score %d: got %v, want %v", i, got.Scores[i], want)
					}
				}
				if retries := strings.Count(log.String(), "retrying"); retries != tt.wantAttempts-1 {
					t.Errorf("log shows %d retries, want %d:\n%s", retries, tt.wantAttempts-1, log)
				}
				return
			}
			if err == nil {
				t.Fatal("got no error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	s := newRM(t)
	s.answer = func(w http.ResponseWriter, r *http.Request, n int, body request) bool {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return true
	}
	r, _ := newPlugin(t, fmt.Sprintf("url = %q\ntimeout = \"50ms\"\nretries = 1\nbackoff = \"1ms\"\n", s.url()))
	start := time.Now()
	_, err := r.Score(context.Background(), &sdk.ScoreRequest{Samples: samples(2)})
	if err == nil {
		t.Fatal("got no error from a server that never answers")
	}
	for _, w := range []string{s.url(), "within 50ms", "option timeout", "gave up after 2 attempts"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if n := len(s.requests()); n != 2 {
		t.Errorf("got %d attempts, want 2", n)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v, want about 2 x 50ms", d)
	}
}

func TestBadAnswers(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string
	}{
		{"too few rewards", `{"rewards": [0.5, 1.0]}`, []string{`"rewards" has 2 entries for 3 queries`}},
		{"too many rewards", `{"rewards": [0.5, 1.0, 2, 3]}`, []string{`4 entries for 3 queries`}},
		{"NaN", `{"rewards": [0.5, NaN, 1]}`, []string{"rewards[1] is NaN", "non-finite"}},
		{"Infinity", `{"rewards": [Infinity, 0, 1], "extra_logs": {"note": "NaN here is text"}}`, []string{"rewards[0] is Infinity"}},
		{"-Infinity", `{"rewards":[0,1,-Infinity]}`, []string{"rewards[2] is -Infinity"}},
		{"null", `{"rewards": [0, null, 1]}`, []string{"rewards[1] is null"}},
		{"string", `{"rewards": [0, "high", 1]}`, []string{`rewards[1] is "high", want a finite number`}},
		{"nested", `{"rewards": [[0], [1], [2]]}`, []string{`rewards[0] is [0], want a finite number`}},
		{"overflow", `{"rewards": [1e999, 0, 1]}`, []string{`rewards[0] is 1e999`}},
		{"not a list", `{"rewards": 0.5}`, []string{`"rewards" is not a list`}},
		{"no rewards key", `{"scores": [1, 2, 3], "extra_logs": {}}`, []string{`no "rewards" key`, `"extra_logs", "scores"`}},
		{"HTML", "<html>\n<h1>502 Bad Gateway</h1></html>", []string{"not a JSON object", `"<html> <h1>502 Bad Gateway</h1></html>"`}},
		{"empty body", "", []string{"not a JSON object", "(empty body)"}},
		{"JSON list", `[0.1, 0.2, 0.3]`, []string{"not a JSON object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newRM(t)
			s.answer = func(w http.ResponseWriter, r *http.Request, n int, body request) bool {
				io.WriteString(w, tt.body)
				return true
			}
			r, _ := newPlugin(t, fmt.Sprintf("url = %q\nbackoff = \"1ms\"\n", s.url()))
			_, err := r.Score(context.Background(), &sdk.ScoreRequest{Samples: samples(3)})
			if err == nil {
				t.Fatal("got no error")
			}
			for _, w := range append(tt.want, s.url(), "HTTP 200 OK") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if n := len(s.requests()); n != 1 {
				t.Errorf("got %d attempts, want 1 (a malformed answer is not retried)", n)
			}
		})
	}
}

func TestLargeAnswerIsAnError(t *testing.T) {
	s := newRM(t)
	r, _ := newPlugin(t, fmt.Sprintf("url = %q\n", s.url()))
	r.maxBody = 64
	_, err := r.Score(context.Background(), &sdk.ScoreRequest{Samples: samples(10)})
	if err == nil || !strings.Contains(err.Error(), "larger than 64 bytes") {
		t.Errorf("got %v, want an error about the answer's size", err)
	}
}

func TestKeyNeverShown(t *testing.T) {
	const key = "sk-live-SECRET-7f3a9c"
	t.Setenv("P3O_TEST_RM_KEY", key)
	s := newRM(t)
	// A careless server echoes the request's headers in its error pages.
	s.answer = func(w http.ResponseWriter, r *http.Request, n int, body request) bool {
		code := http.StatusBadGateway
		if n == 2 {
			code = http.StatusUnauthorized
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, "denied: Authorization=%s", r.Header.Get("Authorization"))
		return true
	}
	r, log := newPlugin(t, fmt.Sprintf("url = %q\napi_key_env = \"P3O_TEST_RM_KEY\"\nbackoff = \"1ms\"\n", s.url()))
	_, err := r.Score(context.Background(), &sdk.ScoreRequest{Samples: samples(2)})
	if err == nil {
		t.Fatal("got no error")
	}
	if strings.Contains(err.Error(), key) || strings.Contains(log.String(), key) {
		t.Errorf("the key leaked:\nerror: %v\nlog: %s", err, log)
	}
	if !strings.Contains(err.Error(), "Bearer [redacted]") || !strings.Contains(log.String(), "Bearer [redacted]") {
		t.Errorf("want the echoed key shown as [redacted]:\nerror: %v\nlog: %s", err, log)
	}
	st, _ := r.SaveState(context.Background())
	if len(st) != 0 {
		t.Errorf("state %q, want empty", st)
	}
	spec, _ := r.Describe(context.Background())
	if b, _ := json.Marshal(spec); bytes.Contains(b, []byte(key)) {
		t.Errorf("the Spec holds the key: %s", b)
	}
}

func TestConnectionRefused(t *testing.T) {
	s := newRM(t)
	u := s.url()
	s.srv.Close()
	r, _ := newPlugin(t, fmt.Sprintf("url = %q\nretries = 1\nbackoff = \"1ms\"\n", u))
	_, err := r.Score(context.Background(), &sdk.ScoreRequest{Samples: samples(1)})
	if err == nil {
		t.Fatal("got no error")
	}
	for _, w := range []string{"POST " + u, "connection failed", "gave up after 2 attempts"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}

func TestCancelStopsRetries(t *testing.T) {
	s := newRM(t)
	s.answer = status(500, 500, 500)
	r, _ := newPlugin(t, fmt.Sprintf("url = %q\nbackoff = \"20s\"\nmax_backoff = \"20s\"\n", s.url()))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := r.Score(ctx, &sdk.ScoreRequest{Samples: samples(1)})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v: a cancelled call must not sit out its backoff", d)
	}
}

func TestConcurrencyKeepsOrder(t *testing.T) {
	s := newRM(t)
	var inFlight, most atomic.Int32
	s.answer = func(w http.ResponseWriter, r *http.Request, n int, body request) bool {
		k := inFlight.Add(1)
		for {
			m := most.Load()
			if k <= m || most.CompareAndSwap(m, k) {
				break
			}
		}
		time.Sleep(30 * time.Millisecond)
		inFlight.Add(-1)
		return false
	}
	r, _ := newPlugin(t, fmt.Sprintf("url = %q\nbatch = 2\nconcurrency = 3\n", s.url()))
	in := samples(11)
	got, err := r.Score(context.Background(), &sdk.ScoreRequest{Samples: in})
	if err != nil {
		t.Fatal(err)
	}
	for i, smp := range in {
		if want := lexicon(smp.Prompt + smp.Response); got.Scores[i] != want {
			t.Errorf("score %d: got %v, want %v", i, got.Scores[i], want)
		}
	}
	if m := most.Load(); m < 2 || m > 3 {
		t.Errorf("at most %d requests were in flight, want 2 or 3 (concurrency 3)", m)
	}
}

func TestFailingBatchIsNamed(t *testing.T) {
	s := newRM(t)
	s.answer = func(w http.ResponseWriter, r *http.Request, n int, body request) bool {
		if strings.HasPrefix(body.Prompts[0], "Prompt 4:") {
			w.WriteHeader(http.StatusUnprocessableEntity)
			io.WriteString(w, `{"detail": "query too long"}`)
			return true
		}
		return false
	}
	r, _ := newPlugin(t, fmt.Sprintf("url = %q\nbatch = 2\n", s.url()))
	_, err := r.Score(context.Background(), &sdk.ScoreRequest{Samples: samples(8)})
	if err == nil {
		t.Fatal("got no error")
	}
	for _, w := range []string{"samples 4 to 5 of 8", "422 Unprocessable Entity", "query too long"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}

func TestEmptyRequestSendsNothing(t *testing.T) {
	s := newRM(t)
	r, _ := newPlugin(t, fmt.Sprintf("url = %q\n", s.url()))
	got, err := r.Score(context.Background(), &sdk.ScoreRequest{})
	if err != nil || len(got.Scores) != 0 {
		t.Errorf("got %v, %v; want no scores and no error", got, err)
	}
	if n := len(s.requests()); n != 0 {
		t.Errorf("sent %d requests, want none", n)
	}
}

func TestConfigure(t *testing.T) {
	t.Setenv("P3O_TEST_SET", "x")
	t.Setenv("P3O_TEST_EMPTY", "")
	tests := []struct {
		name, options string
		want          []string // empty: accepted
	}{
		{"minimal", `url = "http://127.0.0.1:5000/get_reward"`, nil},
		{"all options", `url = "https://rm.example/v1/score"
batch = 8
concurrency = 2
timeout = "2m"
retries = 0
backoff = "0s"
max_backoff = "0s"
api_key_env = "P3O_TEST_SET"
api_key_header = "X-API-Key"`, nil},
		{"unknown option", "url = \"http://h/\"\nbatch_size = 4", []string{"unknown option batch_size"}},
		{"no url", "batch = 4", []string{"option url is required"}},
		{"bad scheme", `url = "ftp://h/x"`, []string{"scheme \"ftp\""}},
		{"no host", `url = "http:///x"`, []string{"no host"}},
		{"password in url", `url = "http://user:hunter2@h/x"`, []string{"holds a password", "api_key_env"}},
		{"batch 0", "url = \"http://h/\"\nbatch = 0", []string{"option batch 0"}},
		{"concurrency 0", "url = \"http://h/\"\nconcurrency = 0", []string{"option concurrency 0"}},
		{"negative retries", "url = \"http://h/\"\nretries = -1", []string{"option retries -1"}},
		{"bad timeout", "url = \"http://h/\"\ntimeout = \"60\"", []string{"option timeout \"60\"", "duration"}},
		{"zero timeout", "url = \"http://h/\"\ntimeout = \"0s\"", []string{"option timeout"}},
		{"backoff above max", "url = \"http://h/\"\nbackoff = \"1m\"", []string{"max_backoff 30s is below backoff 1m"}},
		{"key variable unset", "url = \"http://h/\"\napi_key_env = \"P3O_TEST_UNSET_VAR\"", []string{"P3O_TEST_UNSET_VAR is not set"}},
		{"key variable empty", "url = \"http://h/\"\napi_key_env = \"P3O_TEST_EMPTY\"", []string{"P3O_TEST_EMPTY is not set or empty"}},
		{"key pasted as its name", "url = \"http://h/\"\napi_key_env = \"sk-abc-123\"", []string{"name of an environment variable"}},
		{"empty key header", "url = \"http://h/\"\napi_key_header = \"\"", []string{"api_key_header is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := New().Configure(context.Background(), &sdk.ConfigureRequest{Options: []byte(tt.options)})
			if tt.want == nil {
				if err != nil {
					t.Errorf("got %v, want accepted", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want an error with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, secret := range []string{"hunter2", "sk-abc-123"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q repeats the secret %q", err, secret)
				}
			}
		})
	}
}

func TestSpecAndState(t *testing.T) {
	ctx := context.Background()
	r := New()
	spec, err := r.Describe(ctx)
	if err != nil || spec.Kind != sdk.KindReward || spec.Trainable || spec.Name != "rewardhttp" {
		t.Fatalf("got %+v, %v; want a non-trainable reward named rewardhttp", spec, err)
	}
	d := spec.DefaultOptions
	if d["batch"] != int64(32) || d["timeout"] != "60s" || d["retries"] != int64(4) || d["api_key_env"] != "" {
		t.Errorf("default options %v", d)
	}
	if _, err := r.Score(ctx, &sdk.ScoreRequest{Samples: samples(1)}); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Errorf("Score before Configure: got %v, want 'not configured'", err)
	}
	if err := r.LoadState(ctx, []byte{}); err != nil {
		t.Errorf("LoadState(empty): %v", err)
	}
	if err := r.LoadState(ctx, []byte("RBTL\x01")); err == nil {
		t.Error("LoadState(foreign state) accepted")
	}
	if _, err := r.Train(ctx, &sdk.TrainRequest{}); err == nil || !strings.Contains(err.Error(), "not trainable") {
		t.Errorf("Train: got %v, want 'not trainable'", err)
	}
}

func TestBackoff(t *testing.T) {
	c := &config{backoff: time.Second, maxBackoff: 5 * time.Second}
	var got []time.Duration
	for a := range 5 {
		got = append(got, c.backoffFor(a, 0))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := c.backoffFor(0, 3*time.Second); got != 3*time.Second {
		t.Errorf("Retry-After 3s: got %v, want 3s", got)
	}
	if got := c.backoffFor(0, time.Hour); got != 5*time.Second {
		t.Errorf("Retry-After 1h: got %v, want max_backoff 5s", got)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for h, want := range map[string]time.Duration{
		"": 0, "7": 7 * time.Second, "-1": 0, "soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
	} {
		if got := retryAfter(h, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", h, got, want)
		}
	}
}

func TestQuoteNonFinite(t *testing.T) {
	for in, want := range map[string]string{
		`{"rewards": [1, 2]}`:                     `{"rewards": [1, 2]}`,
		`{"rewards": [NaN, -Infinity, Infinity]}`: `{"rewards": ["NaN", "-Infinity", "Infinity"]}`,
		`{"note": "NaN \" Infinity", "r": [NaN]}`: `{"note": "NaN \" Infinity", "r": ["NaN"]}`,
	} {
		if got := string(quoteNonFinite([]byte(in))); got != want {
			t.Errorf("quoteNonFinite(%s) = %s, want %s", in, got, want)
		}
	}
}
