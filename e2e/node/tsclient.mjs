// tsclient.mjs: the official TypeScript SDK client (@modelcontextprotocol/sdk, pinned in package.json) against an
// MCP server, for the Go e2e tests (e2e/tsclient_test.go). It connects, lists and calls mcpwatch's tools, lists
// prompts and resources, reads mcpwatch://people, and prints one JSON object on stdout. Any failure exits 1 with
// the reason on stderr.
//
// Usage: node tsclient.mjs --url URL [--transport streamable|sse] [--offer VERSION]
//   --transport streamable  StreamableHTTPClientTransport against URL (e.g. http://127.0.0.1:4000/mcp); the session
//                           is terminated (HTTP DELETE) at the end
//   --transport sse         the 2024-11-05 HTTP+SSE SSEClientTransport against URL (e.g. http://127.0.0.1:4000/sse)
//   --offer VERSION         the protocolVersion the initialize request offers. SDK 1.32.2's Client has no option for
//                           it (it always offers LATEST_PROTOCOL_VERSION, 2025-11-25), so the script rewrites that one
//                           field of the outgoing initialize message; the rest is the SDK's own behaviour, including
//                           accepting the server's answer and sending it as MCP-Protocol-Version afterwards.
//
// SDK 1.32.2 speaks only the legacy (initialize/session) era: it has no server/discover and no 2026-07-28.
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string' },
    transport: { type: 'string', default: 'streamable' },
    offer: { type: 'string' },
  },
});
if (!opts.url) fail('--url is required');

function fail(msg) {
  process.stderr.write(`tsclient: ${msg}\n`);
  process.exit(1);
}

function text(result) {
  if (result.isError) throw new Error(`tool error: ${JSON.stringify(result.content)}`);
  return result.content.filter((c) => c.type === 'text').map((c) => c.text).join('');
}

async function main() {
  let transport;
  switch (opts.transport) {
    case 'streamable':
      transport = new StreamableHTTPClientTransport(new URL(opts.url));
      break;
    case 'sse':
      transport = new SSEClientTransport(new URL(opts.url));
      break;
    default:
      fail(`unknown --transport ${opts.transport} (streamable or sse)`);
  }
  const offered = opts.offer ?? LATEST_PROTOCOL_VERSION;
  if (opts.offer) {
    const send = transport.send.bind(transport);
    transport.send = (message, options) => {
      if (message.method === 'initialize') {
        message = { ...message, params: { ...message.params, protocolVersion: opts.offer } };
      }
      return send(message, options);
    };
  }
  let negotiated;
  const setVersion = transport.setProtocolVersion?.bind(transport);
  transport.setProtocolVersion = (v) => {
    negotiated = v;
    setVersion?.(v);
  };

  const client = new Client({ name: 'mcpwatch-e2e-tsclient', version: '1.32.2' });
  await client.connect(transport);
  const out = {
    transport: opts.transport,
    offered,
    sdkVersions: SUPPORTED_PROTOCOL_VERSIONS,
    protocolVersion: negotiated,
    sessionId: transport.sessionId ?? null,
    serverInfo: client.getServerVersion(),
    capabilities: client.getServerCapabilities(),
  };
  out.tools = (await client.listTools()).tools.map((t) => t.name);
  out.bestPerson = text(await client.callTool({ name: 'best_person_looker_upper', arguments: { startsWith: 'Gr' } }));
  out.echo = text(await client.callTool({ name: 'echo', arguments: { text: 'hello from the TypeScript SDK' } }));
  const who = await client.callTool({ name: 'whoami', arguments: {} });
  if (who.isError) throw new Error(`whoami: ${JSON.stringify(who.content)}`);
  out.whoami = who.structuredContent;
  out.prompts = (await client.listPrompts()).prompts.map((p) => p.name);
  out.resources = (await client.listResources()).resources.map((r) => r.uri);
  const people = await client.readResource({ uri: 'mcpwatch://people' });
  out.people = people.contents.map((c) => c.text).join('');
  if (opts.transport === 'streamable') {
    await transport.terminateSession();
    out.terminated = transport.sessionId === undefined;
  }
  await client.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => fail(err?.stack ?? String(err)));
