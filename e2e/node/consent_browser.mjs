// consent_browser.mjs: mcpwatch's consent page in a real headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core, pinned in package.json), for the Go e2e test (e2e/oauth_consent_test.go). It prints one JSON
// object on stdout; any failure exits 1 with the reason on stderr.
//
// Usage: node consent_browser.mjs --authorize URL --evil URL
//   --authorize  an authorization URL for a registered client, without state (the script adds one per run)
//   --evil       a page on another site that, loaded with ?consent=ID, posts a consent answer for that pending
//                request with a made-up CSRF token (a cross-site forgery)
//
// Runs, each in a fresh browser context (its own cookies):
//   approve        the page shows the client; Approve lands on the redirect URI with code, state, iss
//   deny           Deny lands on the redirect URI with error=access_denied, state, iss
//   tampered       the CSRF field is altered in the page before Approve: refused (403), the URL stays on mcpwatch
//   forged         answers posted from the page with a wrong or no CSRF token are refused (403), and the genuine
//                  Approve still works afterwards: the forged posts changed nothing
//   crossSite      another site's page posts an answer for a pending request: refused
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values: opts } = parseArgs({
  options: { authorize: { type: 'string' }, evil: { type: 'string' } },
});
if (!opts.authorize || !opts.evil) fail('--authorize and --evil are required');

function fail(msg) {
  process.stderr.write(`consent_browser: ${msg}\n`);
  process.exit(1);
}

function withState(state) {
  const u = new URL(opts.authorize);
  u.searchParams.set('state', state);
  return u.toString();
}

function params(url) {
  return Object.fromEntries(new URL(url).searchParams);
}

// answer loads the consent page, optionally tampers with it, clicks a button, and reports where the browser went.
async function answer(browser, state, button, tamper) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const shown = await page.goto(withState(state));
    const seen = {
      status: shown.status(),
      title: await page.title(),
      clientName: await page.textContent('#client-name'),
      redirectURI: await page.textContent('#redirect-uri'),
      resource: await page.textContent('#resource'),
      frameOptions: shown.headers()['x-frame-options'],
    };
    if (tamper) await page.evaluate(() => (document.querySelector('input[name=csrf]').value = 'forged-token'));
    const [resp] = await Promise.all([page.waitForNavigation(), page.click(button)]);
    const result = { seen, status: resp.status(), url: page.url(), params: params(page.url()), heading: await page.textContent('h1') };
    return result;
  } finally {
    await context.close();
  }
}

// forgedPosts posts consent answers for the page's pending request with the browser's cookie but a wrong or no
// CSRF token; both must be refused and change nothing: the genuine Approve still works.
async function forgedPosts(browser) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(withState('forged-state'));
    const consent = await page.inputValue('input[name=consent]');
    // (form.action would be the button named "action": read the attribute.)
    const target = new URL(await page.getAttribute('form', 'action'), page.url()).toString();
    // Posted with the browser context's cookies (the page's CSP forbids fetch from the page itself).
    const post = async (csrf) => {
      const form = { consent, action: 'approve', ...(csrf === null ? {} : { csrf }) };
      const r = await context.request.post(target, { form, maxRedirects: 0 });
      return { status: r.status(), heading: (await r.text()).match(/<h1[^>]*>([^<]*)/)?.[1] ?? null };
    };
    const out = { wrongToken: await post('forged-token'), noToken: await post(null) };
    const [resp] = await Promise.all([page.waitForNavigation(), page.click('#approve')]);
    out.genuine = { status: resp.status(), url: page.url(), params: params(page.url()) };
    return out;
  } finally {
    await context.close();
  }
}

async function crossSite(browser) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(withState('cross-site'));
    const consent = await page.inputValue('input[name=consent]');
    // Another site (a different host) posts an answer for that pending request, in the same browser.
    const evil = new URL(opts.evil);
    evil.searchParams.set('consent', consent);
    const [resp] = await Promise.all([page.waitForNavigation({ url: (u) => !u.toString().startsWith(evil.origin) }), page.goto(evil.toString())]);
    return { status: resp?.status() ?? null, url: page.url(), heading: await page.textContent('h1').catch(() => null) };
  } finally {
    await context.close();
  }
}

async function main() {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run'],
  });
  try {
    const out = {};
    out.approve = await answer(browser, 'approve-state', '#approve');
    out.deny = await answer(browser, 'deny-state', '#deny');
    out.tampered = await answer(browser, 'tampered-state', '#approve', true);
    out.forged = await forgedPosts(browser);
    out.crossSite = await crossSite(browser);
    process.stdout.write(JSON.stringify(out) + '\n');
  } finally {
    await browser.close();
  }
}

main().catch((err) => fail(err?.stack ?? String(err)));
