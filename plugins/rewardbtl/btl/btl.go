// Package btl is the Bradley-Terry-Luce reward model served by the rewardbtl
// plugin: a small GPT trunk (package nn) with a scalar head read at the last
// token of prompt ++ response, trained on comparisons with the loss
// -log sigmoid(r(chosen) - r(rejected)) (Bradley and Terry, 1952; as in
// Ziegler et al. 2019 and Ouyang et al. 2022).
//
// Training is chunked: each Train call takes at most MaxSteps optimiser steps
// of the whole budget and SaveState captures everything needed to continue
// bit for bit (weights, AdamW moments, the step; the data order is a pure
// function of seed and step).
package btl

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/p3o-rlhf/p3o/nn"
	"github.com/p3o-rlhf/p3o/sdk"
)

// Version is the plugin's version.
const Version = "1.0.0"

// Reward is the BTL reward model; it implements sdk.Reward. Safe for
// concurrent use (calls are serialised).
type Reward struct {
	mu   sync.Mutex
	opts Options
	tok  nn.Tokenizer
	m    *nn.Model
	opt  *nn.AdamW
	tr   *nn.Trainer
	// step is the number of optimiser steps taken; total is the budget, fixed
	// by the first Train call (0 before).
	step, total int
	// dataHash identifies the training comparisons the budget was set for.
	dataHash uint64
}

var _ sdk.Reward = (*Reward)(nil)

// New returns an unconfigured reward model (Configure builds it).
func New() *Reward { return &Reward{opts: DefaultOptions()} }

// Describe returns the plugin's Spec.
func (r *Reward) Describe(ctx context.Context) (*sdk.Spec, error) {
	return &sdk.Spec{
		Name:            "rewardbtl",
		Version:         Version,
		ProtocolVersion: sdk.ProtocolVersion,
		Kind:            sdk.KindReward,
		Trainable:       true,
		DefaultOptions:  sdk.OptionsMap(DefaultOptions()),
	}, nil
}

// Configure decodes the options strictly and builds the model: from the init
// checkpoint's trunk when set, else a fresh GPT-2 initialisation.
func (r *Reward) Configure(ctx context.Context, req *sdk.ConfigureRequest) error {
	o := DefaultOptions()
	var raw []byte
	if req != nil {
		raw = req.Options
	}
	if err := sdk.DecodeOptions(raw, &o); err != nil {
		return fmt.Errorf("rewardbtl: %w", err)
	}
	if err := o.validate(); err != nil {
		return fmt.Errorf("rewardbtl: %w", err)
	}
	tok, err := newTokenizer(o.Tokenizer)
	if err != nil {
		return err
	}
	m, err := buildModel(o, tok)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.install(o, tok, m, nil, 0, 0, 0)
}

// install makes (o, tok, m, opt, step, total) the current state and builds
// the trainer for its shape. opt nil means a fresh AdamW.
func (r *Reward) install(o Options, tok nn.Tokenizer, m *nn.Model, opt *nn.AdamW, step, total int, dataHash uint64) error {
	// Only the values matter: no language-model head in the graph.
	tr, err := nn.NewValueTrainer(m, 2*o.Batch, o.MaxLen)
	if err != nil {
		return fmt.Errorf("rewardbtl: build training graph: %w", err)
	}
	if opt == nil {
		opt = nn.NewAdamW(m, adamConfig(o))
	}
	r.opts, r.tok, r.m, r.opt, r.tr = o, tok, m, opt, tr
	r.step, r.total, r.dataHash = step, total, dataHash
	return nil
}

func adamConfig(o Options) nn.AdamWConfig {
	return nn.AdamWConfig{LR: o.LR, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: o.WeightDecay}
}

