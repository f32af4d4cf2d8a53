//! JSON from outside (an SQS body, an EventBridge event, a parameter's value) read into a
//! typed value, with an error that says where the shape is wrong, as the path of the field,
//! and why, without quoting a value from the document: a mistyped field may hold a secret or
//! a card number.

use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::error::Category;

/// A document that is not JSON, or not of the shape asked for.
#[derive(Debug)]
pub struct ShapeError {
    /// Where serde stopped, as `detail.steps[2].aws_percent`; empty for the document itself.
    path: String,
    source: serde_json::Error,
}

/// Reads `T` from JSON text; trailing characters after the document are an error.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, ShapeError> {
    let mut reader = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut reader).map_err(ShapeError::tracked)?;
    reader.end().map_err(|source| ShapeError {
        path: String::new(),
        source,
    })?;
    Ok(value)
}

/// Reads `T` from a JSON value already parsed, such as the event Lambda handed over.
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, ShapeError> {
    serde_path_to_error::deserialize(value).map_err(ShapeError::tracked)
}

impl ShapeError {
    fn tracked(err: serde_path_to_error::Error<serde_json::Error>) -> Self {
        use serde_path_to_error::Segment;
        let mut segments: Vec<String> = err
            .path()
            .iter()
            .map(|segment| match segment {
                Segment::Seq { index } => format!("[{index}]"),
                Segment::Map { key } => shown_name(key).into_owned(),
                Segment::Enum { variant } => shown_name(variant).into_owned(),
                Segment::Unknown => "?".to_owned(),
            })
            .collect();
        let source = err.into_inner();
        // An unknown field is the last segment of the path, and it came from the document.
        if source.to_string().starts_with("unknown field ")
            && let Some(last) = segments.last_mut()
        {
            "…".clone_into(last);
        }
        let mut path = String::new();
        for segment in segments {
            if !path.is_empty() && !segment.starts_with('[') {
                path.push('.');
            }
            path.push_str(&segment);
        }
        Self { path, source }
    }

    /// The path of the field at fault, empty when it is the document itself.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Says what is wrong with `what` (`"the plan"`, `"body"`, ...) in one sentence, naming
    /// the field and, for text, the line and column, with every value from the document
    /// left out.
    #[must_use]
    pub fn describe(&self, what: &str) -> String {
        let line = self.source.line();
        let position = if line == 0 {
            String::new()
        } else {
            format!(" (line {line} column {})", self.source.column())
        };
        match self.source.classify() {
            Category::Syntax | Category::Eof => format!(
                "{what} is not valid JSON at line {line} column {}",
                self.source.column()
            ),
            Category::Data => {
                let at = if self.path.is_empty() {
                    String::new()
                } else {
                    format!(" at `{}`", self.path)
                };
                format!(
                    "{what} has the wrong shape{at}{position}: {}",
                    redact_values(&self.source)
                )
            }
            Category::Io => format!("{what} could not be read{position}"),
        }
    }
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe("the document"))
    }
}

