//! Fixtures live in `tests/`. This library holds what several fixtures need and is not
//! what they test.

/// `grpc_stand_in!(GreeterServer, "flovyn.plugins.greeter.v1.Greeter")`: a type standing in
/// for a tonic-generated gRPC server whose full service name is the literal. The
/// `#[grpc_service]` package check reads only that name, so the fixtures need no `.proto`
/// build; every call answers an empty response.
#[macro_export]
macro_rules! grpc_stand_in {
    ($server:ident, $name:literal) => {
        #[derive(Clone)]
        pub struct $server;

        impl ::flovyn_sdk::grpc::NamedService for $server {
            const NAME: &'static str = $name;
        }

        impl ::tower::Service<::flovyn_sdk::grpc::Request> for $server {
            type Response = ::flovyn_sdk::grpc::Response;
            type Error = ::std::convert::Infallible;
            type Future = ::std::future::Ready<::std::result::Result<Self::Response, Self::Error>>;

            fn poll_ready(
                &mut self,
                _cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::result::Result<(), Self::Error>> {
                ::std::task::Poll::Ready(Ok(()))
            }

            fn call(&mut self, _request: ::flovyn_sdk::grpc::Request) -> Self::Future {
                ::std::future::ready(Ok(::flovyn_sdk::grpc::Response::default()))
            }
        }
    };
}
