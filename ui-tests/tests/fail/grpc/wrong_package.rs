use flovyn_sdk::prelude::*;

// Stands in for a tonic-generated server: what the check reads is its full name.
ui_tests::grpc_stand_in!(GreeterServer, "acme.greeter.v1.Greeter");

#[flovyn_plugin(name = "greeter")]
#[derive(Default)]
pub struct Greeter;

#[plugin_impl]
impl Greeter {
    #[grpc_service]
    fn greeter(&self) -> GreeterServer {
        GreeterServer
    }
}

fn main() {}
