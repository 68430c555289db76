// Package progress shows the state of work done in parallel: live bars on a
// terminal (cheggaaa/pb), plain lines everywhere else (CI logs, pipes, files).
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/cheggaaa/pb/v3"
	"github.com/cheggaaa/pb/v3/termutil"
	"golang.org/x/term"
)

// State is where one item of work stands.
type State int

// The states an item moves through. A build goes through Compiling and
// Verifying to Done or UpToDate; a release through Publishing and Verifying
// to Published or Skipped; a staged release through Staging to Staged or
// Skipped. Done and the states after it are final.
const (
	Queued State = iota
	Compiling
	Publishing
	Verifying
	Staging
	Done
	UpToDate
	Failed
	Canceled
	Published
	Skipped
	Staged
)

// String names the state as the output shows it.
func (s State) String() string {
	switch s {
	case Queued:
		return "queued"
	case Compiling:
		return "compiling"
	case Verifying:
		return "verifying"
	case Done:
		return "done"
	case UpToDate:
		return "up to date"
	case Failed:
		return "failed"
	case Canceled:
		return "canceled"
	case Publishing:
		return "publishing"
	case Published:
		return "published"
	case Skipped:
		return "skipped"
	case Staging:
		return "staging"
	case Staged:
		return "staged"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Final reports whether no state follows s.
func (s State) Final() bool { return s >= Done }

// Reporter shows progress. Its methods may be called from several goroutines,
// but Start comes first and Stop last.
type Reporter interface {
	// Start announces the work: a title line and the items in display order.
	Start(title string, items []string)
	// Update reports that item is now in state s; detail, possibly empty, adds
	// facts such as the binary's size and the time taken.
	Update(item string, s State, detail string)
	// Stop ends the display with a summary line.
	Stop()
}

// Discard is a Reporter that shows nothing: a stage's default when its
// caller wants no progress.
var Discard Reporter = discard{}

type discard struct{}

func (discard) Start(string, []string)       {}
func (discard) Update(string, State, string) {}
func (discard) Stop()                        {}

// Auto returns bars when [UseBars] says so and a terminal can be driven,
// otherwise plain lines on stdout.
func Auto(stdout, stderr *os.File, getenv func(string) string) Reporter {
	if UseBars(term.IsTerminal(int(stdout.Fd())), term.IsTerminal(int(stderr.Fd())), getenv) {
		return NewBars(stderr, stdout)
	}
	return NewPlain(stdout)
}

// UseBars decides whether to draw live bars: only when both stdout and stderr
// are terminals, CI is unset and TERM is not "dumb". Anything else gets plain
// lines, which read well in logs and contain no escape codes.
func UseBars(stdoutIsTerminal, stderrIsTerminal bool, getenv func(string) string) bool {
	return stdoutIsTerminal && stderrIsTerminal && getenv("CI") == "" && getenv("TERM") != "dumb"
}

// counts tallies final states for the summary line.
type counts struct {
	total int
	n     map[State]int
}

func newCounts(total int) counts { return counts{total: total, n: map[State]int{}} }

func (c *counts) add(s State) { c.n[s]++ }

func (c *counts) finished() int {
	sum := 0
	for _, n := range c.n {
		sum += n
	}
	return sum
}

// summary names the final states in the summary line, in its order.
var summary = []struct {
	s    State
	what string
}{{Done, "built"}, {UpToDate, "up to date"}, {Published, "published"}, {Staged, "staged"}, {Skipped, "skipped"}, {Failed, "failed"}, {Canceled, "canceled"}}

func (c *counts) String() string {
	parts := []string{fmt.Sprintf("%d/%d finished", c.finished(), c.total)}
	for _, p := range summary {
		if n := c.n[p.s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, p.what))
		}
	}
	return strings.Join(parts, ", ")
}

// Plain writes one line per state change, with no escape codes.
type Plain struct {
	mu     sync.Mutex
	w      io.Writer
	width  int
	counts counts
}

// NewPlain returns a Reporter that writes lines to w.
func NewPlain(w io.Writer) *Plain { return &Plain{w: w} }

// Start implements Reporter.
func (p *Plain) Start(title string, items []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts = newCounts(len(items))
	p.width = longest(items)
	fmt.Fprintln(p.w, title)
}

// Update implements Reporter.
func (p *Plain) Update(item string, s State, detail string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := fmt.Sprintf("%-*s  %s", p.width, item, s)
	if detail != "" {
		line += ": " + detail
	}
	if s.Final() {
		p.counts.add(s)
		line += fmt.Sprintf(" [%d/%d]", p.counts.finished(), p.counts.total)
	}
	fmt.Fprintln(p.w, line)
}

