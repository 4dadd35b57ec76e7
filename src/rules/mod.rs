//! Sigma rules: loading ([`load`], [`sigma`]), compiling into one matcher per log source
//! ([`matcher`]) and matching events ([`Engine`]).
//!
//! The loader never panics and never half-loads a rule: a rule is either fully understood or
//! reported with its file, id, construct and reason ([`load::Problem`]). The engine answers one
//! question per event — which rules match — through [`Engine::matches`], with per-thread
//! [`Scratch`] memory, so one `Engine` serves every scan thread.

pub mod condition;
pub mod correlation;
pub mod fields;
pub mod load;
pub mod logsource;
pub mod matcher;
pub mod pattern;
pub mod sigma;
pub mod yaml;

use std::collections::HashMap;

pub use matcher::{CompileError, Hit, Scratch};
pub use sigma::{Level, Rule, RuleMeta};

use crate::event::{Compute, Event};
use matcher::{Computing, Matcher, StateBudget};

/// Every loaded rule, compiled.
#[derive(Debug)]
pub struct Engine {
    rules: Vec<Rule>,
    matchers: Vec<Matcher>,
    /// Per log source (index into [`logsource::SOURCES`]), the matcher of its rules.
    routes: Vec<Option<usize>>,
}

impl Engine {
    /// Compiles the rules. Sources with the same set of rules share one matcher. Fails when the
    /// rules' literal values need more automaton states than [`matcher::MAX_STATES`], all
    /// matchers together.
    pub fn new(rules: Vec<Rule>) -> Result<Engine, CompileError> {
        let mut budget = StateBudget::new(matcher::MAX_STATES);
        let mut by_set: HashMap<Vec<u32>, usize> = HashMap::new();
        let mut matchers = Vec::new();
        let mut routes = Vec::with_capacity(logsource::SOURCES.len());
        for source in 0..logsource::SOURCES.len() {
            let which: Vec<u32> = (0..rules.len() as u32)
                .filter(|&r| rules[r as usize].sources.contains(&source))
                .collect();
            if which.is_empty() {
                routes.push(None);
                continue;
            }
            let m = match by_set.get(&which) {
                Some(&m) => m,
                None => {
                    matchers.push(Matcher::new(&rules, which.clone(), &mut budget)?);
                    by_set.insert(which, matchers.len() - 1);
                    matchers.len() - 1
                }
            };
            routes.push(Some(m));
        }
        let mut slot = 0;
        for m in &mut matchers {
            m.assign_regex_slots(&mut slot);
        }
        Ok(Engine {
            rules,
            matchers,
            routes,
        })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Fresh working memory for one thread (with the thread's own regex caches).
    pub fn scratch(&self) -> Scratch {
        Scratch::new(self.matchers.iter())
    }

    /// Appends to `out` the indexes (into [`Engine::rules`]) of the rules `event` matches, in
    /// rule order.
    /// `event` is enriched in full already.
    pub fn matches(&self, event: &Event<'_>, scratch: &mut Scratch, out: &mut Vec<u32>) {
        if let Some(m) = self.matcher(event) {
            m.matches(&mut { event }, scratch, out);
        }
    }

    /// As [`Engine::matches`], for an event whose computed fields are computed through
    /// `compute` when a rule's cheaper tests pass and it reads them (see [`Compute`]): an
    /// event no rule can match costs no more enrichment than its rules' first tests read.
    pub fn matches_computing(
        &self,
        event: &mut Event<'_>,
        compute: &mut dyn Compute,
        scratch: &mut Scratch,
        out: &mut Vec<u32>,
    ) {
        if let Some(m) = self.matcher(event) {
            m.matches(&mut Computing { event, compute }, scratch, out);
        }
    }

    /// What made rule `rule` match `event`: call it right after [`Engine::matches`] returned
    /// the rule for this event, with the same scratch, the event's computed fields final.
    pub fn explain(&self, rule: u32, event: &Event<'_>, scratch: &mut Scratch) -> Vec<Hit> {
        let Some(m) = self.matcher(event) else {
            return Vec::new();
        };
        let Some(local) = m.local(rule) else { return Vec::new() };
        m.explain(&self.rules[rule as usize], local, event, scratch)
    }

    /// Every rule evaluated, candidate or not (the reference for testing candidate selection).
    #[cfg(test)]
    fn matches_exhaustive(&self, event: &Event<'_>, scratch: &mut Scratch, out: &mut Vec<u32>) {
        if let Some(m) = self.matcher(event) {
            m.matches_exhaustive(event, scratch, out);
        }
    }

    fn matcher(&self, event: &Event<'_>) -> Option<&Matcher> {
        let source = logsource::route(event)?;
        self.routes[source].map(|m| &self.matchers[m])
    }
}

#[cfg(test)]
mod tests;
