package task

import (
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPrompt(t *testing.T) {
	long := strings.Repeat("x", 40)
	tests := []struct {
		name, text string
		words      int
		want       string
		ok         bool
	}{
		{"two words", "Bromwell High is a cartoon comedy.", 2, "Bromwell High", true},
		{"eight words", "a b c d e f g h i j", 8, "a b c d e f g h", true},
		{"br tags", "Great<br /><br />film  and\tmore", 3, "Great film and", true},
		{"shorter than words", "Just two", 8, "Just two", true},
		{"one word", "Hello", 4, "", false},
		{"byte bound drops words", long + " " + long + " end", 3, "", false},
		{"byte bound keeps two", long + " y " + long, 3, long + " y", true},
		{"invalid utf8", "bad \xff bytes here", 3, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Prompt(tc.text, tc.words)
			if got != tc.want || ok != tc.ok {
				t.Errorf("got %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestPromptsDeterministicAndBounded(t *testing.T) {
	texts := make([]string, 200)
	for i := range texts {
		texts[i] = strings.Repeat("word ", 20)
	}
	a, b := Prompts(texts, 1), Prompts(texts, 1)
	if !slices.Equal(a, b) {
		t.Fatal("same seed gave different prompts")
	}
	if slices.Equal(a, Prompts(texts, 2)) {
		t.Error("different seeds gave the same prompt lengths")
	}
	seen := map[int]bool{}
	for _, p := range a {
		n := len(strings.Fields(p))
		seen[n] = true
		if n < MinPromptWords || n > MaxPromptWords || len(p) > MaxPromptBytes {
			t.Errorf("prompt %q: %d words, %d bytes", p, n, len(p))
		}
	}
	if len(seen) != MaxPromptWords-MinPromptWords+1 {
		t.Errorf("got %d distinct prompt lengths, want %d", len(seen), MaxPromptWords-MinPromptWords+1)
	}
}

func TestPromptSampler(t *testing.T) {
	prompts := []string{"a", "b", "c", "d", "e", "f", "g"}
	s := NewPromptSampler(prompts, 3)
	// The first epoch (7 items over steps of 2 plus one of the next) is a
	// permutation.
	var epoch []string
	for step := 0; step < 4; step++ {
		epoch = append(epoch, s.Batch(step, 2)...)
	}
	first := slices.Clone(epoch[:7])
	slices.Sort(first)
	if !slices.Equal(first, prompts) {
		t.Errorf("got first epoch %v, want a permutation of %v", epoch[:7], prompts)
	}
	// Stateless: asking again, out of order, from a fresh sampler, agrees.
	s2 := NewPromptSampler(prompts, 3)
	if got, want := s2.Batch(3, 2), s.Batch(3, 2); !slices.Equal(got, want) {
		t.Errorf("step 3: got %v, want %v", got, want)
	}
	if got, want := s2.Batch(1, 2), epoch[2:4]; !slices.Equal(got, want) {
		t.Errorf("step 1: got %v, want %v", got, want)
	}
	if got := NewPromptSampler(nil, 1).Batch(0, 3); got != nil {
		t.Errorf("empty sampler: got %v, want nil", got)
	}
}

func TestLoadIMDB(t *testing.T) {
	data, err := DataDir()
	if err != nil {
		t.Skipf("shared data absent: %v", err)
	}
	if testing.Short() {
		t.Skip("reads 50,000 reviews (~2 s)")
	}
	task, err := Load(context.Background(), filepath.Join(data, "imdb"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(task.TrainPrompts()); n < 24000 {
		t.Errorf("got %d train prompts, want nearly 25000", n)
	}
	if n := len(task.TestPrompts()); n < 24000 {
		t.Errorf("got %d test prompts, want nearly 25000", n)
	}
	if got, want := task.TrainPrompts()[0], "Bromwell High"; !strings.HasPrefix(got, want) {
		t.Errorf("first train prompt %q, want prefix %q", got, want)
	}
	for _, p := range task.TrainPrompts()[:1000] {
		if len(p) > MaxPromptBytes || !utf8.ValidString(p) || strings.Contains(p, "<br") {
			t.Errorf("bad prompt %q", p)
		}
	}
}

// TestVocabularyCache builds the word vocabulary of a small train split,
// caches it, and reads it back from the cache (not from the split: the
// split is then removed).
func TestVocabularyCache(t *testing.T) {
	dir, cache := t.TempDir(), t.TempDir()
	var lines []string
	for i := 0; i < 6; i++ {
		lines = append(lines, fmt.Sprintf(`{"id":"%d","text":"a good film<br />Good %d","label":"pos","rating":9}`, i, i))
	}
	lines = append(lines, `{"id":"x","text":"rare word","label":"neg","rating":1}`)
	train := filepath.Join(dir, "imdb_train.jsonl")
	if err := os.WriteFile(train, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Vocabulary reads the split's .gz file.
	gz := filepath.Join(dir, "imdb_train.jsonl.gz")
	writeGzip(t, gz, train)
	v, err := Vocabulary(context.Background(), dir, cache)
	if err != nil {
		t.Fatal(err)
	}
	for w, want := range map[string]bool{"a": true, "good": true, "film": true, "br": false, "rare": false} {
		if got := v.Contains(w); got != want {
			t.Errorf("Contains(%q): got %v, want %v", w, got, want)
		}
	}
	files, _ := filepath.Glob(filepath.Join(cache, "words", "*.txt"))
	if len(files) != 1 {
		t.Fatalf("got cache files %v, want one", files)
	}
	// A second call with the same split reads the cache: replace the cached
	// words and see them come back.
	if err := os.WriteFile(files[0], []byte("# p3o word vocabulary v1: one word a line\nzebra\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	v2, err := Vocabulary(context.Background(), dir, cache)
	if err != nil {
		t.Fatal(err)
	}
	if !v2.Contains("zebra") || v2.Contains("good") || v2.Len() != 1 {
		t.Errorf("second call did not read the cache: got %d words", v2.Len())
	}
	// A broken cache file is rebuilt, not trusted.
	if err := os.WriteFile(files[0], []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	v3, err := Vocabulary(context.Background(), dir, cache)
	if err != nil {
		t.Fatal(err)
	}
	if !v3.Contains("good") {
		t.Error("a broken cache file was not rebuilt")
	}
}

func writeGzip(t *testing.T, dst, src string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestTestPromptsFollowTheEvalSeed: the held-out prompts depend on the test
// seed (eval.seed) alone, so runs with different run seeds are evaluated on
// the same prompts, while the train prompts follow the run seed.
func TestTestPromptsFollowTheEvalSeed(t *testing.T) {
	var texts []string
	for i := range 200 {
		texts = append(texts, fmt.Sprintf("review %d has quite a few words in it to cut at different lengths", i))
	}
	a, b := NewIMDB(texts, texts, 1, 7), NewIMDB(texts, texts, 2, 7)
	if !slices.Equal(a.TestPrompts(), b.TestPrompts()) {
		t.Error("run seeds 1 and 2 with the same eval seed: test prompts differ, want equal")
	}
	if slices.Equal(a.TrainPrompts(), b.TrainPrompts()) {
		t.Error("run seeds 1 and 2: train prompts equal, want them to differ")
	}
	if c := NewIMDB(texts, texts, 1, 8); slices.Equal(a.TestPrompts(), c.TestPrompts()) {
		t.Error("eval seeds 7 and 8: test prompts equal, want them to differ")
	}
	// The default run (run.seed = eval.seed = 1) keeps the prompts it had
	// when both came from run.seed.
	if got, want := NewIMDB(texts, texts, 1, 1).TestPrompts(), Prompts(texts, 1^0x7e57); !slices.Equal(got, want) {
		t.Error("run.seed = eval.seed = 1: test prompts changed")
	}
}
