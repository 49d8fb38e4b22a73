package bow

import "math"

// softplus is log(1 + e^x), computed stably.
func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// pairwise returns the accuracy (a tie counts half) and mean BT loss of
// score differences d = r(chosen) - r(rejected).
func pairwise(d []float64) (acc, loss float64) {
	if len(d) == 0 {
		return 0, 0
	}
	for _, x := range d {
		switch {
		case x > 0:
			acc++
		case x == 0:
			acc += 0.5
		}
		loss += softplus(-x)
	}
	n := float64(len(d))
	return acc / n, loss / n
}
