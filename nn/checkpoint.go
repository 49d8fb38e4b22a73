package nn

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/p3o-rlhf/p3o/nn/safetensors"
)

// Checkpoint metadata keys (safetensors "__metadata__").
const (
	metaConfig    = "p3o.config"     // JSON of Config
	metaAdamW     = "p3o.adamw"      // JSON of AdamWConfig, with optimiser state
	metaAdamWStep = "p3o.adamw.step" // decimal AdamW.Step
	adamWMPrefix  = "adamw.m."       // first-moment tensors, GPT-2 names after the prefix
	adamWVPrefix  = "adamw.v."       // second-moment tensors
	checkpointFmt = "p3o-nn-checkpoint-v1"
)

// EncodeModel serialises m's weights (GPT-2 tensor names, float32) and,
// when opt is not nil, the AdamW moments ("adamw.m.<name>",
// "adamw.v.<name>"), step and hyperparameters, as a safetensors file with
// the model config in its metadata.
func EncodeModel(m *Model, opt *AdamW) ([]byte, error) {
	cfg, err := json.Marshal(m.Config)
	if err != nil {
		return nil, fmt.Errorf("encode model: %w", err)
	}
	f := &safetensors.File{Metadata: map[string]string{"format": "pt", "p3o.format": checkpointFmt, metaConfig: string(cfg)}}
	for _, t := range m.Params.Tensors(m.Config) {
		f.Tensors = append(f.Tensors, safetensors.Tensor{Name: t.Name, Shape: t.Shape, Data: t.Data})
	}
	if opt != nil {
		oc, err := json.Marshal(opt.Config)
		if err != nil {
			return nil, fmt.Errorf("encode model: %w", err)
		}
		f.Metadata[metaAdamW] = string(oc)
		f.Metadata[metaAdamWStep] = strconv.Itoa(opt.Step)
		for _, t := range opt.M.Tensors(m.Config) {
			f.Tensors = append(f.Tensors, safetensors.Tensor{Name: adamWMPrefix + t.Name, Shape: t.Shape, Data: t.Data})
		}
		for _, t := range opt.V.Tensors(m.Config) {
			f.Tensors = append(f.Tensors, safetensors.Tensor{Name: adamWVPrefix + t.Name, Shape: t.Shape, Data: t.Data})
		}
	}
	b, err := safetensors.Encode(f)
	if err != nil {
		return nil, fmt.Errorf("encode model: %w", err)
	}
	return b, nil
}

// DecodeModel is the inverse of EncodeModel. The AdamW state is nil when the
// file holds weights only.
func DecodeModel(b []byte) (*Model, *AdamW, error) {
	return decodeModel("checkpoint", b)
}

// SaveModel writes EncodeModel(m, opt) to path atomically (temporary file in
// the same directory, fsync, rename, fsync of the directory).
func SaveModel(path string, m *Model, opt *AdamW) error {
	b, err := EncodeModel(m, opt)
	if err != nil {
		return fmt.Errorf("save model %s: %w", path, err)
	}
	if err := safetensors.WriteFile(path, b); err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	return nil
}

// LoadModel reads a file written by SaveModel. A truncated or corrupt file
// is an error naming the file and what is wrong.
func LoadModel(path string) (*Model, *AdamW, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load model: %w", err)
	}
	return decodeModel(path, b)
}

func decodeModel(name string, b []byte) (*Model, *AdamW, error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("load model %s: %s", name, fmt.Sprintf(format, a...))
	}
	f, err := safetensors.Decode(name, b)
	if err != nil {
		return nil, nil, fmt.Errorf("load model: %w", err)
	}
	if !f.Checked {
		return nil, nil, fail("no %q checksum in the metadata: corrupt, or not written by nn.SaveModel (use LoadHFGPT2 for Hugging Face checkpoints)", safetensors.ChecksumKey)
	}
	if f.Metadata["p3o.format"] != checkpointFmt {
		return nil, nil, fail("metadata p3o.format is %q, want %q", f.Metadata["p3o.format"], checkpointFmt)
	}
	var cfg Config
	dec := json.NewDecoder(strings.NewReader(f.Metadata[metaConfig]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, nil, fail("bad model config in metadata %s: %v", metaConfig, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, fail("%v", err)
	}
	// The config decides the allocation: it must not claim more weights
	// than the file holds (a corrupt or hostile header is an error, not a
	// huge allocation).
	var held float64
	for _, t := range f.Tensors {
		held += float64(len(t.Data))
	}
	if need := cfg.weightCount(); need > held {
		return nil, nil, fail("model config %+v needs %.0f weights, the file holds %.0f values: corrupt", cfg, need, held)
	}
	m, err := NewModel(cfg, 0)
	if err != nil {
		return nil, nil, fail("%v", err)
	}
	byName := make(map[string]*safetensors.Tensor, len(f.Tensors))
	for i := range f.Tensors {
		byName[f.Tensors[i].Name] = &f.Tensors[i]
	}
	take := func(name string, want Tensor) error {
		t, ok := byName[name]
		if !ok {
			return fail("tensor %s missing", name)
		}
		if !slices.Equal(t.Shape, want.Shape) {
			return fail("tensor %s has shape %v, the config implies %v", name, t.Shape, want.Shape)
		}
		for i, v := range t.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fail("tensor %s holds %v at index %d", name, v, i)
			}
		}
		copy(want.Data, t.Data)
		delete(byName, name)
		return nil
	}
	for _, t := range m.Params.Tensors(cfg) {
		if err := take(t.Name, t); err != nil {
			return nil, nil, err
		}
	}
	var opt *AdamW
	if oc, ok := f.Metadata[metaAdamW]; ok {
		var c AdamWConfig
		dec := json.NewDecoder(strings.NewReader(oc))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, nil, fail("bad AdamW config in metadata %s: %v", metaAdamW, err)
		}
		step, err := strconv.Atoi(f.Metadata[metaAdamWStep])
		if err != nil || step < 0 {
			return nil, nil, fail("bad AdamW step %q in metadata %s", f.Metadata[metaAdamWStep], metaAdamWStep)
		}
		opt = NewAdamW(m, c)
		opt.Step = step
		for _, t := range opt.M.Tensors(cfg) {
			if err := take(adamWMPrefix+t.Name, t); err != nil {
				return nil, nil, err
			}
		}
		for _, t := range opt.V.Tensors(cfg) {
			if err := take(adamWVPrefix+t.Name, t); err != nil {
				return nil, nil, err
			}
		}
	}
	for n := range byName {
		return nil, nil, fail("unexpected tensor %s (config %+v)", n, cfg)
	}
	return m, opt, nil
}
