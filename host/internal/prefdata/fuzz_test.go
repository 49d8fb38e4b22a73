package prefdata

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// TestHostileFilesGiveOneClearError: finding 13 of the hardening issue.
func TestHostileFilesGiveOneClearError(t *testing.T) {
	rec := `{"prompt":"p","chosen":"a","rejected":"b"}` + "\n"
	hh := `{"chosen":"\n\nHuman: hi\n\nAssistant: yes","rejected":"\n\nHuman: hi\n\nAssistant: no"}` + "\n"
	many := strings.Repeat(hh, 400)
	tests := []struct {
		name, file string
		data       []byte
		read       func(path string) error
		want       string
	}{
		{"line over the limit", "big.jsonl", []byte(rec + `{"prompt":"` + strings.Repeat("x", maxLine+10) + "\"}\n"), readJSONL,
			"big.jsonl:2: a line longer than 64 MiB"},
		{"one JSON array", "arr.jsonl", []byte(`[{"prompt":"p","chosen":"a","rejected":"b"}]`), readJSONL,
			`arr.jsonl:1: not a preference record: a JSON array; want one JSON object {"prompt","chosen","rejected"} per line`},
		{"a field of another type", "type.jsonl", []byte(`{"prompt":"p","chosen":1,"rejected":"b"}`), readJSONL,
			`type.jsonl:1: not a preference record: field "chosen" is a JSON number, want a string`},
		{"truncated gzip", "hh.jsonl.gz", gz([]byte(many))[:len(gz([]byte(many)))*2/3], readHH,
			"the file is truncated or corrupt"},
		{"hh as one array", "hh2.jsonl", []byte("[" + strings.TrimSpace(hh) + "]"), readHH,
			"not a HH-RLHF record: a JSON array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.file)
			if err := os.WriteFile(path, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			err := tt.read(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "struct {") || strings.Count(err.Error(), path) > 1 {
				t.Errorf("error shows an internal type or the path twice: %v", err)
			}
		})
	}
}

func readJSONL(path string) error {
	_, _, err := ReadFile(context.Background(), path)
	return err
}

func readHH(path string) error {
	_, _, err := ReadHHRLHF(context.Background(), path)
	return err
}

// FuzzReadJSONL: no input panics; every pair returned passes Check. Seeds:
// testdata/fuzz/FuzzReadJSONL and testdata/mixed.jsonl.
func FuzzReadJSONL(f *testing.F) {
	if b, err := os.ReadFile("testdata/mixed.jsonl"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"prompt":"p","chosen":"a","rejected":"b","gold_chosen":1,"gold_rejected":0}` + "\n"))
	f.Add([]byte(`[{"prompt":"p"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		pairs, st, err := Read(context.Background(), bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		if len(pairs) > st.Records || st.Kept != len(pairs) {
			t.Fatalf("kept %d pairs of %d records (stats say %d)", len(pairs), st.Records, st.Kept)
		}
		for _, p := range pairs {
			if reason := Check(p); reason != "" {
				t.Fatalf("returned a pair failing Check (%s): %+v", reason, p)
			}
		}
	})
}

// FuzzAdapters: the HH-RLHF and FineGrainedRLHF readers, plain and gzipped,
// on any bytes: an error or pairs that pass Check, never a panic.
func FuzzAdapters(f *testing.F) {
	f.Add(byte(0), []byte(`{"chosen":"\n\nHuman: hi\n\nAssistant: yes","rejected":"\n\nHuman: hi\n\nAssistant: no"}`+"\n"))
	f.Add(byte(1), []byte(`[{"question":"q","passages":[["t","s"]],"prediction 1":"a","prediction 2":"b","prediction 3":"c","prediction 4":"d","preference":[1,2,0,1,2,1]}]`))
	f.Add(byte(2), gz([]byte(`{"chosen":"x","rejected":"y"}`)))
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		name := "data.jsonl"
		if kind&2 != 0 {
			name += ".gz"
		}
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var pairs []Pair
		var err error
		if kind&1 == 0 {
			pairs, _, err = ReadHHRLHF(context.Background(), path)
		} else {
			pairs, _, err = ReadFineGrainedQA(context.Background(), path, DefaultQAPromptBytes)
		}
		if err != nil {
			return
		}
		for _, p := range pairs {
			if reason := Check(p); reason != "" {
				t.Fatalf("returned a pair failing Check (%s)", reason)
			}
		}
	})
}
