// A real Keycloak runs CIBA with Vipps phone login as its HTTP authentication channel.
//
// A stock client (openid-client 6) talks only to Keycloak's own endpoints; Keycloak calls
// our channel (the crate vipps-login-keycloak), which runs the login against the Vipps
// simulator, whose control API plays the customer's phone here. Run by
// `cargo xtask keycloak`, which starts Keycloak, the channel and the simulator and sets:
//   KC_URL       Keycloak's base URL, e.g. http://127.0.0.1:8080
//   KC_REALM     the realm (vipps), imported from realm-vipps.json
//   CHANNEL_URL  our channel, as given to Keycloak
//   SIM_URL      the simulator's base URL (control API under /_sim/)

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import * as client from 'openid-client';

const need = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this through \`cargo xtask keycloak\``);
  return v.replace(/\/$/, '');
};
const KC_URL = need('KC_URL');
const REALM = process.env.KC_REALM || 'vipps';
const CHANNEL_URL = need('CHANNEL_URL');
const SIM_URL = need('SIM_URL');
const ISSUER = `${KC_URL}/realms/${REALM}`;

let config;

before(async () => {
  config = await client.discovery(
    new URL(ISSUER),
    'ciba-client',
    'ciba-client-secret',
    client.ClientSecretBasic('ciba-client-secret'),
    { execute: [client.allowInsecureRequests] },
  );
  assert.equal(
    config.serverMetadata().backchannel_authentication_endpoint,
    `${ISSUER}/protocol/openid-connect/ext/ciba/auth`,
  );
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function simJson(path, init) {
  const res = await fetch(`${SIM_URL}${path}`, init);
  assert.ok(res.ok, `simulator ${path}: HTTP ${res.status}`);
  return res.json();
}

const stats = () => simJson('/_sim/stats');

/** The simulator's login request with this binding message, once Vipps got it. */
async function simRequest(bindingMessage, timeoutMs = 15000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const list = await simJson('/_sim/requests');
    const found = list.find((r) => r.binding_message === bindingMessage);
    if (found) return found;
    await sleep(100);
  }
  throw new Error(`no Vipps login with binding message ${bindingMessage} reached the simulator`);
}

const phone = (id, action) =>
  simJson(`/_sim/requests/${encodeURIComponent(id)}/${action}`, { method: 'POST' });

function start(login_hint, binding_message, extra = {}) {
  return client.initiateBackchannelAuthentication(config, {
    scope: 'openid profile',
    login_hint,
    ...(binding_message ? { binding_message } : {}),
    ...extra,
  });
}

/** Polls Keycloak's token endpoint until it answers with something else than pending. */
async function outcome(started) {
  try {
    return { tokens: await client.pollBackchannelAuthenticationGrant(config, started) };
  } catch (e) {
    if (e instanceof client.ResponseBodyError) return { error: e.error, description: e.error_description };
    throw e;
  }
}

const unique = () => crypto.randomBytes(3).toString('hex').toUpperCase();

test('approved in the Vipps app: Keycloak issues its own tokens for 4712345678', async () => {
  const code = `K-${unique()}`;
  const started = await start('4712345678', code);
  assert.ok(started.auth_req_id);
  const req = await simRequest(code);
  assert.equal(req.msisdn, '4712345678');
  assert.equal(req.status, 'pending');
  assert.ok(req.scopes.includes('phoneNumber'), 'the channel always asks Vipps for the number');
  await phone(req.auth_req_id, 'approve');
  const { tokens, error } = await outcome(started);
  assert.equal(error, undefined);
  const claims = tokens.claims();
  assert.equal(claims.iss, ISSUER);
  assert.equal(claims.azp, 'ciba-client');
  assert.equal(claims.preferred_username, '4712345678');
  assert.equal(claims.given_name, 'Kari');
  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  assert.equal(info.preferred_username, '4712345678');
});

test('two logins at once, for two users, each gets its own tokens', async () => {
  const [kc, oc] = [`P-${unique()}`, `Q-${unique()}`];
  const [kari, ola] = await Promise.all([start('4712345678', kc), start('4798765432', oc)]);
  const [rk, ro] = await Promise.all([simRequest(kc), simRequest(oc)]);
  assert.equal(rk.msisdn, '4712345678');
  assert.equal(ro.msisdn, '4798765432');
  await Promise.all([phone(ro.auth_req_id, 'approve'), phone(rk.auth_req_id, 'approve')]);
  const [a, b] = await Promise.all([outcome(kari), outcome(ola)]);
  assert.equal(a.tokens.claims().preferred_username, '4712345678');
  assert.equal(b.tokens.claims().preferred_username, '4798765432');
});

test('the attribute resolver: user ola.attr logs in with the number in their phoneNumber attribute', async () => {
  const code = `A-${unique()}`;
  const started = await start('ola.attr', code, { scope: 'openid profile phone' });
  const req = await simRequest(code);
  assert.equal(req.msisdn, '4798765432');
  await phone(req.auth_req_id, 'approve');
  const { tokens, error } = await outcome(started);
  assert.equal(error, undefined);
  assert.equal(tokens.claims().preferred_username, 'ola.attr');
  // Keycloak's own `phone` scope reads the same attribute.
  assert.equal(tokens.claims().phone_number, '4798765432');
});

test('a binding message Vipps would refuse ends the login with no push', async () => {
  const before = await stats();
  // Keycloak itself accepts lower case and dots; Vipps wants ^[A-Z0-9-]{5,8}$.
  const started = await start('4712345678', 'lower.case');
  const { error } = await outcome(started);
  assert.equal(error, 'access_denied');
  const after = await stats();
  assert.equal(after.backchannel, before.backchannel, 'no login was started at Vipps');
});

test('a Keycloak user without a usable number ends the login with no push', async () => {
  const before = await stats();
  const started = await start('no.phone', `N-${unique()}`);
  const { error } = await outcome(started);
  assert.equal(error, 'access_denied');
  assert.equal((await stats()).backchannel, before.backchannel, 'no login was started at Vipps');
});

test('a user Keycloak does not know is refused by Keycloak before the channel is called', async () => {
  const before = await stats();
  await assert.rejects(start('4700000000', `U-${unique()}`), (e) => {
    assert.ok(e instanceof client.ResponseBodyError, String(e));
    assert.equal(e.error, 'invalid_request');
    return true;
  });
  assert.equal((await stats()).backchannel, before.backchannel);
});

test('a number without a Vipps account (4711111111): access_denied', async () => {
  const code = `X-${unique()}`;
  const before = await stats();
  const started = await start('4711111111', code);
  const { error } = await outcome(started);
  assert.equal(error, 'access_denied');
  const after = await stats();
  assert.equal(after.backchannel, before.backchannel + 1, 'Vipps was asked once and refused');
  const list = await simJson('/_sim/requests');
  assert.ok(!list.some((r) => r.binding_message === code), 'no push reached a phone');
});

test('Keycloak waits less than a Vipps push lasts (60 s): no push, access_denied at once', async () => {
  const code = `E-${unique()}`;
  const before = await stats();
  const t0 = Date.now();
  const started = await start('4712345678', code, { requested_expiry: '8' });
  const { error } = await outcome(started);
  assert.equal(error, 'access_denied');
  assert.ok(Date.now() - t0 < 12000, 'ended within Keycloak\'s expiry');
  // A push cannot be taken back: one Keycloak gave up on would stay on the phone.
  assert.equal((await stats()).backchannel, before.backchannel, 'no login was started at Vipps');
});

// ---- the same limits as at the desk, through Keycloak's own CIBA endpoint

test('one waiting login per number: a second request while the first waits pushes nothing', async () => {
  const [c1, c2] = [`W-${unique()}`, `V-${unique()}`];
  const before = await stats();
  const first = await start('4712345678', c1);
  const req = await simRequest(c1);
  const second = await start('4712345678', c2);
  assert.equal((await outcome(second)).error, 'access_denied');
  assert.equal((await stats()).backchannel, before.backchannel + 1, 'one push');
  await phone(req.auth_req_id, 'approve');
  assert.equal((await outcome(first)).error, undefined);
});

test('declined in the Vipps app: access_denied; asking again at once pushes nothing (cool-down)', async () => {
  const code = `D-${unique()}`;
  const started = await start('4798765432', code);
  const req = await simRequest(code);
  assert.equal(req.msisdn, '4798765432');
  await phone(req.auth_req_id, 'deny');
  const { tokens, error } = await outcome(started);
  assert.equal(tokens, undefined);
  assert.equal(error, 'access_denied');
  // Keycloak's client restarts right after the decline, twice: the number cools down.
  const before = await stats();
  for (const n of [1, 2]) {
    const again = await start('4798765432', `R${n}-${unique()}`);
    assert.equal((await outcome(again)).error, 'access_denied');
  }
  assert.equal((await stats()).backchannel, before.backchannel, 'no push during the cool-down');
});

// ---- the channel itself refuses anything but Keycloak's signed bearer (and pushes nothing)

function b64url(data) {
  return Buffer.from(data).toString('base64url');
}

function signRs256(header, payload, privateKey) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const sig = crypto.sign('RSA-SHA256', Buffer.from(input), privateKey);
  return `${input}.${b64url(sig)}`;
}