func newTokenizer(name string) (nn.Tokenizer, error) {
	if name == "byte" {
		return nn.NewByteTokenizer(), nil
	}
	if name == "words" || strings.HasPrefix(name, "words:") {
		tok, err := nn.ParseWordTokenizer(name)
		if err != nil {
			return nil, fmt.Errorf("rewardbtl: option %w", err)
		}
		return tok, nil
	}
	tok, err := nn.LoadGPT2Tokenizer(name)
	if err != nil {
		return nil, fmt.Errorf("rewardbtl: option tokenizer %q (want \"byte\", \"words\", \"words:N\" or a GPT-2 tokenizer folder): %w", name, err)
	}
	return tok, nil
}

// buildModel makes the reward model of o: a GPT with a value head, its trunk
// copied from o.Init when set.
func buildModel(o Options, tok nn.Tokenizer) (*nn.Model, error) {
	if o.Init == "" {
		cfg := nn.Config{
			Vocab: tok.VocabSize(), Context: o.MaxLen,
			DModel: orDefault(o.DModel, 64), Heads: orDefault(o.Heads, 4), Layers: orDefault(o.Layers, 2),
			ValueHead: true,
		}
		m, err := nn.NewModel(cfg, o.Seed)
		if err != nil {
			return nil, fmt.Errorf("rewardbtl: %w", err)
		}
		return m, nil
	}
	src, _, err := nn.LoadModel(o.Init)
	if err != nil {
		return nil, fmt.Errorf("rewardbtl: option init: %w", err)
	}
	c := src.Config
	for _, d := range []struct {
		name      string
		set, ckpt int
	}{{"d_model", o.DModel, c.DModel}, {"layers", o.Layers, c.Layers}, {"heads", o.Heads, c.Heads}} {
		if d.set != 0 && d.set != d.ckpt {
			return nil, fmt.Errorf("rewardbtl: option %s = %d but the init checkpoint %s has %d (leave it 0 to follow the checkpoint)", d.name, d.set, o.Init, d.ckpt)
		}
	}
	if c.Vocab != tok.VocabSize() {
		return nil, fmt.Errorf("rewardbtl: init checkpoint %s has vocabulary %d, tokenizer %q has %d", o.Init, c.Vocab, o.Tokenizer, tok.VocabSize())
	}
	if o.MaxLen > c.Context {
		return nil, fmt.Errorf("rewardbtl: option max_len %d exceeds the init checkpoint's context %d", o.MaxLen, c.Context)
	}
	c.ValueHead = true
	m, err := nn.NewModel(c, o.Seed)
	if err != nil {
		return nil, fmt.Errorf("rewardbtl: %w", err)
	}
	copyTrunk(m.Params, src.Params)
	return m, nil
}

// copyTrunk copies every parameter but the value head from src to dst.
func copyTrunk(dst, src *nn.Params) {
	copy(dst.Wte, src.Wte)
	copy(dst.Wpe, src.Wpe)
	for i := range dst.Blocks {
		d, s := &dst.Blocks[i], &src.Blocks[i]
		for _, p := range [][2][]float32{
			{d.Ln1G, s.Ln1G}, {d.Ln1B, s.Ln1B}, {d.AttnW, s.AttnW}, {d.AttnB, s.AttnB},
			{d.AttnProjW, s.AttnProjW}, {d.AttnProjB, s.AttnProjB}, {d.Ln2G, s.Ln2G}, {d.Ln2B, s.Ln2B},
			{d.FcW, s.FcW}, {d.FcB, s.FcB}, {d.ProjW, s.ProjW}, {d.ProjB, s.ProjB},
		} {
			copy(p[0], p[1])
		}
	}
	copy(dst.LnFG, src.LnFG)
	copy(dst.LnFB, src.LnFB)
}

