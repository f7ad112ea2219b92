//! `signet bench raft`.

#[derive(Debug, Clone, clap::Args)]
pub struct RaftBenchArgs {
    /// Seconds per concurrency level.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
}

pub async fn raft(_args: RaftBenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
