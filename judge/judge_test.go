package judge

import "testing"

func TestVADERPolarity(t *testing.T) {
	v := NewVADER()
	tests := []struct{ pos, neg string }{
		{"This movie was wonderful, I loved every minute of it.", "This movie was terrible, I hated every minute of it."},
		{"A great, beautiful and moving film.", "An awful, boring and stupid film."},
		{"best acting ever", "worst acting ever"},
	}
	for _, tc := range tests {
		t.Run(tc.pos, func(t *testing.T) {
			p, n := v.Score("", tc.pos), v.Score("", tc.neg)
			if !(p > 0 && n < 0 && p > n) {
				t.Errorf("got pos %.3f neg %.3f, want pos > 0 > neg", p, n)
			}
			for _, s := range []float64{p, n} {
				if s < -1 || s > 1 {
					t.Errorf("got score %v, want in [-1, 1]", s)
				}
			}
		})
	}
	if got := v.Score("I hate", "the sky is blue"); got != v.Score("I love", "the sky is blue") {
		t.Errorf("prompt changed the score: got %v", got)
	}
	// Invalid UTF-8 scores as the U+FFFD text that crosses the plugin wire.
	if got, want := v.Score("", "great caf\xc3"), v.Score("", "great caf\uFFFD"); got != want {
		t.Errorf("got %v for invalid UTF-8, want %v (as U+FFFD)", got, want)
	}
}
