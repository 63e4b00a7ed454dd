// The ways a login does not happen, in the browser: a malformed number, a number without
// Vipps (asked first, no push), the customer declines, the request expires, the rate limit.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  DANISH,
  FINNISH,
  KARI,
  OLA,
  appAndBrowser,
  clerkContext,
  phoneContext,
  screenshots,
  sendLogin,
  simRequests,
} from './support.mjs';

describe('counter: failures', { timeout: 90_000 }, () => {
  // One start per number per window, so that the limit shows after a cancel.
  const setup = appAndBrowser('counter', ['--rate-limit-per-number', '1']);

  test('invalid number: a clear message, and nothing reaches the simulator', async () => {
    const { server, browser } = setup;
    const shot = screenshots('invalid-number');
    const ctx = await clerkContext(browser);
    const page = await ctx.newPage();
    await page.goto(server.app);
    const response = await sendLogin(page, '12 34');
    assert.equal(response.status(), 422);
    const error = page.locator('#error');
    assert.equal(await error.getAttribute('data-error'), 'invalid_phone_number');
    assert.equal(await error.getAttribute('role'), 'alert');
    assert.match(await error.textContent(), /number/i);
    assert.equal(await page.inputValue('#phone'), '12 34', 'the typed number stays for correction');
    assert.equal(await page.getAttribute('#phone', 'aria-invalid'), 'true');
    await shot(page, 'login-error');
    assert.deepEqual(await simRequests(server), [], 'GET /_sim/requests is empty');
    await ctx.close();
  });

  test('no Vipps: the desk asks first, says so in Norwegian without JavaScript, and sends no push', async () => {
    const { server, browser } = setup;
    const shot = screenshots('no-vipps');
    const ctx = await clerkContext(browser, { locale: 'nb-NO', javaScriptEnabled: false });
    const page = await ctx.newPage();
    await page.goto(server.app);
    const response = await sendLogin(page, '+47 111 11 111');
    assert.equal(response.status(), 422);
    const error = page.locator('#error');
    assert.equal(await error.getAttribute('data-error'), 'no_vipps');
    assert.equal(await error.getAttribute('role'), 'alert');
    assert.match(await error.textContent(), /Dette nummeret har ikke Vipps/);
    assert.equal(await page.inputValue('#phone'), '+47 111 11 111', 'the typed number stays for correction');
    await shot(page, 'login-no-vipps');
    assert.deepEqual(await simRequests(server), [], 'GET /_sim/requests is empty: no push');
    await ctx.close();
  });

  test('decline: the customer says no on the phone, the clerk sees it live', async () => {
    const { server, browser } = setup;
    const shot = screenshots('decline');
    const clerk = await clerkContext(browser);
    const desk = await clerk.newPage();
    await desk.goto(server.app);
    await sendLogin(desk, OLA);
    await desk.waitForURL(/\/auth\/vipps\/wait\//);
    await shot(desk, 'clerk-wait');

    const phoneCtx = await phoneContext(browser);
    const phone = await phoneCtx.newPage();
    await phone.goto(server.phoneOf(OLA));
    await shot(phone, 'phone-push');
    await phone.click('#deny');
    await phone.waitForSelector('#denied');
    await shot(phone, 'phone-denied');

    await desk.waitForSelector('#result[data-status="declined"]');
    assert.match(await desk.textContent('#result h1'), /declined/i);
    await shot(desk, 'clerk-declined');
    await desk.goto(new URL('member', server.base).href);
    assert.match(desk.url(), /\/auth\/vipps\/login/, 'not logged in');
    await clerk.close();
    await phoneCtx.close();
  });

  test('rate limit: a second start for the same number gets a 429 page with Retry-After', async () => {
    const { server, browser } = setup;
    const shot = screenshots('rate-limit');
    const ctx = await clerkContext(browser);
    const page = await ctx.newPage();
    await page.goto(server.app);
    await sendLogin(page, FINNISH);
    await page.waitForURL(/\/auth\/vipps\/wait\//);
    await page.click('#cancel');
    await page.waitForSelector('#result[data-status="cancelled"]');
    await shot(page, 'cancelled');

    await page.click('#again');
    await page.waitForSelector('#phone');
    const response = await sendLogin(page, FINNISH);
    assert.equal(response.status(), 429);
    const retryAfter = Number(response.headers()['retry-after']);
    assert.ok(retryAfter > 0 && retryAfter <= 600, `Retry-After ${retryAfter}`);
    assert.equal(await page.getAttribute('#result', 'data-status'), 'rate_limited');
    assert.equal(Number(await page.getAttribute('#result', 'data-retry-after')), retryAfter);
    await shot(page, 'refused');

    // Other numbers are not affected.
    await page.click('#again');
    const other = await sendLogin(page, KARI);
    assert.equal(other.status(), 303);
    await page.click('#cancel');
    await page.waitForSelector('#result[data-status="cancelled"]');
    await ctx.close();
  });
});

describe('counter: expiry', { timeout: 60_000 }, () => {
  const setup = appAndBrowser('counter', ['--sim-expires-in-secs', '2']);

  test('expiry: nobody answers, the clerk sees that the login expired', async () => {
    const { server, browser } = setup;
    const shot = screenshots('expiry');
    const ctx = await clerkContext(browser);
    const desk = await ctx.newPage();
    await desk.goto(server.app);
    await sendLogin(desk, DANISH);
    await desk.waitForURL(/\/auth\/vipps\/wait\//);
    await shot(desk, 'clerk-wait');
    await desk.waitForSelector('#result[data-status="expired"]', { timeout: 15_000 });
    assert.match(await desk.textContent('#result h1'), /expired/i);
    await shot(desk, 'clerk-expired');
    const [request] = await simRequests(server, DANISH);
    assert.equal(request.status, 'expired');
    await ctx.close();
  });
});
