//! The `scheduler` binary: the scheduler on its own, against any API server (`--kubeconfig` /
//! `--master`), with kube-scheduler's flags and leader election on the
//! `kube-system/kube-scheduler` Lease.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "scheduler", about = "Kubernetes scheduler against any API server")]
struct Args {
    #[command(flatten)]
    component: apiserver::component::ComponentArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    apiserver::component::init_logging();
    let a = Args::parse();
    let run = apiserver::component::run(&a.component, 10251, "kube-scheduler", "default-scheduler", |client| {
        let triggers = apiserver::controllers::trigger::Triggers::new(client.clone());
        tokio::spawn(apiserver::scheduler::run(client, triggers));
    });
    apiserver::component::until_signal(run).await
}
