// Package toggle holds the toggles: wire-level changes that break one thing on purpose, so that a user can watch
// how a client reacts. The catalogue says what each toggle changes, what it reveals and where the quirk comes
// from; a Set holds the active ones (switched live from the TUI, the command line or the control socket); the
// middleware applies them inside the capture, so the recorder sees the altered wire and each exchange records
// which toggles altered it, before and after.
package toggle

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// Group of a toggle.
const (
	GroupTransport = "transport"
	GroupDiscovery = "discovery"
	GroupAuth      = "authorization"
)

// Where a toggle applies.
const (
	ModeServe = "serve" // the embedded server
	ModeProxy = "proxy" // in front of an upstream
)

// Def is one toggle of the catalogue.
type Def struct {
	Name    string
	Group   string
	Arg     string // "" when the toggle takes no value, else what the value is: DURATION, VERSION, ...
	Changes string // what it changes on the wire
	Reveals string // what watching the client then reveals
	Source  string // where the quirk comes from
	Modes   []string
	// Causes are the rules of recorder/analysis the toggle can produce: what it changes on the wire and what a
	// client then does that a rule sees (none: nil). A finding names a toggle that altered its exchange only for
	// these rules.
	Causes []analysis.RuleID
	// parse validates a value and returns its parsed form.
	parse func(string) (any, error)
}

// AppliesTo reports whether the toggle works in mode.
func (d Def) AppliesTo(mode string) bool { return slices.Contains(d.Modes, mode) }

var both = []string{ModeServe, ModeProxy}
var serveOnly = []string{ModeServe}

