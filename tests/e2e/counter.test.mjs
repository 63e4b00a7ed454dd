// Variant 1 (finish in app) in the browser: the `counter` desk and the simulator's phone,
// plus logout, CSRF rejection and the session cookie's flags.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  KARI,
  OLA,
  appAndBrowser,
  clerkContext,
  phoneShowsCodeAndConsents,
  rawGet,
  screenshots,
  sendLogin,
  simRequests,
} from './support.mjs';

describe('counter (finish in app)', { timeout: 90_000 }, () => {
  const setup = appAndBrowser('counter', ['--sim-expires-in-secs', '60']);

  test('variant 1: the clerk logs Kari in, the phone approves, the clerk sees the member live', async () => {
    const { server, browser } = setup;
    const shot = screenshots('variant1');
    const clerk = await clerkContext(browser);
    const desk = await clerk.newPage();
    const eventStreams = [];
    desk.on('request', (r) => {
      if (r.url().includes('/auth/vipps/events/')) eventStreams.push(r.url());
    });

    // The clerk's page leads to the layer's login page.
    await desk.goto(server.app);
    assert.match(desk.url(), /\/auth\/vipps\/login\?return_to=%2Fmember$/);
    await shot(desk, 'clerk-login');

    // The number is formatted as it is typed.
    await desk.locator('#phone').pressSequentially('+4712345678');
    assert.equal(await desk.inputValue('#phone'), '+47 123 45 678');
    const [response] = await Promise.all([
      desk.waitForResponse((r) => r.url().endsWith('/auth/vipps/start')),
      desk.click('#start'),
    ]);
    assert.equal(response.status(), 303);
    await desk.waitForURL(/\/auth\/vipps\/wait\//);
    const code = (await desk.textContent('#binding-message')).trim();
    assert.match(code, /^[A-Z0-9]{3}-[A-Z0-9]{3}$/);
    assert.equal(await desk.getAttribute('#status', 'data-status'), 'pending');
    await shot(desk, 'clerk-wait');

    // The customer's phone shows the same code; first time: consent, then confirm.
    const { phoneCtx, phone } = await phoneShowsCodeAndConsents(browser, server, code, shot);
    await shot(phone, 'phone-confirm');
    await phone.click('#approve');
    await phone.waitForSelector('#done');
    await shot(phone, 'phone-done');

    // The clerk's screen moves on by itself (server-sent events) to the member.
    await desk.waitForURL(/\/member$/);
    assert.ok(eventStreams.length > 0, 'the waiting page listened to server-sent events');
    assert.equal((await desk.textContent('#member-name')).trim(), 'Kari Nordmann');
    assert.equal(await desk.getAttribute('#member-status', 'data-status'), 'new');
    assert.equal((await desk.textContent('#member-phone')).trim(), '+47 123 45 678');
    assert.match(await desk.textContent('#member-address'), /Oslo/);
    await shot(desk, 'clerk-member');

    // "Next customer" logs out and goes straight on to the login form; the member page
    // is guarded again.
    await desk.click('#next-customer');
    await desk.waitForURL(/\/auth\/vipps\/login\?return_to=%2Fmember$/);
    await desk.waitForSelector('#phone');
    await shot(desk, 'clerk-next-customer');
    await desk.goto(new URL('member', server.base).href);
    assert.match(desk.url(), /\/auth\/vipps\/login/);

    // Kari again: consent is remembered, the member is welcomed back.
    await sendLogin(desk, KARI);
    await desk.waitForURL(/\/auth\/vipps\/wait\//);
    await phone.goto(server.phone);
    await phone.click('#approve');
    await phone.waitForSelector('#done');
    await desk.waitForURL(/\/member$/);
    assert.equal(await desk.getAttribute('#member-status', 'data-status'), 'returning');
    assert.equal((await desk.textContent('#member-visits')).trim(), '2');
    await shot(desk, 'clerk-member-returning');
    await clerk.close();
    await phoneCtx.close();
  });

  test('CSRF: forms without or with a wrong token are refused with 403', async () => {
    const { server, browser } = setup;
    const shot = screenshots('csrf');
    const ctx = await clerkContext(browser);
    const page = await ctx.newPage();
    await page.goto(new URL('auth/vipps/login', server.base).href);
    const before = (await simRequests(server, OLA)).length;

    // Scripted posts into the same session.
    const start = new URL('auth/vipps/start', server.base).href;
    const none = await ctx.request.post(start, { form: { phone: OLA }, maxRedirects: 0 });
    assert.equal(none.status(), 403);
    assert.match(await none.text(), /data-status="csrf"/);
    const wrong = await ctx.request.post(start, {
      form: { phone: OLA, csrf_token: 'not-the-token' },
      maxRedirects: 0,
    });
    assert.equal(wrong.status(), 403);
    // (A visitor has no session, so a logout without a token has nothing to end; the
    // layer's own tests check that a session's logout needs its token.)

    // The browser's own form with a tampered token.
    await page.$eval('input[name="csrf_token"]', (el) => {
      el.value = 'tampered';
    });
    const response = await sendLogin(page, OLA);
    assert.equal(response.status(), 403);
    assert.equal(await page.getAttribute('#result', 'data-status'), 'csrf');
    await shot(page, 'refused');

    assert.equal((await simRequests(server, OLA)).length, before, 'nothing reached the simulator');
    await ctx.close();
  });

  test('session cookie: HttpOnly, SameSite=Lax, Path=/, Secure from the configured public URL', async () => {
    const { server, browser } = setup;
    const ctx = await clerkContext(browser);
    const page = await ctx.newPage();
    await page.goto(new URL('auth/vipps/login', server.base).href);
    // A visitor gets only a sealed CSRF cookie: no session is stored until a login starts.
    const before = await ctx.cookies(server.base);
    assert.deepEqual(before.map((c) => c.name), ['vipps_login_csrf']);
    assert.equal(before[0].httpOnly, true);
    assert.equal(before[0].sameSite, 'Lax');
    const started = await sendLogin(page, OLA);
    assert.equal(started.status(), 303);
    const cookies = await ctx.cookies(server.base);
    const session = cookies.find((c) => c.name === 'vipps_login');
    assert.ok(session, `a vipps_login cookie in ${JSON.stringify(cookies.map((c) => c.name))}`);
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Lax');
    assert.equal(session.path, '/');
    assert.equal(session.secure, false, 'not Secure: the app\'s public URL is plain http on loopback');
    assert.ok(session.expires > Date.now() / 1000, 'a persistent cookie with Max-Age');
    const visible = await page.evaluate(() => document.cookie);
    assert.ok(!visible.includes('vipps_login'), 'scripts cannot read it');

    await page.click('#cancel');
    await page.waitForLoadState();

    // The request's Host does not decide the flag; the configured public URL does (the
    // Rust tests show an https public URL keeps cookies Secure under `Host: 127.0.0.1`).
    const res = await rawGet(server.port, '/auth/vipps/login', { Host: 'desk.example.com' });
    const setCookie = (res.headers['set-cookie'] || []).find((c) => c.startsWith('vipps_login_csrf='));
    assert.ok(setCookie, 'Set-Cookie for a new visitor');
    assert.doesNotMatch(setCookie, /;\s*Secure/i);
    assert.match(setCookie, /;\s*HttpOnly/i);
    assert.match(setCookie, /;\s*SameSite=Lax/i);
    await ctx.close();
  });
});
