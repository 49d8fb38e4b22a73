package nn

import (
	"slices"
	"testing"
)

func TestWordTokenizer(t *testing.T) {
	tok, err := ParseWordTokenizer("words:1000")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		a, b  string
		equal bool
	}{
		{"case and spacing do not matter", "A GREAT film!", "a   great film !", true},
		{"one word is one token", "great", "great", true},
		{"different words differ", "great", "awful", false},
		{"apostrophes stay in words", "don't", "don t", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ga, gb := tok.Encode(tc.a), tok.Encode(tc.b)
			if got := slices.Equal(ga, gb); got != tc.equal {
				t.Errorf("Encode(%q) = %v, Encode(%q) = %v: equal %v, want %v", tc.a, ga, tc.b, gb, got, tc.equal)
			}
		})
	}
	if got, want := len(tok.Encode("a great film!")), 4; got != want {
		t.Errorf("got %d tokens for %q, want %d", got, "a great film!", want)
	}
	for _, id := range tok.Encode("any text at all, with punctuation; and caf\xc3") {
		if id < 0 || id >= tok.EOT() {
			t.Errorf("id %d outside [0, EOT %d)", id, tok.EOT())
		}
	}
	if got, want := tok.VocabSize(), 1000; got != want {
		t.Errorf("VocabSize = %d, want %d", got, want)
	}
	for _, bad := range []string{"words:", "words:1", "words:x", "byte", "wordsmith", ""} {
		if _, err := ParseWordTokenizer(bad); err == nil {
			t.Errorf("ParseWordTokenizer(%q): no error", bad)
		}
	}
}

func TestIsWord(t *testing.T) {
	for _, tc := range []struct {
		tok  string
		want bool
	}{{"good", true}, {"don't", true}, {"1979", true}, {"é", true}, {".", false}, {"!", false}, {"", false}} {
		if got := IsWord(tc.tok); got != tc.want {
			t.Errorf("IsWord(%q) = %v, want %v", tc.tok, got, tc.want)
		}
	}
}
