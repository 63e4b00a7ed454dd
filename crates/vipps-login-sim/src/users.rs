//! The user directory: built-in demo users and users from a file.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::client::SimClient;
use crate::error::SimError;

/// A postal address as userinfo returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Address {
    /// Street and house number, possibly several lines joined by `\n`.
    pub street_address: String,
    /// Postal code.
    pub postal_code: String,
    /// City or region.
    pub region: String,
    /// ISO 3166-1 alpha-2 country code, e.g. `NO`.
    pub country: String,
    /// `home`, `work` or `other`.
    pub address_type: String,
}

impl Address {
    /// An address with these parts and `address_type` `home`.
    pub fn new(street: &str, postal_code: &str, region: &str, country: &str) -> Self {
        Address {
            street_address: street.to_owned(),
            postal_code: postal_code.to_owned(),
            region: region.to_owned(),
            country: country.to_owned(),
            address_type: "home".to_owned(),
        }
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        let formatted = if self.street_address.is_empty() {
            String::new()
        } else {
            format!(
                "{}\n{} {}\n{}",
                self.street_address, self.postal_code, self.region, self.country
            )
        };
        serde_json::json!({
            "street_address": self.street_address,
            "postal_code": self.postal_code,
            "region": self.region,
            "country": self.country,
            "formatted": formatted,
            "address_type": self.address_type,
        })
    }
}

/// A user in the simulator's directory (one entry of a users file).
///
/// Profile fields left out are simply not known; userinfo then omits them (an unset
/// address comes back as empty strings, as Vipps does).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct UserRecord {
    /// Country code and number, digits only, e.g. `4712345678`.
    pub msisdn: String,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Full name; defaults to given and family name.
    pub name: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Whether the email address is verified (default `true` when an email is set).
    pub email_verified: Option<bool>,
    /// Date of birth, `YYYY-MM-DD`.
    pub birthdate: Option<String>,
    /// National identity number.
    pub nin: Option<String>,
    /// Home address.
    pub address: Option<Address>,
    /// Further addresses.
    pub other_addresses: Vec<Address>,
    /// The number has no Vipps/MobilePay account: start answers `invalid_user`.
    pub no_account: bool,
    /// The user is under 15: start answers `invalid_user`.
    pub under_15: bool,
    /// The app is too old: start answers `old_app`.
    pub old_app: bool,
    /// Push notifications are off: a request shows up only when the phone page is opened.
    pub push_disabled: bool,
    /// Tokens accepted as `login_hint=urn:customer-token:{token}` for this user.
    pub customer_tokens: Vec<String>,
}

impl UserRecord {
    /// A user with this number and no profile data.
    pub fn new(msisdn: impl Into<String>) -> Self {
        UserRecord {
            msisdn: msisdn.into(),
            ..UserRecord::default()
        }
    }

    /// Sets given and family name.
    #[must_use]
    pub fn named(mut self, given: &str, family: &str) -> Self {
        self.given_name = Some(given.to_owned());
        self.family_name = Some(family.to_owned());
        self
    }

    /// Marks the number as having no Vipps account.
    #[must_use]
    pub fn no_account(mut self) -> Self {
        self.no_account = true;
        self
    }

    /// Marks the user as having push notifications turned off.
    #[must_use]
    pub fn push_disabled(mut self) -> Self {
        self.push_disabled = true;
        self
    }

    pub(crate) fn display_name(&self) -> Option<String> {
        self.name
            .clone()
            .or_else(|| match (&self.given_name, &self.family_name) {
                (Some(g), Some(f)) => Some(format!("{g} {f}")),
                (Some(g), None) => Some(g.clone()),
                (None, Some(f)) => Some(f.clone()),
                (None, None) => None,
            })
    }

    /// Whether the number may log in at all.
    pub(crate) fn eligible(&self) -> bool {
        !self.no_account && !self.under_15
    }
}

/// The users file: `users` and optional extra `clients`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct UsersFile {
    pub(crate) users: Vec<UserRecord>,
    pub(crate) clients: Vec<SimClient>,
}

impl UsersFile {
    pub(crate) fn load(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SimError::UsersFile(format!("{}: {e}", path.display())))?;
        let file: UsersFile = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text)
                .map_err(|e| SimError::UsersFile(format!("{}: {e}", path.display())))?
        } else {
            toml::from_str(&text)
                .map_err(|e| SimError::UsersFile(format!("{}: {e}", path.display())))?
        };
        for u in &file.users {
            if !valid_msisdn(&u.msisdn) {
                return Err(SimError::UsersFile(format!(
                    "{}: {:?} is not a valid msisdn (47+8, 45+8 or 358+5..10 digits)",
                    path.display(),
                    u.msisdn
                )));
            }
        }
        Ok(file)
    }
}

/// Whether `digits` is a phone number Vipps/MobilePay accepts as `urn:msisdn:`:
/// Norway `47` + 8 digits, Denmark `45` + 8, Finland `358` + 5 to 10.
pub fn valid_msisdn(digits: &str) -> bool {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    if let Some(rest) = digits.strip_prefix("47") {
        rest.len() == 8
    } else if let Some(rest) = digits.strip_prefix("45") {
        rest.len() == 8
    } else if let Some(rest) = digits.strip_prefix("358") {
        (5..=10).contains(&rest.len())
    } else {
        false
    }
}

