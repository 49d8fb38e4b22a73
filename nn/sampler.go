package nn

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/p3o-rlhf/p3o/nn/internal/gemm"
	"github.com/p3o-rlhf/p3o/nn/internal/par"
)

// SampleRequest is one sequence to continue.
type SampleRequest struct {
	// Prompt is the context to continue; it must hold at least one token
	// (start with EOT for an unconditional sample).
	Prompt []int32
	// Seed seeds this request's own RNG stream, so its sample does not
	// depend on the other requests of the batch or the batch size.
	Seed uint64
}

// SampleOptions shape the draw; they apply to every request of a call.
type SampleOptions struct {
	// MaxNew is the number of tokens to generate (fewer when Stop is drawn).
	// len(Prompt)+MaxNew-1 must not exceed the model's context.
	MaxNew int
	// Temperature divides the logits before the draw; 0 means 1.
	Temperature float64
	// TopK keeps the K most likely tokens (0: all; 1: greedy).
	TopK int
	// TopP keeps the smallest set of most likely tokens whose probability
	// reaches P, after top-k (0 or 1: all).
	TopP float64
	// Stop ends a sequence when drawn (it is included in the result); -1
	// for none.
	Stop int32
	// Ban lists tokens that are never drawn.
	Ban []int32
}

// SampleResult is the continuation of one request.
type SampleResult struct {
	// Tokens are the new tokens only.
	Tokens []int32
	// Logp[i] is log p(Tokens[i]) under the model at temperature 1 over the
	// full vocabulary, whatever temperature, top-k, top-p or bans shaped the
	// draw: the same number the training graph gives.
	Logp []float32
}

// Sampler generates from a Model with a KV cache, in plain Go over the
// model's own parameter slices (an optimiser step is seen at the next call).
// Requests are processed maxBatch at a time, one token per sequence per
// step, so every step is a (B, D) x (D, 3D) ... product. All buffers are
// allocated once by NewSampler: generating a token allocates nothing.
// A Sampler is not safe for concurrent use; make one per goroutine.
type Sampler struct {
	m        *Model
	maxBatch int
	maxLen   int // positions cached per sequence (<= Context)

	kc, vc [][]float32 // per layer: (maxBatch, maxLen, D)

	// per-step activations, (maxBatch, width)
	x, h, qkv, att, fc, logits []float32
	th                         []float32   // (maxBatch, 4D) tanh scratch of geluFwd
	scores                     [][]float32 // per attention chunk: (maxLen)

	// parallel loops (nn/internal/par) and the operands of the running one
	lnTask, geluTask, attnTask, drawTask *par.Task
	lnY, lnX, lnG, lnB                   []float32
	attnLayer                            int
	drawOpts                             SampleOptions
	drawRows                             []int // rows that draw this step
	drawSt                               []*seqState
	drawTok                              []int32 // per row of drawRows
	drawLp                               []float32

	// active rows of the current step
	tok  []int32
	pos  []int
	slot []int

	rng    []rand.PCG
	draws  []drawScratch // per draw chunk
	banned []bool        // (Vocab)
	anyBan bool
}

// drawScratch holds the buffers of one draw: the weights and, for top-k
// and top-p, the candidate order (made at its first use).
type drawScratch struct {
	weight []float64 // (Vocab)
	order  topSorter
}

// NewSampler makes a sampler for m that runs up to maxBatch sequences at
// once (maxBatch < 1 means 1).
func NewSampler(m *Model, maxBatch int) *Sampler {
	return NewSamplerLen(m, maxBatch, 0)
}

