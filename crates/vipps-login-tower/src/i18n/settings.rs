//! The builder's language settings (kept apart from the texts themselves, which the
//! builder uses: the arrows go one way).

use vipps_login_core::Language;

/// The builder's language settings.
impl crate::VippsLoginLayerBuilder {
    /// The language of the pages and JSON messages for a request whose `Accept-Language`
    /// names none of Norwegian bokmål, Danish, Finnish and English (default
    /// [`Language::En`]). A request that names one gets it (`no`/`nn` read as bokmål).
    pub fn default_language(mut self, lang: Language) -> Self {
        self.default_language = lang;
        self
    }

    /// Replaces one text of the pages in one language, e.g.
    /// `.text(Language::Nb, "login_start", "Send forespørsel")`; the keys are those of
    /// [`text_keys`](crate::text_keys), and `error_<code>` (e.g. `error_declined`)
    /// replaces a core error's sentence (`{wait}`, `{seconds}` and `{why}` are filled
    /// in). A key of the app's own is added, for its own templates (`{{ t.my_key }}`).
    ///
    /// ```
    /// # fn demo(client: vipps_login_core::VippsClient) -> Result<(), vipps_login_tower::BuildError> {
    /// use vipps_login_tower::{Language, VippsLoginLayer};
    /// let layer = VippsLoginLayer::builder(client)
    ///     .default_language(Language::Nb)
    ///     .text(Language::Nb, "login_heading", "Logg inn kunden")
    ///     .text(Language::En, "login_heading", "Log the customer in")
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn text(mut self, lang: Language, key: impl Into<String>, text: impl Into<String>) -> Self {
        self.text_overrides.push((lang, key.into(), text.into()));
        self
    }

    /// Several [`text`](Self::text) overrides in one language.
    pub fn texts<K, V>(mut self, lang: Language, texts: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        for (k, v) in texts {
            self.text_overrides.push((lang, k.into(), v.into()));
        }
        self
    }
}
