//! A gRPC service in its plugin's package compiles and is described.
use flovyn_sdk::prelude::*;

// Stands in for a tonic-generated server: what the check reads is its full name.
ui_tests::grpc_stand_in!(GreeterServer, "flovyn.plugins.greeter.v1.Greeter");

#[flovyn_plugin(name = "greeter")]
#[derive(Default)]
pub struct Greeter;

#[plugin_impl]
impl Greeter {
    #[grpc_service(permission = "greeter:call")]
    fn greeter(&self) -> GreeterServer {
        GreeterServer
    }
}
fn main() {
    let services = &Greeter::descriptor().grpc_services;
    assert_eq!(services[0].handler, "greeter");
    assert_eq!(services[0].service, "flovyn.plugins.greeter.v1.Greeter");
    assert_eq!(services[0].access, flovyn_sdk::descriptor::Access::Permission("greeter:call".into()));
}
