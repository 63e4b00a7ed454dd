#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use crate::credential::{DEFAULT_ITERATIONS, MAX_ITERATIONS};
use crate::hash_secret;

const TOML: &str = r#"
[[clients]]
client_id = "plain"
client_secret = "plain-secret"
grant_types = ["urn:openid:params:grant-type:ciba"]
scopes = ["openid", "phone", "nin"]
start_limit = { max = 2, window_secs = 60 }

[[clients]]
client_id = "spa"
grant_types = ["authorization_code"]
redirect_uris = ["http://127.0.0.1/cb", "https://rp.example/cb?x=1"]
loopback_any_port = true
"#;

#[test]
fn reads_and_authenticates() {
    let reg = ClientRegistry::from_toml(TOML).unwrap();
    assert_eq!(reg.len(), 2);
    let plain = reg.authenticate("plain", "plain-secret").unwrap();
    assert!(plain.allows_grant(CIBA_GRANT));
    assert!(!plain.allows_grant(AUTHORIZATION_CODE_GRANT));
    assert_eq!(plain.pass_through_scopes(), vec!["nin".to_owned()]);
    assert_eq!(plain.start_limit.unwrap().max, 2);
    assert!(reg.authenticate("plain", "plain-secreT").is_none());
    assert!(reg.authenticate("plain", "").is_none());
    assert!(reg.authenticate("nobody", "plain-secret").is_none());
    // A public client never authenticates with a secret, not even an empty one.
    assert!(reg.authenticate("spa", "").is_none());
    let spa = reg.get("spa").unwrap();
    assert!(!spa.is_confidential());
    assert_eq!(spa.scopes.len(), 5, "defaults to the standard scopes");
    assert!(!format!("{plain:?}").contains("plain-secret"));
}

#[test]
fn hashed_secrets() {
    let h = hash_secret("hashed-secret-value", 1000);
    let reg = ClientRegistry::from_toml(&format!(
        "[[clients]]\nclient_id = \"h\"\nclient_secret_hash = \"{h}\"\ngrant_types = [\"{CIBA_GRANT}\"]\n"
    ))
    .unwrap();
    assert!(reg.authenticate("h", "hashed-secret-value").is_some());
    assert!(reg.authenticate("h", "hashed-secret-valuE").is_none());
    assert_ne!(h, hash_secret("hashed-secret-value", 1000), "salted");
    // An unknown id costs a hashed check (and never authenticates).
    assert!(reg.authenticate("unknown", "hashed-secret-value").is_none());
    assert!(matches!(
        reg.decoy,
        Credential::Pbkdf2 { iterations, .. } if iterations.get() == DEFAULT_ITERATIONS
    ));
    for bad in [
        "md5:1:a:b",
        "pbkdf2-sha256:x:AAAAAAAAAAA:AAAA",
        "pbkdf2-sha256:1000:AAAAAAAAAAA:AAAA",
    ] {
        let e = ClientRegistry::from_toml(&format!(
            "[[clients]]\nclient_id = \"h\"\nclient_secret_hash = \"{bad}\"\ngrant_types = [\"{CIBA_GRANT}\"]\n"
        ))
        .unwrap_err();
        assert!(e.to_string().contains("client_secret_hash"), "{e}");
    }
}

#[test]
fn redirect_uris_match_exactly() {
    let reg = ClientRegistry::from_toml(TOML).unwrap();
    let spa = reg.get("spa").unwrap();
    assert!(spa.redirect_uri_matches("http://127.0.0.1/cb"));
    assert!(
        spa.redirect_uri_matches("http://127.0.0.1:8123/cb"),
        "any loopback port"
    );
    assert!(spa.redirect_uri_matches("https://rp.example/cb?x=1"));
    for no in [
        "http://127.0.0.1:8123/cb/",
        "http://127.0.0.1/cb?x=1",
        "http://localhost/cb",
        "https://rp.example/cb",
        "https://rp.example/cb?x=1&y=2",
        "https://rp.example:444/cb?x=1",
        "https://rp.example.evil/cb?x=1",
        "not a url",
    ] {
        assert!(!spa.redirect_uri_matches(no), "{no}");
    }
}

