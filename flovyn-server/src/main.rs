//! `flovyn-server`: serve the linked plugins, list them, or print the OpenAPI document.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use flovyn_server::access::Credentials;

/// The Flovyn server and its plugins.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address to listen on.
    #[arg(
        long,
        env = "FLOVYN_LISTEN",
        default_value = "127.0.0.1:8000",
        global = true
    )]
    listen: SocketAddr,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve every linked plugin (the default).
    Serve,
    /// List the linked plugins: name, version, routes and migrations.
    Plugins,
    /// Print the merged OpenAPI document as JSON.
    Openapi,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FLOVYN_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let plugins = flovyn_sdk::registry::plugins();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Plugins => {
            for p in &plugins {
                println!("{} {}", p.name, p.version);
                for r in p.routes() {
                    println!(
                        "  route     {} {}",
                        r.method,
                        flovyn_server::access::full_path(&p.route_prefix(), r.path)
                    );
                }
                for m in p.migrations {
                    println!("  migration {} {}", m.version, m.name);
                }
            }
            ExitCode::SUCCESS
        }
        Command::Openapi => {
            let doc = flovyn_server::openapi::merged(plugins.iter().copied());
            match doc.to_pretty_json() {
                Ok(json) => {
                    println!("{json}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: cannot render the OpenAPI document: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve => match serve(cli.listen, &plugins).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn serve(
    listen: SocketAddr,
    plugins: &[&'static flovyn_sdk::PluginDescriptor],
) -> Result<(), Box<dyn std::error::Error>> {
    let running = flovyn_server::app::start(plugins).await?;
    let router = flovyn_server::router::build_router(&running, Credentials::from_env());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    tracing::info!(%listen, plugins = running.len(), "serving");
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    for p in running.iter().rev() {
        if let Err(e) = p.instance.on_stop(&p.context).await {
            tracing::error!(plugin = p.descriptor.name, error = %e, "shutdown hook failed");
        }
    }
    Ok(())
}
