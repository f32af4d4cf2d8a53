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
        let path = err.path().to_string();
        Self {
            // The path of the document itself prints as ".".
            path: if path == "." { String::new() } else { path },
            source: err.into_inner(),
        }
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
            '`' if quotes_a_value(&out) => {
                out.push_str("`…`");
                chars.by_ref().find(|c| *c == '`');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Whether the back-quoted text about to follow `before` is a value from the document,
/// as serde words its messages, rather than the name of a field or variant it expects.
fn quotes_a_value(before: &str) -> bool {
    [
        "integer ",
        "floating point ",
        "character ",
        "unknown variant ",
    ]
    .iter()
    .any(|kind| before.ends_with(kind))
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
        let value = json!({"table": "t", "chunk": 1,
                           "steps": [{"card": "x", "kind": "debit"}, {"card": 4_111_111_111_111_111_u64, "kind": "debit"}]});
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
    fn missing_and_unknown_fields_are_named() {
        assert_eq!(
            text_error(r#"{"table":"t"}"#),
            "body has the wrong shape (line 1 column 13): missing field `chunk`"
        );
        let unknown = text_error(r#"{"table":"t","chunk":1,"chunck":2}"#);
        assert!(
            unknown.starts_with("body has the wrong shape at `chunck` (line 1 column 31): unknown field `chunck`, expected one of"),
            "{unknown}"
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