#[test]
fn bad_files_fail_with_the_client_named() {
    for (toml, needle) in [
        (
            "[[clients]]\nclient_id = \"a\"\nclient_secret = \"abcdefgh\"\ngrant_types = [\"password\"]",
            "unknown grant type",
        ),
        (
            "[[clients]]\nclient_id = \"a\"\ngrant_types = [\"urn:openid:params:grant-type:ciba\"]",
            "confidential",
        ),
        (
            "[[clients]]\nclient_id = \"a\"\ngrant_types = [\"authorization_code\"]",
            "needs redirect_uris",
        ),
        (
            "[[clients]]\nclient_id = \"a\"\ngrant_types = [\"authorization_code\"]\nredirect_uris = [\"http://rp.example/cb\"]",
            "must be https",
        ),
        (
            "[[clients]]\nclient_id = \"a\"\nclient_secret = \"abcdefgh\"\ngrant_types = [\"urn:openid:params:grant-type:ciba\"]\nscopes = [\"openid\", \"offline_access\"]",
            "unknown scope",
        ),
        (
            "[[clients]]\nclient_id = \"a\"\nclient_secret = \"short\"\ngrant_types = [\"urn:openid:params:grant-type:ciba\"]",
            "at least 8",
        ),
        (
            "[[clients]]\nclient_id = \"a\"\nclient_secret = \"abcdefgh\"\ngrant_types = [\"urn:openid:params:grant-type:ciba\"]\n[[clients]]\nclient_id = \"a\"\nclient_secret = \"abcdefgh\"\ngrant_types = [\"urn:openid:params:grant-type:ciba\"]",
            "twice",
        ),
        (
            "[[clients]]\nclient_id = \"a\"\nclient_secret = \"abcdefgh\"\ngrant_types = [\"urn:openid:params:grant-type:ciba\"]\ncolour = 1",
            "unknown field",
        ),
    ] {
        let e = ClientRegistry::from_toml(toml).unwrap_err().to_string();
        assert!(e.contains(needle), "{needle}: {e}");
    }
}

fn hashed_client(id: &str, hash: &str) -> String {
    format!(
        "[[clients]]\nclient_id = \"{id}\"\nclient_secret_hash = \"{hash}\"\ngrant_types = [\"{CIBA_GRANT}\"]\n"
    )
}

#[test]
fn an_unknown_client_id_pays_the_default_cost_not_the_costliest() {
    // The costliest client registered asks for the most iterations accepted; an unknown
    // id is what an attacker sends, and pays no more than a client hashed as recommended.
    let costly = hash_secret("a-long-random-client-secret", MAX_ITERATIONS);
    let cheap = hash_secret("another-long-random-secret", 1000);
    let reg = ClientRegistry::from_toml(
        &(hashed_client("costly", &costly) + &hashed_client("cheap", &cheap)),
    )
    .unwrap();
    assert!(matches!(
        reg.decoy,
        Credential::Pbkdf2 { iterations, .. } if iterations.get() == DEFAULT_ITERATIONS
    ));
    // A registry of plain secrets only: an unknown id costs a SHA-256, as a known one.
    let plain = ClientRegistry::from_toml(TOML).unwrap();
    assert!(matches!(plain.decoy, Credential::Plain(_)));
}

#[test]
fn a_hash_asking_for_more_than_the_cap_is_refused_naming_the_client() {
    let absurd = format!(
        "pbkdf2-sha256:{}:c2FsdHNhbHRzYWx0c2FsdA:{}",
        u32::MAX,
        "A".repeat(43)
    );
    let e = ClientRegistry::from_toml(&hashed_client("greedy", &absurd)).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("client greedy"), "{text}");
    assert!(text.contains(&u32::MAX.to_string()), "{text}");
    assert!(text.contains(&MAX_ITERATIONS.to_string()), "{text}");
    let just_over = absurd.replace(&u32::MAX.to_string(), &(MAX_ITERATIONS + 1).to_string());
    assert!(ClientRegistry::from_toml(&hashed_client("greedy", &just_over)).is_err());
    let at_cap = absurd.replace(&u32::MAX.to_string(), &MAX_ITERATIONS.to_string());
    assert!(ClientRegistry::from_toml(&hashed_client("fine", &at_cap)).is_ok());
    // hash_secret never writes a hash the registry would refuse.
    let h = hash_secret("a-long-random-client-secret", u32::MAX);
    assert!(ClientRegistry::from_toml(&hashed_client("h", &h)).is_ok());
}

#[test]
fn pkce_is_required_by_default_and_only_a_confidential_client_may_opt_out() {
    let reg = ClientRegistry::from_toml(TOML).unwrap();
    assert!(reg.get("spa").unwrap().require_pkce);
    assert!(reg.get("plain").unwrap().require_pkce, "confidential too");
    let opted_out = ClientRegistry::from_toml(
        r#"
[[clients]]
client_id = "old-platform"
client_secret = "old-platform-secret"
grant_types = ["authorization_code"]
redirect_uris = ["https://rp.example/cb"]
require_pkce = false
"#,
    )
    .unwrap();
    assert!(!opted_out.get("old-platform").unwrap().require_pkce);
    let e = ClientRegistry::from_toml(
        r#"
[[clients]]
client_id = "spa"
grant_types = ["authorization_code"]
redirect_uris = ["https://rp.example/cb"]
require_pkce = false
"#,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("client spa: require_pkce = false"),
        "{e}"
    );
}
