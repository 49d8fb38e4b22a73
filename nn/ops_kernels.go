package nn

import (
	"math"

	"github.com/p3o-rlhf/p3o/nn/internal/gemm"
)

// The numeric kernels of the training graph, on row-major float32 slices.
// The ops in ops.go wrap them for gorgonia; tests call them directly.

const lnEps = 1e-5 // GPT-2's LayerNorm epsilon

// linearFwd computes y = x w + b for x (n, in), w (in, out), b (out): the bias
// is written into y first and the GEMM accumulates on top (beta = 1).
func linearFwd(y, x, w, b []float32, n, in, out int) {
	for r := 0; r < n; r++ {
		copy(y[r*out:(r+1)*out], b[:out])
	}
	gemm.Sgemm(false, false, n, out, in, 1, x, in, w, out, 1, y, out)
}

// linearResidFwd computes y = resid + x w + b (a linear layer feeding the
// residual stream).
func linearResidFwd(y, resid, x, w, b []float32, n, in, out int) {
	for r := 0; r < n; r++ {
		yr, rr := y[r*out:(r+1)*out], resid[r*out:(r+1)*out]
		for j, bv := range b[:out] {
			yr[j] = rr[j] + bv
		}
	}
	gemm.Sgemm(false, false, n, out, in, 1, x, in, w, out, 1, y, out)
}

// linearBwdX writes dx = dy w^T.
func linearBwdX(dx, dy, w []float32, n, in, out int) {
	gemm.Sgemm(false, true, n, in, out, 1, dy, out, w, out, 0, dx, in)
}

// linearBwdW adds x^T dy into dw.
func linearBwdW(dw, x, dy []float32, n, in, out int) {
	gemm.Sgemm(true, false, in, out, n, 1, x, in, dy, out, 1, dw, out)
}

// colSumAdd adds the column sums of dy (n, out) into db.
func colSumAdd(db, dy []float32, n, out int) {
	for r := 0; r < n; r++ {
		gemm.Saxpy(1, dy[r*out:(r+1)*out], db[:out])
	}
}

// layerNormFwd normalises each row of x (n, d) and scales by g and shifts by
// b; mean and rstd (n) keep the statistics for the backward pass.
func layerNormFwd(y, x, g, b, mean, rstd []float32, n, d int) {
	if layerNormFwdVec(y, x, g, b, mean, rstd, n, d) {
		return
	}
	g, b = g[:d], b[:d]
	for r := 0; r < n; r++ {
		xr := x[r*d : (r+1)*d]
		yr := y[r*d : (r+1)*d]
		var s float32
		for _, v := range xr {
			s += v
		}
		mu := s / float32(d)
		var ss float32
		for _, v := range xr {
			c := v - mu
			ss += c * c
		}
		rs := float32(1 / math.Sqrt(float64(ss/float32(d))+lnEps))
		mean[r], rstd[r] = mu, rs
		for j, v := range xr {
			yr[j] = (v-mu)*rs*g[j] + b[j]
		}
	}
}

// layerNormBwdX writes dx for upstream dy, plus resid when not nil (the
// gradient reaching x through the residual connection, fused here so the
// graph needs no separate sum).
func layerNormBwdX(dx, dy, x, g, resid, mean, rstd []float32, n, d int) {
	if layerNormBwdXVec(dx, dy, x, g, resid, mean, rstd, n, d) {
		return
	}
	g = g[:d]
	inv := 1 / float32(d)
	for r := 0; r < n; r++ {
		xr := x[r*d : (r+1)*d]
		dyr := dy[r*d : (r+1)*d]
		dxr := dx[r*d : (r+1)*d]
		mu, rs := mean[r], rstd[r]
		var a, c float32 // sum(g*dy), sum(g*dy*xhat)
		for j, v := range xr {
			gd := g[j] * dyr[j]
			a += gd
			c += gd * (v - mu) * rs
		}
		a *= inv
		c *= inv
		for j, v := range xr {
			xh := (v - mu) * rs
			dxr[j] = rs * (g[j]*dyr[j] - a - xh*c)
		}
		if resid != nil {
			for j, v := range resid[r*d : (r+1)*d] {
				dxr[j] += v
			}
		}
	}
}

// layerNormBwdG adds sum over rows of dy*xhat into dg.
func layerNormBwdG(dg, dy, x, mean, rstd []float32, n, d int) {
	if layerNormBwdGVec(dg, dy, x, mean, rstd, n, d) {
		return
	}
	dg = dg[:d]
	for r := 0; r < n; r++ {
		xr := x[r*d : (r+1)*d]
		dyr := dy[r*d : (r+1)*d]
		mu, rs := mean[r], rstd[r]
		for j, v := range xr {
			dg[j] += dyr[j] * (v - mu) * rs
		}
	}
}

