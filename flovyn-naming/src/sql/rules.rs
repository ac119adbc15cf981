//! The migration rules, applied to one parsed statement at a time.
//!
//! Owns the decision, for every statement kind sqlparser 0.63 can produce, of what it
//! touches and whether a plugin may do that. The match over [`Statement`] lists every
//! variant on purpose: upgrading sqlparser then fails to compile until each new statement
//! kind has been classified, instead of silently allowing it.

use sqlparser::ast::{
    AlterIndexOperation, AlterTableOperation, ColumnDef, ColumnOption, CommentObject,
    ConditionalStatements, CopySource, CopyTarget, CreateFunctionBody, ObjectName, ObjectType,
    Query, RenameTableNameKind, Select, Set, SetExpr, Statement, TableConstraint, TableFactor,
    TableObject, TableWithJoins,
};

use super::ViolationKind;
use super::names::{self, Namespace, Owner};

// Actions, as they read in "every table a plugin migration <action> must start with …".
// A trailing noun (` view`, ` sequence`, ` index`) names what is touched when it is not a
// table; `SqlViolation`'s `Display` splits it off again.
pub(super) const CREATES: &str = "creates";
const ALTERS: &str = "alters";
const DROPS: &str = "drops";
const RENAMES: &str = "renames";
pub(super) const RENAMES_TO: &str = "renames to";
const INDEXES: &str = "indexes";
const INSERTS_INTO: &str = "inserts into";
const UPDATES: &str = "updates";
const DELETES_FROM: &str = "deletes from";
const TRUNCATES: &str = "truncates";
const MERGES_INTO: &str = "merges into";
const COPIES_INTO: &str = "copies into";
const LOADS_INTO: &str = "loads into";
const COMMENTS_ON: &str = "comments on";
pub(super) const REFERENCES: &str = "references";
const INHERITS_FROM: &str = "inherits from";
const PARTITIONS: &str = "creates a partition of";
const SWAPS_WITH: &str = "swaps with";
const OPTIMIZES: &str = "optimizes";
const REPAIRS: &str = "repairs";
const CREATES_TRIGGER_ON: &str = "creates a trigger on";
const DROPS_TRIGGER_ON: &str = "drops a trigger on";
const CREATES_POLICY_ON: &str = "creates a policy on";
const ALTERS_POLICY_ON: &str = "alters a policy on";
const DROPS_POLICY_ON: &str = "drops a policy on";
const DROPS_INDEX_ON: &str = "drops an index on";
const CREATES_VIEW: &str = "creates view";
const ALTERS_VIEW: &str = "alters view";
const DROPS_VIEW: &str = "drops view";
const COMMENTS_ON_VIEW: &str = "comments on view";
const CREATES_SEQUENCE: &str = "creates sequence";
const DROPS_SEQUENCE: &str = "drops sequence";
const COMMENTS_ON_SEQUENCE: &str = "comments on sequence";
const CREATES_INDEX: &str = "creates index";
const DROPS_INDEX: &str = "drops index";
const RENAMES_INDEX: &str = "renames index";
const COMMENTS_ON_INDEX: &str = "comments on index";

/// Walks statements and collects what they break.
#[derive(Debug)]
pub(super) struct Checker<'a> {
    namespace: &'a Namespace,
    pub(super) violations: Vec<ViolationKind>,
    /// Tables created by `CREATE TABLE`, `CREATE VIRTUAL TABLE` and `SELECT … INTO`, in order.
    pub(super) created: Vec<String>,
}

impl<'a> Checker<'a> {
    pub(super) fn new(namespace: &'a Namespace) -> Self {
        Self {
            namespace,
            violations: Vec::new(),
            created: Vec::new(),
        }
    }

    fn forbid(&mut self, what: &str) {
        self.violations.push(ViolationKind::Forbidden {
            what: what.to_owned(),
        });
    }

    /// A table-like relation the statement creates, changes or writes: it must be ours.
    fn relation(&mut self, action: &'static str, name: &ObjectName) {
        let table = names::table_name(name);
        self.owned(action, table);
    }

