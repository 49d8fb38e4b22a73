// Package safetensors reads and writes the safetensors format: an 8-byte
// little-endian header length, a JSON header mapping tensor names to
// {dtype, shape, data_offsets} (plus an optional "__metadata__" map of
// strings), then the raw little-endian tensor bytes.
//
// Tensors are held as float32: F32 reads and writes exactly, F16, BF16 and
// F64 are converted to float32 on read. Files written here carry a CRC-32C
// of their header and data in the metadata key "crc32c", checked on read,
// so a flipped byte anywhere is an error; files without it (Hugging Face's)
// are checked for structure only.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"unicode/utf8"
)

// Tensor is one named tensor, row-major.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
	// DType is the dtype stored in the file ("F32", "F16", "BF16", "F64");
	// Write ignores it and always writes F32.
	DType string
}

// File is the content of a safetensors file.
type File struct {
	// Tensors in file order (by data offset) when read, in write order when
	// written.
	Tensors []Tensor
	// Metadata is the "__metadata__" string map; may be nil.
	Metadata map[string]string
	// Checked reports that Decode found the checksum and it matched; a file
	// written by Encode always has one.
	Checked bool
}

// Get returns the tensor called name, or nil.
func (f *File) Get(name string) *Tensor {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i]
		}
	}
	return nil
}

// ChecksumKey is the metadata key holding the CRC-32C written by Encode.
const ChecksumKey = "crc32c"

// maxHeader bounds the JSON header (the format's own limit is 100 MB).
const maxHeader = 100 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type entry struct {
	DType   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

var dtypeSize = map[string]int{"F32": 4, "F16": 2, "BF16": 2, "F64": 8}

// Read reads and validates the safetensors file at path.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read safetensors: %w", err)
	}
	return Decode(path, b)
}

// Decode parses a safetensors file held in b; name (usually the path)
// prefixes every error. Truncation, offsets out of range or overlapping,
// a shape that does not match the bytes, bad JSON and a checksum mismatch
// are all errors saying what is wrong.
func Decode(name string, b []byte) (*File, error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("safetensors %s: %s", name, fmt.Sprintf(format, a...))
	}
	if len(b) < 8 {
		return nil, fail("file is %d bytes, shorter than the 8-byte header length: truncated or not a safetensors file", len(b))
	}
	n := binary.LittleEndian.Uint64(b[:8])
	if n > maxHeader {
		return nil, fail("header length %d exceeds the %d-byte limit: corrupt or not a safetensors file", n, maxHeader)
	}
	if n > uint64(len(b)-8) {
		return nil, fail("header length %d runs past the end of the %d-byte file: truncated", n, len(b))
	}
	hdr := b[8 : 8+n]
	data := b[8+n:]
	if !utf8.Valid(hdr) {
		return nil, fail("header is not valid UTF-8: corrupt")
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if err := dec.Decode(&raw); err != nil {
		return nil, fail("bad JSON header: %v", err)
	}
	if rest, _ := io.ReadAll(dec.Buffered()); len(bytes.TrimRight(rest, " ")) > 0 || dec.More() {
		return nil, fail("bad JSON header: unexpected bytes after the header object")
	}
	f := &File{}
	entries := map[string]entry{}
	for k, v := range raw {
		if k == "__metadata__" {
			if err := json.Unmarshal(v, &f.Metadata); err != nil {
				return nil, fail("bad __metadata__ (want a map of strings): %v", err)
			}
			continue
		}
		// encoding/json matches field names case-insensitively: check the
		// exact keys first so a corrupted key is not silently accepted.
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(v, &keys); err != nil {
			return nil, fail("tensor %q: bad header entry: %v", k, err)
		}
		for key := range keys {
			if key != "dtype" && key != "shape" && key != "data_offsets" {
				return nil, fail("tensor %q: unknown header field %q (want dtype, shape, data_offsets)", k, key)
			}
		}
		if len(keys) != 3 {
			return nil, fail("tensor %q: header entry needs dtype, shape and data_offsets", k)
		}
		var e entry
		d := json.NewDecoder(bytes.NewReader(v))
		d.DisallowUnknownFields()
		if err := d.Decode(&e); err != nil {
			return nil, fail("tensor %q: bad header entry: %v", k, err)
		}
		entries[k] = e
	}
	names := make([]string, 0, len(entries))
	for k := range entries {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		a, c := entries[names[i]].Offsets, entries[names[j]].Offsets
		if a[0] != c[0] {
			return a[0] < c[0]
		}
		return a[1] < c[1]
	})
	var end int64
	for i, k := range names {
		e := entries[k]
		size, ok := dtypeSize[e.DType]
		if !ok {
			return nil, fail("tensor %q: unsupported dtype %q (want F32, F16, BF16 or F64)", k, e.DType)
		}
		count := int64(1)
		for _, s := range e.Shape {
			if s < 0 {
				return nil, fail("tensor %q: negative dimension in shape %v", k, e.Shape)
			}
			count *= int64(s)
			if count > int64(len(b)) {
				return nil, fail("tensor %q: shape %v is larger than the file", k, e.Shape)
			}
		}
		lo, hi := e.Offsets[0], e.Offsets[1]
		switch {
		case lo < 0 || hi < lo:
			return nil, fail("tensor %q: bad data_offsets [%d, %d]", k, lo, hi)
		case hi > int64(len(data)):
			return nil, fail("tensor %q: data_offsets [%d, %d] run past the %d data bytes: truncated", k, lo, hi, len(data))
		case lo < end:
			return nil, fail("tensor %q: data_offsets [%d, %d] overlap tensor %q ending at %d", k, lo, hi, names[i-1], end)
		case lo > end:
			return nil, fail("tensor %q: %d unindexed bytes before it (data_offsets [%d, %d])", k, lo-end, lo, hi)
		case hi-lo != count*int64(size):
			return nil, fail("tensor %q: shape %v of %s needs %d bytes, data_offsets [%d, %d] hold %d", k, e.Shape, e.DType, count*int64(size), lo, hi, hi-lo)
		}
		end = hi
		f.Tensors = append(f.Tensors, Tensor{Name: k, Shape: e.Shape, DType: e.DType, Data: toFloat32(data[lo:hi], e.DType)})
	}
	if end != int64(len(data)) {
		return nil, fail("%d bytes after the last tensor: corrupt header or trailing garbage", int64(len(data))-end)
	}
	if want, ok := f.Metadata[ChecksumKey]; ok {
		got := checksum(entries, f.Metadata, data)
		if want != got {
			return nil, fail("checksum mismatch (header says %s, content gives %s): the file is corrupt", want, got)
		}
		f.Checked = true
	}
	return f, nil
}

