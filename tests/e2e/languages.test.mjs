// The clerk's words in the browser, in Norwegian and English: the pages follow the
// browser's language; a typed number's problem is named; after a decline the page says
// so and counts the cool-down down live, with the same request offered again at zero;
// the simulator hint leads to the phone of the number in the login; at the
// continue-on-phone desk (never polled: Vipps answers that variant's token endpoint once)
// a decline in the app is not reported, the login expires, and the cool-down after an
// unanswered push counts down.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  DANISH,
  FINNISH,
  KARI,
  OLA,
  appAndBrowser,
  clerkContext,
  openDesk,
  phoneContext,
  phoneShowsCodeAndConsents,
  screenshots,
  sendLogin,
  simRequests,
  STAFF_PASSWORD,
} from './support.mjs';

const NB = { locale: 'nb-NO', timezoneId: 'Europe/Oslo' };
const EN = { locale: 'en-GB', timezoneId: 'Europe/London' };

/** Seconds shown in `#countdown` (`m:ss` or a plain count). */
async function countdownSeconds(page) {
  const text = (await page.textContent('#countdown')).trim();
  const m = /^(\d+):(\d{2})$/.exec(text);
  return m ? Number(m[1]) * 60 + Number(m[2]) : Number(text);
}

describe('counter in Norwegian and English', { timeout: 100_000 }, () => {
  const setup = appAndBrowser('counter', [
    '--sim-expires-in-secs',
    '60',
    '--declined-cool-down-secs',
    '4',
  ]);

  test('nb: the clerk reads Norwegian from the login form to the member page', async () => {
    const { server, browser } = setup;
    const shot = screenshots('nb-variant1');
    const clerk = await clerkContext(browser, NB);
    const desk = await clerk.newPage();
    await desk.goto(server.app);
    assert.equal(await desk.getAttribute('html', 'lang'), 'nb');
    assert.equal((await desk.textContent('.vl-app')).trim(), 'Kundeklubbens skranke · simulator');
    assert.equal((await desk.textContent('h1')).trim(), 'Logg inn med Vipps');
    assert.equal((await desk.textContent('#start')).trim(), 'Send innloggingsforespørsel');
    const body = await desk.textContent('body');
    for (const english of ['Log in with Vipps', 'Mobile number', 'Send login request']) {
      assert.ok(!body.includes(english), `English ${english} left on the Norwegian page`);
    }
    await shot(desk, 'login');

    // Letters are named, not dropped by the formatter and reported as "empty".
    await desk.locator('#phone').pressSequentially('kari');
    assert.equal(await desk.inputValue('#phone'), 'kari');
    let res = await sendLogin(desk, 'kari');
    assert.equal(res.status(), 422);
    assert.equal(
      (await desk.textContent('#error')).trim(),
      'Telefonnummeret er ikke gyldig: det inneholder bokstaven «k»; et telefonnummer har bare sifre.',
    );
    // Something after the number is refused, and kept in the field for correction.
    await desk.fill('#phone', '');
    await desk.locator('#phone').pressSequentially('+4712345678x');
    assert.equal(await desk.inputValue('#phone'), '+47 123 45 678x');
    res = await sendLogin(desk, '+47 123 45 678x');
    assert.equal(res.status(), 422);
    assert.match(await desk.textContent('#error'), /«x» etter nummeret hører ikke til et telefonnummer/);
    await shot(desk, 'login-trailing');
    assert.equal((await simRequests(server, KARI)).length, 0, 'nothing reached the simulator');

    // A login: Norwegian waiting page, then the member page with a date in local time.
    await sendLogin(desk, KARI);
    await desk.waitForURL(/\/auth\/vipps\/wait\//);
    assert.equal((await desk.textContent('h1')).trim(), 'Venter på kunden');
    assert.match(await desk.getAttribute('#sim-phone', 'href'), new RegExp(`/_sim/phone/${KARI}$`));
    const code = (await desk.textContent('#binding-message')).trim();
    const { phoneCtx, phone } = await phoneShowsCodeAndConsents(browser, server, code, shot);
    await phone.click('#approve');
    await desk.waitForURL(/\/member$/);
    assert.equal((await desk.textContent('#member-status')).trim(), 'Nytt medlem – velkommen i klubben!');
    const since = desk.locator('#member-since');
    await desk.waitForSelector('#member-since[data-local="true"]');
    const iso = await since.getAttribute('datetime');
    const expected = await desk.evaluate(
      (d) => new Date(d).toLocaleString('nb', { dateStyle: 'long', timeStyle: 'short' }),
      iso,
    );
    assert.equal((await since.textContent()).trim(), expected);
    assert.match(expected, /\d{4}/, 'a date with the year');
    assert.ok(!expected.includes('UTC'), 'local time');
    await shot(desk, 'member');

    // "Neste kunde" leads straight to the (Norwegian) login form.
    assert.equal((await desk.textContent('#next-customer')).trim(), 'Neste kunde');
    await desk.click('#next-customer');
    await desk.waitForURL(/\/auth\/vipps\/login/);
    assert.equal((await desk.textContent('h1')).trim(), 'Logg inn med Vipps');
    await clerk.close();
    await phoneCtx.close();
  });

  for (const [lang, options, number, words] of [
    [
      'nb',
      NB,
      OLA,
      {
        declined: 'Innloggingen ble avvist',
        coolDown: /^Kunden avviste forrige forespørsel; vent 0:0\d før du spør igjen\.$/,
        over: 'Ventetiden er over; du kan sende en ny forespørsel nå.',
        retry: 'Send en ny forespørsel',
      },
    ],
    [
      'en',
      EN,
      FINNISH,
      {
        declined: 'Login declined',
        coolDown: /^The customer declined the last request; wait 0:0\d before asking again\.$/,
        over: 'The wait is over; you can send a new request now.',
        retry: 'Send a new request',
      },
    ],
  ]) {
    test(`${lang}: after a decline the page says so and counts the cool-down down live`, async () => {
      const { server, browser } = setup;
      const shot = screenshots(`${lang}-cool-down`);
      const clerk = await clerkContext(browser, options);
      const desk = await clerk.newPage();
      await desk.goto(server.app);
      await sendLogin(desk, number);
      await desk.waitForURL(/\/auth\/vipps\/wait\//);
      // The hint leads to the phone of the number in this login (not Kari's).
      assert.match(await desk.getAttribute('#sim-phone', 'href'), new RegExp(`/_sim/phone/${number}$`));
      const phoneCtx = await phoneContext(browser);
      const phone = await phoneCtx.newPage();
      await phone.goto(server.phoneOf(number));
      await phone.click('#deny');
      await phone.waitForSelector('#denied');
      await desk.waitForSelector('#result[data-status="declined"]');
      assert.equal((await desk.textContent('#result h1')).trim(), words.declined);

      // Asking again right away: the wait, in words, counting down.
      await desk.click('#again');
      const res = await sendLogin(desk, number);
      assert.equal(res.status(), 429);
      assert.match((await desk.textContent('#message')).trim(), words.coolDown);
      assert.ok(!(await desk.textContent('body')).match(/Too many|For mange/), 'not a rate limit');
      assert.equal(await desk.isDisabled('#retry'), true, 'held during the wait');
      assert.equal(await desk.isDisabled('#again'), false, 'the next customer can be served');
      await shot(desk, 'counting');
      const first = await countdownSeconds(desk);
      await desk.waitForFunction(
        (n) => Number(document.getElementById('countdown')?.dataset.left) < n,
        first,
      );
      // At zero: the wait is over and the same request can be sent again.
      await desk.waitForSelector('#retry:not([disabled])', { timeout: 8_000 });
      assert.equal((await desk.textContent('#message')).trim(), words.over);
      assert.equal((await desk.textContent('#retry')).trim(), words.retry);
      await shot(desk, 'over');
      const [retried] = await Promise.all([
        desk.waitForResponse((r) => r.url().endsWith('/auth/vipps/start')),
        desk.click('#retry'),
      ]);
      assert.equal(retried.status(), 303, await retried.text().catch(() => ''));
      await desk.waitForURL(/\/auth\/vipps\/wait\//);
      await desk.click('#cancel');
      await desk.waitForSelector('#result[data-status="cancelled"]');
      await clerk.close();
      await phoneCtx.close();
    });
  }

  test('without JavaScript the wait stays correct and the request can be sent again', async () => {
    const { server, browser } = setup;
    const shot = screenshots('nb-cool-down-nojs');
    const clerk = await clerkContext(browser, { ...NB, javaScriptEnabled: false });
    const desk = await clerk.newPage();
    await desk.goto(new URL('auth/vipps/login', server.base).href);
    await sendLogin(desk, DANISH);
    const phoneCtx = await phoneContext(browser);
    const phone = await phoneCtx.newPage();
    await phone.goto(server.phoneOf(DANISH));
    await phone.click('#deny');
    await phone.waitForSelector('#denied');
    await desk.goto(new URL('auth/vipps/login', server.base).href);
    const res = await sendLogin(desk, DANISH);
    assert.equal(res.status(), 429);
    assert.match(await desk.textContent('#wait-noscript'), /Tiden regnes fra da siden ble vist\./);
    assert.equal(await desk.isDisabled('#retry'), false, 'usable without scripts');
    await shot(desk, 'refused');
    const again = await Promise.all([
      desk.waitForResponse((r) => r.url().endsWith('/auth/vipps/start')),
      desk.click('#retry'),
    ]);
    assert.ok([303, 429].includes(again[0].status()), `${again[0].status()}`);
    await clerk.close();
    await phoneCtx.close();
  });
});

describe('continue-on-phone in Norwegian', { timeout: 90_000 }, () => {
  const setup = appAndBrowser('continue-on-phone', [
    '--sim-expires-in-secs',
    '6',
    '--ignored-cool-down-secs',
    '3',
    '--staff-password',
    STAFF_PASSWORD,
  ]);

  test('nb: a decline in the app is not reported in this variant; the login expires, then the cool-down counts down', async () => {
    const { server, browser } = setup;
    const shot = screenshots('nb-desk-decline');
    const clerk = await clerkContext(browser, NB);
    const desk = await clerk.newPage();
    await openDesk(desk, server);
    assert.equal(await desk.getAttribute('html', 'lang'), 'nb');
    assert.equal((await desk.textContent('h1')).trim(), 'Innmeldingsskranke');
    await desk.fill('#desk-phone', '+47 987 65 432');
    await desk.click('#desk-start');
    await desk.waitForSelector('#desk-login[data-status="waiting"]');
    assert.match(await desk.textContent('#desk-status'), /Venter på at kunden bekrefter i Vipps/);
    assert.match(await desk.getAttribute('#sim-phone', 'href'), new RegExp(`/_sim/phone/${OLA}$`));

    const phoneCtx = await phoneContext(browser);
    const phone = await phoneCtx.newPage();
    await phone.goto(server.phoneOf(OLA));
    await phone.click('#deny');
    await phone.waitForSelector('#denied');

    // Vipps reports no decline in the continue-in-browser variant: the desk waits on.
    await desk.waitForTimeout(1500);
    assert.equal(await desk.getAttribute('#desk-login', 'data-status'), 'waiting');
    await desk.waitForSelector('#desk-login[data-status="expired"]', { timeout: 15_000 });
    // The desk's own clock may reach zero a moment before the engine's deadline passes
    // and frees the number: give the engine that moment.
    await desk.waitForTimeout(1500);
    assert.equal(await desk.isVisible('#desk-again'), true);
    assert.equal((await desk.textContent('#desk-again')).trim(), 'Neste kunde');
    await shot(desk, 'expired');

    // Asking Ola again at once: the cool-down after an unanswered push, in words,
    // counting down; the start button waits for zero (another number could be sent).
    await desk.click('#desk-again');
    await desk.fill('#desk-phone', '+47 987 65 432');
    const [refused] = await Promise.all([
      desk.waitForResponse((r) => r.url().endsWith('/auth/vipps/api/start')),
      desk.click('#desk-start'),
    ]);
    assert.equal(refused.status(), 429);
    await desk.waitForSelector('#desk-error:not([hidden])');
    assert.match(
      (await desk.textContent('#desk-error')).trim(),
      /^Kunden svarte ikke på forrige forespørsel; du kan sende en ny om 0:0\d\.$/,
    );
    assert.equal(await desk.isDisabled('#desk-start'), true);
    await shot(desk, 'cool-down');
    await desk.fill('#desk-phone', '+47 123 45 678');
    assert.equal(await desk.isDisabled('#desk-start'), false, 'another number may be sent');
    await desk.fill('#desk-phone', '+47 987 65 432');
    assert.equal(await desk.isDisabled('#desk-start'), true);
    await desk.waitForSelector('#desk-start:not([disabled])', { timeout: 8_000 });
    assert.equal(
      (await desk.textContent('#desk-error')).trim(),
      'Ventetiden er over; du kan sende en ny forespørsel nå.',
    );
    await clerk.close();
    await phoneCtx.close();
  });
});
