use flovyn_naming::sql::{Dialect, check_migration};
fn main() {
    let kind = std::env::args().nth(1).unwrap();
    let depth: usize = std::env::args().nth(2).unwrap().parse().unwrap();
    let stack: usize = std::env::args()
        .nth(3)
        .map_or(2 << 20, |s| s.parse().unwrap());
    let sql = match kind.as_str() {
        "paren" => format!("SELECT {}1{}", "(".repeat(depth), ")".repeat(depth)),
        "explain" => format!("{}SELECT 1", "EXPLAIN ANALYZE ".repeat(depth)),
        "sub" => format!(
            "SELECT * FROM {}t{}",
            "(SELECT * FROM ".repeat(depth),
            ")".repeat(depth)
        ),
        "cte" => format!(
            "{}SELECT 1{}",
            "WITH a AS (".repeat(depth),
            ") SELECT 1".repeat(depth)
        ),
        "trig" => format!(
            "{}SELECT 1;{}",
            "CREATE TRIGGER t AFTER INSERT ON x BEGIN ".repeat(depth),
            " END;".repeat(depth)
        ),
        "not" => format!("SELECT {}1", "NOT ".repeat(depth)),
        "minus" => format!("SELECT {}1", "- ".repeat(depth)),
        "case" => format!(
            "SELECT {}1{}",
            "CASE WHEN ".repeat(depth),
            " THEN 1 END".repeat(depth)
        ),
        "arr" => format!("SELECT {}1{}", "ARRAY[".repeat(depth), "]".repeat(depth)),
        "fn" => format!("SELECT {}1{}", "f(".repeat(depth), ")".repeat(depth)),
        "in" => format!(
            "SELECT 1 IN {}1{}",
            "(SELECT 1 IN (".repeat(depth),
            "))".repeat(depth)
        ),
        "mix" => format!(
            "SELECT {}1{}",
            "(SELECT CASE WHEN NOT f(ARRAY[(".repeat(depth),
            ")]) THEN 1 END)".repeat(depth)
        ),
        "mix2" => format!(
            "{}SELECT 1",
            "EXPLAIN ANALYZE WITH a AS (SELECT * FROM (SELECT 1) s) INSERT INTO t SELECT * FROM ("
                .repeat(depth)
        ),
        "file" => std::fs::read_to_string(std::env::var("PROBE_FILE").unwrap()).unwrap(),
        _ => panic!(),
    };
    let r = std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || {
            let a = check_migration("x", &sql, Dialect::Postgres);
            let b = check_migration("x", &sql, Dialect::Sqlite);
            format!(
                "{:?} / {:?}",
                a.err()
                    .map(|v| v[0].to_string().chars().take(100).collect::<String>()),
                b.is_ok()
            )
        })
        .unwrap()
        .join()
        .unwrap();
    println!("{r}");
}
