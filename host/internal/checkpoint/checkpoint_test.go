package checkpoint

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func payload(step int) map[string][]byte {
	big := bytes.Repeat([]byte{byte(step)}, 256<<10)
	return map[string][]byte{"policy.bin": big, "state.json": []byte(fmt.Sprintf(`{"step":%d}`, step))}
}

func TestSaveLoadKeep(t *testing.T) {
	s := &Store{Dir: t.TempDir(), Keep: 2}
	for step := 1; step <= 4; step++ {
		if _, err := s.Save(step, payload(step)); err != nil {
			t.Fatal(err)
		}
	}
	steps, _ := s.List()
	if fmt.Sprint(steps) != "[3 4]" {
		t.Errorf("got checkpoints %v, want [3 4]", steps)
	}
	step, files, err := s.Latest()
	if err != nil {
		t.Fatal(err)
	}
	if step != 4 || !bytes.Equal(files["state.json"], []byte(`{"step":4}`)) || len(files["policy.bin"]) != 256<<10 {
		t.Errorf("got step %d files %q..., want step 4 with its payload", step, files["state.json"])
	}
	// Re-saving the same step replaces it.
	if _, err := s.Save(4, map[string][]byte{"state.json": []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if _, files, _ = s.Latest(); string(files["state.json"]) != "x" {
		t.Errorf("got %q after re-save, want x", files["state.json"])
	}
}

func TestCorruptionIsAnErrorNamingIt(t *testing.T) {
	tests := []struct {
		name   string
		damage func(dir string)
		want   string
	}{
		{"truncated file", func(dir string) { os.Truncate(filepath.Join(dir, "policy.bin"), 100) }, "truncated"},
		{"flipped byte", func(dir string) {
			p := filepath.Join(dir, "policy.bin")
			b, _ := os.ReadFile(p)
			b[1000] ^= 1
			os.WriteFile(p, b, 0o644)
		}, "corrupt"},
		{"missing manifest", func(dir string) { os.Remove(filepath.Join(dir, ManifestName)) }, "incomplete"},
		{"missing file", func(dir string) { os.Remove(filepath.Join(dir, "state.json")) }, "state.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Store{Dir: t.TempDir(), Keep: 3}
			s.Save(1, payload(1))
			dir, _ := s.Save(2, payload(2))
			tt.damage(dir)
			_, _, err := s.Latest()
			if err == nil {
				t.Fatal("got no error loading a damaged newest checkpoint, want one (never fall back silently)")
			}
			if !strings.Contains(err.Error(), Name(2)) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want it to name %s and say %q", err, Name(2), tt.want)
			}
			if want := "the previous checkpoint " + filepath.Join(s.Dir, Name(1)) + " is intact"; !strings.Contains(err.Error(), want) {
				t.Errorf("got %q, want it to say %q", err, want)
			}
		})
	}
	if _, _, err := (&Store{Dir: t.TempDir()}).Latest(); !errors.Is(err, ErrNone) {
		t.Errorf("got %v for an empty dir, want ErrNone", err)
	}
}

func TestCrashBeforeRenameKeepsPrevious(t *testing.T) {
	s := &Store{Dir: t.TempDir(), Keep: 2}
	s.Save(1, payload(1))
	s.BeforeRename = func(string) { panic("crash") }
	func() {
		defer func() { recover() }()
		s.Save(2, payload(2))
	}()
	s.BeforeRename = nil
	step, _, err := s.Latest()
	if err != nil || step != 1 {
		t.Fatalf("got step %d err %v after a crash before rename, want step 1", step, err)
	}
}

// TestSIGKILLDuringSave kills a process that saves checkpoints in a loop at
// random moments and checks the newest checkpoint always loads.
func TestSIGKILLDuringSave(t *testing.T) {
	if dir := os.Getenv("CHECKPOINT_SAVE_LOOP"); dir != "" {
		s := &Store{Dir: dir, Keep: 2}
		for step := 1; ; step++ {
			if _, err := s.Save(step, payload(step)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
		}
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 5; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSIGKILLDuringSave$")
		cmd.Env = append(os.Environ(), "CHECKPOINT_SAVE_LOOP="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(50+rng.IntN(150)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		s := &Store{Dir: dir, Keep: 2}
		step, files, err := s.Latest()
		if errors.Is(err, ErrNone) {
			continue
		}
		if err != nil {
			t.Fatalf("round %d: newest checkpoint does not load after SIGKILL: %v", round, err)
		}
		if want := []byte(`{"step":` + strconv.Itoa(step) + `}`); !bytes.Equal(files["state.json"], want) {
			t.Fatalf("round %d: got state %q, want %q", round, files["state.json"], want)
		}
	}
}
