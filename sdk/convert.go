package sdk

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"github.com/p3o-rlhf/p3o/sdk/internal/pb"
)

// Conversions between the SDK's Go types and the generated wire types of
// sdk/internal/pb. They live in package sdk (unexported) rather than in
// sdk/internal because they need the sdk types and sdk needs them: a separate
// package would be an import cycle. Authors never see a pb type.
//
// A batch travels column-wise (see pb.Column): encoding copies each per-token
// array once into its column; decoding copies nothing, every array being a
// capacity-limited sub-slice of its column. Nil and empty arrays both
// survive the round trip as they were.

func specToProto(s *Spec) (*pb.Spec, error) {
	if s == nil {
		return nil, fmt.Errorf("nil spec")
	}
	var opts []byte
	if len(s.DefaultOptions) > 0 {
		b, err := EncodeOptions(s.DefaultOptions)
		if err != nil {
			return nil, fmt.Errorf("spec default options: %w", err)
		}
		opts = b
	}
	return &pb.Spec{
		Name:               s.Name,
		Version:            s.Version,
		ProtocolVersion:    int64(s.ProtocolVersion),
		Kind:               string(s.Kind),
		Mode:               string(s.Mode),
		ResponsesPerPrompt: int64(s.ResponsesPerPrompt),
		NeedsValueHead:     s.NeedsValueHead,
		NeedsReference:     s.NeedsReference,
		ShiftInvariant:     s.ShiftInvariant,
		Trainable:          s.Trainable,
		DefaultOptionsToml: opts,
	}, nil
}

func specFromProto(p *pb.Spec) (*Spec, error) {
	if p == nil {
		return nil, fmt.Errorf("plugin returned no spec")
	}
	s := &Spec{
		Name:               p.Name,
		Version:            p.Version,
		ProtocolVersion:    int(p.ProtocolVersion),
		Kind:               Kind(p.Kind),
		Mode:               Mode(p.Mode),
		ResponsesPerPrompt: int(p.ResponsesPerPrompt),
		NeedsValueHead:     p.NeedsValueHead,
		NeedsReference:     p.NeedsReference,
		ShiftInvariant:     p.ShiftInvariant,
		Trainable:          p.Trainable,
	}
	if len(p.DefaultOptionsToml) > 0 {
		m := map[string]any{}
		if _, err := toml.Decode(string(p.DefaultOptionsToml), &m); err != nil {
			return nil, fmt.Errorf("spec default options: %w", err)
		}
		s.DefaultOptions = m
	}
	return s, nil
}

// arena hands out the columns of one request message and is reused for the
// next once the message is marshalled, so a Loss call allocates no per-token
// memory on the host side. A nil *arena allocates.
type arena struct {
	f []float64
	i []int32
}

var arenas = sync.Pool{New: func() any { return &arena{} }}

// floats returns an empty slice with capacity n.
func (a *arena) floats(n int) []float64 {
	if a == nil {
		return make([]float64, 0, n)
	}
	if cap(a.f)-len(a.f) < n {
		a.f = make([]float64, 0, max(2*cap(a.f), n))
	}
	start := len(a.f)
	a.f = a.f[:start+n]
	return a.f[start : start : start+n]
}

// ints returns an empty slice with capacity n.
func (a *arena) ints(n int) []int32 {
	if a == nil {
		return make([]int32, 0, n)
	}
	if cap(a.i)-len(a.i) < n {
		a.i = make([]int32, 0, max(2*cap(a.i), n))
	}
	start := len(a.i)
	a.i = a.i[:start+n]
	return a.i[start : start : start+n]
}

// reset makes the whole arena free again (the previous message is gone).
func (a *arena) reset() {
	a.f, a.i = a.f[:0], a.i[:0]
}

// columnToProto lays the arrays of every sequence end to end.
func columnToProto(a *arena, name string, arrays [][]float64) *pb.Column {
	c := &pb.Column{Name: name}
	total, anySet := 0, false
	for _, a := range arrays {
		total += len(a)
		anySet = anySet || a != nil
	}
	if !anySet {
		return c
	}
	c.Lens = a.ints(len(arrays))[:len(arrays)]
	c.Values = a.floats(total)
	for i, x := range arrays {
		if x == nil {
			c.Lens[i] = -1
			continue
		}
		c.Lens[i] = int32(len(x))
		c.Values = append(c.Values, x...)
	}
	return c
}

