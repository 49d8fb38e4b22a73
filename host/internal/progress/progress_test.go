package progress

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// screen replays terminal output (text, "\r", "\n" and the erase-line
// sequence) and returns the lines a person would see, without trailing
// blanks: the bar library erases a line by overwriting it with spaces, and a
// shorter line written over those spaces looks whole on a terminal.
func screen(out []byte) []string {
	var lines []string
	var line []byte
	col := 0
	for i := 0; i < len(out); i++ {
		switch {
		case bytes.HasPrefix(out[i:], []byte("\033[K")):
			line = line[:col]
			i += len("\033[K") - 1
		case out[i] == '\r':
			col = 0
		case out[i] == '\n':
			lines = append(lines, strings.TrimRight(string(line), " "))
			line, col = nil, 0
		default:
			if col < len(line) {
				line[col] = out[i]
			} else {
				line = append(line, out[i])
			}
			col++
		}
	}
	if len(line) > 0 {
		lines = append(lines, strings.TrimRight(string(line), " "))
	}
	return lines
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// TestPlainLines: without a terminal, a bar writes no carriage return or
// escape sequence, only whole lines, one per Interval and a last one.
func TestPlainLines(t *testing.T) {
	var out bytes.Buffer
	c := New(&out, false)
	now := time.Unix(0, 0)
	c.now = func() time.Time { return now }
	b := c.NewBar("prefs", 100, "pair")
	for i := 1; i <= 100; i++ {
		now = now.Add(time.Second) // 1 pair/s: a line at 30, 60 and 90 s
		b.Add(1)
		b.Describe(fmt.Sprintf("ties %d", i))
		if i == 45 {
			fmt.Fprintln(c, "a log line")
		}
	}
	b.Finish()
	b.Add(5) // after Finish: nothing
	got := out.String()
	if strings.ContainsAny(got, "\r\033") {
		t.Errorf("plain output has a carriage return or escape:\n%q", got)
	}
	want := []string{
		"prefs: 30/100 pairs (30%), 1.0/s, 1m10s left | ties 29",
		"prefs: 60/100 pairs (60%), 1.0/s, 40s left | ties 59",
		"a log line",
		"prefs: 90/100 pairs (90%), 1.0/s, 10s left | ties 89",
		"prefs: done 100/100 pairs (100%), 1.0/s in 1m40s | ties 100",
	}
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	// The log line came at 45 s, between the 30 s and 60 s lines.
	want[1], want[2] = want[2], want[1]
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("got lines\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// TestTerminalLogLinesAboveBar: on a terminal, log lines written while a
// bar is drawn (from other goroutines, as plugin logs arrive) each end up
// whole on their own screen line, and the bar on the last line.
func TestTerminalLogLinesAboveBar(t *testing.T) {
	var out, stdout syncBuffer
	c := New(&out, true)
	b := c.NewBar("train", 400, "step")
	var wg sync.WaitGroup
	const logs = 40
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range logs {
			fmt.Fprintf(c, "2026-12-01T00:00:00Z [INFO]  plugin line %d\n", i)
			time.Sleep(200 * time.Microsecond)
		}
	}()
	go func() {
		defer wg.Done()
		for i := range logs / 4 {
			fmt.Fprintf(c.Writer(&out), "host line %d\n", i)
			time.Sleep(time.Millisecond)
		}
	}()
	for i := 0; i < 400; i++ {
		b.Add(1)
		b.Describe(fmt.Sprintf("loss %.2f", 1/float64(i+1)))
		if i%40 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	wg.Wait()
	fmt.Fprintln(c, "last log line")
	lines := screen(out.Bytes())
	if len(stdout.Bytes()) != 0 {
		t.Fatal("nothing should reach the unused writer")
	}
	seen := map[string]bool{}
	for _, l := range lines {
		if strings.Contains(l, "line") {
			seen[l] = true
			if strings.Contains(l, "|") || strings.Contains(l, "step") {
				t.Errorf("a log line shares its screen line with the bar: %q", l)
			}
		}
	}
	for i := range logs {
		if l := fmt.Sprintf("2026-12-01T00:00:00Z [INFO]  plugin line %d", i); !seen[l] {
			t.Errorf("screen lacks the whole line %q", l)
		}
	}
	for i := range logs / 4 {
		if l := fmt.Sprintf("host line %d", i); !seen[l] {
			t.Errorf("screen lacks the whole line %q", l)
		}
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, "train") || !strings.Contains(last, "400/400") {
		t.Errorf("the last screen line is %q, want the bar at 400/400", last)
	}
	if lines[len(lines)-2] != "last log line" {
		t.Errorf("the line above the bar is %q, want the last log line", lines[len(lines)-2])
	}
	b.Finish()
	lines = screen(out.Bytes())
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "train: 400/400 steps (100%)") {
		t.Errorf("after Finish the last line is %q, want the final state as a plain line", last)
	}
	n := len(out.Bytes())
	fmt.Fprintln(c, "after")
	if got := string(out.Bytes()[n:]); got != "after\n" {
		t.Errorf("a log line after Finish wrote %q, want only the line", got)
	}
}

// TestClear: a cleared bar leaves the screen as if it had never been drawn.
func TestClear(t *testing.T) {
	var out bytes.Buffer
	c := New(&out, true)
	fmt.Fprintln(c, "before")
	b := c.NewBar("reward", 10, "step")
	b.Set(3)
	b.Clear()
	fmt.Fprintln(c, "after")
	if got, want := strings.Join(screen(out.Bytes()), "|"), "before|after"; got != want {
		t.Errorf("got screen %q, want %q", got, want)
	}
}

func TestFor(t *testing.T) {
	c := New(&bytes.Buffer{}, false)
	if For(c) != c {
		t.Error("For(console) should be the console")
	}
	var buf bytes.Buffer
	if got := For(&buf); got.Terminal() {
		t.Error("a buffer is not a terminal")
	}
}