    fn owned(&mut self, action: &'static str, table: String) {
        if action == CREATES {
            self.created.push(table.clone());
        }
        match self.namespace.owner(&table) {
            Owner::Own => {}
            Owner::Other(owner) => self.foreign(action, table, Some(owner)),
            Owner::Unprefixed => self.foreign(action, table, None),
        }
    }

    /// A name that may be unprefixed (core tables, index names) but must not carry another
    /// plugin's prefix.
    fn not_foreign(&mut self, action: &'static str, table: String) {
        if let Owner::Other(owner) = self.namespace.owner(&table) {
            self.foreign(action, table, Some(owner));
        }
    }

    fn foreign(&mut self, action: &'static str, table: String, owner: Option<String>) {
        let expected = self.namespace.suggestion(&table);
        self.violations.push(ViolationKind::ForeignTable {
            action,
            table,
            expected,
            owner,
        });
    }

    fn reference(&mut self, name: &ObjectName) {
        self.not_foreign(REFERENCES, names::table_name(name));
    }

    fn column(&mut self, column: &ColumnDef) {
        for option in &column.options {
            self.column_option(&option.option);
        }
    }

    fn column_option(&mut self, option: &ColumnOption) {
        if let ColumnOption::ForeignKey(key) = option {
            self.reference(&key.foreign_table);
        }
    }

    fn constraint(&mut self, constraint: &TableConstraint) {
        if let TableConstraint::ForeignKey(key) = constraint {
            self.reference(&key.foreign_table);
        }
    }

    /// The target of `UPDATE`, `DELETE` or `MERGE`.
    fn target(&mut self, action: &'static str, keyword: &str, factor: &TableFactor) {
        match factor {
            TableFactor::Table { name, .. } => self.relation(action, name),
            _ => self.forbid(&format!("{keyword} (SELECT …)")),
        }
    }

    fn targets(&mut self, action: &'static str, keyword: &str, tables: &[TableWithJoins]) {
        for table in tables {
            self.target(action, keyword, &table.relation);
            // MySQL's multi-table forms can write to any joined table.
            for join in &table.joins {
                self.target(action, keyword, &join.relation);
            }
        }
    }

    fn statements(&mut self, statements: &[Statement]) {
        for statement in statements {
            self.statement(statement);
        }
    }

    fn conditional(&mut self, statements: &ConditionalStatements) {
        self.statements(statements.statements());
    }