// columnFromProto splits a column into n arrays, sub-slices of one backing
// array (capacity-limited, so an append never runs into the next one).
func columnFromProto(what string, c *pb.Column, n int) ([][]float64, error) {
	out := make([][]float64, n)
	if len(c.GetLens()) == 0 {
		if len(c.GetValues()) != 0 {
			return nil, fmt.Errorf("malformed %s: %d values without lengths", what, len(c.GetValues()))
		}
		return out, nil
	}
	if len(c.Lens) != n {
		return nil, fmt.Errorf("malformed %s: %d lengths for %d sequences", what, len(c.Lens), n)
	}
	off := 0
	for i, l := range c.Lens {
		if l < 0 {
			continue
		}
		end := off + int(l)
		if end > len(c.Values) {
			return nil, fmt.Errorf("malformed %s: lengths exceed the %d values", what, len(c.Values))
		}
		out[i] = c.Values[off:end:end]
		if out[i] == nil {
			out[i] = []float64{} // empty, not nil (Values is nil when all are empty)
		}
		off = end
	}
	if off != len(c.Values) {
		return nil, fmt.Errorf("malformed %s: lengths sum to %d, have %d values", what, off, len(c.Values))
	}
	return out, nil
}

// tokensToProto is columnToProto for token ids.
func tokensToProto(ar *arena, seqs []Sequence, get func(*Sequence) []int32) *pb.Tokens {
	t := &pb.Tokens{}
	total, anySet := 0, false
	for i := range seqs {
		a := get(&seqs[i])
		total += len(a)
		anySet = anySet || a != nil
	}
	if !anySet {
		return t
	}
	t.Lens = ar.ints(len(seqs))[:len(seqs)]
	t.Values = ar.ints(total)
	for i := range seqs {
		a := get(&seqs[i])
		if a == nil {
			t.Lens[i] = -1
			continue
		}
		t.Lens[i] = int32(len(a))
		t.Values = append(t.Values, a...)
	}
	return t
}

// tokensFromProto is columnFromProto for token ids; set stores array i.
func tokensFromProto(what string, t *pb.Tokens, n int, set func(i int, a []int32)) error {
	if len(t.GetLens()) == 0 {
		if len(t.GetValues()) != 0 {
			return fmt.Errorf("malformed %s: %d tokens without lengths", what, len(t.GetValues()))
		}
		return nil
	}
	if len(t.Lens) != n {
		return fmt.Errorf("malformed %s: %d lengths for %d sequences", what, len(t.Lens), n)
	}
	off := 0
	for i, l := range t.Lens {
		if l < 0 {
			continue
		}
		end := off + int(l)
		if end > len(t.Values) {
			return fmt.Errorf("malformed %s: lengths exceed the %d tokens", what, len(t.Values))
		}
		a := t.Values[off:end:end]
		if a == nil {
			a = []int32{} // empty, not nil (Values is nil when all are empty)
		}
		set(i, a)
		off = end
	}
	if off != len(t.Values) {
		return fmt.Errorf("malformed %s: lengths sum to %d, have %d tokens", what, off, len(t.Values))
	}
	return nil
}

// auxToProto turns per-sequence maps into one column per name.
func auxToProto(ar *arena, aux []map[string][]float64) []*pb.Column {
	seen := map[string]bool{}
	var names []string
	for _, m := range aux {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				names = append(names, k)
			}
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	cols := make([]*pb.Column, len(names))
	arrays := make([][]float64, len(aux))
	for j, name := range names {
		for i, m := range aux {
			arrays[i] = m[name]
			if v, ok := m[name]; ok && v == nil {
				arrays[i] = []float64{} // present but empty stays present
			}
		}
		cols[j] = columnToProto(ar, name, arrays)
		if cols[j].Lens == nil { // every array present and empty, or absent
			cols[j].Lens = make([]int32, len(aux))
			for i, m := range aux {
				if _, ok := m[name]; !ok {
					cols[j].Lens[i] = -1
				}
			}
		}
	}
	return cols
}

