//! All loaded rules compiled into one matcher per log source, whose cost per event grows far
//! slower than the number of rules.
//!
//! # Design
//! Every value a rule compares with a field's text becomes one or more *variants* (windash,
//! base64offset and placeholders make several). Across all rules of a matcher, per field:
//! - every variant with a literal needle (equals, contains, startswith, endswith, or the longest
//!   literal piece of a wildcard pattern) goes into one Aho-Corasick automaton (one for
//!   case-insensitive needles, one for `cased` ones; identical needles share a pattern);
//! - every regex goes into one `RegexSet`.
//!
//! Per event, each such field's text is scanned once by its automaton (overlapping search: every
//! needle that occurs is reported, even inside another) and its regex set. A needle hit is
//! confirmed where it sits (at the start for `startswith`, the whole text for equals, a full
//! wildcard match for patterns) and marks its variant true for this event; the rule owning the
//! variant becomes a *candidate* (ripgrep's candidate/confirmed split). Needles that must sit at
//! the start (startswith, equals) or at the end (endswith) have automata of their own, searched
//! anchored (the end ones over the reversed text), so a list of 200 top-level domains costs a
//! few bytes of a host rather than a pass over it; the automaton of needles that may sit anywhere
//! is asked first whether the text holds any, which its prefilter answers faster than the
//! overlapping search.
//!
//! The automata are what large rule sets cost: an IOC list of 200,000 values is an automaton of
//! millions of states. Their states are counted (from the needles' trie) before any is built:
//! - an engine whose automata would need more than [`MAX_STATES`] in all is refused with the
//!   numbers ([`StateBudget`]) instead of exhausting memory;
//! - a DFA (faster, but a row of transitions per state) is built only when a lower bound of its
//!   size fits [`DFA_BUDGET`]; otherwise the automaton is a contiguous NFA;
//! - a case-insensitive automaton of more than [`FOLD_TEXT_STATES`] searches a lowercased copy of
//!   the text (in [`Scratch`]) instead of folding case itself, which builds it about three times
//!   as fast in three quarters of the memory.
//!
//! A rule whose condition cannot hold while none of its variants hit (decided once, at compile
//! time, with three-valued logic) is evaluated only when it is a candidate; the others (`not
//! filter` alone, `exists`, numeric comparisons, `null`, `cidr`, `fieldref`) are evaluated on
//! every event. Evaluation reads the marks for scanned variants and checks the rest directly.
//!
//! Marks are generation-stamped per event ([`Scratch`]), so nothing is cleared between events,
//! and the hot path allocates nothing.
//!
//! Case-insensitive comparison is ASCII case folding (Sigma's default); non-ASCII letters compare
//! exactly.

use std::fmt::Write as _;
use std::ops::Range;

use aho_corasick::automaton::OverlappingState;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, Anchored, Input, MatchKind, StartKind};
use regex::bytes::{RegexSet, RegexSetBuilder};
use serde::Serialize;

use super::condition::Cond;
use super::pattern::Glob;
use super::sigma::{Check, Position, Rule, TextPattern, TimePart};
use crate::event::{Compute, EnrichStage, Event, Field, Value};

/// Why the rules could not be compiled together (automaton or regex set too large).
#[derive(Debug, thiserror::Error)]
#[error("compiling the rules for field {field}: {reason}")]
pub struct CompileError {
    pub field: &'static str,
    pub reason: String,
}

/// The rules of one set of log sources, compiled.
#[derive(Debug)]
pub(super) struct Matcher {
    /// Global rule index of each local rule.
    rules: Vec<u32>,
    code: Vec<RuleCode>,
    tests: Vec<TestCode>,
    scans: Vec<FieldScan>,
    /// The local rule a scanned variant makes a candidate ([`NOT_A_TRIGGER`] when none).
    variant_rule: Vec<u32>,
    /// Selectivity of each scanned variant (its needle's length).
    variant_score: Vec<u32>,
    /// Local rules evaluated on every event.
    always: Vec<u32>,
    /// The scans holding some rule's trigger variants: run on every event, before candidates
    /// are known. The other scans run only when a candidate's evaluation reads their field.
    trigger_scans: Vec<u32>,
    /// Per field (by `Field as usize`), its scan in `scans`, or [`NO_SCAN`].
    scan_of: Vec<u32>,
}

/// A field without a scan.
const NO_SCAN: u32 = u32::MAX;

#[derive(Debug)]
struct RuleCode {
    condition: Cond,
    /// Per selection, the groups (OR) of tests (AND), as indexes into `tests`, in the order
    /// they are evaluated: cheapest first (tests of the log's own fields, then of computed
    /// fields by the cost of their [`EnrichStage`]). A group's tests were numbered in the
    /// rule's order, so sorting the indexes gives that order back.
    selections: Vec<Vec<Vec<u32>>>,
}

#[derive(Debug)]
struct TestCode {
    field: Field,
    /// The enrichment stage that computes `field`, for a computed one.
    stage: Option<EnrichStage>,
    /// Whether some value is scanned for (read from the marks of the field's scan).
    scanned: bool,
    all: bool,
    negate: bool,
    values: Vec<ValueCode>,
}

impl TestCode {
    /// What evaluating the test costs, for ordering: 0 for a field of the log, more for a
    /// computed one the later its stage.
    fn cost(&self) -> u8 {
        self.stage.map_or(0, |s| s as u8 + 1)
    }
}

#[derive(Debug)]
enum ValueCode {
    /// True when any of these scanned variants was marked for this event.
    Scanned(Range<u32>),
    /// Checked against the event when the rule is evaluated.
    Direct(Check),
}