// Known protocol revisions, newest first.
var versions = []string{"2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}

// failStages are the stages fail= accepts (DESIGN.md's words).
var failStages = []string{"probe", "challenge", "resource-metadata", "auth-metadata", "register", "client-metadata",
	"authorize", "consent", "token", "refresh", "revoke", "discover", "initialize", "initialized", "list", "call",
	"stream", "terminate"}

// tokenErrors are the RFC 6749 §5.2 (and RFC 8707) error codes token-error accepts.
var tokenErrors = []string{"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
	"unsupported_grant_type", "invalid_scope", "invalid_target", "server_error", "temporarily_unavailable"}

// registry holds the toggles in declaration order (toggle is called as each variable below is initialized, and Go
// initializes variables in declaration order once what they depend on is: a toggle whose parser read a variable
// declared after it would come late, which TestRegistry catches) and byName finds one.
var (
	registry []*Def
	byName   = map[string]*Def{}
)

// The toggles, grouped, in the order `mcpwatch toggles` prints them. Each is one value: declare a toggle here with
// toggle(Def{…}), and refer to it by its variable (set.Has(toggle.Stateless)), so that a misspelt toggle is a
// compile error. Causes names, by the analysis's constants, the rules the toggle can cause; toggle registers them
// with the analysis (the recorder cannot import the server), and an unknown rule id panics at start.
var (
	// transport / session
	OmitSessionID = toggle(Def{Name: "omit-session-id", Group: GroupTransport, Modes: both,
		Changes: "removes the Mcp-Session-Id header from responses (initialize included)",
		Reveals: "whether the client needs a session id: the Claude web app stops after initialize without one",
		Causes:  []analysis.RuleID{analysis.RuleInitializeNoSessionID},
		Source:  "seed write-up (\"the Claude app requires it\"); MCP 2025-11-25 basic/transports §Session Management"})
	Stateless = toggle(Def{Name: "stateless", Group: GroupTransport, Modes: serveOnly,
		Changes: "never issues sessions: legacy requests are served by the stateless handler, initialize gets no Mcp-Session-Id, GET and DELETE get 405",
		Reveals: "whether a legacy client works with a session-less server (the 2026-07-28 direction)",
		Causes:  []analysis.RuleID{analysis.RuleInitializeNoSessionID, analysis.RuleGetStream405, analysis.RuleToolsNeverListed},
		Source:  "MCP 2026-07-28 basic/index §Statelessness; SEP-2567"})
	StrictVersionHeader = toggle(Def{Name: "strict-version-header", Group: GroupTransport, Modes: serveOnly,
		Changes: "refuses a 2026-07-28 request whose MCP-Protocol-Version header is a legacy revision (2025-11-25) while _meta says 2026-07-28 with 400 -32020 HeaderMismatch, as a strict stateless server does (by default mcpwatch serves it by its _meta version)",
		Reveals: "what Claude does against a strict 2026-07-28 server: after server/discover its tools/list and tool calls carry MCP-Protocol-Version: 2025-11-25 and fail with -32020 while the connector says connected",
		Causes:  []analysis.RuleID{analysis.RuleProtocolVersionHeaderMetaMismatch},
		Source:  "anthropics/claude-code#93290; MCP 2026-07-28 basic/transports §Protocol Version Header (HeaderMismatch)"})
	RejectDiscover = toggle(Def{Name: "reject-discover", Group: GroupTransport, Modes: both,
		Changes: "answers server/discover with -32601 Method not found, as a pre-2026 server does",
		Reveals: "whether the client falls back to initialize (Claude opens with server/discover since Aug 2026)",
		Causes:  []analysis.RuleID{analysis.RuleDiscoverFallback, analysis.RuleDiscoverNoFallback},
		Source:  "hauptsacheNet/typo3-mcp-server#110; go-sdk PR #1014 (fallback on any discover error)"})
	ProtocolVersion = toggle(Def{Name: "protocol-version", Group: GroupTransport, Arg: "VERSION", Modes: both, parse: parseVersion,
		Changes: "answers initialize with protocolVersion VERSION (and server/discover with supportedVersions [VERSION]) whatever was asked",
		Reveals: "how the client handles a version it did not ask for: disconnect, downgrade, or carry on with the wrong header",
		Causes:  []analysis.RuleID{analysis.RuleProtocolVersionMismatch, analysis.RuleProtocolVersionHeaderMissing},
		Source:  "MCP 2025-11-25 basic/lifecycle §Version Negotiation; CodeWithCJ/SparkyFitness#2155"})
	SSEResponses = toggle(Def{Name: "sse-responses", Group: GroupTransport, Modes: both,
		Changes: "answers POSTs that would get application/json as text/event-stream (one event per message)",
		Reveals: "whether the client reads SSE answers to POSTs (required by the spec)",
		Causes:  []analysis.RuleID{analysis.RuleInitializedMissing, analysis.RuleToolsNeverListed},
		Source:  "MCP 2025-11-25 basic/transports §Sending Messages to the Server"})
	JSONResponses = toggle(Def{Name: "json-responses", Group: GroupTransport, Modes: both,
		Changes: "answers POSTs that would stream text/event-stream as one application/json response (notifications dropped)",
		Reveals: "whether the client handles plain JSON answers; a workaround for tunnels that buffer SSE",
		Causes:  nil, // no rule
		Source:  "cloudflare/cloudflared#1449; MCP 2025-11-25 basic/transports"})
	GetStream405 = toggle(Def{Name: "get-stream-405", Group: GroupTransport, Modes: both,
		Changes: "answers GET on the MCP endpoint with 405 Method Not Allowed (Allow: POST)",
		Reveals: "whether the client can live without the standalone stream (allowed by the spec; Claude Code 2.1.332 connects, an older report said 2.1.84 failed)",
		Causes:  []analysis.RuleID{analysis.RuleGetStream405},
		Source:  "anthropics/claude-code#39790; MCP 2025-11-25 basic/transports §Listening for Messages"})
	WrongJSONRPCID = toggle(Def{Name: "wrong-jsonrpc-id", Group: GroupTransport, Modes: both,
		Changes: "answers every JSON-RPC response with an id the client did not send",
		Reveals: "how the client reports an unmatched response (most hang until a timeout)",
		Causes:  []analysis.RuleID{analysis.RuleWrongJSONRPCID, analysis.RuleInitializedMissing, analysis.RuleToolsNeverListed},
		Source:  "seed write-up (\"the id has to match the request\"); JSON-RPC 2.0 §5"})
	DropToolsCapability = toggle(Def{Name: "drop-tools-capability", Group: GroupTransport, Modes: both,
		Changes: "removes capabilities.tools from the initialize and server/discover results",
		Reveals: "whether the client still asks for tools/list (the Claude web app does regardless)",
		Causes:  []analysis.RuleID{analysis.RuleToolsNeverListed},
		Source:  "seed write-up (\"it seems the Claude app always requests tools/list\")"})
	ToolsChanged = toggle(Def{Name: "tools-changed", Group: GroupTransport, Modes: serveOnly,
		Changes: "adds a tool (changed_tool) and sends notifications/tools/list_changed; unsetting removes it and notifies again",
		Reveals: "whether the client refetches tools on list_changed (the Claude web app caches tools per connector)",
		Causes:  nil, // no rule
		Source:  "seed write-up (\"it won't refetch them\"); MCP 2025-11-25 server/tools §List Changed Notification"})
	Slow = toggle(Def{Name: "slow", Group: GroupTransport, Arg: "DURATION", Modes: both, parse: parseDuration,
		Changes: "delays every response by DURATION (e.g. 5s)",
		Reveals: "the client's timeouts (Claude: ~30 s to connect, 300 s per tool call)",
		Causes:  []analysis.RuleID{analysis.RuleSlowResponse},
		Source:  "claude.com/docs/connectors/building (300 s timeout); anthropics/claude-ai-mcp#85"})
	Fail = toggle(Def{Name: "fail", Group: GroupTransport, Arg: "STAGE:STATUS", Modes: both, parse: parseFail,
		Changes: "answers every request of one handshake stage with an HTTP status (e.g. token:500, initialize:503)",
		Reveals: "what the client says and retries when that one step fails",
		// whatever a refused step of that stage looks like
		Causes: []analysis.RuleID{analysis.RuleServerError, analysis.RuleMetadataBehindAuth,
			analysis.RuleResourceMetadataUnreachable, analysis.RuleAuthMetadataUnreachable, analysis.RuleRegisterRejected,
			analysis.RuleAuthorizeFailed, analysis.RuleTokenMethodNotAllowed, analysis.RuleTokenError,
			analysis.RuleRefreshRejected, analysis.RuleInitializeFailed, analysis.RuleDiscoverFallback,
			analysis.RuleDiscoverNoFallback, analysis.RuleGetStream405, analysis.RuleMCPNotFound,
			analysis.RuleSessionNoReinit, analysis.RuleClientMetadataFetchFailed, analysis.RuleBotBlocked},
		Source: "the vague \"Authorization with the MCP server failed\" (anthropics/claude-ai-mcp#164)"})

	// discovery
	OmitResourceMetadata = toggle(Def{Name: "omit-resource-metadata", Group: GroupDiscovery, Modes: both,
		Changes: "removes resource_metadata from the 401 WWW-Authenticate challenge",
		Reveals: "whether the client probes the well-known URLs itself (Claude: \"Couldn't reach the MCP server\")",
		Causes:  []analysis.RuleID{analysis.RuleChallengeNoResourceMetadata},
		Source:  "MCP 2025-06-18 basic/authorization §Authorization Server Location; hoeloe15/imagine#36"})
	RelativeResourceMetadata = toggle(Def{Name: "relative-resource-metadata", Group: GroupDiscovery, Modes: both,
		Changes: "makes the challenge's resource_metadata a relative path (/.well-known/oauth-protected-resource/mcp)",
		Reveals: "whether the client resolves relative metadata URLs (Claude did not)",
		Causes:  []analysis.RuleID{analysis.RuleChallengeRelativeResourceMetadata, analysis.RuleResourceMetadataUnreachable},
		Source:  "anthropics/claude-ai-mcp#335, #134 (relative resource_metadata URL)"})
	NoResourceMetadata = toggle(Def{Name: "no-resource-metadata", Group: GroupDiscovery, Modes: both,
		Changes: "answers 404 on every RFC 9728 protected resource metadata path",
		Reveals: "the client's fallback: root auth-server metadata on the MCP origin, or giving up",
		Causes:  []analysis.RuleID{analysis.RuleResourceMetadataUnreachable},
		Source:  "RFC 9728; anthropics/claude-ai-mcp drafts/announcement-auth-server-metadata-fallback-deprecation.md"})
	ResourceMismatch = toggle(Def{Name: "resource-mismatch", Group: GroupDiscovery, Modes: both,
		Changes: "changes the protected resource metadata's resource to a URL other than the MCP endpoint (…/not-mcp)",
		Reveals: "whether the client validates resource (RFC 9728 §3.3; Claude silently rejects the document)",
		Causes:  []analysis.RuleID{analysis.RuleResourceMetadataMismatch, analysis.RuleResourceMismatch, analysis.RuleTokenInvalidTarget, analysis.RuleTokenRejected},
		Source:  "akutishevsky/withings-mcp#20; elgorro/aiquila#77; RFC 9728 §3.3"})
	NoAuthMetadata = toggle(Def{Name: "no-auth-metadata", Group: GroupDiscovery, Modes: both,
		Changes: "answers 404 on the authorization server metadata paths (RFC 8414 and OpenID discovery)",
		Reveals: "whether the client falls back to /authorize, /token, /register on the MCP origin (2025-03-26 rule)",
		Causes:  []analysis.RuleID{analysis.RuleAuthMetadataUnreachable},
		Source:  "MCP 2025-03-26 basic/authorization §Fallbacks for Servers without Metadata Discovery"})
	ScopeChallenge = toggle(Def{Name: "scope-challenge", Group: GroupDiscovery, Arg: "SCOPES", Modes: both, parse: parseScopes,
		Changes: "sets scope=\"SCOPES\" in the 401 challenge",
		Reveals: "which scope the client then asks for (without it Claude asks for every advertised scope)",
		Causes:  []analysis.RuleID{analysis.RuleInvalidScope},
		Source:  "tldraw/tldraw#10612; anthropics/claude-ai-mcp#840; MCP 2025-11-25 §Scope Selection Strategy"})

	// registration / authorization
	NoRegistration = toggle(Def{Name: "no-registration", Group: GroupAuth, Modes: both,
		Changes: "removes registration_endpoint from the auth-server metadata, answers 404 on registration, and advertises client_id_metadata_document_supported: false (refusing URL client ids), so the client has no registration path at all",
		Reveals: "what the client says when it cannot register (Claude: \"Couldn't register with X's sign-in service\"; Claude Code: \"Incompatible auth server: does not support dynamic client registration\"; the Inspector stops after the metadata)",
		Causes:  []analysis.RuleID{analysis.RuleAuthMetadataNoRegistration, analysis.RuleRegisterRejected, analysis.RuleRegistrationNeverAttempted},
		Source:  "anthropics/claude-ai-mcp#350; NateBJones-Projects/OB1#340 (\"Couldn't register with X's sign-in service\")"})
	NoCIMD = toggle(Def{Name: "no-cimd", Group: GroupAuth, Modes: both,
		Changes: "advertises client_id_metadata_document_supported: false and refuses URL client ids",
		Reveals: "whether the client falls back to dynamic registration (Claude does, silently)",
		Causes:  []analysis.RuleID{analysis.RuleAuthorizeFailed, analysis.RuleTokenInvalidClient, analysis.RuleRegistrationNeverAttempted},
		Source:  "brendanlong/lion-reader#1519; MCP 2025-11-25 §Client ID Metadata Documents"})
	RequireClientSecret = toggle(Def{Name: "require-client-secret", Group: GroupAuth, Modes: serveOnly,
		Changes: "registers every client as confidential (client_secret_post, a secret issued) and requires the secret at the token endpoint",
		Reveals: "whether the client ever sends the secret it was given (the Claude web app did not)",
		Causes:  []analysis.RuleID{analysis.RuleRegisterSecretUnused, analysis.RuleTokenInvalidClient},
		Source:  "seed write-up (\"could not get Claude to include the secret later\")"})
	RedirectAllow = toggle(Def{Name: "redirect-allow", Group: GroupAuth, Arg: "HOSTS", Modes: serveOnly, parse: parseHosts,
		Changes: "accepts registrations and authorize requests only for redirect URIs on HOSTS (comma-separated, e.g. claude.ai)",
		Reveals: "the redirect host the client really uses (claude.ai vs claude.com → redirect_uri mismatch)",
		Causes:  []analysis.RuleID{analysis.RuleRegisterRejected, analysis.RuleRedirectUriNotRegistered, analysis.RuleAuthorizeFailed, analysis.RuleAuthorizeError},
		Source:  "support.claude.com 11503834 (allowlist both claude.ai and claude.com); anthropics/claude-ai-mcp#431"})
	DenyConsent = toggle(Def{Name: "deny-consent", Group: GroupAuth, Modes: serveOnly,
		Changes: "answers every authorize request as if the user pressed Deny (error=access_denied)",
		Reveals: "what the client shows when the user refuses",
		Causes:  []analysis.RuleID{analysis.RuleConsentDenied},
		Source:  "RFC 6749 §4.1.2.1"})
	TokenError = toggle(Def{Name: "token-error", Group: GroupAuth, Arg: "CODE", Modes: both, parse: parseTokenError,
		Changes: "answers the token endpoint with 400 {\"error\": CODE} (invalid_grant, invalid_request, invalid_scope, ...)",
		Reveals: "what the client reports for each token error (\"mcp_token_exchange_failed\")",
		Causes: []analysis.RuleID{analysis.RuleTokenInvalidGrant, analysis.RuleTokenInvalidClient,
			analysis.RuleStaleClientID, analysis.RuleInvalidScope, analysis.RuleChallengeNoScope,
			analysis.RuleTokenInvalidTarget, analysis.RuleTokenError, analysis.RuleRefreshRejected},
		Source: "RFC 6749 §5.2; anthropics/claude-ai-mcp#340, #215"})
	ShortToken = toggle(Def{Name: "short-token", Group: GroupAuth, Arg: "DURATION", Modes: serveOnly, parse: parseDuration,
		Changes: "issues access tokens that expire after DURATION (e.g. 30s)",
		Reveals: "whether the client refreshes before or after expiry, or shows \"Connection has expired\"",
		Causes:  []analysis.RuleID{analysis.RuleTokenExpiredNoRefresh, analysis.RuleTokenRejected},
		Source:  "anthropics/claude-ai-mcp#228, #702, #840"})
	NoRefreshToken = toggle(Def{Name: "no-refresh-token", Group: GroupAuth, Modes: both,
		Changes: "removes refresh_token from token responses",
		Reveals: "what the client does when the access token expires and it cannot refresh",
		Causes:  []analysis.RuleID{analysis.RuleTokenExpiredNoRefresh},
		Source:  "anthropics/claude-ai-mcp#840, #253"})
	InvalidClientOnToken = toggle(Def{Name: "invalid-client-on-token", Group: GroupAuth, Modes: both,
		Changes: "answers the token endpoint with 401 {\"error\":\"invalid_client\"}",
		Reveals: "whether the client throws away its registration and registers again (documented for Claude)",
		Causes:  []analysis.RuleID{analysis.RuleTokenInvalidClient, analysis.RuleStaleClientID, analysis.RuleRefreshRejected},
		Source:  "support.anthropic.com 11503834 (return 401 invalid_client to force re-registration)"})
)

// Toggle is one toggle of the catalogue. The only Toggles are the variables above: a Toggle cannot be made from
// a string outside this package.
type Toggle struct{ d *Def }

// Name is the toggle's name, as --toggle, the control socket and a capture's exchanges spell it.
func (t Toggle) Name() string { return t.d.Name }

// Def returns what the catalogue says of the toggle (a copy).
func (t Toggle) Def() Def { return t.d.clone() }

// toggle declares a toggle of the catalogue; a name declared twice panics at start (every test would fail).
func toggle(d Def) Toggle {
	if _, dup := byName[d.Name]; dup {
		panic("toggle: " + d.Name + " declared twice")
	}
	p := &d
	analysis.RegisterToggle(d.Name, d.Causes)
	registry = append(registry, p)
	byName[d.Name] = p
	return Toggle{p}
}

func (d *Def) clone() Def {
	out := *d
	out.Modes = slices.Clone(d.Modes)
	out.Causes = slices.Clone(d.Causes)
	return out
}

// Toggles returns every toggle's definition, in catalogue order (copies).
func Toggles() []Def {
	out := make([]Def, len(registry))
	for i, d := range registry {
		out[i] = d.clone()
	}
	return out
}

// Lookup returns the definition of name.
func Lookup(name string) (Def, bool) {
	d, ok := byName[name]
	if !ok {
		return Def{}, false
	}
	return d.clone(), true
}

// names lists every toggle name.
func names() []string {
	out := make([]string, len(registry))
	for i, d := range registry {
		out[i] = d.Name
	}
	return out
}

// Spec is NAME or NAME=VALUE, as given to --toggle (or its alias --fault).
func (d Def) Spec() string {
	if d.Arg == "" {
		return d.Name
	}
	return d.Name + "=" + d.Arg
}

// ParseSpec splits NAME[=VALUE] and validates it against the catalogue, with an error that lists what is valid.
func ParseSpec(spec string) (Def, string, any, error) {
	name, value, hasValue := strings.Cut(strings.TrimSpace(spec), "=")
	d, ok := Lookup(name)
	if !ok {
		return Def{}, "", nil, fmt.Errorf("unknown toggle %q; valid toggles: %s", name, strings.Join(specs(), ", "))
	}
	return d.validate(value, hasValue)
}

func (d Def) validate(value string, hasValue bool) (Def, string, any, error) {
	if d.Arg == "" {
		if hasValue && value != "" {
			return Def{}, "", nil, fmt.Errorf("toggle %s takes no value (got %q)", d.Name, value)
		}
		return d, "", true, nil
	}
	if value == "" {
		return Def{}, "", nil, fmt.Errorf("toggle %s needs a value: %s", d.Name, d.Spec())
	}
	v, err := d.parse(value)
	if err != nil {
		return Def{}, "", nil, fmt.Errorf("toggle %s: %w", d.Spec(), err)
	}
	return d, value, v, nil
}

func specs() []string {
	out := make([]string, len(registry))
	for i, d := range registry {
		out[i] = d.Spec()
	}
	return out
}

func parseVersion(s string) (any, error) {
	// Any date-shaped string is allowed (a client's reaction to an unknown version is worth seeing).
	if _, err := time.Parse("2006-01-02", s); err != nil {
		return nil, fmt.Errorf("VERSION must be a protocol revision such as %s (got %q)", strings.Join(versions, ", "), s)
	}
	return s, nil
}

func parseDuration(s string) (any, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return nil, fmt.Errorf("DURATION must be positive, such as 500ms, 5s or 2m (got %q)", s)
	}
	return d, nil
}

