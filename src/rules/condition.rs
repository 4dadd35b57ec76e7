//! The Sigma condition language: parsing (`selection and not 1 of filter_*`) into an [`Expr`],
//! resolving it against a rule's search identifiers into a [`Cond`], and evaluating a `Cond`.
//!
//! Grammar ("Condition" in the specification), least to most binding:
//!
//! ```text
//! or_expr   = and_expr { "or" and_expr }
//! and_expr  = not_expr { "and" not_expr }
//! not_expr  = "not" not_expr | primary
//! primary   = "(" or_expr ")" | quantity "of" target | identifier
//! quantity  = "all" | "any" | N            (N a positive integer; "any" is pySigma's "1")
//! target    = "them" | pattern             (pattern: identifier characters and `*`)
//! ```
//!
//! Operators and `them` are case-insensitive; identifiers are case-sensitive runs of letters,
//! digits, `_`, `-` and `.`. The words `and`, `or`, `not`, `of` and `them` are never identifiers
//! (`selection_and` and `notes` are). Whitespace, newlines included, may separate tokens and is
//! needed only between words. Nesting (`(` and `not`) is limited to [`MAX_DEPTH`] so that no
//! condition can exhaust the stack. A list of conditions (allowed by the specification, joined
//! by OR) is the caller's: parse each and join the results.
//!
//! Resolution ([`Expr::resolve`]) replaces names by indexes into the rule's search identifiers
//! and expands `x of` targets, so evaluation per event is index lookups only:
//! - `them` is every identifier not starting with `_`;
//! - a pattern matches whole identifiers, `*` standing for any characters; identifiers starting
//!   with `_` are left out unless the pattern itself starts with `_` (pySigma leaves them out
//!   always, and matches only a prefix of the identifier — a pySigma quirk not followed here);
//! - an unknown identifier, a target matching nothing, and `N of` with fewer than N matches are
//!   errors: such a condition is a mistake in the rule (a typo, or a clause that can never be
//!   true), and pySigma also rejects unknown identifiers. pySigma itself knows only `1`, `any`
//!   and `all`; a larger N is accepted here, meaning "at least N".
//!
//! [`Cond::eval`] short-circuits; [`Cond::eval3`] evaluates with unknown selections (Kleene
//! logic), so a caller can tell whether a rule can match at all when some selections are known
//! to be false. Nothing here panics on any input.

use std::fmt;

use nom::{
    IResult, Parser,
    branch::alt,
    bytes::complete::{tag_no_case, take_while1},
    character::complete::{char, digit1, multispace0, satisfy},
    combinator::{not, verify},
    error::{ErrorKind, ParseError},
    multi::separated_list1,
    sequence::{preceded, terminated},
};

use super::pattern;

/// How deep `(` and `not` may nest. Real rules use a handful of levels; the bound keeps a
/// hostile condition from overflowing the stack of the recursive parser and of evaluation.
pub const MAX_DEPTH: usize = 64;

/// A parsed condition, before its names are resolved. It mirrors the text: `a and (b and c)`
/// is `And[a, And[b, c]]`, while `a and b and c` is `And[a, b, c]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A search identifier, as written.
    Ident(String),
    /// `not x`.
    Not(Box<Expr>),
    /// `x and y and ...`: two or more operands.
    And(Vec<Expr>),
    /// `x or y or ...`: two or more operands.
    Or(Vec<Expr>),
    /// `1 of selection_*`, `all of them`, ...
    Of {
        /// How many of the targets must match.
        quantifier: Quantifier,
        /// Which search identifiers.
        target: OfTarget,
    },
}

/// The quantity in `x of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    /// `N of` (and `any of`, which is `1 of`): at least N, N ≥ 1.
    AtLeast(u32),
    /// `all of`.
    All,
}

/// The target of `x of`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfTarget {
    /// `them`: every search identifier not starting with `_`.
    Them,
    /// A search-identifier pattern, `*` meaning any characters.
    Pattern(String),
}

/// A condition resolved against a rule's search identifiers: each number is an index into the
/// identifiers given to [`Expr::resolve`]. Nested `And`s (and `Or`s) are flattened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// The selection at this index matches.
    Sel(usize),
    /// Negation.
    Not(Box<Cond>),
    /// All operands (non-empty).
    And(Vec<Cond>),
    /// Any operand (non-empty).
    Or(Vec<Cond>),
    /// At least this many of these selections (1 ≤ count ≤ number of selections).
    AtLeast(u32, Vec<usize>),
    /// All of these selections (non-empty).
    All(Vec<usize>),
}

/// Why a condition was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    /// The text is not a condition.
    #[error("{at}: {reason}")]
    Syntax {
        /// Where the parser stopped.
        at: Position,
        /// What it expected and what it found.
        reason: String,
    },
    /// A name that is not one of the rule's search identifiers.
    #[error("`{name}` is not a search identifier of this rule (it has: {defined})")]
    UnknownIdentifier {
        /// The name as written in the condition.
        name: String,
        /// The rule's search identifiers, for the message.
        defined: String,
    },
    /// `x of target` where the target matches no search identifier.
    #[error("`{of}` matches no search identifier{hint}")]
    NoMatch {
        /// The expression, e.g. `1 of filter*`.
        of: String,
        /// Extra explanation for the message (empty or starting with a space).
        hint: &'static str,
    },
    /// `N of target` where fewer than N identifiers match: it could never be true.
    #[error("`{of}` can never be true: only {matched} search identifiers match")]
    NotEnough {
        /// The expression, e.g. `3 of selection_*`.
        of: String,
        /// How many identifiers the target matches.
        matched: usize,
    },
}

/// A place in a condition: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

