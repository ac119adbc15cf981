//! The database of a plugin in its own process: every statement goes to the host's `Host`
//! service (`host.proto`), which checks it against the plugin's namespace and runs it on the
//! server's database. The plugin never holds a connection or a database URL.

use flovyn_protocol::pb;
use flovyn_protocol::pb::host_client::HostClient;
use flovyn_protocol::transport::Connection;
use sqlx::any::{AnyArguments, AnyQueryResult, AnyRow};
use tonic::metadata::MetadataValue;

use super::wire;

/// A client of the host's storage service, carrying the plugin's token.
#[derive(Clone)]
pub(crate) struct HostStore {
    client: HostClient<Connection>,
    token: MetadataValue<tonic::metadata::Ascii>,
}

impl std::fmt::Debug for HostStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of logs.
        f.debug_struct("HostStore").finish_non_exhaustive()
    }
}

/// A status from the host as sqlx's error: refusals and database errors keep the host's
/// message, which names the statement and the rule.
fn error(status: &tonic::Status) -> sqlx::Error {
    sqlx::Error::Protocol(format!(
        "the host refused or failed the statement: {}",
        status.message()
    ))
}

impl HostStore {
    /// Connects to the host's socket at `address`.
    pub(crate) async fn connect(address: &str, token: &str) -> Result<Self, String> {
        let token = token
            .parse()
            .map_err(|_| "the host's token is not valid metadata".to_owned())?;
        let connection = flovyn_protocol::transport::connect_unix(address)
            .await
            .map_err(|e| format!("cannot reach the host's storage at `{address}`: {e}"))?;
        Ok(Self {
            client: HostClient::new(connection),
            token,
        })
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert(
            flovyn_protocol::transport::HOST_TOKEN_METADATA,
            self.token.clone(),
        );
        request
    }

    /// Runs one statement (in `transaction`, when not 0) and returns all its rows.
    pub(crate) async fn execute(
        &self,
        sql: &str,
        arguments: Option<&AnyArguments>,
        transaction: u64,
    ) -> Result<(Vec<AnyRow>, AnyQueryResult), sqlx::Error> {
        let statement = pb::Statement {
            sql: sql.to_owned(),
            arguments: wire::arguments_to_wire(arguments),
            transaction,
        };
        let answer = self
            .client
            .clone()
            .execute(self.request(statement))
            .await
            .map_err(|s| error(&s))?
            .into_inner();
        wire::result_from_wire(answer).map_err(sqlx::Error::Protocol)
    }

    pub(crate) async fn begin(&self) -> Result<u64, sqlx::Error> {
        let answer = self
            .client
            .clone()
            .begin(self.request(pb::BeginRequest {}))
            .await
            .map_err(|s| error(&s))?;
        Ok(answer.into_inner().transaction)
    }

    pub(crate) async fn commit(&self, transaction: u64) -> Result<(), sqlx::Error> {
        self.client
            .clone()
            .commit(self.request(pb::TransactionRef { transaction }))
            .await
            .map_err(|s| error(&s))?;
        Ok(())
    }

    pub(crate) async fn rollback(&self, transaction: u64) -> Result<(), sqlx::Error> {
        self.client
            .clone()
            .rollback(self.request(pb::TransactionRef { transaction }))
            .await
            .map_err(|s| error(&s))?;
        Ok(())
    }

    /// Publishes `event` through the host (in `transaction`, when not 0).
    pub(crate) async fn publish_event(
        &self,
        event: &crate::events::OutboxEvent,
        transaction: u64,
    ) -> Result<(), sqlx::Error> {
        let request = pb::PublishRequest {
            transaction,
            event_id: event.id.clone(),
            name: event.name.clone(),
            payload_json: event.payload.clone(),
            published_at: event.published_at.clone(),
        };
        self.client
            .clone()
            .publish(self.request(request))
            .await
            .map_err(|s| error(&s))?;
        Ok(())
    }
}

impl crate::events::RemotePublish for HostStore {
    fn publish<'a>(
        &'a self,
        event: &'a crate::events::OutboxEvent,
        transaction: u64,
    ) -> crate::BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(self.publish_event(event, transaction))
    }
}

impl crate::auth::Authorize for HostStore {
    fn authorize<'a>(
        &'a self,
        identity: &'a crate::Identity,
        request: &'a crate::auth::AuthzRequest<'a>,
    ) -> crate::BoxFuture<'a, bool> {
        Box::pin(async move {
            let Ok(identity_json) = serde_json::to_string(identity) else {
                return false;
            };
            let check = pb::AccessCheck {
                identity_json,
                resource: request.resource.to_owned(),
                action: request.action.to_owned(),
                tenant: request.tenant.map(str::to_owned),
            };
            match self.client.clone().check(self.request(check)).await {
                Ok(verdict) => verdict.into_inner().allowed,
                Err(status) => {
                    tracing::warn!(error = %status.message(), "the host's access check failed: denying");
                    false
                }
            }
        })
    }
}
