package textdata

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkError fails t when err, from reading path, is not one short line in
// the file's terms: no Go type, no newline, bounded length.
func checkError(t *testing.T, path string, err error) {
	t.Helper()
	msg := strings.ReplaceAll(err.Error(), path, "PATH")
	for _, bad := range []string{"Go value", "Go struct", "json.RawMessage", "\n"} {
		if strings.Contains(msg, bad) {
			t.Fatalf("error shows %q: %v", bad, err)
		}
	}
	if len(msg) > 1000 {
		t.Fatalf("error of %d bytes: %.200s...", len(msg), msg)
	}
}

// FuzzReadJSONL (the IMDB and text-corpus readers, on plain JSONL): no input
// panics; an error is one short line without Go types; what is read obeys
// the readers' promises. Seeds: testdata/fuzz/FuzzReadJSONL and below.
func FuzzReadJSONL(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(`[{"id":"a","text":"x","label":"pos","rating":9}]`))
	f.Add([]byte(`{"id":"a","text":"x","label":"pos","rating":"9"}` + "\n" + `{"text":1}`))
	f.Add([]byte(`{"text":"a"}` + "\n\n" + `"just a string"`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "f.jsonl")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		reviews, err := ReadIMDB(path)
		if err != nil {
			checkError(t, path, err)
		}
		for _, r := range reviews {
			if r.Text == "" || (r.Label != "pos" && r.Label != "neg") {
				t.Fatalf("returned a review with text %q and label %q", r.Text, r.Label)
			}
		}
		texts, err := ReadTexts(path, "text")
		if err != nil {
			checkError(t, path, err)
		}
		for _, s := range texts {
			if strings.TrimSpace(s) == "" {
				t.Fatal("returned an empty text")
			}
		}
	})
}
