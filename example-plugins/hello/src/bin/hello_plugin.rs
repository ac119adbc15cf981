//! `hello` as a plugin process: the same plugin, served to a Flovyn server that starts this
//! executable (`[plugins.hello] mode = "process"`).

flovyn_sdk::process::main!(hello::Hello);
