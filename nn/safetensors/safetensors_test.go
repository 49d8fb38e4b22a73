package safetensors

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func sample() *File {
	return &File{
		Tensors: []Tensor{
			{Name: "a", Shape: []int{2, 3}, Data: []float32{1, -2, 3.5, float32(math.Inf(1)), 0, -0}},
			{Name: "b.weight", Shape: []int{1}, Data: []float32{math.SmallestNonzeroFloat32}},
			{Name: "scalar", Shape: []int{}, Data: []float32{42}},
		},
		Metadata: map[string]string{"format": "pt", "step": "7"},
	}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := Save(path, sample()); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	want := sample()
	if len(got.Tensors) != len(want.Tensors) {
		t.Fatalf("got %d tensors, want %d", len(got.Tensors), len(want.Tensors))
	}
	for i, w := range want.Tensors {
		g := got.Tensors[i]
		if g.Name != w.Name || !slices.Equal(g.Shape, w.Shape) || g.DType != "F32" {
			t.Errorf("tensor %d: got %s %v %s, want %s %v F32", i, g.Name, g.Shape, g.DType, w.Name, w.Shape)
		}
		for j := range w.Data {
			if math.Float32bits(g.Data[j]) != math.Float32bits(w.Data[j]) {
				t.Errorf("%s[%d]: got %v, want %v (bitwise)", w.Name, j, g.Data[j], w.Data[j])
			}
		}
	}
	if got.Metadata["step"] != "7" || got.Metadata["format"] != "pt" || got.Metadata[ChecksumKey] == "" {
		t.Errorf("got metadata %v", got.Metadata)
	}
	if !got.Checked {
		t.Error("got Checked false for a file written by Encode")
	}
	if got.Get("b.weight") == nil || got.Get("nope") != nil {
		t.Error("Get: wrong lookup")
	}
}

func TestTruncatedAndCorrupt(t *testing.T) {
	b, err := Encode(sample())
	if err != nil {
		t.Fatal(err)
	}
	hlen := int(binary.LittleEndian.Uint64(b))
	for _, n := range []int{0, 4, 8, 9, 8 + hlen/2, 8 + hlen, 8 + hlen + 3, len(b) - 1} {
		_, err := Decode("trunc.safetensors", b[:n])
		if err == nil {
			t.Errorf("truncated to %d of %d bytes: got nil error", n, len(b))
			continue
		}
		if !strings.Contains(err.Error(), "trunc.safetensors") {
			t.Errorf("truncated to %d: error %q does not name the file", n, err)
		}
	}
	// Every single flipped byte, header or data, is an error.
	for i := range b {
		c := slices.Clone(b)
		c[i] ^= 0xff
		if _, err := Decode("flip.safetensors", c); err == nil {
			t.Errorf("byte %d flipped (of %d, header ends at %d): got nil error", i, len(b), 8+hlen)
		}
	}
	// Trailing garbage.
	if _, err := Decode("x", append(slices.Clone(b), 1, 2, 3, 4)); err == nil {
		t.Error("trailing bytes: got nil error")
	}
}

// raw builds a file from a literal header and n data bytes.
func raw(hdr string, n int) []byte {
	b := make([]byte, 8, 8+len(hdr)+n)
	binary.LittleEndian.PutUint64(b, uint64(len(hdr)))
	b = append(b, hdr...)
	return append(b, make([]byte, n)...)
}

func TestStructuralErrors(t *testing.T) {
	tests := []struct {
		name, hdr string
		n         int
		want      string
	}{
		{"bad JSON", `{"a":{"dtype":"F32"`, 0, "bad JSON"},
		{"out of range", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4, "run past"},
		{"overlap", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8, "overlap"},
		{"shape mismatch", `{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 8, "needs 12 bytes"},
		{"hole", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8, "unindexed"},
		{"dtype", `{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`, 8, "unsupported dtype"},
		{"reversed offsets", `{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, 8, "bad data_offsets"},
		{"metadata", `{"__metadata__":{"a":1}}`, 0, "__metadata__"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode("bad.safetensors", raw(tc.hdr, tc.n))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "bad.safetensors") {
				t.Errorf("got error %v, want one naming bad.safetensors and containing %q", err, tc.want)
			}
		})
	}
	huge := make([]byte, 16)
	binary.LittleEndian.PutUint64(huge, 1<<40)
	if _, err := Decode("huge", huge); err == nil {
		t.Error("huge header length: got nil error")
	}
}

func TestHalfAndBFloat(t *testing.T) {
	// F16: 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff, smallest subnormal 0x0001 = 2^-24.
	// BF16: 1.0 = 0x3f80, -0.5 = 0xbf00.
	data := []uint16{0x3c00, 0xc000, 0x7bff, 0x0001, 0x3f80, 0xbf00}
	b := raw(`{"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"g":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]}}`, 12)
	d := b[len(b)-12:]
	for i, v := range data {
		binary.LittleEndian.PutUint16(d[2*i:], v)
	}
	f, err := Decode("half", b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.Get("h").Data, []float32{1, -2, 65504, float32(math.Ldexp(1, -24))}; !slices.Equal(got, want) {
		t.Errorf("F16: got %v, want %v", got, want)
	}
	if got, want := f.Get("g").Data, []float32{1, -0.5}; !slices.Equal(got, want) {
		t.Errorf("BF16: got %v, want %v", got, want)
	}
}

func TestWriteFileAtomicLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	for range 2 {
		if err := Save(path, sample()); err != nil {
			t.Fatal(err)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("got %d directory entries, want 1 (no temp files left)", len(ents))
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("got mode %v (%v), want -rw-r--r--", fi.Mode(), err)
	}
	if err := Save(filepath.Join(dir, "missing", "m.safetensors"), sample()); err == nil {
		t.Error("save into a missing directory: got nil error")
	}
}
