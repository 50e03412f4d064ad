//! Turns the syntax tree into the compiled tree: resolves names (the variables, `headers`,
//! `params`, the supported functions), compiles `matches` patterns, records what the
//! expression reads, and gives every node a static [`Type`] to refuse what can never work —
//! `budget_used > "x"`, `!model`, `model + "x"`, a whole expression that is not a boolean.
//! `dyn` (map values, ternaries whose branches differ) passes and is decided at run time.

use std::fmt;

use regex::Regex;

use super::{
    CelError, MapVar, Var,
    eval::{Arithmetic, Comparison, Conversion, Node, TextTest},
    parser::{BinaryOp, Syntax, SyntaxKind},
};

/// A node's static type.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Type {
    Bool,
    Int,
    Uint,
    Double,
    String,
    List,
    Null,
    /// Known only at run time.
    Dyn,
}

impl Type {
    fn is_number(self) -> bool {
        matches!(self, Type::Int | Type::Uint | Type::Double)
    }

    /// Whether a value of this type may be a `wanted`.
    fn may_be(self, wanted: Type) -> bool {
        self == wanted || self == Type::Dyn
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Type::Bool => "bool",
            Type::Int => "int",
            Type::Uint => "uint",
            Type::Double => "double",
            Type::String => "string",
            Type::List => "list",
            Type::Null => "null",
            Type::Dyn => "dyn",
        })
    }
}

/// The compiled tree and what it reads.
pub(super) struct Checked {
    /// The root.
    pub(super) root: Node,
    /// `Var::bit`s of the variables read.
    pub(super) vars: u32,
    /// `MapVar::bit`s of the maps read.
    pub(super) maps: u8,
}

/// Compiles a whole expression, which must be a boolean (or `dyn`).
pub(super) fn check(syntax: &Syntax) -> Result<Checked, CelError> {
    let mut checker = Checker { vars: 0, maps: 0 };
    let (root, ty) = checker.node(syntax)?;
    if !ty.may_be(Type::Bool) {
        return Err(CelError::new(
            1,
            format!("the expression must be a boolean, not {ty}"),
        ));
    }
    Ok(Checked {
        root,
        vars: checker.vars,
        maps: checker.maps,
    })
}

type Typed = Result<(Node, Type), CelError>;

/// `name` if `syntax` is the bare name of a map variable.
fn map_named(syntax: &Syntax) -> Option<MapVar> {
    match &syntax.kind {
        SyntaxKind::Ident(name) => MapVar::from_name(name),
        _ => None,
    }
}

fn error<T>(column: usize, message: impl Into<String>) -> Result<T, CelError> {
    Err(CelError::new(column, message))
}

fn pair(a: Node, b: Node) -> Box<[Node; 2]> {
    Box::new([a, b])
}

/// The message of a `regex` error, without its multi-line rendering of the pattern.
fn regex_reason(error: &regex::Error) -> String {
    let text = error.to_string();
    let last = text.lines().last().unwrap_or_default();
    last.strip_prefix("error: ").unwrap_or(last).to_owned()
}

struct Checker {
    vars: u32,
    maps: u8,
}