const (
	geluC = 0.7978845608028654 // sqrt(2/pi)
	geluA = 0.044715
)

// geluFwd applies GPT-2's tanh-approximated GELU, y = x (1 + tanh(u)) / 2
// with u = sqrt(2/pi) (x + 0.044715 x^3), and keeps tanh(u) in th for the
// backward pass.
func geluFwd(y, th, x []float32) {
	y, th = y[:len(x)], th[:len(x)]
	done := geluFwdVec(y, th, x)
	for i := done; i < len(x); i++ {
		v := x[i]
		t := ftanh(geluC * (v + geluA*v*v*v))
		th[i] = t
		y[i] = 0.5 * v * (1 + t)
	}
}

// geluBwd writes dx = dy * gelu'(x) given th = tanh(u) from geluFwd.
func geluBwd(dx, dy, x, th []float32) {
	dx, dy, th = dx[:len(x)], dy[:len(x)], th[:len(x)]
	done := geluBwdVec(dx, dy, x, th)
	for i := done; i < len(x); i++ {
		v, t := x[i], th[i]
		du := geluC * (1 + 3*geluA*v*v)
		dx[i] = dy[i] * (0.5*(1+t) + 0.5*v*(1-t*t)*du)
	}
}

// expSubSum sets s[j] = exp(s[j] - m) and returns their sum.
func expSubSum(s []float32, m float32) float32 {
	done, sum := expSubSumVec(s, m)
	for j := done; j < len(s); j++ {
		e := fexp(s[j] - m)
		s[j] = e
		sum += e
	}
	return sum
}

// attnFwd computes causal multi-head self-attention for a packed qkv (b*t,
// 3d) (columns q | k | v, head h at columns h*hd within each) into y (b*t,
// d). probs (b, heads, t, t) keeps the attention weights (zero above the
// diagonal) for the backward pass.
func attnFwd(y, qkv, probs []float32, b, t, d, heads int) {
	attnFwdUnits(y, qkv, probs, 0, b*heads, t, d, heads)
}

// attnFwdUnits is attnFwd for the (sequence, head) pairs u in [lo, hi),
// sequence u/heads and head u%heads; each pair writes only its own columns
// of y and its own block of probs.
func attnFwdUnits(y, qkv, probs []float32, lo, hi, t, d, heads int) {
	hd := d / heads
	scale := float32(1 / math.Sqrt(float64(hd)))
	ld := 3 * d
	for u := lo; u < hi; u++ {
		bi, h := u/heads, u%heads
		base := bi * t * ld
		p := probs[u*t*t : (u+1)*t*t]
		q := qkv[base+h*hd:]
		k := qkv[base+d+h*hd:]
		v := qkv[base+2*d+h*hd:]
		gemm.Sgemm(false, true, t, t, hd, scale, q, ld, k, ld, 0, p, t)
		for i := 0; i < t; i++ {
			row := p[i*t : (i+1)*t]
			m := row[0]
			for _, s := range row[1 : i+1] {
				if s > m {
					m = s
				}
			}
			sum := expSubSum(row[:i+1], m)
			inv := 1 / sum
			for j := 0; j <= i; j++ {
				row[j] *= inv
			}
			clear(row[i+1:])
		}
		gemm.Sgemm(false, false, t, hd, t, 1, p, t, v, ld, 0, y[bi*t*d+h*hd:], d)
	}
}

// attnBwd writes dqkv (b*t, 3d) for upstream dy (b*t, d), given the forward
// qkv and probs; scratch holds t*t floats.
func attnBwd(dqkv, dy, qkv, probs, scratch []float32, b, t, d, heads int) {
	attnBwdUnits(dqkv, dy, qkv, probs, scratch, 0, b*heads, t, d, heads)
}

