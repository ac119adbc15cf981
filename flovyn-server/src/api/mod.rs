//! The server's own endpoints: health and the plugin listing ([`admin`]), tenants
//! ([`tenants`]), the caller's identity ([`me`]), the merged OpenAPI document and the docs UI
//! ([`openapi`]).

pub mod admin;
pub mod me;
pub mod openapi;
pub mod tenants;
