package words_test

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/p3o-rlhf/p3o/host/internal/task"
	"github.com/p3o-rlhf/p3o/host/internal/textdata"
	"github.com/p3o-rlhf/p3o/host/internal/words"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"", nil},
		{"Don't PANIC!", []string{"don't", "panic"}},
		{"well-made, 1990s film", []string{"well", "made", "s", "film"}},
		{"'quoted' words'' and ''", []string{"quoted", "words", "and"}},
		{"it\u2019s Café ÉTÉ", []string{"it's", "café", "été"}},
		{"ab\xffcd 42", []string{"ab", "cd"}},
		{"o'clock rock'n'roll", []string{"o'clock", "rock'n'roll"}},
	}
	for _, tc := range tests {
		if got := words.Split(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("words.Split(%q): got %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestResponse(t *testing.T) {
	tests := []struct {
		name, prompt, response string
		cut                    bool
		want                   []string
	}{
		{"joins the word across the boundary", "This movi", "e was fun ", true, []string{"movie", "was", "fun"}},
		{"prompt words are not the response's", "This movie", " was fun.", true, []string{"was", "fun"}},
		{"last word cut by the length limit", "I", " liked the acto", true, []string{"liked", "the"}},
		{"cut after an apostrophe", "I", " liked the actors'", true, []string{"liked", "the"}},
		{"ended at end-of-text: the last word counts", "I", " liked the actors", false, []string{"liked", "the", "actors"}},
		{"whole response one cut word", "I", "ndeed", true, nil},
		{"empty response", "Great film", "", true, nil},
		{"no words", "Great", " 10/10 !!", true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := words.Response(tc.prompt, tc.response, tc.cut); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestVocabularyAndCount(t *testing.T) {
	texts := []string{
		"the film the film the", // the x3, film x2
		"The FILM was bad.",     // the x4, film x3, was, bad
		"film the",              // the x5, film x4
	}
	v := words.NewVocabulary(texts, 4)
	if got, want := v.Len(), 2; got != want {
		t.Fatalf("got %d words, want %d (the, film)", got, want)
	}
	for w, want := range map[string]bool{"the": true, "film": true, "was": false, "The": false} {
		if got := v.Contains(w); got != want {
			t.Errorf("Contains(%q): got %v, want %v", w, got, want)
		}
	}
	var c words.Count
	// "The" + " film was good.": film, was, good ("the" is the prompt's); only film is valid.
	if w, ok := v.Add(&c, "The", " film was good.", true); w != 3 || ok != 1 {
		t.Errorf("Add: got %d words, %d valid; want 3, 1 (film, was, good)", w, ok)
	}
	v.Add(&c, "A", " film the fi", true)
	if c.Responses != 2 || c.Words != 5 || c.Valid != 3 {
		t.Errorf("got %+v, want 2 responses, 5 words, 3 valid", c)
	}
	if got, want := c.Validity(), 0.6; math.Abs(got-want) > 1e-12 {
		t.Errorf("Validity: got %v, want %v", got, want)
	}
	if got, want := c.MeanWords(), 2.5; got != want {
		t.Errorf("MeanWords: got %v, want %v", got, want)
	}
	if (words.Count{}).Validity() != 0 || (words.Count{}).MeanWords() != 0 {
		t.Error("an empty count should give 0")
	}
}

// TestIMDBVocabulary checks the check on real data: review text of the test
// split is almost all valid words by the train split's vocabulary, and
// byte-shuffled text is not.
func TestIMDBVocabulary(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the IMDB train split")
	}
	data, err := task.DataDir()
	if err != nil {
		t.Skipf("shared data absent: %v", err)
	}
	train, err := textdata.ReadIMDB(textdata.IMDBTrain(filepath.Join(data, "imdb")))
	if err != nil {
		t.Fatal(err)
	}
	texts := make([]string, len(train))
	for i, r := range train {
		texts[i] = r.Text
	}
	v := words.NewVocabulary(texts, words.MinCount)
	if n := v.Len(); n < 20000 || n > 60000 {
		t.Errorf("got %d words seen >= %d times, want 20k-60k", n, words.MinCount)
	}
	test, err := textdata.ReadIMDB(textdata.IMDBTest(filepath.Join(data, "imdb")))
	if err != nil {
		t.Fatal(err)
	}
	var real, shuffled words.Count
	for i, r := range test[:500] {
		text := r.Text[:min(len(r.Text), 60)]
		v.Add(&real, "", text, true)
		b := []byte(text)
		for j := range b { // a fixed permutation of the bytes
			k := (j*7 + i) % len(b)
			b[j], b[k] = b[k], b[j]
		}
		v.Add(&shuffled, "", string(b), true)
	}
	if got := real.Validity(); got < 0.97 {
		t.Errorf("test-split text: got validity %.3f, want >= 0.97", got)
	}
	if got := shuffled.Validity(); got > 0.6 {
		t.Errorf("shuffled text: got validity %.3f, want <= 0.6", got)
	}
	t.Logf("vocabulary %d words; validity: review text %.3f (%.1f words), shuffled %.3f", v.Len(), real.Validity(), real.MeanWords(), shuffled.Validity())
}
