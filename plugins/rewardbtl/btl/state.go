package btl

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"

	"github.com/p3o-rlhf/p3o/nn"
)

// stateMagic starts every saved state; the byte after it is the format
// version.
const (
	stateMagic   = "RBTL"
	stateVersion = 2 // 2: a CRC-32C of the header follows it
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// stateMeta is the JSON header of a saved state.
type stateMeta struct {
	Options  Options `json:"options"`
	Step     int     `json:"step"`
	Total    int     `json:"total"`
	DataHash uint64  `json:"data_hash"`
}

// SaveState returns the whole state: "RBTL", a version byte, the length of
// a JSON header (uint32 little endian), the header (options, step, budget,
// training set fingerprint), its CRC-32C (uint32 little endian), then
// nn.EncodeModel of the weights and AdamW moments (safetensors, checksummed
// itself).
func (r *Reward) SaveState(ctx context.Context) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		return nil, errNotConfigured
	}
	meta, err := json.Marshal(stateMeta{Options: r.opts, Step: r.step, Total: r.total, DataHash: r.dataHash})
	if err != nil {
		return nil, fmt.Errorf("rewardbtl: save state: %w", err)
	}
	model, err := nn.EncodeModel(r.m, r.opt)
	if err != nil {
		return nil, fmt.Errorf("rewardbtl: save state: %w", err)
	}
	var buf bytes.Buffer
	buf.WriteString(stateMagic)
	buf.WriteByte(stateVersion)
	binary.Write(&buf, binary.LittleEndian, uint32(len(meta)))
	buf.Write(meta)
	binary.Write(&buf, binary.LittleEndian, crc32.Checksum(meta, castagnoli))
	buf.Write(model)
	return buf.Bytes(), nil
}

// LoadState restores a state returned by SaveState. The state is
// authoritative: its options (model shape, training settings) replace the
// configured ones, so a host can load a trained reward model without
// repeating its options. Configure need not be called first.
func (r *Reward) LoadState(ctx context.Context, state []byte) error {
	if len(state) < len(stateMagic)+5 || string(state[:len(stateMagic)]) != stateMagic {
		return fmt.Errorf("rewardbtl: load state: not a rewardbtl state (bad magic)")
	}
	v := state[len(stateMagic)]
	if v != 1 && v != stateVersion {
		return fmt.Errorf("rewardbtl: load state: format version %d, this plugin reads 1 and %d", v, stateVersion)
	}
	rest := state[len(stateMagic)+1:]
	n := binary.LittleEndian.Uint32(rest)
	rest = rest[4:]
	if uint64(n) > uint64(len(rest)) {
		return fmt.Errorf("rewardbtl: load state: truncated (header of %d bytes, %d left)", n, len(rest))
	}
	header := rest[:n]
	rest = rest[n:]
	if v >= 2 {
		if len(rest) < 4 {
			return fmt.Errorf("rewardbtl: load state: truncated after the header")
		}
		if got, want := crc32.Checksum(header, castagnoli), binary.LittleEndian.Uint32(rest); got != want {
			return fmt.Errorf("rewardbtl: load state: the header (options, step) fails its checksum: the state is corrupt")
		}
		rest = rest[4:]
	}
	var meta stateMeta
	if err := json.Unmarshal(header, &meta); err != nil {
		return fmt.Errorf("rewardbtl: load state: header: %w", err)
	}
	if meta.Options.Pool == "" { // states saved before option pool existed
		meta.Options.Pool = PoolLast
	}
	if err := meta.Options.validate(); err != nil {
		return fmt.Errorf("rewardbtl: load state: %w", err)
	}
	if meta.Step < 0 || meta.Total < 0 {
		return fmt.Errorf("rewardbtl: load state: step %d of %d is corrupt", meta.Step, meta.Total)
	}
	m, opt, err := nn.DecodeModel(rest)
	if err != nil {
		return fmt.Errorf("rewardbtl: load state: %w", err)
	}
	if !m.Config.ValueHead {
		return fmt.Errorf("rewardbtl: load state: the model has no value head")
	}
	tok, err := newTokenizer(meta.Options.Tokenizer)
	if err != nil {
		return err
	}
	if tok.VocabSize() != m.Config.Vocab || meta.Options.MaxLen > m.Config.Context {
		return fmt.Errorf("rewardbtl: load state: model (vocab %d, context %d) does not fit tokenizer %q / max_len %d",
			m.Config.Vocab, m.Config.Context, meta.Options.Tokenizer, meta.Options.MaxLen)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.install(meta.Options, tok, m, opt, meta.Step, meta.Total, meta.DataHash)
}
