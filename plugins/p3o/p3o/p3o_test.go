package p3o

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/examples/rloo/rloo"
	"github.com/p3o-rlhf/p3o/sdk"
	"github.com/p3o-rlhf/p3o/sdk/sdktest"
)

func configured(t testing.TB, options string) *P3O {
	t.Helper()
	p := New()
	if err := p.Configure(context.Background(), &sdk.ConfigureRequest{Options: []byte(options)}); err != nil {
		t.Fatalf("configure %q: %v", options, err)
	}
	return p
}

func TestConformance(t *testing.T) {
	for _, options := range []string{
		`variant = "v1"`,
		`variant = "v2"`,
		`variant = "v1"` + "\nk = 3",
		`variant = "v2"` + "\nk = 3",
		`variant = "v1"` + "\nk = 4",
		`variant = "v2"` + "\nk = 4",
	} {
		t.Run(strings.ReplaceAll(options, "\n", ","), func(t *testing.T) {
			sdktest.Run(t, New(), sdktest.Options{Config: []byte(options)})
		})
	}
}

func TestShiftInvariant(t *testing.T) {
	for _, options := range []string{`variant = "v1"`, `variant = "v2"`, `k = 4`} {
		t.Run(options, func(t *testing.T) {
			change, err := sdktest.ShiftChange(context.Background(), configured(t, options), sdktest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if change > 1e-12 {
				t.Errorf("got gradient change %.3g under a reward shift, want <= 1e-12", change)
			}
		})
	}
}

// fixedBatch is a small hand-written batch: two groups of two; the second
// group's current log-probs are far from the rollout's so clipping is active.
func fixedBatch() sdk.Batch {
	return sdk.Batch{Beta: 0.1, Sequences: []sdk.Sequence{
		{Group: 7, Response: []int32{1, 2, 3}, Reward: 1.5,
			Logp: []float64{-1.0, -0.5, -2.0}, OldLogp: []float64{-1.05, -0.45, -2.1}, RefLogp: []float64{-1.2, -0.4, -1.9}},
		{Group: 7, Response: []int32{4, 5}, Reward: -0.25,
			Logp: []float64{-0.3, -1.7}, OldLogp: []float64{-0.35, -1.6}, RefLogp: []float64{-0.5, -1.5}},
		{Group: 9, Response: []int32{6, 7}, Reward: 2.0,
			Logp: []float64{-0.2, -0.9}, OldLogp: []float64{-0.9, -1.4}, RefLogp: []float64{-0.6, -1.2}},
		{Group: 9, Response: []int32{8, 9, 10}, Reward: 0.5,
			Logp: []float64{-2.5, -1.0, -0.3}, OldLogp: []float64{-2.0, -1.1, -0.2}, RefLogp: []float64{-2.1, -1.0, -0.4}},
	}}
}

// reference computes the P3O loss and dLoss/dlogp with plain loops, straight
// from the formulas of the issue: the mean over groups of the mean over all
// ordered pairs (i, j) of the pair loss.
func reference(b sdk.Batch, variant string, eps, c float64, K int) (float64, [][]float64) {
	n := len(b.Sequences)
	sum := func(v []float64) float64 {
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s
	}
	clamp := func(x, lo, hi float64) float64 {
		if x < lo {
			return lo
		}
		if x > hi {
			return hi
		}
		return x
	}
	shaped := make([]float64, n)
	for i, s := range b.Sequences {
		kl := 0.0
		for t := range s.Logp {
			kl += s.Logp[t] - s.RefLogp[t]
		}
		shaped[i] = s.Reward - b.Beta*kl
	}
	dl := make([]float64, n)
	loss := 0.0
	groups := n / K
	for g := 0; g < groups; g++ {
		for i := g * K; i < (g+1)*K; i++ {
			for j := g * K; j < (g+1)*K; j++ {
				if i == j {
					continue
				}
				delta := shaped[i] - shaped[j]
				l1, l2 := sum(b.Sequences[i].Logp), sum(b.Sequences[j].Logp)
				o1, o2 := sum(b.Sequences[i].OldLogp), sum(b.Sequences[j].OldLogp)
				rho1, rho2 := math.Exp(l1-o1), math.Exp(l2-o2)
				scale := 1 / float64(groups*K*(K-1))
				if variant == "v1" {
					w1, w2 := clamp(rho1, 1/c, c), clamp(rho2, 1/c, c)
					u1 := -delta * w2 * rho1
					c1 := -delta * w2 * clamp(rho1, 1-eps, 1+eps)
					u2 := delta * w1 * rho2
					c2 := delta * w1 * clamp(rho2, 1-eps, 1+eps)
					loss += scale * 0.5 * (math.Max(u1, c1) + math.Max(u2, c2))
					if u1 >= c1 {
						dl[i] += scale * 0.5 * (-delta * w2 * rho1)
					}
					if u2 >= c2 {
						dl[j] += scale * 0.5 * (delta * w1 * rho2)
					}
				} else {
					w := clamp(rho1*rho2, 1/c, c)
					u := -delta * w * (l1 - l2) / 2
					cl := -delta * w * clamp(l1-l2, (o1-o2)-eps, (o1-o2)+eps) / 2
					loss += scale * math.Max(u, cl)
					if u >= cl {
						dl[i] += scale * (-delta * w / 2)
						dl[j] -= scale * (-delta * w / 2)
					}
				}
			}
		}
	}
	grad := make([][]float64, n)
	for i, s := range b.Sequences {
		grad[i] = make([]float64, len(s.Logp))
		for t := range grad[i] {
			grad[i][t] = dl[i]
		}
	}
	return loss, grad
}

func close(a, b float64) bool { return math.Abs(a-b) <= 1e-13*math.Max(1, math.Abs(b)) }

func TestLossMatchesReference(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		variant string
		eps, c  float64
		k       int
	}{
		{"v1", 0.2, 10, 2}, {"v2", 0.2, 10, 2},
		{"v1", 0.1, 1.5, 2}, {"v2", 0.1, 1.5, 2},
		{"v1", 0.2, 10, 3}, {"v2", 0.2, 10, 3}, {"v1", 0.3, 2, 4}, {"v2", 0.3, 2, 4},
	} {
		name := fmt.Sprintf("%s_eps%v_c%v_k%d", tc.variant, tc.eps, tc.c, tc.k)
		t.Run(name, func(t *testing.T) {
			p := configured(t, fmt.Sprintf("variant = %q\nclip = %v\nc = %v\nk = %d", tc.variant, tc.eps, tc.c, tc.k))
			b := fixedBatch()
			if tc.k != 2 {
				spec, _ := p.Describe(ctx)
				b = sdktest.RandomBatch(rng, spec, 3, 4, sdktest.Clipped)
			}
			resp, err := p.Loss(ctx, &sdk.LossRequest{Batch: b})
			if err != nil {
				t.Fatal(err)
			}
			wantLoss, wantGrad := reference(b, tc.variant, tc.eps, tc.c, tc.k)
			if !close(resp.Loss, wantLoss) {
				t.Errorf("got loss %.17g, want %.17g", resp.Loss, wantLoss)
			}
			zero := 0
			for i := range wantGrad {
				for j := range wantGrad[i] {
					if !close(resp.GradLogp[i][j], wantGrad[i][j]) {
						t.Errorf("GradLogp[%d][%d]: got %.17g, want %.17g", i, j, resp.GradLogp[i][j], wantGrad[i][j])
					}
					if wantGrad[i][j] == 0 {
						zero++
					}
				}
			}
			if tc.k == 2 && tc.eps == 0.2 && zero == 0 {
				t.Errorf("fixed batch clipped nothing; it is meant to exercise clipping")
			}
		})
	}
}

