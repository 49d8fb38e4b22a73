// Package progress shows the progress of long work and keeps log lines
// readable beside it: on a terminal a bar redrawn in place, with every log
// line (the host's and its plugins') printed above the bar, never through
// it; anywhere else (a log file, a pipe, CI) no redraws at all, only a plain
// line every Interval.
//
// A process has one Console for its standard error (Stderr); every writer of
// log lines and every bar goes through it, so it always knows whether a bar
// is on the screen's current line.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// DefaultInterval is how often a bar prints a plain line when its console
// is not a terminal.
const DefaultInterval = 30 * time.Second

// clearLine returns the cursor to the start of the line and erases it.
const clearLine = "\r\033[K"

// Console serialises log lines and progress bars on one output.
type Console struct {
	// Interval is how often a bar prints a plain line when the console is
	// not a terminal.
	Interval time.Duration

	mu       sync.Mutex
	w        io.Writer
	terminal bool
	now      func() time.Time
	barLine  []byte // terminal: the bar's text on the current screen line
	barShown bool   // the cursor's line holds barLine
}

// New returns a console writing to w; terminal says whether w is a terminal
// (see IsTerminal), which decides between a redrawn bar and plain lines.
func New(w io.Writer, terminal bool) *Console {
	return &Console{Interval: DefaultInterval, w: w, terminal: terminal, now: time.Now}
}

// IsTerminal reports whether w is a file open on a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

var (
	stderrOnce sync.Once
	stderr     *Console
)

// Stderr is the process's console on os.Stderr.
func Stderr() *Console {
	stderrOnce.Do(func() { stderr = New(os.Stderr, IsTerminal(os.Stderr)) })
	return stderr
}

// For returns the console of w: w itself when it is a Console, the
// process's console for os.Stderr, and a new console otherwise.
func For(w io.Writer) *Console {
	switch w := w.(type) {
	case *Console:
		return w
	case *os.File:
		if w == os.Stderr {
			return Stderr()
		}
	}
	return New(w, IsTerminal(w))
}

// Terminal reports whether bars are redrawn in place.
func (c *Console) Terminal() bool { return c.terminal }

// Write writes log lines to the console's output, above the bar if one is
// shown. Give it whole lines (hclog does): the bar is redrawn after a write
// that ends a line.
func (c *Console) Write(p []byte) (int, error) { return c.writeLog(c.w, p) }

// Writer returns a writer of log lines to w (usually os.Stdout, which shares
// the terminal with the console's output) that moves the console's bar out
// of the way as Write does.
func (c *Console) Writer(w io.Writer) io.Writer { return logWriter{c, w} }

type logWriter struct {
	c *Console
	w io.Writer
}

func (l logWriter) Write(p []byte) (int, error) { return l.c.writeLog(l.w, p) }

func (c *Console) writeLog(dst io.Writer, p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.barShown {
		io.WriteString(c.w, clearLine)
		c.barShown = false
	}
	n, err := dst.Write(p)
	if len(c.barLine) > 0 && len(p) > 0 && p[len(p)-1] == '\n' {
		c.w.Write(c.barLine)
		c.barShown = true
	}
	return n, err
}

// barWriter is where a terminal bar draws: it follows the text of the
// screen's current line so that a log line can erase and redraw it.
type barWriter struct{ c *Console }

func (b barWriter) Write(p []byte) (int, error) {
	c := b.c
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.w.Write(p)
	for _, ch := range p {
		switch ch {
		case '\r', '\n':
			c.barLine = c.barLine[:0]
		default:
			c.barLine = append(c.barLine, ch)
		}
	}
	c.barShown = len(c.barLine) > 0
	return n, err
}

// Bar is the progress of one piece of work of known size.
type Bar struct {
	c     *Console
	name  string
	unit  string
	total int

	mu    sync.Mutex
	pb    *progressbar.ProgressBar // terminal only
	n     int
	base  int // units done before this process (Resume)
	desc  string
	start time.Time
	last  time.Time // of the last plain line
	ended bool
}

