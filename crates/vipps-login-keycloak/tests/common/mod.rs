//! Shared harness of the Keycloak channel's tests.
#![allow(dead_code)]

pub mod proxy;