// attnBwdUnits is attnBwd for the (sequence, head) pairs u in [lo, hi); each
// writes only its own head's columns of dqkv.
func attnBwdUnits(dqkv, dy, qkv, probs, scratch []float32, lo, hi, t, d, heads int) {
	hd := d / heads
	scale := float32(1 / math.Sqrt(float64(hd)))
	ld := 3 * d
	dp := scratch[:t*t]
	for u := lo; u < hi; u++ {
		bi, h := u/heads, u%heads
		base := bi * t * ld
		p := probs[u*t*t : (u+1)*t*t]
		q := qkv[base+h*hd:]
		k := qkv[base+d+h*hd:]
		v := qkv[base+2*d+h*hd:]
		dyh := dy[bi*t*d+h*hd:]
		// dP = dy v^T, dv = P^T dy
		gemm.Sgemm(false, true, t, t, hd, 1, dyh, d, v, ld, 0, dp, t)
		gemm.Sgemm(true, false, t, hd, t, 1, p, t, dyh, d, 0, dqkv[base+2*d+h*hd:], ld)
		// dS = P * (dP - rowsum(dP*P)), in place in dp
		for i := 0; i < t; i++ {
			pr := p[i*t : i*t+i+1]
			dr := dp[i*t : (i+1)*t]
			var s float32
			for j, pv := range pr {
				s += pv * dr[j]
			}
			for j, pv := range pr {
				dr[j] = pv * (dr[j] - s)
			}
			clear(dr[i+1:])
		}
		// dq = scale dS k, dk = scale dS^T q
		gemm.Sgemm(false, false, t, hd, t, scale, dp, t, k, ld, 0, dqkv[base+h*hd:], ld)
		gemm.Sgemm(true, false, t, hd, t, scale, dp, t, q, ld, 0, dqkv[base+d+h*hd:], ld)
	}
}

// embedFwd writes x[i] = wte[tokens[i]] + wpe[i mod t].
func embedFwd(x, wte, wpe []float32, tokens []int32, t, d int) {
	for i, tok := range tokens {
		xr := x[i*d : (i+1)*d]
		e := wte[int(tok)*d : (int(tok)+1)*d]
		pe := wpe[(i%t)*d : (i%t+1)*d]
		for j := range xr {
			xr[j] = e[j] + pe[j]
		}
	}
}

// embedBwdTok adds dx rows into the rows of dwte selected by tokens.
func embedBwdTok(dwte, dx []float32, tokens []int32, d int) {
	for i, tok := range tokens {
		gemm.Saxpy(1, dx[i*d:(i+1)*d], dwte[int(tok)*d:(int(tok)+1)*d])
	}
}

// embedBwdPos adds dx rows into dwpe by position.
func embedBwdPos(dwpe, dx []float32, n, t, d int) {
	for i := 0; i < n; i++ {
		gemm.Saxpy(1, dx[i*d:(i+1)*d], dwpe[(i%t)*d:(i%t+1)*d])
	}
}

// lossFwd computes logp[i] = log softmax(h[i] wte^T)[targets[i]] for h (n, d)
// and the tied wte (v, d); probs (n, v) keeps the softmax for the backward
// pass.
func lossFwd(logp, probs, h, wte []float32, targets []int32, n, v, d int) {
	gemm.Sgemm(false, true, n, v, d, 1, h, d, wte, d, 0, probs, v)
	logSoftmaxRows(logp, probs, targets, n, v)
}

// logSoftmaxRows turns the logits in probs (n, v) into probabilities in
// place and writes logp[i] = log probs[i][targets[i]].
func logSoftmaxRows(logp, probs []float32, targets []int32, n, v int) {
	for i := 0; i < n; i++ {
		row := probs[i*v : (i+1)*v]
		m := row[0]
		for _, s := range row {
			if s > m {
				m = s
			}
		}
		target := row[targets[i]]
		sum := expSubSum(row, m)
		logp[i] = target - m - float32(math.Log(float64(sum)))
		inv := 1 / sum
		for j := range row {
			row[j] *= inv
		}
	}
}

// lossBwdLogits writes the logit gradient g[i] = dlogp[i] (onehot(target) -
// probs[i]).
func lossBwdLogits(g, dlogp, probs []float32, targets []int32, n, v int) {
	for i := 0; i < n; i++ {
		gr := g[i*v : (i+1)*v]
		pr := probs[i*v : (i+1)*v]
		s := dlogp[i]
		for j, p := range pr {
			gr[j] = -s * p
		}
		gr[targets[i]] += s
	}
}

// valueFwd writes val[i] = h[i] . w + b[0].
func valueFwd(val, h, w, b []float32, n, d int) {
	for i := 0; i < n; i++ {
		val[i] = gemm.Sdot(h[i*d:(i+1)*d], w[:d]) + b[0]
	}
}

// valueBwdX writes dh[i] = dval[i] w.
func valueBwdX(dh, dval, w []float32, n, d int) {
	for i := 0; i < n; i++ {
		r := dh[i*d : (i+1)*d]
		s := dval[i]
		for j, wv := range w[:d] {
			r[j] = s * wv
		}
	}
}

// valueBwdW adds sum_i dval[i] h[i] into dw.
func valueBwdW(dw, dval, h []float32, n, d int) {
	for i := 0; i < n; i++ {
		gemm.Saxpy(dval[i], h[i*d:(i+1)*d], dw[:d])
	}
}
