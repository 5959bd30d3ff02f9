// mcp-remote (npm) as a real client through mcpwatch: the TypeScript SDK's stdio client runs mcp-remote, which
// connects to URL, runs the OAuth flow (its browser is fake-browser.mjs, through $BROWSER), lists the tools and
// calls greet. Prints {"results": [...]} on stdout.
//
// Usage: node mcp-remote-client.mjs URL CALLBACK_PORT CONFIG_DIR
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [url, port, configDir] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const transport = new StdioClientTransport({
  command: process.execPath,
  args: [path.join(here, "node_modules", "mcp-remote", "dist", "proxy.js"), url, port, "--allow-http"],
  env: {
    ...process.env,
    MCP_REMOTE_CONFIG_DIR: configDir,
    BROWSER: path.join(here, "fake-browser.mjs"),
    DISPLAY: "",
    WAYLAND_DISPLAY: "",
    PATH: path.dirname(process.execPath) + path.delimiter + process.env.PATH,
  },
  stderr: "inherit",
});
const client = new Client({ name: "mcpwatch-e2e-mcp-remote", version: "1.0.0" });
const results = [];
try {
  await client.connect(transport);
  const tools = await client.listTools();
  results.push({ tools: tools.tools.map((t) => t.name).sort() });
  const r = await client.callTool({ name: "greet", arguments: { name: "mcp-remote" } });
  results.push({ tool: "greet", content: r.content });
} catch (e) {
  console.error("client error:", e);
  process.exitCode = 1;
} finally {
  await client.close().catch(() => {});
}
process.stdout.write(JSON.stringify({ results }) + "\n");
