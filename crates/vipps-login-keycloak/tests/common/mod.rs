//! Shared harness of the Keycloak channel's tests.
#![allow(dead_code)]

// The provider's loopback proxy, the same harness (not a copy).
#[path = "../../../vipps-login-provider/tests/common/proxy.rs"]
pub mod proxy;