// FailSpec is the parsed value of fail=STAGE:STATUS.
type FailSpec struct {
	Stage  string
	Status int
}

func parseFail(s string) (any, error) {
	stage, status, ok := strings.Cut(s, ":")
	if !ok {
		return nil, fmt.Errorf("want STAGE:STATUS, e.g. token:500 (got %q)", s)
	}
	if !slices.Contains(failStages, stage) {
		return nil, fmt.Errorf("unknown stage %q; stages: %s", stage, strings.Join(failStages, ", "))
	}
	n, err := strconv.Atoi(status)
	if err != nil || n < 400 || n > 599 {
		return nil, fmt.Errorf("STATUS must be an HTTP error status 400–599 (got %q)", status)
	}
	return FailSpec{Stage: stage, Status: n}, nil
}

func parseScopes(s string) (any, error) {
	f := strings.Fields(strings.ReplaceAll(s, ",", " "))
	if len(f) == 0 {
		return nil, fmt.Errorf("SCOPES must name at least one scope")
	}
	for _, sc := range f {
		if strings.ContainsAny(sc, "\"\\") {
			return nil, fmt.Errorf("scope %q may not contain quotes or backslashes", sc)
		}
	}
	return strings.Join(f, " "), nil
}

func parseHosts(s string) (any, error) {
	var hosts []string
	for _, h := range strings.Split(s, ",") {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		if strings.ContainsAny(h, "/ ") {
			return nil, fmt.Errorf("HOSTS are host names such as claude.ai,claude.com (got %q)", h)
		}
		hosts = append(hosts, h)
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("HOSTS must name at least one host")
	}
	return hosts, nil
}

func parseTokenError(s string) (any, error) {
	if !slices.Contains(tokenErrors, s) {
		return nil, fmt.Errorf("CODE must be one of %s (got %q)", strings.Join(tokenErrors, ", "), s)
	}
	return s, nil
}
