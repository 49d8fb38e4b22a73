// Package textdata reads the text corpora of the project's experiments,
// today the IMDB Large Movie Review Dataset (Maas et al., 2011) as shipped in
// ../shared/data/imdb: gzipped JSONL, one review a line,
// {"id","text","label":"pos"/"neg","rating":1-10}.
package textdata

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Review is one IMDB review with its text cleaned (see CleanText).
type Review struct {
	ID     string `json:"id"`
	Text   string `json:"text"`
	Label  string `json:"label"` // "pos" or "neg"
	Rating int    `json:"rating"`
}

// IMDB file names inside the data folder.
const (
	IMDBTrainFile = "imdb_train.jsonl.gz"
	IMDBTestFile  = "imdb_test.jsonl.gz"
)

// IMDBTrain and IMDBTest return the paths of the train and test splits in
// dir (e.g. "../shared/data/imdb").
func IMDBTrain(dir string) string { return filepath.Join(dir, IMDBTrainFile) }

// IMDBTest returns the path of the test split in dir.
func IMDBTest(dir string) string { return filepath.Join(dir, IMDBTestFile) }

// CleanText removes the HTML line breaks ("<br />") of the IMDB texts and
// normalises whitespace: every run of spaces, tabs and newlines becomes one
// space, with none at the ends.
func CleanText(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "<br />", " ")), " ")
}

// ReadIMDB reads a gzipped JSONL file of IMDB reviews (a plain .jsonl file
// is read as is). A truncated gzip stream, bad JSON, an empty text or a
// label other than pos/neg is an error naming the file and line.
func ReadIMDB(path string) ([]Review, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read IMDB: %w", err)
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, 1<<20)
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("read IMDB %s: not a gzip file: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 16<<20)
	var out []Review
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var rv Review
		if err := json.Unmarshal(b, &rv); err != nil {
			if rerr := readErrorAfter(sc); rerr != nil {
				return nil, streamError("read IMDB", path, line, rerr)
			}
			return nil, fmt.Errorf("read IMDB %s:%d: not an IMDB review: %s", path, line, JSONLineError(b, err, `{"id","text","label","rating"}`))
		}
		if rv.Label != "pos" && rv.Label != "neg" {
			return nil, fmt.Errorf("read IMDB %s:%d: label %q, want \"pos\" or \"neg\"", path, line, rv.Label)
		}
		rv.Text = CleanText(rv.Text)
		if rv.Text == "" {
			return nil, fmt.Errorf("read IMDB %s:%d: empty review text", path, line)
		}
		out = append(out, rv)
	}
	if err := sc.Err(); err != nil {
		return nil, streamError("read IMDB", path, line+1, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("read IMDB %s: no reviews", path)
	}
	return out, nil
}

// ReadTexts reads the string under key of every line of a JSONL file (a
// .gz file is decompressed), in order: the user's own text corpus for
// `host sft --data FILE --text-key KEY`. A line that is not a JSON object,
// lacks the key or holds a non-string is an error naming the file, the line
// and the key; empty texts are skipped.
func ReadTexts(path, key string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read texts: %w", err)
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, 1<<20)
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("read texts %s: not a gzip file: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 64<<20)
	var out []string
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err != nil {
			if rerr := readErrorAfter(sc); rerr != nil {
				return nil, streamError("read texts", path, line, rerr)
			}
			return nil, fmt.Errorf("read texts %s:%d: not a JSON object: %s", path, line, JSONLineError(b, err, fmt.Sprintf("{%q}", key)))
		}
		raw, ok := obj[key]
		if !ok {
			return nil, fmt.Errorf("read texts %s:%d: no %q key (use --text-key to name the text field)", path, line, key)
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("read texts %s:%d: %q is not a string", path, line, key)
		}
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, streamError("read texts", path, line+1, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("read texts %s: no texts under key %q", path, key)
	}
	return out, nil
}

// readErrorAfter returns the read error that ends sc's stream right after
// the current line, if any. A gzip stream cut short yields its partial last
// line before the error: that line's bad JSON is the cut, not the cause.
func readErrorAfter(sc *bufio.Scanner) error {
	if sc.Scan() {
		return nil
	}
	return sc.Err()
}

// streamError explains a read error of path at line: a truncated or
// corrupt (gzip) file says so and how to fix it.
func streamError(what, path string, line int, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) {
		return fmt.Errorf("%s %s: the file is truncated or corrupt at line %d (%v): re-copy it", what, path, line, err)
	}
	return fmt.Errorf("%s %s: at line %d: %w", what, path, line, err)
}
