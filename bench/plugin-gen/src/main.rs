//! `plugin-gen FIRST LAST`: prints the source of generated plugins FIRST..=LAST, the same
//! source the crates under `bench/generated/` compile.

fn main() {
    let args: Vec<u32> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("usage: plugin-gen FIRST LAST"))
        .collect();
    let [first, last] = args[..] else {
        eprintln!("usage: plugin-gen FIRST LAST");
        std::process::exit(2);
    };
    print!("{}", plugin_gen::source(first..=last));
}
