package prefdata

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadSkips(t *testing.T) {
	pairs, st, err := ReadFile(context.Background(), "testdata/mixed.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(pairs), 2; got != want {
		t.Fatalf("got %d pairs, want %d", got, want)
	}
	if !pairs[0].HasGold() || *pairs[0].GoldChosen != 0.5 || *pairs[0].GoldRejected != -0.25 {
		t.Errorf("gold fields: got %+v", pairs[0])
	}
	if pairs[1].HasGold() {
		t.Errorf("pair without gold fields has gold: %+v", pairs[1])
	}
	want := Stats{Records: 6, Kept: 2, Skipped: map[string]int{
		SkipEmptyPrompt: 1, SkipEmptyResponse: 1, SkipIdentical: 1, SkipInvalidUTF8: 1,
	}}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("got stats %+v, want %+v", st, want)
	}
	if s := st.String(); !strings.Contains(s, "1 identical chosen and rejected") {
		t.Errorf("stats string %q lacks the identical count", s)
	}
}

func TestReadErrorsNameFileAndLine(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"malformed", "{\"prompt\":\"a\",\"chosen\":\"b\",\"rejected\":\"c\"}\n\n{\"prompt\": oops}\n", "bad.jsonl:3: not a preference record"},
		{"missing field", "{\"prompt\":\"a\",\"chosen\":\"b\"}\n", `bad.jsonl:1: missing string field "rejected"`},
		{"wrong type", "{\"prompt\":\"a\",\"chosen\":\"b\",\"rejected\":3}\n", "bad.jsonl:1: not a preference record"},
		{"not an object", "[1,2]\n", "bad.jsonl:1:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.jsonl")
			if err := os.WriteFile(path, []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := ReadFile(context.Background(), path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("got error %v, want one containing %q and the path", err, tc.want)
			}
		})
	}
	if _, _, err := ReadFile(context.Background(), "testdata/absent.jsonl"); err == nil {
		t.Error("absent file: got nil error")
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	g1, g2 := 0.75, -0.5
	in := []Pair{
		{Prompt: "a <b> & c", Chosen: "é\n\"x\"", Rejected: "y", GoldChosen: &g1, GoldRejected: &g2},
		{Prompt: "p", Chosen: "c", Rejected: "r"},
	}
	path := filepath.Join(t.TempDir(), "out.jsonl")
	if err := WriteFile(path, in); err != nil {
		t.Fatal(err)
	}
	out, st, err := ReadFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) || st.Kept != 2 {
		t.Errorf("got %+v (%v), want %+v", out, st, in)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `"prompt":"a <b> & c"`) {
		t.Errorf("want unescaped TRL-style JSON, got %s", b)
	}
}

func TestSplit(t *testing.T) {
	var pairs []Pair
	for i := range 100 {
		pairs = append(pairs, Pair{Prompt: string(rune('a' + i%26)), Chosen: "c", Rejected: string(rune(i + 100))})
	}
	tr, ho, err := Split(pairs, 0.2, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr) != 80 || len(ho) != 20 {
		t.Errorf("got %d/%d, want 80/20", len(tr), len(ho))
	}
	tr2, ho2, _ := Split(pairs, 0.2, 7)
	if !reflect.DeepEqual(tr, tr2) || !reflect.DeepEqual(ho, ho2) {
		t.Error("same seed gave a different split")
	}
	seen := map[string]bool{}
	for _, p := range append(tr, ho...) {
		seen[p.Rejected] = true
	}
	if len(seen) != 100 {
		t.Errorf("split lost pairs: %d distinct, want 100", len(seen))
	}
	for _, f := range []float64{-0.1, 1, 1.5} {
		if _, _, err := Split(pairs, f, 1); err == nil {
			t.Errorf("frac %v: got nil error", f)
		}
	}
}

func TestSplitHHDialogue(t *testing.T) {
	d := "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: how?\n\nAssistant: like this"
	p, r, ok := SplitHHDialogue(d)
	if !ok || p != "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: how?\n\nAssistant:" || r != " like this" {
		t.Errorf("got %q %q %v", p, r, ok)
	}
	if _, _, ok := SplitHHDialogue("\n\nHuman: no answer"); ok {
		t.Error("dialogue without assistant turn: got ok")
	}
}

func TestQAPromptBounded(t *testing.T) {
	passages := [][]string{{"Title", strings.Repeat("é long sentence. ", 100)}}
	p := QAPrompt("What?", passages, 200)
	if len(p) > 200 || !strings.HasPrefix(p, "question: What?\ncontext: Title:") || !strings.HasSuffix(p, "\nanswer: ") {
		t.Errorf("got %d bytes %q", len(p), p)
	}
}

func dataDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			t.Skip("no go.mod above the test directory")
		}
		dir = filepath.Dir(dir)
	}
	data := filepath.Join(filepath.Dir(dir), "shared", "data")
	if _, err := os.Stat(data); err != nil {
		t.Skipf("shared data absent (%s): skipping real-data adapter test", data)
	}
	return data
}

func TestHHRLHFAdapter(t *testing.T) {
	data := dataDir(t)
	pairs, st, err := Load(context.Background(), SourceHHRLHF, data)
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 2312 || st.Kept < 2200 {
		t.Errorf("got %v, want 2312 records and nearly all kept", st)
	}
	for _, p := range pairs[:50] {
		if !strings.HasPrefix(p.Prompt, "\n\nHuman:") || !strings.HasSuffix(p.Prompt, "\n\nAssistant:") {
			t.Errorf("prompt not a dialogue prefix ending at the assistant tag: %q", p.Prompt)
		}
		if strings.Contains(p.Chosen, "\n\nAssistant:") || strings.Contains(p.Rejected, "\n\nAssistant:") {
			t.Errorf("response holds an assistant tag: %q / %q", p.Chosen, p.Rejected)
		}
	}
	first := pairs[0]
	if !strings.HasPrefix(first.Prompt, "\n\nHuman: what are some pranks with a pen i can do?") {
		t.Errorf("first prompt %q", first.Prompt[:60])
	}
}

func TestFineGrainedQAAdapter(t *testing.T) {
	data := dataDir(t)
	pairs, st, err := Load(context.Background(), SourceFineGrainedQA, data)
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 3000 || st.Skipped[SkipTie] != 384 {
		t.Errorf("got %v, want 3000 labelled pairs with 384 ties", st)
	}
	if st.Kept+st.Skipped[SkipIdentical] != 2616 {
		t.Errorf("got %v, want 2616 strict pairs kept or identical", st)
	}
	// First question: labels [0 1 2 1 0 2] -> 1v3 (1 wins), 1v4 (4 wins), 2v3 (2 wins), 3v4 (4 wins).
	first := pairs[0]
	if !strings.HasPrefix(first.Prompt, "question: When does bloom by troye sivan come out?\ncontext: Bloom (Troye Sivan album):") {
		t.Errorf("first prompt %q", first.Prompt)
	}
	if len(first.Prompt) > DefaultQAPromptBytes {
		t.Errorf("prompt of %d bytes, want <= %d", len(first.Prompt), DefaultQAPromptBytes)
	}
	if !strings.HasSuffix(pairs[0].Chosen, "as the third single. American singer Ariana Grande was released on 13 June as the album's fourth single.") {
		t.Errorf("pair 0 chosen should be prediction 1, got %q", pairs[0].Chosen)
	}
	if !strings.HasSuffix(pairs[1].Chosen, "The second single, \"The Good Side\", was released nine days later and was accompanied by a music video directed by Grant Singer.") {
		t.Errorf("pair 1 chosen should be prediction 4, got %q", pairs[1].Chosen)
	}
}