// NewSamplerLen is NewSampler with KV caches for sequences (prompt plus
// new tokens, minus one) of at most maxLen positions instead of the
// model's whole context (maxLen < 1 or > Context means Context): a GPT-2
// with a 1024-token context sampling 112-token sequences needs 9 times
// less cache.
func NewSamplerLen(m *Model, maxBatch, maxLen int) *Sampler {
	maxBatch = max(maxBatch, 1)
	c := m.Config
	d := c.DModel
	if maxLen < 1 || maxLen > c.Context {
		maxLen = c.Context
	}
	s := &Sampler{m: m, maxBatch: maxBatch, maxLen: maxLen}
	for range c.Layers {
		s.kc = append(s.kc, make([]float32, maxBatch*maxLen*d))
		s.vc = append(s.vc, make([]float32, maxBatch*maxLen*d))
	}
	s.grow(maxBatch)
	s.logits = make([]float32, maxBatch*c.Vocab)
	s.scores = [][]float32{make([]float32, maxLen)}
	s.rng = make([]rand.PCG, maxBatch)
	s.draws = []drawScratch{{
		weight: make([]float64, c.Vocab),
		order:  topSorter{idx: make([]int32, c.Vocab), val: make([]float32, c.Vocab)},
	}}
	s.banned = make([]bool, c.Vocab)
	s.drawRows = make([]int, 0, maxBatch)
	s.drawSt = make([]*seqState, maxBatch)
	s.drawTok = make([]int32, maxBatch)
	s.drawLp = make([]float32, maxBatch)
	s.lnTask = par.NewTask(func(_, lo, hi int) {
		d := c.DModel
		smpLayerNorm(s.lnY[lo*d:hi*d], s.lnX[lo*d:hi*d], s.lnG, s.lnB, hi-lo, d)
	})
	s.geluTask = par.NewTask(func(_, lo, hi int) {
		geluFwd(s.fc[lo:hi], s.th[lo:hi], s.fc[lo:hi])
	})
	s.attnTask = par.NewTask(s.attendRows)
	s.drawTask = par.NewTask(s.drawChunk)
	return s
}

// growScores and growDraws make per-chunk scratch of the attention and the
// draw for up to chunks chunks (allocating only when the chunk count grows).
func (s *Sampler) growScores(chunks int) {
	for len(s.scores) < chunks {
		s.scores = append(s.scores, make([]float32, s.maxLen))
	}
}

func (s *Sampler) growDraws(chunks int) {
	for len(s.draws) < chunks {
		s.draws = append(s.draws, drawScratch{weight: make([]float64, s.m.Config.Vocab)})
	}
}

// layerNorm runs smpLayerNorm over n rows, split across the worker pool.
func (s *Sampler) layerNorm(y, x, g, b []float32, n int) {
	d := s.m.Config.DModel
	s.lnY, s.lnX, s.lnG, s.lnB = y, x, g, b
	s.lnTask.Run(n, 1, rowsFor(minRowsLayerNorm, 16384, d))
	s.lnY, s.lnX, s.lnG, s.lnB = nil, nil, nil, nil
}

// prefillRows bounds the token rows of one prefill forward call (and so the
// size the row buffers grow to).
const prefillRows = 512

// grow makes the per-row buffers hold at least n rows.
func (s *Sampler) grow(n int) {
	if n <= len(s.tok) {
		return
	}
	d := s.m.Config.DModel
	s.x = make([]float32, n*d)
	s.h = make([]float32, n*d)
	s.qkv = make([]float32, n*3*d)
	s.att = make([]float32, n*d)
	s.fc = make([]float32, n*4*d)
	s.th = make([]float32, n*4*d)
	s.tok = make([]int32, n)
	s.pos = make([]int, n)
	s.slot = make([]int, n)
}

// smpSplitmix is one step of SplitMix64, used to spread request seeds.
func smpSplitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// seqState tracks one request during a call.
type seqState struct {
	req  *SampleRequest
	res  *SampleResult
	fed  int // tokens of prompt++generated already in the cache
	slot int
}