impl fmt::Display for Position {
    /// `at column 14`, or `at line 2, column 5` in a condition of several lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 1 {
            write!(f, "at column {}", self.column)
        } else {
            write!(f, "at line {}, column {}", self.line, self.column)
        }
    }
}

impl fmt::Display for Quantifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Quantifier::AtLeast(n) => write!(f, "{n}"),
            Quantifier::All => f.write_str("all"),
        }
    }
}

impl fmt::Display for OfTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OfTarget::Them => f.write_str("them"),
            OfTarget::Pattern(p) => f.write_str(p),
        }
    }
}

/// What the parser wanted where it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    /// A token parser did not match; alternatives are tried, and it is never reported as such.
    Token,
    Operand,
    OperatorOrEnd,
    OperatorOrClose,
    Target,
    PositiveCount,
    SmallerCount,
    Shallower,
}

/// The parser's error: the input left where it stopped, and what it expected there.
#[derive(Debug)]
struct Syntax<'a> {
    rest: &'a str,
    expected: Expected,
}

impl<'a> ParseError<&'a str> for Syntax<'a> {
    fn from_error_kind(rest: &'a str, _: ErrorKind) -> Self {
        Syntax {
            rest,
            expected: Expected::Token,
        }
    }

    fn append(_: &'a str, _: ErrorKind, other: Self) -> Self {
        other
    }
}

type Res<'a, T> = IResult<&'a str, T, Syntax<'a>>;

/// A committed error: the caller reports it instead of trying something else.
fn fail<T>(rest: &str, expected: Expected) -> Res<'_, T> {
    Err(nom::Err::Failure(Syntax { rest, expected }))
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.')
}

fn is_pattern_char(c: char) -> bool {
    is_ident_char(c) || c == '*'
}

const RESERVED: [&str; 5] = ["and", "or", "not", "of", "them"];

fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word))
}

/// A keyword, case-insensitive, after optional whitespace, not followed by a word character
/// (so `and` does not match the start of `android`).
fn keyword<'a>(word: &'static str) -> impl Parser<&'a str, Output = &'a str, Error = Syntax<'a>> {
    preceded(
        multispace0,
        terminated(tag_no_case(word), not(satisfy(is_pattern_char))),
    )
}

fn identifier(i: &str) -> Res<'_, &str> {
    preceded(
        multispace0,
        verify(take_while1(is_ident_char), |word: &str| !is_reserved(word)),
    )
    .parse(i)
}

fn or_expr(i: &str, depth: usize) -> Res<'_, Expr> {
    chain(i, "or", |i| and_expr(i, depth), Expr::Or)
}

fn and_expr(i: &str, depth: usize) -> Res<'_, Expr> {
    chain(i, "and", |i| not_expr(i, depth), Expr::And)
}

/// `operand { op operand }`: a single operand stands for itself, several are `join`ed.
fn chain<'a>(
    i: &'a str,
    op: &'static str,
    operand: impl FnMut(&'a str) -> Res<'a, Expr>,
    join: fn(Vec<Expr>) -> Expr,
) -> Res<'a, Expr> {
    let (i, mut items) = separated_list1(keyword(op), operand).parse(i)?;
    let expr = if items.len() == 1 {
        items.swap_remove(0)
    } else {
        join(items)
    };
    Ok((i, expr))
}

fn not_expr(i: &str, depth: usize) -> Res<'_, Expr> {
    match keyword("not").parse(i) {
        Ok((rest, _)) if depth >= MAX_DEPTH => fail(rest, Expected::Shallower),
        Ok((rest, _)) => {
            let (rest, inner) = not_expr(rest, depth + 1)?;
            Ok((rest, Expr::Not(Box::new(inner))))
        }
        Err(nom::Err::Error(_)) => primary(i, depth),
        Err(e) => Err(e),
    }
}

/// An operand. Every place in the grammar that reaches here needs one, so finding none is a
/// committed error.
fn primary(i: &str, depth: usize) -> Res<'_, Expr> {
    let (i, _) = multispace0(i)?;
    if let Ok((rest, _)) = char::<_, Syntax>('(').parse(i) {
        if depth >= MAX_DEPTH {
            return fail(i, Expected::Shallower);
        }
        let (rest, inner) = or_expr(rest, depth + 1)?;
        let (rest, _) = multispace0(rest)?;
        return match char::<_, Syntax>(')').parse(rest) {
            Ok((rest, _)) => Ok((rest, inner)),
            Err(_) => fail(rest, Expected::OperatorOrClose),
        };
    }
    if let Ok((rest, quantity)) = terminated(quantity_word, keyword("of")).parse(i) {
        let quantifier = if quantity.eq_ignore_ascii_case("all") {
            Quantifier::All
        } else if quantity.eq_ignore_ascii_case("any") {
            Quantifier::AtLeast(1)
        } else {
            match quantity.parse::<u32>() {
                Ok(0) => return fail(i, Expected::PositiveCount),
                Ok(n) => Quantifier::AtLeast(n),
                Err(_) => return fail(i, Expected::SmallerCount),
            }
        };
        let (rest, _) = multispace0(rest)?;
        let Ok((after, word)) = take_while1::<_, _, Syntax>(is_pattern_char).parse(rest) else {
            return fail(rest, Expected::Target);
        };
        let target = if word.eq_ignore_ascii_case("them") {
            OfTarget::Them
        } else if is_reserved(word) {
            return fail(rest, Expected::Target);
        } else {
            OfTarget::Pattern(word.to_owned())
        };
        return Ok((after, Expr::Of { quantifier, target }));
    }
    match identifier(i) {
        Ok((rest, name)) => Ok((rest, Expr::Ident(name.to_owned()))),
        Err(_) => fail(i, Expected::Operand),
    }
}

