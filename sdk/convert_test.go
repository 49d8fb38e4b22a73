package sdk

import (
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/p3o-rlhf/p3o/sdk/internal/pb"
)

// wireTrip sends m through the protobuf encoding, as gRPC does.
func wireTrip[M proto.Message](t *testing.T, m M, into M) M {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(b, into); err != nil {
		t.Fatal(err)
	}
	return into
}

func TestBatchConversionKeepsShapes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		batch Batch
	}{
		{"empty", Batch{Beta: 0.1}},
		{"nil and empty arrays", Batch{Sequences: []Sequence{
			{Prompt: []int32{}, Response: nil, Logp: []float64{}, OldLogp: nil},
			{Prompt: []int32{7}, Response: []int32{}, Logp: nil, OldLogp: []float64{}},
		}}},
		{"aux keys differ per sequence", Batch{Sequences: []Sequence{
			{Aux: map[string][]float64{"adv": {1, 2}, "ret": {}}},
			{Aux: nil},
			{Aux: map[string][]float64{"ret": {3}}},
		}}},
		{"values and old values", Batch{Beta: 2, Sequences: []Sequence{
			{Group: -4, Rank: 1, Reward: -0.5, Values: []float64{1}, OldValues: []float64{2}, RefLogp: []float64{-1}},
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ar := &arena{}
			p := wireTrip(t, batchToProto(ar, &tc.batch), &pb.Batch{})
			got, err := batchFromProto(p)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.batch) {
				t.Errorf("got %#v, want %#v", got, tc.batch)
			}
		})
	}
}

func TestLossResponseConversionKeepsShapes(t *testing.T) {
	for _, tc := range []struct {
		name string
		resp LossResponse
	}{
		{"no value head", LossResponse{Loss: 1, GradLogp: [][]float64{{1, 2}, {}}}},
		{"empty value grads", LossResponse{GradLogp: [][]float64{}, GradValues: [][]float64{}}},
		{"nil rows", LossResponse{GradLogp: [][]float64{nil, {3}}, GradValues: [][]float64{nil, nil}, Stats: map[string]float64{"a": 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := wireTrip(t, lossResponseToProto(&tc.resp), &pb.LossResponse{})
			got, err := lossResponseFromProto(p)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tc.resp) {
				t.Errorf("got %#v, want %#v", *got, tc.resp)
			}
		})
	}
}

func TestPrepareResponseConversion(t *testing.T) {
	for _, tc := range []PrepareResponse{
		{},
		{Aux: []map[string][]float64{}},
		{Aux: []map[string][]float64{{"adv": {1}}, nil, {"adv": {}, "ret": {2, 3}}}},
	} {
		p := wireTrip(t, prepareResponseToProto(&tc), &pb.PrepareResponse{})
		got, err := prepareResponseFromProto(p)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, tc) {
			t.Errorf("got %#v, want %#v", *got, tc)
		}
	}
}

func TestMalformedBatchIsAnError(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    *pb.Batch
		want string
	}{
		{"lengths exceed values", &pb.Batch{N: 1, Group: []int64{0}, Reward: []float64{0}, Rank: []int32{0},
			Logp: &pb.Column{Lens: []int32{3}, Values: []float64{1}}}, "malformed logp: lengths exceed the 1 values"},
		{"values left over", &pb.Batch{N: 1, Group: []int64{0}, Reward: []float64{0}, Rank: []int32{0},
			Response: &pb.Tokens{Lens: []int32{1}, Values: []int32{1, 2}}}, "malformed response: lengths sum to 1, have 2 tokens"},
		{"wrong number of lengths", &pb.Batch{N: 2, Group: []int64{0, 0}, Reward: []float64{0, 0}, Rank: []int32{0, 0},
			OldLogp: &pb.Column{Lens: []int32{0}}}, "malformed old_logp: 1 lengths for 2 sequences"},
		{"missing groups", &pb.Batch{N: 2}, "malformed batch: 2 sequences but 0 groups"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := batchFromProto(tc.p)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v, want an error starting %q", err, tc.want)
			}
		})
	}
}

// benchBatch is a Loss minibatch of n sequences of 16 prompt and t response
// tokens with logp, old_logp and ref_logp.
func benchBatch(n, t int) Batch {
	b := Batch{Beta: 0.05, Sequences: make([]Sequence, n)}
	for i := range b.Sequences {
		s := &b.Sequences[i]
		s.Group = int64(i / 2)
		s.Prompt = make([]int32, 16)
		s.Response = make([]int32, t)
		s.Logp, s.OldLogp, s.RefLogp = make([]float64, t), make([]float64, t), make([]float64, t)
		for j := 0; j < t; j++ {
			s.Response[j] = int32((i*31 + j*7) % 257)
			s.Logp[j] = -float64(j%13) / 3
			s.OldLogp[j] = s.Logp[j] + 0.01
			s.RefLogp[j] = s.Logp[j] - 0.01
		}
	}
	return b
}

// BenchmarkBatchEncode is the host side of a 64x64 Loss request: conversion
// and protobuf encoding.
func BenchmarkBatchEncode(b *testing.B) {
	batch := benchBatch(64, 64)
	ar := &arena{}
	var n int
	b.ReportAllocs()
	for b.Loop() {
		buf, err := proto.Marshal(&pb.LossRequest{Batch: batchToProto(ar, &batch)})
		if err != nil {
			b.Fatal(err)
		}
		ar.reset()
		n = len(buf)
	}
	b.ReportMetric(float64(n), "wire-bytes")
}

// BenchmarkBatchDecode is the plugin side of a 64x64 Loss request: protobuf
// decoding and conversion.
func BenchmarkBatchDecode(b *testing.B) {
	batch := benchBatch(64, 64)
	buf, err := proto.Marshal(&pb.LossRequest{Batch: batchToProto(nil, &batch)})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var m pb.LossRequest
		if err := proto.Unmarshal(buf, &m); err != nil {
			b.Fatal(err)
		}
		if _, err := batchFromProto(m.Batch); err != nil {
			b.Fatal(err)
		}
	}
}
