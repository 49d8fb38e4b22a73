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
