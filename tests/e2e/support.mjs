// Shared harness of the browser tests (imported by every `*.test.mjs`; `node --test`
// runs only those): start a reference app binary (which starts the Vipps simulator in
// process), read the URLs it prints, drive Debian's Chromium with playwright-core, save a
// screenshot of every page, and always stop the app.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

const here = import.meta.dirname;
export const BIN_DIR = process.env.E2E_BIN_DIR || path.resolve(here, '../../target/debug');
export const SHOT_DIR = process.env.E2E_SCREENSHOT_DIR || path.resolve(here, '../../target/e2e');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export const KARI = '4712345678';
export const OLA = '4798765432';
export const DANISH = '4587654321';
export const FINNISH = '358401234567';

/** How long any single file may run before everything it started is killed. */
const FILE_TIMEOUT_MS = 120_000;

const running = new Set();
const killAll = () => {
  for (const child of running) child.kill('SIGKILL');
};
process.on('exit', killAll);
const watchdog = setTimeout(() => {
  console.error(`e2e: ${path.basename(process.argv[1] || 'file')} ran over ${FILE_TIMEOUT_MS} ms; stopping`);
  killAll();
  process.exit(1);
}, FILE_TIMEOUT_MS);
watchdog.unref();

/** The staff password the tests start the sign-up desk with (`--staff-password`). */
export const STAFF_PASSWORD = 'e2e-staff-password';

/**
 * Opens the sign-up desk in `page`: the staff gate sends the clerk to its sign-in page
 * first; signing in with the staff password leads back to the desk.
 */
export async function openDesk(page, server) {
  await page.goto(server.app);
  await page.waitForSelector('#password');
  await page.fill('#password', STAFF_PASSWORD);
  await Promise.all([page.waitForURL(server.app), page.click('#sign-in')]);
}

/**
 * Starts `bin` (`counter` or `continue-on-phone`) on a free loopback port with short
 * simulator timings and resolves with its URLs once it printed `app:`, `phone:`, `sim:`.
 */
export async function startApp(bin, extraArgs = []) {
  const args = ['--listen', '127.0.0.1:0', '--sim-interval-ms', '100', ...extraArgs];
  const env = { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' };
  delete env.VIPPS_CLIENT_ID;
  const child = spawn(path.join(BIN_DIR, bin), args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  child.on('exit', () => running.delete(child));
  const urls = {};
  const lines = createInterface({ input: child.stdout });
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${bin} printed no URLs in 20 s:\n${stderr}`)), 20_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${bin} exited (${code}) before it was ready:\n${stderr}`));
    });
    lines.on('line', (line) => {
      const m = /^(app|phone|sim): (\S+)$/.exec(line);
      if (m) urls[m[1]] = m[2];
      if (urls.app && urls.phone && urls.sim) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  await ready;
  const app = new URL(urls.app);
  return {
    bin,
    /** The clerk's page, e.g. http://127.0.0.1:PORT/ */
    app: urls.app,
    /** The app's origin + `/`. */
    base: `${app.origin}/`,
    port: Number(app.port),
    /** The simulated phone of Kari (4712345678). */
    phone: urls.phone,
    /** The simulated phone of another demo user. */
    phoneOf: (msisdn) => urls.phone.replace(/\/_sim\/phone\/\d+$/, `/_sim/phone/${msisdn}`),
    /** The simulator's issuer and base URL. */
    sim: urls.sim,
    simBase: `${new URL(urls.sim).origin}/`,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const exited = once(child, 'exit');
      const timeout = new Promise((r) => setTimeout(r, 3_000, 'timeout'));
      if ((await Promise.race([exited, timeout])) === 'timeout') child.kill('SIGKILL');
    },
  };
}

/**
 * For a `describe` block: starts `bin` (as `startApp(bin, extraArgs)` does) and headless
 * Chromium before its tests, stops both after them. The tests read `server` and
 * `browser` off the returned object.
 */
export function appAndBrowser(bin, extraArgs = []) {
  const setup = { server: undefined, browser: undefined };
  before(async () => {
    setup.server = await startApp(bin, extraArgs);
    setup.browser = await launchBrowser();
  });
  after(async () => {
    await setup.browser?.close();
    await setup.server?.stop();
  });
  return setup;
}

/** The simulator's requests (control API), optionally for one number. */
export async function simRequests(server, msisdn) {
  const url = new URL('_sim/requests', server.simBase);
  if (msisdn) url.searchParams.set('msisdn', msisdn);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return res.json();
}

/** Launches headless Chromium (Debian's). */
export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
}

const isLoopback = (url) => {
  try {
    const { hostname, protocol } = new URL(url);
    if (protocol === 'data:' || protocol === 'about:') return true;
    return hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]';
  } catch {
    return false;
  }
};

/** A browser context that can only reach loopback. */
async function context(browser, options) {
  const ctx = await browser.newContext(options);
  ctx.setDefaultTimeout(10_000);
  await ctx.route(
    (url) => !isLoopback(url.href),
    (route) => route.abort('blockedbyclient'),
  );
  return ctx;
}

/**
 * The clerk's desktop browser; `options` adds to Playwright's context options (e.g.
 * `{ locale: 'nb-NO', timezoneId: 'Europe/Oslo' }`: the browser then asks for nb).
 */
export const clerkContext = (browser, options = {}) =>
  context(browser, { viewport: { width: 1000, height: 760 }, ...options });

/** The customer's phone browser (a separate cookie jar). */
export const phoneContext = (browser) =>
  context(browser, { viewport: { width: 420, height: 860 }, hasTouch: true });

/**
 * A screenshot helper for one test: `shot(page, 'login')` saves
 * `$E2E_SCREENSHOT_DIR/<test>-01-login.png`, numbered in order.
 */
export function screenshots(testName) {
  mkdirSync(SHOT_DIR, { recursive: true });
  // Screenshots of an earlier run of this test would mix with this run's.
  const earlier = new RegExp(`^${testName.replace(/[^\w-]/g, '')}-\\d{2}-.*\\.png$`);
  for (const file of readdirSync(SHOT_DIR)) {
    if (earlier.test(file)) rmSync(path.join(SHOT_DIR, file));
  }
  let n = 0;
  return async (page, step) => {
    n += 1;
    const file = path.join(SHOT_DIR, `${testName}-${String(n).padStart(2, '0')}-${step}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  };
}

/**
 * The customer's phone, in its own browser context: opens Kari's simulated phone, checks
 * that it shows the confirmation `code`, takes the `phone-push` screenshot and gives
 * consent. Resolves on the confirm step with `{ phoneCtx, phone }`.
 */
export async function phoneShowsCodeAndConsents(browser, server, code, shot) {
  const phoneCtx = await phoneContext(browser);
  const phone = await phoneCtx.newPage();
  await phone.goto(server.phone);
  assert.equal((await phone.textContent('#binding-message')).trim(), code);
  await shot(phone, 'phone-push');
  await phone.click('#consent');
  await phone.waitForSelector('#approve');
  return { phoneCtx, phone };
}

/** A raw GET with a chosen Host header (to see what the app does outside loopback). */
export function rawGet(port, pathname, headers) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathname, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res));
    });
    req.on('error', reject);
    req.setTimeout(5_000, () => req.destroy(new Error('timeout')));
  });
}

/** Submits the layer's login form for `phone` and resolves with the navigation response. */
export async function sendLogin(page, phone) {
  await page.fill('#phone', phone);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/auth/vipps/start') && r.request().method() === 'POST'),
    page.click('#start'),
  ]);
  await page.waitForLoadState();
  return response;
}
