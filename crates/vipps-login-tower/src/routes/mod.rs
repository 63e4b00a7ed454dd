//! The layer's own routes. Each action ([`actions`]) is one function that drives the core
//! engine ([`flow`]) to a typed result; two renderers present it, as HTML pages
//! ([`html`]) and as JSON ([`json`]); [`outcome`] says, in one table, how a login's end
//! reads; [`table`] wires each route to its action and renderer.

mod actions;
mod events;
mod flow;
mod html;
mod json;
mod outcome;
mod request;
mod table;
mod webhook;

pub(crate) use table::router;
