package task

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
)

// readReviewTexts reads the "text" field of every review in a gzipped JSONL
// IMDB split, in file order.
func readReviewTexts(ctx context.Context, path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read imdb reviews: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("read imdb reviews %s: %w", path, err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var texts []string
	for line := 1; sc.Scan(); line++ {
		if line%1024 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var r struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if r.Text == nil {
			return nil, fmt.Errorf("%s:%d: review has no \"text\" field", path, line)
		}
		texts = append(texts, *r.Text)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read imdb reviews %s: %w", path, err)
	}
	return texts, nil
}
