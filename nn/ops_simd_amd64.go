//go:build goexperiment.simd && amd64

package nn

import "simd/archsimd"

// AVX2+FMA versions of the elementwise kernels, built with GOEXPERIMENT=simd.
// Each processes the longest prefix that is a multiple of 8 and returns its
// length; the caller finishes the tail with the scalar code.

var haveAVX2 = archsimd.X86.AVX2() && archsimd.X86.FMA()

// exp8 is fexp on 8 lanes (0 below expLo).
func exp8(x archsimd.Float32x8) archsimd.Float32x8 {
	// constants are made here, not in package variables, so that a CPU
	// without AVX never executes a vector instruction
	lo := archsimd.BroadcastFloat32x8(expLo)
	keep := x.GreaterEqual(lo)
	x = x.Min(archsimd.BroadcastFloat32x8(expHi)).Max(lo)
	magic := archsimd.BroadcastFloat32x8(roundMagic)
	kf := x.MulAdd(archsimd.BroadcastFloat32x8(log2e), magic)
	k := kf.Sub(magic)
	r := k.MulAdd(archsimd.BroadcastFloat32x8(-ln2Hi), x)
	r = k.MulAdd(archsimd.BroadcastFloat32x8(-ln2Lo), r)
	p := archsimd.BroadcastFloat32x8(1.9875691500e-4)
	p = p.MulAdd(r, archsimd.BroadcastFloat32x8(1.3981999507e-3))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x8(8.3334519073e-3))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x8(4.1665795894e-2))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x8(1.6666665459e-1))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x8(5.0000001201e-1))
	p = p.Mul(r.Mul(r)).Add(r).Add(archsimd.BroadcastFloat32x8(1))
	bias := archsimd.BroadcastInt32x8(127 - roundMagicBits)
	pow2 := kf.AsInt32x8().Add(bias).ShiftAllLeft(23).AsFloat32x8()
	return p.Mul(pow2).Masked(keep)
}

// expSubSumVec sets s[j] = exp(s[j] - m) and returns the count done and the
// sum of those exponentials.
func expSubSumVec(s []float32, m float32) (int, float32) {
	if !haveAVX2 {
		return 0, 0
	}
	n := len(s) &^ 7
	mv := archsimd.BroadcastFloat32x8(m)
	acc := archsimd.BroadcastFloat32x8(0)
	for i := 0; i < n; i += 8 {
		e := exp8(archsimd.LoadFloat32x8Slice(s[i : i+8]).Sub(mv))
		e.StoreSlice(s[i : i+8])
		acc = acc.Add(e)
	}
	var lanes [8]float32
	acc.Store(&lanes)
	var sum float32
	for _, v := range lanes {
		sum += v
	}
	return n, sum
}

// adamWVec is the AdamW update loop on 8 lanes.
func adamWVec(p, g, m, v []float32, b1, b2, keep, step, rbc2, eps float32) int {
	if !haveAVX2 {
		return 0
	}
	n := len(p) &^ 7
	vb1, vb2 := archsimd.BroadcastFloat32x8(b1), archsimd.BroadcastFloat32x8(b2)
	vc1, vc2 := archsimd.BroadcastFloat32x8(1-b1), archsimd.BroadcastFloat32x8(1-b2)
	vkeep, vstep := archsimd.BroadcastFloat32x8(keep), archsimd.BroadcastFloat32x8(step)
	vr, veps := archsimd.BroadcastFloat32x8(rbc2), archsimd.BroadcastFloat32x8(eps)
	for i := 0; i < n; i += 8 {
		gi := archsimd.LoadFloat32x8Slice(g[i : i+8])
		mi := archsimd.LoadFloat32x8Slice(m[i : i+8]).Mul(vb1).Add(gi.Mul(vc1))
		vi := archsimd.LoadFloat32x8Slice(v[i : i+8]).Mul(vb2).Add(gi.Mul(gi).Mul(vc2))
		mi.StoreSlice(m[i : i+8])
		vi.StoreSlice(v[i : i+8])
		pi := archsimd.LoadFloat32x8Slice(p[i : i+8])
		den := vi.Sqrt().Mul(vr).Add(veps)
		pi.Mul(vkeep).Sub(vstep.Mul(mi).Div(den)).StoreSlice(p[i : i+8])
	}
	return n
}

func hsum8(v archsimd.Float32x8) float32 {
	var lanes [8]float32
	v.Store(&lanes)
	return ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]))
}