#[derive(Debug)]
struct FieldScan {
    field: Field,
    /// The enrichment stage that computes `field`, for a computed one.
    stage: Option<EnrichStage>,
    /// Case-insensitive and `cased` needles, up to three automata each ([`Anchor`]).
    needles: Vec<Needles>,
    regexes: Option<RegexScan>,
}

/// One field's regexes as one set.
#[derive(Debug)]
struct RegexScan {
    set: RegexSet,
    /// The variant of each pattern of the set.
    variants: Vec<u32>,
    /// Where each thread's own clone of `set` sits in [`Scratch`]: a clone gets its own cache
    /// pool, so threads never contend for the shared one's lock (short haystacks on many
    /// threads are where that lock hurts).
    slot: usize,
}

/// Where a needle must sit, which decides how its automaton searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    /// Anywhere (contains, wildcard pieces): an unanchored overlapping search of the text.
    Anywhere,
    /// At the start (startswith, equals): an anchored search, which reads only as far as
    /// the longest needle that could still match.
    Start,
    /// At the end (endswith): an anchored search of the reversed text for reversed needles.
    End,
}

impl Anchor {
    fn of(confirm: &Confirm) -> Anchor {
        match confirm {
            Confirm::Start | Confirm::Whole => Anchor::Start,
            Confirm::End => Anchor::End,
            Confirm::Anywhere | Confirm::Glob(_) => Anchor::Anywhere,
        }
    }
}

/// One field's literal needles of one case mode and [`Anchor`], in one automaton.
#[derive(Debug)]
struct Needles {
    automaton: AhoCorasick,
    anchor: Anchor,
    /// Whether the needles compare case-insensitively.
    folded: bool,
    /// Whether the text is lowercased before it is searched (large case-insensitive automata,
    /// see [`FOLD_TEXT_STATES`]); otherwise the automaton folds case itself.
    fold_text: bool,
    /// Per automaton pattern: the variants it stands for and how to confirm each.
    confirm: Groups<(u32, Confirm)>,
}

/// Items grouped by a dense index: those of index `i` are `items[start[i]..start[i + 1]]` (one
/// allocation for all of them rather than one per index).
#[derive(Debug)]
struct Groups<T> {
    start: Vec<u32>,
    items: Vec<T>,
}

impl<T> Groups<T> {
    fn get(&self, i: usize) -> &[T] {
        &self.items[self.start[i] as usize..self.start[i + 1] as usize]
    }

    /// Sorts `entries` by needle and groups them: the distinct needles, in order, and the items
    /// of each (in the order they were added).
    fn by_needle(mut entries: Vec<(Vec<u8>, T)>) -> (Vec<Vec<u8>>, Groups<T>) {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut needles: Vec<Vec<u8>> = Vec::new();
        let mut groups = Groups {
            start: Vec::new(),
            items: Vec::with_capacity(entries.len()),
        };
        for (needle, item) in entries {
            if needles.last() != Some(&needle) {
                groups.start.push(groups.items.len() as u32);
                needles.push(needle);
            }
            groups.items.push(item);
        }
        groups.start.push(groups.items.len() as u32);
        (needles, groups)
    }
}

#[derive(Debug)]
enum Confirm {
    Anywhere,
    Start,
    End,
    Whole,
    Glob(Box<Glob>),
}

/// Per-thread working memory of [`Matcher::matches`].
#[derive(Debug, Default)]
pub struct Scratch {
    marks: Marks,
    /// Per scan, the generation of the event it last ran on.
    scanned: Vec<u32>,
    /// This thread's clones of every regex set, by [`RegexScan::slot`].
    regexes: Vec<RegexSet>,
    /// The ASCII-lowercased text of the value being scanned, for automata that do not fold
    /// case themselves, and the text reversed, for needles at the end.
    texts: (Vec<u8>, Vec<u8>),
}

impl Scratch {
    /// Working memory with this thread's own clones of the matchers' regex sets.
    pub(super) fn new<'m>(matchers: impl Iterator<Item = &'m Matcher>) -> Scratch {
        let mut regexes = Vec::new();
        for m in matchers {
            for scan in &m.scans {
                if let Some(r) = &scan.regexes {
                    debug_assert_eq!(r.slot, regexes.len());
                    regexes.push(r.set.clone());
                }
            }
        }
        Scratch {
            regexes,
            ..Scratch::default()
        }
    }
}

/// Which variants hit and which rules are candidates for the current event, stamped with the
/// event's generation so nothing is cleared between events.
#[derive(Debug, Default)]
struct Marks {
    generation: u32,
    variant: Vec<u32>,
    rule: Vec<u32>,
    candidates: Vec<u32>,
}

impl Marks {
    fn next_generation(&mut self, variants: usize, rules: usize) {
        if self.variant.len() < variants {
            self.variant.resize(variants, 0);
        }
        if self.rule.len() < rules {
            self.rule.resize(rules, 0);
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // Wrapped: old stamps could look current.
            self.variant.fill(0);
            self.rule.fill(0);
            self.generation = 1;
        }
        self.candidates.clear();
    }

    fn is_marked(&self, variant: usize) -> bool {
        self.variant.get(variant) == Some(&self.generation)
    }

    /// Marks a variant as hit and makes `rule` (its trigger owner, if any) a candidate.
    fn mark(&mut self, variant: usize, rule: u32) {
        self.variant[variant] = self.generation;
        self.candidate(rule);
    }

    fn candidate(&mut self, rule: u32) {
        if rule == NOT_A_TRIGGER {
            return;
        }
        let m = &mut self.rule[rule as usize];
        if *m != self.generation {
            *m = self.generation;
            self.candidates.push(rule);
        }
    }
}

