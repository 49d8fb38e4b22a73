package nn

import "math"

// refForward is an independent float64 forward of the GPT written with plain
// loops, used to check the training graph and its gradients. ps holds the
// parameters in the order of paramSlices.
func refForward(c Config, ps [][]float64, tokens, targets []int32, b, t int) (logp, values []float64) {
	d, v := c.DModel, c.Vocab
	n := b * t
	wte, wpe := ps[0], ps[1]
	x := make([]float64, n*d)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			x[i*d+j] = wte[int(tokens[i])*d+j] + wpe[(i%t)*d+j]
		}
	}
	ln := func(x, g, bias []float64) []float64 {
		y := make([]float64, n*d)
		for i := 0; i < n; i++ {
			var mu, va float64
			for j := 0; j < d; j++ {
				mu += x[i*d+j]
			}
			mu /= float64(d)
			for j := 0; j < d; j++ {
				va += (x[i*d+j] - mu) * (x[i*d+j] - mu)
			}
			va /= float64(d)
			for j := 0; j < d; j++ {
				y[i*d+j] = (x[i*d+j]-mu)/math.Sqrt(va+1e-5)*g[j] + bias[j]
			}
		}
		return y
	}
	lin := func(x, w, bias []float64, in, out int) []float64 {
		y := make([]float64, n*out)
		for i := 0; i < n; i++ {
			for o := 0; o < out; o++ {
				s := bias[o]
				for k := 0; k < in; k++ {
					s += x[i*in+k] * w[k*out+o]
				}
				y[i*out+o] = s
			}
		}
		return y
	}
	hd := d / c.Heads
	for l := 0; l < c.Layers; l++ {
		p := ps[2+12*l : 2+12*(l+1)]
		h := ln(x, p[0], p[1])
		qkv := lin(h, p[2], p[3], d, 3*d)
		att := make([]float64, n*d)
		for bi := 0; bi < b; bi++ {
			for hh := 0; hh < c.Heads; hh++ {
				for i := 0; i < t; i++ {
					q := qkv[(bi*t+i)*3*d+hh*hd:]
					sc := make([]float64, i+1)
					mx := math.Inf(-1)
					for j := 0; j <= i; j++ {
						k := qkv[(bi*t+j)*3*d+d+hh*hd:]
						var s float64
						for e := 0; e < hd; e++ {
							s += q[e] * k[e]
						}
						sc[j] = s / math.Sqrt(float64(hd))
						mx = math.Max(mx, sc[j])
					}
					var z float64
					for j := range sc {
						sc[j] = math.Exp(sc[j] - mx)
						z += sc[j]
					}
					for j := range sc {
						vv := qkv[(bi*t+j)*3*d+2*d+hh*hd:]
						for e := 0; e < hd; e++ {
							att[(bi*t+i)*d+hh*hd+e] += sc[j] / z * vv[e]
						}
					}
				}
			}
		}
		a := lin(att, p[4], p[5], d, d)
		for i := range x {
			x[i] += a[i]
		}
		h = ln(x, p[6], p[7])
		f := lin(h, p[8], p[9], d, 4*d)
		for i, u := range f {
			f[i] = 0.5 * u * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(u+0.044715*u*u*u)))
		}
		m := lin(f, p[10], p[11], 4*d, d)
		for i := range x {
			x[i] += m[i]
		}
	}
	L := 2 + 12*c.Layers
	hf := ln(x, ps[L], ps[L+1])
	logp = make([]float64, n)
	for i := 0; i < n; i++ {
		logits := make([]float64, v)
		mx := math.Inf(-1)
		for o := 0; o < v; o++ {
			var s float64
			for j := 0; j < d; j++ {
				s += hf[i*d+j] * wte[o*d+j]
			}
			logits[o] = s
			mx = math.Max(mx, s)
		}
		var z float64
		for _, s := range logits {
			z += math.Exp(s - mx)
		}
		logp[i] = logits[targets[i]] - mx - math.Log(z)
	}
	if c.ValueHead {
		w, bias := ps[L+2], ps[L+3]
		values = make([]float64, n)
		for i := 0; i < n; i++ {
			s := bias[0]
			for j := 0; j < d; j++ {
				s += hf[i*d+j] * w[j]
			}
			values[i] = s
		}
	}
	return logp, values
}

func toF64(p *Params) [][]float64 {
	var out [][]float64
	for _, s := range paramSlices(p) {
		f := make([]float64, len(s))
		for i, v := range s {
			f[i] = float64(v)
		}
		out = append(out, f)
	}
	return out
}
