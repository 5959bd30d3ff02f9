// scenario_client.mjs: the official TypeScript SDK client (@modelcontextprotocol/sdk, pinned) through a whole OAuth
// handshake against mcpwatch, reporting how far it got instead of failing — for e2e/scenarios_test.go, which runs
// it under each toggle scenario and checks that the client fails or recovers the way the scenario's story says.
//
// Steps: connect (discovery → registration → authorization request) → browser (the consent page, or an
// auto-approval) → token (the SDK's finishAuth) → initialize → tools/call → [--wait-expiry: sleep past the access
// token's lifetime, then tools/call again]. It prints one JSON object: {reached, failedAt, error, ...}; it exits 0
// whether the handshake succeeded or not (a crash of the script itself exits 1).
//
// Usage: node scenario_client.mjs --url URL/mcp [--wait-expiry]
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string' },
    'wait-expiry': { type: 'boolean', default: false },
  },
});
if (!opts.url) {
  process.stderr.write('scenario_client: --url is required\n');
  process.exit(1);
}

const REDIRECT = 'http://127.0.0.1:47823/callback'; // a port no known client uses (33418 is VS Code's)

// An in-memory OAuthClientProvider, as in the SDK's examples (simpleOAuthClientProvider.js).
class Provider {
  constructor() {
    this._state = randomBytes(16).toString('hex');
    this.authorizationUrls = [];
    this.registrations = 0;
  }
  get redirectUrl() {
    return REDIRECT;
  }
  get clientMetadata() {
    return {
      client_name: 'mcpwatch e2e scenario client',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  state() {
    return this._state;
  }
  clientInformation() {
    return this._client;
  }
  saveClientInformation(info) {
    this.registrations++;
    this._client = info;
  }
  tokens() {
    return this._tokens;
  }
  saveTokens(tokens) {
    this._tokens = tokens;
  }
  redirectToAuthorization(url) {
    this.authorizationUrls.push(new URL(url));
  }
  saveCodeVerifier(v) {
    this._verifier = v;
  }
  codeVerifier() {
    return this._verifier;
  }
  invalidateCredentials(scope) {
    if (scope === 'all' || scope === 'client') this._client = undefined;
    if (scope === 'all' || scope === 'tokens') this._tokens = undefined;
  }
}

// browse plays the user's browser: follows the authorization URL; submits the consent form with Approve if one is
// shown; returns the redirect back to the client.
async function browse(authorizationUrl) {
  let res = await fetch(authorizationUrl, { redirect: 'manual' });
  if (res.status === 200) {
    const html = await res.text();
    const fields = {};
    for (const m of html.matchAll(/<input type="hidden" name="(\w+)" value="([^"]*)">/g)) fields[m[1]] = m[2];
    const action = html.match(/<form method="post" action="([^"]+)">/)?.[1];
    if (!action) throw new Error(`the authorization page has no consent form (HTTP 200)`);
    const cookie = res.headers.get('set-cookie')?.split(';')[0];
    res = await fetch(new URL(action, authorizationUrl), {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
      body: new URLSearchParams({ ...fields, action: 'approve' }),
    });
  }
  if (res.status !== 302) throw new Error(`authorization answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  return new URL(res.headers.get('location'));
}

async function main() {
  const provider = new Provider();
  const out = { reached: 'start', failedAt: null, error: null };
  let client;
  let step = 'connect';
  const done = (s) => {
    out.reached = s;
  };
  try {
    const first = new StreamableHTTPClientTransport(new URL(opts.url), { authProvider: provider });
    try {
      await new Client({ name: 'mcpwatch-e2e-scenario', version: '1.32.2' }).connect(first);
      throw new Error('connected without authorization');
    } catch (err) {
      if (!(err instanceof UnauthorizedError)) throw err;
    }
    const authUrl = provider.authorizationUrls.at(-1);
    if (!authUrl) throw new Error('the SDK did not redirect to authorization');
    done('connect');

    step = 'browser';
    const location = await browse(authUrl);
    const code = location.searchParams.get('code');
    if (!code) throw new Error(`no code in the redirect: ${location}`);
    done('browser');

    step = 'token';
    await first.finishAuth(code);
    out.expiresIn = provider.tokens()?.expires_in ?? null;
    out.gotRefreshToken = !!provider.tokens()?.refresh_token;
    done('token');

    step = 'initialize';
    client = new Client({ name: 'mcpwatch-e2e-scenario', version: '1.32.2' });
    const transport = new StreamableHTTPClientTransport(new URL(opts.url), { authProvider: provider });
    await client.connect(transport);
    out.sessionId = transport.sessionId ?? null;
    done('initialize');

    step = 'call';
    const r = await client.callTool({ name: 'echo', arguments: { text: 'scenario' } });
    if (r.isError) throw new Error(`tool error: ${JSON.stringify(r.content)}`);
    done('call');

    if (opts['wait-expiry']) {
      step = 'call-after-expiry';
      await new Promise((resolve) => setTimeout(resolve, ((out.expiresIn ?? 2) + 1) * 1000));
      const r2 = await client.callTool({ name: 'echo', arguments: { text: 'after expiry' } });
      if (r2.isError) throw new Error(`tool error: ${JSON.stringify(r2.content)}`);
      done('call-after-expiry');
    }
    await client.close();
  } catch (err) {
    out.failedAt = step;
    out.error = String(err?.message ?? err);
    await client?.close().catch(() => {}); // ends the GET stream, or the process would wait on it
  }
  out.registrations = provider.registrations;
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`scenario_client: ${err?.stack ?? err}\n`);
  process.exit(1);
});