// Sample continues every request and returns one result per request, in
// order. It checks ctx between steps.
func (s *Sampler) Sample(ctx context.Context, reqs []SampleRequest, opts SampleOptions) ([]SampleResult, error) {
	c := s.m.Config
	if opts.MaxNew < 0 {
		return nil, fmt.Errorf("sample: MaxNew %d is negative", opts.MaxNew)
	}
	if opts.Temperature < 0 || math.IsNaN(opts.Temperature) {
		return nil, fmt.Errorf("sample: temperature %v must be >= 0 (0 means 1)", opts.Temperature)
	}
	if opts.TopK < 0 {
		return nil, fmt.Errorf("sample: top-k %d is negative", opts.TopK)
	}
	if opts.TopP < 0 || opts.TopP > 1 || math.IsNaN(opts.TopP) {
		return nil, fmt.Errorf("sample: top-p %v must be in [0, 1]", opts.TopP)
	}
	clear(s.banned)
	nBanned := 0
	for _, b := range opts.Ban {
		if b < 0 || int(b) >= c.Vocab {
			return nil, fmt.Errorf("sample: banned token %d outside the vocabulary [0, %d)", b, c.Vocab)
		}
		if !s.banned[b] {
			s.banned[b] = true
			nBanned++
		}
	}
	s.anyBan = nBanned > 0
	if nBanned == c.Vocab {
		return nil, fmt.Errorf("sample: every token of the vocabulary is banned")
	}
	for i, r := range reqs {
		if len(r.Prompt) == 0 {
			return nil, fmt.Errorf("sample: request %d has an empty prompt (start it with the EOT token)", i)
		}
		if n := len(r.Prompt) + opts.MaxNew - 1; n > s.maxLen {
			if s.maxLen < c.Context {
				return nil, fmt.Errorf("sample: request %d: prompt of %d tokens plus %d new needs %d positions, the sampler caches %d (NewSamplerLen)", i, len(r.Prompt), opts.MaxNew, n, s.maxLen)
			}
			return nil, fmt.Errorf("sample: request %d: prompt of %d tokens plus %d new needs %d positions, the model's context is %d", i, len(r.Prompt), opts.MaxNew, n, c.Context)
		}
		for j, t := range r.Prompt {
			if t < 0 || int(t) >= c.Vocab {
				return nil, fmt.Errorf("sample: request %d: prompt token %d at position %d outside the vocabulary [0, %d)", i, t, j, c.Vocab)
			}
		}
	}
	results := make([]SampleResult, len(reqs))
	if opts.MaxNew == 0 {
		return results, nil
	}
	states := make([]seqState, s.maxBatch)
	active := make([]*seqState, 0, s.maxBatch)
	for c0 := 0; c0 < len(reqs); c0 += s.maxBatch {
		c1 := min(c0+s.maxBatch, len(reqs))
		active = active[:0]
		for i := c0; i < c1; i++ {
			results[i] = SampleResult{Tokens: make([]int32, 0, opts.MaxNew), Logp: make([]float32, 0, opts.MaxNew)}
			st := &states[i-c0]
			*st = seqState{req: &reqs[i], res: &results[i], slot: i - c0}
			seed := reqs[i].Seed
			s.rng[st.slot].Seed(smpSplitmix(seed), smpSplitmix(seed^0x5851f42d4c957f2d))
			active = append(active, st)
		}
		// Prefill: every prompt token but the last, of all the chunk's
		// requests, in as few forward calls as possible (big GEMMs). Rows go
		// slot by slot in position order, so within a call each row's keys
		// and values are cached before a later position of its slot reads
		// them.
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("sample: %w", err)
		}
		total := 0
		for _, st := range active {
			total += len(st.req.Prompt) - 1
		}
		s.grow(min(total, prefillRows))
		n := 0
		for _, st := range active {
			for p, tok := range st.req.Prompt[:len(st.req.Prompt)-1] {
				if n == prefillRows {
					s.forward(n, false)
					n = 0
				}
				s.tok[n], s.pos[n], s.slot[n] = tok, p, st.slot
				n++
			}
			st.fed = len(st.req.Prompt) - 1
		}
		if n > 0 {
			s.forward(n, false)
		}
		// Decode: one token per active sequence per step.
		for len(active) > 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("sample: %w", err)
			}
			for r, st := range active {
				if st.fed < len(st.req.Prompt) {
					s.tok[r] = st.req.Prompt[st.fed]
				} else {
					s.tok[r] = st.res.Tokens[st.fed-len(st.req.Prompt)]
				}
				s.pos[r] = st.fed
				s.slot[r] = st.slot
			}
			s.forward(len(active), true)
			// Draw every row past its prompt (in parallel: each row has its
			// own RNG stream), then update the results in row order.
			s.drawRows = s.drawRows[:0]
			for r, st := range active {
				st.fed++
				if st.fed >= len(st.req.Prompt) {
					s.drawSt[len(s.drawRows)] = st
					s.drawRows = append(s.drawRows, r)
				}
			}
			s.drawAll(opts)
			keep := active[:0]
			i := 0
			for _, st := range active {
				if st.fed < len(st.req.Prompt) {
					keep = append(keep, st)
					continue
				}
				tok := s.drawTok[i]
				st.res.Tokens = append(st.res.Tokens, tok)
				st.res.Logp = append(st.res.Logp, s.drawLp[i])
				i++
				if len(st.res.Tokens) < opts.MaxNew && tok != opts.Stop {
					keep = append(keep, st)
				}
			}
			// Rows keep their order, so compacting the active list needs no
			// data movement: every buffer is rebuilt from the cache slots.
			active = keep
		}
	}
	return results, nil
}

