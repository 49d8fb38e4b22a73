package prefdata

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"unicode/utf8"
)

// maxLine bounds one JSONL record.
const maxLine = 64 << 20

// ReadFile reads a JSONL preference file (see the package comment for the
// format and the skip policy).
func ReadFile(ctx context.Context, path string) ([]Pair, Stats, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Stats{}, fmt.Errorf("read preferences: %w", err)
	}
	defer f.Close()
	return Read(ctx, f, path)
}

// Read reads JSONL preference records from r; name (usually the file path)
// prefixes error messages as "name:line: ...". Blank lines are ignored.
func Read(ctx context.Context, r io.Reader, name string) ([]Pair, Stats, error) {
	var (
		pairs []Pair
		st    Stats
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	line := 0
	for sc.Scan() {
		line++
		if line%4096 == 0 && ctx.Err() != nil {
			return nil, st, ctx.Err()
		}
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		st.Records++
		// encoding/json silently replaces invalid UTF-8 with U+FFFD, so
		// check the raw bytes first.
		if !utf8.Valid(b) {
			st.skip(SkipInvalidUTF8)
			continue
		}
		var rec struct {
			Prompt, Chosen, Rejected *string
			GoldChosen               *float64 `json:"gold_chosen"`
			GoldRejected             *float64 `json:"gold_rejected"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, st, fmt.Errorf("%s:%d: not a preference record: %w", name, line, err)
		}
		for _, f := range []struct {
			key string
			v   *string
		}{{"prompt", rec.Prompt}, {"chosen", rec.Chosen}, {"rejected", rec.Rejected}} {
			if f.v == nil {
				return nil, st, fmt.Errorf("%s:%d: missing string field %q (want {\"prompt\",\"chosen\",\"rejected\"})", name, line, f.key)
			}
		}
		p := Pair{Prompt: *rec.Prompt, Chosen: *rec.Chosen, Rejected: *rec.Rejected,
			GoldChosen: rec.GoldChosen, GoldRejected: rec.GoldRejected}
		if reason := Check(p); reason != "" {
			st.skip(reason)
			continue
		}
		pairs = append(pairs, p)
	}
	if err := sc.Err(); err != nil {
		return nil, st, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	st.Kept = len(pairs)
	return pairs, st, nil
}

// Write writes pairs as JSONL.
func Write(w io.Writer, pairs []Pair) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, p := range pairs {
		if err := enc.Encode(p); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WriteFile writes pairs as JSONL to path atomically (temp file, fsync,
// rename), so a reader never sees half a file.
func WriteFile(path string, pairs []Pair) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write preferences: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write preferences %s: %w", path, err)
	}
	if err := Write(tmp, pairs); err != nil {
		tmp.Close()
		return fmt.Errorf("write preferences %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write preferences %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write preferences %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write preferences %s: %w", path, err)
	}
	return nil
}
