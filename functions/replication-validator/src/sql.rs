//! The SQL the engine sends, built from a table's columns and key: the row fingerprint,
//! key-range predicates, chunk checksums and row pulls.
//!
//! Every statement is built once per table from the columns both sides share, sorted by
//! name, so source and target run the very same text and differ only in their data.
//!
//! # The row fingerprint
//!
//! A row becomes one string, `CONCAT_WS('|', ISNULL(n1), …, LENGTH(s1), …, c1, …, cn)`:
//! first a NULL flag for every nullable column, then the byte length of every text or
//! binary column (`CONCAT_WS` skips the length of a NULL, which the flags already say),
//! then every column's value. Read left to right that string decodes back into exactly one
//! row: the flags say which values are present, the lengths say where each text value
//! ends, and numbers and dates never hold a `|`. So NULL, the empty string and the text
//! `NULL` differ, and `'a|b','c'` cannot meet `'a','b|c'`. Text is labelled
//! `utf8mb4_bin` (converted to utf8mb4 first when a side stores another character set)
//! and hashed as bytes, never compared with `=`, so a case-only change or a trailing space
//! shows even under a case-insensitive pad-space collation. Binary values are hashed as
//! their bytes, DECIMAL as its exact text with its scale, DATETIME and TIMESTAMP with
//! their fractional seconds, TIMESTAMP in the pinned `+00:00` session time zone.
//!
//! The string is hashed by one of [`enum@Hash`]'s functions, chosen for both sides at once.

use std::fmt::Write as _;

use crate::schema::{Column, ColumnKind};

/// How the row fingerprint is computed; the same on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// `CRC32` in the high 32 bits and `CRC32C` in the low 32 bits (MariaDB 10.8+). The
    /// row string is built twice, so it costs about half again as much as [`Hash::Crc32`].
    Crc64,
    /// `CRC32` alone, the row checksum of pt-table-checksum: the fastest, but a changed
    /// row keeps its fingerprint with a chance of one in 2^32.
    Crc32,
    /// The first 64 bits of `MD5`: slow, but on every server (MySQL has no `CRC32C`).
    Md5,
}

/// A quoted identifier: backticks, with any backtick inside doubled.
#[must_use]
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A text column's value as utf8mb4 bytes under one binary collation, so columns of
/// different collations can be concatenated and nothing is compared by collation rules.
fn text_value(column: &Column) -> String {
    let name = ident(&column.name);
    if column.charset.as_deref() == Some("utf8mb4") {
        format!("{name} COLLATE utf8mb4_bin")
    } else {
        format!("CONVERT({name} USING utf8mb4) COLLATE utf8mb4_bin")
    }
}

/// The row string of `columns`: NULL flags, lengths, then values (see the module docs).
#[must_use]
pub fn row_string(columns: &[Column]) -> String {
    let mut parts = Vec::new();
    for c in columns.iter().filter(|c| c.nullable) {
        parts.push(format!("ISNULL({})", ident(&c.name)));
    }
    for c in columns {
        match c.kind() {
            ColumnKind::Text => parts.push(format!("LENGTH({})", text_value(c))),
            ColumnKind::Binary => parts.push(format!("LENGTH({})", ident(&c.name))),
            ColumnKind::Other => {}
        }
    }
    for c in columns {
        parts.push(match c.kind() {
            ColumnKind::Text => text_value(c),
            ColumnKind::Binary | ColumnKind::Other => ident(&c.name),
        });
    }
    format!("CONCAT_WS('|', {})", parts.join(", "))
}

/// The expression of a row's fingerprint (an unsigned BIGINT) over `columns`.
#[must_use]
pub fn row_fingerprint(columns: &[Column], hash: Hash) -> String {
    let row = row_string(columns);
    match hash {
        Hash::Crc64 => format!("((CRC32({row}) << 32) | CRC32C({row}))"),
        Hash::Crc32 => format!("CRC32({row})"),
        Hash::Md5 => format!("CAST(CONV(LEFT(MD5({row}), 16), 16, 10) AS UNSIGNED)"),
    }
}

/// The placeholder for a key column's value, cast where comparing with a bare parameter
/// would go through floating point (DECIMAL).
fn placeholder(column: &Column) -> String {
    if column.data_type == "decimal" {
        format!(
            "CAST(? AS DECIMAL({}, {}))",
            column.precision.unwrap_or(65),
            column.scale.unwrap_or(0)
        )
    } else {
        "?".to_owned()
    }
}

/// Which side of a bound a predicate keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    /// Keys strictly after the bound.
    After,
    /// Keys up to and including the bound.
    UpTo,
}

