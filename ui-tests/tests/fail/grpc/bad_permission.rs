use std::convert::Infallible;
use std::task::{Context, Poll};

use flovyn_sdk::grpc::{NamedService, Request, Response};
use flovyn_sdk::prelude::*;

/// Stands in for a tonic-generated server: what the check reads is its `NAME`.
#[derive(Clone)]
pub struct GreeterServer;

impl NamedService for GreeterServer {
    const NAME: &'static str = "flovyn.plugins.greeter.v1.Greeter";
}

impl tower::Service<Request> for GreeterServer {
    type Response = Response;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request) -> Self::Future {
        std::future::ready(Ok(Response::default()))
    }
}

#[flovyn_plugin(name = "greeter")]
#[derive(Default)]
pub struct Greeter;

#[plugin_impl]
impl Greeter {
    #[grpc_service(permission = "Greeter:Call")]
    fn greeter(&self) -> GreeterServer {
        GreeterServer
    }
}
fn main() {}
