// A TypeScript SDK client session for recorder/analysis's fixtures (recorder/analysis/testdata/record.sh):
// connect over Streamable HTTP, list, call, terminate the session. Usage: node analysis-fixture-client.mjs URL
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const url = new URL(process.argv[2]);
const client = new Client({ name: "fixturegen-ts", version: "1.0.0" });
const transport = new StreamableHTTPClientTransport(url);
await client.connect(transport);
await client.listTools();
await client.listPrompts();
await client.listResources();
const res = await client.callTool({ name: "best_person_looker_upper", arguments: { startsWith: "gr" } });
if (res.isError) throw new Error("tool error: " + JSON.stringify(res.content));
await new Promise((r) => setTimeout(r, 150)); // let the standalone GET stream open, as in a real session
await transport.terminateSession();
await client.close();
