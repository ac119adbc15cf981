fn main() {
    flovyn_build::plugin_crate();
}
