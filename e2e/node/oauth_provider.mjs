// oauth_provider.mjs: what the e2e scripts that run the TypeScript SDK's OAuth flow share — an in-memory
// OAuthClientProvider (as in the SDK's examples/client/simpleOAuthClientProvider) and a stand-in for the user's
// browser on the authorization URL.

import { randomBytes } from 'node:crypto';

// Provider keeps the client's registration, tokens and PKCE verifier in memory, and collects the authorization URLs
// the SDK asks it to open.
export class Provider {
  // redirect: the redirect URI; name: the client_name it registers; authMethod: token_endpoint_auth_method;
  // clientMetadataUrl: a client ID metadata document URL to use as client_id instead of registering.
  constructor({ redirect, name, authMethod = 'none', clientMetadataUrl } = {}) {
    this.redirect = redirect;
    this.name = name;
    this.authMethod = authMethod;
    this.clientMetadataUrl = clientMetadataUrl;
    this._state = randomBytes(16).toString('hex');
    this.authorizationUrls = [];
    this.registrations = 0;
  }
  get redirectUrl() {
    return this.redirect;
  }
  get clientMetadata() {
    return {
      client_name: this.name,
      redirect_uris: [this.redirect],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: this.authMethod,
    };
  }
  state() {
    return this._state;
  }
  clientInformation() {
    return this._client;
  }
  saveClientInformation(info) {
    this.registrations++;
    this._client = info;
  }
  tokens() {
    return this._tokens;
  }
  saveTokens(tokens) {
    this._tokens = tokens;
  }
  redirectToAuthorization(url) {
    this.authorizationUrls.push(new URL(url));
  }
  saveCodeVerifier(v) {
    this._verifier = v;
  }
  codeVerifier() {
    return this._verifier;
  }
  invalidateCredentials(scope) {
    if (scope === 'all' || scope === 'client') this._client = undefined;
    if (scope === 'all' || scope === 'tokens') this._tokens = undefined;
  }
}

// browse plays the user's browser on the authorization URL: the consent page's form is submitted with Approve
// (keeping the page's cookie), or the server redirects at once (--auto-approve). It returns how the consent went
// ('form' or 'auto') and the redirect back to the client.
export async function browse(authorizationUrl) {
  let res = await fetch(authorizationUrl, { redirect: 'manual' });
  let consent = 'auto';
  if (res.status === 200) {
    consent = 'form';
    const html = await res.text();
    const fields = {};
    for (const m of html.matchAll(/<input type="hidden" name="(\w+)" value="([^"]*)">/g)) fields[m[1]] = m[2];
    const action = html.match(/<form method="post" action="([^"]+)">/)?.[1];
    if (!action || !fields.consent || !fields.csrf) throw new Error(`no consent form on the authorization page:\n${html.slice(0, 500)}`);
    const cookie = res.headers.get('set-cookie')?.split(';')[0];
    res = await fetch(new URL(action, authorizationUrl), {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
      body: new URLSearchParams({ ...fields, action: 'approve' }),
    });
  }
  if (res.status !== 302) throw new Error(`authorization answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  return { consent, location: new URL(res.headers.get('location')) };
}
