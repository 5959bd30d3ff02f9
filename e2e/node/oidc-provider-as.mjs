// node-oidc-provider (a certified OpenID provider) as the authorization server of a small MCP server on another
// origin: dynamic registration, PKCE, resource indicators, JWT access tokens. The MCP server (the TypeScript SDK,
// stateless) answers 401 with its protected resource metadata, which names the provider, and accepts a bearer
// token only when the provider signed it and its iss is the provider's real issuer.
//
// The provider's interaction is a minimal login page: GET /interaction/UID is an HTML form whose action is an
// absolute URL of the provider's own origin (as real login pages have); POSTing it logs the user in and grants
// consent at once.
//
// Env: MCP_PORT, AUTH_PORT. Both bind 127.0.0.1; prints "MCP <url>" and "AS <issuer>" on stdout when ready.
// With EXTERNAL_ISSUER (another provider, e.g. Ory Hydra, already running), only the MCP server runs, naming that
// issuer and checking its tokens against the jwks_uri of its OpenID discovery document.
import http from "node:http";
import Provider from "oidc-provider";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";

const mcpPort = Number(process.env.MCP_PORT);
const authPort = Number(process.env.AUTH_PORT);
const external = process.env.EXTERNAL_ISSUER;
const issuer = external || `http://localhost:${authPort}`;
const mcpOrigin = `http://localhost:${mcpPort}`;

const provider = new Provider(issuer, {
  clients: [],
  scopes: ["openid", "offline_access", "mcp:tools"],
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => `${mcpOrigin}/mcp`,
      getResourceServerInfo: (ctx, resource) => ({ scope: "mcp:tools", audience: resource, accessTokenFormat: "jwt", accessTokenTTL: 3600 }),
      useGrantedResource: () => true,
    },
  },
  pkce: { required: () => true },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
});

const form = (uid) => `<!doctype html><html><head><title>Sign in</title></head><body>
<form method="post" action="${issuer}/interaction/${uid}/login"><input type="hidden" name="login" value="e2e-user">
<button type="submit">Sign in and allow</button></form></body></html>`;

const as = http.createServer(async (req, res) => {
  const m = req.url.match(/^\/interaction\/([^/?]+)(\/login)?/);
  if (!m) return provider.callback()(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    if (!m[2]) {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      return res.end(form(details.uid));
    }
    let body = "";
    for await (const chunk of req) body += chunk;
    const accountId = new URLSearchParams(body).get("login") || "e2e-user";
    const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
    if (details.params.scope) grant.addOIDCScope(details.params.scope);
    const resource = details.params.resource || `${mcpOrigin}/mcp`;
    for (const r of [].concat(resource)) grant.addResourceScope(r, "mcp:tools");
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
  } catch (e) {
    res.writeHead(400, { "content-type": "text/plain" });
    res.end(String(e));
  }
});

let jwks = external ? null : createRemoteJWKSet(new URL(`${issuer}/jwks`));
async function keys() {
  if (!jwks) {
    const md = await (await fetch(`${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`)).json();
    jwks = createRemoteJWKSet(new URL(md.jwks_uri));
  }
  return jwks;
}

function mcpServer() {
  const s = new McpServer({ name: "oidc-provider-e2e", version: "1.0.0" });
  s.registerTool("greet", { description: "Greets", inputSchema: { name: z.string() } }, async ({ name }) => ({ content: [{ type: "text", text: `Hello, ${name}!` }] }));
  return s;
}

const prm = { resource: `${mcpOrigin}/mcp`, authorization_servers: [issuer], scopes_supported: ["mcp:tools"], bearer_methods_supported: ["header"] };

const mcp = http.createServer(async (req, res) => {
  const path = req.url.split("?")[0];
  if (path.startsWith("/.well-known/oauth-protected-resource")) {
    res.writeHead(200, { "content-type": "application/json" });
    return res.end(JSON.stringify(prm));
  }
  if (path !== "/mcp") {
    res.writeHead(404);
    return res.end();
  }
  const challenge = () => {
    res.writeHead(401, { "www-authenticate": `Bearer resource_metadata="${mcpOrigin}/.well-known/oauth-protected-resource/mcp", scope="mcp:tools"` });
    res.end();
  };
  const auth = req.headers.authorization || "";
  if (!auth.startsWith("Bearer ")) return challenge();
  try {
    await jwtVerify(auth.slice(7), await keys(), { issuer }); // the token's own iss is the provider's real issuer
  } catch (e) {
    console.error("token refused:", e.message);
    return challenge();
  }
  if (req.method !== "POST") {
    res.writeHead(405, { allow: "POST" });
    return res.end();
  }
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  const server = mcpServer();
  res.on("close", () => { transport.close(); server.close(); });
  await server.connect(transport);
  await transport.handleRequest(req, res);
});

const startMCP = () =>
  mcp.listen(mcpPort, "127.0.0.1", () => {
    console.log(`AS ${issuer}`);
    console.log(`MCP ${mcpOrigin}/mcp`);
  });
if (external) startMCP();
else as.listen(authPort, "127.0.0.1", startMCP);
