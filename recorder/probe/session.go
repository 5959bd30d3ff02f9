package probe

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/clients"
)

// Sink receives each recorded exchange in its inbound form (a capture file's Append).
type Sink func(*recorder.Exchange)

// RunAll plays each profile in turn against o.URL, judges each run with the analysis, and hands every exchange to
// sink in order.
func RunAll(ctx context.Context, profiles []*clients.Profile, o Options, sink Sink) []*Result {
	store := recorder.NewStore(recorder.StoreOptions{})
	rec := recorder.New(store, recorder.Options{})
	mcpPath := "/mcp"
	if u, err := url.Parse(o.URL); err == nil && u.Path != "" {
		mcpPath = u.Path
	}
	var out []*Result
	for _, p := range profiles {
		if ctx.Err() != nil {
			break
		}
		before := store.Stats().Total
		res := run(ctx, p, rec, o)
		_ = rec.Wait(ctx)
		var exs []*recorder.Exchange
		// this profile's exchanges only: the store builds each record it returns, so the earlier ones are not read
		for id, last := before+1, store.Stats().Total; id <= last; id++ {
			if ex := store.Get(id); ex != nil {
				in := asInbound(ex, p.ID)
				exs = append(exs, in)
				if sink != nil {
					sink(in)
				}
			}
		}
		judge(res, exs, mcpPath)
		out = append(out, res)
	}
	return out
}

// Failed reports whether any run failed a stage.
func Failed(rs []*Result) bool {
	for _, r := range rs {
		if r.Failed() {
			return true
		}
	}
	return false
}

// WriteText prints one line per stage of each run, with the findings (and their fixes) under the stage.
func WriteText(w io.Writer, rs []*Result) {
	for i, r := range rs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s (--as %s) → %s\n", r.Name, r.Client, r.URL)
		for _, s := range r.Stages {
			ex := ""
			if s.First != 0 {
				ex = fmt.Sprintf(" [#%d-%d]", s.First, s.Last)
				if s.First == s.Last {
					ex = fmt.Sprintf(" [#%d]", s.First)
				}
			}
			fmt.Fprintf(w, "  %-12s %-16s %s%s\n", s.Stage, s.Status, s.Detail, ex)
			for _, f := range s.Findings {
				fmt.Fprintf(w, "  %-12s   %s %s: %s\n", "", f.Severity, f.Rule, f.Summary)
				if f.Fix != "" {
					fmt.Fprintf(w, "  %-12s     fix: %s\n", "", f.Fix)
				}
			}
		}
	}
}

// WriteMatrix prints a client × stage table.
func WriteMatrix(w io.Writer, rs []*Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "client")
	for _, s := range stages {
		fmt.Fprintf(tw, "\t%s", s)
	}
	fmt.Fprintln(tw)
	for _, r := range rs {
		fmt.Fprint(tw, r.Client)
		for _, st := range stages {
			cell := "-"
			if s := r.Stage(st); s != nil {
				cell = short(s.Status)
			}
			fmt.Fprintf(tw, "\t%s", cell)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintln(w, "pass · FAIL · n/r = not reproducible (needs the real client; see its line) · skip")
}

func short(s Status) string {
	switch s {
	case Pass:
		return "pass"
	case Fail:
		return "FAIL"
	case NotReproducible:
		return "n/r"
	}
	return "skip"
}

// WriteJSON writes the results as one JSON document.
func WriteJSON(w io.Writer, rs []*Result, capture string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Capture string    `json:"capture,omitempty"`
		Failed  bool      `json:"failed"`
		Results []*Result `json:"results"`
	}{capture, Failed(rs), rs})
}

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Name    string       `xml:"name,attr"`
	Tests   int          `xml:"tests,attr"`
	Fails   int          `xml:"failures,attr"`
	Skips   int          `xml:"skipped,attr"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name   string      `xml:"name,attr"`
	Tests  int         `xml:"tests,attr"`
	Fails  int         `xml:"failures,attr"`
	Skips  int         `xml:"skipped,attr"`
	Time   string      `xml:"timestamp,attr"`
	Cases  []junitCase `xml:"testcase"`
	Output string      `xml:"system-out,omitempty"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	Output    string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes JUnit XML: a suite per client, a case per stage; not reproducible and skipped stages are
// skipped cases with the reason.
func WriteJUnit(w io.Writer, rs []*Result) error {
	all := junitSuites{Name: "mcpwatch probe"}
	for _, r := range rs {
		s := junitSuite{Name: r.Client, Time: r.Start.Format("2006-01-02T15:04:05")}
		for _, st := range r.Stages {
			var b strings.Builder
			for _, f := range st.Findings {
				fmt.Fprintf(&b, "%s %s: %s\n  fix: %s\n", f.Severity, f.Rule, f.Summary, f.Fix)
			}
			c := junitCase{Name: string(st.Stage), ClassName: "probe." + r.Client, Output: st.Detail}
			switch st.Status {
			case Fail:
				c.Failure = &junitMessage{Message: st.Detail, Text: b.String()}
				s.Fails++
			case NotReproducible, Skipped:
				c.Skipped = &junitMessage{Message: string(st.Status) + ": " + st.Detail}
				s.Skips++
			default:
				if b.Len() > 0 {
					c.Output += "\n" + b.String()
				}
			}
			s.Tests++
			s.Cases = append(s.Cases, c)
		}
		all.Tests += s.Tests
		all.Fails += s.Fails
		all.Skips += s.Skips
		all.Suites = append(all.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
