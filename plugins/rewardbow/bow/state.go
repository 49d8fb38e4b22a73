package bow

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"
)

// stateMagic starts every saved state; the byte after it is the format
// version.
const (
	stateMagic   = "RBOW"
	stateVersion = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// stateMeta is the JSON header of a saved state.
type stateMeta struct {
	Options  Options `json:"options"`
	Step     int     `json:"step"`
	Total    int     `json:"total"`
	DataHash uint64  `json:"data_hash"`
	Weights  int     `json:"weights"`
}

// SaveState returns the whole state: "RBOW", a version byte, the length of
// a JSON header (uint32 little endian), the header (options, step, budget,
// training set fingerprint, number of weights), then the weights (float64
// little endian), then a CRC-32C of everything before it.
func (r *Reward) SaveState(ctx context.Context) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w == nil {
		return nil, errNotConfigured
	}
	meta, err := json.Marshal(stateMeta{Options: r.opts, Step: r.step, Total: r.total, DataHash: r.dataHash, Weights: len(r.w)})
	if err != nil {
		return nil, fmt.Errorf("rewardbow: save state: %w", err)
	}
	var buf bytes.Buffer
	buf.WriteString(stateMagic)
	buf.WriteByte(stateVersion)
	binary.Write(&buf, binary.LittleEndian, uint32(len(meta)))
	buf.Write(meta)
	binary.Write(&buf, binary.LittleEndian, r.w)
	binary.Write(&buf, binary.LittleEndian, crc32.Checksum(buf.Bytes(), castagnoli))
	return buf.Bytes(), nil
}

// LoadState restores a state returned by SaveState. Its options replace the
// configured ones, so a host can load a trained model without repeating
// them. Configure need not be called first.
func (r *Reward) LoadState(ctx context.Context, state []byte) error {
	head := len(stateMagic) + 1 + 4
	if len(state) < head+4 || string(state[:len(stateMagic)]) != stateMagic {
		return fmt.Errorf("rewardbow: load state: not a rewardbow state (bad magic)")
	}
	if v := state[len(stateMagic)]; v != stateVersion {
		return fmt.Errorf("rewardbow: load state: format version %d, this plugin reads %d", v, stateVersion)
	}
	body, sum := state[:len(state)-4], binary.LittleEndian.Uint32(state[len(state)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return fmt.Errorf("rewardbow: load state: checksum mismatch: the state is truncated or corrupt")
	}
	n := int(binary.LittleEndian.Uint32(state[len(stateMagic)+1:]))
	if n > len(body)-head {
		return fmt.Errorf("rewardbow: load state: header of %d bytes, %d left", n, len(body)-head)
	}
	var meta stateMeta
	if err := json.Unmarshal(body[head:head+n], &meta); err != nil {
		return fmt.Errorf("rewardbow: load state: header: %w", err)
	}
	if err := meta.Options.validate(); err != nil {
		return fmt.Errorf("rewardbow: load state: %w", err)
	}
	if meta.Step < 0 || meta.Total < 0 {
		return fmt.Errorf("rewardbow: load state: step %d of %d is corrupt", meta.Step, meta.Total)
	}
	tok, err := newTokenizer(meta.Options.Tokenizer)
	if err != nil {
		return err
	}
	raw := body[head+n:]
	if meta.Weights != tok.VocabSize() || len(raw) != 8*meta.Weights {
		return fmt.Errorf("rewardbow: load state: %d weight bytes for %d weights, tokenizer %q has %d buckets",
			len(raw), meta.Weights, meta.Options.Tokenizer, tok.VocabSize())
	}
	w := make([]float64, meta.Weights)
	for i := range w {
		w[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
		if math.IsNaN(w[i]) || math.IsInf(w[i], 0) {
			return fmt.Errorf("rewardbow: load state: weight %d is %v", i, w[i])
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.install(meta.Options, tok, w, meta.Step, meta.Total, meta.DataHash)
	return nil
}
