//! The CEL subset: Bifrost's documented expressions, the semantics (errors, heterogeneous
//! equality, numbers across types, precedence, literals) and the compile errors.

#![allow(clippy::unwrap_used)]

use super::{CelError, Expression, MapVar, Var, Variables};

/// A request's variables; maps compared ASCII-case-insensitively, like keyward's.
#[derive(Clone, Default)]
struct Request {
    strings: Vec<(Var, String)>,
    numbers: Vec<(Var, f64)>,
    headers: Vec<(String, String)>,
    params: Vec<(String, String)>,
}

impl Request {
    /// Sets `var` (replacing its value).
    fn with(mut self, var: Var, value: &str) -> Self {
        self.strings.retain(|(v, _)| *v != var);
        self.strings.push((var, value.to_owned()));
        self
    }

    /// Sets `var` (replacing its value).
    fn number(mut self, var: Var, value: f64) -> Self {
        self.numbers.retain(|(v, _)| *v != var);
        self.numbers.push((var, value));
        self
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn param(mut self, name: &str, value: &str) -> Self {
        self.params.push((name.to_owned(), value.to_owned()));
        self
    }
}

impl Variables for Request {
    fn string(&self, var: Var) -> Option<&str> {
        let found = self.strings.iter().find(|(v, _)| *v == var);
        found.map(|(_, value)| value.as_str())
    }

    fn number(&self, var: Var) -> Option<f64> {
        let found = self.numbers.iter().find(|(v, _)| *v == var);
        found.map(|(_, value)| *value)
    }

    fn lookup(&self, map: MapVar, key: &str) -> Option<&str> {
        let entries = match map {
            MapVar::Headers => &self.headers,
            MapVar::Params => &self.params,
        };
        let found = entries
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key));
        found.map(|(_, value)| value.as_str())
    }
}

/// A request with every string variable set (complexity_tier unknown, as in keyward) and
/// every counter at 0%.
fn request() -> Request {
    Request::default()
        .with(Var::Model, "gpt-4o-mini")
        .with(Var::Provider, "openai")
        .with(Var::RequestType, "chat_completion")
        .with(Var::VirtualKeyId, "vk-1")
        .with(Var::VirtualKeyName, "dev-key")
        .with(Var::UserId, "")
        .with(Var::TeamId, "team-1")
        .with(Var::TeamName, "sales")
        .with(Var::CustomerId, "globex")
        .with(Var::CustomerName, "Globex")
        .number(Var::BudgetUsed, 0.0)
        .number(Var::TokensUsed, 0.0)
        .number(Var::Request, 0.0)
}

fn compile(source: &str) -> Expression {
    match Expression::compile(source) {
        Ok(expression) => expression,
        Err(error) => panic!("{source:?} does not compile: {error}"),
    }
}

fn eval(source: &str, vars: &Request) -> bool {
    compile(source).matches(vars)
}

/// Whether `source` matches the default request.
fn holds(source: &str) -> bool {
    eval(source, &request())
}

fn compile_error(source: &str) -> CelError {
    match Expression::compile(source) {
        Ok(_) => panic!("{source:?} compiled"),
        Err(error) => error,
    }
}

/// Asserts the compile error's column and that its message contains `needle`.
fn assert_refused(source: &str, column: usize, needle: &str) {
    let error = compile_error(source);
    assert!(
        error.message.contains(needle),
        "{source:?}: {:?} does not mention {needle:?}",
        error.message
    );
    assert_eq!(error.column, column, "{source:?}: {error}");
}

