// Node's openid-client 6 does CIBA against the identity bridge (way 1 of
// vipps-login-provider), with the simulator's control API playing the customer's phone.
//
// The test starts the bridge binary itself, without Vipps credentials (so the bridge
// runs the simulator in process), and reads its `issuer:` and `sim:` lines. Run by
// `cargo xtask interop`, which builds the binary and sets:
//   INTEROP_BIN_DIR  the directory holding the `identity-bridge` binary

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import * as client from 'openid-client';

const BIN_DIR = process.env.INTEROP_BIN_DIR;
if (!BIN_DIR) throw new Error('INTEROP_BIN_DIR is not set: run this through `cargo xtask interop`');

const KARI = '4712345678';
const OLA = '4798765432';
let bridge;
let ISSUER;
let SIM;

before(async () => {
  bridge = spawn(path.join(BIN_DIR, 'identity-bridge'), ['--listen', '127.0.0.1:0', '--sim-interval-ms', '100'], {
    env: { ...process.env, VIPPS_CLIENT_ID: '', RUST_LOG: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: bridge.stdout });
  const seen = {};
  for await (const line of lines) {
    const [key, ...rest] = line.split(': ');
    seen[key] = rest.join(': ');
    if (seen.issuer && seen.sim && seen.phone) break;
  }
  ISSUER = seen.issuer;
  SIM = seen.sim.replace(/\/$/, '');
  assert.match(ISSUER, /^http:\/\/127\.0\.0\.1:\d+$/);
});

after(() => bridge?.kill());

const insecure = { execute: [client.allowInsecureRequests] };

async function configFor(id, secret, auth) {
  const config = await client.discovery(new URL(ISSUER), id, secret, auth(secret), insecure);
  // Verify ID token signatures against the bridge's JWKS too, not only the claims.
  client.enableNonRepudiationChecks(config);
  return config;
}

async function simJson(p, init) {
  const res = await fetch(`${SIM}${p}`, init);
  assert.ok(res.ok, `simulator ${p}: HTTP ${res.status}`);
  return res.json();
}

/** Acts on the simulated phone of `msisdn` once the request arrived there. */
async function phone(msisdn, action, bindingMessage) {
  const until = Date.now() + 10000;
  while (Date.now() < until) {
    const list = await simJson(`/_sim/requests?msisdn=${msisdn}&status=pending`);
    const r = list.find((x) => !bindingMessage || x.binding_message === bindingMessage);
    if (r) {
      await simJson(`/_sim/requests/${encodeURIComponent(r.auth_req_id)}/${action}`, { method: 'POST' });
      return r;
    }
    await new Promise((ok) => setTimeout(ok, 50));
  }
  throw new Error(`no pending request on the phone of ${msisdn}`);
}

/** The OAuth `error` of a rejection: openid-client reports a 401 with a
 * WWW-Authenticate challenge as WWWAuthenticateChallengeError, the body still on `response`. */
async function oauthError(promise, code) {
  let error;
  try {
    await promise;
  } catch (e) {
    error = e.error ?? (e instanceof client.WWWAuthenticateChallengeError ? (await e.response.json()).error : undefined);
    assert.equal(error, code, `${e.name}: ${e.message} ${JSON.stringify(e.cause ?? {})}`);
    return;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}

test('discovery names the CIBA endpoint and poll mode', async () => {
  const config = await configFor('demo-rp', 'demo-rp-secret', client.ClientSecretBasic);
  const meta = config.serverMetadata();
  assert.equal(meta.issuer, ISSUER);
  assert.equal(meta.backchannel_authentication_endpoint, `${ISSUER}/bc-authorize`);
  assert.deepEqual(meta.backchannel_token_delivery_modes_supported, ['poll']);
  assert.equal(meta.backchannel_user_code_parameter_supported, false);
  assert.ok(meta.grant_types_supported.includes('urn:openid:params:grant-type:ciba'));
});

for (const [id, secret, auth, alg] of [
  ['demo-rp', 'demo-rp-secret', client.ClientSecretBasic, 'RS256'],
  ['demo-rp-2', 'demo-rp-2-secret', client.ClientSecretPost, 'ES256'],
]) {
  test(`${id} logs Kari in with CIBA (${auth.name}, ${alg} ID token) and reads userinfo`, async () => {
    const config = await configFor(id, secret, auth);
    const started = await client.initiateBackchannelAuthentication(config, {
      scope: 'openid profile phone email',
      login_hint: `+${KARI}`,
      binding_message: id === 'demo-rp' ? 'DESK-1' : 'DESK-2',
    });
    assert.ok(started.auth_req_id.length >= 27);
    assert.equal(started.binding_message, id === 'demo-rp' ? 'DESK-1' : 'DESK-2');
    await phone(KARI, 'approve', started.binding_message);
    const tokens = await client.pollBackchannelAuthenticationGrant(config, started);
    // The auth_req_id is single use.
    await oauthError(client.pollBackchannelAuthenticationGrant(config, { ...started, interval: 1 }), 'invalid_grant');
    const header = JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url'));
    assert.equal(header.alg, alg);
    assert.ok(header.kid, 'kid in the header');
    const claims = tokens.claims();
    assert.equal(claims.iss, ISSUER);
    assert.equal(claims.aud, id);
    assert.equal(claims.phone_number, `+${KARI}`);
    assert.equal(claims.phone_number_verified, true);
    assert.deepEqual(claims.amr, ['mfa', 'swk']);
    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(info.sub, claims.sub);
    assert.equal(info.given_name, 'Kari');
    assert.equal(info.family_name, 'Nordmann');
    assert.equal(info.phone_number, `+${KARI}`);
    assert.ok(info.email);
  });
}

test('the two demo clients see different subjects for the same customer (pairwise)', async () => {
  const subs = [];
  for (const [id, secret] of [['demo-rp', 'demo-rp-secret'], ['demo-rp-2', 'demo-rp-2-secret']]) {
    const config = await configFor(id, secret, client.ClientSecretBasic);
    const started = await client.initiateBackchannelAuthentication(config, { scope: 'openid', login_hint: `urn:msisdn:${OLA}` });
    await phone(OLA, 'approve', started.binding_message);
    const tokens = await client.pollBackchannelAuthenticationGrant(config, started);
    subs.push(tokens.claims().sub);
  }
  assert.notEqual(subs[0], subs[1]);
});

test('a declined login ends as access_denied', async () => {
  const config = await configFor('demo-rp', 'demo-rp-secret', client.ClientSecretBasic);
  const started = await client.initiateBackchannelAuthentication(config, { scope: 'openid', login_hint: `+${OLA}` });
  await phone(OLA, 'deny', started.binding_message);
  await oauthError(client.pollBackchannelAuthenticationGrant(config, started), 'access_denied');
});

test('refusals carry the right OAuth error', async () => {
  const wrong = await client.discovery(new URL(ISSUER), 'demo-rp', 'nope', client.ClientSecretBasic('nope'), insecure);
  await oauthError(client.initiateBackchannelAuthentication(wrong, { scope: 'openid', login_hint: `+${KARI}` }), 'invalid_client');
  const config = await configFor('demo-rp', 'demo-rp-secret', client.ClientSecretBasic);
  await oauthError(
    client.initiateBackchannelAuthentication(config, { scope: 'openid', login_hint: `+${KARI}`, binding_message: 'not valid!' }),
    'invalid_binding_message',
  );
  await oauthError(client.initiateBackchannelAuthentication(config, { scope: 'openid', login_hint: '+4711111111' }), 'unknown_user_id');
  await oauthError(client.initiateBackchannelAuthentication(config, { scope: 'openid', login_hint: 'kari@example.com' }), 'unknown_user_id');
  // Another client cannot redeem demo-rp's auth_req_id.
  const started = await client.initiateBackchannelAuthentication(config, { scope: 'openid', login_hint: `+${KARI}` });
  const other = await configFor('demo-rp-2', 'demo-rp-2-secret', client.ClientSecretBasic);
  await oauthError(client.pollBackchannelAuthenticationGrant(other, started), 'invalid_grant');
  await phone(KARI, 'deny', started.binding_message);
});