// forward runs n token rows (s.tok, s.pos, s.slot) through the model,
// appending their keys and values to the cache; with logits it leaves the
// logits in s.logits[:n*Vocab] (n <= maxBatch then).
func (s *Sampler) forward(n int, logits bool) {
	c := s.m.Config
	p := s.m.Params
	d := c.DModel
	x := s.x[:n*d]
	for r := range n {
		xr := x[r*d : (r+1)*d]
		e := p.Wte[int(s.tok[r])*d:]
		w := p.Wpe[s.pos[r]*d:]
		for i := range xr {
			xr[i] = e[i] + w[i]
		}
	}
	// a row attends to pos+1 positions at about 4d flops each
	work := 0
	for r := range n {
		work += 4 * d * (s.pos[r] + 1)
	}
	minRows := max(1, minWorkAttn*n/max(work, 1))
	for l := range p.Blocks {
		b := &p.Blocks[l]
		h := s.h[:n*d]
		s.layerNorm(h, x, b.Ln1G, b.Ln1B, n)
		qkv := s.qkv[:n*3*d]
		smpLinear(qkv, h, b.AttnW, b.AttnB, n, d, 3*d, false)
		// Cache every row's key and value first: a prefill row reads those
		// of the earlier positions of its slot, which may be in this call.
		kc, vc := s.kc[l], s.vc[l]
		for r := range n {
			base := s.slot[r]*s.maxLen*d + s.pos[r]*d
			copy(kc[base:base+d], qkv[r*3*d+d:r*3*d+2*d])
			copy(vc[base:base+d], qkv[r*3*d+2*d:r*3*d+3*d])
		}
		w := par.Workers()
		s.growScores(par.Chunks(n, 1, minRows, w))
		s.attnLayer = l
		s.attnTask.RunUpTo(w, n, 1, minRows)
		smpLinear(x, s.att[:n*d], b.AttnProjW, b.AttnProjB, n, d, d, true)
		s.layerNorm(h, x, b.Ln2G, b.Ln2B, n)
		fc := s.fc[:n*4*d]
		smpLinear(fc, h, b.FcW, b.FcB, n, d, 4*d, false)
		// the training graph's GELU kernel (8 lanes with GOEXPERIMENT=simd)
		s.geluTask.Run(n*4*d, vecLanes, minElemsGELU)
		smpLinear(x, fc, b.ProjW, b.ProjB, n, 4*d, d, true)
	}
	if !logits {
		return
	}
	h := s.h[:n*d]
	s.layerNorm(h, x, p.LnFG, p.LnFB, n)
	gemm.Sgemm(false, true, n, c.Vocab, d, 1, h, d, p.Wte, d, 0, s.logits[:n*c.Vocab], c.Vocab)
}

// attendRows computes the attention output of rows [lo, hi) of the running
// forward call (layer s.attnLayer) from s.qkv and the KV cache into s.att;
// chunk selects the scores scratch.
func (s *Sampler) attendRows(chunk, lo, hi int) {
	c := s.m.Config
	d := c.DModel
	hd := d / c.Heads
	scale := float32(1 / math.Sqrt(float64(hd)))
	kc, vc := s.kc[s.attnLayer], s.vc[s.attnLayer]
	for r := lo; r < hi; r++ {
		q := s.qkv[r*3*d : r*3*d+d]
		base := s.slot[r] * s.maxLen * d
		out := s.att[r*d : (r+1)*d]
		clear(out)
		sc := s.scores[chunk][:s.pos[r]+1]
		for hh := range c.Heads {
			// scores of the head's query against the slot's cached keys
			// (rows d apart), softmax, then the weighted sum of the values
			gemm.SdotRows(scale, q[hh*hd:(hh+1)*hd], kc[base+hh*hd:], d, sc)
			mx := float32(math.Inf(-1))
			for _, v := range sc {
				mx = max(mx, v)
			}
			var sum float32
			for j, v := range sc {
				e := smpExp(v - mx)
				sc[j] = e
				sum += e
			}
			inv := 1 / sum
			for j := range sc {
				sc[j] *= inv
			}
			gemm.SaxpyRows(sc, vc[base+hh*hd:], d, out[hh*hd:(hh+1)*hd])
		}
	}
}

