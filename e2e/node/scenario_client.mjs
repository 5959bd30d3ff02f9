// scenario_client.mjs: the official TypeScript SDK client (@modelcontextprotocol/sdk, pinned) through a whole OAuth
// handshake against mcpwatch, reporting how far it got instead of failing — for e2e/scenarios_test.go, which runs
// it under each toggle scenario and checks that the client fails or recovers the way the scenario's story says.
//
// Steps: connect (discovery → registration → authorization request) → browser (the consent page, or an
// auto-approval) → token (the SDK's finishAuth) → initialize → tools/call → [--wait-expiry: sleep past the access
// token's lifetime, then tools/call again]. It prints one JSON object: {reached, failedAt, error, registrations,
// clientIds, again}; it exits 0 whether the handshake succeeded or not (a crash of the script itself exits 1).
// --attempts 2 runs the handshake a second time with the same client state, as a user who clicks Connect again
// (its outcome is in `again`); --redirect sets the redirect URI the client registers.
//
// Usage: node scenario_client.mjs --url URL/mcp [--wait-expiry] [--attempts N] [--redirect URI]
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Provider, browse } from './oauth_provider.mjs';

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string' },
    'wait-expiry': { type: 'boolean', default: false },
    attempts: { type: 'string', default: '1' },
    redirect: { type: 'string', default: 'http://127.0.0.1:47823/callback' }, // a port no known client uses (33418 is VS Code's)
  },
});
if (!opts.url) {
  process.stderr.write('scenario_client: --url is required\n');
  process.exit(1);
}

// ScenarioProvider also lists the client ids the SDK saved, in order (a re-registration adds one).
class ScenarioProvider extends Provider {
  clientIds = [];
  saveClientInformation(info) {
    super.saveClientInformation(info);
    if (info?.client_id && !this.clientIds.includes(info.client_id)) this.clientIds.push(info.client_id);
  }
}

async function main() {
  const provider = new ScenarioProvider({ redirect: opts.redirect, name: 'mcpwatch e2e scenario client' });
  const out = await attempt(provider);
  if (Number(opts.attempts) > 1) out.again = await attempt(provider);
  out.registrations = provider.registrations;
  out.clientIds = provider.clientIds;
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
}

// attempt runs the handshake once and reports how far it got.
async function attempt(provider) {
  const out = { reached: 'start', failedAt: null, error: null };
  let client;
  let step = 'connect';
  const done = (s) => {
    out.reached = s;
  };
  try {
    const asked = provider.authorizationUrls.length;
    const first = new StreamableHTTPClientTransport(new URL(opts.url), { authProvider: provider });
    try {
      await new Client({ name: 'mcpwatch-e2e-scenario', version: '1.32.2' }).connect(first);
      throw new Error('connected without authorization');
    } catch (err) {
      if (!(err instanceof UnauthorizedError)) throw err;
    }
    if (provider.authorizationUrls.length === asked) throw new Error('the SDK did not redirect to authorization');
    const authUrl = provider.authorizationUrls.at(-1);
    done('connect');

    step = 'browser';
    const { location } = await browse(authUrl);
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
  return out;
}

main().catch((err) => {
  process.stderr.write(`scenario_client: ${err?.stack ?? err}\n`);
  process.exit(1);
});
