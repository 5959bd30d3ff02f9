// A real MCP client (the official TypeScript SDK) for the proxy e2e tests. It connects to URL, lists and calls
// tools, then terminates the session, and prints on stdout, as JSON, every HTTP request it sent and response it
// received, byte for byte (base64), so the test can compare them with mcpwatch's capture. Each request carries an
// x-e2e-seq header that pairs it with its captured exchange.
//
// Usage: node proxy-client.mjs URL '[{"tool":"echo","args":{"text":"hi"}}]' [oauth]
//
// With "oauth", the client runs the OAuth flow when the server asks for it: discovery (protected resource and
// authorization server metadata), dynamic client registration, authorization with PKCE (the authorization URL is
// followed without a browser: the server under test must approve at once, e.g. mcpwatch serve --auto-approve),
// the token request, then the MCP calls with the token. The SDK makes the discovery and token requests through
// the transport's fetch, so they are logged too, and so is the authorization request (made here, no browser).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";

const [url, callsJSON = "[]", mode = ""] = process.argv.slice(2);
const calls = JSON.parse(callsJSON);
const log = [];
let seq = 0;

function bodyBytes(body) {
  if (body == null) return Buffer.alloc(0);
  if (typeof body === "string") return Buffer.from(body, "utf8");
  if (body instanceof URLSearchParams) return Buffer.from(body.toString(), "utf8");
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return Buffer.from(body);
  throw new Error(`unexpected request body type ${Object.prototype.toString.call(body)}`);
}

async function recordingFetch(input, init = {}) {
  const n = ++seq;
  const headers = new Headers(init.headers ?? {});
  headers.set("x-e2e-seq", String(n));
  const entry = {
    seq: n,
    method: init.method ?? "GET",
    url: String(input instanceof Request ? input.url : input),
    requestBody: bodyBytes(init.body).toString("base64"),
    status: 0,
    responseBody: "",
    complete: false,
    sessionId: headers.get("mcp-session-id") ?? undefined,
    lastEventId: headers.get("last-event-id") ?? undefined,
  };
  log.push(entry);
  const chunks = [];
  entry.chunks = chunks;
  let res;
  try {
    res = await fetch(input, { ...init, headers });
  } catch (e) {
    entry.error = String(e);
    throw e;
  }
  entry.status = res.status;
  entry.responseSessionId = res.headers.get("mcp-session-id") ?? undefined;
  if (!res.body || [101, 204, 205, 304].includes(res.status)) {
    entry.complete = true;
    return res;
  }
  const tee = new TransformStream({
    transform(chunk, controller) {
      chunks.push(Buffer.from(chunk));
      controller.enqueue(chunk);
    },
    flush() {
      entry.complete = true;
    },
  });
  return new Response(res.body.pipeThrough(tee), { status: res.status, statusText: res.statusText, headers: res.headers });
}

// An OAuth client for a test: everything in memory, the authorization URL followed without a browser.
class TestOAuthProvider {
  redirectUrl = "http://127.0.0.1:9/callback"; // never fetched: the code is read from the redirect
  clientMetadata = {
    client_name: "mcpwatch-e2e-proxy",
    redirect_uris: ["http://127.0.0.1:9/callback"],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
    // Ory Hydra v2.3.0 echoes the fields a registration leaves out as "contacts": null and "client_uri": "" (and
    // logo_uri, tos_uri, policy_uri), which this SDK's client refuses: sent, they come back as they were.
    contacts: ["e2e@mcpwatch.invalid"],
    client_uri: "https://mcpwatch.invalid/",
    logo_uri: "https://mcpwatch.invalid/logo.png",
    tos_uri: "https://mcpwatch.invalid/tos",
    policy_uri: "https://mcpwatch.invalid/policy",
  };
  // Ory Hydra refuses an authorization request without a state of at least 8 characters.
  state() { return "e2e-state-" + Math.random().toString(36).slice(2); }
  clientInformation() { return this.client; }
  saveClientInformation(c) { this.client = c; }
  tokens() { return this.savedTokens; }
  saveTokens(t) { this.savedTokens = t; }
  saveCodeVerifier(v) { this.verifier = v; }
  codeVerifier() { return this.verifier; }
  redirectToAuthorization(u) { this.authorizationUrl = u; }
}

