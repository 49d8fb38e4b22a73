package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// TestHelpExitsZero runs every command of the host with --help (or -h): each
// prints its usage and returns no error (the host exits 0). A command
// registered without a row here fails the test.
func TestHelpExitsZero(t *testing.T) {
	tests := []struct {
		command string // "" for the host itself
		args    []string
		want    string // the start of the usage text
	}{
		{"", []string{"--help"}, "usage: host [train flags] | host COMMAND"},
		{"", []string{"-h"}, "usage: host [train flags] | host COMMAND"},
		{"", []string{"help"}, "usage: host [train flags] | host COMMAND"},
		{"train", []string{"train", "--help"}, "usage: host --algo PATH"},
		{"train", []string{"--algo", "plugins/p3o", "--help"}, "usage: host --algo PATH"},
		{"sft", []string{"sft", "--help"}, "usage: host sft"},
		{"prefs", []string{"prefs", "--help"}, "usage: host prefs"},
		{"reward", []string{"reward", "-h"}, "usage: host reward"},
		{"describe", []string{"describe", "--help"}, "usage: host describe"},
		{"frontier", []string{"frontier", "--help"}, "usage: host frontier"},
		{"export", []string{"export", "--help"}, "usage: host export"},
		{"export", []string{"export", "runs/x", "-h"}, "usage: host export"},
	}
	saved := stderr
	defer func() { stderr = saved }()
	covered := map[string]bool{}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var buf bytes.Buffer
			stderr = &buf
			if err := run(context.Background(), tc.args); err != nil {
				t.Errorf("got error %v, want none (exit 0)", err)
			}
			if got := buf.String(); !strings.HasPrefix(got, tc.want) {
				t.Errorf("got output\n%s\nwant it to start with %q", got, tc.want)
			}
		})
		covered[tc.command] = true
	}
	for name := range commands {
		if !covered[name] {
			t.Errorf("command %q has no --help row in this test", name)
		}
	}
	// A bad flag is still an error (already explained: errUsage).
	var buf bytes.Buffer
	stderr = &buf
	if err := run(context.Background(), []string{"sft", "--no-such-flag"}); !errors.Is(err, errUsage) {
		t.Errorf("bad flag: got %v, want errUsage", err)
	}
	if !strings.Contains(buf.String(), "no-such-flag") {
		t.Errorf("bad flag: output %q does not name it", buf.String())
	}
}

// TestBadThreadsEnvIsAnError checks that an NN_THREADS that is not a
// positive integer stops the host with one error naming the variable and the
// fix, while --help still works and a good value passes the check.
func TestBadThreadsEnvIsAnError(t *testing.T) {
	saved := stderr
	defer func() { stderr = saved }()
	stderr = &bytes.Buffer{}
	for _, tc := range []struct {
		value   string
		args    []string
		wantErr string // "" for no NN_THREADS error
	}{
		{"zero", []string{"describe", "x"}, `NN_THREADS="zero" is not a positive integer`},
		{"0", []string{"--algo", "plugins/p3o"}, "unset it to use GOMAXPROCS"},
		{"zero", []string{"describe", "--help"}, ""},
		{"3", []string{"no-such-command"}, ""},
	} {
		t.Run(tc.value+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			t.Setenv("NN_THREADS", tc.value)
			err := run(context.Background(), tc.args)
			mentions := err != nil && strings.Contains(err.Error(), "NN_THREADS")
			if tc.wantErr == "" {
				if mentions {
					t.Errorf("got %v, want no NN_THREADS error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}
