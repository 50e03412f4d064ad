//! The subset of Google's CEL (Common Expression Language) that Bifrost's routing rules are
//! written in: compiled once ([`Expression::compile`]), evaluated per request without
//! allocating ([`Expression::matches`]).
//!
//! # The environment
//!
//! String variables: `model`, `provider`, `request_type`, `virtual_key_id`, `virtual_key_name`,
//! `user_id`, `team_id`, `team_name`, `customer_id`, `customer_name`, `complexity_tier`.
//! Double variables: `budget_used`, `tokens_used`, `request`. Maps of strings to strings:
//! `headers`, `params` (keys compared ASCII-case-insensitively by the [`Variables`]
//! implementation). A variable whose value the caller does not know (`None`; keyward never
//! computes `complexity_tier`) makes the expression reading it unknown, which never matches.
//!
//! # The subset
//!
//! - Literals: `true`, `false`, `null`; ints (`42`, `0x2A`), uints (`42u`), doubles (`1.5`,
//!   `.5`, `1e3`, `2.5e-1`); strings quoted with `"`, `'`, `"""` or `'''`, raw with an `r`/`R`
//!   prefix, with CEL's escapes (`\\ \" \' \` \? \n \r \t \a \b \f \v`, `\xHH`, `\uHHHH`,
//!   `\UHHHHHHHH`, octal `\ooo`); list literals `[a, b, c]`; `//` comments.
//! - Operators, lowest precedence first: `c ? a : b`; `||`; `&&`;
//!   `== != < <= > >= in`; `+ -`; `* / %`; unary `! -`; `.field`, `.f(…)`, `[…]`.
//! - Arithmetic on numbers only. Unlike CEL, int, uint and double mix: with a double the
//!   result is a double, int with uint is an int. Integer overflow, division or remainder by
//!   zero and `%` on doubles are errors.
//! - Comparisons: numbers compare exactly across int, uint and double (`budget_used > 80`);
//!   strings by bytes; bools `false < true`. `==`/`!=` between unrelated types is
//!   `false`/`true` (CEL's heterogeneous equality); `null == null`.
//! - `x in [list literal]`; `"key" in headers`, `"key" in params`, `has(headers.key)` (presence).
//! - `headers["X-Tier"]`, `headers.x_tier` (the field name is the key), `params[…]`: a missing
//!   key is an error, so `headers["x"] != ""` is false when the header is absent.
//! - Functions: `s.startsWith(t)`, `s.endsWith(t)`, `s.contains(t)`, `s.matches(re)` and
//!   `matches(s, re)` (the pattern a string literal, compiled at compile time with the `regex`
//!   crate: RE2 syntax, unanchored search), `size(x)` / `x.size()` (chars of a string, elements
//!   of a list), `int(x)`, `uint(x)`, `double(x)` (from numbers and numeric strings).
//!
//! Everything else — string or list concatenation, map literals, macros (`exists`, `all`, …),
//! `string()`, bytes, timestamps — is refused at compile time, naming the construct.
//!
//! # Errors and unknowns
//!
//! A run-time error (missing key, unknown variable, type mismatch on a `dyn` value, overflow)
//! propagates as an error value, absorbed as in CEL only by `&&` and `||`: `false && error`
//! and `error && false` are `false`, `true || error` and `error || true` are `true`. A whole
//! expression matches only when it evaluates to the boolean `true`; an error is no match.
//!
//! # Static checks
//!
//! Each node has a static type (`bool`, `int`, `uint`, `double`, `string`, `list`, `map`,
//! `null`, or `dyn` for map values and ternaries whose branches differ). What can never work
//! is refused: `budget_used > "x"`, `model.startsWith(1)`, `!model`, `model + "x"`, and a
//! whole expression whose static type is not `bool` or `dyn`. Source longer than 16 KiB and
//! expressions nested deeper than 64 levels are refused too (the evaluator recurses).

mod check;
mod eval;
mod lexer;
mod parser;

use std::fmt;

/// The longest source accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 16 * 1024;

/// The deepest nesting accepted (syntax-tree levels, or nested parentheses and brackets).
pub const MAX_DEPTH: usize = 64;

/// A variable of the routing environment (Bifrost's documented names).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Var {
    /// `model`: the model as requested (string).
    Model,
    /// `provider`: the provider (string).
    Provider,
    /// `request_type`: Bifrost's request type, e.g. `chat_completion` (string).
    RequestType,
    /// `virtual_key_id` (string).
    VirtualKeyId,
    /// `virtual_key_name` (string).
    VirtualKeyName,
    /// `user_id` (string).
    UserId,
    /// `team_id` (string).
    TeamId,
    /// `team_name` (string).
    TeamName,
    /// `customer_id` (string).
    CustomerId,
    /// `customer_name` (string).
    CustomerName,
    /// `budget_used`: percent of the budget used (double).
    BudgetUsed,
    /// `tokens_used`: percent of the token limit used (double).
    TokensUsed,
    /// `request`: percent of the request limit used (double).
    Request,
    /// `complexity_tier`: Bifrost's request classification (string).
    ComplexityTier,
}

