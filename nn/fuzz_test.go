package nn

import (
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/nn/safetensors"
)

// hostileModel re-encodes a valid checkpoint with a model config claiming
// d_model 65536 (about 10^11 weights); the checksum is valid.
func hostileModel(t testing.TB, b []byte) []byte {
	f, err := safetensors.Decode("x", b)
	if err != nil {
		t.Fatal(err)
	}
	f.Metadata[metaConfig] = `{"vocab":11,"context":6,"d_model":65536,"heads":2,"layers":2,"value_head":false}`
	delete(f.Metadata, safetensors.ChecksumKey)
	out, err := safetensors.Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWeightCountMatchesTensors(t *testing.T) {
	for _, vh := range []bool{false, true} {
		m, _ := trainedLike(t, vh)
		var n int
		for _, ts := range m.Params.Tensors(m.Config) {
			n += len(ts.Data)
		}
		if got := m.Config.weightCount(); got != float64(n) {
			t.Errorf("value head %v: weightCount = %g, want %d", vh, got, n)
		}
	}
}

func TestDecodeModelRefusesConfigLargerThanFile(t *testing.T) {
	m, opt := trainedLike(t, false)
	b, err := EncodeModel(m, opt)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = DecodeModel(hostileModel(t, b))
	if err == nil || !strings.Contains(err.Error(), "the file holds") {
		t.Fatalf("got %v, want an error saying the config needs more weights than the file holds", err)
	}
}

// FuzzDecodeModel: no input panics or allocates more than the file implies.
// Seeds: testdata/fuzz/FuzzDecodeModel plus a valid checkpoint and a hostile
// one added here.
func FuzzDecodeModel(f *testing.F) {
	cfg := Config{Vocab: 5, Context: 4, DModel: 4, Heads: 2, Layers: 1}
	m, err := NewModel(cfg, 1)
	if err != nil {
		f.Fatal(err)
	}
	b, err := EncodeModel(m, NewAdamW(m, AdamWConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8}))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(hostileModel(f, b))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, _, err := DecodeModel(b)
		if err == nil && m.Config.weightCount() > float64(len(b)) {
			t.Fatalf("decoded a model of %g weights from %d bytes", m.Config.weightCount(), len(b))
		}
	})
}
