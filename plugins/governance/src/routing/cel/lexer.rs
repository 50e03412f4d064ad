//! Splits CEL source into tokens, each with its 1-based column in chars: identifiers, number
//! and string literals (escapes decoded here), and punctuation. `//` comments and whitespace
//! are skipped.

use super::CelError;

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum TokenKind {
    /// An identifier or keyword (`true`, `in`, …).
    Ident(String),
    /// An int literal's magnitude (the parser folds a leading `-` into it).
    Int(u64),
    /// A uint literal (`12u`).
    Uint(u64),
    /// A double literal.
    Double(f64),
    /// A string literal, escapes decoded.
    Str(String),
    /// An operator or punctuation.
    Punct(Punct),
    /// The end of the source.
    End,
}

/// Operators and punctuation.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Punct {
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Dot,
    Comma,
    Question,
    Colon,
    OrOr,
    AndAnd,
    Not,
    EqEq,
    NotEq,
    Less,
    LessEq,
    Greater,
    GreaterEq,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
}

impl Punct {
    /// How it is written.
    pub(super) const fn text(self) -> &'static str {
        match self {
            Punct::LParen => "(",
            Punct::RParen => ")",
            Punct::LBracket => "[",
            Punct::RBracket => "]",
            Punct::LBrace => "{",
            Punct::RBrace => "}",
            Punct::Dot => ".",
            Punct::Comma => ",",
            Punct::Question => "?",
            Punct::Colon => ":",
            Punct::OrOr => "||",
            Punct::AndAnd => "&&",
            Punct::Not => "!",
            Punct::EqEq => "==",
            Punct::NotEq => "!=",
            Punct::Less => "<",
            Punct::LessEq => "<=",
            Punct::Greater => ">",
            Punct::GreaterEq => ">=",
            Punct::Plus => "+",
            Punct::Minus => "-",
            Punct::Star => "*",
            Punct::Slash => "/",
            Punct::Percent => "%",
        }
    }
}

/// A token and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Token {
    /// What it is.
    pub(super) kind: TokenKind,
    /// Its 1-based column, in chars.
    pub(super) column: usize,
}

/// The tokens of `source`, ending with [`TokenKind::End`].
pub(super) fn tokenize(source: &str) -> Result<Vec<Token>, CelError> {
    let mut lexer = Lexer {
        chars: source.chars().collect(),
        at: 0,
    };
    let mut tokens = Vec::new();
    loop {
        lexer.skip_blanks();
        let column = lexer.at + 1;
        let Some(c) = lexer.peek(0) else {
            tokens.push(Token {
                kind: TokenKind::End,
                column,
            });
            return Ok(tokens);
        };
        let kind = if c.is_ascii_digit() || (c == '.' && lexer.peek_is_digit(1)) {
            lexer.number()?
        } else if let Some(prefix) = lexer.string_prefix() {
            lexer.string(prefix)?
        } else if c == '_' || c.is_ascii_alphabetic() {
            TokenKind::Ident(lexer.identifier())
        } else {
            TokenKind::Punct(lexer.punct()?)
        };
        tokens.push(Token { kind, column });
    }
}

/// What comes before a string's opening quote.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct StringPrefix {
    /// How many chars it takes (0 to 2).
    len: usize,
    /// `r`/`R`: escapes are not decoded.
    raw: bool,
    /// `b`/`B`: a bytes literal (refused).
    bytes: bool,
}

struct Lexer {
    chars: Vec<char>,
    at: usize,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    fn peek_is_digit(&self, ahead: usize) -> bool {
        self.peek(ahead).is_some_and(|c| c.is_ascii_digit())
    }

    fn error(&self, at: usize, message: impl Into<String>) -> CelError {
        CelError::new(at + 1, message)
    }