// Stop implements Reporter.
func (p *Plain) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w, p.counts.String())
}

// Bars draws one live line per item and an overall count on a terminal. It
// falls back to plain lines on fallback when the terminal cannot be driven.
type Bars struct {
	term     io.Writer
	fallback io.Writer

	mu      sync.Mutex
	pool    *pb.Pool
	plain   *Plain // non-nil once the pool failed to start
	overall *pb.ProgressBar
	gauge   bool // the overall bar is drawn here, at gaugeCells, not sized by pb
	bars    map[string]*pb.ProgressBar
	counts  counts
}

// NewBars returns a Reporter drawing on the terminal tty; fallback gets plain
// lines if the bars cannot start.
func NewBars(tty, fallback io.Writer) *Bars { return &Bars{term: tty, fallback: fallback} }

// terminalColumns is the width pb will draw at: that of the controlling
// terminal, or 0 when it reports none or cannot be asked.
func terminalColumns() int {
	cols, err := termutil.TerminalWidth()
	if err != nil {
		return 0
	}
	return cols
}

const (
	itemTemplate    = `{{string . "label"}} {{string . "state"}}`
	overallTemplate = `{{string . "label"}} {{bar . "[" "=" ">" " " "]"}} {{counters . }} {{etime . }}`
	// gaugeTemplate is the overall line when the terminal reports no width:
	// pb sizes its bar to the terminal, which would leave nothing to draw.
	gaugeTemplate = `{{string . "label"}} {{string . "gauge"}} {{counters . }} {{etime . }}`
	// gaugeCells is the gauge's width, that of pb's bar when it is not sized.
	gaugeCells = 30
)

// gauge draws done of total as a bar of cells characters between brackets.
func gauge(done, total, cells int) string {
	filled := cells
	if total > 0 && done < total {
		filled = done * cells / total
	}
	bar := strings.Repeat("=", filled)
	if filled < cells {
		bar += ">" + strings.Repeat(" ", cells-filled-1)
	}
	return "[" + bar + "]"
}

// Start implements Reporter.
func (b *Bars) Start(title string, items []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.counts = newCounts(len(items))
	width := longest(items)
	b.bars = make(map[string]*pb.ProgressBar, len(items))
	all := make([]*pb.ProgressBar, 0, len(items)+1)
	for _, it := range items {
		bar := pb.New(1).SetTemplateString(itemTemplate).
			Set("label", fmt.Sprintf("%-*s", width, it)).Set("state", Queued.String())
		b.bars[it] = bar
		all = append(all, bar)
	}
	b.overall = pb.New(len(items)).Set("label", fmt.Sprintf("%-*s", width, "total"))
	// Terminals that report 0 columns (some serial consoles, CI runners and
	// containers) get a gauge of a fixed width.
	b.gauge = terminalColumns() <= 0
	if b.gauge {
		b.overall.SetTemplateString(gaugeTemplate).Set("gauge", gauge(0, len(items), gaugeCells))
	} else {
		b.overall.SetTemplateString(overallTemplate)
	}
	all = append(all, b.overall)
	fmt.Fprintln(b.term, title)
	pool := pb.NewPool(all...)
	pool.Output = b.term
	if err := pool.Start(); err != nil {
		b.plain = NewPlain(b.fallback)
		b.plain.width, b.plain.counts = width, b.counts
		return
	}
	b.pool = pool
}

// Update implements Reporter.
func (b *Bars) Update(item string, s State, detail string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.plain != nil {
		b.plain.Update(item, s, detail)
		return
	}
	bar := b.bars[item]
	if bar == nil {
		return
	}
	text := s.String()
	if detail != "" {
		text += ": " + detail
	}
	bar.Set("state", text)
	if s.Final() {
		b.counts.add(s)
		bar.SetCurrent(1).Finish()
		b.overall.Increment()
		if b.gauge {
			b.overall.Set("gauge", gauge(b.counts.finished(), b.counts.total, gaugeCells))
		}
	}
}

// Stop implements Reporter.
func (b *Bars) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.plain != nil {
		b.plain.Stop()
		return
	}
	for _, bar := range b.bars {
		if !bar.IsFinished() {
			bar.Finish()
		}
	}
	b.overall.Finish()
	_ = b.pool.Stop()
	fmt.Fprintln(b.term, b.counts.String())
}

// longest is the length of the longest item, for aligned columns.
func longest(items []string) int {
	n := 0
	for _, it := range items {
		n = max(n, len(it))
	}
	return n
}
