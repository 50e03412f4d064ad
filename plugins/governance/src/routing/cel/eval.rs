//! The compiled tree and its evaluation: a recursive walk producing [`Value`]s that borrow from
//! the tree and the caller's [`Variables`], so evaluating allocates nothing. Errors are a value
//! ([`Value::Error`]) that `&&` and `||` absorb as CEL does; each node is evaluated at most once
//! per evaluation of its parent, so the work is linear in the size of the tree.

use std::cmp::Ordering;

use regex::Regex;

use super::{MapVar, Var, Variables};

/// A node of the compiled tree (names resolved, types checked).
#[derive(Debug)]
pub(super) enum Node {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Double(f64),
    Str(Box<str>),
    Null,
    /// A list literal, its elements evaluated when used.
    List(Box<[Node]>),
    /// A string variable.
    String(Var),
    /// A double variable.
    Number(Var),
    /// `map[key]`: an error when the key is absent.
    Lookup(MapVar, Box<Node>),
    /// `key in map`, `has(map.key)`.
    HasKey(MapVar, Box<Node>),
    /// `value in [list literal]`.
    InList(Box<Node>, Box<[Node]>),
    Not(Box<Node>),
    Negate(Box<Node>),
    And(Box<[Node; 2]>),
    Or(Box<[Node; 2]>),
    /// `condition ? then : otherwise`.
    Conditional(Box<[Node; 3]>),
    Compare(Comparison, Box<[Node; 2]>),
    Arithmetic(Arithmetic, Box<[Node; 2]>),
    /// `receiver.startsWith(argument)` and the like.
    Text(TextTest, Box<[Node; 2]>),
    /// `subject.matches(pattern)`, the pattern compiled.
    Matches(Box<Node>, Regex),
    /// `size(x)`.
    Size(Box<Node>),
    /// `int(x)`, `uint(x)`, `double(x)`.
    Convert(Conversion, Box<Node>),
}

/// A comparison operator.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Comparison {
    Equal,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
}

/// An arithmetic operator.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Arithmetic {
    Add,
    Subtract,
    Multiply,
    Divide,
    Remainder,
}

/// A string test taking a string argument.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum TextTest {
    StartsWith,
    EndsWith,
    Contains,
}

/// A conversion function.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Conversion {
    Int,
    Uint,
    Double,
}