/// `key > bound` or `key <= bound` over a key of one or more columns, written out as
/// comparisons per column (`a >= ? AND (a > ? OR (a = ? AND b > ?))`), which both MariaDB
/// and MySQL turn into an index range scan. Returns the SQL and, for each `?` in order, the
/// index of the key part whose value it takes.
fn bound_predicate(key: &[Column], bound: Bound) -> (String, Vec<usize>) {
    let mut params = Vec::new();
    let last = key.len() - 1;
    let (strict, last_op) = match bound {
        Bound::After => (">", ">"),
        Bound::UpTo => ("<", "<="),
    };
    if last == 0 {
        params.push(0);
        return (
            format!("{} {last_op} {}", ident(&key[0].name), placeholder(&key[0])),
            params,
        );
    }
    let mut terms = Vec::with_capacity(key.len());
    for i in 0..key.len() {
        let mut term = String::new();
        for (j, column) in key.iter().enumerate().take(i) {
            let _ = write!(
                term,
                "{} = {} AND ",
                ident(&column.name),
                placeholder(column)
            );
            params.push(j);
        }
        let op = if i == last { last_op } else { strict };
        let _ = write!(
            term,
            "{} {op} {}",
            ident(&key[i].name),
            placeholder(&key[i])
        );
        params.push(i);
        terms.push(format!("({term})"));
    }
    let lead_op = match bound {
        Bound::After => ">=",
        Bound::UpTo => "<=",
    };
    let mut all = vec![0];
    all.extend(params);
    (
        format!(
            "{} {lead_op} {} AND ({})",
            ident(&key[0].name),
            placeholder(&key[0]),
            terms.join(" OR ")
        ),
        all,
    )
}

/// The `WHERE` clause (without the word) of a key range `(lower, upper]`; either end may be
/// open. Returns `1 = 1` for the whole table. The second value lists, for each `?`, whether
/// it takes the lower (`false`) or upper (`true`) bound and which key part.
#[must_use]
pub fn range_predicate(
    key: &[Column],
    has_lower: bool,
    has_upper: bool,
) -> (String, Vec<(bool, usize)>) {
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    if has_lower && !key.is_empty() {
        let (sql, p) = bound_predicate(key, Bound::After);
        clauses.push(format!("({sql})"));
        params.extend(p.into_iter().map(|i| (false, i)));
    }
    if has_upper && !key.is_empty() {
        let (sql, p) = bound_predicate(key, Bound::UpTo);
        clauses.push(format!("({sql})"));
        params.extend(p.into_iter().map(|i| (true, i)));
    }
    if clauses.is_empty() {
        ("1 = 1".to_owned(), params)
    } else {
        (clauses.join(" AND "), params)
    }
}

