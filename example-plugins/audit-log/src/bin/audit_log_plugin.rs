//! `audit-log` as a plugin process (`[plugins.audit-log] mode = "process"`).

flovyn_sdk::process::main!(audit_log::AuditLog);