/// A run-time value, borrowing from the tree and the variables.
#[derive(Copy, Clone, Debug)]
enum Value<'a> {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Double(f64),
    Str(&'a str),
    Null,
    List(&'a [Node]),
    /// An error or an unknown: no match, unless `&&` / `||` absorb it.
    Error,
}

/// Whether `node` evaluates to the boolean `true`.
pub(super) fn is_true<V: Variables + ?Sized>(node: &Node, vars: &V) -> bool {
    matches!(eval(node, vars), Value::Bool(true))
}

fn eval<'a, V: Variables + ?Sized>(node: &'a Node, vars: &'a V) -> Value<'a> {
    match node {
        Node::Bool(b) => Value::Bool(*b),
        Node::Int(i) => Value::Int(*i),
        Node::Uint(u) => Value::Uint(*u),
        Node::Double(d) => Value::Double(*d),
        Node::Str(s) => Value::Str(s),
        Node::Null => Value::Null,
        Node::List(items) => Value::List(items),
        Node::String(var) => vars.string(*var).map_or(Value::Error, Value::Str),
        Node::Number(var) => vars.number(*var).map_or(Value::Error, Value::Double),
        Node::Lookup(map, key) => match eval(key, vars) {
            Value::Str(key) => vars.lookup(*map, key).map_or(Value::Error, Value::Str),
            _ => Value::Error,
        },
        Node::HasKey(map, key) => match eval(key, vars) {
            Value::Str(key) => Value::Bool(vars.lookup(*map, key).is_some()),
            _ => Value::Error,
        },
        Node::InList(value, items) => in_list(eval(value, vars), items, vars),
        Node::Not(x) => match eval(x, vars) {
            Value::Bool(b) => Value::Bool(!b),
            _ => Value::Error,
        },
        Node::Negate(x) => match eval(x, vars) {
            Value::Int(i) => i.checked_neg().map_or(Value::Error, Value::Int),
            Value::Double(d) => Value::Double(-d),
            _ => Value::Error,
        },
        Node::And(operands) => logic(operands, vars, false),
        Node::Or(operands) => logic(operands, vars, true),
        Node::Conditional(parts) => match eval(&parts[0], vars) {
            Value::Bool(true) => eval(&parts[1], vars),
            Value::Bool(false) => eval(&parts[2], vars),
            _ => Value::Error,
        },
        Node::Compare(op, operands) => {
            let (a, b) = (eval(&operands[0], vars), eval(&operands[1], vars));
            compare(*op, a, b, vars)
        }
        Node::Arithmetic(op, operands) => {
            arithmetic(*op, eval(&operands[0], vars), eval(&operands[1], vars))
        }
        Node::Text(test, operands) => match (eval(&operands[0], vars), eval(&operands[1], vars)) {
            (Value::Str(s), Value::Str(t)) => Value::Bool(match test {
                TextTest::StartsWith => s.starts_with(t),
                TextTest::EndsWith => s.ends_with(t),
                TextTest::Contains => s.contains(t),
            }),
            _ => Value::Error,
        },
        Node::Matches(subject, regex) => match eval(subject, vars) {
            Value::Str(s) => Value::Bool(regex.is_match(s)),
            _ => Value::Error,
        },
        Node::Size(x) => match eval(x, vars) {
            Value::Str(s) => count(s.chars().count()),
            Value::List(items) => count(items.len()),
            _ => Value::Error,
        },
        Node::Convert(to, x) => convert(*to, eval(x, vars)),
    }
}

fn count(n: usize) -> Value<'static> {
    i64::try_from(n).map_or(Value::Error, Value::Int)
}

/// `&&` (`absorbing` false) or `||` (`absorbing` true): the absorbing value on either side
/// decides, even when the other side is an error.
fn logic<V: Variables + ?Sized>(operands: &[Node; 2], vars: &V, absorbing: bool) -> Value<'static> {
    let left = eval(&operands[0], vars);
    if matches!(left, Value::Bool(b) if b == absorbing) {
        return Value::Bool(absorbing);
    }
    match (left, eval(&operands[1], vars)) {
        (_, Value::Bool(b)) if b == absorbing => Value::Bool(absorbing),
        (Value::Bool(_), Value::Bool(_)) => Value::Bool(!absorbing),
        _ => Value::Error,
    }
}

/// `value in [items]`: a match wins even if another element is an error.
fn in_list<'a, V: Variables + ?Sized>(
    value: Value<'a>,
    items: &'a [Node],
    vars: &'a V,
) -> Value<'a> {
    if matches!(value, Value::Error) {
        return Value::Error;
    }
    let mut error = false;
    for item in items {
        match equal(value, eval(item, vars), vars) {
            Some(true) => return Value::Bool(true),
            Some(false) => {}
            None => error = true,
        }
    }
    if error {
        Value::Error
    } else {
        Value::Bool(false)
    }
}

fn compare<'a, V: Variables + ?Sized>(
    op: Comparison,
    a: Value<'a>,
    b: Value<'a>,
    vars: &'a V,
) -> Value<'a> {
    let ordering = match op {
        Comparison::Equal | Comparison::NotEqual => {
            let Some(equal) = equal(a, b, vars) else {
                return Value::Error;
            };
            return Value::Bool(equal == (op == Comparison::Equal));
        }
        _ => match order(a, b) {
            Some(ordering) => ordering,
            None => return Value::Error,
        },
    };
    // Unordered (NaN): every ordering comparison is false.
    let Some(ordering) = ordering else {
        return Value::Bool(false);
    };
    Value::Bool(match op {
        Comparison::Less => ordering.is_lt(),
        Comparison::LessEqual => ordering.is_le(),
        Comparison::Greater => ordering.is_gt(),
        _ => ordering.is_ge(),
    })
}

