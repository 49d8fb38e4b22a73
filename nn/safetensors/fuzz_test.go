package safetensors

import (
	"encoding/binary"
	"testing"
)

// header builds a safetensors file from a header text and n data bytes.
func header(h string, n int) []byte {
	b := make([]byte, 8+len(h)+n)
	binary.LittleEndian.PutUint64(b, uint64(len(h)))
	copy(b[8:], h)
	return b
}

func TestHugeTensorClaimIsAnError(t *testing.T) {
	tests := []struct{ name, hdr string }{
		{"100 GB tensor", `{"w":{"dtype":"F32","shape":[25000000000],"data_offsets":[0,100000000000]}}`},
		{"shape product overflows", `{"w":{"dtype":"F32","shape":[4,4611686018427387904],"data_offsets":[0,16]}}`},
		{"header length beyond the file", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := header(tt.hdr, 16)
			if tt.hdr == "" {
				binary.LittleEndian.PutUint64(b, 1<<40)
			}
			if f, err := Decode("x", b); err == nil {
				t.Fatalf("got a file with %d tensors, want an error", len(f.Tensors))
			}
		})
	}
}

// FuzzDecode: no input panics, and a decoded file's tensors never hold more
// values than the input has bytes. Seeds: testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	good, err := Encode(&File{Metadata: map[string]string{"k": "v"}, Tensors: []Tensor{
		{Name: "a", Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}},
		{Name: "b", Shape: []int{}, Data: []float32{7}},
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(header(`{"w":{"dtype":"F32","shape":[25000000000],"data_offsets":[0,100000000000]}}`, 16))
	f.Add(header(`{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, 4))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Decode("fuzz", b)
		if err != nil {
			return
		}
		n := 0
		for _, ts := range file.Tensors {
			n += len(ts.Data)
		}
		if n > len(b) {
			t.Fatalf("decoded %d values from %d bytes", n, len(b))
		}
	})
}
