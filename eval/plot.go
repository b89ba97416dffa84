package eval

import (
	"fmt"
	"image/color"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// curve is one line of a quality-vs-NFE plot.
type curve struct {
	name string
	pts  plotter.XYs
}

// WritePlots draws one PNG per task that has sampler rows (quality against forward passes, one line per
// sampler) into dir and returns the file names by task.
func (r *Report) WritePlots(dir string) (map[string]string, error) {
	out := map[string]string{}
	type spec struct {
		task, file, title, y string
		curves               []curve
	}
	var specs []spec
	if len(r.Samples) > 0 {
		byS := map[string]plotter.XYs{}
		for _, row := range r.Samples {
			byS[row.Decoding.Sampler] = append(byS[row.Decoding.Sampler], plotter.XY{X: row.MeanNFE, Y: row.GenPPL})
		}
		specs = append(specs, spec{TaskGenPPL, "genppl.png", "Generative perplexity (judge) vs NFE", "gen PPL (lower is better)", curves(byS)})
	}
	if len(r.Infill) > 0 {
		byS := map[string]plotter.XYs{}
		for _, row := range r.Infill {
			byS[row.Decoding.Sampler] = append(byS[row.Decoding.Sampler], plotter.XY{X: row.MeanNFE, Y: row.TokenAcc})
		}
		specs = append(specs, spec{TaskInfill, "infill.png", "Infill token accuracy vs NFE", "token accuracy", curves(byS)})
	}
	if len(r.Sudoku) > 0 {
		byS := map[string]plotter.XYs{}
		for _, row := range r.Sudoku {
			byS[row.Decoding.Sampler] = append(byS[row.Decoding.Sampler], plotter.XY{X: row.MeanNFE, Y: 100 * row.SolvedRate()})
		}
		specs = append(specs, spec{TaskSudoku, "sudoku.png", "Sudoku puzzles solved vs NFE", "solved (%)", curves(byS)})
	}
	for _, s := range specs {
		p := plot.New()
		p.Title.Text = s.title
		p.X.Label.Text = "forward passes (NFE) per item"
		p.Y.Label.Text = s.y
		p.Legend.Top = true
		p.Add(plotter.NewGrid())
		for i, c := range s.curves {
			l, pts, err := plotter.NewLinePoints(c.pts)
			if err != nil {
				return nil, fmt.Errorf("eval: plot %s: %w", s.task, err)
			}
			col := palette[i%len(palette)]
			l.Color, pts.Color = col, col
			l.Width = vg.Points(1.5)
			if i >= len(palette) {
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
			}
			pts.Shape = shapes[i%len(shapes)]
			pts.Radius = vg.Points(3)
			p.Add(l, pts)
			p.Legend.Add(c.name, l, pts)
		}
		path := filepath.Join(dir, s.file)
		if err := p.Save(7*vg.Inch, 4.5*vg.Inch, path); err != nil {
			return nil, fmt.Errorf("eval: plot %s: %w", s.task, err)
		}
		out[s.task] = s.file
	}
	return out, nil
}

func curves(byS map[string]plotter.XYs) []curve {
	names := make([]string, 0, len(byS))
	for n := range byS {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]curve, len(names))
	for i, n := range names {
		pts := byS[n]
		sort.Slice(pts, func(a, b int) bool { return pts[a].X < pts[b].X })
		out[i] = curve{n, pts}
	}
	return out
}

// palette is the Okabe-Ito colour-blind-safe set plus black and grey.
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255}, color.RGBA{213, 94, 0, 255}, color.RGBA{0, 158, 115, 255},
	color.RGBA{204, 121, 167, 255}, color.RGBA{230, 159, 0, 255}, color.RGBA{86, 180, 233, 255},
	color.RGBA{240, 228, 66, 255}, color.RGBA{0, 0, 0, 255}, color.RGBA{128, 128, 128, 255},
}

var shapes = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.CrossGlyph{},
	draw.PlusGlyph{}, draw.RingGlyph{}, draw.BoxGlyph{}, draw.PyramidGlyph{}}
