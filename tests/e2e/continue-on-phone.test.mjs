// Variant 2 (continue in browser) in the browser: the clerk starts at the desk, the
// customer approves on the simulated phone, the phone's browser lands on the merchant's
// welcome page logged in, accepts the terms; the clerk's desk follows live.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  appAndBrowser,
  clerkContext,
  openDesk,
  phoneShowsCodeAndConsents,
  screenshots,
  simRequests,
  STAFF_PASSWORD,
} from './support.mjs';

describe('continue-on-phone (continue in browser)', { timeout: 90_000 }, () => {
  const setup = appAndBrowser('continue-on-phone', [
    '--sim-expires-in-secs',
    '60',
    '--staff-password',
    STAFF_PASSWORD,
  ]);

  test('variant 2: the phone continues to the merchant page and accepts the terms', async () => {
    const { server, browser } = setup;
    const shot = screenshots('variant2');
    const clerk = await clerkContext(browser);
    const desk = await clerk.newPage();

    // The desk, empty; the clerk types the number and gets the code to read aloud.
    await openDesk(desk, server);
    await desk.waitForSelector('#no-handovers');
    assert.equal(await desk.isVisible('#start-login'), false, 'the no-JS link gives way to the form');
    await shot(desk, 'clerk-desk-empty');
    await desk.fill('#desk-phone', '+47 123 45 678');
    const [started] = await Promise.all([
      desk.waitForResponse((r) => r.url().endsWith('/auth/vipps/api/start')),
      desk.click('#desk-start'),
    ]);
    assert.equal(started.status(), 201);
    await desk.waitForSelector('#desk-login[data-status="waiting"]');
    const code = (await desk.textContent('#desk-code')).trim();
    assert.match(code, /^[A-Z0-9]{3}-[A-Z0-9]{3}$/);
    assert.match(await desk.textContent('#desk-expires'), /expires in \d+ s/);
    await shot(desk, 'clerk-wait');

    // The customer's phone: same code, consent, confirm, and the browser goes on to the
    // merchant's page (the layer's callback logs it in and sends it to /welcome).
    const { phoneCtx, phone } = await phoneShowsCodeAndConsents(browser, server, code, shot);
    await Promise.all([phone.waitForURL(`${server.base}welcome`), phone.click('#approve')]);
    assert.equal((await phone.textContent('#welcome-name')).trim(), 'Kari Nordmann');
    await shot(phone, 'phone-welcome');

    // The clerk's screen says, live, that the customer continues on the phone.
    await desk.waitForSelector('#desk-login[data-status="continued"]');
    assert.match(await desk.textContent('#desk-status'), /Kari N\. continued on the phone/);
    await desk.waitForSelector('.handover[data-status="continued"]');
    await shot(desk, 'clerk-desk-continued');

    // The clerk's browser is not the customer's: /welcome shows it nothing of hers.
    const peek = await clerk.newPage();
    await peek.goto(`${server.base}welcome`);
    await peek.waitForSelector('#ended');
    assert.ok(!(await peek.content()).includes('Kari'), 'nothing of the customer on the clerk\'s browser');
    await peek.close();

    // The terms form is CSRF-protected.
    const forged = await phoneCtx.request.post(`${server.base}welcome`, {
      form: { terms: 'yes', csrf_token: 'forged' },
      maxRedirects: 0,
    });
    assert.equal(forged.status(), 403);

    // Accept, with marketing; the desk updates by itself.
    await phone.check('#terms');
    await phone.check('#marketing');
    await shot(phone, 'phone-terms-ticked');
    await phone.click('#accept');
    await phone.waitForSelector('#accepted');
    assert.equal(await phone.getAttribute('#accepted', 'data-marketing'), 'yes');
    await shot(phone, 'phone-accepted');
    await desk.waitForSelector('#desk-login[data-status="accepted"]');
    assert.match(await desk.textContent('#desk-status'), /accepted the terms and wants marketing/);
    await desk.waitForSelector('.handover[data-status="accepted"]');
    assert.match(await desk.textContent('.handover'), /Terms accepted .* marketing: yes/);
    await shot(desk, 'clerk-desk-accepted');

    // Next customer: the form is back.
    await desk.click('#desk-again');
    await desk.waitForSelector('#desk-phone');

    // The customer logs out on the phone.
    await phone.click('#logout');
    await phone.waitForSelector('#result[data-status="logged_out"]');
    await shot(phone, 'phone-logged-out');
    // Logged out, the phone is told its sign-up ended (not sent to the clerk's pages).
    await phone.goto(`${server.base}welcome`);
    await phone.waitForSelector('#ended');

    await clerk.close();
    await phoneCtx.close();
  });

  test('desk: a malformed number is explained on the desk and never reaches the simulator', async () => {
    const { server, browser } = setup;
    const shot = screenshots('variant2-invalid');
    const clerk = await clerkContext(browser);
    const desk = await clerk.newPage();
    await openDesk(desk, server);
    const before = (await simRequests(server)).length;
    await desk.fill('#desk-phone', '+47 12');
    const [res] = await Promise.all([
      desk.waitForResponse((r) => r.url().endsWith('/auth/vipps/api/start')),
      desk.click('#desk-start'),
    ]);
    assert.equal(res.status(), 400);
    await desk.waitForSelector('#desk-error[data-error="invalid_phone_number"]');
    assert.match(await desk.textContent('#desk-error'), /number/i);
    await shot(desk, 'desk-error');
    assert.equal((await simRequests(server)).length, before);
    await clerk.close();
  });
});
