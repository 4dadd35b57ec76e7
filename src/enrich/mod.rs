//! Enrichment: computed fields rules can test — indicator-of-compromise sets ([`intel`]), URL and
//! token analysis ([`url`]), watchlists of high-risk people ([`watchlist`]).
//!
//! Each module is a library with its own loader and lookups; wiring them into the Event
//! (`reconwatch.*` fields) and the commands is the next part of step 3.

mod hash;
pub mod intel;
pub mod sender;
pub mod url;
pub mod watchlist;
