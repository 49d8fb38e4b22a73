package task

import (
	"context"

	"github.com/p3o-rlhf/p3o/host/internal/textdata"
)

// readReviewTexts reads the texts of every review in an IMDB split file, in
// file order.
func readReviewTexts(ctx context.Context, path string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	reviews, err := textdata.ReadIMDB(path)
	if err != nil {
		return nil, err
	}
	texts := make([]string, len(reviews))
	for i, r := range reviews {
		texts[i] = r.Text
	}
	return texts, nil
}