/// The `ORDER BY` list of the key.
#[must_use]
pub fn key_order(key: &[Column]) -> String {
    key.iter()
        .map(|c| ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The expression that writes a key part as text for the report: binary parts as
/// upper-case hex, everything else as its text in utf8mb4.
#[must_use]
pub fn key_text(column: &Column) -> String {
    let name = ident(&column.name);
    match column.kind() {
        ColumnKind::Binary => format!("HEX({name})"),
        ColumnKind::Text => format!("CONVERT({name} USING utf8mb4)"),
        ColumnKind::Other => format!("CAST({name} AS CHAR)"),
    }
}

/// The statements for one table, built once and run unchanged on both sides.
#[derive(Debug, Clone)]
pub struct TableSql {
    /// The table's quoted name, unqualified: each side's connection has its own database
    /// selected, and the two databases may be named differently.
    pub table: String,
    /// The row fingerprint expression.
    pub fingerprint: String,
    /// The key columns, in key order; empty for a table without a usable key.
    pub key: Vec<Column>,
}

impl TableSql {
    /// Statements for `table` with the shared `columns` (any order) and `key`.
    #[must_use]
    pub fn new(table: &str, columns: &[Column], key: &[Column], hash: Hash) -> Self {
        let mut sorted = columns.to_vec();
        sorted.sort_by_key(|c| c.name.to_lowercase());
        Self {
            table: ident(table),
            fingerprint: row_fingerprint(&sorted, hash),
            key: key.to_vec(),
        }
    }

    /// Count and XOR of the row fingerprints over a key range.
    #[must_use]
    pub fn checksum(&self, predicate: &str) -> String {
        format!(
            "SELECT COUNT(*), BIT_XOR({}) FROM {} WHERE {predicate}",
            self.fingerprint, self.table
        )
    }

    /// Count, XOR and exact sum of the row fingerprints of the whole table: the sum keeps
    /// duplicate rows of a table without a key from cancelling out.
    #[must_use]
    pub fn whole_table_checksum(&self) -> String {
        format!(
            "SELECT COUNT(*), BIT_XOR({fp}), CAST(SUM({fp}) AS CHAR) FROM {}",
            self.table,
            fp = self.fingerprint
        )
    }

    /// The key that follows `offset` rows after the lower bound (or the table's start).
    #[must_use]
    pub fn boundary(&self, predicate: &str) -> String {
        format!(
            "SELECT {order} FROM {} WHERE {predicate} ORDER BY {order} LIMIT 1 OFFSET ?",
            self.table,
            order = key_order(&self.key)
        )
    }

    /// Each row's key as text, its key as typed values, its fingerprint and, when
    /// `change_column` is given, how many microseconds ago that column says it changed.
    #[must_use]
    pub fn rows(&self, predicate: &str, change_column: Option<&str>) -> String {
        let mut select: Vec<String> = self.key.iter().map(key_text).collect();
        select.extend(self.key.iter().map(|c| ident(&c.name)));
        select.push(self.fingerprint.clone());
        select.push(change_column.map_or_else(
            || "NULL".to_owned(),
            |c| format!("TIMESTAMPDIFF(MICROSECOND, {}, NOW(6))", ident(c)),
        ));
        format!(
            "SELECT {} FROM {} WHERE {predicate}",
            select.join(", "),
            self.table
        )
    }

    /// The rows whose keys equal any of `count` keys, under the key's own collation.
    #[must_use]
    pub fn rows_by_keys(&self, count: usize, change_column: Option<&str>) -> String {
        let one: Vec<String> = self
            .key
            .iter()
            .map(|c| format!("{} = {}", ident(&c.name), placeholder(c)))
            .collect();
        let one = format!("({})", one.join(" AND "));
        let any = vec![one; count].join(" OR ");
        self.rows(&any, change_column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, data_type: &str) -> Column {
        let text = matches!(data_type, "varchar" | "char" | "text");
        Column {
            name: name.to_owned(),
            data_type: data_type.to_owned(),
            column_type: data_type.to_owned(),
            charset: text.then(|| "utf8mb4".to_owned()),
            collation: text.then(|| "utf8mb4_general_ci".to_owned()),
            nullable: true,
            precision: (data_type == "decimal").then_some(18),
            scale: (data_type == "decimal").then_some(2),
        }
    }

    #[test]
    fn identifiers_are_quoted_with_backticks_doubled() {
        assert_eq!(ident("a`b"), "`a``b`");
    }

    #[test]
    fn nulls_are_flagged_and_text_lengths_precede_the_values() {
        let mut id = column("id", "bigint");
        id.nullable = false;
        let sql = row_string(&[id, column("memo", "varchar"), column("raw", "varbinary")]);
        assert_eq!(
            sql,
            "CONCAT_WS('|', ISNULL(`memo`), ISNULL(`raw`), \
             LENGTH(`memo` COLLATE utf8mb4_bin), LENGTH(`raw`), \
             `id`, `memo` COLLATE utf8mb4_bin, `raw`)"
        );
        let mut latin = column("name", "varchar");
        latin.charset = Some("latin1".into());
        assert!(row_string(&[latin]).contains("CONVERT(`name` USING utf8mb4) COLLATE utf8mb4_bin"));
        let row = row_string(&[column("id", "bigint")]);
        assert_eq!(
            row_fingerprint(&[column("id", "bigint")], Hash::Crc64),
            format!("((CRC32({row}) << 32) | CRC32C({row}))")
        );
        assert!(row_fingerprint(&[column("id", "bigint")], Hash::Md5).starts_with("CAST(CONV("));
    }

    #[test]
    fn the_same_columns_in_another_order_give_the_same_sql() {
        let a = [column("b", "int"), column("A", "varchar")];
        let b = [column("A", "varchar"), column("b", "int")];
        let key = [column("b", "int")];
        assert_eq!(
            TableSql::new("t", &a, &key, Hash::Crc64).fingerprint,
            TableSql::new("t", &b, &key, Hash::Crc64).fingerprint
        );
    }

    #[test]
    fn a_single_column_range_is_a_plain_comparison() {
        let key = [column("id", "bigint")];
        let (sql, params) = range_predicate(&key, true, true);
        assert_eq!(sql, "(`id` > ?) AND (`id` <= ?)");
        assert_eq!(params, [(false, 0), (true, 0)]);
        assert_eq!(range_predicate(&key, false, false).0, "1 = 1");
    }

    #[test]
    fn a_composite_range_expands_per_column_with_a_leading_range() {
        let key = [column("a", "varchar"), column("b", "decimal")];
        let (sql, params) = range_predicate(&key, true, false);
        assert_eq!(
            sql,
            "(`a` >= ? AND ((`a` > ?) OR (`a` = ? AND `b` > CAST(? AS DECIMAL(18, 2)))))"
        );
        assert_eq!(params, [(false, 0), (false, 0), (false, 0), (false, 1)]);
        let (upper, params) = range_predicate(&key, false, true);
        assert_eq!(
            upper,
            "(`a` <= ? AND ((`a` < ?) OR (`a` = ? AND `b` <= CAST(? AS DECIMAL(18, 2)))))"
        );
        assert_eq!(params, [(true, 0), (true, 0), (true, 0), (true, 1)]);
    }

    #[test]
    fn binary_key_parts_are_written_as_hex() {
        assert_eq!(key_text(&column("k", "varbinary")), "HEX(`k`)");
        assert_eq!(key_text(&column("d", "datetime")), "CAST(`d` AS CHAR)");
    }
}