/// The `all`, `any` or digits before `of`, as a whole word.
fn quantity_word(i: &str) -> Res<'_, &str> {
    terminated(
        alt((tag_no_case("all"), tag_no_case("any"), digit1)),
        not(satisfy(is_pattern_char)),
    )
    .parse(i)
}

/// Parses a condition. Errors say where (line and column) and what was expected, e.g.
/// "at column 15: expected an identifier, `not`, `(` or `N of`, found `)`".
pub fn parse(condition: &str) -> Result<Expr, ConditionError> {
    let stopped = match or_expr(condition, 0) {
        Ok((rest, expr)) => {
            let rest = skip_space(rest);
            if rest.is_empty() {
                return Ok(expr);
            }
            Syntax {
                rest,
                expected: Expected::OperatorOrEnd,
            }
        }
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => e,
        // Complete parsers never ask for more input; report it as the end of the text.
        Err(nom::Err::Incomplete(_)) => Syntax {
            rest: "",
            expected: Expected::Operand,
        },
    };
    Err(syntax_error(condition, &stopped))
}

fn skip_space(s: &str) -> &str {
    s.trim_start_matches([' ', '\t', '\r', '\n'])
}

fn syntax_error(condition: &str, stopped: &Syntax<'_>) -> ConditionError {
    let rest = skip_space(stopped.rest);
    let offset = condition.len().saturating_sub(rest.len());
    let before = condition.get(..offset).unwrap_or(condition);
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    let at = Position {
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
    };
    let found = describe(rest);
    let reason = match stopped.expected {
        Expected::Operand | Expected::Token => {
            format!("expected an identifier, `not`, `(` or `N of`, found {found}")
        }
        Expected::OperatorOrEnd if rest.starts_with('|') => format!(
            "found {found}: aggregations after `|` are not part of Sigma conditions any more \
             (use a correlation rule)"
        ),
        Expected::OperatorOrEnd => {
            format!("expected `and`, `or` or the end of the condition, found {found}")
        }
        Expected::OperatorOrClose => format!("expected `and`, `or` or `)`, found {found}"),
        Expected::Target => {
            format!("expected a search-identifier pattern or `them` after `of`, found {found}")
        }
        Expected::PositiveCount => "`0 of` can never be true; the count must be at least 1".into(),
        Expected::SmallerCount => format!("the count {found} is too large"),
        Expected::Shallower => format!("nested deeper than {MAX_DEPTH} levels"),
    };
    ConditionError::Syntax { at, reason }
}

/// The token at the start of `rest`, for a message: a word in backquotes, or "the end of the
/// condition".
fn describe(rest: &str) -> String {
    const LONGEST: usize = 40;
    let Some(first) = rest.chars().next() else {
        return "the end of the condition".to_owned();
    };
    if is_pattern_char(first) {
        let word: String = rest.chars().take_while(|&c| is_pattern_char(c)).take(LONGEST).collect();
        format!("`{word}`")
    } else if first.is_control() {
        format!("`{}`", first.escape_debug())
    } else {
        format!("`{first}`")
    }
}

impl Expr {
    /// Resolves names against the rule's search identifiers, in the order the rule defines them
    /// (see the module doc for `them`, patterns and the errors).
    pub fn resolve(&self, identifiers: &[&str]) -> Result<Cond, ConditionError> {
        Ok(match self {
            Expr::Ident(name) => match identifiers.iter().position(|id| id == name) {
                Some(index) => Cond::Sel(index),
                None => {
                    return Err(ConditionError::UnknownIdentifier {
                        name: name.clone(),
                        defined: list_identifiers(identifiers),
                    });
                }
            },
            Expr::Not(inner) => Cond::Not(Box::new(inner.resolve(identifiers)?)),
            Expr::And(items) => Cond::And(flatten(items, identifiers, |c| match c {
                Cond::And(inner) => Ok(inner),
                other => Err(other),
            })?),
            Expr::Or(items) => Cond::Or(flatten(items, identifiers, |c| match c {
                Cond::Or(inner) => Ok(inner),
                other => Err(other),
            })?),
            Expr::Of { quantifier, target } => {
                let of = || format!("{quantifier} of {target}");
                let matched: Vec<usize> = match target {
                    OfTarget::Them => (0..identifiers.len())
                        .filter(|&i| !identifiers[i].starts_with('_'))
                        .collect(),
                    OfTarget::Pattern(p) => {
                        let glob = pattern::parse_glob(p);
                        let underscore = p.starts_with('_');
                        (0..identifiers.len())
                            .filter(|&i| {
                                let id = identifiers[i];
                                (underscore || !id.starts_with('_')) && glob.matches(id.as_bytes(), false)
                            })
                            .collect()
                    }
                };
                if matched.is_empty() {
                    let hint = match target {
                        OfTarget::Them => " (those starting with `_` are not part of `them`)",
                        OfTarget::Pattern(p) if !p.starts_with('_') => {
                            " (those starting with `_` match only a pattern starting with `_`)"
                        }
                        OfTarget::Pattern(_) => "",
                    };
                    return Err(ConditionError::NoMatch { of: of(), hint });
                }
                match *quantifier {
                    Quantifier::All => Cond::All(matched),
                    Quantifier::AtLeast(n) if n as usize > matched.len() => {
                        return Err(ConditionError::NotEnough {
                            of: of(),
                            matched: matched.len(),
                        });
                    }
                    Quantifier::AtLeast(n) => Cond::AtLeast(n, matched),
                }
            }
        })
    }
}

/// Resolves `items` and splices in the operands of those that are the same operator
/// (`split` returns them), so `a and (b and c)` evaluates as one `And`.
fn flatten(
    items: &[Expr],
    identifiers: &[&str],
    split: impl Fn(Cond) -> Result<Vec<Cond>, Cond>,
) -> Result<Vec<Cond>, ConditionError> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match split(item.resolve(identifiers)?) {
            Ok(inner) => out.extend(inner),
            Err(single) => out.push(single),
        }
    }
    Ok(out)
}

