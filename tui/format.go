package tui

import (
	"fmt"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"net/http"
	"strconv"
	"time"
)

// fmtDur writes a duration in at most 6 cells: 850µs, 12ms, 1.2s, 3m05s.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Millisecond:
		return strconv.Itoa(int(d/time.Microsecond)) + "µs"
	case d < time.Second:
		return strconv.Itoa(int(d/time.Millisecond)) + "ms"
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// statusStyle is the colour of a status class.
func (s *Styles) statusStyle(c statusClass) Ink {
	switch c {
	case class2xx, class1xx:
		return s.Status2xx
	case class3xx:
		return s.Status3xx
	case class4xx:
		return s.Status4xx
	case class5xx, classError:
		return s.Status5xx
	}
	return s.Pending
}

// statusText is the status column: the code, "…" while waiting, ERR without a response.
func statusText(r *row) string {
	switch r.class {
	case classPending:
		return "…"
	case classError:
		if r.status == 0 {
			return "ERR"
		}
	}
	return strconv.Itoa(int(r.status))
}

// durText is the duration column.
func durText(r *row) string {
	switch {
	case r.flags&rowPending != 0:
		return "…"
	case r.flags&rowStreaming != 0:
		return "live"
	}
	return fmtDur(r.dur)
}

// statusLine is "200 OK".
func statusLine(code int) string {
	if t := http.StatusText(code); t != "" {
		return strconv.Itoa(code) + " " + t
	}
	return strconv.Itoa(code)
}

// stageMark is ✓, ✗ or · for a stage status.
func (s *Styles) stageMark(st analysis.StageStatus) string {
	switch st {
	case analysis.StatusOK:
		return s.OK.Render("✓")
	case analysis.StatusFailed:
		return s.Failed.Render("✗")
	case analysis.StatusSkipped:
		return s.Waiting.Render("-")
	}
	return s.Waiting.Render("·")
}

// sevStyle is the colour of a severity.
func (s *Styles) sevStyle(sev analysis.Severity) Ink {
	switch sev {
	case analysis.SeverityError:
		return s.SevError
	case analysis.SeverityWarn:
		return s.SevWarn
	}
	return s.SevInfo
}

// sevMark is a one-cell mark for a severity.
func sevMark(sev analysis.Severity) string {
	switch sev {
	case analysis.SeverityError:
		return "✗"
	case analysis.SeverityWarn:
		return "!"
	case analysis.SeverityInfo:
		return "i"
	}
	return " "
}

// plural writes "1 exchange", "2 exchanges".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
