//! Who may operate: the operator pages and their API (everything under `/operator/`, the
//! authorization-code way's operator step included) are for signed-in staff, always.
//! Either the organisation's own OpenID provider signs staff in (`--staff-oidc-*`), or
//! the desks' staff password gate does (`STAFF_PASSWORD`). With Vipps credentials one of
//! them must be configured; with the simulator a made-up password is printed.

use std::time::Duration;

use example_support::staff::StaffGate;
use example_support::staff_oidc::{StaffOidc, StaffOidcConfig};
use example_support::{AppError, Startup};
use url::Url;
use vipps_login_core::Secret;
use vipps_login_tower::VippsLoginLayer;

/// How staff sign in at the operator pages.
#[derive(Debug, Clone, clap::Args)]
#[non_exhaustive]
pub struct StaffOptions {
    /// Staff sign in through this OpenID provider (its issuer, e.g.
    /// `https://id.example.com/realms/staff`) instead of with the staff password.
    #[arg(
        long,
        env = "STAFF_OIDC_ISSUER",
        requires_all = ["staff_oidc_client_id", "staff_oidc_client_secret", "staff_oidc_group"]
    )]
    pub staff_oidc_issuer: Option<Url>,
    /// The bridge's (confidential) client at the staff OpenID provider; its redirect URI
    /// is `{issuer of the bridge}/staff/callback`.
    #[arg(long, env = "STAFF_OIDC_CLIENT_ID", requires = "staff_oidc_issuer")]
    pub staff_oidc_client_id: Option<String>,
    /// That client's secret.
    #[arg(
        long,
        env = "STAFF_OIDC_CLIENT_SECRET",
        hide_env_values = true,
        requires = "staff_oidc_issuer"
    )]
    pub staff_oidc_client_secret: Option<String>,
    /// Only members of this group (or holders of this role) may operate.
    #[arg(long, env = "STAFF_OIDC_GROUP", requires = "staff_oidc_issuer")]
    pub staff_oidc_group: Option<String>,
    /// The ID token claim with the groups or roles (a dotted path for nested claims, e.g.
    /// `realm_access.roles`).
    #[arg(long, env = "STAFF_OIDC_GROUP_CLAIM", default_value = "groups")]
    pub staff_oidc_group_claim: String,
    /// How long a staff sign-in lasts (a shift), in seconds.
    #[arg(long, env = "STAFF_SHIFT_SECS", default_value_t = 12 * 3600)]
    pub staff_shift_secs: u64,
    /// Who the staff password signs in as, in the record of who started each login.
    #[arg(long, env = "STAFF_NAME", default_value = example_support::staff::DEFAULT_STAFF_ID)]
    pub staff_name: String,
}

/// The staff authentication in front of the operator pages.
#[derive(Debug)]
pub(crate) enum StaffAuth {
    /// The desks' staff password gate.
    Password(StaffGate),
    /// The organisation's OpenID provider.
    Oidc(StaffOidc),
}

impl StaffAuth {
    /// From the options, for the operator pages `layer` under `base_path` (the issuer's
    /// path, where the sign-in pages are served too).
    pub(crate) async fn from_options(
        o: &StaffOptions,
        start: &mut Startup,
        layer: &VippsLoginLayer,
        base_path: &str,
    ) -> Result<StaffAuth, AppError> {
        if o.staff_shift_secs < 60 {
            return Err(AppError::Config(
                "--staff-shift-secs must be at least 60".to_owned(),
            ));
        }
        let shift = Duration::from_secs(o.staff_shift_secs);
        let password_set = start.options().staff_password.is_some();
        if let (Some(issuer), Some(client_id), Some(secret), Some(group)) = (
            &o.staff_oidc_issuer,
            &o.staff_oidc_client_id,
            &o.staff_oidc_client_secret,
            &o.staff_oidc_group,
        ) {
            if password_set {
                return Err(AppError::Config(
                    "both --staff-oidc-issuer and STAFF_PASSWORD are set: staff sign in one \
                     way; unset STAFF_PASSWORD (or --staff-password) to use the OpenID provider"
                        .to_owned(),
                ));
            }
            let config = StaffOidcConfig::new(
                issuer.clone(),
                client_id.clone(),
                Secret::new(secret.clone()),
                group.clone(),
            )
            .group_claim(o.staff_oidc_group_claim.clone())
            .shift(shift);
            let gate = StaffOidc::new(
                config,
                start.cookie_key().clone(),
                layer.cookies_secure(),
                &start.base,
                &format!("{base_path}/staff"),
                layer.prefix(),
            )
            .await
            .map_err(AppError::Config)?
            .language(start.options().language)
            .clock(start.client().config().clock().clone())
            .audit(start.staff_sign_in_audit());
            tracing::info!(issuer = %issuer, group = %group, "operators sign in through the staff OpenID provider");
            return Ok(StaffAuth::Oidc(gate));
        }
        if start.sim.is_none() && !password_set {
            return Err(AppError::Config(
                "the operator pages send login requests to customers' phones and must be for \
                 staff only: set --staff-oidc-issuer, --staff-oidc-client-id, \
                 STAFF_OIDC_CLIENT_SECRET and --staff-oidc-group (staff sign in through your \
                 organisation's OpenID provider), or STAFF_PASSWORD (at least 12 characters)"
                    .to_owned(),
            ));
        }
        let gate = start
            .staff_gate(layer, true)?
            .ok_or_else(|| AppError::Config("the operator pages need a staff password".into()))?
            .only_under(layer.prefix())
            .sign_in_path(format!(
                "{base_path}{}",
                example_support::staff::SIGN_IN_PATH
            ))
            .staff_id(o.staff_name.clone())
            .shift(shift);
        Ok(StaffAuth::Password(gate))
    }

    /// `router` behind this authentication.
    pub(crate) fn guard(self, router: axum::Router) -> axum::Router {
        match self {
            StaffAuth::Password(gate) => router.layer(axum::middleware::from_fn_with_state(
                gate,
                StaffGate::require,
            )),
            StaffAuth::Oidc(gate) => router.layer(axum::middleware::from_fn_with_state(
                gate,
                StaffOidc::require,
            )),
        }
    }
}