/// The identifiers for a message, cut short when there are many.
fn list_identifiers(identifiers: &[&str]) -> String {
    const SHOWN: usize = 12;
    if identifiers.is_empty() {
        return "none".to_owned();
    }
    let mut list = identifiers[..identifiers.len().min(SHOWN)].join(", ");
    if identifiers.len() > SHOWN {
        list.push_str(&format!(" and {} more", identifiers.len() - SHOWN));
    }
    list
}

impl Cond {
    /// Evaluates with `sel(i)` telling whether selection `i` matches. Short-circuits: `sel` is
    /// called only for selections whose value can still change the result.
    pub fn eval(&self, sel: &mut impl FnMut(usize) -> bool) -> bool {
        match self {
            Cond::Sel(i) => sel(*i),
            Cond::Not(inner) => !inner.eval(sel),
            Cond::And(items) => items.iter().all(|c| c.eval(sel)),
            Cond::Or(items) => items.iter().any(|c| c.eval(sel)),
            Cond::AtLeast(n, indexes) => {
                let need = *n as usize;
                let mut hits = 0;
                for (k, &i) in indexes.iter().enumerate() {
                    if hits + (indexes.len() - k) < need {
                        return false; // the rest cannot make up the difference
                    }
                    if sel(i) {
                        hits += 1;
                        if hits >= need {
                            return true;
                        }
                    }
                }
                hits >= need
            }
            Cond::All(indexes) => indexes.iter().all(|&i| sel(i)),
        }
    }

    /// Evaluates in three-valued (Kleene) logic: `sel(i)` is `None` when selection `i` is
    /// unknown. The result is `Some` exactly when the known selections decide it whatever the
    /// unknown ones turn out to be: `false and ?` is false, `true or ?` is true, `not ?` is
    /// unknown; `N of` is true once N are known true, false once fewer than N can be true.
    /// Short-circuits like [`Cond::eval`].
    pub fn eval3(&self, sel: &mut impl FnMut(usize) -> Option<bool>) -> Option<bool> {
        match self {
            Cond::Sel(i) => sel(*i),
            Cond::Not(inner) => inner.eval3(sel).map(|b| !b),
            Cond::And(items) => {
                let mut unknown = false;
                for c in items {
                    match c.eval3(sel) {
                        Some(false) => return Some(false),
                        Some(true) => {}
                        None => unknown = true,
                    }
                }
                (!unknown).then_some(true)
            }
            Cond::Or(items) => {
                let mut unknown = false;
                for c in items {
                    match c.eval3(sel) {
                        Some(true) => return Some(true),
                        Some(false) => {}
                        None => unknown = true,
                    }
                }
                if unknown { None } else { Some(false) }
            }
            Cond::AtLeast(n, indexes) => at_least3(*n as usize, indexes, sel),
            Cond::All(indexes) => at_least3(indexes.len(), indexes, sel),
        }
    }
}

