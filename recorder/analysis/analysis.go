// Package analysis tells the story of recorded exchanges: the handshake stage of each exchange, the client behind
// it, the connections (one client's run through the stages), and findings (what went wrong, why, and the fix).
//
// Everything here is a pure function of the exchanges it is given (and of Options.Now for rules about
// something that never happened). The Analyzer is incremental so that the TUI and the headless printer can feed
// it one update at a time; Analyze is the batch form used by exporters and tests.
package analysis

import (
	"fmt"
	"slices"
	"time"
)

// Stage is a step of a handshake; the words are DESIGN.md's.
type Stage string

// The stages, in handshake order (legacy era, then the 2026-07-28 stateless era's discover).
const (
	StageProbe            Stage = "probe"             // HEAD/GET reachability
	StageChallenge        Stage = "challenge"         // 401 + WWW-Authenticate
	StageResourceMetadata Stage = "resource-metadata" // RFC 9728
	StageAuthMetadata     Stage = "auth-metadata"     // RFC 8414 / OpenID discovery
	StageRegister         Stage = "register"          // RFC 7591
	StageClientMetadata   Stage = "client-metadata"   // CIMD fetch (outbound)
	StageAuthorize        Stage = "authorize"
	StageLogin            Stage = "login" // the authorization server's own pages (proxy mode, an external server)
	StageConsent          Stage = "consent"
	StageToken            Stage = "token"
	StageRefresh          Stage = "refresh"
	StageRevoke           Stage = "revoke"
	StageDiscover         Stage = "discover" // server/discover
	StageInitialize       Stage = "initialize"
	StageInitialized      Stage = "initialized"
	StageList             Stage = "list" // tools/prompts/resources list
	StageCall             Stage = "call" // tools/call
	StageStream           Stage = "stream"
	StageTerminate        Stage = "terminate"
	StageOther            Stage = "other"
)

// stageOrder lists every stage in handshake order; numStages follows from it.
var stageOrder = [...]Stage{StageProbe, StageChallenge, StageResourceMetadata, StageAuthMetadata, StageRegister,
	StageClientMetadata, StageAuthorize, StageLogin, StageConsent, StageToken, StageRefresh, StageRevoke, StageDiscover,
	StageInitialize, StageInitialized, StageList, StageCall, StageStream, StageTerminate, StageOther}

// numStages is the number of stages (a constant: the length of an array).
const numStages = len(stageOrder)

// StageOrder returns every stage in handshake order (a copy).
func StageOrder() []Stage { return slices.Clone(stageOrder[:]) }

// ClientKind names a known MCP client.
type ClientKind string

// The clients the analysis recognises.
const (
	ClientClaude     ClientKind = "claude"      // Claude web / Desktop connectors (Anthropic's backend)
	ClientClaudeCode ClientKind = "claude-code" // Claude Code CLI
	ClientChatGPT    ClientKind = "chatgpt"
	ClientCursor     ClientKind = "cursor"
	ClientVSCode     ClientKind = "vscode"
	ClientMCPRemote  ClientKind = "mcp-remote"
	ClientInspector  ClientKind = "inspector"
	ClientUnknown    ClientKind = "unknown"
)

// Severity of a finding.
type Severity string

// Severities, worst first.
const (
	SeverityError Severity = "error" // this breaks the handshake
	SeverityWarn  Severity = "warn"  // this breaks some clients, or will
	SeverityInfo  Severity = "info"  // worth knowing (a quirk, a fallback that worked)
)

// Finding is a diagnosis attached to an exchange or a connection.
type Finding struct {
	Rule       string   `json:"rule"`     // stable id, e.g. "challenge-no-resource-metadata"
	Severity   Severity `json:"severity"` // error, warn or info
	Summary    string   `json:"summary"`  // one sentence: what went wrong
	Fix        string   `json:"fix"`      // what to change
	Source     string   `json:"source"`   // spec section, RFC, or issue it comes from
	ExchangeID uint64   `json:"exchange,omitempty"`
	Connection string   `json:"connection,omitempty"`
	// Toggle names the toggle that caused it, when an exchange records that a toggle altered it.
	Toggle string `json:"toggle,omitempty"`
	// At is when it happened: the start of ExchangeID.
	At time.Time `json:"at,omitzero"`
	// Count is how many exchanges of the connection it was seen on (a rule fires once per connection; later
	// occurrences count). ExchangeID is the first of them.
	Count int `json:"count,omitempty"`
}

