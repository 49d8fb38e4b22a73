package sdk

import (
	"fmt"
	"math/bits"
	"sync"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// bufferPool is the gRPC message buffer pool of both sides (transport reads
// and the codec below). gRPC's default
// pool has tiers 256 B, 4 KiB, 16 KiB, 32 KiB, 1 MiB and zeroes a buffer on
// every reuse, so each Loss request and response (35-110 KB) cleared a whole
// 1 MiB buffer: ~15% of a call's CPU time. This pool has a power-of-two tier
// for every size up to MaxMessageSize and does not zero: gRPC overwrites the
// requested length before reading it, and host and plugin trust each other
// (they are one program split in two processes).
var bufferPool mem.BufferPool = &pow2Pool{}

// minPoolShift is the smallest pooled size, 2^minPoolShift bytes; smaller
// buffers are allocated directly.
const minPoolShift = 8

// pow2Pool keeps one sync.Pool per power-of-two capacity.
type pow2Pool struct {
	tiers [32]sync.Pool
}

func (p *pow2Pool) Get(length int) *[]byte {
	if length < 1<<minPoolShift || length > MaxMessageSize {
		b := make([]byte, length)
		return &b
	}
	shift := bits.Len(uint(length - 1)) // capacity 2^shift >= length
	if b, ok := p.tiers[shift].Get().(*[]byte); ok {
		*b = (*b)[:length]
		return b
	}
	b := make([]byte, length, 1<<shift)
	return &b
}

func (p *pow2Pool) Put(b *[]byte) {
	c := cap(*b)
	if c < 1<<minPoolShift || c > MaxMessageSize || c&(c-1) != 0 {
		return // not one of ours: let the GC have it
	}
	p.tiers[bits.Len(uint(c))-1].Put(b)
}

// codec is gRPC's proto codec with bufferPool instead of gRPC's default pool
// (which the stock codec uses whatever pool the connection is given). Both
// sides force it on our connections only.
type codec struct{}

// Name is the content subtype; the wire format is plain protobuf.
func (codec) Name() string { return "proto" }

func (codec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("marshal: %T is not a proto message", v)
	}
	size := proto.Size(m)
	buf := bufferPool.Get(size)
	// UseCachedSize reuses the sizes proto.Size just computed.
	out, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend((*buf)[:0], m)
	if err != nil {
		bufferPool.Put(buf)
		return nil, err
	}
	*buf = out
	return mem.BufferSlice{mem.NewBuffer(buf, bufferPool)}, nil
}

func (codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("unmarshal: %T is not a proto message", v)
	}
	buf := data.MaterializeToBuffer(bufferPool)
	defer buf.Free()
	// proto.Unmarshal copies what it keeps, so the buffer can be reused.
	return proto.Unmarshal(buf.ReadOnlyData(), m)
}