/// Collects the literal needles of one field and case mode while rules are compiled.
#[derive(Default)]
struct NeedleTable {
    /// Each variant's needle (lowercased when folded), variant and confirmation.
    entries: Vec<NeedleEntry>,
}

/// A needle, its variant and how a hit of it is confirmed.
type NeedleEntry = (Vec<u8>, (u32, Confirm));

impl NeedleTable {
    fn add(&mut self, needle: &[u8], folded: bool, variant: u32, confirm: Confirm) {
        let needle = if folded {
            needle.to_ascii_lowercase()
        } else {
            needle.to_vec()
        };
        self.entries.push((needle, (variant, confirm)));
    }

    /// The automaton of the needles, once `budget` allows its states.
    ///
    /// Standard semantics: the only kind that reports overlapping matches, which a needle inside
    /// another needle needs. A DFA scans about twice as fast as an NFA on thousands of needles;
    /// it is kept while its memory stays within [`DFA_BUDGET`], and not even tried when a lower
    /// bound of its size is over it (building a DFA only to drop it costs its full size first:
    /// half a gigabyte for 50,000 URLs).
    fn build(self, folded: bool, field: Field, budget: &mut StateBudget) -> Result<Vec<Needles>, CompileError> {
        let mut by_anchor: [Vec<NeedleEntry>; 3] = Default::default();
        for (needle, (variant, confirm)) in self.entries {
            let anchor = Anchor::of(&confirm);
            let needle = if anchor == Anchor::End {
                needle.into_iter().rev().collect()
            } else {
                needle
            };
            by_anchor[anchor as usize].push((needle, (variant, confirm)));
        }
        let mut out = Vec::new();
        for (entries, anchor) in by_anchor
            .into_iter()
            .zip([Anchor::Anywhere, Anchor::Start, Anchor::End])
        {
            if !entries.is_empty() {
                out.push(Self::automaton(entries, anchor, folded, field, budget)?);
            }
        }
        Ok(out)
    }

    /// One automaton of `entries`, whose needles sit as `anchor` says (reversed for
    /// [`Anchor::End`]).
    fn automaton(
        entries: Vec<NeedleEntry>,
        anchor: Anchor,
        folded: bool,
        field: Field,
        budget: &mut StateBudget,
    ) -> Result<Needles, CompileError> {
        let (patterns, confirm) = Groups::by_needle(entries);
        let mut trie = TrieSize::of(&patterns);
        budget.take(trie.states, field)?;
        let fold_text = folded && trie.states > FOLD_TEXT_STATES;
        let fold_in_automaton = folded && !fold_text;
        if fold_in_automaton {
            trie.add_upper_case();
        }
        let start = match anchor {
            Anchor::Anywhere => StartKind::Unanchored,
            Anchor::Start | Anchor::End => StartKind::Anchored,
        };
        let build = |kind| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(fold_in_automaton)
                .match_kind(MatchKind::Standard)
                .start_kind(start)
                .kind(Some(kind))
                .build(&patterns)
                .map_err(|e| CompileError {
                    field: field.name(),
                    reason: e.to_string(),
                })
        };
        let dfa = (trie.dfa_lower_bound() <= DFA_BUDGET)
            .then(|| build(AhoCorasickKind::DFA).ok())
            .flatten()
            .filter(|dfa| dfa.memory_usage() <= DFA_BUDGET);
        let automaton = match dfa {
            Some(dfa) => dfa,
            None => build(AhoCorasickKind::ContiguousNFA)?,
        };
        Ok(Needles {
            automaton,
            anchor,
            folded,
            fold_text,
            confirm,
        })
    }
}

impl Needles {
    /// Marks the variants whose needles `text` has where they must be. `lower` holds the
    /// lowercased text when the automaton does not fold case itself.
    fn search(&self, text: &[u8], bufs: &mut (Vec<u8>, Vec<u8>), marks: &mut Marks, variant_rule: &[u32]) {
        let (lower, reversed) = bufs;
        let text = if self.fold_text { lowercase(text, lower) } else { text };
        let input = match self.anchor {
            // Most texts hold none of these needles: the non-overlapping search skips ahead
            // with the automaton's prefilter (the overlapping search has none), so it is asked
            // first.
            Anchor::Anywhere if !self.automaton.is_match(text) => return,
            Anchor::Anywhere => Input::new(text),
            Anchor::Start => Input::new(text).anchored(Anchored::Yes),
            Anchor::End => {
                reversed.clear();
                reversed.extend(text.iter().rev());
                Input::new(reversed.as_slice()).anchored(Anchored::Yes)
            }
        };
        // The state-passing search rather than `find_overlapping_iter`: the iterator's setup, run
        // once per field text, compiled in some builds into a copy of its state that stalls on
        // store forwarding (a sixth of the time of matching 10 rules).
        let mut state = OverlappingState::start();
        loop {
            self.automaton.find_overlapping(input.clone(), &mut state);
            let Some(hit) = state.get_match() else { break };
            for (variant, confirm) in self.confirm.get(hit.pattern().as_usize()) {
                let v = *variant as usize;
                if marks.is_marked(v) {
                    continue;
                }
                // An anchored search starts at the text's start (the reversed text's for
                // `End`), but still reports a needle that is a suffix of another one there
                // (its state's matches include those of its suffixes): every anchored hit is
                // checked to start at 0.
                let ok = match confirm {
                    Confirm::Anywhere => true,
                    Confirm::Start | Confirm::End => hit.start() == 0,
                    Confirm::Whole => hit.start() == 0 && hit.end() == text.len(),
                    Confirm::Glob(g) => g.matches(text, self.folded),
                };
                if ok {
                    marks.mark(v, variant_rule[v]);
                }
            }
        }
    }
}