/// CEL's heterogeneous equality; `None` is an error.
fn equal<'a, V: Variables + ?Sized>(a: Value<'a>, b: Value<'a>, vars: &'a V) -> Option<bool> {
    if let Some(ordering) = order_numbers(a, b) {
        return Some(ordering == Some(Ordering::Equal));
    }
    Some(match (a, b) {
        (Value::Error, _) | (_, Value::Error) => return None,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Null, Value::Null) => true,
        (Value::List(x), Value::List(y)) => return equal_lists(x, y, vars),
        _ => false,
    })
}

/// Lists are equal when their elements are pairwise: one unequal pair decides `false`, even
/// if another pair is an error.
fn equal_lists<'a, V: Variables + ?Sized>(
    x: &'a [Node],
    y: &'a [Node],
    vars: &'a V,
) -> Option<bool> {
    if x.len() != y.len() {
        return Some(false);
    }
    let mut error = false;
    for (a, b) in x.iter().zip(y) {
        match equal(eval(a, vars), eval(b, vars), vars) {
            Some(true) => {}
            Some(false) => return Some(false),
            None => error = true,
        }
    }
    if error { None } else { Some(true) }
}

/// The order of two values: `None` when they cannot be ordered (an error), `Some(None)` when
/// unordered (NaN).
fn order(a: Value<'_>, b: Value<'_>) -> Option<Option<Ordering>> {
    if let Some(ordering) = order_numbers(a, b) {
        return Some(ordering);
    }
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Some(Some(x.as_bytes().cmp(y.as_bytes()))),
        (Value::Bool(x), Value::Bool(y)) => Some(Some(x.cmp(&y))),
        _ => None,
    }
}

/// The exact order of two numbers of any numeric types; `None` unless both are numbers.
fn order_numbers(a: Value<'_>, b: Value<'_>) -> Option<Option<Ordering>> {
    Some(match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(&y)),
        (Value::Uint(x), Value::Uint(y)) => Some(x.cmp(&y)),
        (Value::Double(x), Value::Double(y)) => x.partial_cmp(&y),
        (Value::Int(x), Value::Uint(y)) => Some(int_uint(x, y)),
        (Value::Uint(x), Value::Int(y)) => Some(int_uint(y, x).reverse()),
        (Value::Int(x), Value::Double(y)) => int_double(x, y),
        (Value::Double(x), Value::Int(y)) => int_double(y, x).map(Ordering::reverse),
        (Value::Uint(x), Value::Double(y)) => uint_double(x, y),
        (Value::Double(x), Value::Uint(y)) => uint_double(y, x).map(Ordering::reverse),
        _ => return None,
    })
}

fn int_uint(x: i64, y: u64) -> Ordering {
    u64::try_from(x).map_or(Ordering::Less, |x| x.cmp(&y))
}

/// 2^63 and 2^64, exactly representable as doubles.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

/// Orders an int and a double exactly (no rounding of the int).
fn int_double(x: i64, y: f64) -> Option<Ordering> {
    if y.is_nan() {
        None
    } else if y < -TWO_POW_63 {
        Some(Ordering::Greater)
    } else if y >= TWO_POW_63 {
        Some(Ordering::Less)
    } else {
        // In range: the truncation is exact, and so is the fraction left.
        let whole = y.trunc();
        Some(x.cmp(&(whole as i64)).then(fraction_order(y - whole)))
    }
}

/// Orders a uint and a double exactly.
fn uint_double(x: u64, y: f64) -> Option<Ordering> {
    if y.is_nan() {
        None
    } else if y < 0.0 {
        Some(Ordering::Greater)
    } else if y >= TWO_POW_64 {
        Some(Ordering::Less)
    } else {
        let whole = y.trunc();
        Some(x.cmp(&(whole as u64)).then(fraction_order(y - whole)))
    }
}

