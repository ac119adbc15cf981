//! Values, rows and results as they cross the process boundary: sqlx's `Any` types ⇄ the
//! `flovyn.plugin.v1` messages of `host.proto`. Both sides use these functions (the plugin
//! in [`super::host`], the server through [`crate::host::storage`]), so a value reads back as
//! what was sent.
//!
//! sqlx builds `AnyRow`s only inside its own drivers; the fields used here are public but
//! documented as outside sqlx's semver promise, which is why `sqlx-core` is pinned to the
//! same version as `sqlx` and why this is the only module that touches them.

use std::sync::Arc;

use flovyn_protocol::pb;
use pb::value::Kind;
use sqlx::any::{AnyArguments, AnyQueryResult, AnyRow, AnyTypeInfo, AnyTypeInfoKind, AnyValue};
use sqlx_core::any::{AnyArgumentBuffer, AnyColumn, AnyValueKind};
use sqlx_core::ext::ustr::UStr;

fn type_to_wire(kind: AnyTypeInfoKind) -> pb::ValueType {
    match kind {
        AnyTypeInfoKind::Null => pb::ValueType::Null,
        AnyTypeInfoKind::Bool => pb::ValueType::Bool,
        AnyTypeInfoKind::SmallInt => pb::ValueType::SmallInt,
        AnyTypeInfoKind::Integer => pb::ValueType::Integer,
        AnyTypeInfoKind::BigInt => pb::ValueType::BigInt,
        AnyTypeInfoKind::Real => pb::ValueType::Real,
        AnyTypeInfoKind::Double => pb::ValueType::Double,
        AnyTypeInfoKind::Text => pb::ValueType::Text,
        AnyTypeInfoKind::Blob => pb::ValueType::Blob,
    }
}

fn type_from_wire(kind: i32) -> AnyTypeInfoKind {
    match pb::ValueType::try_from(kind).unwrap_or(pb::ValueType::Null) {
        pb::ValueType::Null => AnyTypeInfoKind::Null,
        pb::ValueType::Bool => AnyTypeInfoKind::Bool,
        pb::ValueType::SmallInt => AnyTypeInfoKind::SmallInt,
        pb::ValueType::Integer => AnyTypeInfoKind::Integer,
        pb::ValueType::BigInt => AnyTypeInfoKind::BigInt,
        pb::ValueType::Real => AnyTypeInfoKind::Real,
        pb::ValueType::Double => AnyTypeInfoKind::Double,
        pb::ValueType::Text => AnyTypeInfoKind::Text,
        pb::ValueType::Blob => AnyTypeInfoKind::Blob,
    }
}

/// One value, as sent.
pub(crate) fn value_to_wire(value: &AnyValueKind) -> pb::Value {
    let kind = match value {
        AnyValueKind::Null(kind) => Kind::Null(type_to_wire(*kind).into()),
        AnyValueKind::Bool(v) => Kind::Bool(*v),
        AnyValueKind::SmallInt(v) => Kind::SmallInt(i32::from(*v)),
        AnyValueKind::Integer(v) => Kind::Integer(*v),
        AnyValueKind::BigInt(v) => Kind::BigInt(*v),
        AnyValueKind::Real(v) => Kind::Real(*v),
        AnyValueKind::Double(v) => Kind::Double(*v),
        AnyValueKind::Text(v) => Kind::Text(v.as_str().to_owned()),
        AnyValueKind::TextSlice(v) => Kind::Text(v.as_ref().to_owned()),
        AnyValueKind::Blob(v) => Kind::Blob(v.as_slice().to_vec()),
        // A kind a later sqlx adds: refused by the other side as a missing value.
        _ => return pb::Value { kind: None },
    };
    pb::Value { kind: Some(kind) }
}

/// One value, as received; `None` when the message carries none.
pub(crate) fn value_from_wire(value: pb::Value) -> Result<AnyValueKind, String> {
    Ok(match value.kind.ok_or("a value without a kind")? {
        Kind::Null(kind) => AnyValueKind::Null(type_from_wire(kind)),
        Kind::Bool(v) => AnyValueKind::Bool(v),
        Kind::SmallInt(v) => AnyValueKind::SmallInt(
            i16::try_from(v).map_err(|_| format!("{v} is out of range for a SMALLINT"))?,
        ),
        Kind::Integer(v) => AnyValueKind::Integer(v),
        Kind::BigInt(v) => AnyValueKind::BigInt(v),
        Kind::Real(v) => AnyValueKind::Real(v),
        Kind::Double(v) => AnyValueKind::Double(v),
        Kind::Text(v) => AnyValueKind::Text(Arc::new(v)),
        Kind::Blob(v) => AnyValueKind::Blob(Arc::new(v)),
    })
}

/// A statement's bound arguments, as sent.
pub(crate) fn arguments_to_wire(arguments: Option<&AnyArguments>) -> Vec<pb::Value> {
    arguments
        .map(|a| a.values.0.iter().map(value_to_wire).collect())
        .unwrap_or_default()
}

