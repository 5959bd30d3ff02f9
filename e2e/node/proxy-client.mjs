// A real MCP client (the official TypeScript SDK) for the proxy e2e tests. It connects to URL, lists and calls
// tools, then terminates the session, and prints on stdout, as JSON, every HTTP request it sent and response it
// received, byte for byte (base64), so the test can compare them with mcpwatch's capture. Each request carries an
// x-e2e-seq header that pairs it with its captured exchange.
//
// Usage: node proxy-client.mjs URL '[{"tool":"echo","args":{"text":"hi"}}]'
//
// To extend to the OAuth flow: pass an OAuthClientProvider as `authProvider` to StreamableHTTPClientTransport (the
// recording fetch below sees the OAuth requests too, since the SDK uses the transport's fetch for them).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, callsJSON = "[]"] = process.argv.slice(2);
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

const transport = new StreamableHTTPClientTransport(new URL(url), { fetch: recordingFetch });
const client = new Client({ name: "mcpwatch-e2e-proxy", version: "1.0.0" });
const results = [];
try {
  await client.connect(transport);
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