    fn skip_blanks(&mut self) {
        loop {
            match self.peek(0) {
                Some(' ' | '\t' | '\n' | '\r' | '\x0c') => self.at += 1,
                Some('/') if self.peek(1) == Some('/') => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.at += 1;
                    }
                }
                _ => return,
            }
        }
    }

    fn identifier(&mut self) -> String {
        let start = self.at;
        while self
            .peek(0)
            .is_some_and(|c| c == '_' || c.is_ascii_alphanumeric())
        {
            self.at += 1;
        }
        self.chars[start..self.at].iter().collect()
    }

    fn punct(&mut self) -> Result<Punct, CelError> {
        let start = self.at;
        let c = self.peek(0).unwrap_or_default();
        let next = self.peek(1);
        let (punct, len) = match (c, next) {
            ('|', Some('|')) => (Punct::OrOr, 2),
            ('&', Some('&')) => (Punct::AndAnd, 2),
            ('=', Some('=')) => (Punct::EqEq, 2),
            ('!', Some('=')) => (Punct::NotEq, 2),
            ('<', Some('=')) => (Punct::LessEq, 2),
            ('>', Some('=')) => (Punct::GreaterEq, 2),
            ('(', _) => (Punct::LParen, 1),
            (')', _) => (Punct::RParen, 1),
            ('[', _) => (Punct::LBracket, 1),
            (']', _) => (Punct::RBracket, 1),
            ('{', _) => (Punct::LBrace, 1),
            ('}', _) => (Punct::RBrace, 1),
            ('.', _) => (Punct::Dot, 1),
            (',', _) => (Punct::Comma, 1),
            ('?', _) => (Punct::Question, 1),
            (':', _) => (Punct::Colon, 1),
            ('!', _) => (Punct::Not, 1),
            ('<', _) => (Punct::Less, 1),
            ('>', _) => (Punct::Greater, 1),
            ('+', _) => (Punct::Plus, 1),
            ('-', _) => (Punct::Minus, 1),
            ('*', _) => (Punct::Star, 1),
            ('/', _) => (Punct::Slash, 1),
            ('%', _) => (Punct::Percent, 1),
            ('=', _) => return Err(self.error(start, "`=` is not an operator; use `==`")),
            ('&', _) => return Err(self.error(start, "`&` is not an operator; use `&&`")),
            ('|', _) => return Err(self.error(start, "`|` is not an operator; use `||`")),
            _ => return Err(self.error(start, format!("unexpected character `{c}`"))),
        };
        self.at += len;
        Ok(punct)
    }

    /// An int (`42`, `0x2A`), uint (`42u`) or double (`1.5`, `.5`, `1e3`) literal.
    fn number(&mut self) -> Result<TokenKind, CelError> {
        let start = self.at;
        let out_of_range = |lexer: &Lexer| lexer.error(start, "integer literal out of range");
        if self.peek(0) == Some('0') && matches!(self.peek(1), Some('x' | 'X')) {
            self.at += 2;
            let digits = self.at;
            while self.peek(0).is_some_and(|c| c.is_ascii_hexdigit()) {
                self.at += 1;
            }
            if self.at == digits {
                return Err(self.error(start, "a hex literal needs digits after `0x`"));
            }
            let text: String = self.chars[digits..self.at].iter().collect();
            let value = u64::from_str_radix(&text, 16).map_err(|_| out_of_range(self))?;
            return Ok(self.integer_suffix(value));
        }
        let mut double = false;
        self.skip_digits();
        if self.peek(0) == Some('.') && self.peek_is_digit(1) {
            double = true;
            self.at += 1;
            self.skip_digits();
        }
        if matches!(self.peek(0), Some('e' | 'E')) {
            let sign = usize::from(matches!(self.peek(1), Some('+' | '-')));
            if self.peek_is_digit(1 + sign) {
                double = true;
                self.at += 1 + sign;
                self.skip_digits();
            }
        }
        let text: String = self.chars[start..self.at].iter().collect();
        if double {
            return match text.parse::<f64>() {
                Ok(value) if value.is_finite() => Ok(TokenKind::Double(value)),
                _ => Err(self.error(start, "double literal out of range")),
            };
        }
        let value = text.parse::<u64>().map_err(|_| out_of_range(self))?;
        Ok(self.integer_suffix(value))
    }

    fn skip_digits(&mut self) {
        while self.peek_is_digit(0) {
            self.at += 1;
        }
    }

    fn integer_suffix(&mut self, value: u64) -> TokenKind {
        if matches!(self.peek(0), Some('u' | 'U')) {
            self.at += 1;
            TokenKind::Uint(value)
        } else {
            TokenKind::Int(value)
        }
    }

    /// The prefix of a string literal starting here (possibly empty), if one starts here.
    fn string_prefix(&self) -> Option<StringPrefix> {
        let mut prefix = StringPrefix {
            len: 0,
            raw: false,
            bytes: false,
        };
        while let Some(c) = self.peek(prefix.len) {
            match c {
                '"' | '\'' => return Some(prefix),
                'r' | 'R' if !prefix.raw && prefix.len < 2 => prefix.raw = true,
                'b' | 'B' if !prefix.bytes && prefix.len < 2 => prefix.bytes = true,
                _ => return None,
            }
            prefix.len += 1;
        }
        None
    }

    fn string(&mut self, prefix: StringPrefix) -> Result<TokenKind, CelError> {
        let start = self.at;
        if prefix.bytes {
            return Err(self.error(start, "bytes literals are not supported"));
        }
        self.at += prefix.len;
        let quote = self.peek(0).unwrap_or('"');
        let triple = self.peek(1) == Some(quote) && self.peek(2) == Some(quote);
        self.at += if triple { 3 } else { 1 };
        let unterminated = |lexer: &Lexer| lexer.error(start, "unterminated string literal");
        let mut text = String::new();
        loop {
            let Some(c) = self.peek(0) else {
                return Err(unterminated(self));
            };
            if c == quote
                && (!triple || (self.peek(1) == Some(quote) && self.peek(2) == Some(quote)))
            {
                self.at += if triple { 3 } else { 1 };
                return Ok(TokenKind::Str(text));
            }
            if !triple && (c == '\n' || c == '\r') {
                return Err(unterminated(self));
            }
            if c == '\\' && !prefix.raw {
                text.push(self.escape()?);
            } else {
                text.push(c);
                self.at += 1;
            }
        }
    }

    /// Decodes the escape sequence at `\`.
    fn escape(&mut self) -> Result<char, CelError> {
        let start = self.at;
        let Some(c) = self.peek(1) else {
            return Err(self.error(start, "unterminated string literal"));
        };
        self.at += 2;
        let simple = match c {
            '\\' | '"' | '\'' | '`' | '?' => Some(c),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'a' => Some('\x07'),
            'b' => Some('\x08'),
            'f' => Some('\x0c'),
            'v' => Some('\x0b'),
            _ => None,
        };
        if let Some(decoded) = simple {
            return Ok(decoded);
        }
        let (digits, radix) = match c {
            'x' | 'X' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            '0'..='3' => {
                self.at -= 1;
                (3, 8)
            }
            _ => return Err(self.error(start, format!("invalid escape sequence `\\{c}`"))),
        };
        let mut code = 0u32;
        for _ in 0..digits {
            let digit = self.peek(0).and_then(|d| d.to_digit(radix));
            let Some(digit) = digit else {
                return Err(self.error(start, "incomplete escape sequence"));
            };
            code = code * radix + digit;
            self.at += 1;
        }
        char::from_u32(code).ok_or_else(|| {
            self.error(
                start,
                format!("escape sequence names no unicode character (U+{code:X})"),
            )
        })
    }
}
