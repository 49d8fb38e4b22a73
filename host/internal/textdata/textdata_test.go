package textdata

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

const good = `{"id":"a","text":"Great film.<br /><br />Loved it.","label":"pos","rating":9}
{"id":"b","text":"  Dull   and <br />long ","label":"neg","rating":2}
`

func TestReadIMDB(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.jsonl.gz")
	os.WriteFile(path, gz(t, good), 0o644)
	rs, err := ReadIMDB(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Review{{"a", "Great film. Loved it.", "pos", 9}, {"b", "Dull and long", "neg", 2}}
	if len(rs) != len(want) {
		t.Fatalf("got %d reviews, want %d", len(rs), len(want))
	}
	for i := range want {
		if rs[i] != want[i] {
			t.Errorf("review %d: got %+v, want %+v", i, rs[i], want[i])
		}
	}
}

func TestReadIMDBErrors(t *testing.T) {
	full := gz(t, strings.Repeat(good, 200))
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated gzip", full[:len(full)/2], "truncated"},
		{"not gzip", []byte("hello"), "not a gzip file"},
		{"bad JSON", gz(t, good+"{\"id\":\"c\",\"text\":\n"), ":3: not an IMDB review: not valid JSON"},
		{"a JSON array", gz(t, "[{\"id\":\"c\"}]\n"), ":1: not an IMDB review: a JSON array; want one JSON object"},
		{"a field of another type", gz(t, `{"id":"c","text":"x","label":"pos","rating":"9"}`+"\n"), `:1: not an IMDB review: field "rating" is a JSON string, want a whole number`},
		{"bad label", gz(t, `{"id":"c","text":"x","label":"meh","rating":5}`+"\n"), ":1: label"},
		{"empty text", gz(t, `{"id":"c","text":"<br />","label":"pos","rating":5}`+"\n"), ":1: empty review text"},
		{"empty file", gz(t, ""), "no reviews"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.jsonl.gz")
			os.WriteFile(path, tc.data, 0o644)
			_, err := ReadIMDB(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("got error %v, want one naming %s and containing %q", err, path, tc.want)
			}
		})
	}
}

func TestReadIMDBShared(t *testing.T) {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for ; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			t.Skip("go.mod not found")
		}
	}
	path := IMDBTest(filepath.Join(dir, "..", "shared", "data", "imdb"))
	if _, err := os.Stat(path); err != nil {
		t.Skipf("IMDB data absent (%v): put it in ../shared/data/imdb to run this test", err)
	}
	rs, err := ReadIMDB(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 25000 {
		t.Errorf("got %d test reviews, want 25000", len(rs))
	}
	for _, r := range rs {
		if strings.Contains(r.Text, "<br") {
			t.Fatalf("review %s still contains <br: %.80q", r.ID, r.Text)
		}
	}
}

// TestTruncatedGzipAtAnyCut: a gzip file cut anywhere (a copy that stopped
// early) is reported as truncated, naming the file once, never as bad JSON
// on the torn last line (`host prefs` used to say ":150: bad JSON").
func TestTruncatedGzipAtAnyCut(t *testing.T) {
	imdb := gz(t, strings.Repeat(good, 300))
	texts := gz(t, strings.Repeat(`{"text":"a text of a few words, long enough to span blocks"}`+"\n", 600))
	tests := []struct {
		name string
		full []byte
		read func(path string) error
	}{
		{"ReadIMDB", imdb, func(p string) error { _, err := ReadIMDB(p); return err }},
		{"ReadTexts", texts, func(p string) error { _, err := ReadTexts(p, "text"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			// Every 7th cut after the 10-byte header, so cuts fall inside
			// lines and between them.
			for cut := 11; cut < len(tt.full)-8; cut += 7 {
				path := filepath.Join(dir, fmt.Sprintf("cut%d.jsonl.gz", cut))
				if err := os.WriteFile(path, tt.full[:cut], 0o644); err != nil {
					t.Fatal(err)
				}
				err := tt.read(path)
				if err == nil || !strings.Contains(err.Error(), "the file is truncated or corrupt") || strings.Count(err.Error(), path) != 1 {
					t.Fatalf("cut at byte %d of %d: got %v, want one error naming %s once and saying it is truncated", cut, len(tt.full), err, path)
				}
			}
		})
	}
}
