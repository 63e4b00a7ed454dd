//! The desk's words in English, Norwegian bokmål, Danish and Finnish: the member page's,
//! and the desk's own on the layer's pages.

use example_support::words::Catalog;
use vipps_login_core::Language;
use vipps_login_tower::VippsLoginLayerBuilder;

/// The desk's words on the layer's pages, in every language: its name (`app_key`:
/// `app_name` or `app_name_sim`) and what the login form says when Vipps' user-exists
/// pre-check finds no Vipps behind the number (the layer's text `no_vipps`).
pub(crate) fn desk_words(
    mut builder: VippsLoginLayerBuilder,
    app_key: &str,
) -> VippsLoginLayerBuilder {
    for lang in Language::ALL {
        builder = builder
            .text(lang, "app_name", WORDS.text(lang, app_key))
            .text(lang, "no_vipps", WORDS.text(lang, "no_vipps"));
    }
    builder
}

/// The desk's own texts (the layer's pages have theirs).
pub(crate) static WORDS: Catalog = Catalog::new(&[
    (
        Language::En,
        &[
            ("app_name", "Customer club desk"),
            ("app_name_sim", "Customer club desk · simulator"),
            (
                "no_vipps",
                "This number has no Vipps, so no request was sent. Check the number with the customer, or find the member another way.",
            ),
            ("member_new", "New member – welcome to the club!"),
            ("welcome_back", "Welcome back!"),
            ("welcome_back_name", "Welcome back, {name}!"),
            ("name_not_shared", "Name not shared"),
            ("member_no", "Member number"),
            ("phone", "Phone"),
            ("address", "Address"),
            ("email", "Email"),
            ("born", "Born"),
            ("since", "Member since"),
            ("visits", "Visits"),
            ("note_one", "Confirmed with Vipps. The club has 1 member."),
            (
                "note_many",
                "Confirmed with Vipps. The club has {count} members.",
            ),
            ("next_customer", "Next customer"),
            ("page_error", "The member page could not be shown."),
        ],
    ),
    (
        Language::Nb,
        &[
            ("app_name", "Kundeklubbens skranke"),
            ("app_name_sim", "Kundeklubbens skranke · simulator"),
            (
                "no_vipps",
                "Dette nummeret har ikke Vipps, så ingen forespørsel ble sendt. Sjekk nummeret med kunden, eller finn medlemmet på en annen måte.",
            ),
            ("member_new", "Nytt medlem – velkommen i klubben!"),
            ("welcome_back", "Velkommen tilbake!"),
            ("welcome_back_name", "Velkommen tilbake, {name}!"),
            ("name_not_shared", "Navnet er ikke delt"),
            ("member_no", "Medlemsnummer"),
            ("phone", "Telefon"),
            ("address", "Adresse"),
            ("email", "E-post"),
            ("born", "Født"),
            ("since", "Medlem siden"),
            ("visits", "Besøk"),
            ("note_one", "Bekreftet med Vipps. Klubben har 1 medlem."),
            (
                "note_many",
                "Bekreftet med Vipps. Klubben har {count} medlemmer.",
            ),
            ("next_customer", "Neste kunde"),
            ("page_error", "Medlemssiden kunne ikke vises."),
        ],
    ),
    (
        Language::Da,
        &[
            ("app_name", "Kundeklubbens skranke"),
            ("app_name_sim", "Kundeklubbens skranke · simulator"),
            (
                "no_vipps",
                "Dette nummer har ikke MobilePay, så der blev ikke sendt nogen anmodning. Tjek nummeret med kunden, eller find medlemmet på en anden måde.",
            ),
            ("member_new", "Nyt medlem – velkommen i klubben!"),
            ("welcome_back", "Velkommen tilbage!"),
            ("welcome_back_name", "Velkommen tilbage, {name}!"),
            ("name_not_shared", "Navnet er ikke delt"),
            ("member_no", "Medlemsnummer"),
            ("phone", "Telefon"),
            ("address", "Adresse"),
            ("email", "E-mail"),
            ("born", "Født"),
            ("since", "Medlem siden"),
            ("visits", "Besøg"),
            ("note_one", "Bekræftet med MobilePay. Klubben har 1 medlem."),
            (
                "note_many",
                "Bekræftet med MobilePay. Klubben har {count} medlemmer.",
            ),
            ("next_customer", "Næste kunde"),
            ("page_error", "Medlemssiden kunne ikke vises."),
        ],
    ),
    (
        Language::Fi,
        &[
            ("app_name", "Kanta-asiakaskerhon tiski"),
            ("app_name_sim", "Kanta-asiakaskerhon tiski · simulaattori"),
            (
                "no_vipps",
                "Tällä numerolla ei ole MobilePayta, joten pyyntöä ei lähetetty. Tarkista numero asiakkaalta tai etsi jäsen muulla tavalla.",
            ),
            ("member_new", "Uusi jäsen – tervetuloa kerhoon!"),
            ("welcome_back", "Tervetuloa takaisin!"),
            ("welcome_back_name", "Tervetuloa takaisin, {name}!"),
            ("name_not_shared", "Nimeä ei jaettu"),
            ("member_no", "Jäsennumero"),
            ("phone", "Puhelin"),
            ("address", "Osoite"),
            ("email", "Sähköposti"),
            ("born", "Syntynyt"),
            ("since", "Jäsen alkaen"),
            ("visits", "Käynnit"),
            ("note_one", "Vahvistettu MobilePaylla. Kerhossa on 1 jäsen."),
            (
                "note_many",
                "Vahvistettu MobilePaylla. Kerhossa on {count} jäsentä.",
            ),
            ("next_customer", "Seuraava asiakas"),
            ("page_error", "Jäsensivua ei voitu näyttää."),
        ],
    ),
]);

#[cfg(test)]
mod tests {
    #[test]
    fn every_word_in_every_language() {
        let problems: Vec<String> = super::WORDS
            .problems()
            .into_iter()
            // The desk's name is the same in Norwegian and Danish.
            .filter(|p| !p.key.starts_with("app_name"))
            .map(|p| p.to_string())
            .collect();
        assert!(problems.is_empty(), "{problems:?}");
    }
}
