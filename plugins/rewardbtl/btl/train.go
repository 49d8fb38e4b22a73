package btl

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/p3o-rlhf/p3o/nn"
	"github.com/p3o-rlhf/p3o/plugins/internal/bt"
	"github.com/p3o-rlhf/p3o/sdk"
)

// Train takes up to req.MaxSteps optimiser steps (all remaining steps of the
// budget when 0) on req.Train, then reports the pairwise accuracy on
// req.HeldOut. The budget (option steps, or epochs over the training set) is
// fixed by the first call; later calls continue where the last one stopped,
// also after SaveState/LoadState in another process. Step s trains on
// comparisons s*batch .. s*batch+batch-1 of the endless sequence of per-epoch
// permutations drawn from (seed, epoch), so the data order needs no cursor.
func (r *Reward) Train(ctx context.Context, req *sdk.TrainRequest) (*sdk.TrainResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		return nil, errNotConfigured
	}
	if len(req.Train) == 0 {
		return nil, fmt.Errorf("rewardbtl: train: no training comparisons")
	}
	if req.MaxSteps < 0 {
		return nil, fmt.Errorf("rewardbtl: train: max_steps %d: want >= 0", req.MaxSteps)
	}
	log := logger()
	h := bt.HashComparisons(req.Train)
	if r.total == 0 {
		r.total = bt.Budget(r.opts.Steps, r.opts.Epochs, r.opts.Batch, len(req.Train))
		r.dataHash = h
		log.Info("training budget", "steps", r.total, "comparisons", len(req.Train), "batch", r.opts.Batch)
	} else if h != r.dataHash {
		log.Warn("training comparisons differ from those the run started with; resuming with the new set", "comparisons", len(req.Train))
		r.dataHash = h
	}
	todo := r.total - r.step
	if req.MaxSteps > 0 {
		todo = min(todo, req.MaxSteps)
	}
	order := bt.NewOrder(r.opts.Seed, len(req.Train))
	var (
		lossSum, accSum float64
		n               int
		t0              = time.Now()
	)
	for range todo {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		loss, acc, err := r.trainStep(ctx, req.Train, order)
		if err != nil {
			return nil, err
		}
		lossSum += loss
		accSum += acc
		n++
		if r.step%10 == 0 || r.step == r.total {
			log.Debug("train", "step", r.step, "of", r.total, "loss", loss, "batch_accuracy", acc)
		}
	}
	resp := &sdk.TrainResponse{Steps: r.step, Done: r.step >= r.total, Stats: map[string]float64{
		"train/steps_total": float64(r.total),
	}}
	if n > 0 {
		resp.Loss = lossSum / float64(n)
		resp.Stats["train/loss"] = resp.Loss
		resp.Stats["train/accuracy"] = accSum / float64(n)
		resp.Stats["train/seconds"] = time.Since(t0).Seconds()
	}
	if len(req.HeldOut) > 0 {
		acc, loss, err := r.evaluate(ctx, req.HeldOut)
		if err != nil {
			return nil, err
		}
		resp.HeldOutAccuracy = acc
		resp.Stats["heldout/accuracy"] = acc
		resp.Stats["heldout/loss"] = loss
	}
	if len(req.HeldOut) > 0 {
		log.Info("trained", "step", r.step, "of", r.total, "loss", resp.Loss, "heldout_accuracy", resp.HeldOutAccuracy)
	} else {
		log.Info("trained", "step", r.step, "of", r.total, "loss", resp.Loss)
	}
	return resp, nil
}

// batchIndices returns the training comparisons of step s.
func (r *Reward) batchIndices(s int, order *bt.Order) []int {
	b := r.opts.Batch
	out := make([]int, b)
	for j := range out {
		out[j] = order.At(s*b + j)
	}
	return out
}

// trainStep takes one optimiser step; it returns the batch's BT loss and
// accuracy (before the update).
func (r *Reward) trainStep(ctx context.Context, train []sdk.Comparison, order *bt.Order) (loss, acc float64, err error) {
	B, T := r.opts.Batch, r.opts.MaxLen
	idx := r.batchIndices(r.step, order)
	seqs := make([]seq, 0, 2*B)
	for _, i := range idx {
		c := train[i]
		seqs = append(seqs, r.encode(c.Prompt, c.Chosen), r.encode(c.Prompt, c.Rejected))
	}
	tokens := make([]int32, 2*B*T)
	targets := make([]int32, 2*B*T)
	spans := r.fill(tokens, seqs)
	_, values, err := r.tr.Forward(ctx, tokens, targets)
	if err != nil {
		return 0, 0, fmt.Errorf("rewardbtl: train step %d: %w", r.step, err)
	}
	dValues := make([]float32, 2*B*T)
	d := make([]float64, B)
	for j := range B {
		d[j] = spans[2*j].score(values) - spans[2*j+1].score(values)
		// L = mean_j softplus(-d_j); dL/dd_j = -sigmoid(-d_j)/B.
		g := -bt.Sigmoid(-d[j]) / float64(B)
		spans[2*j].grad(dValues, g)
		spans[2*j+1].grad(dValues, -g)
	}
	acc, loss = bt.Pairwise(d)
	if math.IsNaN(loss) {
		return 0, 0, fmt.Errorf("rewardbtl: train step %d: loss is NaN (lower lr?)", r.step)
	}
	r.m.ZeroGrad()
	if err := r.tr.Backward(ctx, nil, dValues); err != nil {
		return 0, 0, fmt.Errorf("rewardbtl: train step %d: %w", r.step, err)
	}
	if r.opts.GradClip > 0 {
		nn.ClipGradNorm(r.m.Grads, r.opts.GradClip)
	}
	warm := min(r.opts.Warmup, r.total/2)
	lr := nn.CosineLR(r.step, warm, r.total, r.opts.LR, r.opts.LR/10)
	r.opt.Update(r.m, lr)
	r.step++
	return loss, acc, nil
}

// evaluate returns the pairwise accuracy and mean BT loss on comparisons.
func (r *Reward) evaluate(ctx context.Context, cs []sdk.Comparison) (acc, loss float64, err error) {
	seqs := make([]seq, 0, 2*len(cs))
	for _, c := range cs {
		seqs = append(seqs, r.encode(c.Prompt, c.Chosen), r.encode(c.Prompt, c.Rejected))
	}
	s, err := r.scoreSeqs(ctx, seqs)
	if err != nil {
		return 0, 0, err
	}
	d := make([]float64, len(cs))
	for i := range cs {
		d[i] = s[2*i] - s[2*i+1]
	}
	acc, loss = bt.Pairwise(d)
	return acc, loss, nil
}