async function realmKid() {
  const res = await fetch(`${ISSUER}/protocol/openid-connect/certs`);
  const { keys } = await res.json();
  const key = keys.find((k) => k.use === 'sig' && k.alg === 'RS256');
  assert.ok(key, 'the realm publishes an RS256 signing key');
  return key.kid;
}

const channelBody = JSON.stringify({
  scope: 'openid profile',
  binding_message: 'F-00001',
  login_hint: '4712345678',
  is_consent_required: false,
});

async function postChannel(token) {
  return fetch(CHANNEL_URL, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: channelBody,
  });
}

function claimsFor(overrides = {}) {
  const now = Math.floor(Date.now() / 1000);
  return {
    exp: now + 120,
    iat: now,
    jti: crypto.randomUUID(),
    iss: ISSUER,
    aud: ISSUER,
    sub: crypto.randomUUID(),
    typ: 'Bearer',
    azp: 'ciba-client',
    ...overrides,
  };
}

test('the channel refuses a forged bearer (right kid, wrong key) and starts no login', async () => {
  const before = await stats();
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = await realmKid();
  const forged = signRs256({ alg: 'RS256', typ: 'JWT', kid }, claimsFor(), privateKey);
  const res = await postChannel(forged);
  assert.equal(res.status, 401);
  assert.equal((await res.json()).error, 'invalid_token');
  const unknownKid = signRs256({ alg: 'RS256', typ: 'JWT', kid: 'not-a-realm-key' }, claimsFor(), privateKey);
  assert.equal((await postChannel(unknownKid)).status, 401);
  const none = `${b64url(JSON.stringify({ alg: 'none', kid }))}.${b64url(JSON.stringify(claimsFor()))}.`;
  assert.equal((await postChannel(none)).status, 401);
  assert.equal((await postChannel(undefined)).status, 401);
  await sleep(300);
  assert.equal((await stats()).backchannel, before.backchannel, 'no login was started at Vipps');
});