// Key identifies a finding across reports (the rule and its first exchange); printers use it to print each once.
func (f Finding) Key() string { return fmt.Sprintf("%s#%d", f.Rule, f.ExchangeID) }

// StageStatus is how far a connection got with a stage.
type StageStatus string

// Stage statuses.
const (
	StatusPending StageStatus = "pending" // not seen (yet)
	StatusOK      StageStatus = "ok"
	StatusFailed  StageStatus = "failed"
	StatusSkipped StageStatus = "skipped" // not needed on this path (e.g. register when CIMD was used)
)

// StageState is one stage of a connection.
type StageState struct {
	Stage    Stage         `json:"stage"`
	Status   StageStatus   `json:"status"`
	At       time.Time     `json:"at,omitzero"`        // first exchange of the stage
	Duration time.Duration `json:"duration,omitzero"`  // of the last exchange of the stage
	Exchange uint64        `json:"exchange,omitempty"` // last exchange of the stage
	Count    int           `json:"count,omitempty"`    // exchanges of the stage
}

// Connection is one client's run through the stages, grouped by client id, token, session and user agent.
type Connection struct {
	ID         string     `json:"id"`
	Client     ClientKind `json:"client"`
	ClientName string     `json:"clientName,omitempty"` // clientInfo name/version, or the registered client_name
	UserAgent  string     `json:"userAgent,omitempty"`
	Era        string     `json:"era,omitempty"` // "legacy", "2026" or "" (not yet known)
	Protocol   string     `json:"protocol,omitempty"`
	ClientID   string     `json:"clientId,omitempty"`
	SessionID  string     `json:"sessionId,omitempty"`
	// Token names the access token in use by a hash prefix ("sha256:1a2b3c4d5e6f"); the token is never kept.
	Token string `json:"token,omitempty"`
	// MCPURL is the MCP endpoint URL the client used (scheme, host, path).
	MCPURL    string       `json:"mcpUrl,omitempty"`
	Start     time.Time    `json:"start"`
	Last      time.Time    `json:"last"`
	Stages    []StageState `json:"stages"` // in handshake order
	Exchanges []uint64     `json:"exchanges"`
	Findings  []Finding    `json:"findings,omitempty"`
}

// Report is the analysis of a set of exchanges.
type Report struct {
	Connections []*Connection `json:"connections"`
	Findings    []Finding     `json:"findings"` // all findings, connection ones included, in order of appearance
}

// Options of the analysis.
type Options struct {
	// Now is the time rules about absence ("authorize never followed by a token request") are judged at.
	// Zero means the time of the last exchange seen.
	Now time.Time
	// MCPPath is the MCP endpoint's path (default "/mcp"); in proxy mode, the upstream's.
	MCPPath string
	// Grace is how long rules about absence wait before they fire (default 30s).
	Grace time.Duration
	// Window is how far apart two exchanges that share no key (client id, token, session) may be and still be
	// grouped into one connection by their user agent (default 5 minutes).
	Window time.Duration
	// MaxExchanges is the analysis' window: it keeps a record of the newest MaxExchanges exchanges at most
	// (default DefaultWindow), whatever the store holds (up to 1,000,000). Past it the oldest completed ones are
	// forgotten, as Analyzer.Forget forgets them: Info no longer knows them (the TUI's row keeps the stage, client
	// and connection the analysis gave it), and a connection stays, with its findings and what it learned from
	// every exchange, until its last exchange is forgotten; then it and its findings leave the report (a printer
	// has printed them; the capture file keeps the exchanges, and `mcpwatch open` or export analyses them again).
	MaxExchanges int
}

// DefaultWindow is the exchanges an analyzer keeps a record of by default (Options.MaxExchanges). A handshake
// is tens of exchanges and a connection keeps what it learned from the exchanges it forgot, so the window only has
// to span the handshakes in progress; it bounds the analysis' memory apart from the store's count (1,000,000):
// 186 B an exchange held for sessions of tools/calls (BenchmarkAnalyzerHeap), about 1,240 B for back-to-back
// handshakes of eleven exchanges each (each its own connection with its findings: tui's BenchmarkMemory), so
// 4–25 MB at the window.
const DefaultWindow = 20_000

// Info is what the analysis says of one exchange.
type Info struct {
	Stage      Stage
	Client     ClientKind
	Connection string
	Findings   []Finding
	Status     StageStatus // how the exchange went for its stage
	Era        string      // "legacy", "2026" or "" (not an MCP exchange, or not known)
}
