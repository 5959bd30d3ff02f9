package analysis

import (
	"strings"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// Analyzer analyses exchanges as they arrive. Observe is called with every update of an exchange (later
// snapshots of the same id replace earlier ones). It is not safe for concurrent use.
type Analyzer struct {
	opts Options
	exs  map[uint64]*recorder.Exchange
	ids  []uint64
}

// New returns an empty analyzer.
func New(opts Options) *Analyzer {
	if opts.MCPPath == "" {
		opts.MCPPath = "/mcp"
	}
	return &Analyzer{opts: opts, exs: map[uint64]*recorder.Exchange{}}
}

// Observe takes a new or updated exchange.
func (a *Analyzer) Observe(ex *recorder.Exchange) {
	if _, ok := a.exs[ex.ID]; !ok {
		a.ids = append(a.ids, ex.ID)
	}
	a.exs[ex.ID] = ex
}

// Info returns what the analysis says of one exchange.
func (a *Analyzer) Info(id uint64) Info {
	ex := a.exs[id]
	if ex == nil {
		return Info{}
	}
	return Info{Stage: StageOf(ex, a.opts.MCPPath), Client: ClientUnknown}
}

// Report returns the analysis so far.
func (a *Analyzer) Report() *Report {
	return &Report{}
}

// Analyze is the batch form: every exchange observed, then the report.
func Analyze(exs []*recorder.Exchange, opts Options) *Report {
	a := New(opts)
	for _, ex := range exs {
		a.Observe(ex)
	}
	return a.Report()
}

// StageOf returns the stage of one exchange.
func StageOf(ex *recorder.Exchange, mcpPath string) Stage {
	path := ex.Path()
	switch {
	case strings.HasPrefix(path, "/.well-known/oauth-protected-resource"):
		return StageResourceMetadata
	case strings.HasPrefix(path, "/.well-known/oauth-authorization-server"), strings.HasPrefix(path, "/.well-known/openid-configuration"):
		return StageAuthMetadata
	}
	if path != mcpPath {
		return StageOther
	}
	if ex.Status == 401 {
		return StageChallenge
	}
	switch m := ex.RPCMethod(); {
	case m == "server/discover":
		return StageDiscover
	case m == "initialize":
		return StageInitialize
	case m == "notifications/initialized":
		return StageInitialized
	case strings.HasSuffix(m, "/list"):
		return StageList
	case m == "tools/call":
		return StageCall
	}
	switch ex.Method {
	case "GET":
		return StageStream
	case "DELETE":
		return StageTerminate
	case "HEAD":
		return StageProbe
	}
	return StageOther
}