impl Checker {
    fn node(&mut self, syntax: &Syntax) -> Typed {
        let column = syntax.column;
        Ok(match &syntax.kind {
            SyntaxKind::Bool(b) => (Node::Bool(*b), Type::Bool),
            SyntaxKind::Null => (Node::Null, Type::Null),
            SyntaxKind::Int(i) => (Node::Int(*i), Type::Int),
            SyntaxKind::Uint(u) => (Node::Uint(*u), Type::Uint),
            SyntaxKind::Double(d) => (Node::Double(*d), Type::Double),
            SyntaxKind::Str(s) => (Node::Str(s.as_str().into()), Type::String),
            SyntaxKind::List(items) => (Node::List(self.list(items)?), Type::List),
            SyntaxKind::Ident(name) => self.ident(name, column)?,
            SyntaxKind::Not(x) => {
                let (x, ty) = self.node(x)?;
                if !ty.may_be(Type::Bool) {
                    return error(column, format!("`!` needs a bool, not {ty}"));
                }
                (Node::Not(x.into()), Type::Bool)
            }
            SyntaxKind::Negate(x) => {
                let (x, ty) = self.node(x)?;
                if !matches!(ty, Type::Int | Type::Double | Type::Dyn) {
                    return error(
                        column,
                        format!("unary `-` needs an int or a double, not {ty}"),
                    );
                }
                (Node::Negate(x.into()), ty)
            }
            SyntaxKind::Binary(op, a, b) => self.binary(*op, a, b, column)?,
            SyntaxKind::Conditional(condition, then, otherwise) => {
                let (condition, ty) = self.node(condition)?;
                if !ty.may_be(Type::Bool) {
                    return error(
                        column,
                        format!("the condition of `?:` must be a bool, not {ty}"),
                    );
                }
                let (then, a) = self.node(then)?;
                let (otherwise, b) = self.node(otherwise)?;
                let ty = if a == b { a } else { Type::Dyn };
                (
                    Node::Conditional(Box::new([condition, then, otherwise])),
                    ty,
                )
            }
            SyntaxKind::Select(operand, field) => {
                if let Some(map) = map_named(operand) {
                    return Ok(self.lookup(map, Node::Str(field.as_str().into())));
                }
                let (_, ty) = self.node(operand)?;
                return error(
                    column,
                    format!(
                        "field selection `.{field}` is only supported on `headers` and `params`, not on {ty}"
                    ),
                );
            }
            SyntaxKind::Index(operand, key) => {
                if let Some(map) = map_named(operand) {
                    let key = self.map_key(map, key)?;
                    return Ok(self.lookup(map, key));
                }
                let (_, ty) = self.node(operand)?;
                return error(
                    column,
                    format!("indexing is only supported on `headers` and `params`, not on {ty}"),
                );
            }
            SyntaxKind::Call { target, name, args } => {
                self.call(target.as_deref(), name, args, column)?
            }
        })
    }

    fn list(&mut self, items: &[Syntax]) -> Result<Box<[Node]>, CelError> {
        items
            .iter()
            .map(|item| self.node(item).map(|(node, _)| node))
            .collect()
    }

    fn ident(&mut self, name: &str, column: usize) -> Typed {
        if let Some(var) = Var::from_name(name) {
            self.vars |= var.bit();
            return Ok(if var.is_number() {
                (Node::Number(var), Type::Double)
            } else {
                (Node::String(var), Type::String)
            });
        }
        if MapVar::from_name(name).is_some() {
            return error(
                column,
                format!(
                    "`{name}` can only be indexed (`{name}[\"key\"]`, `{name}.key`) or tested with `in`"
                ),
            );
        }
        error(column, format!("undeclared reference to `{name}`"))
    }

    fn lookup(&mut self, map: MapVar, key: Node) -> (Node, Type) {
        self.maps |= map.bit();
        (Node::Lookup(map, key.into()), Type::Dyn)
    }

    /// A key of `map`: a string expression.
    fn map_key(&mut self, map: MapVar, key: &Syntax) -> Result<Node, CelError> {
        let (node, ty) = self.node(key)?;
        if !ty.may_be(Type::String) {
            return error(
                key.column,
                format!("a key of `{}` must be a string, not {ty}", map.name()),
            );
        }
        Ok(node)
    }