// drawAll draws the next token of every row in s.drawRows into s.drawTok
// and s.drawLp, split across the worker pool when the vocabulary is large.
func (s *Sampler) drawAll(opts SampleOptions) {
	n := len(s.drawRows)
	if n == 0 {
		return
	}
	minRows := rowsFor(n, minElemsDraw, s.m.Config.Vocab)
	w := par.Workers()
	s.growDraws(par.Chunks(n, 1, minRows, w))
	s.drawOpts = opts
	s.drawTask.RunUpTo(w, n, 1, minRows)
	s.drawOpts = SampleOptions{}
	clear(s.drawSt[:n]) // do not keep this call's states alive
}

// drawChunk draws rows [lo, hi) of s.drawRows with chunk's scratch.
func (s *Sampler) drawChunk(chunk, lo, hi int) {
	v := s.m.Config.Vocab
	sc := &s.draws[chunk]
	for i := lo; i < hi; i++ {
		r, st := s.drawRows[i], s.drawSt[i]
		s.drawTok[i], s.drawLp[i] = s.draw(sc, s.logits[r*v:(r+1)*v], &s.rng[st.slot], s.drawOpts)
	}
}

// smpLinear computes y = x W + b for n rows (x: (n, in), W: (in, out)); with
// accumulate it adds to y instead (a residual connection).
func smpLinear(y, x, w, bias []float32, n, in, out int, accumulate bool) {
	for r := range n {
		yr := y[r*out : (r+1)*out]
		if accumulate {
			for i, v := range bias {
				yr[i] += v
			}
		} else {
			copy(yr, bias)
		}
	}
	gemm.Sgemm(false, false, n, out, in, 1, x, in, w, out, 1, y, out)
}

// smpLNEps is GPT-2's LayerNorm epsilon.
const smpLNEps = 1e-5

// smpLayerNorm normalises each of n rows of x (width d) into y.
func smpLayerNorm(y, x, g, b []float32, n, d int) {
	for r := range n {
		xr := x[r*d : (r+1)*d]
		yr := y[r*d : (r+1)*d]
		var mean float32
		for _, v := range xr {
			mean += v
		}
		mean /= float32(d)
		var vr float32
		for _, v := range xr {
			dv := v - mean
			vr += dv * dv
		}
		vr /= float32(d)
		inv := float32(1 / math.Sqrt(float64(vr)+smpLNEps))
		for i, v := range xr {
			yr[i] = (v-mean)*inv*g[i] + b[i]
		}
	}
}

// smpExp is exp in float32 (Cephes expf: range reduction by ln 2 and a
// degree-6 polynomial), within 2 ulps; several times faster than math.Exp.
func smpExp(x float32) float32 {
	if x > 88 || x < -87 || x != x { // near overflow/underflow, NaN: rare
		return float32(math.Exp(float64(x)))
	}
	// Round x*log2(e) to the nearest integer n with the 1.5*2^23 trick: the
	// low mantissa bits of the sum are n.
	const magic = 12582912
	nf := x*1.44269504088896341 + magic
	ni := int32(math.Float32bits(nf)) - 0x4b400000
	n := nf - magic
	r := x - n*0.693359375 + n*2.12194440e-4
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	p = p*r*r + r + 1
	return p * math.Float32frombits(uint32(ni+127)<<23)
}

// draw picks the next token from one row of logits and returns it with its
// temperature-1 log-probability over the full vocabulary.
func (s *Sampler) draw(sc *drawScratch, logits []float32, rng *rand.PCG, opts SampleOptions) (int32, float32) {
	// The model's own log-normaliser, over the full vocabulary.
	mx := float32(math.Inf(-1))
	for _, v := range logits {
		mx = max(mx, v)
	}
	w := sc.weight[:len(logits)]
	var sum float64
	for i, v := range logits {
		e := smpExp(v - mx)
		w[i] = float64(e)
		sum += float64(e)
	}
	lse := float64(mx) + math.Log(sum)
	u := float64(rng.Uint64()>>11) / (1 << 53)

	var tok int32
	if (opts.Temperature == 0 || opts.Temperature == 1) && opts.TopK == 0 && (opts.TopP == 0 || opts.TopP == 1) && !s.anyBan {
		// The draw distribution is the model's: reuse the weights.
		tok = int32(len(logits) - 1)
		target := u * sum
		for i, wi := range w {
			target -= wi
			if target < 0 {
				tok = int32(i)
				break
			}
		}
	} else {
		tok = s.choose(sc, logits, u, opts)
	}
	return tok, float32(float64(logits[tok]) - lse)
}