// pairwise is the paper's loss with one pair per group: the mean over groups
// of the pair loss of (y_1, y_2), in the words.
func pairwise(b sdk.Batch, variant string, eps, c float64) float64 {
	loss := 0.0
	groups := len(b.Sequences) / 2
	for g := 0; g < groups; g++ {
		s1, s2 := b.Sequences[2*g], b.Sequences[2*g+1]
		var l1, l2, o1, o2, kl1, kl2 float64
		for t := range s1.Logp {
			l1 += s1.Logp[t]
			o1 += s1.OldLogp[t]
			kl1 += s1.Logp[t] - s1.RefLogp[t]
		}
		for t := range s2.Logp {
			l2 += s2.Logp[t]
			o2 += s2.OldLogp[t]
			kl2 += s2.Logp[t] - s2.RefLogp[t]
		}
		Delta := (s1.Reward - b.Beta*kl1) - (s2.Reward - b.Beta*kl2)
		rho1, rho2 := math.Exp(l1-o1), math.Exp(l2-o2)
		cl := func(x, lo, hi float64) float64 { return math.Min(math.Max(x, lo), hi) }
		if variant == "v1" {
			loss += (math.Max(-Delta*cl(rho2, 1/c, c)*rho1, -Delta*cl(rho2, 1/c, c)*cl(rho1, 1-eps, 1+eps)) +
				math.Max(Delta*cl(rho1, 1/c, c)*rho2, Delta*cl(rho1, 1/c, c)*cl(rho2, 1-eps, 1+eps))) / 2
		} else {
			w := cl(rho1*rho2, 1/c, c)
			loss += math.Max(-Delta*w*(l1-l2)/2, -Delta*w*cl(l1-l2, (o1-o2)-eps, (o1-o2)+eps)/2)
		}
	}
	return loss / float64(groups)
}

