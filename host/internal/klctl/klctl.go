// Package klctl chooses the KL coefficient beta of the RL loss: fixed, or
// adaptive after Ziegler et al. 2019 ("Fine-Tuning Language Models from Human
// Preferences", section 2.2), which steers the observed KL towards a target:
//
//	e     = clip((KL - target) / target, -0.2, 0.2)
//	beta <- beta * (1 + e * n / horizon)
//
// where n is the number of samples in the step.
package klctl

import (
	"fmt"
	"math"
)

// Controller returns the KL coefficient for the next step.
type Controller interface {
	// Beta is the current coefficient.
	Beta() float64
	// Update observes the mean per-sequence KL of a step of n samples.
	Update(kl float64, n int)
	// SetBeta restores a coefficient from a checkpoint.
	SetBeta(beta float64)
}

// Fixed keeps beta constant.
type Fixed struct{ B float64 }

// Beta returns the fixed coefficient.
func (f *Fixed) Beta() float64 { return f.B }

// Update does nothing.
func (f *Fixed) Update(float64, int) {}

// SetBeta sets the coefficient.
func (f *Fixed) SetBeta(b float64) { f.B = b }

// Adaptive is Ziegler et al.'s proportional controller.
type Adaptive struct {
	B       float64 // current coefficient
	Target  float64 // target KL per sequence (nats)
	Horizon float64 // horizon in samples
}

// Beta returns the current coefficient.
func (a *Adaptive) Beta() float64 { return a.B }

// Update moves beta by the clipped proportional error of kl against the target.
func (a *Adaptive) Update(kl float64, n int) {
	if math.IsNaN(kl) || math.IsInf(kl, 0) {
		return
	}
	e := (kl - a.Target) / a.Target
	e = math.Max(-0.2, math.Min(0.2, e))
	a.B *= 1 + e*float64(n)/a.Horizon
}

// SetBeta sets the coefficient.
func (a *Adaptive) SetBeta(b float64) { a.B = b }

// New makes a controller: mode "fixed" or "adaptive".
func New(mode string, beta, target, horizon float64) (Controller, error) {
	switch mode {
	case "fixed":
		return &Fixed{B: beta}, nil
	case "adaptive":
		if target <= 0 || horizon <= 0 {
			return nil, fmt.Errorf("adaptive KL controller: target %g and horizon %g must be > 0", target, horizon)
		}
		return &Adaptive{B: beta, Target: target, Horizon: horizon}, nil
	}
	return nil, fmt.Errorf("unknown KL controller mode %q (want fixed or adaptive)", mode)
}