impl Var {
    /// Every variable.
    pub const ALL: [Var; 14] = [
        Var::Model,
        Var::Provider,
        Var::RequestType,
        Var::VirtualKeyId,
        Var::VirtualKeyName,
        Var::UserId,
        Var::TeamId,
        Var::TeamName,
        Var::CustomerId,
        Var::CustomerName,
        Var::BudgetUsed,
        Var::TokensUsed,
        Var::Request,
        Var::ComplexityTier,
    ];

    /// Its name in expressions.
    pub const fn name(self) -> &'static str {
        match self {
            Var::Model => "model",
            Var::Provider => "provider",
            Var::RequestType => "request_type",
            Var::VirtualKeyId => "virtual_key_id",
            Var::VirtualKeyName => "virtual_key_name",
            Var::UserId => "user_id",
            Var::TeamId => "team_id",
            Var::TeamName => "team_name",
            Var::CustomerId => "customer_id",
            Var::CustomerName => "customer_name",
            Var::BudgetUsed => "budget_used",
            Var::TokensUsed => "tokens_used",
            Var::Request => "request",
            Var::ComplexityTier => "complexity_tier",
        }
    }

    /// The variable an expression names `name`.
    pub fn from_name(name: &str) -> Option<Var> {
        Var::ALL.into_iter().find(|var| var.name() == name)
    }

    /// Whether it is a double (read with [`Variables::number`]); else a string
    /// ([`Variables::string`]).
    pub const fn is_number(self) -> bool {
        matches!(self, Var::BudgetUsed | Var::TokensUsed | Var::Request)
    }

    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// A map variable: `headers`, `params` (map(string, string)).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum MapVar {
    /// `headers`: the request headers.
    Headers,
    /// `params`: the query parameters.
    Params,
}

impl MapVar {
    /// Its name in expressions.
    pub const fn name(self) -> &'static str {
        match self {
            MapVar::Headers => "headers",
            MapVar::Params => "params",
        }
    }

    /// The map an expression names `name`.
    pub fn from_name(name: &str) -> Option<MapVar> {
        [MapVar::Headers, MapVar::Params]
            .into_iter()
            .find(|map| map.name() == name)
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// What an expression reads, supplied per request by the caller.
pub trait Variables {
    /// A string variable's value; `None` = unknown (e.g. complexity_tier, which keyward does
    /// not compute).
    fn string(&self, var: Var) -> Option<&str>;
    /// A double variable's value; `None` = unknown.
    fn number(&self, var: Var) -> Option<f64>;
    /// `map[key]`, keys compared ASCII-case-insensitively by the implementation; `None` = no
    /// such key.
    fn lookup(&self, map: MapVar, key: &str) -> Option<&str>;
}

/// A compiled expression.
#[derive(Debug)]
pub struct Expression {
    root: eval::Node,
    /// [`Var::bit`]s of the variables read.
    vars: u32,
    /// [`MapVar::bit`]s of the maps read.
    maps: u8,
}

impl Expression {
    /// Compiles `source`. Blank (empty / whitespace) compiles to `true` (Bifrost: an empty
    /// expression always matches).
    pub fn compile(source: &str) -> Result<Expression, CelError> {
        if source.len() > MAX_SOURCE_BYTES {
            return Err(CelError::new(
                1,
                format!("the expression is longer than {MAX_SOURCE_BYTES} bytes"),
            ));
        }
        if source.trim().is_empty() {
            return Ok(Expression {
                root: eval::Node::Bool(true),
                vars: 0,
                maps: 0,
            });
        }
        let tokens = lexer::tokenize(source)?;
        let syntax = parser::parse(&tokens)?;
        let checked = check::check(&syntax)?;
        Ok(Expression {
            root: checked.root,
            vars: checked.vars,
            maps: checked.maps,
        })
    }

    /// Evaluates: `true` only when the result is the boolean true. An error (missing map key,
    /// type error at run time, unknown variable value) or a non-boolean result is `false` (no
    /// match). Allocates nothing (a regex search may fill its thread's cache the first time).
    #[inline]
    pub fn matches<V: Variables + ?Sized>(&self, vars: &V) -> bool {
        eval::is_true(&self.root, vars)
    }

    /// Whether the expression reads `var` anywhere (so the caller computes expensive variables
    /// only when needed).
    pub fn reads(&self, var: Var) -> bool {
        self.vars & var.bit() != 0
    }

    /// Whether the expression reads `map` anywhere.
    pub fn reads_map(&self, map: MapVar) -> bool {
        self.maps & map.bit() != 0
    }
}

/// Why an expression does not compile: the 1-based column (in chars) and what is wrong.
/// Display: "at column {column}: {message}".
#[derive(Clone, Debug, PartialEq)]
pub struct CelError {
    /// The 1-based column, in chars, of the offending construct.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl CelError {
    fn new(column: usize, message: impl Into<String>) -> CelError {
        CelError {
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for CelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for CelError {}

#[cfg(test)]
mod tests;
