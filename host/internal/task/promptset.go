package task

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"

	"github.com/p3o-rlhf/p3o/host/internal/textdata"
)

// PromptsName is the name in configs of the task made from the user's own
// prompt file (task.name = "prompts").
const PromptsName = "prompts"

// PromptSet is a task made of the user's prompts (a JSONL file, TRL's
// "prompt" column or another key) with no gold judge: runs on it report the
// reward and KL, and no gold columns.
type PromptSet struct {
	train, test []string
}

// NewPromptSet makes a PromptSet of the given prompts (not copied).
func NewPromptSet(train, test []string) *PromptSet { return &PromptSet{train: train, test: test} }

// PromptSetConfig says where a PromptSet's prompts come from.
type PromptSetConfig struct {
	// Path is the JSONL file of training prompts, one JSON object a line.
	Path string
	// Key is the field holding the prompt text ("" means "prompt").
	Key string
	// EvalPath is a JSONL file of held-out prompts (same key); when empty,
	// HeldOut of Path's prompts are held out instead.
	EvalPath string
	HeldOut  float64
}

// LoadPromptSet reads a PromptSet. A line that is not a JSON object, lacks
// the key or holds something other than a string is an error naming the
// file, the line and the key; empty prompts are skipped.
func LoadPromptSet(ctx context.Context, c PromptSetConfig) (*PromptSet, error) {
	key := c.Key
	if key == "" {
		key = "prompt"
	}
	train, err := ReadPromptFile(ctx, c.Path, key)
	if err != nil {
		return nil, err
	}
	var test []string
	switch {
	case c.EvalPath != "":
		if test, err = ReadPromptFile(ctx, c.EvalPath, key); err != nil {
			return nil, err
		}
	case c.HeldOut > 0 && c.HeldOut < 1:
		// A fixed permutation (not the run seed): every run of the same file
		// holds out the same prompts.
		perm := rand.New(rand.NewPCG(0x9e3779b9, uint64(len(train)))).Perm(len(train))
		n := max(int(c.HeldOut*float64(len(train))+0.5), 1)
		if n >= len(train) {
			return nil, fmt.Errorf("prompts %s: %d prompts cannot spare %g held out (task.heldout) and still train; add prompts or give task.eval_path", c.Path, len(train), c.HeldOut)
		}
		sort.Ints(perm[:n])
		sort.Ints(perm[n:])
		held, rest := make([]string, 0, n), make([]string, 0, len(train)-n)
		for _, i := range perm[:n] {
			held = append(held, train[i])
		}
		for _, i := range perm[n:] {
			rest = append(rest, train[i])
		}
		train, test = rest, held
	}
	return &PromptSet{train: train, test: test}, nil
}

// ReadPromptFile reads the prompts under key of a JSONL file, in order.
func ReadPromptFile(ctx context.Context, path, key string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("prompts: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		if line%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("prompts %s: %w", path, err)
			}
		}
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err != nil {
			return nil, fmt.Errorf("prompts %s:%d: not a JSON object: %s", path, line, textdata.JSONLineError(b, err, fmt.Sprintf("{%q}", key)))
		}
		raw, ok := obj[key]
		if !ok {
			return nil, fmt.Errorf("prompts %s:%d: no %q key (keys: %s); set task.prompt_key", path, line, key, textdata.KeyList(obj))
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("prompts %s:%d: %q is not a string (conversational prompts are not supported: give the prompt text)", path, line, key)
		}
		if strings.TrimSpace(s) == "" {
			continue
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("prompts %s: line %d: %w", path, line+1, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("prompts %s: no prompts under key %q", path, key)
	}
	return out, nil
}

// Name returns "prompts".
func (p *PromptSet) Name() string { return PromptsName }

// TrainPrompts returns the training prompts (shared; do not modify).
func (p *PromptSet) TrainPrompts() []string { return p.train }

// TestPrompts returns the held-out prompts (shared; do not modify).
func (p *PromptSet) TestPrompts() []string { return p.test }

// Judge returns nil: a prompt set has no gold judge.
func (p *PromptSet) Judge() Judge { return nil }

var _ Task = (*PromptSet)(nil)
