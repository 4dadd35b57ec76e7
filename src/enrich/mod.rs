//! Enrichment: the computed `reconwatch.*` fields rules can test, and the stage that fills them
//! ([`stage`]) from the libraries it runs: watchlists of high-risk people ([`watchlist`]),
//! indicator-of-compromise sets ([`intel`]), URL and token analysis ([`url`]), sender and
//! lookalike-domain analysis ([`sender`]).
//!
//! Each library has its own loader and lookups and knows nothing of events; only [`stage`]
//! reads and writes the Event.

mod hash;
pub mod intel;
pub mod sender;
pub mod stage;
pub mod url;
pub mod watchlist;
