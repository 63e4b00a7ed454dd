//! The apps' own words in Norwegian bokmål, Danish, Finnish and English: a core
//! [`Catalog`] per app (one `(key, text)` list per language), the language of a request
//! from its `Accept-Language`, and the simulator hints' words for the layer's pages.

use axum::http::{HeaderMap, header};
use vipps_login_core::Language;
pub use vipps_login_core::i18n::Catalog;

/// All texts of `lang` in `catalog`, for templates (`{{ t.key }}`).
#[must_use]
pub fn template_texts(catalog: &Catalog, lang: Language) -> minijinja::Value {
    let map: std::collections::BTreeMap<&str, &str> = catalog.entries(lang).into_iter().collect();
    minijinja::Value::from_serialize(&map)
}

/// The language of a request: its `Accept-Language`, else `default`.
#[must_use]
pub fn request_language(headers: &HeaderMap, default: Language) -> Language {
    let header = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Language::from_accept_language(header, default)
}

/// The simulator hints' words, added to the layer's texts (`{{ t.sim_try }}`, …).
pub static SIM_HINTS: Catalog = Catalog::new(&[
    (
        Language::En,
        &[
            ("sim_label", "Simulator:"),
            (
                "sim_try",
                "try the demo customer {customer} (Kari Nordmann) or 4798765432 (Ola Nordmann).",
            ),
            ("sim_open_phone", "Open this customer's simulated phone"),
            ("sim_all_phones", "all demo phones"),
            (
                "sim_private_window",
                "Open it in a private window: it stands for the customer's own phone.",
            ),
        ],
    ),
    (
        Language::Nb,
        &[
            ("sim_label", "Simulator:"),
            (
                "sim_try",
                "prøv demokunden {customer} (Kari Nordmann) eller 4798765432 (Ola Nordmann).",
            ),
            (
                "sim_open_phone",
                "Åpne den simulerte telefonen til denne kunden",
            ),
            ("sim_all_phones", "alle demotelefoner"),
            (
                "sim_private_window",
                "Åpne den i et privat vindu: den står for kundens egen telefon.",
            ),
        ],
    ),
    (
        Language::Da,
        &[
            ("sim_label", "Simulator:"),
            (
                "sim_try",
                "prøv demokunden {customer} (Kari Nordmann) eller 4798765432 (Ola Nordmann).",
            ),
            ("sim_open_phone", "Åbn denne kundes simulerede telefon"),
            ("sim_all_phones", "alle demotelefoner"),
            (
                "sim_private_window",
                "Åbn den i et privat vindue: den forestiller kundens egen telefon.",
            ),
        ],
    ),
    (
        Language::Fi,
        &[
            ("sim_label", "Simulaattori:"),
            (
                "sim_try",
                "kokeile demoasiakasta {customer} (Kari Nordmann) tai 4798765432 (Ola Nordmann).",
            ),
            ("sim_open_phone", "Avaa tämän asiakkaan simuloitu puhelin"),
            ("sim_all_phones", "kaikki demopuhelimet"),
            (
                "sim_private_window",
                "Avaa se yksityisessä ikkunassa: se esittää asiakkaan omaa puhelinta.",
            ),
        ],
    ),
]);

