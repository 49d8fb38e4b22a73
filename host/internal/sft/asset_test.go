package sft

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/p3o-rlhf/p3o/nn"
)

// TestCommittedSFTWeights checks that each committed SFT policy (the
// default RL stage starts from imdb-byte-d160l3; imdb-byte-d128 is the
// previous default, kept for its documented results) loads with its shape
// and predicts review text far better than an untrained model.
func TestCommittedSFTWeights(t *testing.T) {
	for _, tc := range []struct {
		file   string
		config nn.Config
		maxNLL float64 // nats/byte on the review below
	}{
		{"imdb-byte-d128.safetensors", nn.Config{Vocab: 257, Context: 128, DModel: 128, Heads: 4, Layers: 2}, 2.2},
		{"imdb-byte-d160l3.safetensors", nn.Config{Vocab: 257, Context: 128, DModel: 160, Heads: 4, Layers: 3}, 0.85},
	} {
		t.Run(tc.file, func(t *testing.T) { checkSFTAsset(t, tc.file, tc.config, tc.maxNLL) })
	}
}

func checkSFTAsset(t *testing.T, file string, want nn.Config, maxNLL float64) {
	path := filepath.Join("..", "..", "..", "assets", "sft", file)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no committed SFT weights (%v)", err)
	}
	m, opt, err := nn.LoadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	if opt != nil {
		t.Error("the committed weights carry optimiser moments; want weights only")
	}
	if m.Config != want {
		t.Fatalf("got config %+v, want %+v", m.Config, want)
	}
	// A review written for this test (not from the data set).
	text := "This movie was a real surprise. The acting is good, the story keeps you watching and the ending made me smile. I would recommend it to anyone who likes a simple film with heart."
	tok := nn.NewByteTokenizer()
	ids := append([]int32{tok.EOT()}, tok.Encode(text)...)[:129]
	nll := func(m *nn.Model) float64 {
		tr, err := nn.NewTrainer(m, 1, 128)
		if err != nil {
			t.Fatal(err)
		}
		logp, _, err := tr.Forward(context.Background(), ids[:128], ids[1:])
		if err != nil {
			t.Fatal(err)
		}
		var s float64
		for _, lp := range logp {
			s -= float64(lp)
		}
		return s / 128
	}
	fresh, err := nn.NewModel(want, 1)
	if err != nil {
		t.Fatal(err)
	}
	got, untrained := nll(m), nll(fresh)
	t.Logf("nats/byte on a held-out review: SFT %.3f, untrained %.3f", got, untrained)
	if got > maxNLL || untrained < 5 {
		t.Errorf("got SFT %.3f nats/byte (want < %.2f) and untrained %.3f (want > 5)", got, maxNLL, untrained)
	}
}
