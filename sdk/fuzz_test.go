package sdk

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/p3o-rlhf/p3o/sdk/internal/pb"
)

func TestHugeSequenceCountIsAnError(t *testing.T) {
	for _, n := range []int64{-1, 1 << 40} {
		_, err := prepareResponseFromProto(&pb.PrepareResponse{HasAux: true, N: n})
		if err == nil || !strings.Contains(err.Error(), "malformed prepare response") {
			t.Errorf("N = %d: got %v, want a malformed-response error", n, err)
		}
	}
}

func mustMarshal(f *testing.F, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzBatchFromWire: any bytes a peer sends as a Batch decode to an error or
// to a batch that survives another round trip unchanged; none panics.
// Seeds: testdata/fuzz/FuzzBatchFromWire and the batches below.
func FuzzBatchFromWire(f *testing.F) {
	f.Add(mustMarshal(f, batchToProto(nil, &Batch{Beta: 0.1, Sequences: []Sequence{
		{Group: 1, Prompt: []int32{1, 2}, Response: []int32{3}, Logp: []float64{-1}, Aux: map[string][]float64{"adv": {0.5}}},
		{Group: 1, Prompt: []int32{}, Response: nil, Logp: []float64{}, Rank: 1},
	}})))
	f.Add(mustMarshal(f, &pb.Batch{N: 1 << 40}))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p pb.Batch
		if proto.Unmarshal(data, &p) != nil {
			return
		}
		b, err := batchFromProto(&p)
		if err != nil {
			return
		}
		again, err := batchFromProto(roundTrip(t, batchToProto(nil, &b), &pb.Batch{}))
		if err != nil {
			t.Fatalf("re-decoding a decoded batch: %v", err)
		}
		// %#v rather than reflect.DeepEqual: a NaN (beta, rewards, log-probs)
		// round-trips but is not equal to itself; %#v still tells nil from
		// empty slices and -0 from 0, and prints maps sorted.
		if got, want := fmt.Sprintf("%#v", again), fmt.Sprintf("%#v", b); got != want {
			t.Fatalf("round trip changed the batch:\n got %s\nwant %s", got, want)
		}
	})
}

func roundTrip[M proto.Message](t *testing.T, m M, into M) M {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(b, into); err != nil {
		t.Fatal(err)
	}
	return into
}

// FuzzResponsesFromWire: Loss and Prepare responses and Specs from a peer
// decode to a value or an error, never a panic or a huge allocation.
func FuzzResponsesFromWire(f *testing.F) {
	f.Add(byte(0), mustMarshal(f, lossResponseToProto(&LossResponse{Loss: 1, GradLogp: [][]float64{{1, 2}, nil}, Stats: map[string]float64{"a": 1}})))
	f.Add(byte(1), mustMarshal(f, prepareResponseToProto(&PrepareResponse{Aux: []map[string][]float64{{"adv": {1}}, nil}})))
	f.Add(byte(1), mustMarshal(f, &pb.PrepareResponse{HasAux: true, N: 1 << 40}))
	spec, _ := specToProto(&Spec{Name: "x", Kind: KindAlgorithm, DefaultOptions: map[string]any{"clip": 0.2}})
	f.Add(byte(2), mustMarshal(f, spec))
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		switch kind % 3 {
		case 0:
			var p pb.LossResponse
			if proto.Unmarshal(data, &p) == nil {
				lossResponseFromProto(&p)
			}
		case 1:
			var p pb.PrepareResponse
			if proto.Unmarshal(data, &p) == nil {
				if r, err := prepareResponseFromProto(&p); err == nil && len(r.Aux) > maxWireSequences {
					t.Fatalf("%d aux entries, more than the %d allowed", len(r.Aux), maxWireSequences)
				}
			}
		case 2:
			var p pb.Spec
			if proto.Unmarshal(data, &p) == nil {
				specFromProto(&p)
			}
		}
	})
}