/// The words of the staff sign-in through the organisation's OpenID provider
/// ([`StaffOidc`](crate::staff_oidc::StaffOidc)).
#[rustfmt::skip]
pub static STAFF_OIDC_WORDS: Catalog = Catalog::new(&[
    (Language::En, &[
        ("staff_only", "These pages are for staff: sign in through your organisation at the staff sign-in page."),
        ("title", "Staff sign-in"),
        ("refused", "You are signed in at your organisation, but not as a member of the group allowed to operate here. Ask your administrator to add you to it."),
        ("signed_in_as", "Signed in at your organisation as:"),
        ("failed", "The sign-in at your organisation did not complete (it was cancelled, took too long or was started in another tab). Start again."),
        ("unavailable", "Your organisation's sign-in cannot be reached right now. Try again in a minute."),
        ("signed_out", "You are signed out of the operator pages."),
        ("again", "Sign in again"),
        ("page_error", "The sign-in page could not be shown."),
    ]),
    (Language::Nb, &[
        ("staff_only", "Disse sidene er for ansatte: logg inn hos organisasjonen din på innloggingssiden for ansatte."),
        ("title", "Innlogging for ansatte"),
        ("refused", "Du er logget inn hos organisasjonen din, men ikke som medlem av gruppen som har lov til å betjene her. Be administratoren din legge deg til."),
        ("signed_in_as", "Logget inn hos organisasjonen din som:"),
        ("failed", "Innloggingen hos organisasjonen din ble ikke fullført (den ble avbrutt, tok for lang tid eller ble startet i en annen fane). Start på nytt."),
        ("unavailable", "Innloggingen hos organisasjonen din kan ikke nås akkurat nå. Prøv igjen om et minutt."),
        ("signed_out", "Du er logget ut av operatørsidene."),
        ("again", "Logg inn igjen"),
        ("page_error", "Innloggingssiden kunne ikke vises."),
    ]),
    (Language::Da, &[
        ("staff_only", "Disse sider er for personalet: log ind hos din organisation på log ind-siden for personale."),
        ("title", "Log ind for personale"),
        ("refused", "Du er logget ind hos din organisation, men ikke som medlem af den gruppe, der må betjene her. Bed din administrator om at tilføje dig."),
        ("signed_in_as", "Logget ind hos din organisation som:"),
        ("failed", "Log ind hos din organisation blev ikke fuldført (det blev afbrudt, tog for lang tid eller blev startet i en anden fane). Start forfra."),
        ("unavailable", "Din organisations log ind kan ikke nås lige nu. Prøv igen om et minut."),
        ("signed_out", "Du er logget ud af operatørsiderne."),
        ("again", "Log ind igen"),
        ("page_error", "Log ind-siden kunne ikke vises."),
    ]),
    (Language::Fi, &[
        ("staff_only", "Nämä sivut ovat henkilökunnalle: kirjaudu organisaatiosi kautta henkilökunnan kirjautumissivulla."),
        ("title", "Henkilökunnan kirjautuminen"),
        ("refused", "Olet kirjautunut organisaatiosi palveluun, mutta et ole ryhmässä, jolla on oikeus käyttää tätä. Pyydä ylläpitäjää lisäämään sinut ryhmään."),
        ("signed_in_as", "Kirjautunut organisaatiosi palveluun käyttäjänä:"),
        ("failed", "Kirjautuminen organisaatiosi palveluun ei valmistunut (se peruttiin, kesti liian kauan tai aloitettiin toisessa välilehdessä). Aloita alusta."),
        ("unavailable", "Organisaatiosi kirjautumispalveluun ei juuri nyt saada yhteyttä. Yritä uudelleen minuutin kuluttua."),
        ("signed_out", "Olet kirjautunut ulos operaattorin sivuilta."),
        ("again", "Kirjaudu uudelleen"),
        ("page_error", "Kirjautumissivua ei voitu näyttää."),
    ]),
]);