/// Masks a phone number for logs: country code and last two digits.
pub(crate) fn mask(msisdn: &str) -> String {
    let cc = if msisdn.starts_with("358") { 3 } else { 2 };
    if msisdn.len() <= cc + 2 {
        return "*".repeat(msisdn.len());
    }
    format!(
        "{}{}{}",
        &msisdn[..cc],
        "*".repeat(msisdn.len() - cc - 2),
        &msisdn[msisdn.len() - 2..]
    )
}

/// The built-in demo users (see the crate documentation).
pub fn builtin_users() -> Vec<UserRecord> {
    let kari = UserRecord {
        msisdn: "4712345678".into(),
        given_name: Some("Kari".into()),
        family_name: Some("Nordmann".into()),
        email: Some("kari.nordmann@example.com".into()),
        email_verified: Some(true),
        birthdate: Some("1985-05-12".into()),
        nin: Some("12058512345".into()),
        address: Some(Address::new("Robert Levins gate 5", "0154", "Oslo", "NO")),
        other_addresses: vec![Address {
            address_type: "work".into(),
            ..Address::new("Storgata 1", "0155", "Oslo", "NO")
        }],
        customer_tokens: vec!["kari-customer-token".into()],
        ..UserRecord::default()
    };
    let ola = UserRecord {
        msisdn: "4798765432".into(),
        given_name: Some("Ola".into()),
        family_name: Some("Nordmann".into()),
        email: Some("ola.nordmann@example.com".into()),
        email_verified: Some(true),
        birthdate: Some("1979-11-03".into()),
        nin: Some("03117912345".into()),
        address: Some(Address::new("Karl Johans gate 22", "0159", "Oslo", "NO")),
        customer_tokens: vec!["ola-customer-token".into()],
        ..UserRecord::default()
    };
    let mut no_account = UserRecord::new("4711111111").named("Nils", "Uten-Konto");
    no_account.no_account = true;
    let mut under_15 = UserRecord::new("4722222222").named("Lille", "Nordmann");
    under_15.under_15 = true;
    let mut old_app = UserRecord {
        email: Some("gammel.app@example.com".into()),
        ..UserRecord::new("4733333333").named("Gunnar", "Gammel")
    };
    old_app.old_app = true;
    let push_disabled = UserRecord {
        email: Some("stille@example.com".into()),
        birthdate: Some("1990-02-02".into()),
        ..UserRecord::new("4744444444").named("Siri", "Stille")
    }
    .push_disabled();
    let dane = UserRecord {
        msisdn: "4587654321".into(),
        given_name: Some("Mette".into()),
        family_name: Some("Hansen".into()),
        email: Some("mette.hansen@example.dk".into()),
        email_verified: Some(true),
        birthdate: Some("1988-08-08".into()),
        nin: Some("0808881234".into()),
        address: Some(Address::new("Strøget 10", "1160", "København K", "DK")),
        ..UserRecord::default()
    };
    let finn = UserRecord {
        msisdn: "358401234567".into(),
        given_name: Some("Matti".into()),
        family_name: Some("Virtanen".into()),
        email: Some("matti.virtanen@example.fi".into()),
        email_verified: Some(false),
        birthdate: Some("1975-03-15".into()),
        nin: Some("150375-123A".into()),
        address: Some(Address::new("Mannerheimintie 1", "00100", "Helsinki", "FI")),
        ..UserRecord::default()
    };
    vec![
        kari,
        ola,
        no_account,
        under_15,
        old_app,
        push_disabled,
        dane,
        finn,
    ]
}

/// The directory the simulator consults.
pub(crate) struct Directory {
    users: HashMap<String, Arc<UserRecord>>,
    tokens: std::sync::RwLock<HashMap<String, String>>,
    auto_users: bool,
}

impl Directory {
    pub(crate) fn new(builtin: bool, extra: &[UserRecord], auto_users: bool) -> Self {
        let mut users = HashMap::new();
        let mut tokens = HashMap::new();
        let base = if builtin { builtin_users() } else { Vec::new() };
        for u in base.into_iter().chain(extra.iter().cloned()) {
            for t in &u.customer_tokens {
                tokens.insert(t.clone(), u.msisdn.clone());
            }
            users.insert(u.msisdn.clone(), Arc::new(u));
        }
        Directory {
            users,
            tokens: std::sync::RwLock::new(tokens),
            auto_users,
        }
    }

    /// The user behind a well-formed msisdn, generated when `auto_users` is on.
    pub(crate) fn get(&self, msisdn: &str) -> Option<Arc<UserRecord>> {
        if let Some(u) = self.users.get(msisdn) {
            return Some(u.clone());
        }
        if self.auto_users && valid_msisdn(msisdn) {
            let tail = &msisdn[msisdn.len().saturating_sub(4)..];
            return Some(Arc::new(UserRecord {
                msisdn: msisdn.to_owned(),
                given_name: Some("Test".into()),
                family_name: Some(format!("User {tail}")),
                email: Some(format!("user{msisdn}@example.com")),
                email_verified: Some(true),
                birthdate: Some("1990-01-01".into()),
                ..UserRecord::default()
            }));
        }
        None
    }

    /// Whether `msisdn` belongs to a user who may log in: what user-exists answers.
    pub(crate) fn eligible(&self, msisdn: &str) -> bool {
        self.get(msisdn).is_some_and(|u| u.eligible())
    }

    pub(crate) fn by_customer_token(&self, token: &str) -> Option<Arc<UserRecord>> {
        let msisdn = self
            .tokens
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(token)
            .cloned()?;
        self.get(&msisdn)
    }

    pub(crate) fn add_customer_token(&self, token: String, msisdn: String) {
        self.tokens
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(token, msisdn);
    }
}
