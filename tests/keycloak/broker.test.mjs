// Keycloak brokering to Vipps phone login through the authorization-code way in, in
// headless Chromium (Playwright): a client of Keycloak logs in with
// kc_idp_hint=vipps-bridge → way 2's /authorize → the bridge's operator pages (the tower
// layer's login and waiting pages), where the number is typed → the simulated phone approves → back through Keycloak (code exchange with PKCE,
// ID token checked against way 2's JWKS, first-broker-login with nothing to ask) → the
// client holds Keycloak's tokens with the Vipps-verified phone number.
//
// Run by `cargo xtask keycloak`, which also sets:
//   BROKER_URL      way 2's issuer (the identity bridge)
//   BROKER_SIM_URL  the simulator behind it
//   BROKER_STAFF_PASSWORD  the bridge's staff password (its operator pages are for staff)
//   CHROMIUM_PATH   Debian's Chromium
//   SHOT_DIR        where screenshots of every page go

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import * as client from 'openid-client';
import { chromium } from 'playwright-core';

const need = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this through \`cargo xtask keycloak\``);
  return v.replace(/\/$/, '');
};
const KC_URL = need('KC_URL');
const REALM = process.env.KC_REALM || 'vipps';
const BROKER_URL = need('BROKER_URL');
const SIM_URL = need('BROKER_SIM_URL');
const STAFF_PASSWORD = need('BROKER_STAFF_PASSWORD');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SHOT_DIR = process.env.SHOT_DIR || path.resolve(import.meta.dirname, '../../target/keycloak/shots');
const ISSUER = `${KC_URL}/realms/${REALM}`;

let browser;
let callback; // the client's redirect_uri
let server;
let config;

before(async () => {
  mkdirSync(SHOT_DIR, { recursive: true });
  server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>client</title><p id="back">back at the client</p>');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  callback = `http://127.0.0.1:${server.address().port}/cb`;
  config = await client.discovery(
    new URL(ISSUER),
    'browser-client',
    'browser-client-secret',
    client.ClientSecretBasic('browser-client-secret'),
    { execute: [client.allowInsecureRequests] },
  );
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function simRequest(bindingMessage, timeoutMs = 15000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const list = await (await fetch(`${SIM_URL}/_sim/requests`)).json();
    const found = list.find((r) => r.binding_message === bindingMessage);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no Vipps login with binding message ${bindingMessage} reached the simulator`);
}

async function authorizationUrl() {
  const pkceCodeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: callback,
    scope: 'openid profile email phone',
    code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    kc_idp_hint: 'vipps-bridge',
  });
  return { url, pkceCodeVerifier, state, nonce };
}

async function operatorLogsIn(page, number, shot) {
  // The operator step is for staff: a browser without a staff sign-in is asked for one
  // first, and comes back to the operator's page.
  const signIn = `${BROKER_URL}/staff/sign-in`;
  const desk = `${BROKER_URL}/operator/login`;
  await page.waitForURL((u) => u.href.startsWith(signIn) || u.href.startsWith(desk), { timeout: 20000 });
  if (page.url().startsWith(signIn)) {
    await shot('staff-sign-in');
    await page.fill('#password', STAFF_PASSWORD);
    await page.click('#sign-in');
  }
  await page.waitForURL((u) => u.href.startsWith(desk), { timeout: 20000 });
  await shot('desk');
  await page.fill('#phone', number);
  await page.click('#start');
  const code = (await page.textContent('#binding-message')).trim();
  assert.match(code, /^[A-Z0-9-]{5,8}$/);
  await shot('desk-wait');
  return simRequest(code);
}

test('kc_idp_hint → the operator desk → the phone approves → Keycloak tokens with the verified number', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  let n = 0;
  const shot = (name) => page.screenshot({ path: path.join(SHOT_DIR, `broker-${++n}-${name}.png`) });
  try {
    const { url, pkceCodeVerifier, state, nonce } = await authorizationUrl();
    await page.goto(url.href);
    // Keycloak skipped its own login page and sent the browser to way 2's /authorize.
    const req = await operatorLogsIn(page, '+45 87 65 43 21', shot);
    assert.equal(req.msisdn, '4587654321');
    assert.ok(req.scopes.includes('phoneNumber'));
    const approved = await fetch(`${SIM_URL}/_sim/requests/${encodeURIComponent(req.auth_req_id)}/approve`, { method: 'POST' });
    assert.equal(approved.status, 200);
    // Back through Keycloak's broker endpoint and first-broker-login, with no form.
    await page.waitForURL((u) => u.href.startsWith(callback), { timeout: 30000 });
    await shot('back-at-client');
    const tokens = await client.authorizationCodeGrant(config, new URL(page.url()), {
      pkceCodeVerifier,
      expectedState: state,
      expectedNonce: nonce,
    });
    const claims = tokens.claims();
    assert.equal(claims.iss, ISSUER);
    assert.equal(claims.given_name, 'Mette');
    assert.equal(claims.family_name, 'Hansen');
    assert.equal(claims.email, 'mette.hansen@example.dk');
    assert.equal(claims.phone_number, '+4587654321');
    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(info.phone_number, '+4587654321');
  } catch (e) {
    await shot('failure').catch(() => {});
    throw e;
  } finally {
    await context.close();
  }
});

test('declined on the phone: Keycloak shows access denied, the client gets no code', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  let n = 10;
  const shot = (name) => page.screenshot({ path: path.join(SHOT_DIR, `broker-${++n}-${name}.png`) });
  try {
    const { url } = await authorizationUrl();
    await page.goto(url.href);
    const req = await operatorLogsIn(page, '4587654321', shot);
    const denied = await fetch(`${SIM_URL}/_sim/requests/${encodeURIComponent(req.auth_req_id)}/deny`, { method: 'POST' });
    assert.equal(denied.status, 200);
    // Way 2 answers Keycloak's broker endpoint with error=access_denied; Keycloak shows
    // its login page with the reason, and the client never gets a code.
    await page.waitForURL((u) => u.href.startsWith(ISSUER), { timeout: 30000 });
    await page.waitForLoadState('load');
    await shot('after-deny');
    assert.match(await page.textContent('body'), /Access denied when authenticating with Vipps/);
    assert.ok(!page.url().startsWith(callback), 'the client was not called back');
  } finally {
    await context.close();
  }
});