/// The staff sign-in page's words ([`StaffGate`](crate::staff::StaffGate)).
#[rustfmt::skip]
pub static STAFF_WORDS: Catalog = Catalog::new(&[
    (Language::En, &[
        ("title", "Staff sign-in"),
        ("intro", "This desk is for staff. Sign in with the staff password to send login requests."),
        ("password", "Staff password"),
        ("sign_in", "Sign in"),
        ("problem_form", "The form could not be read; try again."),
        ("problem_paused", "Too many wrong passwords from this address; wait a while and try again."),
        ("problem_wrong", "That is not the staff password. Ask your manager for it."),
        ("staff_only", "This desk is for staff: sign in at /staff/sign-in or send the staff password as a bearer token."),
        ("page_error", "The sign-in page could not be shown."),
    ]),
    (Language::Nb, &[
        ("title", "Innlogging for ansatte"),
        ("intro", "Denne skranken er for ansatte. Logg inn med passordet for ansatte for å sende innloggingsforespørsler."),
        ("password", "Passord for ansatte"),
        ("sign_in", "Logg inn"),
        ("problem_form", "Skjemaet kunne ikke leses; prøv igjen."),
        ("problem_paused", "For mange feil passord fra denne adressen; vent litt og prøv igjen."),
        ("problem_wrong", "Det er ikke passordet for ansatte. Spør lederen din."),
        ("staff_only", "Denne skranken er for ansatte: logg inn på /staff/sign-in eller send passordet for ansatte som bearer-token."),
        ("page_error", "Innloggingssiden kunne ikke vises."),
    ]),
    (Language::Da, &[
        ("title", "Log ind for personale"),
        ("intro", "Denne skranke er for personalet. Log ind med personalets adgangskode for at sende login-anmodninger."),
        ("password", "Personalets adgangskode"),
        ("sign_in", "Log ind"),
        ("problem_form", "Formularen kunne ikke læses; prøv igen."),
        ("problem_paused", "For mange forkerte adgangskoder fra denne adresse; vent lidt, og prøv igen."),
        ("problem_wrong", "Det er ikke personalets adgangskode. Spørg din leder."),
        ("staff_only", "Denne skranke er for personalet: log ind på /staff/sign-in, eller send personalets adgangskode som bearer-token."),
        ("page_error", "Log ind-siden kunne ikke vises."),
    ]),
    (Language::Fi, &[
        ("title", "Henkilökunnan kirjautuminen"),
        ("intro", "Tämä tiski on henkilökunnalle. Kirjaudu henkilökunnan salasanalla, niin voit lähettää kirjautumispyyntöjä."),
        ("password", "Henkilökunnan salasana"),
        ("sign_in", "Kirjaudu"),
        ("problem_form", "Lomaketta ei voitu lukea; yritä uudelleen."),
        ("problem_paused", "Liian monta väärää salasanaa tästä osoitteesta; odota hetki ja yritä uudelleen."),
        ("problem_wrong", "Se ei ole henkilökunnan salasana. Kysy esihenkilöltäsi."),
        ("staff_only", "Tämä tiski on henkilökunnalle: kirjaudu osoitteessa /staff/sign-in tai lähetä henkilökunnan salasana bearer-tunnisteena."),
        ("page_error", "Kirjautumissivua ei voitu näyttää."),
    ]),
]);

/// Adds the simulator hints' words to a layer's texts.
pub fn with_sim_hints(
    mut builder: vipps_login_tower::VippsLoginLayerBuilder,
) -> vipps_login_tower::VippsLoginLayerBuilder {
    for lang in Language::ALL {
        builder = builder.texts(lang, SIM_HINTS.entries(lang));
    }
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_hints_in_every_language() {
        // "Simulator:" is the same word in three languages.
        let problems: Vec<String> = SIM_HINTS
            .problems()
            .into_iter()
            .filter(|p| p.key != "sim_label")
            .map(|p| p.to_string())
            .collect();
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn staff_words_in_every_language() {
        let problems = STAFF_WORDS.problems();
        assert!(problems.is_empty(), "{problems:?}");
        let problems = STAFF_OIDC_WORDS.problems();
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn requests_pick_their_language() {
        let mut h = HeaderMap::new();
        assert_eq!(request_language(&h, Language::Da), Language::Da);
        h.insert(
            header::ACCEPT_LANGUAGE,
            header::HeaderValue::from_static("nb-NO"),
        );
        assert_eq!(request_language(&h, Language::Da), Language::Nb);
        assert_eq!(
            SIM_HINTS.text(Language::Fi, "sim_all_phones"),
            "kaikki demopuhelimet"
        );
    }
}
