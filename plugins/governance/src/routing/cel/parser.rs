//! Parses tokens into a syntax tree by recursive descent, with CEL's precedence (lowest
//! first): `?:` (right-associative), `||`, `&&`, relations (`== != < <= > >= in`), `+ -`,
//! `* / %`, unary `! -`, then member access, calls and indexing. Names are not resolved here
//! (see `check`). Trees deeper than [`MAX_DEPTH`] are refused as they are built, so neither
//! this parser nor anything walking its tree recurses further.

use super::{
    CelError, MAX_DEPTH,
    lexer::{Punct, Token, TokenKind},
};

/// A node of the syntax tree.
#[derive(Debug)]
pub(super) struct Syntax {
    /// What it is.
    pub(super) kind: SyntaxKind,
    /// The column of its operator, name or first token.
    pub(super) column: usize,
    /// Its depth: 1 for a leaf.
    depth: usize,
}

/// A binary operator.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum BinaryOp {
    Or,
    And,
    Equal,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
    In,
    Add,
    Subtract,
    Multiply,
    Divide,
    Remainder,
}

impl BinaryOp {
    /// How it is written.
    pub(super) const fn text(self) -> &'static str {
        match self {
            BinaryOp::Or => "||",
            BinaryOp::And => "&&",
            BinaryOp::Equal => "==",
            BinaryOp::NotEqual => "!=",
            BinaryOp::Less => "<",
            BinaryOp::LessEqual => "<=",
            BinaryOp::Greater => ">",
            BinaryOp::GreaterEqual => ">=",
            BinaryOp::In => "in",
            BinaryOp::Add => "+",
            BinaryOp::Subtract => "-",
            BinaryOp::Multiply => "*",
            BinaryOp::Divide => "/",
            BinaryOp::Remainder => "%",
        }
    }
}

/// What a syntax node is.
#[derive(Debug)]
pub(super) enum SyntaxKind {
    Bool(bool),
    Null,
    Int(i64),
    Uint(u64),
    Double(f64),
    Str(String),
    List(Vec<Syntax>),
    /// A name, not yet resolved.
    Ident(String),
    /// `!x`.
    Not(Box<Syntax>),
    /// `-x`.
    Negate(Box<Syntax>),
    Binary(BinaryOp, Box<Syntax>, Box<Syntax>),
    /// `condition ? then : otherwise`.
    Conditional(Box<Syntax>, Box<Syntax>, Box<Syntax>),
    /// `operand.field`.
    Select(Box<Syntax>, String),
    /// `operand[index]`.
    Index(Box<Syntax>, Box<Syntax>),
    /// `name(args)` or `target.name(args)`.
    Call {
        target: Option<Box<Syntax>>,
        name: String,
        args: Vec<Syntax>,
    },
}

/// CEL's reserved words, refused as names.
const RESERVED: [&str; 17] = [
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// Parses a whole expression.
pub(super) fn parse(tokens: &[Token]) -> Result<Syntax, CelError> {
    let mut parser = Parser {
        tokens,
        at: 0,
        nesting: 0,
    };
    let syntax = parser.expression()?;
    let token = parser.peek();
    match token.kind {
        TokenKind::End => Ok(syntax),
        _ => Err(parser.unexpected(token)),
    }
}

struct Parser<'t> {
    tokens: &'t [Token],
    at: usize,
    /// How many `expression`/`unary` calls are open.
    nesting: usize,
}

fn node(kind: SyntaxKind, column: usize) -> Result<Syntax, CelError> {
    let children = match &kind {
        SyntaxKind::List(items) => items.iter().map(|item| item.depth).max().unwrap_or(0),
        SyntaxKind::Not(x) | SyntaxKind::Negate(x) | SyntaxKind::Select(x, _) => x.depth,
        SyntaxKind::Binary(_, a, b) | SyntaxKind::Index(a, b) => a.depth.max(b.depth),
        SyntaxKind::Conditional(a, b, c) => a.depth.max(b.depth).max(c.depth),
        SyntaxKind::Call { target, args, .. } => args
            .iter()
            .chain(target.as_deref())
            .map(|arg| arg.depth)
            .max()
            .unwrap_or(0),
        _ => 0,
    };
    let depth = children + 1;
    if depth > MAX_DEPTH {
        return Err(too_deep(column));
    }
    Ok(Syntax {
        kind,
        column,
        depth,
    })
}

fn too_deep(column: usize) -> CelError {
    CelError::new(
        column,
        format!("the expression is nested more than {MAX_DEPTH} levels deep"),
    )
}

fn describe(token: &Token) -> String {
    match &token.kind {
        TokenKind::Ident(name) => format!("`{name}`"),
        TokenKind::Int(_) | TokenKind::Uint(_) | TokenKind::Double(_) => "number literal".into(),
        TokenKind::Str(_) => "string literal".into(),
        TokenKind::Punct(punct) => format!("`{}`", punct.text()),
        TokenKind::End => "end of the expression".into(),
    }
}

