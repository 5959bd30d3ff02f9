// fetch_log.mjs: runs another script of this directory unchanged, with the global fetch instrumented, and writes
// every HTTP request that script (and the SDK it uses) sent to a log file, for the Go e2e tests that count the
// requests a client really sent (e2e/capture_test.go).
//
// Each request is tagged with a header `x-e2e-seq: N` (N from 1, in the order fetch was called), so that the test
// can match each line of mcpwatch's capture file to the request that caused it even when the SDK has two requests
// in flight at once (its GET stream and the next POST). The log is a JSON array, written when the process exits
// (also on failure), of {seq, method, url, sent, answered, status, error}: sent is when fetch was called, answered
// when the response headers arrived (ms on the process's monotonic clock; answered is null for a request that got
// no response).
//
// Usage: node fetch_log.mjs --log FILE SCRIPT [ARGS...]   (SCRIPT is relative to this directory; it sees ARGS as
// its own arguments)
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const argv = process.argv.slice(2);
if (argv[0] !== '--log' || !argv[1] || !argv[2]) {
  process.stderr.write('usage: node fetch_log.mjs --log FILE SCRIPT [ARGS...]\n');
  process.exit(2);
}
const [, logFile, script, ...rest] = argv;

const log = [];
const realFetch = globalThis.fetch;
globalThis.fetch = async function loggedFetch(input, init) {
  const req = new Request(input, init);
  const entry = {
    seq: log.length + 1,
    method: req.method,
    url: req.url,
    sent: performance.now(),
    answered: null,
    status: null,
    error: null,
  };
  log.push(entry);
  req.headers.set('x-e2e-seq', String(entry.seq));
  try {
    const res = await realFetch(req);
    entry.answered = performance.now();
    entry.status = res.status;
    return res;
  } catch (err) {
    entry.error = String(err?.message ?? err);
    throw err;
  }
};
process.on('exit', () => writeFileSync(logFile, JSON.stringify(log)));

// The script reads its arguments from process.argv (util.parseArgs): give it its own.
const target = new URL(script, import.meta.url);
process.argv = [process.argv[0], target.pathname, ...rest];
await import(target.href);
