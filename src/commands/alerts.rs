//! `reconwatch alerts`: the options turned into a read of the cluster's alerts stream
//! (`broker::alerts`), written to stdout.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::broker::alerts::{self, ReadError, ReadSettings};
use crate::cli::AlertsArgs;

pub fn run(args: &AlertsArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the I/O runtime")?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let settings = ReadSettings { follow: args.follow };
    match runtime.block_on(alerts::read(&args.nats, settings, &mut out)) {
        Ok(_) => {}
        // A closed pipe (`| head`) stays a broken pipe: the caller ends quietly.
        Err(ReadError::Io(e)) => return Err(anyhow::Error::new(e).context("stdout")),
        Err(e) => return Err(e.into()),
    }
    out.flush().context("stdout")?;
    Ok(ExitCode::SUCCESS)
}
