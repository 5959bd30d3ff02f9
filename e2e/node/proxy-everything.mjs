// Runs @modelcontextprotocol/server-everything in streamable HTTP mode on 127.0.0.1 and a free port, and prints
// "LISTENING <port>" on stderr once it listens (the package itself reads PORT and binds every interface).
import http from "node:http";

const listen = http.Server.prototype.listen;
http.Server.prototype.listen = function (...args) {
  this.once("listening", () => console.error(`LISTENING ${this.address().port}`));
  if (typeof args[0] === "number" || typeof args[0] === "string") {
    args = [Number(args[0]), "127.0.0.1", ...args.slice(1).filter((a) => typeof a === "function")];
  }
  return listen.apply(this, args);
};
process.env.PORT = "0";
await import("@modelcontextprotocol/server-everything/dist/transports/streamableHttp.js");