/// `text` ASCII-lowercased, in `buf` (which only grows, to the longest text seen).
fn lowercase<'b>(text: &[u8], buf: &'b mut Vec<u8>) -> &'b [u8] {
    if buf.len() < text.len() {
        buf.resize(text.len(), 0);
    }
    let out = &mut buf[..text.len()];
    for (o, &b) in out.iter_mut().zip(text) {
        *o = b.to_ascii_lowercase();
    }
    out
}

/// The size of the trie of a set of needles, which every kind of automaton over them has a
/// state for each node of.
struct TrieSize {
    /// Nodes, the root included.
    states: usize,
    /// Where equivalence classes of bytes end, as aho-corasick computes them: a byte that occurs
    /// in a needle is a class of its own, the runs of bytes between them one class each.
    boundary: [bool; 256],
}

impl TrieSize {
    /// `patterns` sorted.
    fn of(patterns: &[Vec<u8>]) -> TrieSize {
        let mut trie = TrieSize {
            states: 1,
            boundary: [false; 256],
        };
        let mut prev: &[u8] = &[];
        for p in patterns {
            // Each needle adds the bytes it does not share with the one before it in order.
            let shared = p.iter().zip(prev).take_while(|(a, b)| a == b).count();
            trie.states += p.len() - shared;
            prev = p;
            p.iter().for_each(|&b| trie.add_byte(b));
        }
        trie
    }

    fn add_byte(&mut self, b: u8) {
        self.boundary[usize::from(b)] = true;
        if b > 0 {
            self.boundary[usize::from(b - 1)] = true;
        }
    }

    /// The classes of an automaton that folds case itself: it has transitions on both cases.
    fn add_upper_case(&mut self) {
        for b in b'a'..=b'z' {
            if self.boundary[usize::from(b)] {
                self.add_byte(b.to_ascii_uppercase());
            }
        }
    }

    fn classes(&self) -> usize {
        self.boundary[..255].iter().filter(|&&b| b).count() + 1
    }

    /// A lower bound of the memory (bytes) of a DFA: a row of 4-byte transitions per state, as
    /// wide as the next power of two of the number of classes.
    fn dfa_lower_bound(&self) -> usize {
        self.states
            .saturating_mul(self.classes().next_power_of_two())
            .saturating_mul(4)
    }
}

/// How many automaton states one [`super::Engine`]'s literal needles may take, all fields and
/// matchers together; counted before each automaton is built.
#[derive(Debug)]
pub(super) struct StateBudget {
    used: usize,
    limit: usize,
}

impl StateBudget {
    pub(super) fn new(limit: usize) -> StateBudget {
        StateBudget { used: 0, limit }
    }

    fn take(&mut self, states: usize, field: Field) -> Result<(), CompileError> {
        self.used = self.used.saturating_add(states);
        if self.used <= self.limit {
            return Ok(());
        }
        Err(CompileError {
            field: field.name(),
            reason: format!(
                "the rules' literal values need more automaton states than the limit of {} (about \
                 {} MB of memory to build): {states} for this field, {} with the fields compiled \
                 before it; load indicator lists this large as intel (--intel FILE; rules test \
                 reconwatch.intel.hit) instead of as rule values",
                self.limit,
                self.limit.saturating_mul(BUILD_BYTES_PER_STATE) >> 20,
                self.used,
            ),
        })
    }
}

#[derive(Default)]
struct FieldTable {
    folded: NeedleTable,
    cased: NeedleTable,
    regexes: Vec<String>,
    regex_variants: Vec<u32>,
}

impl Matcher {
    /// Compiles the rules `which` (global indexes into `rules`).
    pub(super) fn new(rules: &[Rule], which: Vec<u32>, budget: &mut StateBudget) -> Result<Matcher, CompileError> {
        let mut fields: Vec<(Field, FieldTable)> = Vec::new();
        let mut tests = Vec::new();
        let mut code = Vec::with_capacity(which.len());
        let mut variant_score = Vec::new();
        let mut always = Vec::new();
        for &global in &which {
            let rule = &rules[global as usize];
            let mut selections = Vec::with_capacity(rule.detection.selections.len());
            for sel in &rule.detection.selections {
                let mut groups = Vec::with_capacity(sel.groups.len());
                for group in &sel.groups {
                    let mut ids = Vec::with_capacity(group.len());
                    for test in group {
                        let table = match fields.iter().position(|(f, _)| *f == test.field) {
                            Some(i) => &mut fields[i].1,
                            None => {
                                fields.push((test.field, FieldTable::default()));
                                &mut fields.last_mut().expect("just pushed").1
                            }
                        };
                        let values = test
                            .values
                            .iter()
                            .map(|v| compile_value(&v.check, table, &mut variant_score))
                            .collect();
                        ids.push(tests.len() as u32);
                        let values: Vec<ValueCode> = values;
                        tests.push(TestCode {
                            field: test.field,
                            stage: test.field.computed_by(),
                            scanned: values.iter().any(|v| matches!(v, ValueCode::Scanned(_))),
                            all: test.all,
                            negate: test.negate,
                            values,
                        });
                    }
                    // Stable: equal costs keep the rule's order.
                    ids.sort_by_key(|&t| tests[t as usize].cost());
                    groups.push(ids);
                }
                selections.push(groups);
            }
            code.push(RuleCode {
                condition: rule.detection.condition.clone(),
                selections,
            });
        }
        let mut m = Matcher {
            rules: which,
            code,
            tests,
            scans: Vec::new(),
            variant_rule: Vec::new(),
            variant_score,
            always: Vec::new(),
            trigger_scans: Vec::new(),
            scan_of: vec![NO_SCAN; Field::ALL.len()],
        };
        // Only a rule's trigger variants make it a candidate; a rule without a trigger set is
        // evaluated on every event.
        let mut variant_rule = vec![NOT_A_TRIGGER; m.variant_score.len()];
        for local in 0..m.rules.len() {
            match m.cond_trigger(local, &m.code[local].condition) {
                Some(t) => t.variants.iter().for_each(|&v| variant_rule[v as usize] = local as u32),
                None => always.push(local as u32),
            }
        }
        m.variant_rule = variant_rule;
        m.always = always;
        for (field, table) in fields {
            let triggers = table
                .folded
                .entries
                .iter()
                .chain(&table.cased.entries)
                .map(|(_, (v, _))| v)
                .chain(&table.regex_variants)
                .any(|&v| m.variant_rule[v as usize] != NOT_A_TRIGGER);
            let regexes = if table.regexes.is_empty() {
                None
            } else {
                let set = RegexSetBuilder::new(&table.regexes)
                    .size_limit(1 << 26)
                    .build()
                    .map_err(|e| CompileError {
                        field: field.name(),
                        reason: e.to_string(),
                    })?;
                Some(RegexScan {
                    set,
                    variants: table.regex_variants,
                    slot: 0,
                })
            };
            let mut needles = table.folded.build(true, field, budget)?;
            needles.extend(table.cased.build(false, field, budget)?);
            if !needles.is_empty() || regexes.is_some() {
                m.scan_of[field as usize] = m.scans.len() as u32;
                if triggers {
                    m.trigger_scans.push(m.scans.len() as u32);
                }
                m.scans.push(FieldScan {
                    field,
                    stage: field.computed_by(),
                    needles,
                    regexes,
                });
            }
        }
        Ok(m)
    }