// TestKWiseIsPairwiseForK2: the k-wise loss over both ordered pairs
// normalised by K(K-1) = 2 equals the paper's pairwise loss bit for bit.
func TestKWiseIsPairwiseForK2(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 6))
	spec := &sdk.Spec{ResponsesPerPrompt: 2, NeedsReference: true}
	for _, variant := range []string{"v1", "v2"} {
		p := configured(t, fmt.Sprintf("variant = %q\nk = 2", variant))
		for n := range 20 {
			b := sdktest.RandomBatch(rng, spec, 4, 6, sdktest.Far(n%2 == 1))
			resp, err := p.Loss(ctx, &sdk.LossRequest{Batch: b})
			if err != nil {
				t.Fatal(err)
			}
			if want := pairwise(b, variant, 0.2, 10); resp.Loss != want {
				t.Errorf("%s batch %d: got k-wise loss %.17g, want pairwise %.17g exactly", variant, n, resp.Loss, want)
			}
		}
	}
}

// TestUnclippedReduction: with eps and c huge both variants' gradients are the
// importance-weighted pairwise gradient -1/2 Delta rho_i rho_j grad(l_i - l_j),
// averaged over the ordered pairs.
func TestUnclippedReduction(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 8))
	for _, variant := range []string{"v1", "v2"} {
		for _, kc := range []struct {
			k    int
			clip string // 0 turns clipping off
		}{{2, "1e9"}, {3, "1e9"}, {2, "0"}, {3, "0"}} {
			k := kc.k
			t.Run(fmt.Sprintf("%s_k%d_clip%s", variant, k, kc.clip), func(t *testing.T) {
				p := configured(t, fmt.Sprintf("variant = %q\nclip = %s\nc = 1e9\nk = %d", variant, kc.clip, k))
				spec, _ := p.Describe(ctx)
				b := sdktest.RandomBatch(rng, spec, 3, 5, sdktest.Clipped)
				resp, err := p.Loss(ctx, &sdk.LossRequest{Batch: b})
				if err != nil {
					t.Fatal(err)
				}
				n := len(b.Sequences)
				R, l, rho := make([]float64, n), make([]float64, n), make([]float64, n)
				for i, s := range b.Sequences {
					var kl, old float64
					for tok := range s.Logp {
						l[i] += s.Logp[tok]
						old += s.OldLogp[tok]
						kl += s.Logp[tok] - s.RefLogp[tok]
					}
					R[i] = s.Reward - b.Beta*kl
					rho[i] = math.Exp(l[i] - old)
				}
				want := make([]float64, n)
				pairs := float64(n / k * k * (k - 1))
				for i := range n {
					for j := range n {
						if i != j && i/k == j/k {
							g := -0.5 * (R[i] - R[j]) * rho[i] * rho[j] / pairs
							want[i] += g
							want[j] -= g
						}
					}
				}
				for i := range n {
					for tok := range resp.GradLogp[i] {
						if got := resp.GradLogp[i][tok]; math.Abs(got-want[i]) > 1e-12*math.Max(1, math.Abs(want[i])) {
							t.Errorf("GradLogp[%d][%d]: got %.15g, want %.15g", i, tok, got, want[i])
						}
					}
				}
				if resp.Stats["policy/clipfrac"] != 0 {
					t.Errorf("got clipfrac %v with eps huge, want 0", resp.Stats["policy/clipfrac"])
				}
			})
		}
	}
}

