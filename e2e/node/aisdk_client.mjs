// aisdk_client.mjs URL [oauth]: the AI SDK's MCP client (@ai-sdk/mcp) over streamable HTTP, with its OAuth provider
// interface when the second argument is "oauth": the first connect fails with UnauthorizedError after asking the
// provider to open the authorization URL; the stand-in browser (oauth_provider.mjs browse) follows it, auth()
// exchanges the code, and a second connect lists the tools. The callback is the AI SDK examples' shape,
// http://localhost:PORT/callback. Prints {"tools":[names]} on success; on failure the client's own error message on
// stderr and exit code 1.

import { auth, createMCPClient, UnauthorizedError } from '@ai-sdk/mcp';
import { browse, Provider } from './oauth_provider.mjs';

const [url, mode] = process.argv.slice(2);
const provider = mode === 'oauth' ? new Provider({ redirect: `http://localhost:${40000 + Math.floor(Math.random() * 20000)}/callback`, name: 'AI SDK e2e' }) : undefined;

async function connect() {
  return createMCPClient({
    transport: { type: 'http', url, ...(provider ? { authProvider: provider } : {}) },
    initializationOptions: { timeout: 10_000 },
  });
}

async function main() {
  let client;
  try {
    client = await connect();
  } catch (e) {
    if (!provider || !(e instanceof UnauthorizedError) || provider.authorizationUrls.length === 0) throw e;
    const { location } = await browse(provider.authorizationUrls.at(-1));
    const code = location.searchParams.get('code');
    if (!code) throw new Error(`the authorization server redirected without a code: ${location}`);
    await auth(provider, { serverUrl: url, authorizationCode: code, callbackState: location.searchParams.get('state') ?? undefined });
    client = await connect();
  }
  try {
    const listed = await client.listTools();
    process.stdout.write(JSON.stringify({ tools: listed.tools.map((t) => t.name) }) + '\n');
  } finally {
    await client.close();
  }
}

// A pending request holds no handle: without this timer a client that waits for an answer forever would let Node
// exit 0 with nothing printed.
const timer = setTimeout(() => {
  console.error('aisdk_client: no result within 60s');
  process.exit(2);
}, 60_000);
main().then(
  () => {
    clearTimeout(timer);
    process.exit(0);
  },
  (e) => {
    console.error(`${e?.name ?? 'Error'}: ${e?.message ?? e}`);
    process.exit(1);
  },
);
