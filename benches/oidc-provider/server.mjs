// The baseline of benches/benches/provider_vs_oidc_provider.rs: Node's oidc-provider (9)
// configured like the identity bridge's demo client, on 127.0.0.1 with a free port.
//
// - one confidential client, demo-rp / demo-rp-secret (client_secret_basic), allowed the
//   CIBA grant (poll mode) and authorization code, ID tokens RS256;
// - a plain Map as its storage adapter (`MapAdapter` below), not oidc-provider's default
//   in-memory adapter, an LRU that forgets entries past about 1 000: the benchmark
//   prepares thousands of CIBA requests and codes before it redeems them. Nothing
//   expires from the Map (oidc-provider itself refuses what has expired); it lives as
//   long as the process, which the benchmark restarts per endpoint;
// - `conformIdTokenClaims: false`, so that the ID token carries the phone claims, as the
//   bridge's does;
// - signing keys as the bridge has them: one RSA 2048 (RS256) and one P-256 (ES256),
//   generated at start, so the JWKS documents hold the same two keys;
// - CIBA: login_hint is a phone number (E.164, digits, or urn:msisdn:), returned as the
//   account id; binding messages as Vipps accepts them; no user codes; the
//   authentication device is not triggered (a pending request stays pending).
//
// - a bench-only control API under /_bench/ (untimed set-up, not part of any
//   measurement): `POST /_bench/ciba-approve` with `{"ids": [...]}` approves those CIBA
//   requests as the authentication device would (a Grant for the scope asked, then
//   `provider.backchannelResult`); `POST /_bench/codes` with `{"n": N, "code_challenge":
//   "...", "nonce": "..."}` mints N authorization codes (PKCE S256, scope `openid phone`,
//   redirect_uri http://127.0.0.1/callback), each with a Grant of its own, as the
//   interaction at /authorize would.
//
// Writes `issuer: <URL>` as the first line on stdout, then serves until killed.

import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

const privateJwk = (type, options) =>
  generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' });

const rsa = { ...privateJwk('rsa', { modulusLength: 2048 }), alg: 'RS256', use: 'sig' };
const ec = { ...privateJwk('ec', { namedCurve: 'P-256' }), alg: 'ES256', use: 'sig' };

// As the bridge's parse_login_hint: +E.164, digits with the country code, urn:msisdn:.
function phoneFromHint(hint) {
  const raw = hint.startsWith('urn:msisdn:') ? hint.slice('urn:msisdn:'.length) : hint;
  const digits = raw.startsWith('+') ? raw.slice(1) : raw;
  if (!/^[1-9][0-9]{7,14}$/.test(digits)) {
    throw new errors.InvalidRequest('login_hint must be a phone number such as +4712345678');
  }
  return `+${digits}`;
}

// oidc-provider's storage adapter interface over one Map: `${model}:${id}` to payload,
// with the indexes oidc-provider looks things up by (grant, user code, uid).
const stored = new Map();
const byGrant = new Map();
class MapAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload) {
    const key = this.key(id);
    stored.set(key, payload);
    if (payload.grantId) {
      const keys = byGrant.get(payload.grantId) ?? [];
      keys.push(key);
      byGrant.set(payload.grantId, keys);
    }
    if (payload.userCode) stored.set(`userCode:${payload.userCode}`, id);
    if (payload.uid) stored.set(`uid:${payload.uid}`, id);
  }

  async find(id) {
    return stored.get(this.key(id));
  }

  async findByUserCode(userCode) {
    const id = stored.get(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUid(uid) {
    const id = stored.get(`uid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const payload = stored.get(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    stored.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const key of byGrant.get(grantId) ?? []) stored.delete(key);
    byGrant.delete(grantId);
  }
}

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  adapter: MapAdapter,
  conformIdTokenClaims: false,
  clients: [
    {
      client_id: 'demo-rp',
      client_secret: 'demo-rp-secret',
      grant_types: ['urn:openid:params:grant-type:ciba', 'authorization_code'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
      token_endpoint_auth_method: 'client_secret_basic',
      backchannel_token_delivery_mode: 'poll',
      id_token_signed_response_alg: 'RS256',
    },
  ],
  jwks: { keys: [rsa, ec] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  claims: {
    openid: ['sub'],
    phone: ['phone_number', 'phone_number_verified'],
  },
  findAccount: async (_ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, phone_number: sub, phone_number_verified: true }),
  }),
  features: {
    devInteractions: { enabled: false },
    ciba: {
      enabled: true,
      deliveryModes: ['poll'],
      processLoginHint: async (_ctx, loginHint) => phoneFromHint(loginHint),
      processLoginHintToken: async () => {
        throw new errors.InvalidRequest('only login_hint is supported (a phone number)');
      },
      validateBindingMessage: async (_ctx, bindingMessage) => {
        if (bindingMessage !== undefined && !/^[A-Z0-9-]{5,8}$/.test(bindingMessage)) {
          throw new errors.InvalidBindingMessage('the binding_message must match ^[A-Z0-9-]{5,8}$');
        }
      },
      validateRequestContext: async () => {},
      verifyUserCode: async (_ctx, _account, userCode) => {
        if (userCode !== undefined) {
          throw new errors.InvalidRequest('user_code is not supported');
        }
      },
      triggerAuthenticationDevice: async () => {},
    },
  },
});

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

const REDIRECT_URI = 'http://127.0.0.1/callback';

// Approves the CIBA requests `ids` as the authentication device would.
async function approveCiba({ ids }) {
  for (const id of ids) {
    const request = await provider.BackchannelAuthenticationRequest.find(id);
    if (!request) throw new Error(`no CIBA request ${id}`);
    const grant = new provider.Grant({ accountId: request.accountId, clientId: request.clientId });
    grant.addOIDCScope(request.scope);
    await grant.save();
    await provider.backchannelResult(request, grant, { authTime: Math.floor(Date.now() / 1000) });
  }
  return { approved: ids.length };
}

// Mints `n` authorization codes as a finished interaction at /authorize would.
let minted = 0;
async function mintCodes({ n, code_challenge: codeChallenge, nonce }) {
  const client = await provider.Client.find('demo-rp');
  const codes = [];
  for (let i = 0; i < n; i += 1) {
    minted += 1;
    const accountId = `+4792${String(minted).padStart(6, '0')}`;
    const grant = new provider.Grant({ accountId, clientId: client.clientId });
    grant.addOIDCScope('openid phone');
    const grantId = await grant.save();
    const code = new provider.AuthorizationCode({
      accountId,
      client,
      grantId,
      redirectUri: REDIRECT_URI,
      scope: 'openid phone',
      nonce,
      codeChallenge,
      codeChallengeMethod: 'S256',
      authTime: Math.floor(Date.now() / 1000),
    });
    codes.push(await code.save());
  }
  return { codes };
}

const control = { '/_bench/ciba-approve': approveCiba, '/_bench/codes': mintCodes };
const oidc = provider.callback();
server.on('request', (req, res) => {
  const act = req.method === 'POST' ? control[req.url] : undefined;
  if (!act) {
    oidc(req, res);
    return;
  }
  readJson(req)
    .then(act)
    .then((body) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    })
    .catch((e) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(e?.stack ?? e));
    });
});
process.stdout.write(`issuer: ${issuer}\n`);