func orDefault(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

// errNotConfigured is returned before Configure.
var errNotConfigured = errors.New("rewardbtl: not configured (call Configure first)")

// seq is one tokenized prompt ++ response: ids (at most MaxLen, the tail
// kept) and how many of the last ids are response tokens.
type seq struct {
	ids  []int32
	resp int
}

// encode tokenizes prompt ++ response and keeps the last MaxLen tokens.
func (r *Reward) encode(prompt, response string) seq {
	rs := r.tok.Encode(response)
	ids := append(r.tok.Encode(prompt), rs...)
	if len(ids) > r.opts.MaxLen {
		ids = ids[len(ids)-r.opts.MaxLen:]
	}
	if len(ids) == 0 {
		ids = []int32{r.tok.EOT()}
	}
	return seq{ids: ids, resp: min(len(rs), len(ids))}
}

// Score returns the reward of each sample: the value head at the last token
// of prompt ++ response (texts re-tokenized with the plugin's tokenizer).
func (r *Reward) Score(ctx context.Context, req *sdk.ScoreRequest) (*sdk.ScoreResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		return nil, errNotConfigured
	}
	seqs := make([]seq, len(req.Samples))
	for i, s := range req.Samples {
		seqs[i] = r.encode(s.Prompt, s.Response)
	}
	scores, err := r.scoreSeqs(ctx, seqs)
	if err != nil {
		return nil, err
	}
	return &sdk.ScoreResponse{Scores: scores}, nil
}

// span is the flat range [lo, hi) of the positions a sequence's score
// pools: its last token ("last"), or its response tokens ("mean" and "sum";
// the last token when the response is empty). sum adds the values instead
// of averaging them.
type span struct {
	lo, hi int
	sum    bool
}

// div is what the pooled sum is divided by.
func (sp span) div() float64 {
	if sp.sum {
		return 1
	}
	return float64(sp.hi - sp.lo)
}

// score pools values over sp.
func (sp span) score(values []float32) float64 {
	var s float64
	for k := sp.lo; k < sp.hi; k++ {
		s += float64(values[k])
	}
	return s / sp.div()
}

// grad writes the gradient g of the pooled score into dValues.
func (sp span) grad(dValues []float32, g float64) {
	w := float32(g / sp.div())
	for k := sp.lo; k < sp.hi; k++ {
		dValues[k] = w
	}
}

// fill writes seqs into tokens (rows of MaxLen, padded with EOT) and returns
// each sequence's pooled span.
func (r *Reward) fill(tokens []int32, seqs []seq) []span {
	T := r.opts.MaxLen
	for i := range tokens {
		tokens[i] = r.tok.EOT()
	}
	spans := make([]span, len(seqs))
	for i, s := range seqs {
		copy(tokens[i*T:], s.ids)
		end := i*T + len(s.ids)
		spans[i] = span{lo: end - 1, hi: end}
		if (r.opts.Pool == PoolMean || r.opts.Pool == PoolSum) && s.resp > 0 {
			spans[i].lo = end - s.resp
			spans[i].sum = r.opts.Pool == PoolSum
		}
	}
	return spans
}

// scoreSeqs runs the forward pass over seqs in rows of the trainer's batch.
func (r *Reward) scoreSeqs(ctx context.Context, seqs []seq) ([]float64, error) {
	rows := 2 * r.opts.Batch
	T := r.opts.MaxLen
	tokens := make([]int32, rows*T)
	targets := make([]int32, rows*T)
	out := make([]float64, 0, len(seqs))
	for start := 0; start < len(seqs); start += rows {
		end := min(start+rows, len(seqs))
		spans := r.fill(tokens, seqs[start:end])
		_, values, err := r.tr.Forward(ctx, tokens, targets)
		if err != nil {
			return nil, fmt.Errorf("rewardbtl: score: %w", err)
		}
		for _, sp := range spans {
			out = append(out, sp.score(values))
		}
	}
	return out, nil
}

// logger is the plugin's logger: hclog's default, which sdk.ServeReward sets
// to JSON on stderr for the host to show under the plugin's name.
func logger() hclog.Logger { return hclog.Default().Named("rewardbtl") }
