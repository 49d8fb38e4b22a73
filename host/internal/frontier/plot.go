package frontier

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// PlotFrontier draws gold reward against KL: every evaluation point of every
// run (one colour per algorithm), and per algorithm the upper envelope (see
// Envelope) averaged over seeds with a band from the lowest to the highest
// seed's envelope. klMax > 0 limits the KL axis to [0, klMax] (points and
// envelopes beyond it are left out), so that a few runs far out do not squash
// the region where the algorithms are compared. It writes the figure to each
// path (the format from the extension: .png, .svg, .pdf).
func PlotFrontier(d *Data, title string, klMax float64, paths ...string) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "KL(policy || SFT), nats per response (held-out)"
	p.Y.Label.Text = "gold reward, held-out mean"
	p.Add(plotter.NewGrid())
	p.Legend.Top = false
	p.Legend.Left = false
	p.X.Min = 0
	if klMax > 0 {
		p.X.Max = klMax
		p.X.Label.Text += fmt.Sprintf(", up to %g", klMax)
	}

	for i, a := range d.Series {
		cs := d.curves(a)
		if len(cs) == 0 {
			continue
		}
		col := plotutil.Color(i)
		light := withAlpha(col, 0x40)
		var pts plotter.XYs
		for _, c := range cs {
			for _, pt := range c.Points {
				if pt.Step > 0 && (klMax <= 0 || pt.KLMean <= klMax) {
					pts = append(pts, plotter.XY{X: pt.KLMean, Y: pt.GoldMean})
				}
			}
		}
		seeds := seedsOf(cs)
		var maxKL float64
		for _, s := range seeds {
			_, m, _ := Envelope(cs, s, math.Inf(1))
			maxKL += m / float64(len(seeds))
		}
		if klMax > 0 {
			maxKL = math.Min(maxKL, klMax)
		}
		const n = 80
		var mean, lo, hi plotter.XYs
		for k := 0; k <= n; k++ {
			x := maxKL * float64(k) / n
			var vals []float64
			for _, s := range seeds {
				if g, _, ok := Envelope(cs, s, x); ok {
					vals = append(vals, g)
				}
			}
			if len(vals) == 0 {
				continue
			}
			m, _ := meanSD(vals)
			mn, mx := vals[0], vals[0]
			for _, v := range vals {
				mn, mx = math.Min(mn, v), math.Max(mx, v)
			}
			mean = append(mean, plotter.XY{X: x, Y: m})
			lo = append(lo, plotter.XY{X: x, Y: mn})
			hi = append(hi, plotter.XY{X: x, Y: mx})
		}
		if len(mean) > 1 && len(seeds) > 1 {
			band := append(plotter.XYs{}, lo...)
			for k := len(hi) - 1; k >= 0; k-- {
				band = append(band, hi[k])
			}
			poly, err := plotter.NewPolygon(band)
			if err != nil {
				return err
			}
			poly.Color = light
			poly.LineStyle.Width = 0
			p.Add(poly)
		}
		if len(pts) > 0 {
			sc, err := plotter.NewScatter(pts)
			if err != nil {
				return err
			}
			sc.GlyphStyle.Color = withAlpha(col, 0x90)
			sc.GlyphStyle.Radius = vg.Points(1.8)
			sc.GlyphStyle.Shape = draw.CircleGlyph{}
			p.Add(sc)
		}
		if len(mean) > 1 {
			ln, err := plotter.NewLine(mean)
			if err != nil {
				return err
			}
			ln.Color = col
			ln.Width = vg.Points(2)
			// Past the palette's 7 colours the colours repeat: the
			// line style tells those series apart.
			ln.Dashes = plotutil.Dashes(i / len(plotutil.DefaultColors))
			p.Add(ln)
			label := a
			if len(seeds) > 1 {
				label = fmt.Sprintf("%s (%d seeds)", a, len(seeds))
			}
			p.Legend.Add(label, ln)
		}
	}
	return savePlot(p, 18*vg.Centimeter, 12*vg.Centimeter, paths...)
}

// PlotLines draws one line per series (x, y points) with markers; for the
// scaling figure.
func PlotLines(title, xlabel, ylabel string, names []string, series []plotter.XYs, paths ...string) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	for i, s := range series {
		ln, sc, err := plotter.NewLinePoints(s)
		if err != nil {
			return err
		}
		ln.Color, sc.Color = plotutil.Color(i), plotutil.Color(i)
		sc.Shape = plotutil.Shape(i)
		p.Add(ln, sc)
		p.Legend.Add(names[i], ln, sc)
	}
	return savePlot(p, 16*vg.Centimeter, 11*vg.Centimeter, paths...)
}

func withAlpha(c color.Color, a uint8) color.Color {
	r, g, b, _ := c.RGBA()
	// Premultiplied: scale the channels by the new alpha.
	f := float64(a) / 255
	return color.RGBA{R: uint8(float64(r>>8) * f), G: uint8(float64(g>>8) * f), B: uint8(float64(b>>8) * f), A: a}
}

// savePlot renders p once per path and replaces each file atomically.
func savePlot(p *plot.Plot, w, h vg.Length, paths ...string) error {
	for _, path := range paths {
		format := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
		wt, err := p.WriterTo(w, h, format)
		if err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		var buf bytes.Buffer
		if _, err := wt.WriteTo(&buf); err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		if err := writeAtomic(path, buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// writeAtomic writes a file through a temp file and a rename.
func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, bare(err))
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, bare(err))
	}
	return nil
}

// bare drops the path from an *os.PathError: the errors of a write through a
// temporary file would name the file twice, once under the temporary name.
func bare(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
