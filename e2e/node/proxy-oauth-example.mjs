// Runs the TypeScript SDK's example server with OAuth (examples/server/simpleStreamableHttp.js --oauth): an MCP
// server on MCP_PORT whose protected resource metadata and 401 challenges name http://localhost:MCP_PORT, and a
// demo authorization server on MCP_AUTH_PORT that approves at once. A third-party server that believes it lives on
// localhost. Both bind 127.0.0.1 only; "LISTENING <port>" goes to stderr for each.
import http from "node:http";

const listen = http.Server.prototype.listen;
http.Server.prototype.listen = function (...args) {
  this.once("listening", () => console.error(`LISTENING ${this.address().port}`));
  if (typeof args[0] === "number" || typeof args[0] === "string") {
    args = [Number(args[0]), "127.0.0.1", ...args.slice(1).filter((a) => typeof a === "function")];
  }
  return listen.apply(this, args);
};
process.argv.push("--oauth");
await import("@modelcontextprotocol/sdk/examples/server/simpleStreamableHttp.js");
