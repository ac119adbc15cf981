impl WorkerToken {
    async fn init(ctx: &PluginContext) -> Result<Self, PluginError> {
        Ok(WorkerToken)
    }
    async fn start(&self, ctx: &PluginContext) -> Result<(), PluginError> {
        Ok(())
    }
    async fn on_tenant(&self, event: TenantCreated) -> Result<(), PluginError> {
        Ok(())
    }
    async fn prune(&self) -> Result<(), PluginError> {
        Ok(())
    }
    fn worker_tokens(&self) -> WorkerTokensServer<Api> {
        WorkerTokensServer::new(Api)
    }
    fn stamp(&self) -> Middleware {
        Middleware::from_fn(stamp)
    }
    /// Create a worker token.
    ///
    /// The secret is shown once.
    async fn create(
        &self,
        who: Identity,
        Json(body): Json<NewToken>,
    ) -> Result<Created<CreatedToken>, ApiError> {
        todo!()
    }
    /// Revoke a token.
    async fn revoke(&self, Path(id): Path<String>) -> Result<NoContent, ApiError> {
        todo!()
    }
}
const _: () = {
    use ::flovyn_sdk::__private as __fp;
    #[allow(unused_imports)]
    use __fp::probe::{ViaEvent as _, ViaNotEvent as _};
    #[allow(non_snake_case, clippy::used_underscore_binding)]
    async fn __flovyn_route_create(
        __fp::axum::extract::State(
            __this,
        ): __fp::axum::extract::State<__fp::Arc<WorkerToken>>,
        __request: __fp::axum::extract::Request,
    ) -> __fp::axum::response::Response {
        let mut __input = __fp::ArgInput::new(__request);
        let __arg0 = match {
            <Identity as __fp::HandlerArg>::__allowed_at::<__fp::position::NotLast>();
            <Identity as __fp::HandlerArg>::extract(&mut __input).await
        } {
            ::core::result::Result::Ok(__value) => __value,
            ::core::result::Result::Err(__rejection) => return __rejection,
        };
        let __arg1 = match {
            <Json<NewToken> as __fp::HandlerArg>::__allowed_at::<__fp::position::Last>();
            <Json<NewToken> as __fp::HandlerArg>::extract(&mut __input).await
        } {
            ::core::result::Result::Ok(__value) => __value,
            ::core::result::Result::Err(__rejection) => return __rejection,
        };
        ::core::mem::drop(__input);
        let __response = <WorkerToken>::create(&*__this, __arg0, __arg1).await;
        __fp::axum::response::IntoResponse::into_response(__response)
    }
    #[allow(non_snake_case, clippy::used_underscore_binding)]
    async fn __flovyn_route_revoke(
        __fp::axum::extract::State(
            __this,
        ): __fp::axum::extract::State<__fp::Arc<WorkerToken>>,
        __request: __fp::axum::extract::Request,
    ) -> __fp::axum::response::Response {
        let mut __input = __fp::ArgInput::new(__request);
        let __arg0 = match {
            <Path<String> as __fp::HandlerArg>::__allowed_at::<__fp::position::Last>();
            <Path<String> as __fp::HandlerArg>::extract(&mut __input).await
        } {
            ::core::result::Result::Ok(__value) => __value,
            ::core::result::Result::Err(__rejection) => return __rejection,
        };
        ::core::mem::drop(__input);
        let __response = <WorkerToken>::revoke(&*__this, __arg0).await;
        __fp::axum::response::IntoResponse::into_response(__response)
    }
    const _: () = {
        if !__fp::grpc_in_plugin_package(
            <WorkerTokensServer<Api> as __fp::NamedService>::NAME,
            <WorkerToken as __fp::Plugin>::NAME,
        ) {
            ::core::panic!(
                "{}", < WorkerToken as __fp::Plugin > ::__GRPC_PACKAGE_MISMATCH
            );
        }
    };
    #[allow(dead_code, clippy::let_unit_value)]
    fn __flovyn_checks() {
        __fp::assert_event::<TenantCreated>();
    }
    fn __flovyn_operations(
        __ctx: &mut __fp::DocContext,
    ) -> ::std::vec::Vec<__fp::utoipa::openapi::path::Operation> {
        let mut __ops = ::std::vec::Vec::new();
        {
            let mut __op = __ctx.operation(&[]);
            <Identity as __fp::HandlerArg>::document(&mut __op);
            <Json<NewToken> as __fp::HandlerArg>::document(&mut __op);
            <Result<
                Created<CreatedToken>,
                ApiError,
            > as __fp::DocumentResponse>::document(&mut __op);
            __ops
                .push(
                    __op
                        .finish(
                            ::core::option::Option::Some("Create a worker token."),
                            ::core::option::Option::Some("The secret is shown once."),
                        ),
                );
        }
        {
            let mut __op = __ctx.operation(&["id"]);
            <Path<String> as __fp::HandlerArg>::document(&mut __op);
            <Result<NoContent, ApiError> as __fp::DocumentResponse>::document(&mut __op);
            __ops
                .push(
                    __op
                        .finish(
                            ::core::option::Option::Some("Revoke a token."),
                            ::core::option::Option::None,
                        ),
                );
        }
        __ops
    }
    fn __flovyn_construct(
        ctx: __fp::PluginContext,
    ) -> __fp::BoxFuture<
        'static,
        ::core::result::Result<__fp::Arc<dyn __fp::PluginInstance>, __fp::PluginError>,
    > {
        ::std::boxed::Box::pin(async move {
            let _ = &ctx;
            let __plugin: WorkerToken = <WorkerToken>::init(&ctx).await?;
            let __instance: __fp::Arc<dyn __fp::PluginInstance> = __fp::Arc::new(
                __plugin,
            );
            ::core::result::Result::Ok(__instance)
        })
    }
    impl __fp::PluginInstance for WorkerToken {
        fn routes(
            self: __fp::Arc<Self>,
        ) -> ::std::vec::Vec<__fp::axum::routing::MethodRouter> {
            ::std::vec![
                __fp::axum::routing::post(__flovyn_route_create).with_state(self
                .clone()), __fp::axum::routing::delete(__flovyn_route_revoke)
                .with_state(self.clone())
            ]
        }
        fn router(self: __fp::Arc<Self>) -> __fp::axum::Router {
            __fp::router_at_relative_paths(
                <WorkerToken as __fp::Plugin>::descriptor(),
                self.routes(),
            )
        }
        fn on_start<'a>(
            &'a self,
            ctx: &'a __fp::PluginContext,
        ) -> __fp::BoxFuture<'a, ::core::result::Result<(), __fp::PluginError>> {
            ::std::boxed::Box::pin(<WorkerToken>::start(self, ctx))
        }
        fn deliver<'a>(
            &'a self,
            __subscription: __fp::SubscriptionId,
            __payload: &'a str,
            __meta: &'a __fp::EventMeta,
        ) -> __fp::BoxFuture<'a, ::core::result::Result<(), __fp::PluginError>> {
            match __subscription.0 {
                0u32 => {
                    ::std::boxed::Box::pin(async move {
                        let __event: TenantCreated = (&&__fp::EventProbe::<
                            TenantCreated,
                        >::new())
                            .decode(__payload)?;
                        let __result: ::core::result::Result<(), __fp::PluginError> = <WorkerToken>::on_tenant(
                                self,
                                __event,
                            )
                            .await;
                        __result
                    })
                }
                _ => {
                    ::std::boxed::Box::pin(async move {
                        ::core::result::Result::Err(
                            __fp::PluginError::new(
                                ::std::format!("no subscription {}", __subscription),
                            ),
                        )
                    })
                }
            }
        }
        fn run_task<'a>(
            &'a self,
            __task: __fp::TaskId,
        ) -> __fp::BoxFuture<'a, ::core::result::Result<(), __fp::PluginError>> {
            match __task.0 {
                0u32 => {
                    ::std::boxed::Box::pin(async move {
                        let __result: ::core::result::Result<(), __fp::PluginError> = <WorkerToken>::prune(
                                self,
                            )
                            .await;
                        __result
                    })
                }
                _ => {
                    ::std::boxed::Box::pin(async move {
                        ::core::result::Result::Err(
                            __fp::PluginError::new(::std::format!("no task {}", __task)),
                        )
                    })
                }
            }
        }
        fn middleware(self: __fp::Arc<Self>) -> ::std::vec::Vec<__fp::Middleware> {
            ::std::vec![
                { let __m : __fp::Middleware = < WorkerToken > ::stamp(& self); __m }
            ]
        }
        fn grpc_services(self: __fp::Arc<Self>) -> ::std::vec::Vec<__fp::GrpcService> {
            ::std::vec![__fp::GrpcService::new(< WorkerToken > ::worker_tokens(& self))]
        }
    }
    impl __fp::PluginImpl for WorkerToken {
        const PARTS: &'static __fp::PluginParts = &__fp::PluginParts {
            routes: &[
                __fp::RouteDescriptor::__new(
                    __fp::Method::Post,
                    "/tokens",
                    "create",
                    __fp::Access::Permission("worker_token:create"),
                ),
                __fp::RouteDescriptor::__new(
                    __fp::Method::Delete,
                    "/tokens/{id}",
                    "revoke",
                    __fp::Access::Permission("worker_token:revoke"),
                ),
            ],
            operations: __flovyn_operations,
            security_scheme: ::core::option::Option::None,
            has_authorizer: false,
            subscriptions: &[
                __fp::SubscriptionDescriptor::__new(
                    || (&&__fp::EventProbe::<TenantCreated>::new()).event_name(),
                    "on_tenant",
                ),
            ],
            tasks: &[__fp::TaskDescriptor::__new("prune", "1h")],
            middleware: &[
                __fp::MiddlewareDescriptor::__new("stamp", 10i32, &["/api/v1/*"]),
            ],
            grpc: &[
                __fp::GrpcDescriptor::__new(
                    "worker_tokens",
                    <WorkerTokensServer<Api> as __fp::NamedService>::NAME,
                    __fp::Access::Authenticated,
                ),
            ],
            construct: __flovyn_construct,
        };
    }
};
