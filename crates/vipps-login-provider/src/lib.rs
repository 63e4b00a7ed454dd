//! Vipps phone-number login for identity servers and OpenID Connect relying parties.
//!
//! Work in progress (issue 9): the SPI, the CIBA OpenID provider and the
//! authorization-code provider land here module by module.
