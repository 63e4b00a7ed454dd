// Staff sign in to the identity bridge's operator pages through the shop's own OpenID
// provider (a Keycloak staff realm), in headless Chromium (Playwright): an operator in the
// allowed group reaches the operator page and starts a login for the simulator's
// customer; one outside the group is refused; without a sign-in there is no operator
// page and the operator API starts nothing; sign-out ends the session.
//
// Run by `cargo xtask keycloak`, which starts that bridge with `--staff-oidc-*` and sets:
//   KC_URL                Keycloak's base URL
//   STAFF_REALM           the staff realm (tests/keycloak/realm-staff.json)
//   STAFF_BRIDGE_URL      the bridge's issuer
//   STAFF_BRIDGE_SIM_URL  the simulator behind it
//   CHROMIUM_PATH         Debian's Chromium
//   SHOT_DIR              where screenshots of every page go

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const need = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this through \`cargo xtask keycloak\``);
  return v.replace(/\/$/, '');
};
const KC_URL = need('KC_URL');
const STAFF_REALM = need('STAFF_REALM');
const BRIDGE = need('STAFF_BRIDGE_URL');
const SIM_URL = need('STAFF_BRIDGE_SIM_URL');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SHOT_DIR = process.env.SHOT_DIR || path.resolve(import.meta.dirname, '../../target/keycloak/shots');
const STAFF_ISSUER = `${KC_URL}/realms/${STAFF_REALM}`;
const KARI = '4712345678';

let browser;

before(async () => {
  mkdirSync(SHOT_DIR, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
});

async function simRequests() {
  const res = await fetch(`${SIM_URL}/_sim/requests`);
  assert.equal(res.status, 200);
  return res.json();
}

/** A fresh browser, its page, and a screenshot function named after `name`. */
async function fresh(name) {
  const context = await browser.newContext();
  const page = await context.newPage();
  let n = 0;
  const shot = (what) => page.screenshot({ path: path.join(SHOT_DIR, `staff-${name}-${++n}-${what}.png`) });
  return { context, page, shot };
}

/** Opens the operator page; the bridge sends the browser to the staff realm's login. */
async function signInAtTheShop(page, shot, username, password) {
  await page.goto(`${BRIDGE}/operator/login`);
  await page.waitForURL((u) => u.href.startsWith(`${STAFF_ISSUER}/protocol/openid-connect/auth`), { timeout: 20000 });
  const asked = new URL(page.url());
  assert.equal(asked.searchParams.get('client_id'), 'identity-bridge');
  assert.equal(asked.searchParams.get('code_challenge_method'), 'S256');
  assert.ok(asked.searchParams.get('state') && asked.searchParams.get('nonce'));
  await shot('shop-login');
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('#kc-login');
  await page.waitForURL((u) => u.href.startsWith(BRIDGE), { timeout: 20000 });
  await page.waitForLoadState('load');
}

test('no staff sign-in: no operator page, and the operator API starts nothing', async () => {
  const { context, page, shot } = await fresh('anonymous');
  try {
    const before = (await simRequests()).length;
    const res = await page.request.post(`${BRIDGE}/operator/api/start`, {
      headers: { 'x-requested-with': 'fetch' },
      data: { phone: KARI },
      maxRedirects: 0,
    });
    assert.equal(res.status(), 401);
    await page.goto(`${BRIDGE}/operator/login`);
    await page.waitForURL((u) => u.href.startsWith(STAFF_ISSUER), { timeout: 20000 });
    await shot('sent-to-the-shop');
    assert.equal(await page.locator('#phone').count(), 0, 'no "type a number" without a sign-in');
    assert.equal((await simRequests()).length, before, 'no push was sent');
  } finally {
    await context.close();
  }
});

test('an operator in the allowed group operates: the operator page starts a login for the customer', async () => {
  const { context, page, shot } = await fresh('member');
  try {
    await signInAtTheShop(page, shot, 'olga.operator', 'olga-operator-password');
    await page.waitForURL((u) => u.href.startsWith(`${BRIDGE}/operator/login`), { timeout: 20000 });
    await shot('operator-page');
    await page.fill('#phone', KARI);
    await page.click('#start');
    const code = (await page.textContent('#binding-message')).trim();
    assert.match(code, /^[A-Z0-9-]{5,8}$/);
    await shot('waiting');
    const req = (await simRequests()).find((r) => r.binding_message === code);
    assert.ok(req, 'the simulator got the login request');
    assert.equal(req.msisdn, KARI);

    // Signing out ends the session: the operator API is closed again.
    await page.goto(`${BRIDGE}/staff/sign-out`);
    await shot('signed-out');
    const res = await page.request.post(`${BRIDGE}/operator/api/start`, {
      headers: { 'x-requested-with': 'fetch' },
      data: { phone: KARI },
      maxRedirects: 0,
    });
    assert.equal(res.status(), 401);
  } catch (e) {
    await shot('failure').catch(() => {});
    throw e;
  } finally {
    await context.close();
  }
});

test('staff outside the allowed group are refused with a page that says so', async () => {
  const { context, page, shot } = await fresh('outsider');
  try {
    const before = (await simRequests()).length;
    await signInAtTheShop(page, shot, 'otto.outsider', 'otto-outsider-password');
    await shot('refused');
    assert.ok(page.url().startsWith(`${BRIDGE}/staff/callback`), page.url());
    await page.waitForSelector('#refused');
    assert.match(await page.textContent('#refused'), /not as a member of the group allowed to operate/);
    assert.equal((await page.textContent('#who')).trim(), 'otto.outsider');
    assert.equal(await page.locator('#phone').count(), 0);
    const res = await page.request.post(`${BRIDGE}/operator/api/start`, {
      headers: { 'x-requested-with': 'fetch' },
      data: { phone: KARI },
      maxRedirects: 0,
    });
    assert.equal(res.status(), 401);
    assert.equal((await simRequests()).length, before, 'no push was sent');
  } catch (e) {
    await shot('failure').catch(() => {});
    throw e;
  } finally {
    await context.close();
  }
});
