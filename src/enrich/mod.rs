//! Enrichment: computed fields rules can test — indicator-of-compromise sets ([`intel`]), URL and
//! token analysis ([`url`]), watchlists of high-risk people ([`watchlist`]).

pub mod intel;
pub mod url;
