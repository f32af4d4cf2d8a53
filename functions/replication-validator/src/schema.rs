//! A table's columns and key as `information_schema` describes them on each side, and the
//! differences between the two sides that make comparing rows pointless.

use mysql_async::prelude::Queryable;
use serde::{Deserialize, Serialize};

use crate::db::Database;
use crate::error::ValidatorError;

/// One column, as `information_schema.COLUMNS` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The column's name.
    pub name: String,
    /// `DATA_TYPE`, lower case: `varchar`, `decimal`, `datetime`…
    pub data_type: String,
    /// `COLUMN_TYPE`, the full declaration: `decimal(18,2)`, `varchar(16)`…
    pub column_type: String,
    /// The character set of a text column.
    pub charset: Option<String>,
    /// The collation of a text column.
    pub collation: Option<String>,
    /// Whether it accepts NULL.
    pub nullable: bool,
    /// `NUMERIC_PRECISION` of a number.
    pub precision: Option<u64>,
    /// `NUMERIC_SCALE` of a number.
    pub scale: Option<u64>,
}

/// How a column's value is read into the fingerprint and the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Characters in a character set.
    Text,
    /// Bytes: BINARY, VARBINARY, the BLOBs, BIT.
    Binary,
    /// Numbers and dates, read as their exact text.
    Other,
}

impl Column {
    /// How the column is read.
    #[must_use]
    pub fn kind(&self) -> ColumnKind {
        match self.data_type.as_str() {
            "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" | "bit" => {
                ColumnKind::Binary
            }
            _ if self.charset.is_some() => ColumnKind::Text,
            _ => ColumnKind::Other,
        }
    }
}

/// A table's columns and the key the engine chunks and matches rows by.
#[derive(Debug, Clone)]
pub struct TableShape {
    /// The columns in declaration order.
    pub columns: Vec<Column>,
    /// The primary key, or else a unique index whose columns are all NOT NULL; empty when
    /// the table has neither.
    pub key: Vec<Column>,
    /// The name of the index the key comes from.
    pub key_name: Option<String>,
}

/// A column whose declaration differs between the sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnChange {
    /// The column's name.
    pub column: String,
    /// What differs: `type` or `key collation`.
    pub what: String,
    /// The declaration on the source.
    pub source: String,
    /// The declaration on the target.
    pub target: String,
}

/// Why two tables' rows cannot be compared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaDiff {
    /// Columns the target lacks.
    pub missing_in_target: Vec<String>,
    /// Columns only the target has.
    pub missing_in_source: Vec<String>,
    /// Columns whose type (or, for a key column, collation) differs.
    pub changed: Vec<ColumnChange>,
    /// The key of each side when they differ, as `index(col, …)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<[String; 2]>,
}

impl SchemaDiff {
    /// Whether the sides agree.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.missing_in_target.is_empty()
            && self.missing_in_source.is_empty()
            && self.changed.is_empty()
            && self.key.is_none()
    }
}

fn describe_key(shape: &TableShape) -> String {
    let cols: Vec<String> = shape.key.iter().map(|c| c.name.to_lowercase()).collect();
    format!(
        "{}({})",
        shape.key_name.as_deref().unwrap_or("none"),
        cols.join(", ")
    )
}

/// What differs between the source's and the target's shape of one table. Columns are
/// matched by name (case-insensitively, as MariaDB names them), never by position.
///
/// A changed collation of a key column is a difference because chunk predicates compare
/// keys under the column's collation: with the same collation on both sides a range
/// selects the same keys on both sides, with different ones it may not. Collations of
/// other columns are not compared: their bytes are hashed, so a changed collation alone
/// changes nothing in the data.
#[must_use]
pub fn compare(source: &TableShape, target: &TableShape) -> SchemaDiff {
    let find = |shape: &TableShape, name: &str| {
        shape
            .columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
            .cloned()
    };
    let mut diff = SchemaDiff::default();
    for s in &source.columns {
        let Some(t) = find(target, &s.name) else {
            diff.missing_in_target.push(s.name.clone());
            continue;
        };
        if s.column_type != t.column_type {
            diff.changed.push(ColumnChange {
                column: s.name.clone(),
                what: "type".into(),
                source: s.column_type.clone(),
                target: t.column_type.clone(),
            });
        }
        let in_key = source
            .key
            .iter()
            .any(|k| k.name.eq_ignore_ascii_case(&s.name));
        if in_key && s.collation != t.collation {
            diff.changed.push(ColumnChange {
                column: s.name.clone(),
                what: "key collation".into(),
                source: s.collation.clone().unwrap_or_default(),
                target: t.collation.clone().unwrap_or_default(),
            });
        }
    }
    for t in &target.columns {
        if find(source, &t.name).is_none() {
            diff.missing_in_source.push(t.name.clone());
        }
    }
    let (sk, tk) = (describe_key(source), describe_key(target));
    let same_columns = source.key.len() == target.key.len()
        && source
            .key
            .iter()
            .zip(&target.key)
            .all(|(a, b)| a.name.eq_ignore_ascii_case(&b.name));
    if !same_columns {
        diff.key = Some([sk, tk]);
    }
    diff
}

type ColumnRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<u64>,
    Option<u64>,
);