// checksum is the CRC-32C of a canonical form of the header (without the
// checksum key) followed by the data.
func checksum(entries map[string]entry, meta map[string]string, data []byte) string {
	m := make(map[string]string, len(meta))
	for k, v := range meta {
		if k != ChecksumKey {
			m[k] = v
		}
	}
	canon, _ := json.Marshal(struct {
		E map[string]entry
		M map[string]string
	}{entries, m}) // maps marshal with sorted keys: deterministic
	h := crc32.New(castagnoli)
	h.Write(canon)
	h.Write(data)
	return strconv.FormatUint(uint64(h.Sum32()), 16)
}

func toFloat32(b []byte, dtype string) []float32 {
	switch dtype {
	case "F32":
		out := make([]float32, len(b)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out
	case "F64":
		out := make([]float32, len(b)/8)
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
		return out
	case "BF16":
		out := make([]float32, len(b)/2)
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
		return out
	case "F16":
		out := make([]float32, len(b)/2)
		for i := range out {
			out[i] = halfToFloat(binary.LittleEndian.Uint16(b[2*i:]))
		}
		return out
	}
	return nil
}

// halfToFloat converts an IEEE 754 binary16 to float32 exactly.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := int(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch exp {
	case 0:
		v := float32(mant) / (1 << 24) // subnormal: mant * 2^-24
		if sign != 0 {
			v = -v
		}
		return v
	case 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | uint32(exp-15+127)<<23 | mant<<13)
}

// Encode serialises f as F32 tensors in the order given, with the metadata
// plus a checksum (ChecksumKey). Names must be unique and not
// "__metadata__"; len(Data) must equal the product of Shape.
func Encode(f *File) ([]byte, error) {
	entries := make(map[string]entry, len(f.Tensors))
	var off int64
	for _, t := range f.Tensors {
		if t.Name == "" || t.Name == "__metadata__" {
			return nil, fmt.Errorf("safetensors encode: invalid tensor name %q", t.Name)
		}
		if _, dup := entries[t.Name]; dup {
			return nil, fmt.Errorf("safetensors encode: duplicate tensor %q", t.Name)
		}
		count := 1
		for _, s := range t.Shape {
			count *= s
		}
		if count != len(t.Data) {
			return nil, fmt.Errorf("safetensors encode: tensor %q has shape %v (%d values) but %d values of data", t.Name, t.Shape, count, len(t.Data))
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		entries[t.Name] = entry{DType: "F32", Shape: shape, Offsets: [2]int64{off, off + 4*int64(count)}}
		off += 4 * int64(count)
	}
	data := make([]byte, off)
	var p int
	for _, t := range f.Tensors {
		for _, v := range t.Data {
			binary.LittleEndian.PutUint32(data[p:], math.Float32bits(v))
			p += 4
		}
	}
	meta := make(map[string]string, len(f.Metadata)+1)
	for k, v := range f.Metadata {
		meta[k] = v
	}
	delete(meta, ChecksumKey)
	meta[ChecksumKey] = checksum(entries, meta, data)
	hdr := make(map[string]any, len(entries)+1)
	for k, e := range entries {
		hdr[k] = e
	}
	hdr["__metadata__"] = meta
	js, err := json.Marshal(hdr)
	if err != nil {
		return nil, fmt.Errorf("safetensors encode: %w", err)
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	out := make([]byte, 8, 8+len(js)+len(data))
	binary.LittleEndian.PutUint64(out, uint64(len(js)))
	out = append(out, js...)
	return append(out, data...), nil
}

// Write writes f to w (see Encode).
func Write(w io.Writer, f *File) error {
	b, err := Encode(f)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// WriteFile writes b to path atomically: a temporary file in the same
// directory is written, synced, renamed over path, and the directory synced,
// so a crash leaves either the old file or the new one, never a torn one.
func WriteFile(path string, b []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, bare(err))
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o644); err != nil { // CreateTemp makes 0600 files
		return fmt.Errorf("write %s: %w", path, bare(err))
	}
	if _, err = tmp.Write(b); err != nil {
		return fmt.Errorf("write %s: %w", path, bare(err))
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", path, bare(err))
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, bare(err))
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, bare(err))
	}
	if d, derr := os.Open(dir); derr == nil {
		serr := d.Sync()
		d.Close()
		if serr != nil && !errors.Is(serr, os.ErrInvalid) {
			return fmt.Errorf("write %s: sync directory: %w", path, bare(serr))
		}
	}
	return nil
}

// Save encodes f and writes it atomically to path.
func Save(path string, f *File) error {
	b, err := Encode(f)
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return WriteFile(path, b)
}

// bare drops the path from an *os.PathError: the temporary file's name in
// WriteFile's errors would name the file twice, once under another name.
func bare(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