    /// Queries are read-only except for data-modifying `WITH` parts and `SELECT … INTO`,
    /// which PostgreSQL only allows at the top of a query (not in sub-queries), so only the
    /// `WITH` list and the body's set operations are walked.
    fn query(&mut self, query: &Query) {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.query(&cte.query);
            }
        }
        self.set_expr(&query.body);
    }

    fn set_expr(&mut self, expr: &SetExpr) {
        match expr {
            SetExpr::Select(select) => self.select(select),
            SetExpr::Query(query) => self.query(query),
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left);
                self.set_expr(right);
            }
            SetExpr::Insert(statement)
            | SetExpr::Update(statement)
            | SetExpr::Delete(statement)
            | SetExpr::Merge(statement) => self.statement(statement),
            SetExpr::Values(_) | SetExpr::Table(_) => {}
        }
    }

    /// `SELECT … INTO t` creates `t` (PostgreSQL); the rest of a select only reads.
    fn select(&mut self, select: &Select) {
        if let Some(into) = &select.into {
            for target in &into.targets {
                if let Some(table) = names::table_name_of_expr(target) {
                    self.owned(CREATES, table);
                }
            }
        }
    }

    pub(super) fn statement(&mut self, statement: &Statement) {
        match statement {
            // ---- creating relations ----
            Statement::CreateTable(create) => {
                self.relation(CREATES, &create.name);
                for column in &create.columns {
                    self.column(column);
                }
                for constraint in &create.constraints {
                    self.constraint(constraint);
                }
                // Rows of a child table show up in its parent's queries, and a partition
                // is part of its parent: both write into the parent.
                for parent in create.inherits.iter().flatten() {
                    self.relation(INHERITS_FROM, parent);
                }
                if let Some(parent) = &create.partition_of {
                    self.relation(PARTITIONS, parent);
                }
                if let Some(query) = &create.query {
                    self.query(query);
                }
            }
            Statement::CreateVirtualTable { name, .. } => self.relation(CREATES, name),
            Statement::CreateView(view) => {
                self.relation(CREATES_VIEW, &view.name);
                if let Some(to) = &view.to {
                    self.relation(INSERTS_INTO, to);
                }
                self.query(&view.query);
            }
            Statement::CreateSequence { name, .. } => self.relation(CREATES_SEQUENCE, name),
            Statement::CreateIndex(index) => {
                self.relation(INDEXES, &index.table_name);
                if let Some(name) = &index.name {
                    self.not_foreign(CREATES_INDEX, names::table_name(name));
                }
                if index.concurrently {
                    self.forbid("CREATE INDEX CONCURRENTLY");
                }
            }
            Statement::CreateTrigger(trigger) => {
                self.relation(CREATES_TRIGGER_ON, &trigger.table_name);
                if let Some(from) = &trigger.referenced_table_name {
                    self.reference(from);
                }
                if let Some(body) = &trigger.statements {
                    self.conditional(body);
                }
            }
            Statement::CreatePolicy(policy) => {
                self.relation(CREATES_POLICY_ON, &policy.table_name);
            }

            // ---- changing relations ----
            Statement::AlterTable(alter) => {
                let renamed = alter
                    .operations
                    .iter()
                    .any(|op| matches!(op, AlterTableOperation::RenameTable { .. }));
                self.relation(if renamed { RENAMES } else { ALTERS }, &alter.name);
                for operation in &alter.operations {
                    self.alter_table_operation(operation);
                }
            }
            Statement::AlterView { name, query, .. } => {
                self.relation(ALTERS_VIEW, name);
                self.query(query);
            }
            Statement::AlterIndex { name, operation } => {
                self.not_foreign(RENAMES_INDEX, names::table_name(name));
                let AlterIndexOperation::RenameIndex { index_name } = operation;
                self.not_foreign(RENAMES_INDEX, names::table_name(index_name));
            }
            Statement::AlterPolicy(policy) => self.relation(ALTERS_POLICY_ON, &policy.table_name),
            Statement::RenameTable(renames) => {
                for rename in renames {
                    self.relation(RENAMES, &rename.old_name);
                    self.relation(RENAMES_TO, &rename.new_name);
                }
            }
            Statement::Comment {
                object_type,
                object_name,
                ..
            } => match object_type {
                CommentObject::Table => self.relation(COMMENTS_ON, object_name),
                CommentObject::View | CommentObject::MaterializedView => {
                    self.relation(COMMENTS_ON_VIEW, object_name);
                }
                CommentObject::Sequence => self.relation(COMMENTS_ON_SEQUENCE, object_name),
                CommentObject::Column => {
                    if let Some(table) = names::table_of_column(object_name) {
                        self.owned(COMMENTS_ON, table);
                    }
                }
                CommentObject::Index => {
                    self.not_foreign(COMMENTS_ON_INDEX, names::table_name(object_name));
                }
                CommentObject::Collation
                | CommentObject::Database
                | CommentObject::Domain
                | CommentObject::Extension
                | CommentObject::Function
                | CommentObject::Procedure
                | CommentObject::Role
                | CommentObject::Schema
                | CommentObject::Type
                | CommentObject::User => {}
            },

            // ---- removing relations ----
            Statement::Drop {
                object_type,
                names,
                table,
                ..
            } => self.drop(*object_type, names, table.as_ref()),
            Statement::DropTrigger(drop) => {
                if let Some(table) = &drop.table_name {
                    self.relation(DROPS_TRIGGER_ON, table);
                }
            }
            Statement::DropPolicy(drop) => self.relation(DROPS_POLICY_ON, &drop.table_name),

            // ---- writing rows ----
            Statement::Insert(insert) => {
                match &insert.table {
                    TableObject::TableName(name) => self.relation(INSERTS_INTO, name),
                    TableObject::TableFunction(_) => self.forbid("INSERT INTO TABLE FUNCTION"),
                    TableObject::TableQuery(_) => self.forbid("INSERT INTO (SELECT …)"),
                }
                for clause in insert
                    .multi_table_into_clauses
                    .iter()
                    .chain(
                        insert
                            .multi_table_when_clauses
                            .iter()
                            .flat_map(|when| &when.into_clauses),
                    )
                    .chain(insert.multi_table_else_clause.iter().flatten())
                {
                    self.relation(INSERTS_INTO, &clause.table_name);
                }
                if let Some(source) = &insert.source {
                    self.query(source);
                }
            }
            Statement::Update(update) => {
                self.targets(UPDATES, "UPDATE", std::slice::from_ref(&update.table));
            }
            Statement::Delete(delete) => {
                if delete.tables.is_empty() {
                    let from = match &delete.from {
                        sqlparser::ast::FromTable::WithFromKeyword(from)
                        | sqlparser::ast::FromTable::WithoutKeyword(from) => from,
                    };
                    for table in from {
                        self.target(DELETES_FROM, "DELETE FROM", &table.relation);
                    }
                } else {
                    for name in &delete.tables {
                        self.relation(DELETES_FROM, name);
                    }
                }
            }
            Statement::Truncate(truncate) => {
                for target in &truncate.table_names {
                    self.relation(TRUNCATES, &target.name);
                }
            }
            Statement::Merge(merge) => self.target(MERGES_INTO, "MERGE INTO", &merge.table),
            Statement::Copy {
                source, to, target, ..
            } => {
                match (target, to) {
                    (CopyTarget::Program { .. }, true) => self.forbid("COPY TO PROGRAM"),
                    (CopyTarget::Program { .. }, false) => self.forbid("COPY FROM PROGRAM"),
                    (CopyTarget::File { .. }, true) => self.forbid("COPY TO a file"),
                    (CopyTarget::File { .. }, false) => self.forbid("COPY FROM a file"),
                    (CopyTarget::Stdin | CopyTarget::Stdout, _) => {}
                }
                match source {
                    CopySource::Table { table_name, .. } if !to => {
                        self.relation(COPIES_INTO, table_name);
                    }
                    CopySource::Table { .. } => {}
                    CopySource::Query(query) => self.query(query),
                }
            }
            Statement::CopyIntoSnowflake { into, .. } => self.relation(COPIES_INTO, into),
            Statement::LoadData { table_name, .. } => self.relation(LOADS_INTO, table_name),
            Statement::OptimizeTable { name, .. } => self.relation(OPTIMIZES, name),
            Statement::Msck(msck) => self.relation(REPAIRS, &msck.table_name),
            Statement::Query(query) => self.query(query),

            // ---- statements that carry other statements ----
            Statement::Explain {
                analyze, statement, ..
            } => {
                // `EXPLAIN ANALYZE` runs the statement; plain `EXPLAIN` only plans it.
                if *analyze {
                    self.statement(statement);
                }
            }
            // The prepared statement runs at `EXECUTE`, which cannot be checked by itself.
            Statement::Prepare { statement, .. } => self.statement(statement),
            Statement::Case(case) => {
                for block in case.when_blocks.iter().chain(&case.else_block) {
                    self.conditional(&block.conditional_statements);
                }
            }
            Statement::If(if_statement) => {
                let blocks = std::iter::once(&if_statement.if_block)
                    .chain(&if_statement.elseif_blocks)
                    .chain(&if_statement.else_block);
                for block in blocks {
                    self.conditional(&block.conditional_statements);
                }
            }
            Statement::While(while_statement) => {
                self.conditional(&while_statement.while_block.conditional_statements);
            }
            Statement::CreateProcedure { body, .. } => self.conditional(body),
            Statement::CreateFunction(function) => match &function.function_body {
                Some(CreateFunctionBody::AsBeginEnd(block)) => self.statements(&block.statements),
                Some(CreateFunctionBody::AsReturnSelect(select)) => self.select(select),
                // Bodies given as strings (`AS $$ … $$`) are not parsed by sqlparser, so
                // they cannot be checked; see the module docs.
                Some(
                    CreateFunctionBody::AsBeforeOptions { .. }
                    | CreateFunctionBody::AsAfterOptions(_)
                    | CreateFunctionBody::Return(_)
                    | CreateFunctionBody::AsReturnExpr(_),
                )
                | None => {}
            },

            // ---- forbidden: outside the plugin's namespace ----
            Statement::CreateSchema { .. } => self.forbid("CREATE SCHEMA"),
            Statement::AlterSchema(_) => self.forbid("ALTER SCHEMA"),
            Statement::CreateDatabase { .. } => self.forbid("CREATE DATABASE"),
            Statement::AttachDatabase { .. } | Statement::AttachDuckDBDatabase { .. } => {
                self.forbid("ATTACH DATABASE");
            }
            Statement::DetachDuckDBDatabase { .. } => self.forbid("DETACH DATABASE"),
            Statement::Use(_) => self.forbid("USE"),
            Statement::CreateServer(_) => self.forbid("CREATE SERVER"),
            Statement::Directory { .. } => self.forbid("INSERT OVERWRITE DIRECTORY"),
            Statement::Unload { .. } => self.forbid("UNLOAD"),
            Statement::ExportData(_) => self.forbid("EXPORT DATA"),

            // ---- forbidden: privileges ----
            Statement::Grant(_) => self.forbid("GRANT"),
            Statement::Revoke(_) => self.forbid("REVOKE"),
            Statement::Deny(_) => self.forbid("DENY"),
            Statement::CreateRole(_) => self.forbid("CREATE ROLE"),
            Statement::AlterRole { .. } => self.forbid("ALTER ROLE"),
            Statement::CreateUser(_) => self.forbid("CREATE USER"),
            Statement::AlterUser(_) => self.forbid("ALTER USER"),

            // ---- forbidden: database-wide settings and extensions ----
            Statement::CreateExtension(_) => self.forbid("CREATE EXTENSION"),
            Statement::DropExtension(_) => self.forbid("DROP EXTENSION"),
            Statement::Install { .. } => self.forbid("INSTALL"),
            Statement::Load { .. } => self.forbid("LOAD"),
            Statement::Pragma { .. } => self.forbid("PRAGMA"),
            Statement::Set(set) => self.set(set),
            Statement::Kill { .. } => self.forbid("KILL"),
            Statement::Flush { .. } => self.forbid("FLUSH"),
            Statement::Execute { immediate, .. } => {
                if *immediate {
                    self.forbid("EXECUTE IMMEDIATE");
                }
            }

            // ---- forbidden: the server owns the transaction ----
            Statement::StartTransaction { begin, .. } => {
                self.forbid(if *begin { "BEGIN" } else { "START TRANSACTION" });
            }
            Statement::Commit { end, .. } => self.forbid(if *end { "END" } else { "COMMIT" }),
            Statement::Rollback { savepoint, .. } => {
                // `ROLLBACK TO SAVEPOINT` stays inside the transaction.
                if savepoint.is_none() {
                    self.forbid("ROLLBACK");
                }
            }
            Statement::Vacuum(_) => self.forbid("VACUUM"),

            // ---- allowed: no table is written, or only objects outside this crate's rules
            // (functions, types, operators, …; see the module docs) ----
            Statement::Analyze(_)
            | Statement::Raise(_)
            | Statement::Call(_)
            | Statement::Open(_)
            | Statement::Close { .. }
            | Statement::CreateSecret { .. }
            | Statement::CreateConnector(_)
            | Statement::CreateOperator(_)
            | Statement::CreateOperatorFamily(_)
            | Statement::CreateOperatorClass(_)
            | Statement::CreateTextSearch(_)
            | Statement::AlterFunction(_)
            | Statement::AlterType(_)
            | Statement::AlterCollation(_)
            | Statement::AlterOperator(_)
            | Statement::AlterOperatorFamily(_)
            | Statement::AlterOperatorClass(_)
            | Statement::AlterTextSearch(_)
            | Statement::AlterConnector { .. }
            | Statement::AlterSession { .. }
            | Statement::DropFunction(_)
            | Statement::DropDomain(_)
            | Statement::DropProcedure { .. }
            | Statement::DropSecret { .. }
            | Statement::DropConnector { .. }
            | Statement::Declare { .. }
            | Statement::CreateCollation(_)
            | Statement::DropOperator(_)
            | Statement::DropOperatorFamily(_)
            | Statement::DropOperatorClass(_)
            | Statement::Fetch { .. }
            | Statement::Discard { .. }
            | Statement::ShowFunctions { .. }
            | Statement::ShowVariable { .. }
            | Statement::ShowStatus { .. }
            | Statement::ShowVariables { .. }
            | Statement::ShowCreate { .. }
            | Statement::ShowColumns { .. }
            | Statement::ShowCatalogs { .. }
            | Statement::ShowDatabases { .. }
            | Statement::ShowProcessList { .. }
            | Statement::ShowSchemas { .. }
            | Statement::ShowCharset(_)
            | Statement::ShowObjects(_)
            | Statement::ShowTables { .. }
            | Statement::ShowViews { .. }
            | Statement::ShowCollation { .. }
            | Statement::CreateMacro { .. }
            | Statement::CreateStage { .. }
            | Statement::CreateFileFormat { .. }
            | Statement::CreateWarehouse(_)
            | Statement::Assert { .. }
            | Statement::Deallocate { .. }
            | Statement::ExplainTable { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. }
            | Statement::Cache { .. }
            | Statement::UNCache { .. }
            | Statement::CreateDomain(_)
            | Statement::CreateType { .. }
            | Statement::Lock(_)
            | Statement::LockTables { .. }
            | Statement::UnlockTables
            | Statement::LISTEN { .. }
            | Statement::UNLISTEN { .. }
            | Statement::NOTIFY { .. }
            | Statement::List(_)
            | Statement::Put { .. }
            | Statement::Remove(_)
            | Statement::RaisError { .. }
            | Statement::Throw(_)
            | Statement::Print(_)
            | Statement::WaitFor(_)
            | Statement::Return(_)
            | Statement::Reset(_) => {}
        }
    }

    fn alter_table_operation(&mut self, operation: &AlterTableOperation) {
        match operation {
            AlterTableOperation::RenameTable { table_name } => {
                let (RenameTableNameKind::To(name) | RenameTableNameKind::As(name)) = table_name;
                self.relation(RENAMES_TO, name);
            }
            AlterTableOperation::SwapWith { table_name } => self.relation(SWAPS_WITH, table_name),
            AlterTableOperation::AddConstraint { constraint, .. } => self.constraint(constraint),
            AlterTableOperation::AddColumn { column_def, .. } => self.column(column_def),
            AlterTableOperation::ChangeColumn { options, .. }
            | AlterTableOperation::ModifyColumn { options, .. } => {
                for option in options {
                    self.column_option(option);
                }
            }
            AlterTableOperation::OwnerTo { .. } => self.forbid("ALTER TABLE … OWNER TO"),
            // Everything else changes only the table being altered, which is checked.
            _ => {}
        }
    }

    fn drop(&mut self, object_type: ObjectType, names: &[ObjectName], table: Option<&ObjectName>) {
        let each = |checker: &mut Self, action| {
            for name in names {
                checker.relation(action, name);
            }
        };
        match object_type {
            ObjectType::Table => each(self, DROPS),
            ObjectType::View | ObjectType::MaterializedView => each(self, DROPS_VIEW),
            ObjectType::Sequence => each(self, DROPS_SEQUENCE),
            ObjectType::Index => {
                // Index names are not required to carry the prefix (see the module docs), so
                // only another plugin's prefix is certain to be wrong.
                for name in names {
                    self.not_foreign(DROPS_INDEX, names::table_name(name));
                }
                if let Some(table) = table {
                    self.relation(DROPS_INDEX_ON, table);
                }
            }
            ObjectType::Schema => self.forbid("DROP SCHEMA"),
            ObjectType::Database => self.forbid("DROP DATABASE"),
            ObjectType::Role => self.forbid("DROP ROLE"),
            ObjectType::User => self.forbid("DROP USER"),
            ObjectType::Collation
            | ObjectType::Stage
            | ObjectType::Type
            | ObjectType::Stream
            | ObjectType::Warehouse => {}
        }
    }

    fn set(&mut self, set: &Set) {
        let variable = |checker: &mut Self, name: &ObjectName| match names::table_name(name)
            .to_ascii_lowercase()
            .as_str()
        {
            "search_path" => checker.forbid("SET search_path"),
            "session_replication_role" => checker.forbid("SET session_replication_role"),
            "role" => checker.forbid("SET ROLE"),
            "session_authorization" => checker.forbid("SET SESSION AUTHORIZATION"),
            _ => {}
        };
        match set {
            Set::SingleAssignment { variable: name, .. } => variable(self, name),
            Set::ParenthesizedAssignments { variables, .. } => {
                for name in variables {
                    variable(self, name);
                }
            }
            Set::MultipleAssignments { assignments } => {
                for assignment in assignments {
                    variable(self, &assignment.name);
                }
            }
            Set::SetRole { .. } => self.forbid("SET ROLE"),
            Set::SetSessionAuthorization(_) => self.forbid("SET SESSION AUTHORIZATION"),
            Set::SetSessionParam(_)
            | Set::SetTimeZone { .. }
            | Set::SetNames { .. }
            | Set::SetNamesDefault {}
            | Set::SetTransaction { .. } => {}
        }
    }
}