/// Three-valued "at least `need` of `indexes`".
fn at_least3(need: usize, indexes: &[usize], sel: &mut impl FnMut(usize) -> Option<bool>) -> Option<bool> {
    let (mut yes, mut maybe) = (0, 0);
    for (k, &i) in indexes.iter().enumerate() {
        if yes >= need {
            return Some(true);
        }
        if yes + maybe + (indexes.len() - k) < need {
            return Some(false);
        }
        match sel(i) {
            Some(true) => yes += 1,
            Some(false) => {}
            None => maybe += 1,
        }
    }
    if yes >= need {
        Some(true)
    } else if yes + maybe < need {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn id(s: &str) -> Expr {
        Expr::Ident(s.to_owned())
    }
    fn not(e: Expr) -> Expr {
        Expr::Not(Box::new(e))
    }
    fn of(quantifier: Quantifier, target: &str) -> Expr {
        let target = if target == "them" {
            OfTarget::Them
        } else {
            OfTarget::Pattern(target.to_owned())
        };
        Expr::Of { quantifier, target }
    }
    use Expr::{And, Or};
    use Quantifier::{All, AtLeast};

    #[test]
    fn parse_table() {
        let cases: Vec<(&str, Expr)> = vec![
            ("selection", id("selection")),
            ("  selection\n", id("selection")),
            ("a or b", Or(vec![id("a"), id("b")])),
            ("a and b", And(vec![id("a"), id("b")])),
            ("a and b and c", And(vec![id("a"), id("b"), id("c")])),
            ("a or b or c", Or(vec![id("a"), id("b"), id("c")])),
            // Precedence: or < and < not < x of < ( ).
            ("a or b and not c", Or(vec![id("a"), And(vec![id("b"), not(id("c"))])])),
            ("a and b or c", Or(vec![And(vec![id("a"), id("b")]), id("c")])),
            ("not a and b", And(vec![not(id("a")), id("b")])),
            ("not a or b", Or(vec![not(id("a")), id("b")])),
            ("not not a", not(not(id("a")))),
            ("not 1 of filter*", not(of(AtLeast(1), "filter*"))),
            (
                "1 of selection* and not 1 of filter*",
                And(vec![of(AtLeast(1), "selection*"), not(of(AtLeast(1), "filter*"))]),
            ),
            ("all of them", of(All, "them")),
            ("1 of them", of(AtLeast(1), "them")),
            ("any of them", of(AtLeast(1), "them")),
            ("3 of sel_*", of(AtLeast(3), "sel_*")),
            ("all of selection_*_x", of(All, "selection_*_x")),
            ("1 of *", of(AtLeast(1), "*")),
            // Parentheses.
            ("(a)", id("a")),
            ("((a))", id("a")),
            ("(a or b) and c", And(vec![Or(vec![id("a"), id("b")]), id("c")])),
            ("a and (b and c)", And(vec![id("a"), And(vec![id("b"), id("c")])])),
            (
                "not (a or (b and not (c or d)))",
                not(Or(vec![id("a"), And(vec![id("b"), not(Or(vec![id("c"), id("d")]))])])),
            ),
            ("(a)and(b)", And(vec![id("a"), id("b")])),
            ("not(a)", not(id("a"))),
            (
                "(1 of sel_*)or(all of x*)",
                Or(vec![of(AtLeast(1), "sel_*"), of(All, "x*")]),
            ),
            // Keywords are case-insensitive, identifiers keep their case.
            ("A AND B", And(vec![id("A"), id("B")])),
            ("a Or NOT b", Or(vec![id("a"), not(id("b"))])),
            ("ALL OF THEM", of(All, "them")),
            ("1 Of Them", of(AtLeast(1), "them")),
            ("Any of Sel*", of(AtLeast(1), "Sel*")),
            // Keywords inside identifiers do not count.
            ("selection_and or notes", Or(vec![id("selection_and"), id("notes")])),
            ("android and oracle", And(vec![id("android"), id("oracle")])),
            ("all", id("all")),
            ("any and all", And(vec![id("any"), id("all")])),
            ("1", id("1")),
            ("1of", id("1of")),
            ("all_of_them", id("all_of_them")),
            ("sel-1.x", id("sel-1.x")),
            ("themes", id("themes")),
            ("ofx", id("ofx")),
            // Newlines and tabs between tokens.
            (
                "selection_parent and\n(\n    1 of selection_generic_*\n    or\n\t(x and not y)\n)\n",
                And(vec![
                    id("selection_parent"),
                    Or(vec![
                        of(AtLeast(1), "selection_generic_*"),
                        And(vec![id("x"), not(id("y"))]),
                    ]),
                ]),
            ),
        ];
        for (condition, expected) in cases {
            assert_eq!(parse(condition), Ok(expected), "parse({condition:?})");
        }
    }

    #[test]
    fn parse_errors() {
        let cases = [
            (
                "",
                "at column 1: expected an identifier, `not`, `(` or `N of`, found the end of the condition",
            ),
            (
                "   ",
                "at column 4: expected an identifier, `not`, `(` or `N of`, found the end of the condition",
            ),
            (
                "selection and )",
                "at column 15: expected an identifier, `not`, `(` or `N of`, found `)`",
            ),
            (
                "selection and",
                "at column 14: expected an identifier, `not`, `(` or `N of`, found the end of the condition",
            ),
            (
                "a or",
                "at column 5: expected an identifier, `not`, `(` or `N of`, found the end of the condition",
            ),
            (
                "and",
                "at column 1: expected an identifier, `not`, `(` or `N of`, found `and`",
            ),
            (
                "a and or b",
                "at column 7: expected an identifier, `not`, `(` or `N of`, found `or`",
            ),
            (
                "not",
                "at column 4: expected an identifier, `not`, `(` or `N of`, found the end of the condition",
            ),
            (
                "a b",
                "at column 3: expected `and`, `or` or the end of the condition, found `b`",
            ),
            (
                "a and b)",
                "at column 8: expected `and`, `or` or the end of the condition, found `)`",
            ),
            (
                "(a and b",
                "at column 9: expected `and`, `or` or `)`, found the end of the condition",
            ),
            ("(a b)", "at column 4: expected `and`, `or` or `)`, found `b`"),
            (
                "()",
                "at column 2: expected an identifier, `not`, `(` or `N of`, found `)`",
            ),
            (
                "sel*",
                "at column 4: expected `and`, `or` or the end of the condition, found `*`",
            ),
            (
                "a && b",
                "at column 3: expected `and`, `or` or the end of the condition, found `&`",
            ),
            (
                "1 of",
                "at column 5: expected a search-identifier pattern or `them` after `of`, found the end of the condition",
            ),
            (
                "all of (a)",
                "at column 8: expected a search-identifier pattern or `them` after `of`, found `(`",
            ),
            (
                "1 of and",
                "at column 6: expected a search-identifier pattern or `them` after `of`, found `and`",
            ),
            (
                "0 of them",
                "at column 1: `0 of` can never be true; the count must be at least 1",
            ),
            (
                "99999999999 of them",
                "at column 1: the count `99999999999` is too large",
            ),
            (
                "them",
                "at column 1: expected an identifier, `not`, `(` or `N of`, found `them`",
            ),
            (
                "of",
                "at column 1: expected an identifier, `not`, `(` or `N of`, found `of`",
            ),
            (
                "a\nand\n  )",
                "at line 3, column 3: expected an identifier, `not`, `(` or `N of`, found `)`",
            ),
            (
                "selection | count() > 5",
                "at column 11: found `|`: aggregations after `|` are not part of Sigma conditions any more (use a correlation rule)",
            ),
            (
                "a and 'b'",
                "at column 7: expected an identifier, `not`, `(` or `N of`, found `'`",
            ),
            (
                "ä or\u{7}",
                "at column 5: expected an identifier, `not`, `(` or `N of`, found `\\u{7}`",
            ),
        ];
        for (condition, message) in cases {
            let got = parse(condition).map_err(|e| e.to_string());
            assert_eq!(got, Err(message.to_owned()), "parse({condition:?})");
        }
    }

    #[test]
    fn parse_limits_nesting() {
        let nested = |n: usize| format!("{}a{}", "(".repeat(n), ")".repeat(n));
        assert!(parse(&nested(MAX_DEPTH)).is_ok());
        let deep = parse(&nested(MAX_DEPTH + 1)).map_err(|e| e.to_string());
        assert_eq!(
            deep,
            Err(format!(
                "at column {}: nested deeper than {MAX_DEPTH} levels",
                MAX_DEPTH + 1
            ))
        );
        let nots = |n: usize| format!("{}a", "not ".repeat(n));
        assert!(parse(&nots(MAX_DEPTH)).is_ok());
        assert!(parse(&nots(MAX_DEPTH + 1)).is_err());
        // Hostile input: far deeper than the limit, and very long flat conditions.
        assert!(parse(&"(".repeat(1_000_000)).is_err());
        assert!(parse(&"not ".repeat(1_000_000)).is_err());
        let flat = vec!["a"; 100_000].join(" or ");
        assert!(matches!(parse(&flat), Ok(Expr::Or(items)) if items.len() == 100_000));
    }

    fn sel(i: usize) -> Cond {
        Cond::Sel(i)
    }

    #[test]
    fn resolve_table() {
        let ids = [
            "selection",
            "selection_img",
            "filter_main",
            "filter_opt",
            "_internal",
            "keywords",
        ];
        let cases: Vec<(&str, Cond)> = vec![
            ("selection", sel(0)),
            (
                "keywords and not filter_main",
                Cond::And(vec![sel(5), Cond::Not(Box::new(sel(2)))]),
            ),
            ("1 of selection*", Cond::AtLeast(1, vec![0, 1])),
            ("all of selection*", Cond::All(vec![0, 1])),
            ("1 of filter_*", Cond::AtLeast(1, vec![2, 3])),
            ("2 of filter_*", Cond::AtLeast(2, vec![2, 3])),
            ("1 of *_main", Cond::AtLeast(1, vec![2])),
            ("1 of *e*", Cond::AtLeast(1, vec![0, 1, 2, 3, 5])),
            ("1 of selection", Cond::AtLeast(1, vec![0])),
            // `them` and plain patterns leave out `_` identifiers; a `_` pattern takes them.
            ("all of them", Cond::All(vec![0, 1, 2, 3, 5])),
            ("1 of them", Cond::AtLeast(1, vec![0, 1, 2, 3, 5])),
            ("1 of *", Cond::AtLeast(1, vec![0, 1, 2, 3, 5])),
            ("1 of _*", Cond::AtLeast(1, vec![4])),
            ("_internal", sel(4)),
            // Nested operators of the same kind are flattened.
            (
                "selection and (keywords and (filter_main and filter_opt))",
                Cond::And(vec![sel(0), sel(5), sel(2), sel(3)]),
            ),
            (
                "(selection or keywords) or filter_opt",
                Cond::Or(vec![sel(0), sel(5), sel(3)]),
            ),
            (
                "selection and (keywords or filter_opt)",
                Cond::And(vec![sel(0), Cond::Or(vec![sel(5), sel(3)])]),
            ),
        ];
        for (condition, expected) in cases {
            let resolved = parse(condition).and_then(|e| e.resolve(&ids));
            assert_eq!(resolved, Ok(expected), "resolve({condition:?})");
        }
    }

    #[test]
    fn resolve_errors() {
        let ids = ["selection", "filter", "_hidden"];
        let cases = [
            (
                "selction",
                "`selction` is not a search identifier of this rule (it has: selection, filter, _hidden)",
            ),
            (
                "Selection",
                "`Selection` is not a search identifier of this rule (it has: selection, filter, _hidden)",
            ),
            (
                "selection and not 1 of filter_*",
                "`1 of filter_*` matches no search identifier (those starting with `_` match only a pattern starting with `_`)",
            ),
            (
                "all of x*",
                "`all of x*` matches no search identifier (those starting with `_` match only a pattern starting with `_`)",
            ),
            ("1 of _x*", "`1 of _x*` matches no search identifier"),
            (
                "1 of *hidden",
                "`1 of *hidden` matches no search identifier (those starting with `_` match only a pattern starting with `_`)",
            ),
            (
                "3 of them",
                "`3 of them` can never be true: only 2 search identifiers match",
            ),
        ];
        for (condition, message) in cases {
            let got = parse(condition)
                .and_then(|e| e.resolve(&ids))
                .map_err(|e| e.to_string());
            assert_eq!(got, Err(message.to_owned()), "resolve({condition:?})");
        }
        let only_hidden = ["_a"];
        let got = parse("1 of them")
            .and_then(|e| e.resolve(&only_hidden))
            .map_err(|e| e.to_string());
        assert_eq!(
            got,
            Err("`1 of them` matches no search identifier (those starting with `_` are not part of `them`)".to_owned())
        );
        let many: Vec<String> = (0..20).map(|i| format!("s{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let got = parse("x").and_then(|e| e.resolve(&many)).map_err(|e| e.to_string());
        assert_eq!(
            got,
            Err("`x` is not a search identifier of this rule (it has: s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11 and 8 more)".to_owned())
        );
    }

    /// Every assignment of `n` booleans, as a bit mask.
    fn assignments(n: usize) -> impl Iterator<Item = Vec<bool>> {
        (0..1u32 << n).map(move |mask| (0..n).map(|i| mask >> i & 1 == 1).collect())
    }

    /// Every assignment of `n` three-valued selections.
    fn assignments3(n: usize) -> impl Iterator<Item = Vec<Option<bool>>> {
        (0..3u32.pow(n as u32)).map(move |mut k| {
            (0..n)
                .map(|_| {
                    let v = [Some(false), Some(true), None][(k % 3) as usize];
                    k /= 3;
                    v
                })
                .collect()
        })
    }

    /// The conditions used by the truth-table tests, over selections 0..4.
    fn sample_conds() -> Vec<Cond> {
        let ids = ["a", "b", "c", "d"];
        [
            "a",
            "not a",
            "a and b",
            "a or b",
            "a and not b",
            "a or b and not c",
            "not (a or b) and c",
            "1 of them",
            "2 of them",
            "3 of them",
            "all of them",
            "not 2 of them and d",
            "(a and b) or (c and d)",
        ]
        .iter()
        .map(|c| {
            parse(c)
                .and_then(|e| e.resolve(&ids))
                .unwrap_or_else(|e| panic!("{c}: {e}"))
        })
        .collect()
    }

    /// The meaning of a condition, written out without short-circuits.
    fn truth(c: &Cond, v: &[bool]) -> bool {
        match c {
            Cond::Sel(i) => v[*i],
            Cond::Not(x) => !truth(x, v),
            Cond::And(xs) => xs.iter().fold(true, |acc, x| acc & truth(x, v)),
            Cond::Or(xs) => xs.iter().fold(false, |acc, x| acc | truth(x, v)),
            Cond::AtLeast(n, is) => is.iter().filter(|&&i| v[i]).count() >= *n as usize,
            Cond::All(is) => is.iter().all(|&i| v[i]),
        }
    }

    #[test]
    fn eval_truth_tables() {
        // Explicit rows for the operators.
        let rows: &[(&str, [bool; 3], bool)] = &[
            ("a and b", [true, true, false], true),
            ("a and b", [true, false, false], false),
            ("a or b", [false, false, true], false),
            ("a or b", [false, true, false], true),
            ("not a", [true, false, false], false),
            ("2 of them", [true, false, true], true),
            ("2 of them", [false, false, true], false),
            ("all of them", [true, true, true], true),
            ("all of them", [true, true, false], false),
        ];
        let ids = ["a", "b", "c"];
        for (condition, values, expected) in rows {
            let cond = parse(condition).and_then(|e| e.resolve(&ids));
            let got = cond.map(|c| c.eval(&mut |i| values[i]));
            assert_eq!(got, Ok(*expected), "{condition} on {values:?}");
        }
        // Every sample condition on every assignment agrees with its plain meaning.
        for cond in sample_conds() {
            for v in assignments(4) {
                assert_eq!(cond.eval(&mut |i| v[i]), truth(&cond, &v), "{cond:?} on {v:?}");
            }
        }
    }

    #[test]
    fn eval_short_circuits() {
        let ids = ["a", "b", "c"];
        // (condition, values, selections that must be asked, in order)
        let cases: &[(&str, [bool; 3], &[usize])] = &[
            ("a and b", [false, true, true], &[0]),
            ("a or b", [true, false, false], &[0]),
            ("a or b", [false, true, false], &[0, 1]),
            ("1 of them", [false, true, true], &[0, 1]),
            ("all of them", [true, false, true], &[0, 1]),
            ("2 of them", [false, false, true], &[0, 1]),
            ("2 of them", [true, true, false], &[0, 1]),
        ];
        for (condition, values, asked) in cases {
            let cond = parse(condition)
                .and_then(|e| e.resolve(&ids))
                .unwrap_or_else(|e| panic!("{e}"));
            let mut seen = Vec::new();
            cond.eval(&mut |i| {
                seen.push(i);
                values[i]
            });
            assert_eq!(&seen, asked, "{condition} on {values:?}");
        }
    }

    /// Whether some selection occurs more than once in `cond`.
    fn repeats(cond: &Cond) -> bool {
        fn collect(c: &Cond, out: &mut Vec<usize>) {
            match c {
                Cond::Sel(i) => out.push(*i),
                Cond::Not(x) => collect(x, out),
                Cond::And(xs) | Cond::Or(xs) => xs.iter().for_each(|x| collect(x, out)),
                Cond::AtLeast(_, is) | Cond::All(is) => out.extend(is),
            }
        }
        let mut all = Vec::new();
        collect(cond, &mut all);
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        all.len() != n
    }

    type Tri = Option<bool>;

    #[test]
    fn eval3_kleene() {
        let (t, f, u) = (Some(true), Some(false), None);
        let ids = ["a", "b", "c"];
        let rows: &[(&str, [Tri; 3], Tri)] = &[
            ("a", [u, t, t], u),
            ("not a", [u, t, t], u),
            ("not a", [t, u, u], f),
            ("a and b", [f, u, u], f),
            ("a and b", [u, f, u], f),
            ("a and b", [t, u, u], u),
            ("a and b", [t, t, u], t),
            ("a or b", [t, u, u], t),
            ("a or b", [u, t, u], t),
            ("a or b", [f, u, u], u),
            ("a or b", [f, f, u], f),
            ("1 of them", [u, u, t], t),
            ("1 of them", [f, u, f], u),
            ("1 of them", [f, f, f], f),
            ("2 of them", [t, u, u], u),
            ("2 of them", [t, f, u], u),
            ("2 of them", [f, f, u], f),
            ("2 of them", [u, t, t], t),
            ("all of them", [t, t, u], u),
            ("all of them", [u, f, u], f),
            ("all of them", [t, t, t], t),
            ("a and not b", [t, u, f], u),
            ("a and not (b or c)", [t, u, t], f),
        ];
        for (condition, values, expected) in rows {
            let cond = parse(condition).and_then(|e| e.resolve(&ids));
            let got = cond.map(|c| c.eval3(&mut |i| values[i]));
            assert_eq!(got, Ok(*expected), "{condition} on {values:?}");
        }
        // eval3 is exactly "decided by the known values": Some(x) iff every completion of the
        // unknowns gives x, None iff completions disagree.
        for cond in sample_conds() {
            for v in assignments3(4) {
                let unknown: Vec<usize> = (0..4).filter(|&i| v[i].is_none()).collect();
                let outcomes: Vec<bool> = assignments(unknown.len())
                    .map(|fill| {
                        let mut full: Vec<bool> = v.iter().map(|x| x.unwrap_or(false)).collect();
                        for (k, &i) in unknown.iter().enumerate() {
                            full[i] = fill[k];
                        }
                        truth(&cond, &full)
                    })
                    .collect();
                let decided = if outcomes.iter().all(|&o| o) {
                    Some(true)
                } else if outcomes.iter().all(|&o| !o) {
                    Some(false)
                } else {
                    None
                };
                let got = cond.eval3(&mut |i| v[i]);
                // Sound always: a decided result holds for every completion.
                if got.is_some() {
                    assert_eq!(got, decided, "{cond:?} on {v:?}");
                }
                // Complete when no selection occurs twice: Kleene logic cannot see that
                // `not 2 of them and d` is false for either value of d.
                if !repeats(&cond) {
                    assert_eq!(got, decided, "{cond:?} on {v:?}");
                }
            }
        }
    }

    fn sigma_dir() -> Option<PathBuf> {
        // The same place tests/sigmahq.rs reads: $RECONWATCH_SIGMA, else ../shared/sigma.
        let dir = std::env::var_os("RECONWATCH_SIGMA")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/sigma"));
        dir.is_dir().then_some(dir)
    }

    fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            if p.is_dir() {
                yaml_files(&p, out);
            } else if p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                out.push(p);
            }
        }
    }

    fn indent(line: &str) -> usize {
        line.len() - line.trim_start_matches(' ').len()
    }

    /// Strips a trailing YAML comment and surrounding quotes from a plain one-line value.
    fn scalar(value: &str) -> String {
        let value = match value.find(" #") {
            Some(at) => &value[..at],
            None => value,
        }
        .trim();
        for q in ['\'', '"'] {
            if let Some(inner) = value.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
                return inner.to_owned();
            }
        }
        value.to_owned()
    }

    /// The search identifiers and conditions of a rule's `detection:` block, found by a line
    /// scan (enough for SigmaHQ's formatting). Conditions written as a list, a block scalar or
    /// a folded plain scalar over several lines are handled; `multi` counts them.
    fn scan_detection(text: &str, multi: &mut usize) -> Vec<(Vec<String>, Vec<String>)> {
        let lines: Vec<&str> = text.lines().collect();
        let mut found = Vec::new();
        let mut n = 0;
        while n < lines.len() {
            if lines[n].trim_end() != "detection:" {
                n += 1;
                continue;
            }
            let base = indent(lines[n]);
            n += 1;
            let mut child = None;
            let (mut ids, mut conditions) = (Vec::new(), Vec::new());
            while n < lines.len() {
                let line = lines[n];
                let trimmed = line.trim();
                if trimmed.is_empty() || trimmed.starts_with('#') {
                    n += 1;
                    continue;
                }
                if indent(line) <= base {
                    break;
                }
                let level = *child.get_or_insert(indent(line));
                if indent(line) != level {
                    n += 1;
                    continue;
                }
                let Some((key, value)) = trimmed.split_once(':') else {
                    n += 1;
                    continue;
                };
                n += 1;
                match key {
                    "condition" => {
                        let value = value.trim();
                        if !value.is_empty() && !value.starts_with(['|', '>']) {
                            conditions.push(scalar(value));
                            continue;
                        }
                        // A value on the following, deeper lines.
                        let mut body = Vec::new();
                        while n < lines.len() && (lines[n].trim().is_empty() || indent(lines[n]) > level) {
                            body.push(lines[n].trim());
                            n += 1;
                        }
                        *multi += 1;
                        if body.first().is_some_and(|l| l.starts_with("- ")) {
                            conditions.extend(body.iter().filter_map(|l| l.strip_prefix("- ")).map(scalar));
                        } else {
                            conditions.push(body.join("\n"));
                        }
                    }
                    "timeframe" => {}
                    key => ids.push(scalar(key)),
                }
            }
            found.push((ids, conditions));
        }
        found
    }

    #[test]
    fn every_sigmahq_condition_parses_and_resolves() {
        let Some(dir) = sigma_dir() else {
            // Absent shared data fails loudly unless explicitly allowed (as tests/sigmahq.rs).
            assert!(
                std::env::var("RECONWATCH_ALLOW_MISSING_SIGMA").is_ok_and(|v| v == "1"),
                "the SigmaHQ rules (../shared/sigma) are absent: point RECONWATCH_SIGMA at them, or set \
                 RECONWATCH_ALLOW_MISSING_SIGMA=1 to skip this test"
            );
            println!("skipped: the SigmaHQ rules are absent (allowed by RECONWATCH_ALLOW_MISSING_SIGMA)");
            return;
        };
        let mut files = Vec::new();
        let Ok(entries) = std::fs::read_dir(&dir) else { return };
        let mut roots: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("rules"))
            })
            .collect();
        roots.sort();
        for root in &roots {
            yaml_files(root, &mut files);
        }
        let (mut conditions, mut multi, mut failures) = (0, 0, Vec::new());
        for file in &files {
            let Ok(text) = std::fs::read_to_string(file) else {
                continue;
            };
            for (ids, conds) in scan_detection(&text, &mut multi) {
                let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                for condition in conds {
                    conditions += 1;
                    if let Err(e) = parse(&condition).and_then(|expr| expr.resolve(&ids)) {
                        failures.push(format!("{}: {condition:?}: {e}", file.display()));
                    }
                }
            }
        }
        println!(
            "SigmaHQ: {} rule files, {conditions} conditions ({multi} over several lines), {} rejected",
            files.len(),
            failures.len()
        );
        assert!(conditions > 1000, "too few conditions found under {}", dir.display());
        assert!(failures.is_empty(), "rejected:\n{}", failures.join("\n"));
    }
}
