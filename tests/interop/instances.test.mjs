// Node's openid-client 6 against two identity-bridge instances behind one issuer, on one
// real Redis and one standalone simulator: CIBA started through instance A, the tokens
// polled through instance B and the ID token's signature checked against B's JWKS.
//
// Run by `cargo xtask interop`, which builds the binaries and sets:
//   INTEROP_BIN_DIR  the directory holding `identity-bridge` and `vipps-login-sim`
//   REDIS_SERVER     the redis-server binary (else `redis-server` on PATH)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as client from 'openid-client';

const BIN_DIR = process.env.INTEROP_BIN_DIR;
if (!BIN_DIR) throw new Error('INTEROP_BIN_DIR is not set: run this through `cargo xtask interop`');

const KARI = '4712345678';
const procs = [];
let dir;
let SIM;
let ISSUER;
let A;
let B;

/** A free loopback port. */
function freePort() {
  return new Promise((ok, fail) => {
    const s = net.createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** Starts `bin` and resolves with the rest of its first stdout line starting with `prefix`. */
function start(bin, args, env, prefix) {
  const child = spawn(bin, args, { env: { ...process.env, RUST_LOG: 'warn', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  procs.push(child);
  return new Promise((ok, fail) => {
    child.once('exit', (code) => fail(new Error(`${path.basename(bin)} exited with ${code} before it was ready`)));
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      if (line.startsWith(prefix)) ok(line.slice(prefix.length).trim());
    });
  });
}

async function waitForRedis(port) {
  const until = Date.now() + 10000;
  while (Date.now() < until) {
    const up = await new Promise((ok) => {
      const s = net.connect(port, '127.0.0.1', () => { s.end(); ok(true); });
      s.once('error', () => ok(false));
    });
    if (up) return;
    await new Promise((ok) => setTimeout(ok, 50));
  }
  throw new Error('redis-server did not come up');
}

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'bridge-instances-'));
  const redisPort = await freePort();
  const redis = spawn(process.env.REDIS_SERVER || 'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' });
  procs.push(redis);
  await waitForRedis(redisPort);
  SIM = await start(path.join(BIN_DIR, 'vipps-login-sim'),
    ['--listen', '127.0.0.1:0', '--interval', '0.2', '--auto-users'], {}, '');
  const [portA, portB] = [await freePort(), await freePort()];
  ISSUER = `http://127.0.0.1:${portA}`;
  const env = {
    VIPPS_ISSUER: SIM,
    VIPPS_CLIENT_ID: 'demo-client',
    VIPPS_CLIENT_SECRET: 'demo-secret',
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    COOKIE_SECRET: 'interop-two-instances-cookie-secret-0123456789abcdef0123456789abcdef',
    STAFF_PASSWORD: 'interop-two-instances',
  };
  const bridge = (port) => start(path.join(BIN_DIR, 'identity-bridge'),
    ['--listen', `127.0.0.1:${port}`, '--public-url', ISSUER], env, 'issuer:');
  const [issuerA, issuerB] = [await bridge(portA), await bridge(portB)];
  assert.equal(issuerA, ISSUER);
  assert.equal(issuerB, ISSUER);
  A = `http://127.0.0.1:${portA}`;
  B = `http://127.0.0.1:${portB}`;
});

after(() => {
  for (const p of procs.reverse()) p.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const insecure = { execute: [client.allowInsecureRequests] };

/** openid-client configured from the issuer's discovery, its endpoints on instance `base`,
 * the JWKS fetched from instance `jwksBase`. */
async function configOn(base, jwksBase) {
  const discovered = await client.discovery(new URL(ISSUER), 'demo-rp', 'demo-rp-secret',
    client.ClientSecretBasic('demo-rp-secret'), insecure);
  const meta = discovered.serverMetadata();
  const on = (u) => u.replace(ISSUER, base);
  const config = new client.Configuration({
    ...meta,
    backchannel_authentication_endpoint: on(meta.backchannel_authentication_endpoint),
    token_endpoint: on(meta.token_endpoint),
    userinfo_endpoint: on(meta.userinfo_endpoint),
    jwks_uri: meta.jwks_uri.replace(ISSUER, jwksBase),
  }, 'demo-rp', 'demo-rp-secret', client.ClientSecretBasic('demo-rp-secret'));
  client.allowInsecureRequests(config);
  // Verify ID token signatures against this instance's JWKS, not only the claims.
  client.enableNonRepudiationChecks(config);
  return config;
}

async function approveOnPhone(msisdn) {
  const base = new URL('/', SIM).href.replace(/\/$/, '');
  const until = Date.now() + 10000;
  while (Date.now() < until) {
    const list = await (await fetch(`${base}/_sim/requests?msisdn=${msisdn}&status=pending`)).json();
    if (list.length) {
      const res = await fetch(`${base}/_sim/requests/${encodeURIComponent(list[0].auth_req_id)}/approve`, { method: 'POST' });
      assert.ok(res.ok, `approve: HTTP ${res.status}`);
      return;
    }
    await new Promise((ok) => setTimeout(ok, 50));
  }
  throw new Error(`no pending request on the phone of ${msisdn}`);
}

test('CIBA through instance A, the ID token verified with B\'s JWKS; polled on B, with A\'s', async () => {
  // Tokens issued (signed) by A, checked against the keys B publishes.
  const onA = await configOn(A, B);
  let started = await client.initiateBackchannelAuthentication(onA, {
    scope: 'openid profile phone',
    login_hint: `+${KARI}`,
  });
  await approveOnPhone(KARI);
  let tokens = await client.pollBackchannelAuthenticationGrant(onA, started);
  assert.equal(tokens.claims().phone_number, `+${KARI}`);
  // And the other way round, the login started on A and finished on B.
  const onB = await configOn(B, A);
  started = await client.initiateBackchannelAuthentication(onA, {
    scope: 'openid profile phone',
    login_hint: `+${KARI}`,
  });
  await approveOnPhone(KARI);
  tokens = await client.pollBackchannelAuthenticationGrant(onB, started);
  const claims = tokens.claims();
  assert.equal(claims.iss, ISSUER);
  assert.equal(claims.aud, 'demo-rp');
  assert.equal(claims.phone_number, `+${KARI}`);
  // The same JWKS on both instances; userinfo answers on either.
  const jwks = async (base) => (await (await fetch(`${base}/jwks`)).json()).keys.map((k) => k.kid);
  assert.deepEqual(await jwks(A), await jwks(B));
  const info = await client.fetchUserInfo(onA, tokens.access_token, claims.sub); // issued by B
  assert.equal(info.phone_number, `+${KARI}`);
});