// TestKWiseOnPolicyIsRLOO: on-policy (logp = old_logp, so rho = 1 and
// nothing clips) the k-wise P3O gradient, 1/(K(K-1)) sum_{i!=j} -1/2 Delta_ij
// grad(l_i - l_j), sums to -1/K sum_i (R_i - mean_{j!=i} R_j) grad l_i: the
// RLOO gradient. Checked against the RLOO example plugin.
func TestKWiseOnPolicyIsRLOO(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(9, 10))
	for _, variant := range []string{"v1", "v2"} {
		for _, k := range []int{2, 3, 4} {
			t.Run(fmt.Sprintf("%s_k%d", variant, k), func(t *testing.T) {
				options := []byte(fmt.Sprintf("k = %d", k))
				p := configured(t, fmt.Sprintf("variant = %q\nk = %d", variant, k))
				r := rloo.New()
				if err := r.Configure(ctx, &sdk.ConfigureRequest{Options: options}); err != nil {
					t.Fatal(err)
				}
				spec, _ := p.Describe(ctx)
				b := sdktest.RandomBatch(rng, spec, 3, 5, sdktest.Near)
				for i := range b.Sequences {
					copy(b.Sequences[i].Logp, b.Sequences[i].OldLogp)
				}
				got, err := p.Loss(ctx, &sdk.LossRequest{Batch: b})
				if err != nil {
					t.Fatal(err)
				}
				want, err := r.Loss(ctx, &sdk.LossRequest{Batch: b})
				if err != nil {
					t.Fatal(err)
				}
				for i := range want.GradLogp {
					for j := range want.GradLogp[i] {
						if g, w := got.GradLogp[i][j], want.GradLogp[i][j]; math.Abs(g-w) > 1e-12*math.Max(1, math.Abs(w)) {
							t.Errorf("GradLogp[%d][%d]: got p3o %.15g, want rloo %.15g", i, j, g, w)
						}
					}
				}
			})
		}
	}
}

func TestConfigure(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		options string
		wantErr string // "" for success
	}{
		{"", ""},
		{`variant = "v1"` + "\nclip = 0.1\nc = 1\nk = 5", ""},
		{`variant = "v3"`, "variant"},
		{"clip = -0.1", "clip"},
		{"clip = 0", ""},
		{"clip = -0.2", "clip"},
		{"c = 0.5", "option c"},
		{"k = 1", "option k"},
		{"epsilon = 0.2", "epsilon"},
		{"clip = \"big\"", "clip"},
	} {
		t.Run(tc.options, func(t *testing.T) {
			p := New()
			err := p.Configure(ctx, &sdk.ConfigureRequest{Options: []byte(tc.options)})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one naming %q", err, tc.wantErr)
			}
			if p.Options() != DefaultOptions() {
				t.Errorf("got options %+v after a failed Configure, want the defaults kept", p.Options())
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	spec, err := configured(t, "k = 5").Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if spec.ResponsesPerPrompt != 5 || !spec.NeedsReference || !spec.ShiftInvariant || spec.NeedsValueHead || spec.Mode != sdk.ModeOnline {
		t.Errorf("got spec %+v, want 5 responses per prompt, reference, shift invariant, no value head, online", spec)
	}
	if spec.DefaultOptions["variant"] != "v2" || spec.DefaultOptions["clip"] != 0.2 || spec.DefaultOptions["c"] != 10.0 || spec.DefaultOptions["k"] != 2 {
		t.Errorf("got default options %v", spec.DefaultOptions)
	}
}

// BenchmarkLoss measures one in-process Loss call for 64 sequences x 64
// tokens (32 pairs).
func BenchmarkLoss(b *testing.B) {
	for _, variant := range []string{"v1", "v2"} {
		b.Run(variant, func(b *testing.B) {
			p := configured(b, fmt.Sprintf("variant = %q", variant))
			rng := rand.New(rand.NewPCG(1, 2))
			batch := sdk.Batch{Beta: 0.05}
			for i := range 64 {
				s := sdk.Sequence{Group: int64(i / 2), Response: make([]int32, 64), Reward: rng.NormFloat64(),
					Logp: make([]float64, 64), OldLogp: make([]float64, 64), RefLogp: make([]float64, 64)}
				for t := range 64 {
					s.OldLogp[t] = -rng.Float64() * 3
					s.Logp[t] = s.OldLogp[t] + 0.01*rng.NormFloat64()
					s.RefLogp[t] = s.OldLogp[t] + 0.1*rng.NormFloat64()
				}
				batch.Sequences = append(batch.Sequences, s)
			}
			req := &sdk.LossRequest{Batch: batch}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Loss(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