test('the channel refuses realm-signed tokens that are not channel bearers, and tampered ones', async () => {
  const before = await stats();
  // A genuine realm-signed access token, but its audience is not the realm issuer.
  const res = await fetch(`${ISSUER}/protocol/openid-connect/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from('channel-admin:channel-admin-secret').toString('base64')}`,
    },
    body: 'grant_type=client_credentials',
  });
  assert.equal(res.status, 200);
  const { access_token } = await res.json();
  assert.equal((await postChannel(access_token)).status, 401);
  // A realm-signed access token addressed to the realm issuer itself (an audience mapper
  // on the client issuer-audience): everything checks out but it is not a channel bearer.
  const res2 = await fetch(`${ISSUER}/protocol/openid-connect/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from('issuer-audience:issuer-audience-secret').toString('base64')}`,
    },
    body: 'grant_type=client_credentials',
  });
  assert.equal(res2.status, 200);
  const addressed = (await res2.json()).access_token;
  const aud = JSON.parse(Buffer.from(addressed.split('.')[1], 'base64url')).aud;
  assert.ok([aud].flat().includes(ISSUER), `the mapper put the issuer in aud: ${aud}`);
  const r2 = await postChannel(addressed);
  assert.equal(r2.status, 401);
  assert.match((await r2.json()).error_description, /not a channel request's token/);
  // The same token with its payload rewritten to look like a channel bearer.
  const [h, , s] = access_token.split('.');
  const tampered = `${h}.${b64url(JSON.stringify(claimsFor()))}.${s}`;
  assert.equal((await postChannel(tampered)).status, 401);
  await sleep(300);
  assert.equal((await stats()).backchannel, before.backchannel, 'no login was started at Vipps');
});