    /// The trigger set of a condition of local rule `local`: a rule becomes a candidate only
    /// when one of these variants is marked, which is sound because the condition cannot hold
    /// otherwise. `None` when no such set exists (`not x`, tests checked directly).
    fn cond_trigger(&self, local: usize, c: &Cond) -> Option<Trigger> {
        match c {
            Cond::Sel(s) => self.selection_trigger(local, *s),
            Cond::Not(_) => None,
            Cond::And(xs) => best(xs.iter().map(|x| self.cond_trigger(local, x))),
            Cond::Or(xs) => union(xs.iter().map(|x| self.cond_trigger(local, x))),
            Cond::AtLeast(_, sels) => union(sels.iter().map(|&s| self.selection_trigger(local, s))),
            Cond::All(sels) => best(sels.iter().map(|&s| self.selection_trigger(local, s))),
        }
    }

    /// A selection holds when one of its groups does, a group when all its tests do.
    fn selection_trigger(&self, local: usize, sel: usize) -> Option<Trigger> {
        union(self.code[local].selections[sel].iter().map(|group| {
            best(group.iter().map(|&t| {
                let t = &self.tests[t as usize];
                if t.negate {
                    return None;
                }
                let values = t.values.iter().map(|v| match v {
                    ValueCode::Scanned(r) => Some(Trigger {
                        variants: r.clone().collect(),
                        score: r.clone().map(|i| self.variant_score[i as usize]).min().unwrap_or(0),
                        cost: t.cost(),
                    }),
                    ValueCode::Direct(_) => None,
                });
                if t.all { best(values) } else { union(values) }
            }))
        }))
    }

    /// Pushes the global indexes of the rules that match `event`, in rule order.
    ///
    /// Only the scans of trigger fields run on every event; a candidate's tests run cheapest
    /// first, and a field is scanned, or computed through `subject`, when a test first reads
    /// it. So an event whose cheap tests fail costs neither the enrichment nor the scans that
    /// only its other tests need. The answer is the one evaluating everything gives: each
    /// test reads the same value whenever it is read.
    pub(super) fn matches<S: Subject>(&self, subject: &mut S, scratch: &mut Scratch, out: &mut Vec<u32>) {
        scratch
            .marks
            .next_generation(self.variant_score.len(), self.rules.len());
        if scratch.scanned.len() < self.scans.len() {
            scratch.scanned.resize(self.scans.len(), 0);
        }
        for &scan in &self.trigger_scans {
            self.scan(scan as usize, subject, scratch);
        }
        for &r in &self.always {
            scratch.marks.candidate(r);
        }
        scratch.marks.candidates.sort_unstable();
        for i in 0..scratch.marks.candidates.len() {
            let local = scratch.marks.candidates[i];
            if self.rule_holds(local as usize, subject, scratch) {
                out.push(self.rules[local as usize]);
            }
        }
    }

    /// Runs scan `scan` on the current event, unless it ran already; computes its field first
    /// if it is a computed one.
    fn scan<S: Subject>(&self, scan: usize, subject: &mut S, scratch: &mut Scratch) {
        let Scratch {
            marks,
            scanned,
            regexes,
            texts,
        } = scratch;
        if scanned[scan] == marks.generation {
            return;
        }
        scanned[scan] = marks.generation;
        let scan = &self.scans[scan];
        if let Some(stage) = scan.stage {
            subject.prepare(stage);
        }
        let Some(value) = subject.event().get(scan.field) else {
            return;
        };
        for_each_text(value, &mut |text| {
            for needles in &scan.needles {
                needles.search(text, texts, marks, &self.variant_rule);
            }
            // `matches` allocates its result set: ask `is_match` first (hits are rare).
            if let Some(r) = &scan.regexes {
                let set = regexes.get(r.slot).unwrap_or(&r.set);
                if set.is_match(text) {
                    for i in set.matches(text).iter() {
                        let v = r.variants[i] as usize;
                        marks.mark(v, self.variant_rule[v]);
                    }
                }
            }
        });
    }