// authorize follows the authorization URL like a minimal browser: redirects, the cookies they set (per host, for
// every path), and a login page's HTML form (posted as it is).
async function authorize(provider) {
  let next = provider.authorizationUrl;
  const jar = new Map(); // host → (cookie name → value): each origin gets its own cookies, as in a browser
  let init = { redirect: "manual" };
  for (let hops = 0; hops < 10; hops++) {
    const headers = {};
    const mine = jar.get(new URL(next).host);
    if (mine?.size) headers.cookie = [...mine].map(([k, v]) => `${k}=${v}`).join("; ");
    const res = await recordingFetch(next, { ...init, headers: { ...headers, ...(init.headers ?? {}) } });
    init = { redirect: "manual" };
    for (const c of res.headers.getSetCookie?.() ?? []) {
      const [nv] = c.split(";");
      const i = nv.indexOf("=");
      const host = new URL(next).host;
      if (!jar.has(host)) jar.set(host, new Map());
      jar.get(host).set(nv.slice(0, i).trim(), nv.slice(i + 1));
    }
    const loc = res.headers.get("location");
    if (!loc && res.status === 200 && (res.headers.get("content-type") ?? "").startsWith("text/html")) {
      const page = await res.text();
      const form = page.match(/<form[^>]*method="post"[^>]*action="([^"]+)"/i);
      if (!form) throw new Error(`login page without a form at ${next}: ${page.slice(0, 200)}`);
      const fields = new URLSearchParams();
      for (const m of page.matchAll(/<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"/gi)) fields.set(m[1], m[2]);
      next = new URL(form[1], next);
      init = { redirect: "manual", method: "POST", body: fields.toString(), headers: { "content-type": "application/x-www-form-urlencoded" } };
      continue;
    }
    if (!loc) throw new Error(`authorization stopped at ${next}: ${res.status} ${await res.text()}`);
    next = new URL(loc, next);
    if (next.href.startsWith(provider.redirectUrl)) {
      const code = next.searchParams.get("code");
      if (!code) throw new Error(`no code in ${next.href}`);
      return code;
    }
  }
  throw new Error("too many redirects while authorizing");
}

const provider = mode === "oauth" ? new TestOAuthProvider() : undefined;
let transport = new StreamableHTTPClientTransport(new URL(url), { fetch: recordingFetch, authProvider: provider });
const client = new Client({ name: "mcpwatch-e2e-proxy", version: "1.0.0" });
const results = [];
try {
  try {
    await client.connect(transport);
  } catch (e) {
    if (!(provider && e instanceof UnauthorizedError)) throw e;
    await transport.finishAuth(await authorize(provider));
    results.push({ oauth: "authorized" });
    transport = new StreamableHTTPClientTransport(new URL(url), { fetch: recordingFetch, authProvider: provider });
    await client.connect(transport);
  }
  const tools = await client.listTools();
  results.push({ tools: tools.tools.map((t) => t.name).sort() });
  for (const c of calls) {
    const r = await client.callTool({ name: c.tool, arguments: c.args ?? {} });
    results.push({ tool: c.tool, content: r.content, isError: r.isError ?? false });
  }
  await new Promise((r) => setTimeout(r, 200)); // let the GET stream open, if the server offers one
  await transport.terminateSession();
  await client.close();
} catch (e) {
  console.error("client error:", e);
  process.exitCode = 1;
}
for (const e of log) {
  e.responseBody = Buffer.concat(e.chunks).toString("base64");
  delete e.chunks;
}
process.stdout.write(JSON.stringify({ sessionId: transport.sessionId ?? null, results, log }) + "\n");
