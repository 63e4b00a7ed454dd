//! vipps-login-core (under construction).
