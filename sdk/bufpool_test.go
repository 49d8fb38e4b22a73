package sdk

import "testing"

func TestPow2Pool(t *testing.T) {
	p := &pow2Pool{}
	for _, n := range []int{0, 1, 255, 256, 257, 4096, 35_000, 110_000, 1 << 20} {
		b := p.Get(n)
		if len(*b) != n {
			t.Errorf("Get(%d): got len %d, want %d", n, len(*b), n)
		}
		if n >= 256 && cap(*b)&(cap(*b)-1) != 0 {
			t.Errorf("Get(%d): got cap %d, want a power of two", n, cap(*b))
		}
		p.Put(b)
		again := p.Get(n)
		if len(*again) != n || cap(*again) < n {
			t.Errorf("Get(%d) after Put: got len %d cap %d, want len %d", n, len(*again), cap(*again), n)
		}
	}
}
