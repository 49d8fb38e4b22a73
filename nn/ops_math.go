package nn

import "math"

// Float32 elementary functions for the kernels: a Cephes-style exp (a few
// ulp, no float64 round trip) and tanh built on it. The standard library's
// float64 Tanh was a quarter of a training step.

const (
	expHi  = 88.3762626647949
	expLo  = -87.3365447505531 // below: 0 (exp underflows to subnormals)
	log2e  = 1.44269504088896341
	ln2Hi  = 0.693359375
	ln2Lo  = -2.12194440e-4
	tanhHi = 9.0 // tanh(9) = 1 - 3e-8: 1 in float32

	roundMagic     = 12582912   // 1.5 * 2^23
	roundMagicBits = 0x4b400000 // math.Float32bits(roundMagic)
)

// fexp returns e^x in float32 (relative error below 3e-7); 0 below -87.3.
func fexp(x float32) float32 {
	if x > expHi {
		x = expHi
	} else if x < expLo {
		return 0
	}
	// round x*log2e to the nearest integer k with the 1.5*2^23 trick: the
	// sum's low mantissa bits are k
	kf := x*log2e + roundMagic
	ki := int32(math.Float32bits(kf)) - roundMagicBits
	k := kf - roundMagic
	r := x - k*ln2Hi - k*ln2Lo
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	p = p*r*r + r + 1
	return p * math.Float32frombits(uint32(ki+127)<<23)
}

// ftanh returns tanh(x) in float32 (absolute error below 1e-6).
func ftanh(x float32) float32 {
	switch {
	case x > tanhHi:
		return 1
	case x < -tanhHi:
		return -1
	case x > -0.02 && x < 0.02:
		x2 := x * x // tanh x = x - x^3/3 + 2x^5/15
		return x * (1 - x2*(1.0/3-x2*(2.0/15)))
	}
	e := fexp(2 * x)
	return (e - 1) / (e + 1)
}
