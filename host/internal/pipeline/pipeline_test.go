package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyAndHash(t *testing.T) {
	if Key("a", "bc") == Key("ab", "c") {
		t.Error("Key must separate its parts: (a, bc) and (ab, c) collide")
	}
	if Key("x", "y") != Key("x", "y") || len(Key("x")) != 16 {
		t.Errorf("got key %q, want 16 stable hex digits", Key("x"))
	}
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("abc"), 0o644)
	h, err := FileHash(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; h != want {
		t.Errorf("got sha256 %s, want %s", h, want)
	}
	if _, err := FileHash(p + ".missing"); err == nil {
		t.Error("got no error hashing a missing file")
	}
}

func TestMissingSFTSaysHowToFix(t *testing.T) {
	err := MissingSFT("assets/sft/x.safetensors")
	for _, w := range []string{"assets/sft/x.safetensors", "go run ./host sft"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("got %q, want it to contain %q", err, w)
		}
	}
}

func TestSourceHashSeesCodeChanges(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "pkg"), 0o755)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main"), 0o644)
	os.WriteFile(filepath.Join(dir, "pkg", "a.go"), []byte("package pkg // v1"), 0o644)
	os.WriteFile(filepath.Join(dir, "pkg", "a_test.go"), []byte("package pkg"), 0o644)
	h1, err := SourceHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "pkg", "a_test.go"), []byte("package pkg // changed"), 0o644)
	if h2, _ := SourceHash(dir); h2 != h1 {
		t.Error("a test file changed the hash; want only non-test sources to count")
	}
	os.WriteFile(filepath.Join(dir, "pkg", "a.go"), []byte("package pkg // v2"), 0o644)
	if h3, _ := SourceHash(dir); h3 == h1 {
		t.Error("got the same hash after a source change, want a different one")
	}
}