#[test]
fn bifrost_documentation_expressions_match_and_miss() {
    let r = request;
    // (expression, a request it matches, a request it does not match)
    let cases: Vec<(&str, Request, Request)> = vec![
        (
            r#"headers["x-tier"] == "premium""#,
            r().header("x-tier", "premium"),
            r().header("x-tier", "basic"),
        ),
        (
            r#"headers["x-api-version"] == "v2""#,
            r().header("x-api-version", "v2"),
            r().header("x-api-version", "v1"),
        ),
        (
            r#"headers["user-agent"].contains("mobile")"#,
            r().header("user-agent", "acme-mobile/1.0"),
            r().header("user-agent", "curl/8"),
        ),
        (
            r#"team_name == "ml-research""#,
            r().with(Var::TeamName, "ml-research"),
            r(),
        ),
        (
            r#"customer_id == "acme-corp""#,
            r().with(Var::CustomerId, "acme-corp"),
            r(),
        ),
        (
            r#"virtual_key_name.startsWith("prod-")"#,
            r().with(Var::VirtualKeyName, "prod-backend"),
            r().with(Var::VirtualKeyName, "dev-prod-"),
        ),
        (
            "budget_used > 80",
            r().number(Var::BudgetUsed, 80.5),
            r().number(Var::BudgetUsed, 80.0),
        ),
        (
            "tokens_used < 50",
            r().number(Var::TokensUsed, 49.9),
            r().number(Var::TokensUsed, 50.0),
        ),
        (
            "request > 90",
            r().number(Var::Request, 91.0),
            r().number(Var::Request, 90.0),
        ),
        (
            r#"model == "gpt-4o""#,
            r().with(Var::Model, "gpt-4o"),
            r().with(Var::Model, "gpt-4o-mini"),
        ),
        (
            r#"request_type == "embedding""#,
            r().with(Var::RequestType, "embedding"),
            r(),
        ),
        (
            r#"headers["x-tier"] == "premium" && team_name == "research""#,
            r().header("x-tier", "premium")
                .with(Var::TeamName, "research"),
            r().header("x-tier", "premium"),
        ),
        (
            r#"budget_used > 90 || headers["x-priority"] == "high""#,
            r().header("x-priority", "high"),
            r().number(Var::BudgetUsed, 90.0),
        ),
        (
            r#"team_name == "ml-ops" && model.startsWith("claude-")"#,
            r().with(Var::TeamName, "ml-ops")
                .with(Var::Model, "claude-3-opus"),
            r().with(Var::TeamName, "ml-ops"),
        ),
        (
            r#"headers["x-region"] == "us-east" && tokens_used < 75"#,
            r().header("x-region", "us-east"),
            r().header("x-region", "us-east")
                .number(Var::TokensUsed, 75.0),
        ),
        (
            r#"request_type == "embedding" && budget_used > 50"#,
            r().with(Var::RequestType, "embedding")
                .number(Var::BudgetUsed, 51.0),
            r().with(Var::RequestType, "embedding"),
        ),
        (
            r#"model.startsWith("gpt-4")"#,
            r().with(Var::Model, "gpt-4-turbo"),
            r().with(Var::Model, "gpt-3.5-turbo"),
        ),
        (
            r#"headers["x-environment"] in ["staging", "testing"]"#,
            r().header("x-environment", "testing"),
            r().header("x-environment", "production"),
        ),
        (
            r#"headers["x-user-email"].contains("@company.com")"#,
            r().header("x-user-email", "ada@company.com"),
            r().header("x-user-email", "ada@example.com"),
        ),
        (
            r#"headers["x-app-version"].matches("[0-9]+\\.[0-9]+\\.[0-9]+")"#,
            r().header("x-app-version", "app 1.22.3-beta"),
            r().header("x-app-version", "1x2x3"),
        ),
        (
            r#"headers["x-region"] in ["us", "eu", "asia"]"#,
            r().header("x-region", "eu"),
            r().header("x-region", "europe"),
        ),
        (
            r#"team_name.startsWith("prod-")"#,
            r().with(Var::TeamName, "prod-infra"),
            r(),
        ),
        (
            r#"headers["x-optional"] == "value""#,
            r().header("x-optional", "value"),
            r(),
        ),
        (
            r#"headers["x-optional"] != """#,
            r().header("x-optional", "set"),
            r(),
        ),
        (
            r#"headers["X-Tier"] == "premium""#,
            r().header("x-tier", "premium"),
            r().header("x-tier", "Premium"),
        ),
        (r#""x-tier" in headers"#, r().header("X-TIER", ""), r()),
        ("true", r(), r()),
    ];
    for (source, yes, no) in &cases {
        let expression = compile(source);
        assert!(expression.matches(yes), "{source} should match");
        if source != &"true" {
            assert!(!expression.matches(no), "{source} should not match");
        }
    }
    assert!(!holds("false"));
    assert!(holds(""));
}

#[test]
fn a_documented_pattern_decoded_from_json_keeps_its_escaped_dots() {
    let json = r#""headers[\"x-app-version\"].matches(\"[0-9]+\\\\.[0-9]+\\\\.[0-9]+\")""#;
    let source: String = serde_json::from_str(json).unwrap();
    assert_eq!(
        source,
        r#"headers["x-app-version"].matches("[0-9]+\\.[0-9]+\\.[0-9]+")"#
    );
    let expression = compile(&source);
    assert!(expression.matches(&request().header("x-app-version", "10.0.1")));
    // `\.` is a literal dot, not any character.
    assert!(!expression.matches(&request().header("x-app-version", "10a0b1")));
}

#[test]
fn complexity_tier_is_unknown_in_keyward_so_nothing_reading_it_matches() {
    let unknown = request();
    let known = request()
        .with(Var::ComplexityTier, "COMPLEX")
        .with(Var::TeamName, "research");
    for source in [
        r#"complexity_tier == "COMPLEX""#,
        r#"complexity_tier in ["MEDIUM", "COMPLEX"]"#,
        r#"!(complexity_tier in ["SIMPLE", "MEDIUM"])"#,
        r#"complexity_tier == "COMPLEX" && team_name == "research""#,
    ] {
        assert!(!eval(source, &unknown), "{source} matched an unknown tier");
        assert!(eval(source, &known), "{source} missed a known tier");
    }
    // Unknown stays unknown through `!` and `!=`.
    assert!(!eval(r#"complexity_tier != "COMPLEX""#, &unknown));
    assert!(!eval(r#"!(complexity_tier == "COMPLEX")"#, &unknown));
    // ... but `||` and `&&` absorb it.
    assert!(eval(
        r#"complexity_tier == "X" || team_name == "sales""#,
        &unknown
    ));
    assert!(eval(
        r#"!(complexity_tier == "X" && team_name == "nobody")"#,
        &unknown
    ));
}

#[test]
fn blank_expressions_always_match_and_read_nothing() {
    for source in ["", "  ", "\n\t "] {
        let expression = compile(source);
        assert!(expression.matches(&Request::default()));
        assert!(Var::ALL.into_iter().all(|var| !expression.reads(var)));
        assert!(!expression.reads_map(MapVar::Headers));
    }
}

#[test]
fn map_keys_lookups_and_presence() {
    let with = request()
        .header("x-tier", "premium")
        .header("x_tier", "gold");
    let without = request();
    assert!(eval(r#""x-tier" in headers"#, &with));
    assert!(eval(r#""X-TIER" in headers"#, &with));
    assert!(!eval(r#""x-tier" in headers"#, &without));
    assert!(!eval(r#""x-tier" in params"#, &with));
    assert!(eval(r#"headers.x_tier == "gold""#, &with));
    assert!(eval("has(headers.x_tier)", &with));
    assert!(!eval("has(headers.x_tier)", &without));
    assert!(eval(
        r#"headers[model == "gpt-4o-mini" ? "x-tier" : "x_tier"] == "premium""#,
        &with
    ));
    let params = request().param("tier", "free");
    assert!(eval(r#"params["tier"] == "free""#, &params));
    assert!(eval(r#"params.TIER == "free""#, &params));
    assert!(!eval(r#"headers["tier"] == "free""#, &params));
    // A missing key is an error: no comparison with it matches, negated or not.
    let present_empty = request().header("x-optional", "");
    for source in [
        r#"headers["x-optional"] == "value""#,
        r#"headers["x-optional"] != """#,
        r#"headers["x-optional"] != "value""#,
        r#"!(headers["x-optional"] == "value")"#,
        r#"headers["x-optional"].startsWith("")"#,
        r#"size(headers["x-optional"]) == 0"#,
    ] {
        assert!(!eval(source, &without), "{source} matched a missing header");
    }
    assert!(!eval(r#"headers["x-optional"] != """#, &present_empty));
    assert!(eval(r#"headers["x-optional"] != "value""#, &present_empty));
}

#[test]
fn and_or_absorb_errors_in_either_order() {
    let missing = r#"headers["missing"] == "x""#;
    // `!` of an error is an error, so `!(e)` tells false (matches) from error (does not).
    let is_false = |source: &str| holds(&format!("!({source})"));
    assert!(is_false(&format!("false && {missing}")));
    assert!(is_false(&format!("{missing} && false")));
    assert!(holds(&format!("true || {missing}")));
    assert!(holds(&format!("{missing} || true")));
    // Otherwise the error stays.
    for source in [
        format!("true && {missing}"),
        format!("{missing} && true"),
        format!("false || {missing}"),
        format!("{missing} || false"),
        format!("{missing} || {missing}"),
    ] {
        assert!(!holds(&source), "{source}");
        assert!(!is_false(&source), "{source} is not an error");
    }
    // A non-boolean dyn operand is an error too, absorbed the same way.
    let header = request().header("x", "yes");
    assert!(!eval(r#"headers["x"] || false"#, &header));
    assert!(eval(r#"headers["x"] || true"#, &header));
    assert!(eval(r#"!(false && headers["x"])"#, &header));
    // The ternary's condition must be a bool.
    assert!(!eval(r#"headers["x"] ? true : true"#, &header));
    assert!(!eval(r#"!(headers["x"] ? true : true)"#, &header));
}

#[test]
fn heterogeneous_equality() {
    assert!(!holds(r#"1 == "1""#));
    assert!(holds(r#"1 != "1""#));
    assert!(holds("null == null"));
    assert!(holds("model != null"));
    assert!(!holds("model == null"));
    assert!(holds("true != 1"));
    assert!(holds(r#"[1, "a"] == [1.0, "a"]"#));
    assert!(holds(r#"[1, "a"] != [1, "b"]"#));
    assert!(holds("[1] != [1, 2]"));
    assert!(holds(r#"1 in ["1", 1.0]"#));
    assert!(!holds(r#"2 in ["2", 1.0]"#));
    let numeric = request().header("x", "1");
    assert!(!eval(r#"headers["x"] == 1"#, &numeric));
    assert!(eval(r#"headers["x"] != 1"#, &numeric));
    assert!(eval(r#"headers["x"] in [1, "1"]"#, &numeric));
    // Ordering unrelated types is an error (not false).
    assert!(!eval(r#"headers["x"] < 2"#, &numeric));
    assert!(!eval(r#"!(headers["x"] < 2)"#, &numeric));
    assert!(eval(r#"int(headers["x"]) < 2"#, &numeric));
}

#[test]
fn numbers_compare_exactly_across_int_uint_and_double() {
    let at = |used: f64| request().number(Var::BudgetUsed, used);
    assert!(eval("budget_used >= 80", &at(80.0)));
    assert!(eval("budget_used == 80", &at(80.0)));
    assert!(!eval("budget_used == 80", &at(80.000_001)));
    assert!(eval("budget_used <= 80u", &at(79.5)));
    for source in [
        "1 == 1.0",
        "1u == 1",
        "1 < 1.5",
        "2 > 1.5",
        "-1 < 0u",
        "0u > -0.5",
        "-2 < -1.5",
        "-1 > -1.5",
        // Exact, not through a lossy conversion: 2^63 - 1 is below the double 2^63.
        "9223372036854775807 < 9223372036854775808.0",
        "9223372036854775807 != 9223372036854775808.0",
        "18446744073709551615u < 18446744073709551616.0",
        "-9223372036854775808 == -9223372036854775808.0",
        "\"a\" < \"b\"",
        "\"B\" < \"a\"",
        "\"é\" > \"z\"",
        "false < true",
    ] {
        assert!(holds(source), "{source}");
    }
    // NaN: unordered and unequal, not an error.
    assert!(!holds(r#"double("NaN") < 1"#));
    assert!(!holds(r#"double("NaN") == double("NaN")"#));
    assert!(holds(r#"!(double("NaN") >= 1)"#));
    assert!(holds(r#"double("NaN") != 1"#));
    // An unknown number reads as an error.
    let unknown = Request::default();
    assert!(!eval("budget_used > 80", &unknown));
    assert!(!eval("!(budget_used > 80)", &unknown));
}

#[test]
fn arithmetic() {
    for source in [
        "1 + 2 * 3 == 7",
        "(1 + 2) * 3 == 9",
        "10 - 4 - 3 == 3",
        "7 / 2 == 3",
        "-7 / 2 == -3",
        "7 % 3 == 1",
        "-7 % 3 == -1",
        "2 + 0.5 == 2.5",
        "1u + 2u == 3u",
        "5u - 2 == 3",
        "1.0 / 0.0 > 1000000.0",
        "-(1 + 1) == -2",
        "- -1 == 1",
        "-9223372036854775808 == -9223372036854775807 - 1",
    ] {
        assert!(holds(source), "{source}");
    }
    assert!(eval(
        "budget_used * 2 > 100",
        &request().number(Var::BudgetUsed, 50.5)
    ));
    // Errors: division by zero, overflow, underflow, `%` on a dyn double.
    for source in [
        "1 / 0 == 0",
        "1 % 0 == 0",
        "9223372036854775807 + 1 > 0",
        "-9223372036854775808 / -1 > 0",
        "-(-9223372036854775808) > 0",
        "0u - 1u > 0u",
        "18446744073709551615u * 2u > 0u",
    ] {
        assert!(!holds(source), "{source}");
        assert!(!holds(&format!("!({source})")), "{source} is not an error");
    }
    let header = request().header("x", "1").header("n", "2.5");
    assert!(!eval(r#"headers["x"] + 1 == 2"#, &header));
    assert!(!eval(r#"!(headers["x"] + 1 == 2)"#, &header));
    assert!(eval(r#"double(headers["n"]) * 2 == 5"#, &header));
}

#[test]
fn precedence() {
    // `&&` binds tighter than `||`.
    assert!(holds("true || false && false"));
    assert!(!holds("(true || false) && false"));
    // `?:` is the loosest, and right-associative.
    assert!(!holds("true || false ? false : true"));
    assert!(holds("false ? false : true ? true : false"));
    assert!(holds("(false ? 1 : true ? 2 : 3) == 2"));
    // `!` binds tighter than `==`: `!"a" == "b"` is `(!"a") == "b"`, refused.
    assert_refused(r#"!"a" == "b""#, 1, "`!` needs a bool, not string");
    assert!(holds("!false == true"));
    // Relations share one level, left-associative.
    assert!(holds(r#""a" in ["a"] == true"#));
    assert!(holds("1 < 2 == true"));
    // Member access binds tighter than unary operators.
    assert!(holds(r#"!model.startsWith("claude")"#));
    assert!(holds("-size(model) == -11"));
}

#[test]
fn conditional() {
    assert!(!holds("true ? false : true"));
    assert!(holds(r#"(budget_used > 50 ? "high" : "low") == "low""#));
    assert!(holds(r#"(1 < 2 ? 1 : "one") == 1"#));
    assert!(holds("(false ? 1 : 2.5) > 2"));
    // Only the chosen branch is evaluated.
    assert!(holds(r#"true ? true : headers["missing"] == "x""#));
    assert!(!holds(r#"false ? true : headers["missing"] == "x""#));
}

#[test]
fn string_literals_and_escapes() {
    let cases: [(&str, &str); 21] = [
        (r#""plain""#, "plain"),
        (r#"'single'"#, "single"),
        (r#""a\\b""#, "a\\b"),
        (r#""say \"hi\"""#, "say \"hi\""),
        (r#"'it\'s'"#, "it's"),
        (r#""\n\r\t""#, "\n\r\t"),
        (r#""\a\b\f\v""#, "\x07\x08\x0c\x0b"),
        (r#""\?\`""#, "?`"),
        (r#""\x41\X42""#, "AB"),
        (r#""\u00e9""#, "é"),
        (r#""\U0001F600""#, "😀"),
        (r#""\101\060""#, "A0"),
        (r#"'"'"#, "\""),
        (r#""""a"b""""#, "a\"b"),
        ("'''line\nbreak\\n'''", "line\nbreak\n"),
        (r#"r"a\nb""#, "a\\nb"),
        (r#"R'\d+'"#, "\\d+"),
        (r#"r"""\x""""#, "\\x"),
        (r#""模型""#, "模型"),
        (r#""""""""#, ""),
        ("\"tab\tinside\"", "tab\tinside"),
    ];
    let other = request().with(Var::Model, "other");
    for (literal, value) in cases {
        let source = format!("model == {literal}");
        assert!(
            eval(&source, &request().with(Var::Model, value)),
            "{source}"
        );
        assert!(!eval(&source, &other), "{source}");
    }
}

#[test]
fn unicode_values_and_columns_count_chars() {
    let request = request().with(Var::Model, "模型-é");
    assert!(eval(r#"model.startsWith("模型")"#, &request));
    assert!(eval("size(model) == 4", &request));
    assert!(eval("model.size() == 4", &request));
    assert!(eval(r#"model.matches("^模.-é$")"#, &request));
    // `"日本" == foo`: `foo` is the ninth char, though the 13th byte.
    assert_refused(r#""日本" == foo"#, 9, "undeclared reference to `foo`");
}

#[test]
fn size_of_strings_and_lists() {
    for source in [
        r#"size("abc") == 3"#,
        r#"size("") == 0"#,
        r#""héllo".size() == 5"#,
        r#"size(["a", "b", "c",]) == 3"#,
        "[].size() == 0",
        "size(model) == 11",
        "size([[1, 2]]) == 1",
    ] {
        assert!(holds(source), "{source}");
    }
    assert!(eval(
        r#"size(headers["x"]) == 2"#,
        &request().header("x", "ab")
    ));
}

#[test]
fn functions() {
    for source in [
        r#"matches(model, "^gpt-4o")"#,
        r#"model.matches("4o-mi")"#,
        r#"!model.matches("^4o")"#,
        r#"model.endsWith("-mini")"#,
        r#"model.contains("4o")"#,
        r#"int("42") == 42"#,
        r#"int("-42") < 0"#,
        "int(2.9) == 2",
        "int(-2.9) == -2",
        "uint(3) == 3u",
        r#"double("1.5") > 1"#,
        "double(1) == 1.0",
        "int(budget_used) == 0",
    ] {
        assert!(holds(source), "{source}");
    }
    for source in [
        "uint(-1) == 0u",
        r#"int("4x") == 4"#,
        "int(1e19) > 0",
        r#"int(headers["missing"]) == 1"#,
    ] {
        assert!(!holds(source), "{source}");
        assert!(!holds(&format!("!({source})")), "{source} is not an error");
    }
    // A dyn receiver that is not a string is an error at run time.
    assert!(eval(
        r#"(true ? headers["x"] : 1).startsWith("a")"#,
        &request().header("x", "ab")
    ));
    assert!(!eval(
        r#"(false ? headers["x"] : 1).startsWith("a")"#,
        &request()
    ));
}

#[test]
fn comments_whitespace_and_trailing_commas() {
    assert!(holds(
        "// routed to openai\nprovider == \"openai\" // always\n\t&& model in [\n  \"gpt-4o-mini\",\n]"
    ));
}

#[test]
fn what_an_expression_reads() {
    let expression = compile(r#"budget_used > 80 && headers.x == "y" || model == "m""#);
    assert!(expression.reads(Var::BudgetUsed));
    assert!(expression.reads(Var::Model));
    assert!(!expression.reads(Var::TokensUsed));
    assert!(!expression.reads(Var::ComplexityTier));
    assert!(expression.reads_map(MapVar::Headers));
    assert!(!expression.reads_map(MapVar::Params));
    assert!(compile(r#""a" in params"#).reads_map(MapVar::Params));
    assert!(compile("has(params.a)").reads_map(MapVar::Params));
    assert!(compile(r#"params["a"] == "b""#).reads_map(MapVar::Params));
    assert!(!compile(r#"params["a"] == "b""#).reads_map(MapVar::Headers));
    assert!(compile(r#"complexity_tier in ["x"]"#).reads(Var::ComplexityTier));
    for var in Var::ALL {
        assert_eq!(Var::from_name(var.name()), Some(var));
        let source = if var.is_number() {
            format!("{} > 1", var.name())
        } else {
            format!("{} == \"\"", var.name())
        };
        let expression = compile(&source);
        assert!(expression.reads(var), "{source}");
        let mut others = Var::ALL.into_iter().filter(|other| *other != var);
        assert!(others.all(|other| !expression.reads(other)), "{source}");
    }
}

#[test]
fn compile_errors_name_the_column_and_the_construct() {
    let cases: &[(&str, usize, &str)] = &[
        (r#"headers["x-tier"#, 9, "unterminated string literal"),
        (
            "model.length() > 5",
            7,
            "function `length` is not supported",
        ),
        ("foo == 1", 1, "undeclared reference to `foo`"),
        (
            r#"budget_used > "x""#,
            13,
            "`>` cannot compare double and string",
        ),
        ("model", 1, "the expression must be a boolean, not string"),
        ("1 + 2", 1, "the expression must be a boolean, not int"),
        ("budget_used", 1, "must be a boolean, not double"),
        (
            r#"model + "x" == "y""#,
            7,
            "string concatenation is not supported",
        ),
        (
            "[1] + [2] == [1, 2]",
            5,
            "list concatenation is not supported",
        ),
        (
            r#"model.matches("[")"#,
            15,
            r#"invalid regular expression "[": unclosed character class"#,
        ),
        (
            "model.matches(model)",
            15,
            "the pattern of `matches` must be a string literal",
        ),
        (
            "model.startsWith(1)",
            18,
            "`startsWith` must take a string, not int",
        ),
        (
            r#"budget_used.startsWith("a")"#,
            1,
            "`startsWith` must be called on a string, not double",
        ),
        ("!model", 1, "`!` needs a bool, not string"),
        ("model && true", 7, "`&&` needs bools, not string"),
        ("true || 1", 6, "`||` needs bools, not int"),
        (
            "size(1) == 1",
            6,
            "`size` needs a string or a list, not int",
        ),
        (
            "-model == 1",
            1,
            "unary `-` needs an int or a double, not string",
        ),
        (
            "-1u == 1",
            1,
            "unary `-` needs an int or a double, not uint",
        ),
        ("1 % 2.0 == 1", 3, "`%` is not supported on doubles"),
        ("true + 1 == 2", 6, "`+` needs numbers, not bool"),
        ("null < 1", 6, "`<` is not supported on null"),
        (
            r#"model in model"#,
            7,
            "`in` is only supported on a list literal",
        ),
        (
            r#"1 in headers"#,
            1,
            "a key of `headers` must be a string, not int",
        ),
        (
            r#"headers[1] == "a""#,
            9,
            "a key of `headers` must be a string",
        ),
        (
            "headers == 1",
            1,
            "`headers` can only be indexed (`headers[\"key\"]`, `headers.key`) or tested with `in`",
        ),
        ("size(params) > 0", 6, "`params` can only be indexed"),
        (
            r#"model.x == "a""#,
            7,
            "field selection `.x` is only supported on `headers` and `params`, not on string",
        ),
        (
            r#"model[0] == "a""#,
            6,
            "indexing is only supported on `headers` and `params`, not on string",
        ),
        (
            r#"startsWith(model, "a")"#,
            1,
            "`startsWith` is only supported as a method",
        ),
        (
            "model.int() == 1",
            7,
            "`int` is only supported as a function",
        ),
        ("int(true) == 1", 1, "`int` cannot convert bool"),
        (
            r#"model.startsWith("a", "b")"#,
            7,
            "`startsWith` takes 1 argument, not 2",
        ),
        ("size() == 0", 1, "`size` takes 1 argument, not 0"),
        (
            r#"string(1) == "1""#,
            1,
            "function `string` is not supported",
        ),
        (
            "[1, 2].exists(x, x > 1)",
            8,
            "macro `exists` is not supported",
        ),
        ("foo(1)", 1, "function `foo` is not supported"),
        (
            "has(model)",
            5,
            "`has` is only supported on a field of `headers`",
        ),
        (
            r#"{"a": 1}.size() == 1"#,
            1,
            "map literals are not supported",
        ),
        (r#"Msg{a: 1}"#, 1, "message construction is not supported"),
        (
            ".model == 1",
            1,
            "leading-dot (root-scoped) names are not supported",
        ),
        (r#"b"x" == "x""#, 1, "bytes literals are not supported"),
        (r#"model = "x""#, 7, "`=` is not an operator; use `==`"),
        (
            r#"model == "x" & true"#,
            14,
            "`&` is not an operator; use `&&`",
        ),
        ("model == #", 10, "unexpected character `#`"),
        (r#"model == "x" &&"#, 16, "unexpected end of the expression"),
        (
            r#"(model == "x""#,
            14,
            "expected `)`, found end of the expression",
        ),
        (r#"model == "x")"#, 13, "unexpected `)`"),
        (r#"model == "x" model"#, 14, "unexpected `model`"),
        ("model.(1) == 1", 7, "expected a name after `.`, found `(`"),
        ("model.1 == 1", 6, "unexpected number literal"),
        (
            r#"true ? 1"#,
            9,
            "expected `:`, found end of the expression",
        ),
        ("if == 1", 1, "`if` is a reserved word"),
        (r#"model == "\q""#, 11, "invalid escape sequence `\\q`"),
        (r#"model == "\x4""#, 11, "incomplete escape sequence"),
        (r#"model == "\uD800""#, 11, "names no unicode character"),
        ("model == 'a\nb'", 10, "unterminated string literal"),
        (r#"model == """a"#, 10, "unterminated string literal"),
        (
            "99999999999999999999 > 0",
            1,
            "integer literal out of range",
        ),
        ("9223372036854775808 > 0", 1, "integer literal out of range"),
        (
            "-9223372036854775809 < 0",
            1,
            "integer literal out of range",
        ),
        ("1e999 > 0", 1, "double literal out of range"),
        ("0x > 0", 1, "a hex literal needs digits after `0x`"),
    ];
    for &(source, column, needle) in cases {
        assert_refused(source, column, needle);
    }
}

#[test]
fn literal_forms_that_compile() {
    for source in [
        "0x10 == 16",
        "0X1fu == 31u",
        "1e3 == 1000",
        "2.5e-1 == 0.25",
        "1E+2 == 100",
        ".5 == 0.5",
        "-9223372036854775808 < 0",
        "18446744073709551615u > 0u",
        "007 == 7",
    ] {
        assert!(holds(source), "{source}");
    }
}

#[test]
fn nesting_deeper_than_64_levels_is_refused() {
    let parens = format!("{}true{}", "(".repeat(65), ")".repeat(65));
    assert_refused(&parens, 65, "nested more than 64 levels deep");
    let nots = format!("{}true", "!".repeat(64));
    assert_refused(&nots, 64, "nested more than 64 levels deep");
    let sum = format!("{} == 65", vec!["1"; 65].join(" + "));
    assert!(
        compile_error(&sum)
            .message
            .contains("nested more than 64 levels")
    );
    let lists = format!("size({}1{}) == 1", "[".repeat(70), "]".repeat(70));
    assert!(
        compile_error(&lists)
            .message
            .contains("nested more than 64 levels")
    );
    // 63 `!` over a literal is 64 levels: accepted.
    assert!(!holds(&format!("{}true", "!".repeat(63))));
    assert!(holds(&format!("{}true", "!".repeat(62))));
    assert!(holds(&format!("{} == 62", vec!["1"; 62].join(" + "))));
}

#[test]
fn source_longer_than_16_kib_is_refused() {
    let long = format!("model == \"{}\"", "a".repeat(16 * 1024));
    let error = compile_error(&long);
    assert_eq!(error.column, 1);
    assert!(error.message.contains("longer than 16384 bytes"));
    let fits = format!("model != \"{}\"", "a".repeat(16 * 1024 - 20));
    assert!(holds(&fits));
}

#[test]
fn errors_display_their_column() {
    let error = compile_error("foo == 1");
    assert_eq!(
        error.to_string(),
        "at column 1: undeclared reference to `foo`"
    );
}