// auxFromProto turns columns back into per-sequence maps (nil for a
// sequence without aux arrays).
func auxFromProto(cols []*pb.Column, n int) ([]map[string][]float64, error) {
	aux := make([]map[string][]float64, n)
	for _, c := range cols {
		arrays, err := columnFromProto("aux "+c.GetName(), c, n)
		if err != nil {
			return nil, err
		}
		for i, l := range c.GetLens() {
			if l < 0 {
				continue
			}
			if aux[i] == nil {
				aux[i] = map[string][]float64{}
			}
			a := arrays[i]
			if a == nil {
				a = []float64{}
			}
			aux[i][c.GetName()] = a
		}
	}
	return aux, nil
}

// batchToProto converts b, taking the per-token memory from ar (may be nil);
// the message is valid until ar is reset.
func batchToProto(ar *arena, b *Batch) *pb.Batch {
	seqs := b.Sequences
	n := len(seqs)
	p := &pb.Batch{Beta: b.Beta, N: int64(n)}
	if n == 0 {
		return p
	}
	p.Group = make([]int64, n)
	p.Reward = make([]float64, n)
	p.Rank = make([]int32, n)
	for i := range seqs {
		p.Group[i] = seqs[i].Group
		p.Reward[i] = seqs[i].Reward
		p.Rank[i] = seqs[i].Rank
	}
	p.Prompt = tokensToProto(ar, seqs, func(s *Sequence) []int32 { return s.Prompt })
	p.Response = tokensToProto(ar, seqs, func(s *Sequence) []int32 { return s.Response })
	arrays := make([][]float64, n)
	col := func(get func(*Sequence) []float64) *pb.Column {
		for i := range seqs {
			arrays[i] = get(&seqs[i])
		}
		return columnToProto(ar, "", arrays)
	}
	p.Logp = col(func(s *Sequence) []float64 { return s.Logp })
	p.OldLogp = col(func(s *Sequence) []float64 { return s.OldLogp })
	p.RefLogp = col(func(s *Sequence) []float64 { return s.RefLogp })
	p.Values = col(func(s *Sequence) []float64 { return s.Values })
	p.OldValues = col(func(s *Sequence) []float64 { return s.OldValues })
	aux := make([]map[string][]float64, n)
	for i := range seqs {
		aux[i] = seqs[i].Aux
	}
	p.Aux = auxToProto(ar, aux)
	return p
}

func batchFromProto(p *pb.Batch) (Batch, error) {
	b := Batch{Beta: p.GetBeta()}
	n := int(p.GetN())
	if n == 0 {
		return b, nil
	}
	if n < 0 || len(p.Group) != n || len(p.Reward) != n || len(p.Rank) != n {
		return b, fmt.Errorf("malformed batch: %d sequences but %d groups, %d rewards, %d ranks", n, len(p.Group), len(p.Reward), len(p.Rank))
	}
	seqs := make([]Sequence, n)
	for i := range seqs {
		seqs[i].Group = p.Group[i]
		seqs[i].Reward = p.Reward[i]
		seqs[i].Rank = p.Rank[i]
	}
	if err := tokensFromProto("prompt", p.Prompt, n, func(i int, a []int32) { seqs[i].Prompt = a }); err != nil {
		return b, err
	}
	if err := tokensFromProto("response", p.Response, n, func(i int, a []int32) { seqs[i].Response = a }); err != nil {
		return b, err
	}
	for _, f := range []struct {
		what string
		col  *pb.Column
		set  func(s *Sequence, a []float64)
	}{
		{"logp", p.Logp, func(s *Sequence, a []float64) { s.Logp = a }},
		{"old_logp", p.OldLogp, func(s *Sequence, a []float64) { s.OldLogp = a }},
		{"ref_logp", p.RefLogp, func(s *Sequence, a []float64) { s.RefLogp = a }},
		{"values", p.Values, func(s *Sequence, a []float64) { s.Values = a }},
		{"old_values", p.OldValues, func(s *Sequence, a []float64) { s.OldValues = a }},
	} {
		arrays, err := columnFromProto(f.what, f.col, n)
		if err != nil {
			return b, err
		}
		for i, a := range arrays {
			f.set(&seqs[i], a)
		}
	}
	if len(p.Aux) > 0 {
		aux, err := auxFromProto(p.Aux, n)
		if err != nil {
			return b, err
		}
		for i := range seqs {
			seqs[i].Aux = aux[i]
		}
	}
	b.Sequences = seqs
	return b, nil
}

