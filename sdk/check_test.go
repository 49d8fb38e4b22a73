package sdk

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestGroupStarts(t *testing.T) {
	batch := func(groups ...int64) *Batch {
		b := &Batch{}
		for _, g := range groups {
			b.Sequences = append(b.Sequences, Sequence{Group: g})
		}
		return b
	}
	for _, tc := range []struct {
		name    string
		b       *Batch
		k       int
		want    []int
		wantErr string
	}{
		{"pairs", batch(7, 7, 3, 3), 2, []int{0, 2}, ""},
		{"triples", batch(1, 1, 1, 2, 2, 2), 3, []int{0, 3}, ""},
		{"empty", batch(), 2, nil, "empty batch"},
		{"wrong size", batch(1, 1, 1), 2, nil, "group 1 has 3 sequences, want 2"},
		{"split group", batch(1, 1, 2, 2, 1, 1), 2, nil, "group 1 appears twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := GroupStarts(tc.b, tc.k)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("got %v, %v, want %v, nil", got, err, tc.want)
			}
		})
	}
}

func TestCheckTokens(t *testing.T) {
	for _, tc := range []struct {
		name    string
		v       []float64
		T       int
		wantErr string
	}{
		{"ok", []float64{-1, -2}, 2, ""},
		{"empty response", nil, 0, ""},
		{"missing", nil, 2, "logp missing"},
		{"ragged", []float64{-1}, 2, "has 1 entries, want 2"},
		{"NaN", []float64{-1, math.NaN()}, 2, "logp[1] is NaN"},
		{"Inf", []float64{math.Inf(-1), -1}, 2, "logp[0] is -Inf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckTokens(3, "logp", tc.v, tc.T)
			if tc.wantErr == "" {
				if err != nil {
					t.Errorf("got error %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "sequence 3") {
				t.Errorf("got error %v, want one naming sequence 3 and containing %q", err, tc.wantErr)
			}
		})
	}
}