    /// Like [`Matcher::matches`], but evaluates every rule, candidate or not: the reference the
    /// trigger analysis is tested against.
    #[cfg(test)]
    pub(super) fn matches_exhaustive(&self, event: &Event<'_>, scratch: &mut Scratch, out: &mut Vec<u32>) {
        let mut ignored = Vec::new();
        let mut event = event;
        self.matches(&mut event, scratch, &mut ignored);
        for local in 0..self.rules.len() {
            if self.rule_holds(local, &mut event, scratch) {
                out.push(self.rules[local]);
            }
        }
    }

    /// Numbers this matcher's regex sets from `next` on (their slots in every [`Scratch`]).
    pub(super) fn assign_regex_slots(&mut self, next: &mut usize) {
        for scan in &mut self.scans {
            if let Some(r) = &mut scan.regexes {
                r.slot = *next;
                *next += 1;
            }
        }
    }

    /// The local index of a global rule, if this matcher has it.
    pub(super) fn local(&self, global: u32) -> Option<usize> {
        self.rules.iter().position(|&g| g == global)
    }

    /// Whether one rule holds on the current event (whose generation `scratch` holds).
    fn rule_holds<S: Subject>(&self, local: usize, subject: &mut S, scratch: &mut Scratch) -> bool {
        let code = &self.code[local];
        code.condition
            .eval(&mut |s| self.true_group(code, s, subject, scratch).is_some())
    }

    /// The first group of selection `sel` whose tests all hold.
    fn true_group<S: Subject>(
        &self,
        code: &RuleCode,
        sel: usize,
        subject: &mut S,
        scratch: &mut Scratch,
    ) -> Option<usize> {
        code.selections[sel]
            .iter()
            .position(|group| group.iter().all(|&t| self.test_holds(t as usize, subject, scratch)))
    }

    /// What made each true selection of a matching rule true. Call it right after
    /// [`Matcher::matches`] on the same event and scratch, the event's computed fields final.
    pub(super) fn explain(&self, rule: &Rule, local: usize, event: &Event<'_>, scratch: &mut Scratch) -> Vec<Hit> {
        let code = &self.code[local];
        let mut event = event;
        let mut hits = Vec::new();
        for (s, name) in rule.detection.names.iter().enumerate() {
            let Some(g) = self.true_group(code, s, &mut event, scratch) else {
                continue;
            };
            // The rule's order (evaluation runs cheapest first).
            let mut tests = code.selections[s][g].clone();
            tests.sort_unstable();
            for (&t, test) in tests.iter().zip(&rule.detection.selections[s].groups[g]) {
                let tc = &self.tests[t as usize];
                let value = if tc.negate {
                    let all: Vec<&str> = test.values.iter().map(|v| v.shown.as_str()).collect();
                    format!("not {}", all.join(" | "))
                } else {
                    let matched: Vec<&str> = tc
                        .values
                        .iter()
                        .zip(&test.values)
                        .filter(|(v, _)| self.value_holds(v, tc.field, event, scratch))
                        .map(|(_, shown)| shown.shown.as_str())
                        .collect();
                    matched.join(" & ")
                };
                hits.push(Hit {
                    selection: name.clone(),
                    key: test.key.clone(),
                    field: tc.field.name(),
                    value,
                });
            }
        }
        hits
    }

    fn test_holds<S: Subject>(&self, t: usize, subject: &mut S, scratch: &mut Scratch) -> bool {
        let t = &self.tests[t];
        if t.scanned {
            // Computes the field first when it is a computed one.
            self.scan(self.scan_of[t.field as usize] as usize, subject, scratch);
        } else if let Some(stage) = t.stage {
            subject.prepare(stage);
        }
        let event = subject.event();
        let v = if t.all {
            t.values.iter().all(|v| self.value_holds(v, t.field, event, scratch))
        } else {
            t.values.iter().any(|v| self.value_holds(v, t.field, event, scratch))
        };
        v != t.negate
    }

    fn value_holds(&self, v: &ValueCode, field: Field, event: &Event<'_>, scratch: &Scratch) -> bool {
        match v {
            ValueCode::Scanned(range) => range.clone().any(|i| scratch.marks.is_marked(i as usize)),
            ValueCode::Direct(check) => check_direct(check, field, event),
        }
    }
}

/// The event a matcher reads, and what makes its computed fields final when a test first
/// reads one.
pub(super) trait Subject {
    fn event(&self) -> &Event<'_>;
    /// Makes the fields `stage` computes final.
    fn prepare(&mut self, stage: EnrichStage);
}

/// An event enriched in full beforehand.
impl Subject for &Event<'_> {
    fn event(&self) -> &Event<'_> {
        self
    }

    fn prepare(&mut self, _: EnrichStage) {}
}

/// An event whose computed fields are computed on demand.
pub(super) struct Computing<'x, 'e> {
    pub event: &'x mut Event<'e>,
    pub compute: &'x mut dyn Compute,
}

impl Subject for Computing<'_, '_> {
    fn event(&self) -> &Event<'_> {
        self.event
    }

    fn prepare(&mut self, stage: EnrichStage) {
        self.compute.compute(self.event, stage);
    }
}

/// Variants of which at least one must be marked for a condition to hold, and how selective
/// they are (the shortest needle among them: longer needles hit less often).
struct Trigger {
    variants: Vec<u32>,
    score: u32,
    /// What evaluating them costs ([`TestCode::cost`]): the dearest of them.
    cost: u8,
}

/// All of the alternatives (an OR): each must have a trigger set, and any of them may fire.
fn union(ts: impl Iterator<Item = Option<Trigger>>) -> Option<Trigger> {
    let mut out = Trigger {
        variants: Vec::new(),
        score: u32::MAX,
        cost: 0,
    };
    for t in ts {
        let t = t?;
        out.variants.extend(t.variants);
        out.score = out.score.min(t.score);
        out.cost = out.cost.max(t.cost);
    }
    (!out.variants.is_empty()).then_some(out)
}