func prepareResponseToProto(r *PrepareResponse) *pb.PrepareResponse {
	if r == nil || r.Aux == nil {
		return &pb.PrepareResponse{}
	}
	return &pb.PrepareResponse{HasAux: true, N: int64(len(r.Aux)), Aux: auxToProto(nil, r.Aux)}
}

// maxWireSequences bounds the sequence count a message may claim, so a
// corrupt count is an error rather than a huge allocation.
const maxWireSequences = 1 << 22

func prepareResponseFromProto(p *pb.PrepareResponse) (*PrepareResponse, error) {
	r := &PrepareResponse{}
	if !p.GetHasAux() {
		return r, nil
	}
	n := p.GetN()
	if n < 0 || n > maxWireSequences {
		return nil, fmt.Errorf("malformed prepare response: %d sequences", n)
	}
	for _, c := range p.GetAux() {
		if l := len(c.GetLens()); l != 0 && int64(l) != n {
			return nil, fmt.Errorf("malformed aux %s: %d lengths for %d sequences", c.GetName(), l, n)
		}
	}
	aux, err := auxFromProto(p.GetAux(), int(n))
	if err != nil {
		return nil, err
	}
	r.Aux = aux
	return r, nil
}

func gradsToProto(g [][]float64) *pb.Column {
	if g == nil {
		return nil
	}
	c := columnToProto(nil, "", g)
	if c.Lens == nil {
		c.Lens = make([]int32, len(g))
		for i := range c.Lens {
			c.Lens[i] = -1
		}
	}
	return c
}

func gradsFromProto(what string, c *pb.Column) ([][]float64, error) {
	if c == nil {
		return nil, nil
	}
	return columnFromProto(what, c, len(c.Lens))
}

func lossResponseToProto(r *LossResponse) *pb.LossResponse {
	if r == nil {
		return &pb.LossResponse{}
	}
	return &pb.LossResponse{
		Loss:       r.Loss,
		GradLogp:   gradsToProto(r.GradLogp),
		GradValues: gradsToProto(r.GradValues),
		Stats:      r.Stats,
	}
}

func lossResponseFromProto(p *pb.LossResponse) (*LossResponse, error) {
	gl, err := gradsFromProto("grad_logp", p.GetGradLogp())
	if err != nil {
		return nil, err
	}
	gv, err := gradsFromProto("grad_values", p.GetGradValues())
	if err != nil {
		return nil, err
	}
	return &LossResponse{Loss: p.GetLoss(), GradLogp: gl, GradValues: gv, Stats: p.GetStats()}, nil
}

func samplesToProto(s []Sample) []*pb.Sample {
	out := make([]*pb.Sample, len(s))
	backing := make([]pb.Sample, len(s))
	for i := range s {
		backing[i].Prompt = validUTF8(s[i].Prompt)
		backing[i].Response = validUTF8(s[i].Response)
		backing[i].PromptTokens = s[i].PromptTokens
		backing[i].ResponseTokens = s[i].ResponseTokens
		out[i] = &backing[i]
	}
	return out
}

func samplesFromProto(p []*pb.Sample) []Sample {
	if len(p) == 0 {
		return nil
	}
	out := make([]Sample, len(p))
	for i, x := range p {
		out[i] = Sample{
			Prompt:         x.Prompt,
			Response:       x.Response,
			PromptTokens:   x.PromptTokens,
			ResponseTokens: x.ResponseTokens,
		}
	}
	return out
}

func comparisonsToProto(c []Comparison) []*pb.Comparison {
	out := make([]*pb.Comparison, len(c))
	for i := range c {
		out[i] = &pb.Comparison{Prompt: validUTF8(c[i].Prompt), Chosen: validUTF8(c[i].Chosen), Rejected: validUTF8(c[i].Rejected)}
	}
	return out
}

func comparisonsFromProto(p []*pb.Comparison) []Comparison {
	if len(p) == 0 {
		return nil
	}
	out := make([]Comparison, len(p))
	for i, x := range p {
		out[i] = Comparison{Prompt: x.Prompt, Chosen: x.Chosen, Rejected: x.Rejected}
	}
	return out
}

// validUTF8 replaces invalid UTF-8 with U+FFFD: protobuf strings must be
// valid UTF-8, and a byte-level policy can stop in the middle of a character.
// The exact bytes still travel as token ids.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