/// Why a statement kind named by [`Checker::forbid`] is not allowed; shown after the
/// statement kind in the violation's message.
pub(super) fn forbidden_reason(what: &str) -> &'static str {
    match what {
        "CREATE SCHEMA" | "ALTER SCHEMA" | "DROP SCHEMA" => {
            "schemas are shared by the whole server; keep the plugin's tables in the default \
             schema, named with its prefix"
        }
        "CREATE DATABASE" | "DROP DATABASE" | "ATTACH DATABASE" | "DETACH DATABASE" | "USE" => {
            "a plugin migration runs inside the server's database and must stay there"
        }
        "GRANT"
        | "REVOKE"
        | "DENY"
        | "CREATE ROLE"
        | "ALTER ROLE"
        | "DROP ROLE"
        | "CREATE USER"
        | "ALTER USER"
        | "DROP USER"
        | "SET ROLE"
        | "SET SESSION AUTHORIZATION"
        | "ALTER TABLE … OWNER TO" => {
            "roles and privileges belong to whoever operates the server"
        }
        "CREATE EXTENSION" | "DROP EXTENSION" | "INSTALL" | "LOAD" => {
            "extensions are database-wide and need elevated privileges; ask the operator to \
             install it"
        }
        "PRAGMA" => {
            "pragmas change settings of the whole database or connection (such as \
             `foreign_keys`), which belong to the server"
        }
        "SET search_path" => {
            "it changes which schema unqualified names resolve to, for this statement and \
             every later one on the connection"
        }
        "SET session_replication_role" => "it turns off triggers and foreign key checks",
        "BEGIN" | "START TRANSACTION" | "COMMIT" | "END" | "ROLLBACK" => {
            "the server runs each migration in its own transaction, together with its ledger \
             row; `SAVEPOINT` and `ROLLBACK TO SAVEPOINT` are fine"
        }
        "VACUUM" => "it cannot run inside the transaction the server wraps each migration in",
        "CREATE INDEX CONCURRENTLY" => {
            "it cannot run inside the transaction the server wraps each migration in; use \
             `CREATE INDEX`"
        }
        "COPY TO PROGRAM" | "COPY FROM PROGRAM" | "COPY TO a file" | "COPY FROM a file" => {
            "it reads or writes files, or runs programs, on the database server; use `INSERT` \
             for seed data"
        }
        "INSERT OVERWRITE DIRECTORY" | "UNLOAD" | "EXPORT DATA" => {
            "it writes files outside the database"
        }
        "DO" | "EXECUTE IMMEDIATE" => {
            "it runs code the checker cannot see into; write the statements in the migration \
             itself"
        }
        "ALTER SYSTEM" | "KILL" | "FLUSH" => "it affects the whole database server",
        "CREATE SERVER" => "a foreign server reaches outside the server's database",
        "INSERT INTO TABLE FUNCTION"
        | "INSERT INTO (SELECT …)"
        | "UPDATE (SELECT …)"
        | "DELETE FROM (SELECT …)"
        | "MERGE INTO (SELECT …)" => {
            "only writes to a named table can be checked against the plugin's prefix"
        }
        _ => "it reaches beyond the plugin's own tables",
    }
}
