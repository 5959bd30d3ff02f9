package probe

import (
	"net/url"
	"slices"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// noteProbe marks an exchange the probe made; its value is the profile it played.
const noteProbe = "probe"

// probeAddr is the remote address the probe's exchanges carry in a capture: they left from this machine, and
// each profile's run is told apart from the next (the analysis joins requests from one address).
func probeAddr(profile string) string { return "probe-" + profile + ":0" }

// asInbound turns an exchange the probe's Transport recorded (outbound: a request this process made) into the
// form a server records a client's request in (inbound: a path, a Host, a remote address), so that the analysis,
// `mcpwatch open` and `export` read the probe's run as a client's. The probe's own note names the profile.
func asInbound(ex *recorder.Exchange, profile string) *recorder.Exchange {
	c := *ex
	c.Kind = recorder.Inbound
	if u, err := url.Parse(ex.URL); err == nil && u.Host != "" {
		c.Host = u.Host
		c.URL = ex.Target()
	}
	c.RemoteAddr = probeAddr(profile)
	c.Notes = append(slices.Clip(ex.Notes), recorder.Note{Key: noteProbe, Value: profile})
	return &c
}

// judge runs the recorder's analysis over a run's exchanges (in inbound form) and attaches each finding to the
// stage whose exchanges it was seen on; findings of the whole connection go to the last stage that ran.
func judge(res *Result, exs []*recorder.Exchange, mcpPath string) *analysis.Report {
	a := analysis.New(analysis.Options{MCPPath: mcpPath})
	for _, ex := range exs {
		a.Observe(ex)
	}
	a.End()
	rep := a.Report()
	last := -1
	for i, s := range res.Stages {
		if s.First != 0 {
			last = i
		}
	}
	for _, f := range rep.Findings {
		placed := false
		for i := range res.Stages {
			s := &res.Stages[i]
			if s.First != 0 && f.ExchangeID >= s.First && f.ExchangeID <= s.Last {
				s.Findings = append(s.Findings, f)
				placed = true
				break
			}
		}
		if !placed && last >= 0 {
			res.Stages[last].Findings = append(res.Stages[last].Findings, f)
		}
	}
	explainFailure(res)
	failOnErrors(res)
	return rep
}

// failOnErrors fails a stage that passed with an error-severity finding attached: the server did something a
// client may stop at, so the stage is not a pass.
// A client that would register by its metadata document, against a server with no registration endpoint, is
// stopped by the probe (only the real client serves that document): the analysis then sees a client that never
// registered, which is the probe's stop, not the server's failure.
func failOnErrors(res *Result) {
	probeStopped := false
	if r := res.Stage(stageRegistration); r != nil && r.Status == NotReproducible && r.First == 0 {
		probeStopped = true
	}
	for i := range res.Stages {
		s := &res.Stages[i]
		if s.Status != Pass {
			continue
		}
		for _, f := range s.Findings {
			if probeStopped && f.Rule == "registration-never-attempted" {
				continue
			}
			if f.Severity == analysis.SeverityError {
				s.Status = Fail
				s.Detail += "; error " + f.Rule + ": " + f.Summary
				break
			}
		}
	}
}

// explainFailure moves the warnings and errors of the last stage that made requests to the stage that failed
// after it without making any (the client gave up there): they are what explains the failure.
func explainFailure(res *Result) {
	for i := range res.Stages {
		s := &res.Stages[i]
		if s.Status != Fail || s.First != 0 || len(s.Findings) > 0 {
			continue
		}
		for j := i - 1; j >= 0; j-- {
			prev := &res.Stages[j]
			if prev.First == 0 {
				continue
			}
			var keep []analysis.Finding
			for _, f := range prev.Findings {
				if f.Severity == analysis.SeverityInfo {
					keep = append(keep, f)
				} else {
					s.Findings = append(s.Findings, f)
				}
			}
			prev.Findings = keep
			break
		}
		return
	}
}
