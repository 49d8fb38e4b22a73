package checkpoint

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadRefusesPathsOutsideTheCheckpoint(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "secret"), []byte("s"), 0o644)
	dir := filepath.Join(root, Name(1))
	os.Mkdir(dir, 0o755)
	sum := sha256.Sum256([]byte("s"))
	os.WriteFile(filepath.Join(dir, ManifestName), []byte(`{"step":1,"files":{"../secret":{"size":1,"sha256":"`+hex.EncodeToString(sum[:])+`"}}}`), 0o644)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), `file name "../secret"`) {
		t.Fatalf("got %v, want a corrupt-manifest error naming ../secret", err)
	}
}

func TestLoadErrorsNameThePathOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), Name(3))
	os.Mkdir(dir, 0o755)
	_, err := Load(dir)
	if err == nil || strings.Count(err.Error(), dir) != 1 {
		t.Errorf("got %v, want an error naming %s once", err, dir)
	}
}

// FuzzLoad: any manifest and file content load to an error or to files
// whose size and hash the manifest vouches for; no panic, no file outside
// the checkpoint. Seeds: testdata/fuzz/FuzzLoad and a valid checkpoint.
func FuzzLoad(f *testing.F) {
	content := []byte("weights")
	sum := sha256.Sum256(content)
	f.Add([]byte(`{"step":1,"files":{"policy.safetensors":{"size":7,"sha256":"`+hex.EncodeToString(sum[:])+`"}}}`), content)
	f.Add([]byte(`{"step":1,"files":{"../x":{"size":0,"sha256":""}}}`), []byte{})
	f.Fuzz(func(t *testing.T, manifest, content []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, ManifestName), manifest, 0o644)
		os.WriteFile(filepath.Join(dir, "policy.safetensors"), content, 0o644)
		files, err := Load(dir)
		if err != nil {
			return
		}
		for n, b := range files {
			if n != "policy.safetensors" {
				t.Fatalf("loaded %q, not a file of the checkpoint", n)
			}
			if s := sha256.Sum256(b); string(b) != string(content) || s != sha256.Sum256(content) {
				t.Fatal("loaded bytes differ from the file")
			}
		}
	})
}