/// A statement's arguments, as received, ready to bind.
pub(crate) fn arguments_from_wire(values: Vec<pb::Value>) -> Result<AnyArguments, String> {
    let values = values
        .into_iter()
        .map(value_from_wire)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(AnyArguments {
        values: AnyArgumentBuffer(values),
    })
}

/// Everything a statement produced, as sent: its columns (from the first row), rows, and
/// the summed result.
pub(crate) fn result_to_wire(rows: &[AnyRow], done: &AnyQueryResult) -> pb::StatementResult {
    let columns = rows
        .first()
        .map(|row| {
            row.columns
                .iter()
                .map(|column| pb::Column {
                    name: column.name.to_string(),
                    r#type: type_to_wire(column.type_info.kind).into(),
                })
                .collect()
        })
        .unwrap_or_default();
    pb::StatementResult {
        columns,
        rows: rows
            .iter()
            .map(|row| pb::Row {
                values: row.values.iter().map(|v| value_to_wire(&v.kind)).collect(),
            })
            .collect(),
        rows_affected: done.rows_affected,
        last_insert_id: done.last_insert_id,
    }
}

/// A statement's rows and result, as received.
pub(crate) fn result_from_wire(
    result: pb::StatementResult,
) -> Result<(Vec<AnyRow>, AnyQueryResult), String> {
    let columns: Vec<AnyColumn> = result
        .columns
        .into_iter()
        .enumerate()
        .map(|(ordinal, column)| AnyColumn {
            ordinal,
            name: UStr::new(&column.name),
            type_info: AnyTypeInfo {
                kind: type_from_wire(column.r#type),
            },
        })
        .collect();
    let names: Arc<sqlx_core::HashMap<UStr, usize>> = Arc::new(
        columns
            .iter()
            .map(|column| (column.name.clone(), column.ordinal))
            .collect(),
    );
    let rows = result
        .rows
        .into_iter()
        .map(|row| {
            if row.values.len() != columns.len() {
                return Err(format!(
                    "a row of {} values for {} columns",
                    row.values.len(),
                    columns.len()
                ));
            }
            let values = row
                .values
                .into_iter()
                .map(|v| value_from_wire(v).map(|kind| AnyValue { kind }))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(AnyRow {
                column_names: names.clone(),
                columns: columns.clone(),
                values,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let done = AnyQueryResult {
        rows_affected: result.rows_affected,
        last_insert_id: result.last_insert_id,
    };
    Ok((rows, done))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row as _;

    #[test]
    fn every_value_kind_reads_back_as_sent() {
        let sent = vec![
            AnyValueKind::Null(AnyTypeInfoKind::Text),
            AnyValueKind::Bool(true),
            AnyValueKind::SmallInt(-7),
            AnyValueKind::Integer(1 << 20),
            AnyValueKind::BigInt(i64::MIN),
            AnyValueKind::Real(1.5),
            AnyValueKind::Double(-2.25),
            AnyValueKind::Text(Arc::new("héllo".to_owned())),
            AnyValueKind::Blob(Arc::new(vec![0, 255, 7])),
        ];
        let wire: Vec<pb::Value> = sent.iter().map(value_to_wire).collect();
        let back = arguments_from_wire(wire).unwrap();
        assert_eq!(format!("{:?}", back.values.0), format!("{sent:?}"));
    }

    #[test]
    fn rows_decode_by_name_and_position() {
        let result = pb::StatementResult {
            columns: vec![
                pb::Column {
                    name: "id".into(),
                    r#type: pb::ValueType::BigInt.into(),
                },
                pb::Column {
                    name: "name".into(),
                    r#type: pb::ValueType::Text.into(),
                },
            ],
            rows: vec![pb::Row {
                values: vec![
                    value_to_wire(&AnyValueKind::BigInt(42)),
                    value_to_wire(&AnyValueKind::Null(AnyTypeInfoKind::Text)),
                ],
            }],
            rows_affected: 1,
            last_insert_id: None,
        };
        let (rows, done) = result_from_wire(result).unwrap();
        assert_eq!(done.rows_affected, 1);
        let row = &rows[0];
        assert_eq!(row.try_get::<i64, _>("id").unwrap(), 42);
        assert_eq!(row.try_get::<Option<String>, _>(1).unwrap(), None);
        assert!(row.try_get::<i64, _>("missing").is_err());
    }

    #[test]
    fn malformed_results_are_errors() {
        let result = pb::StatementResult {
            columns: vec![],
            rows: vec![pb::Row {
                values: vec![value_to_wire(&AnyValueKind::Bool(true))],
            }],
            rows_affected: 0,
            last_insert_id: None,
        };
        assert_eq!(
            result_from_wire(result).err().as_deref(),
            Some("a row of 1 values for 0 columns")
        );
        assert!(value_from_wire(pb::Value { kind: None }).is_err());
        assert!(
            value_from_wire(pb::Value {
                kind: Some(Kind::SmallInt(70_000))
            })
            .is_err()
        );
    }
}