// NewBar starts a bar named name for total units of work (unit: "step",
// "pair", ...).
func (c *Console) NewBar(name string, total int, unit string) *Bar {
	b := &Bar{c: c, name: name, unit: unit, total: max(total, 1), start: c.now()}
	b.last = b.start
	if c.terminal {
		b.pb = progressbar.NewOptions(b.total,
			progressbar.OptionSetWriter(barWriter{c}),
			progressbar.OptionSetDescription(name),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString(unit),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionThrottle(200*time.Millisecond),
		)
	}
	return b
}

// Set moves the bar to n units done.
func (b *Bar) Set(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return
	}
	b.n = n
	if b.pb != nil {
		b.pb.Set(n)
		return
	}
	if now := b.c.now(); now.Sub(b.last) >= b.c.Interval {
		b.last = now
		b.plainLine(now, "")
	}
}

// Resume starts the bar at n units done by an earlier process: its rate
// and time left count only the work done since.
func (b *Bar) Resume(n int) {
	b.mu.Lock()
	b.base = n
	b.mu.Unlock()
	b.Set(n)
}

// Add moves the bar on by d units.
func (b *Bar) Add(d int) {
	b.mu.Lock()
	n := b.n + d
	b.mu.Unlock()
	b.Set(n)
}

// Describe sets the bar's detail text (shown after its counts).
func (b *Bar) Describe(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return
	}
	b.desc = s
	if b.pb != nil {
		b.pb.Describe(b.name + " " + s)
	}
}

// Finish ends the bar showing its final state: on a terminal the bar stays
// on its own line; otherwise a last plain line.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return
	}
	b.ended = true
	if b.pb != nil {
		b.pb.Exit()
		b.c.mu.Lock()
		if b.c.barShown {
			io.WriteString(b.c.w, clearLine)
		}
		b.c.barLine = b.c.barLine[:0]
		b.c.barShown = false
		b.c.mu.Unlock()
		b.plainLine(b.c.now(), "")
		return
	}
	b.plainLine(b.c.now(), "done ")
}

// Clear ends the bar and removes it from the screen (on a terminal; no
// output otherwise): for work that stopped, or whose result follows.
func (b *Bar) Clear() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return
	}
	b.ended = true
	if b.pb == nil {
		return
	}
	b.pb.Exit()
	b.c.mu.Lock()
	defer b.c.mu.Unlock()
	if b.c.barShown {
		io.WriteString(b.c.w, clearLine)
	}
	b.c.barLine = b.c.barLine[:0]
	b.c.barShown = false
}

// plainLine prints "name: [prefix]n/total unit (p%), r unit/s, t left | desc"
// through the console (b.mu held).
func (b *Bar) plainLine(now time.Time, prefix string) {
	var s strings.Builder
	fmt.Fprintf(&s, "%s: %s%d/%d %s (%.0f%%)", b.name, prefix, b.n, b.total, plural(b.unit, b.total), 100*float64(b.n)/float64(b.total))
	if el := now.Sub(b.start).Seconds(); el > 0 && b.n > b.base {
		rate := float64(b.n-b.base) / el
		fmt.Fprintf(&s, ", %s/s", fmtRate(rate))
		if left := b.total - b.n; left > 0 {
			fmt.Fprintf(&s, ", %s left", (time.Duration(float64(left)/rate) * time.Second).Round(time.Second))
		} else {
			fmt.Fprintf(&s, " in %s", time.Duration(el*float64(time.Second)).Round(time.Second))
		}
	}
	if b.desc != "" {
		s.WriteString(" | " + b.desc)
	}
	s.WriteByte('\n')
	b.c.Write([]byte(s.String()))
}

func plural(unit string, n int) string {
	if n == 1 || unit == "" {
		return unit
	}
	return unit + "s"
}

func fmtRate(r float64) string {
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0f", r)
	case r >= 1:
		return fmt.Sprintf("%.1f", r)
	default:
		return fmt.Sprintf("%.3f", r)
	}
}
