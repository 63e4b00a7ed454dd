// The baseline of benches/benches/provider_vs_oidc_provider.rs: Node's oidc-provider (9)
// configured like the identity bridge's demo client, on 127.0.0.1 with a free port.
//
// - one confidential client, demo-rp / demo-rp-secret (client_secret_basic), allowed the
//   CIBA grant (poll mode) and authorization code, ID tokens RS256;
// - the in-memory adapter (oidc-provider's default when no adapter is given);
// - signing keys as the bridge has them: one RSA 2048 (RS256) and one P-256 (ES256),
//   generated at start, so the JWKS documents hold the same two keys;
// - CIBA: login_hint is a phone number (E.164, digits, or urn:msisdn:), returned as the
//   account id; binding messages as Vipps accepts them; no user codes; the
//   authentication device is not triggered (a pending request stays pending).
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

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
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

server.on('request', provider.callback());
process.stdout.write(`issuer: ${issuer}\n`);
