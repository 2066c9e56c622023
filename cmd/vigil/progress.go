package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/vigil-ad/vigil/train"
)

// progressBar reports a long step on stderr: a redrawn bar on a terminal,
// plain periodic lines otherwise. Nothing is shown for steps that finish
// within the first two seconds, and nothing at all when quiet.
type progressBar struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	quiet    bool
	label    string
	total    int
	done     int
	start    time.Time
	lastDraw time.Time
	drawn    bool
	drewDone int // p.done at the last draw
}

const progressDelay = 2 * time.Second

// newProgress returns the pipeline's progress sink for the terminal.
func newProgress(quiet bool) *progressBar {
	return &progressBar{
		w:     os.Stderr,
		tty:   term.IsTerminal(int(os.Stderr.Fd())),
		quiet: quiet,
		start: time.Now(),
	}
}

// Begin starts a new step (pipeline.Progress).
func (p *progressBar) Begin(step string, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.label, p.total, p.done, p.drewDone = step, total, 0, 0
	p.start, p.drawn = time.Now(), false
}

// End finishes the step (pipeline.Progress).
func (p *progressBar) End() { p.Done() }

// Set records the absolute position, as reported by a detector.
func (p *progressBar) Set(done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.advance(done, total)
}

func (p *progressBar) advance(done, total int) {
	p.done, p.total = done, total
	if p.quiet {
		return
	}
	now := time.Now()
	if now.Sub(p.start) < progressDelay {
		return
	}
	every := 5 * time.Second
	if p.tty {
		every = 100 * time.Millisecond
	}
	if p.drawn && now.Sub(p.lastDraw) < every && p.done < p.total {
		return
	}
	p.lastDraw, p.drawn = now, true
	p.draw(now)
	p.drewDone = p.done
}

func (p *progressBar) draw(now time.Time) {
	el := now.Sub(p.start).Seconds()
	frac := 0.0
	if p.total > 0 {
		frac = float64(p.done) / float64(p.total)
	}
	eta := ""
	if frac > 0 && frac < 1 {
		eta = fmt.Sprintf(" eta %.0fs", el/frac-el)
	}
	if p.tty {
		const width = 30
		fill := int(frac * width)
		fmt.Fprintf(p.w, "\r%-14s [%s%s] %d/%d %.1fs%s\x1b[K", p.label, strings.Repeat("=", fill), strings.Repeat(" ", width-fill), p.done, p.total, el, eta)
	} else {
		fmt.Fprintf(p.w, "%s: %d/%d (%.0f%%) %.1fs%s\n", p.label, p.done, p.total, 100*frac, el, eta)
	}
}

// Done finishes the line (terminal) once the step is over.
func (p *progressBar) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.quiet || !p.drawn {
		return
	}
	if p.drewDone != p.done {
		p.draw(time.Now())
	}
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

// Epoch prints one line per finished training epoch
// (pipeline.EpochProgress): training is long, and its loss curve is what
// a user watches.
func (p *progressBar) Epoch(e train.Epoch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.quiet {
		return
	}
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
	val := ""
	if !math.IsNaN(e.ValLoss) {
		val = fmt.Sprintf(" val %.5g", e.ValLoss)
	}
	fmt.Fprintf(p.w, "%s epoch %d/%d loss %.5g%s lr %.3g %.0fs eta %.0fs\n", e.Stage, e.Epoch, e.Epochs, e.Loss, val, e.LR, e.Elapsed.Seconds(), e.ETA.Seconds())
	p.drawn = false
}
