//! Storage: the database ([`db`]) and the migrations of the server and its plugins
//! ([`migrate`]), with the core tables they create. Knows nothing of HTTP or of running
//! plugins.

pub mod db;
pub mod migrate;
