#!/usr/bin/env node
// A headless stand-in for the user's browser, for clients that open one (mcp-remote runs $BROWSER through
// xdg-open): it follows the authorization URL like a minimal browser — redirects, the cookies they set (per host),
// a login page's HTML form (posted as it is) — until the client's own callback has answered, then exits 0.
// Every request it made is appended, one JSON line each ({method, url, status}), to $FAKE_BROWSER_LOG.
import fs from "node:fs";

const log = (e) => process.env.FAKE_BROWSER_LOG && fs.appendFileSync(process.env.FAKE_BROWSER_LOG, JSON.stringify(e) + "\n");
let next = new URL(process.argv[2]);
const jar = new Map(); // host → (cookie name → value): each origin gets its own cookies, as in a browser
let init = {};
for (let hops = 0; hops < 15; hops++) {
  const headers = { ...(init.headers ?? {}) };
  const mine = jar.get(next.host);
  if (mine?.size) headers.cookie = [...mine].map(([k, v]) => `${k}=${v}`).join("; ");
  const res = await fetch(next, { ...init, headers, redirect: "manual" });
  log({ method: init.method ?? "GET", url: next.href, status: res.status });
  init = {};
  for (const c of res.headers.getSetCookie?.() ?? []) {
    const [nv] = c.split(";");
    const i = nv.indexOf("=");
    if (!jar.has(next.host)) jar.set(next.host, new Map());
    jar.get(next.host).set(nv.slice(0, i).trim(), nv.slice(i + 1));
  }
  const loc = res.headers.get("location");
  if (loc) {
    next = new URL(loc, next);
    continue;
  }
  const page = await res.text();
  const form = (res.headers.get("content-type") ?? "").startsWith("text/html") && page.match(/<form[^>]*method="post"[^>]*action="([^"]+)"/i);
  if (res.status === 200 && form) {
    const fields = new URLSearchParams();
    for (const m of page.matchAll(/<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"/gi)) fields.set(m[1], m[2]);
    next = new URL(form[1], next);
    init = { method: "POST", body: fields.toString(), headers: { "content-type": "application/x-www-form-urlencoded" } };
    continue;
  }
  process.exit(res.status < 400 ? 0 : 1); // the client's callback page (or an error page)
}
process.exit(1);
