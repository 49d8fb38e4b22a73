package nn

import "math"

// Float32 elementary functions for the kernels: a Cephes-style exp (a few
// ulp, no float64 round trip) and a rational tanh. The standard library's
// float64 Tanh was a quarter of a training step.

const (
	expHi = 88.3762626647949
	expLo = -87.3365447505531 // below: 0 (exp underflows to subnormals)
	log2e = 1.44269504088896341
	ln2Hi = 0.693359375
	ln2Lo = -2.12194440e-4

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

// Coefficients of the rational tanh approximation x p(x^2) / q(x^2) on
// [-7.9, 7.9] used by Eigen (generic_fast_tanh_float); beyond the clamp
// tanh is 1 to float32 precision.
const (
	tanhClamp = 7.90531110763549805
	tanhA13   = -2.76076847742355e-16
	tanhA11   = 2.00018790482477e-13
	tanhA9    = -8.60467152213735e-11
	tanhA7    = 5.12229709037114e-08
	tanhA5    = 1.48572235717979e-05
	tanhA3    = 6.37261928875436e-04
	tanhA1    = 4.89352455891786e-03
	tanhB6    = 1.19825839466702e-06
	tanhB4    = 1.18534705686654e-04
	tanhB2    = 2.26843463243900e-03
	tanhB0    = 4.89352518554385e-03
)

// ftanh returns tanh(x) in float32 (absolute error below 1e-6): a rational
// approximation, branch-free apart from the clamp and ~1.7x faster than
// going through exp.
func ftanh(x float32) float32 {
	if x > tanhClamp {
		x = tanhClamp
	} else if x < -tanhClamp {
		x = -tanhClamp
	}
	x2 := x * x
	p := x2*tanhA13 + tanhA11
	p = p*x2 + tanhA9
	p = p*x2 + tanhA7
	p = p*x2 + tanhA5
	p = p*x2 + tanhA3
	p = p*x2 + tanhA1
	q := x2*tanhB6 + tanhB4
	q = q*x2 + tanhB2
	q = q*x2 + tanhB0
	return x * p / q
}