// choose applies bans, temperature, top-k and top-p and picks a token with
// the uniform variate u in [0, 1).
func (s *Sampler) choose(sc *drawScratch, logits []float32, u float64, opts SampleOptions) int32 {
	v := len(logits)
	mx := float32(math.Inf(-1))
	arg := int32(-1)
	allowed := 0
	for i, l := range logits {
		if s.banned[i] {
			continue
		}
		allowed++
		if l > mx || arg < 0 {
			mx, arg = l, int32(i)
		}
	}
	if opts.TopK == 1 {
		return arg
	}
	invT := 1.0
	if opts.Temperature > 0 {
		invT = 1 / opts.Temperature
	}
	k := allowed
	if opts.TopK > 0 {
		k = min(k, opts.TopK)
	}
	topP := opts.TopP > 0 && opts.TopP < 1
	if k == allowed && !topP {
		// Plain draw over every allowed token.
		var total float64
		w := sc.weight[:v]
		for i, l := range logits {
			if s.banned[i] {
				w[i] = 0
				continue
			}
			w[i] = float64(smpExp(float32(float64(l-mx) * invT)))
			total += w[i]
		}
		target := u * total
		last := arg
		for i, wi := range w {
			if wi == 0 {
				continue
			}
			last = int32(i)
			target -= wi
			if target < 0 {
				return int32(i)
			}
		}
		return last // rounding: the walk ran off the end
	}
	// Rank the allowed tokens by logit, keep the top k (and top p).
	o := &sc.order
	if o.idx == nil {
		o.idx, o.val = make([]int32, v), make([]float32, v)
	}
	o.n = 0
	for i, l := range logits {
		if !s.banned[i] {
			o.idx[o.n], o.val[o.n] = int32(i), l
			o.n++
		}
	}
	o.sortTop(k)
	w := sc.weight[:k]
	var total float64
	for i := range k {
		w[i] = float64(smpExp(float32(float64(o.val[i]-mx) * invT)))
		total += w[i]
	}
	if topP {
		var cum float64
		for i := range k {
			cum += w[i]
			if cum >= opts.TopP*total {
				k = i + 1
				total = cum
				break
			}
		}
	}
	target := u * total
	for i := range k {
		target -= w[i]
		if target < 0 {
			return o.idx[i]
		}
	}
	return o.idx[k-1]
}

// topSorter orders candidate tokens by logit, descending (ties by id), with
// preallocated buffers.
type topSorter struct {
	idx []int32
	val []float32
	n   int
}

func (o *topSorter) less(i, j int) bool {
	if o.val[i] != o.val[j] {
		return o.val[i] > o.val[j]
	}
	return o.idx[i] < o.idx[j]
}

func (o *topSorter) swap(i, j int) {
	o.idx[i], o.idx[j] = o.idx[j], o.idx[i]
	o.val[i], o.val[j] = o.val[j], o.val[i]
}

// sortTop moves the k best of the n candidates to the front, sorted: a
// selection by repeated partitioning, then an insertion sort of the k.
func (o *topSorter) sortTop(k int) {
	lo, hi := 0, o.n-1
	for hi > lo && k < o.n {
		// Median-of-three pivot to position hi, then Lomuto partition.
		mid := lo + (hi-lo)/2
		if o.less(mid, lo) {
			o.swap(mid, lo)
		}
		if o.less(hi, lo) {
			o.swap(hi, lo)
		}
		if o.less(mid, hi) {
			o.swap(mid, hi)
		}
		st := lo
		for i := lo; i < hi; i++ {
			if o.less(i, hi) {
				o.swap(i, st)
				st++
			}
		}
		o.swap(st, hi)
		switch {
		case st == k-1 || st == k:
			hi = lo // done: the first k are the best
		case st < k:
			lo = st + 1
		default:
			hi = st - 1
		}
	}
	for i := 1; i < k; i++ {
		for j := i; j > 0 && o.less(j, j-1); j-- {
			o.swap(j, j-1)
		}
	}
}