/// How a number whose whole part equals `y`'s compares with `y`, given `y`'s fraction.
fn fraction_order(fraction: f64) -> Ordering {
    0.0f64.partial_cmp(&fraction).unwrap_or(Ordering::Equal)
}

fn arithmetic(op: Arithmetic, a: Value<'_>, b: Value<'_>) -> Value<'static> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => integer(op, x, y),
        (Value::Uint(x), Value::Uint(y)) => unsigned(op, x, y),
        (Value::Int(x), Value::Uint(y)) => {
            i64::try_from(y).map_or(Value::Error, |y| integer(op, x, y))
        }
        (Value::Uint(x), Value::Int(y)) => {
            i64::try_from(x).map_or(Value::Error, |x| integer(op, x, y))
        }
        _ => match (as_double(a), as_double(b)) {
            (Some(x), Some(y)) => Value::Double(match op {
                Arithmetic::Add => x + y,
                Arithmetic::Subtract => x - y,
                Arithmetic::Multiply => x * y,
                Arithmetic::Divide => x / y,
                Arithmetic::Remainder => return Value::Error,
            }),
            _ => Value::Error,
        },
    }
}

fn integer(op: Arithmetic, x: i64, y: i64) -> Value<'static> {
    let result = match op {
        Arithmetic::Add => x.checked_add(y),
        Arithmetic::Subtract => x.checked_sub(y),
        Arithmetic::Multiply => x.checked_mul(y),
        Arithmetic::Divide => x.checked_div(y),
        Arithmetic::Remainder => x.checked_rem(y),
    };
    result.map_or(Value::Error, Value::Int)
}

fn unsigned(op: Arithmetic, x: u64, y: u64) -> Value<'static> {
    let result = match op {
        Arithmetic::Add => x.checked_add(y),
        Arithmetic::Subtract => x.checked_sub(y),
        Arithmetic::Multiply => x.checked_mul(y),
        Arithmetic::Divide => x.checked_div(y),
        Arithmetic::Remainder => x.checked_rem(y),
    };
    result.map_or(Value::Error, Value::Uint)
}

fn as_double(value: Value<'_>) -> Option<f64> {
    match value {
        Value::Int(i) => Some(i as f64),
        Value::Uint(u) => Some(u as f64),
        Value::Double(d) => Some(d),
        _ => None,
    }
}

/// `int(x)`, `uint(x)`, `double(x)`: doubles truncate toward zero; out of range, NaN or an
/// unparsable string is an error.
fn convert(to: Conversion, value: Value<'_>) -> Value<'static> {
    let converted = match (to, value) {
        (Conversion::Int, Value::Int(i)) => Some(Value::Int(i)),
        (Conversion::Int, Value::Uint(u)) => i64::try_from(u).ok().map(Value::Int),
        (Conversion::Int, Value::Double(d)) => {
            let whole = d.trunc();
            (-TWO_POW_63..TWO_POW_63)
                .contains(&whole)
                .then_some(Value::Int(whole as i64))
        }
        (Conversion::Int, Value::Str(s)) => s.parse().ok().map(Value::Int),
        (Conversion::Uint, Value::Int(i)) => u64::try_from(i).ok().map(Value::Uint),
        (Conversion::Uint, Value::Uint(u)) => Some(Value::Uint(u)),
        (Conversion::Uint, Value::Double(d)) => {
            let whole = d.trunc();
            (0.0..TWO_POW_64)
                .contains(&whole)
                .then_some(Value::Uint(whole as u64))
        }
        (Conversion::Uint, Value::Str(s)) => s.parse().ok().map(Value::Uint),
        (Conversion::Double, Value::Str(s)) => s.parse().ok().map(Value::Double),
        (Conversion::Double, number) => as_double(number).map(Value::Double),
        _ => None,
    };
    converted.unwrap_or(Value::Error)
}
