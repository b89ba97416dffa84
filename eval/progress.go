package eval

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress draws a bar on a terminal (redrawn in place) or one line per finished unit elsewhere, with the
// elapsed time and an estimate of the time left from the average unit so far.
type progress struct {
	w        io.Writer
	tty      bool
	total    int
	done     int
	start    time.Time
	now      func() time.Time
	lastLine int
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, total: total, now: time.Now}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	p.start = p.now()
	return p
}

// step records one finished unit with a label describing it.
func (p *progress) step(label string) {
	if p == nil || p.w == nil {
		return
	}
	p.done++
	elapsed := p.now().Sub(p.start)
	left := time.Duration(0)
	if p.done > 0 && p.done < p.total {
		left = elapsed / time.Duration(p.done) * time.Duration(p.total-p.done)
	}
	const width = 24
	filled := width * p.done / max(p.total, 1)
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", width-filled)
	line := fmt.Sprintf("[%s] %3d/%d %s  elapsed %s  left ~%s", bar, p.done, p.total, label,
		elapsed.Round(time.Second), left.Round(time.Second))
	if p.tty {
		pad := max(p.lastLine-len(line), 0)
		fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
		p.lastLine = len(line)
		if p.done == p.total {
			fmt.Fprintln(p.w)
		}
		return
	}
	fmt.Fprintln(p.w, line)
}