    fn binary(&mut self, op: BinaryOp, a: &Syntax, b: &Syntax, column: usize) -> Typed {
        if op == BinaryOp::In {
            return self.membership(a, b, column);
        }
        let (left, x) = self.node(a)?;
        let (right, y) = self.node(b)?;
        let operands = pair(left, right);
        let text = op.text();
        let comparison = match op {
            BinaryOp::And | BinaryOp::Or => {
                if !x.may_be(Type::Bool) || !y.may_be(Type::Bool) {
                    let ty = if x.may_be(Type::Bool) { y } else { x };
                    return error(column, format!("`{text}` needs bools, not {ty}"));
                }
                let node = if op == BinaryOp::And {
                    Node::And(operands)
                } else {
                    Node::Or(operands)
                };
                return Ok((node, Type::Bool));
            }
            BinaryOp::Equal => Comparison::Equal,
            BinaryOp::NotEqual => Comparison::NotEqual,
            BinaryOp::Less => Comparison::Less,
            BinaryOp::LessEqual => Comparison::LessEqual,
            BinaryOp::Greater => Comparison::Greater,
            BinaryOp::GreaterEqual => Comparison::GreaterEqual,
            _ => {
                let ty = arithmetic_type(op, x, y, column)?;
                let arithmetic = match op {
                    BinaryOp::Add => Arithmetic::Add,
                    BinaryOp::Subtract => Arithmetic::Subtract,
                    BinaryOp::Multiply => Arithmetic::Multiply,
                    BinaryOp::Divide => Arithmetic::Divide,
                    _ => Arithmetic::Remainder,
                };
                return Ok((Node::Arithmetic(arithmetic, operands), ty));
            }
        };
        if !matches!(comparison, Comparison::Equal | Comparison::NotEqual) {
            check_orderable(text, x, y, column)?;
        }
        Ok((Node::Compare(comparison, operands), Type::Bool))
    }

    /// `key in headers`, `key in params`, `value in [list literal]`.
    fn membership(&mut self, value: &Syntax, container: &Syntax, column: usize) -> Typed {
        if let Some(map) = map_named(container) {
            let key = self.map_key(map, value)?;
            self.maps |= map.bit();
            return Ok((Node::HasKey(map, key.into()), Type::Bool));
        }
        let SyntaxKind::List(items) = &container.kind else {
            return error(
                column,
                "`in` is only supported on a list literal (`x in [\"a\", \"b\"]`) or on `headers`/`params`",
            );
        };
        let (value, _) = self.node(value)?;
        let items = self.list(items)?;
        Ok((Node::InList(value.into(), items), Type::Bool))
    }

    fn call(
        &mut self,
        target: Option<&Syntax>,
        name: &str,
        args: &[Syntax],
        column: usize,
    ) -> Typed {
        let arity = |wanted: usize| {
            if args.len() == wanted {
                return Ok(());
            }
            let plural = if wanted == 1 { "" } else { "s" };
            error(
                column,
                format!(
                    "`{name}` takes {wanted} argument{plural}, not {}",
                    args.len()
                ),
            )
        };
        match (name, target) {
            ("startsWith" | "endsWith" | "contains", Some(receiver)) => {
                arity(1)?;
                let test = match name {
                    "startsWith" => TextTest::StartsWith,
                    "endsWith" => TextTest::EndsWith,
                    _ => TextTest::Contains,
                };
                let receiver = self.string_operand(name, "be called on", receiver)?;
                let argument = self.string_operand(name, "take", &args[0])?;
                Ok((Node::Text(test, pair(receiver, argument)), Type::Bool))
            }
            ("startsWith" | "endsWith" | "contains", None) => error(
                column,
                format!("`{name}` is only supported as a method: `s.{name}(t)`"),
            ),
            ("matches", Some(subject)) => {
                arity(1)?;
                self.matches(subject, &args[0])
            }
            ("matches", None) => {
                arity(2)?;
                self.matches(&args[0], &args[1])
            }
            ("size", Some(x)) => {
                arity(0)?;
                self.size(x)
            }
            ("size", None) => {
                arity(1)?;
                self.size(&args[0])
            }
            ("int" | "uint" | "double", None) => {
                arity(1)?;
                let (to, result) = match name {
                    "int" => (Conversion::Int, Type::Int),
                    "uint" => (Conversion::Uint, Type::Uint),
                    _ => (Conversion::Double, Type::Double),
                };
                let (x, ty) = self.node(&args[0])?;
                if !(ty.is_number() || ty.may_be(Type::String)) {
                    return error(column, format!("`{name}` cannot convert {ty}"));
                }
                Ok((Node::Convert(to, x.into()), result))
            }
            ("int" | "uint" | "double", Some(_)) => error(
                column,
                format!("`{name}` is only supported as a function: `{name}(x)`"),
            ),
            ("has", None) => {
                arity(1)?;
                self.has(&args[0])
            }
            ("all" | "exists" | "exists_one" | "map" | "filter", Some(_)) => {
                error(column, format!("macro `{name}` is not supported"))
            }
            ("string", _) => error(
                column,
                "function `string` is not supported (a conversion to string would allocate)",
            ),
            _ => error(column, format!("function `{name}` is not supported")),
        }
    }

