// oauth_session.mjs: one healthy session of the official TypeScript SDK client (@modelcontextprotocol/sdk, pinned in
// package.json) against mcpwatch's protected /mcp, as an application built on the SDK runs it: the SDK's OAuth flow
// (401 challenge → resource metadata → authorization server metadata → registration → the browser on the consent
// page → token), then initialize, tools/list, tools/call, and the end of the session (HTTP DELETE). Unlike
// oauth_client.mjs it does nothing a healthy client would not (no tool called without listing tools, no token left
// unused, no refresh token replayed), for e2e/capture_test.go, which checks that the analysis finds nothing wrong.
// It prints one JSON object on stdout; any failure exits 1 with the reason on stderr.
//
// Usage: node oauth_session.mjs --url URL/mcp
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Provider, browse } from './oauth_provider.mjs';

const { values: opts } = parseArgs({ options: { url: { type: 'string' } } });
if (!opts.url) fail('--url is required');

function fail(msg) {
  process.stderr.write(`oauth_session: ${msg}\n`);
  process.exit(1);
}

async function main() {
  const provider = new Provider({ redirect: 'http://127.0.0.1:33418/callback', name: 'mcpwatch e2e TypeScript SDK session' });
  const info = { name: 'mcpwatch-e2e-oauth-session', version: '1.32.2' };

  // The SDK runs discovery and registration, then asks for the browser.
  const transport = new StreamableHTTPClientTransport(new URL(opts.url), { authProvider: provider });
  try {
    await new Client(info).connect(transport);
    throw new Error('connected without authorization');
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
  }
  const authUrl = provider.authorizationUrls.at(-1);
  if (!authUrl) throw new Error('the SDK did not redirect to authorization');
  const { consent, location } = await browse(authUrl);
  const code = location.searchParams.get('code');
  if (!code || location.searchParams.get('state') !== provider.state()) throw new Error(`redirect ${location}`);
  await transport.finishAuth(code);

  // The session, on a new transport with the token (as the SDK's examples reconnect after finishAuth).
  const client = new Client(info);
  const session = new StreamableHTTPClientTransport(new URL(opts.url), { authProvider: provider });
  await client.connect(session);
  const tools = (await client.listTools()).tools.map((t) => t.name);
  const result = await client.callTool({ name: 'best_person_looker_upper', arguments: { startsWith: 'Gr' } });
  const bestPerson = result.content.filter((c) => c.type === 'text').map((c) => c.text).join('');
  const sessionId = session.sessionId ?? null;
  await session.terminateSession();
  await client.close();

  process.stdout.write(JSON.stringify({ consent, protocolVersion: session.protocolVersion ?? null, sessionId, tools, bestPerson }) + '\n');
}

main().catch((err) => fail(err?.stack ?? String(err)));
