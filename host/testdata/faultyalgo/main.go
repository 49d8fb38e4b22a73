// Command faultyalgo is a test algorithm plugin: P3O with an injected fault,
// chosen by environment variables (inherited from the host):
//
//	FAULTY_MODE=crash  the process exits on Loss call FAULTY_AT, once per
//	                   FAULTY_MARKER file (so the replacement process works)
//	FAULTY_MODE=nan    Loss call FAULTY_AT and later return a NaN loss
//	                   (FAULTY_WHAT=grad: a NaN gradient instead)
//	FAULTY_MODE=stop   the process stops itself (SIGSTOP) on Loss call
//	                   FAULTY_AT, once per FAULTY_MARKER file, into which it
//	                   writes its PID first
//	FAULTY_MODE=spec   Describe reports one response per prompt more than
//	                   the plugin's checks accept
//
// The host's start check (package preflight) is Loss call 1.
package main

import (
	"context"
	"math"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"

	"github.com/p3o-rlhf/p3o/plugins/p3o/p3o"
	"github.com/p3o-rlhf/p3o/sdk"
)

type faulty struct {
	*p3o.P3O
	calls atomic.Int64
}

func (f *faulty) Describe(ctx context.Context) (*sdk.Spec, error) {
	s, err := f.P3O.Describe(ctx)
	if err != nil {
		return nil, err
	}
	s.Name = "faulty"
	if os.Getenv("FAULTY_MODE") == "spec" {
		// An author's bug: the Spec reports another group size than the
		// one the plugin's checks want.
		s.ResponsesPerPrompt++
	}
	return s, nil
}

func (f *faulty) Loss(ctx context.Context, req *sdk.LossRequest) (*sdk.LossResponse, error) {
	n := f.calls.Add(1)
	at, _ := strconv.ParseInt(os.Getenv("FAULTY_AT"), 10, 64)
	switch os.Getenv("FAULTY_MODE") {
	case "crash":
		if n == at {
			if m := os.Getenv("FAULTY_MARKER"); m != "" {
				if _, err := os.Stat(m); err != nil {
					os.WriteFile(m, []byte("crashed"), 0o644)
					os.Exit(3)
				}
			}
		}
	case "stop":
		if m := os.Getenv("FAULTY_MARKER"); n == at && m != "" {
			if _, err := os.Stat(m); err != nil {
				os.WriteFile(m, []byte(strconv.Itoa(os.Getpid())), 0o644)
				syscall.Kill(os.Getpid(), syscall.SIGSTOP)
			}
		}
	case "nan":
		if n >= at {
			resp, err := f.P3O.Loss(ctx, req)
			if err != nil {
				return nil, err
			}
			if os.Getenv("FAULTY_WHAT") == "grad" {
				resp.GradLogp[0][0] = math.NaN()
			} else {
				resp.Loss = math.NaN()
			}
			return resp, nil
		}
	}
	return f.P3O.Loss(ctx, req)
}

func main() { sdk.ServeAlgorithm(&faulty{P3O: p3o.New()}) }