/// One of several requirements (an AND): the cheapest trigger set to scan for among them (a
/// field of the log before a computed one), then the most selective.
fn best(ts: impl Iterator<Item = Option<Trigger>>) -> Option<Trigger> {
    ts.flatten().max_by(|a, b| {
        (b.cost.cmp(&a.cost))
            .then(a.score.cmp(&b.score))
            .then(b.variants.len().cmp(&a.variants.len()))
    })
}

/// Marks a scanned variant that makes no rule a candidate.
const NOT_A_TRIGGER: u32 = u32::MAX;

/// Memory one field's needle DFA may take (bytes); past it the automaton is an NFA.
const DFA_BUDGET: usize = 16 << 20;

/// Above this many states a case-insensitive automaton searches the lowercased text instead of
/// folding case itself. Folding in the automaton costs nothing per event but, at build time, up
/// to twice the transitions and a set of every state visited: a 200,000-value list built in 7 s
/// and 370 MB that way, in 2 s and 270 MB over lowercased text. Below it (every ordinary rule
/// pack) building is quick either way, and the lowercase pass per event (about a third of the
/// matching cost of 10 rules) is not worth paying; above it the automaton is an NFA, whose scan
/// dwarfs that pass.
const FOLD_TEXT_STATES: usize = 100_000;

/// Most automaton states (trie nodes of literal needles) one engine may build: loading rules
/// then stays under about 1 GB (see [`BUILD_BYTES_PER_STATE`]). An IOC list of 200,000 values
/// of 30 to 50 bytes is about 5 million states; a list several times that belongs in `--intel`,
/// which looks indicators up in hash tables instead of scanning for them.
pub const MAX_STATES: usize = 16_000_000;

/// Peak memory of loading rules per automaton state, measured with IOC lists of 200,000 to
/// 700,000 values (60 to 67 bytes): aho-corasick's noncontiguous NFA under construction and the
/// contiguous one made from it (12 bytes a state once built), plus the rules themselves.
const BUILD_BYTES_PER_STATE: usize = 64;

/// Selectivity of a regex variant: unknown, so below most literal needles.
const REGEX_SCORE: u32 = 4;

/// Registers a value's variants in the field's tables when all of them can be scanned for;
/// otherwise the value is checked directly. Records each variant's selectivity.
fn compile_value(check: &Check, table: &mut FieldTable, variant_score: &mut Vec<u32>) -> ValueCode {
    match check {
        Check::Text { variants, cased } => {
            let needles: Option<Vec<(&[u8], Confirm)>> = variants.iter().map(needle_of).collect();
            let Some(needles) = needles else {
                return ValueCode::Direct(check.clone());
            };
            let start = variant_score.len() as u32;
            for (needle, confirm) in needles {
                let id = variant_score.len() as u32;
                variant_score.push(needle.len() as u32);
                let t = if *cased { &mut table.cased } else { &mut table.folded };
                t.add(needle, !cased, id, confirm);
            }
            ValueCode::Scanned(start..variant_score.len() as u32)
        }
        Check::Regex(re) => {
            let id = variant_score.len() as u32;
            variant_score.push(REGEX_SCORE);
            table.regexes.push(re.clone());
            table.regex_variants.push(id);
            ValueCode::Scanned(id..id + 1)
        }
        other => ValueCode::Direct(other.clone()),
    }
}

/// The needle to scan for and how to confirm a hit; `None` when the pattern has no literal.
fn needle_of(p: &TextPattern) -> Option<(&[u8], Confirm)> {
    let (n, c) = match p {
        TextPattern::Exact(n) => (n.as_slice(), Confirm::Whole),
        TextPattern::Contains(n) => (n.as_slice(), Confirm::Anywhere),
        TextPattern::Prefix(n) => (n.as_slice(), Confirm::Start),
        TextPattern::Suffix(n) => (n.as_slice(), Confirm::End),
        TextPattern::Glob(g) => (g.longest_literal()?, Confirm::Glob(Box::new(g.clone()))),
    };
    (!n.is_empty()).then_some((n, c))
}

/// Calls `f` with the text of a value: a string as is, each element of a list, numbers,
/// addresses and times as written (formatted on the stack).
fn for_each_text(value: Value<'_>, f: &mut dyn FnMut(&[u8])) {
    match value {
        Value::Str(s) => f(s.as_bytes()),
        Value::List(items) => items.iter().for_each(|s| f(s.as_bytes())),
        other => {
            let mut buf = StackText::default();
            let _ = write!(buf, "{other}");
            f(buf.as_bytes());
        }
    }
}

/// A small formatting buffer that never allocates (longer output is cut, which no number,
/// address or RFC 3339 time reaches).
struct StackText {
    buf: [u8; 64],
    len: usize,
}

impl Default for StackText {
    fn default() -> Self {
        StackText { buf: [0; 64], len: 0 }
    }
}

