package task

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/p3o-rlhf/p3o/host/internal/pipeline"
	"github.com/p3o-rlhf/p3o/host/internal/textdata"
	"github.com/p3o-rlhf/p3o/host/internal/words"
)

// Vocabulary returns the words that the IMDB train split (in the data folder
// dir) uses at least words.MinCount times: the reference of the
// word-validity check. Counting reads the whole split (about 2 s), so when
// cacheDir is not empty the result is kept there as a small text file keyed
// by the split's SHA-256 and read back by later runs (about 50 ms).
func Vocabulary(ctx context.Context, dir, cacheDir string) (*words.Vocabulary, error) {
	path := textdata.IMDBTrain(dir)
	var cached string
	if cacheDir != "" {
		sum, err := pipeline.FileHash(path)
		if err != nil {
			return nil, fmt.Errorf("word vocabulary: %w", err)
		}
		cached = filepath.Join(cacheDir, "words", fmt.Sprintf("imdb-train-%s-min%d.txt", sum[:16], words.MinCount))
		if v, err := words.Read(cached); err == nil {
			return v, nil
		}
	}
	texts, err := readReviewTexts(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("word vocabulary: %w", err)
	}
	v := words.NewVocabulary(texts, words.MinCount)
	if cached != "" {
		if err := v.Save(cached); err != nil {
			return nil, fmt.Errorf("word vocabulary cache: %w", err)
		}
	}
	return v, nil
}
