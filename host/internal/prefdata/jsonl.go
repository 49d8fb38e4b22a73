package prefdata

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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
			return nil, st, recordError(sc, name, line, b, err, "preference record", `{"prompt","chosen","rejected"}`)
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
		return nil, st, scanError(name, line+1, err)
	}
	st.Kept = len(pairs)
	return pairs, st, nil
}

// scanError explains a read error at line of name.
func scanError(name string, line int, err error) error {
	switch {
	case errors.Is(err, bufio.ErrTooLong):
		return fmt.Errorf("%s:%d: a line longer than %d MiB: not a JSONL file (one record per line), or a record too large", name, line, maxLine>>20)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader):
		return fmt.Errorf("%s:%d: the file is truncated or corrupt: %w", name, line, err)
	}
	return fmt.Errorf("%s:%d: %w", name, line, err)
}

// recordError explains a record of line that is not the JSON object wanted
// (described by want). A line cut short by a read error (a truncated gzip)
// reports that error instead of the torn JSON.
func recordError(sc *bufio.Scanner, name string, line int, b []byte, err error, what, want string) error {
	if !sc.Scan() && sc.Err() != nil {
		return scanError(name, line, sc.Err())
	}
	var te *json.UnmarshalTypeError
	switch {
	case len(b) > 0 && b[0] == '[':
		return fmt.Errorf("%s:%d: not a %s: a JSON array; want one JSON object %s per line (JSONL; jq -c '.[]' converts an array)", name, line, what, want)
	case errors.As(err, &te) && te.Field != "":
		return fmt.Errorf("%s:%d: not a %s: field %q is a JSON %s, want a string", name, line, what, strings.ToLower(te.Field), te.Value)
	case errors.As(err, &te):
		return fmt.Errorf("%s:%d: not a %s: a JSON %s, want an object %s", name, line, what, te.Value, want)
	}
	return fmt.Errorf("%s:%d: not a %s: %v", name, line, what, err)
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
