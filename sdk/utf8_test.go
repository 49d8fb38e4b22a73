package sdk

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/p3o-rlhf/p3o/sdk/internal/pb"
)

// TestInvalidUTF8TextCrossesTheWire: a byte-level response cut inside a
// character must not make the Score or Train request unmarshalable.
func TestInvalidUTF8TextCrossesTheWire(t *testing.T) {
	bad := "caf\xc3" // "café" cut after the first byte of é
	samples := []Sample{{Prompt: "ok", Response: bad, ResponseTokens: []int32{99, 97, 102, 195}}}
	req := &pb.ScoreRequest{Samples: samplesToProto(samples)}
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatalf("marshal a sample with invalid UTF-8: %v", err)
	}
	var back pb.ScoreRequest
	if err := proto.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	got := samplesFromProto(back.Samples)[0]
	if want := "caf\uFFFD"; got.Response != want {
		t.Errorf("got response %q, want %q", got.Response, want)
	}
	if len(got.ResponseTokens) != 4 || got.ResponseTokens[3] != 195 {
		t.Errorf("got tokens %v, want the exact bytes [99 97 102 195]", got.ResponseTokens)
	}
	cs := comparisonsToProto([]Comparison{{Prompt: "p", Chosen: bad, Rejected: "x"}})
	if _, err := proto.Marshal(&pb.TrainRequest{Train: cs}); err != nil {
		t.Errorf("marshal a comparison with invalid UTF-8: %v", err)
	}
}
