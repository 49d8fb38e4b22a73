package sdk

import (
	"fmt"
	"sort"

	"github.com/BurntSushi/toml"

	"github.com/p3o-rlhf/p3o/sdk/internal/pb"
)

// Conversions between the SDK's Go types and the generated wire types of
// sdk/internal/pb. They live in package sdk (unexported) rather than in
// sdk/internal because they need the sdk types and sdk needs them: a separate
// package would be an import cycle. Authors never see a pb type.
//
// Slices are shared, not copied: a message is built for one call and dropped
// after it, so []float64 and []int32 move between the two representations
// without copying (the wire cost of a Loss call is marshalling alone).
// Empty repeated fields decode as nil.

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

func arraysToProto(m map[string][]float64) []*pb.Array {
	if len(m) == 0 {
		return nil
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]*pb.Array, len(names))
	backing := make([]pb.Array, len(names))
	for i, k := range names {
		backing[i].Name = k
		backing[i].Values = m[k]
		out[i] = &backing[i]
	}
	return out
}

func arraysFromProto(a []*pb.Array) map[string][]float64 {
	if len(a) == 0 {
		return nil
	}
	m := make(map[string][]float64, len(a))
	for _, x := range a {
		m[x.GetName()] = x.GetValues()
	}
	return m
}

func batchToProto(b *Batch) *pb.Batch {
	seqs := make([]*pb.Sequence, len(b.Sequences))
	backing := make([]pb.Sequence, len(b.Sequences))
	for i := range b.Sequences {
		s := &b.Sequences[i]
		p := &backing[i]
		p.Group = s.Group
		p.Prompt = s.Prompt
		p.Response = s.Response
		p.Logp = s.Logp
		p.OldLogp = s.OldLogp
		p.RefLogp = s.RefLogp
		p.Values = s.Values
		p.OldValues = s.OldValues
		p.Reward = s.Reward
		p.Rank = s.Rank
		p.Aux = arraysToProto(s.Aux)
		seqs[i] = p
	}
	return &pb.Batch{Sequences: seqs, Beta: b.Beta}
}

func batchFromProto(p *pb.Batch) Batch {
	seqs := p.GetSequences()
	b := Batch{Beta: p.GetBeta()}
	if len(seqs) == 0 {
		return b
	}
	b.Sequences = make([]Sequence, len(seqs))
	for i, q := range seqs {
		b.Sequences[i] = Sequence{
			Group:     q.Group,
			Prompt:    q.Prompt,
			Response:  q.Response,
			Logp:      q.Logp,
			OldLogp:   q.OldLogp,
			RefLogp:   q.RefLogp,
			Values:    q.Values,
			OldValues: q.OldValues,
			Reward:    q.Reward,
			Rank:      q.Rank,
			Aux:       arraysFromProto(q.Aux),
		}
	}
	return b
}

func prepareResponseToProto(r *PrepareResponse) *pb.PrepareResponse {
	if r == nil || r.Aux == nil {
		return &pb.PrepareResponse{}
	}
	out := &pb.PrepareResponse{HasAux: true, Aux: make([]*pb.AuxSet, len(r.Aux))}
	for i, m := range r.Aux {
		out.Aux[i] = &pb.AuxSet{Arrays: arraysToProto(m)}
	}
	return out
}

func prepareResponseFromProto(p *pb.PrepareResponse) *PrepareResponse {
	r := &PrepareResponse{}
	if !p.GetHasAux() {
		return r
	}
	r.Aux = make([]map[string][]float64, len(p.Aux))
	for i, a := range p.Aux {
		r.Aux[i] = arraysFromProto(a.GetArrays())
	}
	return r
}

func gradsToProto(g [][]float64) []*pb.Array {
	if len(g) == 0 {
		return nil
	}
	out := make([]*pb.Array, len(g))
	backing := make([]pb.Array, len(g))
	for i, v := range g {
		backing[i].Values = v
		out[i] = &backing[i]
	}
	return out
}

func gradsFromProto(a []*pb.Array) [][]float64 {
	if len(a) == 0 {
		return nil
	}
	g := make([][]float64, len(a))
	for i, x := range a {
		g[i] = x.GetValues()
	}
	return g
}

func lossResponseToProto(r *LossResponse) *pb.LossResponse {
	if r == nil {
		return &pb.LossResponse{}
	}
	return &pb.LossResponse{
		Loss:          r.Loss,
		GradLogp:      gradsToProto(r.GradLogp),
		GradValues:    gradsToProto(r.GradValues),
		HasGradValues: r.GradValues != nil,
		Stats:         r.Stats,
	}
}

func lossResponseFromProto(p *pb.LossResponse) *LossResponse {
	r := &LossResponse{
		Loss:     p.GetLoss(),
		GradLogp: gradsFromProto(p.GetGradLogp()),
		Stats:    p.GetStats(),
	}
	if p.GetHasGradValues() {
		r.GradValues = gradsFromProto(p.GetGradValues())
		if r.GradValues == nil {
			r.GradValues = [][]float64{}
		}
	}
	return r
}

func samplesToProto(s []Sample) []*pb.Sample {
	out := make([]*pb.Sample, len(s))
	backing := make([]pb.Sample, len(s))
	for i := range s {
		backing[i].Prompt = s[i].Prompt
		backing[i].Response = s[i].Response
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
		out[i] = &pb.Comparison{Prompt: c[i].Prompt, Chosen: c[i].Chosen, Rejected: c[i].Rejected}
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
