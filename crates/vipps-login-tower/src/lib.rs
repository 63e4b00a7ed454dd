//! vipps-login-tower (under construction).