// layerNormFwdVec is layerNormFwd for d a multiple of 8; false if it did
// nothing.
func layerNormFwdVec(y, x, g, b, mean, rstd []float32, n, d int) bool {
	if !haveAVX2 || d%8 != 0 {
		return false
	}
	zero := archsimd.BroadcastFloat32x8(0)
	for r := 0; r < n; r++ {
		xr, yr := x[r*d:(r+1)*d], y[r*d:(r+1)*d]
		s := zero
		for j := 0; j < d; j += 8 {
			s = s.Add(archsimd.LoadFloat32x8Slice(xr[j : j+8]))
		}
		mu := hsum8(s) / float32(d)
		muv := archsimd.BroadcastFloat32x8(mu)
		ss := zero
		for j := 0; j < d; j += 8 {
			c := archsimd.LoadFloat32x8Slice(xr[j : j+8]).Sub(muv)
			ss = c.MulAdd(c, ss)
		}
		rs := 1 / sqrt32(hsum8(ss)/float32(d)+lnEps)
		mean[r], rstd[r] = mu, rs
		rsv := archsimd.BroadcastFloat32x8(rs)
		for j := 0; j < d; j += 8 {
			xh := archsimd.LoadFloat32x8Slice(xr[j : j+8]).Sub(muv).Mul(rsv)
			xh.MulAdd(archsimd.LoadFloat32x8Slice(g[j:j+8]), archsimd.LoadFloat32x8Slice(b[j:j+8])).StoreSlice(yr[j : j+8])
		}
	}
	return true
}

// layerNormBwdXVec is layerNormBwdX for d a multiple of 8.
func layerNormBwdXVec(dx, dy, x, g, resid, mean, rstd []float32, n, d int) bool {
	if !haveAVX2 || d%8 != 0 {
		return false
	}
	zero := archsimd.BroadcastFloat32x8(0)
	inv := 1 / float32(d)
	for r := 0; r < n; r++ {
		xr, dyr, dxr := x[r*d:(r+1)*d], dy[r*d:(r+1)*d], dx[r*d:(r+1)*d]
		muv := archsimd.BroadcastFloat32x8(mean[r])
		rsv := archsimd.BroadcastFloat32x8(rstd[r])
		av, cv := zero, zero
		for j := 0; j < d; j += 8 {
			gd := archsimd.LoadFloat32x8Slice(g[j : j+8]).Mul(archsimd.LoadFloat32x8Slice(dyr[j : j+8]))
			xh := archsimd.LoadFloat32x8Slice(xr[j : j+8]).Sub(muv).Mul(rsv)
			av = av.Add(gd)
			cv = gd.MulAdd(xh, cv)
		}
		a := archsimd.BroadcastFloat32x8(hsum8(av) * inv)
		c := archsimd.BroadcastFloat32x8(hsum8(cv) * inv)
		for j := 0; j < d; j += 8 {
			gd := archsimd.LoadFloat32x8Slice(g[j : j+8]).Mul(archsimd.LoadFloat32x8Slice(dyr[j : j+8]))
			xh := archsimd.LoadFloat32x8Slice(xr[j : j+8]).Sub(muv).Mul(rsv)
			v := gd.Sub(a).Sub(xh.Mul(c)).Mul(rsv)
			if resid != nil {
				v = v.Add(archsimd.LoadFloat32x8Slice(resid[r*d+j : r*d+j+8]))
			}
			v.StoreSlice(dxr[j : j+8])
		}
	}
	return true
}

// layerNormBwdGVec is layerNormBwdG for d a multiple of 8.
func layerNormBwdGVec(dg, dy, x, mean, rstd []float32, n, d int) bool {
	if !haveAVX2 || d%8 != 0 {
		return false
	}
	for j := 0; j < d; j += 8 {
		acc := archsimd.LoadFloat32x8Slice(dg[j : j+8])
		for r := 0; r < n; r++ {
			xh := archsimd.LoadFloat32x8Slice(x[r*d+j : r*d+j+8]).Sub(archsimd.BroadcastFloat32x8(mean[r])).Mul(archsimd.BroadcastFloat32x8(rstd[r]))
			acc = xh.MulAdd(archsimd.LoadFloat32x8Slice(dy[r*d+j:r*d+j+8]), acc)
		}
		acc.StoreSlice(dg[j : j+8])
	}
	return true
}
