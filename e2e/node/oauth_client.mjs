// oauth_client.mjs: the official TypeScript SDK client's OAuth support (@modelcontextprotocol/sdk, pinned in
// package.json; the flow of its examples/client/simpleOAuthClient) against mcpwatch's protected /mcp, for the Go
// e2e tests (e2e/oauth_test.go). It prints one JSON object on stdout; any failure exits 1 with the reason on stderr.
//
// The SDK does discovery (401 challenge → resource metadata → authorization server metadata), registration (DCR,
// or a client ID metadata document URL as client_id), the PKCE authorization request, the token exchange, and the
// refresh. The script plays the user's browser: it follows the authorization URL and, when the consent page is
// shown, submits its form with Approve (keeping the page's cookie), then hands the code from the redirect back to
// the SDK. Then: initialize, tools/call, a refresh through the SDK's auth(), tools/call with the new token, a
// second refresh, and finally a replay of the first refresh token, which must be refused.
//
// Usage: node oauth_client.mjs --url URL/mcp [--auth-method none|client_secret_post] [--client-metadata-url URL]
//   --auth-method          token_endpoint_auth_method registered by DCR (default none)
//   --client-metadata-url  use this client ID metadata document URL as client_id instead of registering
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError, auth } from '@modelcontextprotocol/sdk/client/auth.js';
import { Provider, browse } from './oauth_provider.mjs';

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string' },
    'auth-method': { type: 'string', default: 'none' },
    'client-metadata-url': { type: 'string' },
  },
});
if (!opts.url) fail('--url is required');

// The redirect URI: a loopback callback nobody listens on; the script reads the code from the redirect itself.
const REDIRECT = 'http://127.0.0.1:33418/callback';

function fail(msg) {
  process.stderr.write(`oauth_client: ${msg}\n`);
  process.exit(1);
}

async function connect(provider) {
  const client = new Client({ name: 'mcpwatch-e2e-oauth', version: '1.32.2' });
  const transport = new StreamableHTTPClientTransport(new URL(opts.url), { authProvider: provider });
  await client.connect(transport);
  return { client, transport };
}

function text(result) {
  if (result.isError) throw new Error(`tool error: ${JSON.stringify(result.content)}`);
  return result.content.filter((c) => c.type === 'text').map((c) => c.text).join('');
}

async function main() {
  const provider = new Provider({
    redirect: REDIRECT,
    name: 'mcpwatch e2e TypeScript SDK client',
    authMethod: opts['auth-method'],
    clientMetadataUrl: opts['client-metadata-url'],
  });
  const out = {};

  // 1. The first connect runs discovery and registration, then asks for the browser (UnauthorizedError).
  const first = new StreamableHTTPClientTransport(new URL(opts.url), { authProvider: provider });
  try {
    await new Client({ name: 'mcpwatch-e2e-oauth', version: '1.32.2' }).connect(first);
    throw new Error('connected without authorization');
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
  }
  const authUrl = provider.authorizationUrls.at(-1);
  if (!authUrl) throw new Error('the SDK did not redirect to authorization');
  out.clientId = provider.clientInformation()?.client_id;
  out.clientSecretIssued = provider.clientInformation()?.client_secret !== undefined;
  out.authorizationRequest = Object.fromEntries(authUrl.searchParams);

  // 2. The browser: consent page (or auto-approval), redirect back with code, state and iss.
  const { consent, location } = await browse(authUrl);
  out.consent = consent;
  out.redirect = {
    base: `${location.origin}${location.pathname}`,
    state: location.searchParams.get('state'),
    stateMatches: location.searchParams.get('state') === provider.state(),
    iss: location.searchParams.get('iss'),
    error: location.searchParams.get('error'),
  };
  const code = location.searchParams.get('code');
  if (!code) throw new Error(`no code in the redirect ${location}`);

  // 3. Token exchange through the SDK.
  await first.finishAuth(code);
  const tokens1 = provider.tokens();
  out.tokenScope = tokens1.scope ?? null;
  out.expiresIn = tokens1.expires_in;
  out.gotRefreshToken = !!tokens1.refresh_token;

  // 4. initialize + tools/call with the token.
  let { client, transport } = await connect(provider);
  out.protocolVersion = transport.protocolVersion ?? null;
  out.bestPerson = text(await client.callTool({ name: 'best_person_looker_upper', arguments: { startsWith: 'Gr' } }));
  out.whoami = (await client.callTool({ name: 'whoami', arguments: {} })).structuredContent;
  await client.close();

  // 5. Refresh through the SDK (auth() with a stored refresh token refreshes), then use the new token.
  const refreshed = await auth(provider, { serverUrl: new URL(opts.url) });
  const tokens2 = provider.tokens();
  out.refresh = {
    result: refreshed,
    newAccessToken: tokens2.access_token !== tokens1.access_token,
    rotated: tokens2.refresh_token !== tokens1.refresh_token,
  };
  ({ client, transport } = await connect(provider));
  out.afterRefresh = {
    bestPerson: text(await client.callTool({ name: 'best_person_looker_upper', arguments: { startsWith: 'Ada' } })),
    whoami: (await client.callTool({ name: 'whoami', arguments: {} })).structuredContent,
  };
  await client.close();

  // 6. Refresh again (this uses the rotated token, retiring the first one), then replay the first refresh token.
  await auth(provider, { serverUrl: new URL(opts.url) });
  const asMeta = await (await fetch(new URL('/.well-known/oauth-authorization-server', opts.url))).json();
  const params = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens1.refresh_token, client_id: out.clientId });
  if (provider.clientInformation()?.client_secret) params.set('client_secret', provider.clientInformation().client_secret);
  const replay = await fetch(asMeta.token_endpoint, { method: 'POST', body: params });
  out.replay = { status: replay.status, error: (await replay.json()).error };

  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => fail(err?.stack ?? String(err)));
