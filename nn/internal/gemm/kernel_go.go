package gemm

// kernelGo is the portable micro-kernel: it computes the mr x nr product of an
// A micro-panel and a B micro-panel over k depth steps, times alpha, and
// stores it into c (row stride ldc), or adds it to c when load is true. Element (r, q) of the A
// panel is a[r*rsA+q*csA]; the nr values of depth step q of the B panel start
// at b[q*sB]. It works on 2x4 sub-tiles so that the accumulators stay in
// registers.
func kernelGo(k int, a []float32, rsA, csA int, b []float32, sB int, c []float32, ldc int, alpha float32, load bool) {
	kernelGoRows(mr, k, a, rsA, csA, b, sB, c, ldc, alpha, load)
}

// kernelGoRows is kernelGo for the first rows (even, <= mr) rows of the tile.
func kernelGoRows(rows, k int, a []float32, rsA, csA int, b []float32, sB int, c []float32, ldc int, alpha float32, load bool) {
	_ = c[(rows-1)*ldc+nr-1]
	for r := 0; r < rows; r += 2 {
		for j := 0; j < nr; j += 4 {
			var c00, c01, c02, c03, c10, c11, c12, c13 float32
			ao := r * rsA
			bo := j
			for range k {
				a0, a1 := a[ao], a[ao+rsA]
				bb := b[bo : bo+4 : bo+4]
				ao += csA
				bo += sB
				b0, b1, b2, b3 := bb[0], bb[1], bb[2], bb[3]
				c00 += a0 * b0
				c01 += a0 * b1
				c02 += a0 * b2
				c03 += a0 * b3
				c10 += a1 * b0
				c11 += a1 * b1
				c12 += a1 * b2
				c13 += a1 * b3
			}
			if alpha != 1 {
				c00, c01, c02, c03 = alpha*c00, alpha*c01, alpha*c02, alpha*c03
				c10, c11, c12, c13 = alpha*c10, alpha*c11, alpha*c12, alpha*c13
			}
			r0 := c[r*ldc+j : r*ldc+j+4 : r*ldc+j+4]
			r1 := c[(r+1)*ldc+j : (r+1)*ldc+j+4 : (r+1)*ldc+j+4]
			if load {
				c00 += r0[0]
				c01 += r0[1]
				c02 += r0[2]
				c03 += r0[3]
				c10 += r1[0]
				c11 += r1[1]
				c12 += r1[2]
				c13 += r1[3]
			}
			r0[0], r0[1], r0[2], r0[3] = c00, c01, c02, c03
			r1[0], r1[1], r1[2], r1[3] = c10, c11, c12, c13
		}
	}
}

// sdotGo is the portable dot product of x and y[:len(x)].
func sdotGo(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		xx := x[i : i+4 : i+4]
		yy := y[i : i+4 : i+4]
		s0 += xx[0] * yy[0]
		s1 += xx[1] * yy[1]
		s2 += xx[2] * yy[2]
		s3 += xx[3] * yy[3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// saxpyGo is the portable y[:len(x)] += alpha*x.
func saxpyGo(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}
