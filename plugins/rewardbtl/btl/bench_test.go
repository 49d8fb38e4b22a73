package btl

import (
	"context"
	"fmt"
	"testing"

	"github.com/p3o-rlhf/p3o/sdk"
)

// BenchmarkTrainStep measures one optimiser step (batch 16 pairs, 32
// sequences) of the model shapes used in docs/results-reward.md.
//
//	go test ./plugins/rewardbtl/btl -run '^$' -bench TrainStep -benchtime 20x
func BenchmarkTrainStep(b *testing.B) {
	for _, c := range []struct {
		name string
		opts string
	}{
		{"d64-l2-len256", "d_model = 64\nlayers = 2\nheads = 4\nmax_len = 256\nbatch = 16\n"},
		{"d64-l2-len128", "d_model = 64\nlayers = 2\nheads = 4\nmax_len = 128\nbatch = 16\n"},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := New()
			ctx := context.Background()
			if err := r.Configure(ctx, &sdk.ConfigureRequest{Options: []byte(c.opts + fmt.Sprintf("steps = %d\n", b.N+1))}); err != nil {
				b.Fatal(err)
			}
			train := toyComparisons(256, 1)
			b.ResetTimer()
			if _, err := r.Train(ctx, &sdk.TrainRequest{Train: train, MaxSteps: b.N}); err != nil {
				b.Fatal(err)
			}
		})
	}
}
