// Validates a HAR file two ways and prints a JSON summary on stdout; exits 1 on any problem.
//
// 1. Against the HAR 1.2 JSON schema, with har-validator (the schema of the har-schema package).
// 2. Against what Chrome DevTools' HAR importer needs (ChromeDevTools/devtools-frontend,
//    front_end/models/har/HARFormat.ts and Importer.ts): its HARFormat classes throw on a missing object, a date
//    that does not parse or a number that is NaN, and the importer reads a few fields as strings. Each rule below
//    names the constructor or line it mirrors.
//
// Usage: node validate-har.mjs FILE.har
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const validator = require('har-validator');

const file = process.argv[2];
if (!file) {
  console.error('usage: node validate-har.mjs FILE.har');
  process.exit(2);
}
const har = JSON.parse(readFileSync(file, 'utf8'));
const problems = [];

// 1. The schema.
try {
  await validator.har(har);
} catch (e) {
  for (const err of e.errors || [e]) {
    problems.push(`schema: ${err.dataPath || err.instancePath || ''} ${err.message}`);
  }
}

// 2. Chrome DevTools' importer.
const isObject = (x) => !!x && typeof x === 'object'; // HARBase: 'First parameter is expected to be an object'
const safeDate = (x) => !Number.isNaN(new Date(x).getTime()); // HARBase.safeDate
const safeNumber = (x) => !Number.isNaN(Number(x)); // HARBase.safeNumber
const optionalNumber = (x) => x === undefined || safeNumber(x); // HARBase.optionalNumber
function need(ok, where, what) {
  if (!ok) problems.push(`devtools: ${where}: ${what}`);
}

need(isObject(har), 'root', 'not an object (HARRoot)');
const log = har.log;
need(isObject(log), 'log', 'not an object (HARLog)');
if (isObject(log)) {
  need(isObject(log.creator), 'log.creator', 'not an object (HARCreator)');
  need(log.browser === undefined || isObject(log.browser), 'log.browser', 'not an object');
  need(Array.isArray(log.entries), 'log.entries', "'log.entries is expected to be an array'");
  for (const [i, page] of (Array.isArray(log.pages) ? log.pages : []).entries()) {
    const at = `log.pages[${i}]`;
    need(isObject(page), at, 'not an object (HARPage)');
    if (!isObject(page)) continue;
    need(safeDate(page.startedDateTime), at, `startedDateTime ${page.startedDateTime} is not a date`);
    need(isObject(page.pageTimings), at, 'pageTimings is not an object (HARPageTimings)');
    need(typeof page.id === 'string' && page.id !== '', at, 'id is not a string (pageref lookups)');
    if (isObject(page.pageTimings)) {
      need(optionalNumber(page.pageTimings.onContentLoad) && optionalNumber(page.pageTimings.onLoad), at, 'pageTimings are not numbers');
    }
  }
  const pageIDs = new Set((log.pages || []).map((p) => p.id));
  for (const [i, e] of (Array.isArray(log.entries) ? log.entries : []).entries()) {
    const at = `log.entries[${i}]`;
    need(isObject(e), at, 'not an object (HAREntry)');
    if (!isObject(e)) continue;
    need(safeDate(e.startedDateTime), at, `startedDateTime ${e.startedDateTime} is not a date`);
    need(safeNumber(e.time) && typeof e.time === 'number', at, 'time is not a number');
    need(e.pageref === undefined || pageIDs.has(e.pageref), at, `pageref ${e.pageref} names no page`);
    // HARRequest
    const rq = e.request;
    need(isObject(rq), at, 'request is not an object (HARRequest)');
    if (isObject(rq)) {
      need(typeof rq.method === 'string' && rq.method !== '', at, 'request.method');
      need(typeof rq.url === 'string' && /^https?:\/\/[^/]/.test(rq.url), at, `request.url ${rq.url} is not absolute (NetworkRequest.createWithoutBackendRequest)`);
      try {
        new URL(rq.url);
      } catch {
        problems.push(`devtools: ${at}: request.url ${rq.url} does not parse`);
      }
      need(typeof rq.httpVersion === 'string', at, 'request.httpVersion');
      need(safeNumber(rq.headersSize) && safeNumber(rq.bodySize), at, 'request.headersSize/bodySize are not numbers');
      for (const k of ['cookies', 'headers', 'queryString']) {
        need(Array.isArray(rq[k]) && rq[k].every(isObject), at, `request.${k} is not an array of objects`);
      }
      for (const h of rq.headers || []) need(typeof h.name === 'string' && typeof h.value === 'string', at, 'request header name/value');
      if (rq.postData !== undefined) {
        need(isObject(rq.postData), at, 'request.postData is not an object (HARPostData)');
        // HARPostData: this.text = String(data['text']): a missing text would import as "undefined".
        need(typeof rq.postData.text === 'string', at, 'request.postData.text is not a string');
        need(typeof rq.postData.mimeType === 'string', at, 'request.postData.mimeType is not a string');
      }
    }
    // HARResponse
    const rs = e.response;
    need(isObject(rs), at, 'response is not an object (HARResponse)');
    if (isObject(rs)) {
      need(safeNumber(rs.status) && safeNumber(rs.headersSize) && safeNumber(rs.bodySize), at, 'response.status/headersSize/bodySize are not numbers');
      need(typeof rs.httpVersion === 'string', at, 'response.httpVersion (Importer: toLowerCase)');
      need(typeof rs.statusText === 'string' && typeof rs.redirectURL === 'string', at, 'response.statusText/redirectURL');
      for (const k of ['cookies', 'headers']) {
        need(Array.isArray(rs[k]) && rs[k].every(isObject), at, `response.${k} is not an array of objects`);
      }
      for (const c of rs.cookies || []) need(!c.expires || safeDate(c.expires), at, `cookie expires ${c.expires} is not a date (HARCookie)`);
      const ct = rs.content;
      need(isObject(ct), at, 'response.content is not an object (HARContent)');
      if (isObject(ct)) {
        need(safeNumber(ct.size) && optionalNumber(ct.compression), at, 'response.content.size');
        need(typeof ct.mimeType === 'string', at, 'response.content.mimeType (Importer: parseContentType)');
        need(ct.text === undefined || typeof ct.text === 'string', at, 'response.content.text');
        need(ct.encoding === undefined || ct.encoding === 'base64', at, `response.content.encoding ${ct.encoding} (ContentData knows base64 only)`);
        if (ct.encoding === 'base64') {
          need(/^[A-Za-z0-9+/]*={0,2}$/.test(ct.text || ''), at, 'response.content.text is not base64');
        }
      }
    }
    // HARTimings
    const tm = e.timings;
    need(isObject(tm), at, 'timings is not an object (HARTimings)');
    if (isObject(tm)) {
      need(safeNumber(tm.send) && safeNumber(tm.wait) && safeNumber(tm.receive), at, 'timings.send/wait/receive are not numbers');
      for (const k of ['blocked', 'dns', 'connect', 'ssl']) need(optionalNumber(tm[k]), at, `timings.${k}`);
    }
    need(e.serverIPAddress === undefined || typeof e.serverIPAddress === 'string', at, 'serverIPAddress');
    need(e._resourceType === undefined || typeof e._resourceType === 'string', at, '_resourceType');
  }
}

const entries = Array.isArray(log?.entries) ? log.entries : [];
console.log(JSON.stringify({
  entries: entries.length,
  pages: (log?.pages || []).length,
  stages: entries.map((e) => e._stage),
  problems,
}));
process.exit(problems.length ? 1 : 0);
