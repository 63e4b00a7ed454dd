//! Discovery and JWKS, cached in moka with the lifetime Vipps sends in `Cache-Control`.

use std::sync::Arc;
use std::time::Duration;

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{AdditionalProviderMetadata, ProviderMetadata};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::Error;
use crate::http::{Http, max_age};
use crate::key_set_cache::{CachedDocument, Fetched, KeySetCache};
use crate::verify::Jwks;
use crate::{config::Config, https_url::is_loopback};

/// The CIBA endpoint is not part of openidconnect's core metadata.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct CibaMetadata {
    backchannel_authentication_endpoint: Url,
}

impl AdditionalProviderMetadata for CibaMetadata {}

type VippsProviderMetadata = ProviderMetadata<
    CibaMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// The endpoints we use, all from discovery.
#[derive(Debug)]
pub(crate) struct Endpoints {
    pub backchannel: Url,
    pub token: Url,
    pub userinfo: Url,
    pub jwks_uri: Url,
    /// Derived from the backchannel endpoint (`.../api/v1/user-exists`).
    pub user_exists: Option<Url>,
}

pub(crate) struct Metadata {
    http: Http,
    issuer: Url,
    discovery_url: Url,
    allow_http: bool,
    /// Origins besides the issuer's that discovered endpoints may be on.
    trusted: Vec<url::Origin>,
    discovery: CachedDocument<Endpoints>,
    jwks: KeySetCache<Jwks>,
}

impl Metadata {
    pub(crate) fn new(config: &Config, http: Http) -> Result<Metadata, Error> {
        let mut base = config.issuer.as_str().to_owned();
        if !base.ends_with('/') {
            base.push('/');
        }
        let discovery_url = Url::parse(&base)
            .and_then(|b| b.join(".well-known/openid-configuration"))
            .map_err(|e| Error::Config(format!("the issuer URL cannot be extended ({e})")))?;
        Ok(Metadata {
            http,
            issuer: config.issuer.clone(),
            discovery_url,
            allow_http: config.allow_http_loopback,
            trusted: config
                .trusted_endpoint_origins
                .iter()
                .map(Url::origin)
                .collect(),
            discovery: CachedDocument::new(config.default_metadata_ttl),
            jwks: KeySetCache::new(config.jwks_refetch_interval)
                .default_ttl(config.default_metadata_ttl),
        })
    }

    fn check_endpoint(&self, url: &Url, what: &str) -> Result<(), Error> {
        let ok = match url.scheme() {
            "https" => true,
            "http" => self.allow_http && is_loopback(url),
            _ => false,
        };
        if !(ok && url.username().is_empty() && url.password().is_none()) {
            return Err(Error::Protocol(format!(
                "discovery names an unsafe {what} endpoint"
            )));
        }
        // The client sends its credentials and the customer's number to these endpoints:
        // only to the issuer's own origin, or one the configuration trusts.
        let origin = url.origin();
        if origin == self.issuer.origin() || self.trusted.contains(&origin) {
            Ok(())
        } else {
            Err(Error::Protocol(format!(
                "discovery names a {what} endpoint on {}, not the issuer's host; nothing was sent there",
                url.host_str().unwrap_or("another host")
            )))
        }
    }

    /// The endpoints, from cache or discovery (concurrent callers share one fetch).
    pub(crate) async fn endpoints(&self) -> Result<Arc<Endpoints>, Error> {
        self.discovery.get(|| self.fetch_discovery()).await
    }

    async fn fetch_discovery(&self) -> Result<(Endpoints, Option<Duration>), Error> {
        tracing::debug!("fetching OpenID discovery");
        let resp = self
            .http
            .get(&self.discovery_url, None)
            .await
            .map_err(|e| e.into_error())?;
        resp.require_success("discovery")?;
        let meta: VippsProviderMetadata = serde_json::from_slice(&resp.body)
            .map_err(|e| Error::Protocol(format!("discovery document is invalid ({e})")))?;
        if meta.issuer().as_str() != self.issuer.as_str() {
            return Err(Error::Protocol(
                "discovery names another issuer than configured".into(),
            ));
        }
        let token = meta
            .token_endpoint()
            .map(|u| u.url().clone())
            .ok_or_else(|| Error::Protocol("discovery names no token endpoint".into()))?;
        let userinfo = meta
            .userinfo_endpoint()
            .map(|u| u.url().clone())
            .ok_or_else(|| Error::Protocol("discovery names no userinfo endpoint".into()))?;
        let jwks_uri = meta.jwks_uri().url().clone();
        let backchannel = meta
            .additional_metadata()
            .backchannel_authentication_endpoint
            .clone();
        for (u, what) in [
            (&token, "token"),
            (&userinfo, "userinfo"),
            (&jwks_uri, "JWKS"),
            (&backchannel, "backchannel authentication"),
        ] {
            self.check_endpoint(u, what)?;
        }
        let user_exists = derive_user_exists(&backchannel);
        Ok((
            Endpoints {
                backchannel,
                token,
                userinfo,
                jwks_uri,
                user_exists,
            },
            max_age(&resp.headers),
        ))
    }

    /// The JWKS, from cache or fetched (concurrent callers share one fetch).
    pub(crate) async fn jwks(&self) -> Result<Arc<Jwks>, Error> {
        self.jwks.get(|| self.fetch_jwks()).await
    }

    /// After an unknown `kid`: refetch the JWKS, at most once per `refetch_interval`.
    /// `None` when a refetch happened too recently (the cached set is returned instead).
    pub(crate) async fn jwks_after_unknown_kid(
        &self,
        seen: &Arc<Jwks>,
    ) -> Result<Option<Arc<Jwks>>, Error> {
        self.jwks
            .after_unknown_kid(seen, || self.fetch_jwks())
            .await
    }

    async fn fetch_jwks(&self) -> Result<Fetched<Jwks>, Error> {
        let endpoints = self.endpoints().await?;
        tracing::debug!("fetching JWKS");
        let resp = self
            .http
            .get(&endpoints.jwks_uri, None)
            .await
            .map_err(|e| e.into_error())?;
        resp.require_success("the JWKS endpoint")?;
        let jwks = Jwks::from_json(&resp.body)?;
        Ok(Fetched {
            keys: jwks,
            max_age: max_age(&resp.headers),
        })
    }
}

fn derive_user_exists(backchannel: &Url) -> Option<Url> {
    const SUFFIX: &str = "/api/backchannel/authentication";
    let path = backchannel.path().trim_end_matches('/');
    let prefix = path.strip_suffix(SUFFIX)?;
    let mut u = backchannel.clone();
    u.set_path(&format!("{prefix}/api/v1/user-exists"));
    u.set_query(None);
    Some(u)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn user_exists_from_backchannel() {
        let b = Url::parse("https://api.vipps.no/vipps-login-ciba/api/backchannel/authentication")
            .unwrap();
        assert_eq!(
            derive_user_exists(&b).unwrap().as_str(),
            "https://api.vipps.no/vipps-login-ciba/api/v1/user-exists"
        );
        assert!(derive_user_exists(&Url::parse("https://x/other").unwrap()).is_none());
    }
}