/// Reads the shape of `table` on one side; [`ValidatorError::TableNotFound`] when the
/// schema has no such table.
pub async fn discover(db: &Database, table: &str) -> Result<TableShape, ValidatorError> {
    let side = db.side();
    let mut conn = db.conn(table).await?;
    let rows: Vec<ColumnRow> = conn
        .exec(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME, COLLATION_NAME, \
             IS_NULLABLE, NUMERIC_PRECISION, NUMERIC_SCALE FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (db.schema(), table),
        )
        .await
        .map_err(|e| ValidatorError::query(side, table, "read the columns of", &e))?;
    if rows.is_empty() {
        return Err(ValidatorError::TableNotFound {
            side,
            table: table.to_owned(),
            schema: db.schema().to_owned(),
        });
    }
    let columns: Vec<Column> = rows
        .into_iter()
        .map(|r| Column {
            name: r.0,
            data_type: r.1.to_lowercase(),
            column_type: r.2.to_lowercase(),
            charset: r.3,
            collation: r.4,
            nullable: r.5.eq_ignore_ascii_case("YES"),
            precision: r.6,
            scale: r.7,
        })
        .collect();
    let indexes: Vec<(String, String, u64, Option<u64>)> = conn
        .exec(
            "SELECT INDEX_NAME, COLUMN_NAME, NON_UNIQUE, SUB_PART \
             FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
             ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX",
            (db.schema(), table),
        )
        .await
        .map_err(|e| ValidatorError::query(side, table, "read the indexes of", &e))?;
    let (key, key_name) = choose_key(&columns, &indexes);
    Ok(TableShape {
        columns,
        key,
        key_name,
    })
}

/// The primary key, or else the first unique index (by name) whose columns are all NOT
/// NULL and indexed whole (no prefix).
fn choose_key(
    columns: &[Column],
    indexes: &[(String, String, u64, Option<u64>)],
) -> (Vec<Column>, Option<String>) {
    let mut names: Vec<&str> = indexes.iter().map(|i| i.0.as_str()).collect();
    names.dedup();
    for name in names {
        let parts: Vec<&(String, String, u64, Option<u64>)> =
            indexes.iter().filter(|i| i.0 == name).collect();
        if parts.iter().any(|p| p.2 != 0 || p.3.is_some()) {
            continue;
        }
        let key: Option<Vec<Column>> = parts
            .iter()
            .map(|p| {
                columns
                    .iter()
                    .find(|c| c.name.eq_ignore_ascii_case(&p.1))
                    .filter(|c| !c.nullable)
                    .cloned()
            })
            .collect();
        if let Some(key) = key.filter(|k| !k.is_empty()) {
            return (key, Some(name.to_owned()));
        }
    }
    (Vec::new(), None)
}

/// The base tables of the side's schema, by name.
pub async fn base_tables(db: &Database) -> Result<Vec<String>, ValidatorError> {
    let mut conn = db.conn("*").await?;
    conn.exec(
        "SELECT TABLE_NAME FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
        (db.schema(),),
    )
    .await
    .map_err(|e| ValidatorError::query(db.side(), "*", "list the tables of", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, column_type: &str, collation: Option<&str>, nullable: bool) -> Column {
        Column {
            name: name.into(),
            data_type: column_type.split('(').next().unwrap_or_default().into(),
            column_type: column_type.into(),
            charset: collation.map(|_| "utf8mb4".into()),
            collation: collation.map(Into::into),
            nullable,
            precision: None,
            scale: None,
        }
    }

    fn index(name: &str, column: &str, non_unique: u64) -> (String, String, u64, Option<u64>) {
        (name.into(), column.into(), non_unique, None)
    }

    #[test]
    fn a_unique_not_null_index_is_the_key_when_there_is_no_primary_key() {
        let cols = [
            col("id", "int", None, true),
            col("code", "varchar(8)", Some("utf8mb4_bin"), false),
        ];
        let (key, name) = choose_key(
            &cols,
            &[
                index("by_id", "id", 0),
                index("by_code", "code", 0),
                index("x", "id", 1),
            ],
        );
        assert_eq!(name.as_deref(), Some("by_code"));
        assert_eq!(key[0].name, "code");
        assert!(choose_key(&cols, &[index("x", "id", 1)]).0.is_empty());
    }

    #[test]
    fn schema_differences_are_named_and_column_order_does_not_matter() {
        let key = col("id", "bigint", None, false);
        let source = TableShape {
            columns: vec![key.clone(), col("amount", "decimal(18,2)", None, false)],
            key: vec![key.clone()],
            key_name: Some("PRIMARY".into()),
        };
        let reordered = TableShape {
            columns: vec![col("AMOUNT", "decimal(18,2)", None, false), key.clone()],
            ..source.clone()
        };
        assert!(compare(&source, &reordered).is_empty());
        let target = TableShape {
            columns: vec![key.clone(), col("amount", "decimal(18,3)", None, false)],
            ..source.clone()
        };
        let diff = compare(&source, &target);
        assert_eq!(diff.changed[0].what, "type");
        assert_eq!(diff.changed[0].target, "decimal(18,3)");
        let extra = TableShape {
            columns: vec![key, col("note", "text", Some("utf8mb4_bin"), true)],
            ..source.clone()
        };
        let diff = compare(&source, &extra);
        assert_eq!(diff.missing_in_target, ["amount"]);
        assert_eq!(diff.missing_in_source, ["note"]);
    }

    #[test]
    fn a_changed_collation_matters_only_on_a_key_column() {
        let code = |c| col("code", "varchar(8)", Some(c), false);
        let shape = |c| TableShape {
            columns: vec![code(c), col("memo", "text", Some(c), true)],
            key: vec![code(c)],
            key_name: Some("PRIMARY".into()),
        };
        let diff = compare(&shape("utf8mb4_general_ci"), &shape("utf8mb4_bin"));
        assert_eq!(diff.changed.len(), 1);
        assert_eq!(diff.changed[0].what, "key collation");
    }
}
