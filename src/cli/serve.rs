//! `firehose serve`: the HTTP sidecar for Vector.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use firehose::Pipeline;
use firehose::emit::location::DeadLetterPath;
use firehose::engine::Engine;
use firehose::metrics::Metrics;
use firehose::reload::{Live, Reloader, WatchOptions, Watcher};
use firehose::serve::{self, AdminToken, AppState, ServeOptions};

use super::shadow::ShadowArgs;

/// Arguments of `firehose serve`; each overrides the pipeline file's `serve:` section.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The pipeline file.
    #[arg(long, short, value_name = "FILE")]
    pipeline: PathBuf,
    /// Address to listen on [default: 127.0.0.1:8787].
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Where to post processed batches: Vector's `http_server` source, e.g. http://127.0.0.1:8788/.
    #[arg(long, value_name = "URL")]
    forward: Option<String>,
    /// Compress forwarded batches with gzip.
    #[arg(long)]
    forward_gzip: bool,
    /// Dead-letter file, or an http:// URL to post dead letters to [default:
    /// firehose-dead-letters.ndjson in $FIREHOSE_DATA_DIR, else in the working directory].
    #[arg(long, value_name = "FILE|URL")]
    dead_letter: Option<String>,
    /// Largest request body accepted (compressed) [default: 32 MiB].
    #[arg(long, value_name = "BYTES")]
    max_body_bytes: Option<usize>,
    /// Most batches in flight; more get 503 [default: two per core].
    #[arg(long, value_name = "N")]
    max_in_flight: Option<usize>,
    /// Forward one request per value of this template (e.g. `flow={{flow_id}}`), with the
    /// value in the X-Firehose-Partition header: partition keys for Vector in bytes mode.
    #[arg(long, value_name = "TEMPLATE")]
    partition: Option<String>,
    /// Seconds to wait for the downstream's answer; keep it below the sender's request timeout (Vector: 60) [default: 50].
    #[arg(long, value_name = "SECONDS")]
    downstream_timeout_secs: Option<u64>,
    /// File holding the bearer token `POST /admin/reload` requires (else $FIREHOSE_ADMIN_TOKEN,
    /// else serve.admin_token_file); required to listen on anything but loopback.
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
    /// Swap in new rules when the pipeline file or its modules change (also on SIGHUP
    /// and `POST /admin/reload`).
    #[arg(long)]
    watch: bool,
    /// With --watch: poll files instead of using file notifications.
    #[arg(long, requires = "watch")]
    poll: bool,
    #[command(flatten)]
    shadow: ShadowArgs,
}

/// Runs the sidecar until SIGINT or SIGTERM, then finishes the batches in flight.
pub fn serve(engine: Arc<Engine>, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let pipeline = Pipeline::load(&engine, &args.pipeline)?;
    let file = pipeline.config.serve.clone();
    let listen = args.listen.or(file.listen).unwrap_or_else(|| "127.0.0.1:8787".to_string());
    let forward = args.forward.or(file.forward).context(
        "no downstream: pass --forward http://HOST:PORT/ (Vector's http_server source) or set serve.forward in the pipeline file",
    )?;
    let forward = forward.parse().with_context(|| format!("--forward `{forward}` is not a URL"))?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let max_body_bytes = args.max_body_bytes.unwrap_or(file.max_body_bytes);
    let (setting, dead_letter) = match (args.dead_letter, file.dead_letter) {
        (Some(flag), _) => ("--dead-letter", Some(flag)),
        (None, Some(in_file)) => ("serve.dead_letter", Some(in_file)),
        (None, None) => ("--dead-letter", None),
    };
    let dead_letters = DeadLetterPath::locate(setting, dead_letter.as_deref().map(std::path::Path::new));
    // A URL is checked by the sidecar itself; a file must be writable before we start.
    if !dead_letters.path.to_string_lossy().contains("://") {
        dead_letters.check_writable("--dead-letter (or serve.dead_letter)")?;
    }
    let options = ServeOptions {
        forward,
        forward_gzip: args.forward_gzip || file.forward_gzip,
        dead_letters: dead_letters.path.to_string_lossy().into_owned(),
        max_body_bytes,
        // A body that is accepted is never refused for its decoded size alone.
        max_decompressed_bytes: file.max_decompressed_bytes.max(max_body_bytes),
        max_in_flight: args.max_in_flight.or(file.max_in_flight).unwrap_or(cores * 2).max(1),
        downstream_timeout: Duration::from_secs(args.downstream_timeout_secs.unwrap_or(file.downstream_timeout_secs)),
        partition: args.partition.or(file.partition),
        admin_token: admin_token(args.admin_token_file, file.admin_token_file)?,
        max_url_bytes: file.max_url_bytes,
        max_header_bytes: file.max_header_bytes,
    };
    pipeline.prepare(options.max_in_flight)?;
    let live = Live::new(pipeline);
    let watcher = if args.watch {
        let reloader = Reloader::new(engine.clone(), args.pipeline.clone(), live.clone(), options.max_in_flight);
        let options = WatchOptions { poll: args.poll, ..WatchOptions::default() };
        Some(Arc::new(Watcher::start(reloader, options).context("starting the file watcher")?))
    } else {
        None
    };
    let metrics = Arc::new(Metrics::new());
    let shadow = args.shadow.start(&engine, Some(metrics.shadow().clone()))?;
    let state = AppState::with_shadow(live.clone(), watcher.clone(), options.clone(), metrics, shadow)?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("listening on {listen}"))?;
        serve::access::check_exposure(listener.local_addr()?, options.admin_token.as_ref())?;
        log::info!(
            "listening on {}, forwarding to {}, dead letters to {}, rules version {}",
            serve::bound(&listener),
            options.forward,
            options.dead_letters,
            live.current().id
        );
        if let Some(watcher) = watcher {
            let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
            tokio::spawn(async move {
                while hangups.recv().await.is_some() {
                    watcher.trigger();
                }
            });
        }
        let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let shutdown = async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
        };
        serve::serve(listener, state, shutdown).await.context("serving")
    })?;
    log::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// The admin token: from `--admin-token-file`, else `FIREHOSE_ADMIN_TOKEN`, else the
/// pipeline's `serve.admin_token_file`; never from the command line itself, where `ps` shows it.
fn admin_token(flag: Option<PathBuf>, configured: Option<PathBuf>) -> anyhow::Result<Option<AdminToken>> {
    let from_file = |file: PathBuf| -> anyhow::Result<Option<AdminToken>> {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading the admin token file {}", file.display()))?;
        Ok(Some(AdminToken::new(&text, &file.display().to_string())?))
    };
    if let Some(file) = flag {
        return from_file(file);
    }
    match std::env::var("FIREHOSE_ADMIN_TOKEN") {
        Ok(text) if !text.is_empty() => Ok(Some(AdminToken::new(&text, "FIREHOSE_ADMIN_TOKEN")?)),
        _ => configured.map_or(Ok(None), from_file),
    }
}
