"""Python's authlib as a relying party of way 2 (authorization code with PKCE S256).

Driven by crates/vipps-login-provider/tests/authlib_rp.rs, which plays the operator page:

    python authlib_rp.py ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI

prints `AUTHORIZE <url>`, reads the callback URL (the redirect with code and state) from
stdin, redeems the code with its verifier, validates the ID token with joserfc (signature
against the provider's JWKS) and authlib's CodeIDToken (iss, aud, exp, nonce, at_hash),
fetches userinfo and prints `OK <json>`. A refusal prints `ERROR <error>` and exits 1.
"""

import json
import sys

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import MismatchingStateError
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc6749.errors import MismatchingStateException
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet


def main() -> int:
    issuer, client_id, client_secret, redirect_uri = sys.argv[1:5]
    meta = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
    assert meta["issuer"] == issuer, meta["issuer"]
    assert "S256" in meta["code_challenge_methods_supported"]
    session = OAuth2Session(
        client_id,
        client_secret,
        scope="openid profile phone email",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = generate_token(64)
    nonce = generate_token(24)
    url, state = session.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    print(f"AUTHORIZE {url}", flush=True)
    callback = sys.stdin.readline().strip()
    try:
        token = session.fetch_token(
            meta["token_endpoint"],
            authorization_response=callback,
            state=state,  # kept by the app, as a web framework's session would
            code_verifier=verifier,
        )
    except (MismatchingStateError, MismatchingStateException):
        print("ERROR mismatching_state", flush=True)
        return 1
    except OAuthError as e:
        print(f"ERROR {e.error}", flush=True)
        return 1
    keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
    decoded = jwt.decode(token["id_token"], keys, algorithms=["RS256", "ES256"])
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        options={
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": client_id},
        },
        params={"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]},
    )
    claims.validate(leeway=5)
    if "at_hash" not in claims:
        print("ERROR no at_hash", flush=True)
        return 1
    info = session.get(meta["userinfo_endpoint"], timeout=10).json()
    assert info["sub"] == claims["sub"], (info, claims)
    print("OK " + json.dumps({"id_token": dict(claims), "userinfo": info, "alg": decoded.header["alg"]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
