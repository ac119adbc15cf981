fn main() {
    flovyn_build::link_plugins();
}
