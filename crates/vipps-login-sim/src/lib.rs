//! vipps-login-sim (under construction).
