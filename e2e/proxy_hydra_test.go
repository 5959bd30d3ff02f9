package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// hydraVersion is the Ory Hydra release the e2e tests run as an external authorization server.
const hydraVersion = "v2.3.0"

// proxyHydra builds Ory Hydra from its module, with SQLite (cgo) for its in-memory store (cached under the user's
// cache directory; the first build took 4.5 minutes here, without SQLite). Its go.mod replaces hydra-client-go by a directory the module zip does not carry: the published
// module of the same version is used instead. `go install` refuses a module with replace directives, and `go get
// -tool` would ignore them (Hydra needs its pop fork) and pull its whole dependency tree into this go.mod.
func proxyHydra(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "mcpwatch-e2e", "hydra-"+hydraVersion, "hydra")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	goCmd := func(dir string, args ...string) []byte {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=1")
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("go %v: %v\n%s", args, err, stderr)
		}
		return out
	}
	tmp := t.TempDir()
	var mod struct{ Dir string }
	if err := json.Unmarshal(goCmd(tmp, "mod", "download", "-json", "github.com/ory/hydra/v2@"+hydraVersion), &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download hydra: %v", err)
	}
	src := filepath.Join(tmp, "hydra")
	err = filepath.WalkDir(mod.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(mod.Dir, p)
		out := filepath.Join(src, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	goCmd(src, "mod", "edit", "-dropreplace=github.com/ory/hydra-client-go/v2")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	goCmd(src, "build", "-tags", "sqlite,sqlite_omit_load_extension", "-o", bin+".tmp", ".") // DSN=memory is SQLite
	if err := os.Rename(bin+".tmp", bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// proxyStartHydra runs Ory Hydra (in memory, --dev: plain http on loopback) with dynamic client registration,
// JWT access tokens and a login and consent app that accepts at once, and in front of it the MCP server of
// oidc-provider-as.mjs naming Hydra as its authorization server. It returns the MCP endpoint and Hydra's issuer.
func proxyStartHydra(t *testing.T) (string, string) {
	t.Helper()
	bin := proxyHydra(t)
	public, admin := proxyFreePort(t), proxyFreePort(t)
	issuer := "http://localhost:" + public
	adminURL := "http://127.0.0.1:" + admin
	accept := func(w http.ResponseWriter, r *http.Request, kind, challenge string, body map[string]any) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("PUT", adminURL+"/admin/oauth2/auth/requests/"+kind+"/accept?"+kind+"_challenge="+challenge, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		var out struct {
			RedirectTo string `json:"redirect_to"`
		}
		raw, _ := io.ReadAll(resp.Body)
		if json.Unmarshal(raw, &out) != nil || out.RedirectTo == "" {
			http.Error(w, "hydra: "+string(raw), http.StatusBadGateway)
			return
		}
		http.Redirect(w, r, out.RedirectTo, http.StatusFound)
	}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/login":
			accept(w, r, "login", r.URL.Query().Get("login_challenge"), map[string]any{"subject": "e2e-user"})
		case "/consent":
			ch := r.URL.Query().Get("consent_challenge")
			resp, err := http.Get(adminURL + "/admin/oauth2/auth/requests/consent?consent_challenge=" + ch)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			var cr struct {
				Scope    []string `json:"requested_scope"`
				Audience []string `json:"requested_access_token_audience"`
			}
			json.NewDecoder(resp.Body).Decode(&cr)
			resp.Body.Close()
			accept(w, r, "consent", ch, map[string]any{"grant_scope": cr.Scope, "grant_access_token_audience": cr.Audience})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(app.Close)
	h := proxyStart(t, []string{
		"DSN=memory", "LOG_LEVEL=warn", "SECRETS_SYSTEM=mcpwatch-e2e-hydra-secret-0123456789",
		"SERVE_PUBLIC_HOST=127.0.0.1", "SERVE_PUBLIC_PORT=" + public, "SERVE_ADMIN_HOST=127.0.0.1", "SERVE_ADMIN_PORT=" + admin,
		"URLS_SELF_ISSUER=" + issuer, "URLS_LOGIN=" + app.URL + "/login", "URLS_CONSENT=" + app.URL + "/consent",
		// Without client_registration_url, Hydra leaves registration_endpoint out of its metadata even with dynamic
		// registration on (an as-known-quirk of its profile).
		"OIDC_DYNAMIC_CLIENT_REGISTRATION_ENABLED=true", "WEBFINGER_OIDC_DISCOVERY_CLIENT_REGISTRATION_URL=" + issuer + "/oauth2/register",
		"OIDC_DYNAMIC_CLIENT_REGISTRATION_DEFAULT_SCOPE=mcp:tools,offline_access,openid",
		"STRATEGIES_ACCESS_TOKEN=jwt", "SQA_OPT_OUT=true",
	}, t.TempDir(), bin, "serve", "all", "--dev")
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://127.0.0.1:" + public + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("hydra did not come up: %v\nstderr:\n%s", err, h.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := http.Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var md struct {
		Issuer string `json:"issuer"`
	}
	json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	mcpPort := proxyFreePort(t)
	dir := filepath.Join(proxyRepoRoot(t), "e2e", "node")
	p := proxyStart(t, []string{"MCP_PORT=" + mcpPort, "EXTERNAL_ISSUER=" + md.Issuer}, dir, proxyNode(t), "oidc-provider-as.mjs")
	mcp := p.stdout.wait(t, regexp.MustCompile(`^MCP (\S+)$`), 60*time.Second)
	return mcp, strings.TrimSuffix(md.Issuer, "/")
}

// Ory Hydra's login and consent app lives on an origin of its own, and sends the browser back to Hydra's real
// origin: the CSRF cookie Hydra set through mcpwatch's listener is not there, and the login cannot work through
// the proxy. mcpwatch says so plainly (a note, a line on stderr, a finding) with --watch-as=false as the way out,
// and with it the same client completes against Hydra directly.
func TestProxyHydraLoginOnAnotherOriginIsSaid(t *testing.T) {
	bin := proxyMcpwatch(t)
	upstream, issuer := proxyStartHydra(t)

	px := proxyRunMcpwatch(t, bin, nil, "proxy", "--upstream", upstream)
	asURL := px.stderr.wait(t, proxyASListenerRE, 10*time.Second)
	run, stderr, err := proxyRunClientMayFail(t, px.connector, `[{"tool":"greet","args":{"name":"hydra"}}]`, "oauth")
	said := px.stderr.wait(t, regexp.MustCompile(`^authorization server: (.*sent the browser on to.*)$`), 10*time.Second)
	if !strings.Contains(said, "--watch-as=false") {
		t.Errorf("stderr line %q", said)
	}
	if err == nil {
		t.Errorf("the flow completed through the proxy: Hydra should have missed its CSRF cookie\n%s", stderr)
	}
	var onAS int
	for _, e := range run.Log {
		if strings.HasPrefix(e.URL, asURL+"/") {
			onAS++
		}
	}
	exs := px.exchanges(t)
	rep := analysis.Analyze(exs, analysis.Options{MCPPath: "/mcp"})
	var found bool
	for _, c := range rep.Connections {
		for _, f := range c.Findings {
			found = found || f.Rule == "as-unproxyable"
		}
	}
	if onAS < 3 || !found {
		t.Errorf("%d requests through the authorization server's listener, as-unproxyable finding %v", onAS, found)
	}

	px = proxyRunMcpwatch(t, bin, nil, "proxy", "--upstream", upstream, "--watch-as=false")
	run = proxyRunClient(t, px.connector, `[{"tool":"greet","args":{"name":"hydra"}}]`, "oauth")
	if len(run.Results) != 3 || !strings.Contains(string(run.Results[2]), "Hello, hydra!") {
		t.Fatalf("results: %s", run.Results)
	}
	var direct bool
	for _, e := range run.Log {
		direct = direct || strings.HasPrefix(e.URL, issuer+"/oauth2/token")
	}
	if !direct {
		t.Errorf("with --watch-as=false the client should have talked to %s directly", issuer)
	}
}
