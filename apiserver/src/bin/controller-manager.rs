//! The `controller-manager` binary: the core controllers on their own, against any API server
//! (`--kubeconfig` / `--master`), with kube-controller-manager's flags and leader election on
//! the `kube-system/kube-controller-manager` Lease.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "controller-manager", about = "Kubernetes controllers against any API server")]
struct Args {
    #[command(flatten)]
    component: apiserver::component::ComponentArgs,
    /// Controllers to run: `*` (all), names, `-name` to disable one.
    #[arg(long, default_value = "*")]
    controllers: String,
    /// Root CA put into ServiceAccount token Secrets (`ca.crt`).
    #[arg(long)]
    root_ca_file: Option<std::path::PathBuf>,
    /// RSA private key ServiceAccount tokens are signed with (without it they are random).
    #[arg(long)]
    service_account_private_key_file: Option<String>,
    /// CA certificate the CSR signer issues certificates with (PEM).
    #[arg(long)]
    cluster_signing_cert_file: Option<std::path::PathBuf>,
    /// Its private key (PEM).
    #[arg(long)]
    cluster_signing_key_file: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    apiserver::component::init_logging();
    let a = Args::parse();
    let names = apiserver::controllers::enabled(&a.controllers);
    if names.is_empty() {
        anyhow::bail!("--controllers {:?} enables no controller", a.controllers);
    }
    let ca_pem = match &a.root_ca_file {
        Some(f) => std::fs::read(f).map_err(|e| anyhow::anyhow!("--root-ca-file {}: {e}", f.display()))?,
        None => Vec::new(),
    };
    let signer = match (&a.cluster_signing_cert_file, &a.cluster_signing_key_file) {
        (Some(c), Some(k)) => Some(apiserver::controllers::certificates::Signer::load(c, k)?),
        (None, None) => None,
        _ => anyhow::bail!("--cluster-signing-cert-file and --cluster-signing-key-file go together"),
    };
    let sa_signer = match &a.service_account_private_key_file {
        Some(f) => Some(apiserver::serviceaccount_token::TokenSigner::from_file(f)?),
        None => None,
    };
    let run = apiserver::component::run(
        &a.component,
        10252,
        "kube-controller-manager",
        "kube-controller-manager",
        move |client| {
            tracing::info!(controllers = ?names, "starting controllers");
            let triggers = apiserver::controllers::trigger::Triggers::new(client.clone());
            apiserver::controllers::spawn(
                client,
                &triggers,
                &names,
                std::time::Duration::from_millis(500),
                ca_pem,
                signer,
                sa_signer,
            );
        },
    );
    apiserver::component::until_signal(run).await
}
