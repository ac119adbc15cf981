//! Fixtures live in `tests/`.