impl<'t> Parser<'t> {
    fn peek(&self) -> &'t Token {
        // `tokenize` always ends the list with `End`, and nothing advances past it.
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn peek_at(&self, ahead: usize) -> &'t Token {
        &self.tokens[(self.at + ahead).min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> &'t Token {
        let token = self.peek();
        if token.kind != TokenKind::End {
            self.at += 1;
        }
        token
    }

    fn eat(&mut self, punct: Punct) -> bool {
        if self.peek().kind == TokenKind::Punct(punct) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, punct: Punct) -> Result<(), CelError> {
        if self.eat(punct) {
            return Ok(());
        }
        let token = self.peek();
        Err(CelError::new(
            token.column,
            format!("expected `{}`, found {}", punct.text(), describe(token)),
        ))
    }

    fn unexpected(&self, token: &Token) -> CelError {
        CelError::new(token.column, format!("unexpected {}", describe(token)))
    }

    /// Counts one more level of recursion.
    fn enter(&mut self, column: usize) -> Result<(), CelError> {
        self.nesting += 1;
        if self.nesting > MAX_DEPTH {
            return Err(too_deep(column));
        }
        Ok(())
    }

    /// `or ('?' or ':' expression)?`
    fn expression(&mut self) -> Result<Syntax, CelError> {
        self.enter(self.peek().column)?;
        let condition = self.or()?;
        let column = self.peek().column;
        let result = if self.eat(Punct::Question) {
            let then = self.or()?;
            self.expect(Punct::Colon)?;
            let otherwise = self.expression()?;
            node(
                SyntaxKind::Conditional(condition.into(), then.into(), otherwise.into()),
                column,
            )?
        } else {
            condition
        };
        self.nesting -= 1;
        Ok(result)
    }

    fn or(&mut self) -> Result<Syntax, CelError> {
        self.binary_level(&[(Punct::OrOr, BinaryOp::Or)], Self::and)
    }

    fn and(&mut self) -> Result<Syntax, CelError> {
        self.binary_level(&[(Punct::AndAnd, BinaryOp::And)], Self::relation)
    }

    fn relation(&mut self) -> Result<Syntax, CelError> {
        let mut left = self.additive()?;
        loop {
            let token = self.peek();
            let op = match &token.kind {
                TokenKind::Punct(Punct::EqEq) => BinaryOp::Equal,
                TokenKind::Punct(Punct::NotEq) => BinaryOp::NotEqual,
                TokenKind::Punct(Punct::Less) => BinaryOp::Less,
                TokenKind::Punct(Punct::LessEq) => BinaryOp::LessEqual,
                TokenKind::Punct(Punct::Greater) => BinaryOp::Greater,
                TokenKind::Punct(Punct::GreaterEq) => BinaryOp::GreaterEqual,
                TokenKind::Ident(name) if name == "in" => BinaryOp::In,
                _ => return Ok(left),
            };
            self.at += 1;
            let right = self.additive()?;
            left = node(
                SyntaxKind::Binary(op, left.into(), right.into()),
                token.column,
            )?;
        }
    }

    fn additive(&mut self) -> Result<Syntax, CelError> {
        self.binary_level(
            &[
                (Punct::Plus, BinaryOp::Add),
                (Punct::Minus, BinaryOp::Subtract),
            ],
            Self::multiplicative,
        )
    }

    fn multiplicative(&mut self) -> Result<Syntax, CelError> {
        self.binary_level(
            &[
                (Punct::Star, BinaryOp::Multiply),
                (Punct::Slash, BinaryOp::Divide),
                (Punct::Percent, BinaryOp::Remainder),
            ],
            Self::unary,
        )
    }

    /// A left-associative level: `operand (op operand)*`.
    fn binary_level(
        &mut self,
        ops: &[(Punct, BinaryOp)],
        operand: fn(&mut Self) -> Result<Syntax, CelError>,
    ) -> Result<Syntax, CelError> {
        let mut left = operand(self)?;
        loop {
            let token = self.peek();
            let found = ops
                .iter()
                .find(|(punct, _)| token.kind == TokenKind::Punct(*punct));
            let Some(&(_, op)) = found else {
                return Ok(left);
            };
            self.at += 1;
            let right = operand(self)?;
            left = node(
                SyntaxKind::Binary(op, left.into(), right.into()),
                token.column,
            )?;
        }
    }

    /// `'!' unary | '-' unary | member`; `-` before an int literal is part of the literal.
    fn unary(&mut self) -> Result<Syntax, CelError> {
        let token = self.peek();
        let negation = match token.kind {
            TokenKind::Punct(Punct::Not) => true,
            TokenKind::Punct(Punct::Minus) => false,
            _ => return self.member(),
        };
        self.at += 1;
        if !negation {
            if let Some(literal) = self.negative_int(token.column)? {
                return Ok(literal);
            }
        }
        self.enter(token.column)?;
        let operand = self.unary()?;
        self.nesting -= 1;
        let kind = if negation {
            SyntaxKind::Not(operand.into())
        } else {
            SyntaxKind::Negate(operand.into())
        };
        node(kind, token.column)
    }

