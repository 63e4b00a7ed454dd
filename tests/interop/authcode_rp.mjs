// Node's openid-client 6 as a relying party of way 2 (authorization code with PKCE S256,
// state and nonce), with the ID token's signature checked against the provider's JWKS.
//
// Driven by crates/vipps-login-provider/tests/openid_client_rp.rs, which plays the
// operator page:
//
//   node authcode_rp.mjs ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI
//
// prints `AUTHORIZE <url>`, reads the callback URL from stdin, redeems the code, fetches
// userinfo and prints `OK <json>`; a refusal prints `ERROR <error>` and exits 1.

import { createInterface } from 'node:readline';
import * as client from 'openid-client';

const [issuer, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const config = await client.discovery(
  new URL(issuer),
  clientId,
  clientSecret,
  client.ClientSecretBasic(clientSecret),
  { execute: [client.allowInsecureRequests] },
);
client.enableNonRepudiationChecks(config);

const pkceCodeVerifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri,
  scope: 'openid profile phone',
  code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
  code_challenge_method: 'S256',
  state,
  nonce,
});
console.log(`AUTHORIZE ${url.href}`);

const lines = createInterface({ input: process.stdin });
const callback = (await lines[Symbol.asyncIterator]().next()).value.trim();
lines.close();
try {
  const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const alg = JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url')).alg;
  console.log(`OK ${JSON.stringify({ id_token: claims, userinfo: info, alg })}`);
} catch (e) {
  console.log(`ERROR ${e.error ?? e.code ?? e.name}`);
  process.exitCode = 1;
}