    /// A string operand of function `name` (`role`: "be called on", "take").
    fn string_operand(
        &mut self,
        name: &str,
        role: &str,
        syntax: &Syntax,
    ) -> Result<Node, CelError> {
        let (node, ty) = self.node(syntax)?;
        if !ty.may_be(Type::String) {
            return error(
                syntax.column,
                format!("`{name}` must {role} a string, not {ty}"),
            );
        }
        Ok(node)
    }

    fn matches(&mut self, subject: &Syntax, pattern: &Syntax) -> Typed {
        let subject = self.string_operand("matches", "be called on", subject)?;
        let SyntaxKind::Str(source) = &pattern.kind else {
            return error(
                pattern.column,
                "the pattern of `matches` must be a string literal",
            );
        };
        let regex = Regex::new(source).map_err(|e| {
            CelError::new(
                pattern.column,
                format!(
                    "invalid regular expression {source:?}: {}",
                    regex_reason(&e)
                ),
            )
        })?;
        Ok((Node::Matches(subject.into(), regex), Type::Bool))
    }

    fn size(&mut self, x: &Syntax) -> Typed {
        let (node, ty) = self.node(x)?;
        if !matches!(ty, Type::String | Type::List | Type::Dyn) {
            return error(
                x.column,
                format!("`size` needs a string or a list, not {ty}"),
            );
        }
        Ok((Node::Size(node.into()), Type::Int))
    }

    /// `has(headers.key)`, `has(params.key)`.
    fn has(&mut self, argument: &Syntax) -> Typed {
        if let SyntaxKind::Select(operand, field) = &argument.kind {
            if let Some(map) = map_named(operand) {
                self.maps |= map.bit();
                let key = Node::Str(field.as_str().into());
                return Ok((Node::HasKey(map, key.into()), Type::Bool));
            }
        }
        error(
            argument.column,
            "`has` is only supported on a field of `headers` or `params`: `has(headers.key)`",
        )
    }
}

/// Refuses an ordering between types that can never be ordered.
fn check_orderable(op: &str, x: Type, y: Type, column: usize) -> Result<(), CelError> {
    let orderable =
        |ty: Type| ty.is_number() || matches!(ty, Type::String | Type::Bool | Type::Dyn);
    for ty in [x, y] {
        if !orderable(ty) {
            return error(column, format!("`{op}` is not supported on {ty}"));
        }
    }
    let comparable = x == Type::Dyn || y == Type::Dyn || x == y || (x.is_number() && y.is_number());
    if !comparable {
        return error(column, format!("`{op}` cannot compare {x} and {y}"));
    }
    Ok(())
}

/// The type of an arithmetic result, refusing what can never work.
fn arithmetic_type(op: BinaryOp, x: Type, y: Type, column: usize) -> Result<Type, CelError> {
    let text = op.text();
    for ty in [x, y] {
        match ty {
            Type::String if op == BinaryOp::Add => {
                return error(column, "string concatenation is not supported");
            }
            Type::List if op == BinaryOp::Add => {
                return error(column, "list concatenation is not supported");
            }
            Type::Double if op == BinaryOp::Remainder => {
                return error(column, "`%` is not supported on doubles");
            }
            _ if !(ty.is_number() || ty == Type::Dyn) => {
                return error(column, format!("`{text}` needs numbers, not {ty}"));
            }
            _ => {}
        }
    }
    Ok(match (x, y) {
        (Type::Dyn, _) | (_, Type::Dyn) => Type::Dyn,
        (Type::Double, _) | (_, Type::Double) => Type::Double,
        (Type::Uint, Type::Uint) => Type::Uint,
        _ => Type::Int,
    })
}