    /// After a `-`: the negative int literal that follows, if one does (not followed by a
    /// member access, which binds tighter than `-`).
    fn negative_int(&mut self, column: usize) -> Result<Option<Syntax>, CelError> {
        let TokenKind::Int(magnitude) = self.peek().kind else {
            return Ok(None);
        };
        if matches!(
            self.peek_at(1).kind,
            TokenKind::Punct(Punct::Dot | Punct::LBracket)
        ) {
            return Ok(None);
        }
        self.at += 1;
        let value = 0i64
            .checked_sub_unsigned(magnitude)
            .ok_or_else(|| CelError::new(column, "integer literal out of range"))?;
        node(SyntaxKind::Int(value), column).map(Some)
    }

    fn member(&mut self) -> Result<Syntax, CelError> {
        let primary = self.primary()?;
        self.member_suffixes(primary)
    }

    /// `.field`, `.name(args)` and `[index]` after `operand`.
    fn member_suffixes(&mut self, mut operand: Syntax) -> Result<Syntax, CelError> {
        loop {
            let token = self.peek();
            if self.eat(Punct::Dot) {
                let name_token = self.next();
                let TokenKind::Ident(name) = &name_token.kind else {
                    return Err(CelError::new(
                        name_token.column,
                        format!("expected a name after `.`, found {}", describe(name_token)),
                    ));
                };
                let column = name_token.column;
                operand = if self.eat(Punct::LParen) {
                    let args = self.arguments(Punct::RParen)?;
                    node(
                        SyntaxKind::Call {
                            target: Some(operand.into()),
                            name: name.clone(),
                            args,
                        },
                        column,
                    )?
                } else {
                    node(SyntaxKind::Select(operand.into(), name.clone()), column)?
                };
            } else if self.eat(Punct::LBracket) {
                self.enter(token.column)?;
                let index = self.expression()?;
                self.nesting -= 1;
                self.expect(Punct::RBracket)?;
                operand = node(
                    SyntaxKind::Index(operand.into(), index.into()),
                    token.column,
                )?;
            } else {
                return Ok(operand);
            }
        }
    }

    /// Comma-separated expressions up to `close` (already past the opening token); a trailing
    /// comma is allowed.
    fn arguments(&mut self, close: Punct) -> Result<Vec<Syntax>, CelError> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Ok(items);
            }
            items.push(self.expression()?);
            if !self.eat(Punct::Comma) {
                self.expect(close)?;
                return Ok(items);
            }
        }
    }

    fn primary(&mut self) -> Result<Syntax, CelError> {
        let token = self.next();
        let column = token.column;
        let kind = match &token.kind {
            TokenKind::Int(magnitude) => match i64::try_from(*magnitude) {
                Ok(value) => SyntaxKind::Int(value),
                Err(_) => return Err(CelError::new(column, "integer literal out of range")),
            },
            TokenKind::Uint(value) => SyntaxKind::Uint(*value),
            TokenKind::Double(value) => SyntaxKind::Double(*value),
            TokenKind::Str(text) => SyntaxKind::Str(text.clone()),
            TokenKind::Ident(name) => return self.name(name, column),
            TokenKind::Punct(Punct::LParen) => {
                let inner = self.expression()?;
                self.expect(Punct::RParen)?;
                return Ok(inner);
            }
            TokenKind::Punct(Punct::LBracket) => {
                self.enter(column)?;
                let items = self.arguments(Punct::RBracket)?;
                self.nesting -= 1;
                SyntaxKind::List(items)
            }
            TokenKind::Punct(Punct::LBrace) => {
                return Err(CelError::new(column, "map literals are not supported"));
            }
            TokenKind::Punct(Punct::Dot) => {
                return Err(CelError::new(
                    column,
                    "leading-dot (root-scoped) names are not supported",
                ));
            }
            _ => return Err(self.unexpected(token)),
        };
        node(kind, column)
    }

    /// A name: a keyword literal, a function call or an identifier.
    fn name(&mut self, name: &str, column: usize) -> Result<Syntax, CelError> {
        let kind = match name {
            "true" => SyntaxKind::Bool(true),
            "false" => SyntaxKind::Bool(false),
            "null" => SyntaxKind::Null,
            "in" => return Err(CelError::new(column, "unexpected `in`")),
            _ if RESERVED.contains(&name) => {
                return Err(CelError::new(
                    column,
                    format!("`{name}` is a reserved word"),
                ));
            }
            _ if self.eat(Punct::LParen) => SyntaxKind::Call {
                target: None,
                name: name.into(),
                args: self.arguments(Punct::RParen)?,
            },
            _ if self.peek().kind == TokenKind::Punct(Punct::LBrace) => {
                return Err(CelError::new(
                    column,
                    "message construction is not supported",
                ));
            }
            _ => SyntaxKind::Ident(name.into()),
        };
        node(kind, column)
    }
}
