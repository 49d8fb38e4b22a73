// Package echoalgo is a test algorithm: a small deterministic loss head
// (gradient = logp - old_logp + beta * (logp - ref_logp), scaled by reward)
// with one option, so tests can check Configure, Loss and restarts.
package echoalgo

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/p3o-rlhf/p3o/sdk"
)

type options struct {
	Scale float64 `toml:"scale"`
}

// Echo implements sdk.Algorithm.
type Echo struct{ opt options }

// New returns an Echo with default options.
func New() *Echo { return &Echo{opt: options{Scale: 1}} }

func (e *Echo) Describe(context.Context) (*sdk.Spec, error) {
	return &sdk.Spec{Name: "echo", Version: "0.1.0", ProtocolVersion: sdk.ProtocolVersion, Kind: sdk.KindAlgorithm,
		Mode: sdk.ModeOnline, ResponsesPerPrompt: 2, NeedsReference: true, ShiftInvariant: false,
		DefaultOptions: map[string]any{"scale": 1.0}}, nil
}

func (e *Echo) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	e.opt = options{Scale: 1}
	if err := sdk.DecodeOptions(req.Options, &e.opt); err != nil {
		return err
	}
	hclog.Default().Info("configured", "scale", e.opt.Scale)
	return nil
}

func (e *Echo) Prepare(_ context.Context, req *sdk.PrepareRequest) (*sdk.PrepareResponse, error) {
	aux := make([]map[string][]float64, len(req.Batch.Sequences))
	for i, s := range req.Batch.Sequences {
		a := make([]float64, len(s.Response))
		for t := range a {
			a[t] = s.Reward
		}
		aux[i] = map[string][]float64{"adv": a}
	}
	return &sdk.PrepareResponse{Aux: aux}, nil
}

func (e *Echo) Loss(_ context.Context, req *sdk.LossRequest) (*sdk.LossResponse, error) {
	b := req.Batch
	if b.Beta == -2 {
		time.Sleep(time.Minute) // lets tests see a plugin that hangs in a call
	}
	if b.Beta == -3 {
		// lets tests see a plugin whose error is megabytes long
		return nil, fmt.Errorf("unknown keys: %s", strings.Repeat("key, ", 1<<20))
	}
	if b.Beta < 0 {
		os.Exit(7) // lets tests kill the process in the middle of a call
	}
	if len(b.Sequences) == 0 {
		return nil, fmt.Errorf("empty batch")
	}
	r := &sdk.LossResponse{GradLogp: make([][]float64, len(b.Sequences)), Stats: map[string]float64{"echo/n": float64(len(b.Sequences))}}
	for i, s := range b.Sequences {
		g := make([]float64, len(s.Logp))
		for t := range g {
			g[t] = e.opt.Scale * s.Reward * (math.Exp(s.Logp[t]-s.OldLogp[t]) + b.Beta*(s.Logp[t]-s.RefLogp[t]))
			r.Loss += g[t] * s.Logp[t]
		}
		r.GradLogp[i] = g
	}
	return r, nil
}