impl std::error::Error for ShapeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// serde's message for `err` without its trailing position and without the values it
/// quotes: a string (`string "hunter2"`) becomes `"…"`, and a number, a character or an
/// unknown variant (`` integer `4111111111111111` ``) becomes `` `…` ``. Field and variant
/// names the type expects are kept, as they say what was wanted.
#[must_use]
pub fn redact_values(err: &impl fmt::Display) -> String {
    let text = err.to_string();
    // serde_json puts its position at the end; callers report it apart, if at all.
    let text = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(head, _)| head);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            // A string is printed in Rust's debug form: escapes inside, then the closing quote.
            '"' => {
                out.push_str("\"…\"");
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            // A name from the document runs, back-quotes and all, to serde's own words after
            // it: the last "`, expected" or "`, there are no".
            '`' if quotes_a_name(&out) => {
                out.push_str("`…`");
                let rest = chars.as_str();
                let end = ["`, expected", "`, there are no"]
                    .iter()
                    .filter_map(|tail| rest.rfind(tail))
                    .max();
                chars = match end {
                    Some(end) => rest[end + 1..].chars(),
                    None => "".chars(),
                };
            }
            '`' if quotes_a_value(&out) => {
                out.push_str("`…`");
                chars.by_ref().find(|c| *c == '`');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Whether the back-quoted text about to follow `before` is a number or a character from
/// the document, as serde words its messages.
fn quotes_a_value(before: &str) -> bool {
    ["integer ", "floating point ", "character "]
        .iter()
        .any(|kind| before.ends_with(kind))
}

/// Whether the back-quoted text about to follow `before` is a variant or field name from
/// the document, which may itself hold back-quotes.
fn quotes_a_name(before: &str) -> bool {
    before.ends_with("unknown variant ") || before.ends_with("unknown field ")
}

/// `name` as it may be shown in a message, or `…`: a name from outside (a map key, a
/// command, an event's source) is shown only when it looks like a name, at most 64 letters,
/// digits, spaces and `_ - . : /`, with no run of four digits or more, which a card number,
/// an account or a secret would need.
#[must_use]
pub fn shown_name(name: &str) -> std::borrow::Cow<'_, str> {
    let mut digits = 0;
    let plain = !name.is_empty()
        && name.chars().count() <= 64
        && name.chars().all(|c| {
            digits = if c.is_ascii_digit() { digits + 1 } else { 0 };
            digits < 4 && (c.is_ascii_alphanumeric() || " _-.:/".contains(c))
        });
    if plain {
        std::borrow::Cow::Borrowed(name)
    } else {
        std::borrow::Cow::Borrowed("…")
    }
}

/// `n` as it may be shown in a message: itself below 10,000, else only how many digits it
/// has, so a card or account number given where a count was due is not repeated.
#[must_use]
pub fn shown_number(n: impl Into<i128>) -> String {
    let n: i128 = n.into();
    if n.unsigned_abs() < 10_000 {
        n.to_string()
    } else {
        format!("({} digits)", n.unsigned_abs().to_string().len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Job {
        table: String,
        chunk: u32,
        #[serde(default)]
        steps: Vec<Step>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Step {
        card: String,
        kind: Kind,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Debit,
        Credit,
    }

    fn text_error(text: &str) -> String {
        from_str::<Job>(text).unwrap_err().describe("body")
    }

    #[test]
    fn a_wrong_type_names_the_field_and_hides_the_value() {
        assert_eq!(
            text_error(r#"{"table":"t","chunk":"hunter2"}"#),
            "body has the wrong shape at `chunk` (line 1 column 30): invalid type: string \"…\", \
             expected u32"
        );
    }

    #[test]
    fn a_nested_field_is_named_by_its_whole_path() {
        let card = 4_111_111_111_111_111_u64;
        let steps = json!([{"card": "x", "kind": "debit"}, {"card": card, "kind": "debit"}]);
        let value = json!({"table": "t", "chunk": 1, "steps": steps});
        let err = from_value::<Job>(&value).unwrap_err();
        assert_eq!(err.path(), "steps[1].card");
        // A parsed value has no line: no position is given.
        assert_eq!(
            err.describe("the event"),
            "the event has the wrong shape at `steps[1].card`: invalid type: integer `…`, \
             expected a string"
        );
    }

    #[test]
    fn an_unknown_variant_is_hidden_but_the_expected_ones_are_listed() {
        let value = json!({"table": "t", "chunk": 1, "steps": [{"card": "x", "kind": "s3cret"}]});
        assert_eq!(
            from_value::<Job>(&value).unwrap_err().describe("the event"),
            "the event has the wrong shape at `steps[0].kind`: unknown variant `…`, expected \
             `debit` or `credit`"
        );
    }

    #[test]
    fn a_missing_field_is_named_and_an_unknown_one_hidden() {
        assert_eq!(
            text_error(r#"{"table":"t"}"#),
            "body has the wrong shape (line 1 column 13): missing field `chunk`"
        );
        // The unknown name came from the document: the names it could have been are given.
        assert_eq!(
            text_error(r#"{"table":"t","chunk":1,"chunck":2}"#),
            "body has the wrong shape at `…` (line 1 column 31): unknown field `…`, expected one \
             of `table`, `chunk`, `steps`"
        );
    }

    #[test]
    fn text_that_is_not_json_or_runs_on_says_where() {
        assert_eq!(
            text_error("password=hunter2"),
            "body is not valid JSON at line 1 column 1"
        );
        assert_eq!(
            text_error("{\"table\":\"t\",\"chunk\":1} trailing"),
            "body is not valid JSON at line 1 column 25"
        );
    }

    #[test]
    fn a_quote_escaped_inside_a_value_does_not_end_the_redaction() {
        let err = from_value::<Job>(&json!({"table": "t", "chunk": "a\"b c\\\"d"})).unwrap_err();
        let said = err.describe("body");
        assert_eq!(
            said,
            "body has the wrong shape at `chunk`: invalid type: string \"…\", expected u32"
        );
    }

    #[test]
    fn a_name_from_the_document_is_hidden_back_quotes_and_all() {
        let step = json!({"card": "x", "kind": "x`4111111111111111"});
        let value = json!({"table": "t", "chunk": 1, "steps": [step]});
        assert_eq!(
            from_value::<Job>(&value).unwrap_err().describe("e"),
            "e has the wrong shape at `steps[0].kind`: unknown variant `…`, expected `debit` or \
             `credit`"
        );
        let value = json!({"table": "t", "chunk": 1, "x`, expected 4111111111111111`": 1});
        assert_eq!(
            from_value::<Job>(&value).unwrap_err().describe("e"),
            "e has the wrong shape at `…`: unknown field `…`, expected one of `table`, `chunk`, \
             `steps`"
        );
    }

    #[test]
    fn a_map_key_that_could_hold_a_number_or_a_secret_is_not_shown_in_the_path() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Attributes {
            attributes: std::collections::HashMap<String, String>,
        }
        for (key, shown) in [
            (
                "ApproximateReceiveCount",
                "attributes.ApproximateReceiveCount",
            ),
            ("hunter2-4111111111111111", "attributes.…"),
            ("pass=hunter2", "attributes.…"),
        ] {
            let err = from_value::<Attributes>(&json!({"attributes": {key: 5}})).unwrap_err();
            assert_eq!(err.path(), shown, "{key}");
            assert!(!err.describe("e").contains("hunter2"));
        }
    }

    #[test]
    fn numbers_and_names_are_shown_only_when_they_cannot_carry_a_card_number() {
        assert_eq!(shown_number(150_u64), "150");
        assert_eq!(shown_number(-5_i64), "-5");
        assert_eq!(shown_number(4_111_111_111_111_111_u64), "(16 digits)");
        assert_eq!(
            shown_name("Config Rules Compliance Change"),
            "Config Rules Compliance Change"
        );
        assert_eq!(shown_name("aws.config"), "aws.config");
        assert_eq!(shown_name("hunter2-4111111111111111"), "…");
        assert_eq!(shown_name("pass=hunter2"), "…");
        assert_eq!(shown_name(""), "…");
    }

    #[test]
    fn floats_and_characters_are_hidden_too() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Flag {
            on: bool,
        }
        let said = from_value::<Flag>(&json!({"on": 12.5}))
            .unwrap_err()
            .describe("x");
        assert_eq!(
            said,
            "x has the wrong shape at `on`: invalid type: floating point `…`, expected a boolean"
        );
    }
}