impl StackText {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Checks a value that is not scanned for.
fn check_direct(check: &Check, field: Field, event: &Event<'_>) -> bool {
    let value = event.get(field);
    // Parsers store `-`, `""` and `<>` as a missing value; `event.recorded` says whether the
    // event's format records the field at all. A missing field the format records was logged
    // empty: `''` matches it and `null` does not. One the format does not record is absent:
    // `null` matches it and `''` does not (Squid's native layout has no user agent, so
    // `c-useragent: ''` must not match every line of it).
    let recorded = || event.recorded.contains(field);
    match check {
        Check::Null => value.is_none() && !recorded(),
        Check::Exists(want) => (value.is_some() || recorded()) == *want,
        Check::Text { variants, cased } => {
            let Some(value) = value else {
                return recorded()
                    && variants
                        .iter()
                        .any(|p| matches!(p, TextPattern::Exact(n) if n.is_empty()));
            };
            let mut hit = false;
            for_each_text(value, &mut |t| {
                hit = hit || variants.iter().any(|p| p.matches(t, *cased))
            });
            hit
        }
        // Regexes are always scanned (compile_value), never checked here.
        Check::Regex(_) => false,
        Check::Cidr(net) => match value {
            Some(Value::Ip(ip)) => net.contains(ip),
            Some(Value::Str(s)) => s.trim().parse().is_ok_and(|ip| net.contains(ip)),
            _ => false,
        },
        Check::Number(cmp, n) => match value {
            Some(Value::Int(v)) => cmp.holds(v as f64, *n),
            Some(Value::Str(s)) => s.trim().parse::<f64>().is_ok_and(|v| cmp.holds(v, *n)),
            _ => false,
        },
        Check::TimePart { part, cmp, value: want } => match value {
            Some(Value::Time(t)) => {
                let z = t.to_zoned_datetime(jiff::tz::TimeZone::UTC);
                let got: i64 = match part {
                    TimePart::Minute => z.minute().into(),
                    TimePart::Hour => z.hour().into(),
                    TimePart::Day => z.day().into(),
                    TimePart::Week => z.date().iso_week_date().week().into(),
                    TimePart::Month => z.month().into(),
                    TimePart::Year => z.year().into(),
                };
                cmp.holds(got, *want)
            }
            _ => false,
        },
        Check::FieldRef {
            field: other,
            position,
            cased,
        } => {
            let (Some(a), Some(b)) = (value, event.get(*other)) else {
                return false;
            };
            let mut a_text = StackOrStr::default();
            let mut b_text = StackOrStr::default();
            let a = a_text.text(a);
            let b = b_text.text(b);
            let p = match position {
                Position::Exact => TextPattern::Exact(b.to_vec()),
                Position::Contains => TextPattern::Contains(b.to_vec()),
                Position::Prefix => TextPattern::Prefix(b.to_vec()),
                Position::Suffix => TextPattern::Suffix(b.to_vec()),
            };
            p.matches(a, *cased)
        }
    }
}

/// The text of a single value for field references (lists compare by their first element).
#[derive(Default)]
struct StackOrStr {
    stack: StackText,
}

impl StackOrStr {
    fn text<'v>(&'v mut self, v: Value<'v>) -> &'v [u8] {
        match v {
            Value::Str(s) => s.as_bytes(),
            Value::List(items) => items.first().map_or(&[][..], |s| s.as_bytes()),
            other => {
                let _ = write!(self.stack, "{other}");
                self.stack.as_bytes()
            }
        }
    }
}

/// What made one selection of a matching rule true: the key as the rule wrote it, the Event
/// field it tests, and the rule's value(s) that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hit {
    pub selection: String,
    pub key: String,
    pub field: &'static str,
    pub value: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(needles: &[&str]) -> Vec<Vec<u8>> {
        let mut p: Vec<Vec<u8>> = needles.iter().map(|n| n.as_bytes().to_vec()).collect();
        p.sort();
        p.dedup();
        p
    }

    #[test]
    fn trie_size_counts_shared_prefixes_once() {
        let t = TrieSize::of(&sorted(&["abc", "abd", "b", "ab"]));
        // The root, a, ab, abc, abd, b.
        assert_eq!(t.states, 6);
        // a b c d, the bytes below them, and those above.
        assert_eq!(t.classes(), 6);
    }

    #[test]
    fn dfa_lower_bound_is_below_the_dfa_and_close_to_it() {
        let urls: Vec<String> = (0..2_000)
            .map(|i| format!("h{i}.example/p/{}.php", i * 7919 % 1000))
            .collect();
        let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
        for (needles, close, fold) in [
            (&["a"][..], false, false),
            (&["abc", "abd", "b", "ab"][..], false, true),
            (&urls[..], true, false),
            (&urls[..], true, true),
        ] {
            let patterns = sorted(needles);
            let mut trie = TrieSize::of(&patterns);
            if fold {
                trie.add_upper_case();
            }
            let bound = trie.dfa_lower_bound();
            let dfa = AhoCorasickBuilder::new()
                .ascii_case_insensitive(fold)
                .match_kind(MatchKind::Standard)
                .kind(Some(AhoCorasickKind::DFA))
                .build(&patterns)
                .unwrap();
            assert!(bound <= dfa.memory_usage(), "{bound} > {}", dfa.memory_usage());
            // Large sets are where the bound decides: it must not be far off.
            if close {
                assert!(bound * 5 / 4 >= dfa.memory_usage(), "{bound} vs {}", dfa.memory_usage());
            }
        }
    }

    #[test]
    fn a_rule_set_over_the_state_budget_is_refused_with_its_field() {
        let text = "title: t\nlogsource: {category: proxy}\ndetection:\n  s:\n    c-uri|contains: [abcdef, abcxyz]\n  condition: s\n";
        let doc = &crate::rules::yaml::parse_documents(text).unwrap()[0];
        let rule = crate::rules::sigma::parse_rule(doc, "t.yml", &Default::default()).unwrap();
        // The root and a, b, c, d, e, f, x, y, z.
        assert!(Matcher::new(std::slice::from_ref(&rule), vec![0], &mut StateBudget::new(10)).is_ok());
        let e = Matcher::new(&[rule], vec![0], &mut StateBudget::new(9)).unwrap_err();
        assert_eq!(e.field, "url.original");
        assert!(e.reason.contains("than the limit of 9"), "{e}");
    }
}
