package main

import (
	"fmt"
	"io"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// show prints the analysis of a capture: one line per exchange, then connections and findings.
func show(w io.Writer, path string, now time.Duration) error {
	res, err := recorder.LoadCapture(path)
	if err != nil {
		return err
	}
	a := analysis.New(analysis.Options{})
	var last time.Time
	for _, ex := range analysis.SettleOrder(res.Exchanges) {
		a.Observe(ex)
		if e := ex.Start.Add(ex.Timings.Total); e.After(last) {
			last = e
		}
	}
	if now > 0 {
		a.SetNow(last.Add(now))
	}
	for _, ex := range res.Exchanges {
		in := a.Info(ex.ID)
		fmt.Fprintf(w, "%3d %-8s %-6s %-48.48s %3d %-18s %-8s %-11s %-4s %s\n", ex.ID, ex.Kind, ex.Method, ex.Path(), ex.Status,
			in.Stage, in.Status, in.Client, in.Connection, in.Era)
	}
	rep := a.Report()
	for _, c := range rep.Connections {
		fmt.Fprintf(w, "connection %s client=%s name=%q ua=%q era=%s protocol=%s clientId=%s token=%s mcp=%s exchanges=%v\n",
			c.ID, c.Client, c.ClientName, c.UserAgent, c.Era, c.Protocol, c.ClientID, c.Token, c.MCPURL, c.Exchanges)
		for _, s := range c.Stages {
			fmt.Fprintf(w, "   %-18s %-8s n=%d last=%d\n", s.Stage, s.Status, s.Count, s.Exchange)
		}
	}
	for _, f := range rep.Findings {
		fmt.Fprintf(w, "! %s %s [%s #%d x%d fault=%q] %s — %s\n", f.Severity, f.Rule, f.Connection, f.ExchangeID, f.Count, f.Toggle, f.Summary, f.Fix)
	}
	return nil
}
