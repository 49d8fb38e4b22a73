package sdk

import (
	"fmt"
	"strings"
	"testing"
)

func TestDecodeOptionsCapsUnknownKeys(t *testing.T) {
	type opts struct {
		Clip float64 `toml:"clip"`
	}
	tests := []struct {
		name    string
		unknown int
		want    string
	}{
		{"one", 1, `unknown option k0`},
		{"ten", 10, `unknown option k0, k1, k2, k3, k4, k5, k6, k7, k8, k9`},
		{"many", 100000, `(100000 unknown options in all)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			b.WriteString("clip = 0.1\n")
			for i := 0; i < tt.unknown; i++ {
				fmt.Fprintf(&b, "k%d = 1\n", i)
			}
			var o opts
			err := DecodeOptions([]byte(b.String()), &o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if len(err.Error()) > 300 {
				t.Errorf("error is %d bytes long, want at most 300", len(err.Error()))
			}
		})
	}
}

func TestOptionsMap(t *testing.T) {
	type opts struct {
		LR   float64 `toml:"lr"`
		Pool string  `toml:"pool"`
		N    int     `toml:"n"`
	}
	got := OptionsMap(opts{LR: 0.5, Pool: "sum", N: 3})
	want := map[string]any{"lr": 0.5, "pool": "sum", "n": int64(3)}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("got %s = %v (%T), want %v (%T)", k, got[k], got[k], v, v)
		}
	}
	if got := OptionsMap(func() {}); got != nil {
		t.Errorf("OptionsMap of a func = %v, want nil", got)
	}
}
