#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
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
    // An unknown id costs a hashed check of the same strength (and never authenticates).
    assert!(reg.authenticate("unknown", "hashed-secret-value").is_none());
    assert!(matches!(
        reg.decoy.as_deref().map(|d| &d.credential),
        Some(Credential::Pbkdf2 { iterations, .. }) if iterations.get() == 1000
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
