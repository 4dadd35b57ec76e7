//! Command-line definitions (clap). Only the shape of the interface lives here; `commands/` runs it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// reconwatch finds reconnaissance against high-risk people (tracking links and pixels, lookalike
/// senders) in the mail- and web-gateway logs an organisation already keeps.
#[derive(Debug, Parser)]
#[command(name = "reconwatch", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse logs into normalized ECS events, one JSON object per line.
    ///
    /// Exit status: 0 when every input was read to its end, 2 when an input could not be opened,
    /// was not recognised, or stopped with a read error (the others are still processed), or on a
    /// usage error. Rejected lines do not change the status; they are counted and shown by --stats.
    Parse(ParseArgs),
    /// Match Sigma rules against logs and write an alert (one JSON object per line) for every
    /// rule match.
    ///
    /// While it runs, a progress line (bytes, lines, rate) is drawn on stderr when stderr is a
    /// terminal and the alerts are not written to that same terminal (-o FILE, or stdout
    /// redirected); -q turns it off.
    ///
    /// Rules: the rules shipped with reconwatch (embedded in the binary) unless --rules is given;
    /// --rules replaces them, and --default-rules adds them back. A summary (inputs, lines,
    /// events, parse errors, alerts by rule and level, MB/s) goes to stderr at the end.
    ///
    /// Exit status: 0 when no rule matched, 1 when at least one alert was written, 2 on an error
    /// (a rule that cannot run, an input that could not be read to its end, a usage error) —
    /// 2 wins over 1, since the scan is then incomplete.
    Scan(ScanArgs),
    /// Check or test Sigma rule files.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Run as a daemon beside the gateways: tail log files and receive syslog, detect as
    /// lines arrive, deliver alerts to the configured sinks, serve /metrics, /healthz and
    /// /readyz.
    ///
    /// Configured by --config (the same file as `scan --config`, with `sources`, `sinks`,
    /// `listen`, `state_dir`; see deploy/reconwatch.yml) and/or the options below, which add to
    /// it. Checkpoints and correlation state are kept in the state directory: a restart resumes
    /// where the last one stopped. SIGHUP reloads the configuration, rules, watchlists and intel
    /// (a broken set is refused and the running one kept); SIGTERM or SIGINT stops intake,
    /// drains what was read, delivers, saves, and exits 0.
    Run(RunArgs),
    /// Ship log lines into NATS JetStream for `reconwatch work`: tail files and receive syslog
    /// as `run` does (or read PATHS once), and publish batches of lines to the partitions of
    /// the cluster (a mail message's lines stay together). At least once: a tailed file's
    /// checkpoint (in --state-dir) moves only past lines JetStream acknowledged. SIGTERM or
    /// SIGINT stops intake, publishes what was read, saves and exits 0.
    Ship(ShipArgs),
    /// Work as one of N identical workers on lines shipped into NATS JetStream: take a fair
    /// share of the partitions (leases that move to the others when a worker is lost), run the
    /// rules over their lines, correlate the groups routed to them, publish alerts to the
    /// subject reconwatch.alerts (deduplicated by message id) and save each partition's state
    /// in JetStream. Lines are acknowledged only once their alerts and state are stored (at
    /// least once). SIGTERM or SIGINT hands the partitions over and exits 0.
    Work(WorkArgs),
    /// Print the alerts of a NATS JetStream cluster (`reconwatch work`) as JSON lines, each
    /// once, from the oldest the stream keeps: to read them, or to pipe them into
    /// `reconwatch report -`. Stops at the end unless --follow.
    Alerts(AlertsArgs),
    /// Check a configuration file without running anything: its keys, the rules, watchlists and
    /// intel it names, its sources, sinks and TLS files. Exit status 0 when it is usable, 2
    /// otherwise (every problem is listed).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// List the formats reconwatch reads, with an example line each.
    Formats,
    /// Write the campaign exposure report from alerts (of `scan`, `run` or a file sink): which
    /// campaigns reached whom, whose device fetched a tracker, when, and what to do.
    ///
    /// Lines that are not alerts of this version are skipped, named on stderr and counted in
    /// the report. Exit status: 0 when the report was written, 2 when an input could not be
    /// read (the others are still reported) or on a usage error.
    Report(ReportArgs),
    /// Write a synthetic, deterministic world of mail and web logs with a labelled campaign.
    #[cfg(feature = "gen")]
    Gen(GenArgs),
}

/// Where the input comes from and how to read it (shared by every command that reads logs).
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Files, directories (read recursively; entries whose names start with `.` are skipped),
    /// glob patterns, or `-` for standard input. gzip, zstd and bzip2 are recognised by their
    /// content, not their names.
    #[arg(required = true, value_name = "PATHS")]
    pub paths: Vec<String>,

    /// Log format of every input, or `auto` to detect each input's format from its first lines.
    /// `reconwatch formats` lists the names.
    #[arg(long, short = 'f', default_value = "auto", value_name = "FORMAT")]
    pub format: String,

    /// Time zone of timestamps written without an offset (RFC 3164 syslog, Exim, Sendmail), as an
    /// IANA name such as `Europe/London`. Default: the configuration file's `timezone`, else UTC.
    #[arg(long, value_name = "TZ")]
    pub timezone: Option<String>,

    /// A Squid `logformat` declared in squid.conf (`logformat NAME %ts.%03tu ...`, or just the
    /// format string). Repeatable; tried after the built-in layouts.
    #[arg(long = "squid-logformat", value_name = "LOGFORMAT")]
    pub squid_logformats: Vec<String>,

    /// Lines longer than this many bytes are cut at the cap (and counted).
    #[arg(long, default_value_t = crate::source::DEFAULT_MAX_LINE, value_name = "BYTES")]
    pub max_line_bytes: usize,

    /// A mail message not seen leaving the queue within this many seconds of its first line (in
    /// log time) is emitted as it stands.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub mail_timeout: u64,

    /// At most this many mail messages are assembled at once; past it the oldest is emitted.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub max_pending_messages: usize,
}

#[derive(Debug, Args)]
pub struct ParseArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Instead of the events, print per input: format, lines, events, errors and the first
    /// rejected lines (file:line: reason).
    #[arg(long)]
    pub stats: bool,

    /// With --stats: one JSON object per input (path, format, lines, events, errors, ...).
    #[arg(long, requires = "stats")]
    pub json: bool,

    /// Write the run's Prometheus metrics to this file at the end (for node_exporter's textfile
    /// collector). Written atomically.
    #[arg(long, value_name = "FILE")]
    pub metrics_textfile: Option<PathBuf>,

    /// Threads that read inputs in parallel; 0 means one per core. The output is the same for
    /// any number.
    #[arg(long, short = 'j', default_value_t = 0, value_name = "N")]
    pub threads: usize,

    /// Plain files larger than this (and in a format read line by line) are split into chunks
    /// of at most this size, read in parallel: such as 64MiB or 4MB. Default: 64MiB with
    /// --stats, 4MiB when printing events (a chunk's events wait in memory until the chunks
    /// before it are written).
    #[arg(long, value_name = "SIZE")]
    pub chunk_size: Option<String>,

    /// Add the computed `reconwatch.*` fields (and `threat.enrichments`) the rules see, to
    /// check what a rule can test. Implied by any of the context options (--watchlist,
    /// --intel, --config, ...).
    #[arg(long)]
    pub enrich: bool,

    #[command(flatten)]
    pub context: ContextArgs,
}

/// Which rules to load (shared by the commands that run rules).
#[derive(Debug, Clone, Args)]
pub struct RuleArgs {
    /// A Sigma rule file or a directory of them (read recursively, `*.yml` and `*.yaml`).
    /// Repeatable. Replaces the rules shipped with reconwatch unless --default-rules is given.
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,

    /// Also load the rules shipped with reconwatch when --rules is given.
    #[arg(long)]
    pub default_rules: bool,

    /// Compute every reconwatch.* field of every event before the rules see it, instead of
    /// only those a rule reads once its cheaper tests pass. The alerts are the same; it is
    /// slower. For checking that, and for timing enrichment.
    #[arg(long)]
    pub eager_enrichment: bool,

    #[command(flatten)]
    pub context: ContextArgs,
}

impl ContextArgs {
    /// True when no context option was given.
    pub fn is_empty(&self) -> bool {
        self.placeholders.is_empty()
            && self.watchlists.is_empty()
            && self.intel.is_empty()
            && self.outlets.is_empty()
            && self.own_domains.is_empty()
            && self.config.is_none()
    }
}

/// What the rules know about the organisation: watchlists, placeholder values, intel, news
/// outlets, own domains — on the command line or in a configuration file.
#[derive(Debug, Clone, Default, Args)]
pub struct ContextArgs {
    /// Values for the `expand` placeholder %NAME%: a file with one value per line. Repeatable.
    #[arg(long = "placeholder", value_name = "NAME=FILE")]
    pub placeholders: Vec<String>,

    /// A watchlist of high-risk people named NAME: CSV with a header (`email` required; `name`,
    /// `group`, `usernames`, `ips` optional) or plain text (one address or `@domain` per line).
    /// Repeatable; several files may share a name. Rules test it as the placeholder %NAME%
    /// (`email.to.address|expand: '%NAME%'`; an `@domain` entry covers its subdomains).
    #[arg(long = "watchlist", value_name = "NAME=FILE")]
    pub watchlists: Vec<String>,

    /// An intel (IOC) file: a Zeek Intel framework file (`#fields indicator indicator_type
    /// meta.source ...`; DOMAIN, URL, EMAIL, ADDR, SUBNET) or a plain list (one domain, URL,
    /// address, IP or CIDR per line; its source is the file name). Repeatable. Hits become
    /// `threat.enrichments` and `reconwatch.intel.*`.
    #[arg(long = "intel", value_name = "FILE")]
    pub intel: Vec<PathBuf>,

    /// More news outlets (CSV `outlet,names,domains` as rules/lists/news-outlets.csv), added to
    /// the shipped list. Repeatable.
    #[arg(long = "outlets", value_name = "FILE")]
    pub outlets: Vec<PathBuf>,

    /// A domain of your organisation to protect from lookalikes (the watch-listed addresses'
    /// domains are protected already). Repeatable.
    #[arg(long = "own-domain", value_name = "DOMAIN")]
    pub own_domains: Vec<String>,

    /// A configuration file (YAML: rules, default_rules, watchlists, placeholders, intel,
    /// outlets, own_domains; see deploy/reconwatch.yml). Options given here add to it; rule
    /// paths given on the command line replace its rules.
    #[arg(long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub rules: RuleArgs,

    /// Write alerts to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Threads to scan with (0: one per core). The alerts are the same for any number.
    #[arg(long, short = 'j', default_value_t = 0, value_name = "N")]
    pub threads: usize,

    /// Uncompressed files larger than this are split into chunks scanned in parallel (formats
    /// whose lines stand alone only).
    #[arg(long, default_value = "64MiB", value_name = "SIZE")]
    pub chunk_size: String,

    /// No summary, progress line or count of skipped rules on stderr (errors are still shown).
    #[arg(long, short = 'q', conflicts_with = "verbose")]
    pub quiet: bool,

    /// Also list every rule skipped because it is for a log source reconwatch does not read
    /// (by default one line gives their count).
    #[arg(long, short = 'v')]
    pub verbose: bool,

    /// How much older than the newest event before it an event of the same input may be and
    /// still be correlated (`30s`, `5m`, `2h`, `1d`). Older events are counted as late and left
    /// out of correlation (their own alerts are unaffected). Default: the configuration file's
    /// `lateness`, else 5m.
    #[arg(long, value_name = "DURATION")]
    pub lateness: Option<String>,

    /// Open groups each correlation rule may hold; beyond it the least recently fed group is
    /// evicted and counted (reconwatch_correlation_evictions_total). Default: the configuration
    /// file's `max_groups`, else 100000.
    #[arg(long, value_name = "N")]
    pub max_groups: Option<usize>,

    /// Write the run's Prometheus metrics to this file at the end (for node_exporter's textfile
    /// collector). Written atomically.
    #[arg(long, value_name = "FILE")]
    pub metrics_textfile: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub rules: RuleArgs,

    #[command(flatten)]
    pub sources: SourceArgs,

    /// Address of the HTTP endpoint (/metrics, /healthz, /readyz). Port 0 picks a free port
    /// and logs it. Default: the configuration's `listen`, else 127.0.0.1:9717.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// Where checkpoints, correlation state and sink spools are kept (created if missing).
    /// Default: the configuration's `state_dir`, else $STATE_DIRECTORY (systemd).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Append alerts (JSON lines) to this file. Without any sink configured, alerts go to
    /// standard output.
    #[arg(long, value_name = "FILE")]
    pub alerts: Option<PathBuf>,

    /// POST alerts (JSON arrays) to this URL, spooled on disk while it is down. Repeatable.
    #[arg(long, value_name = "URL")]
    pub webhook: Vec<String>,

    /// Forward alerts as RFC 5424 syslog to udp://, tcp:// or tls://HOST:PORT. Repeatable.
    #[arg(long = "syslog-forward", value_name = "URL")]
    pub syslog_forward: Vec<String>,

    #[command(flatten)]
    pub live: LiveArgs,
}

/// Time and correlation settings of the long-running detectors (`run`, `work`).
#[derive(Debug, Clone, Args)]
pub struct LiveArgs {
    /// Time zone of log times written without an offset (IANA name). Default: the
    /// configuration's `timezone`, else UTC.
    #[arg(long, value_name = "TZ")]
    pub timezone: Option<String>,

    /// How much older than its source's newest event an event may be and still be correlated.
    /// Default: the configuration's `lateness`, else 5m.
    #[arg(long, value_name = "DURATION")]
    pub lateness: Option<String>,

    /// Open groups each correlation rule may hold (in `work`: per partition). Default: the
    /// configuration's `max_groups`, else 100000.
    #[arg(long, value_name = "N")]
    pub max_groups: Option<usize>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Alert files (JSON lines; gzip, zstd and bzip2 are recognised), or `-` for standard
    /// input (the default).
    #[arg(value_name = "ALERTS")]
    pub paths: Vec<String>,

    /// A watchlist giving people's names and groups: `[NAME=]FILE`, CSV as for `scan`.
    /// Repeatable.
    #[arg(long = "watchlist", value_name = "[NAME=]FILE")]
    pub watchlists: Vec<String>,

    /// html (one self-contained file), md (Markdown, for a ticket), json (schema in the README)
    /// or csv (the people to notify). Default: from the --output file's extension, else html.
    #[arg(long, value_name = "FORMAT", value_parser = ["html", "md", "json", "csv"])]
    pub format: Option<String>,

    /// Write the report to this file (created with mode 0600: it names people) instead of
    /// standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// The daemon's live sources (shared by `run` and `ship`).
#[derive(Debug, Clone, Default, Args)]
pub struct SourceArgs {
    /// Tail the files this glob matches (new ones are picked up, rotation followed), in FORMAT
    /// (`reconwatch formats`; detected when not given). Repeatable.
    #[arg(long = "tail", value_name = "GLOB[:FORMAT]")]
    pub tail: Vec<String>,

    /// Receive syslog over UDP on ADDR (`0.0.0.0:514`, `[::]:5514`). Repeatable.
    #[arg(long = "syslog-udp", value_name = "ADDR[:FORMAT]")]
    pub syslog_udp: Vec<String>,

    /// Receive syslog over TCP on ADDR: LF framing or RFC 6587 octet counting, recognised per
    /// connection. Repeatable.
    #[arg(long = "syslog-tcp", value_name = "ADDR[:FORMAT]")]
    pub syslog_tcp: Vec<String>,
}

/// Where the cluster's broker (NATS or Kafka) is and how it is cut (shared by `ship` and `work`).
#[derive(Debug, Clone, Args)]
pub struct BrokerArgs {
    /// The NATS server (JetStream enabled).
    #[arg(long, default_value = "nats://127.0.0.1:4222", value_name = "URL")]
    pub nats: String,

    /// Kafka brokers (`HOST:PORT[,HOST:PORT...]`) instead of NATS: topics `reconwatch.lines`,
    /// `reconwatch.contrib`, `reconwatch.alerts`, `reconwatch.state` and the consumer group
    /// `reconwatch-work`. Needs a build with `--features kafka`.
    #[arg(long, value_name = "BROKERS", conflicts_with = "nats")]
    pub kafka: Option<String>,

    /// Partitions of the cluster: every shipper and worker must give the same number (the first
    /// process records it; another is refused).
    #[arg(long, default_value_t = crate::broker::nats::DEFAULT_PARTITIONS, value_name = "N")]
    pub partitions: u32,
}

#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// The NATS server (JetStream enabled).
    #[arg(long, default_value = "nats://127.0.0.1:4222", value_name = "URL")]
    pub nats: String,

    /// Keep printing alerts as they come, until interrupted.
    #[arg(long)]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct ShipArgs {
    #[command(flatten)]
    pub broker: BrokerArgs,

    #[command(flatten)]
    pub sources: SourceArgs,

    /// Files, directories or globs to read once, to their end (compressed ones too), instead of
    /// live sources; the shipper exits when they are shipped.
    #[arg(value_name = "PATHS", conflicts_with_all = ["tail", "syslog_udp", "syslog_tcp"])]
    pub paths: Vec<String>,

    /// Format of the PATHS (`auto`: detected per file).
    #[arg(long, short = 'f', default_value = "auto", value_name = "FORMAT")]
    pub format: String,

    /// Sources (`sources:`) and `timezone` from this configuration file (the daemon's); the
    /// options add to it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Where tailed files' checkpoints are kept (required with --tail or `sources:`).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// This shipper's name in the streams it ships (default: the host name). Two shippers that
    /// read files of the same path must have different names.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Address of the live shipper's HTTP endpoint (/metrics: its sources' and what it
    /// shipped; /healthz, /readyz). Port 0 picks a free port and logs it. Without it, no
    /// endpoint.
    #[arg(long, value_name = "ADDR", conflicts_with = "paths")]
    pub listen: Option<String>,

    /// Time zone of log times without an offset, for format detection (IANA name).
    #[arg(long, value_name = "TZ")]
    pub timezone: Option<String>,
}

#[derive(Debug, Args)]
pub struct WorkArgs {
    #[command(flatten)]
    pub broker: BrokerArgs,

    /// Address of the worker's HTTP endpoint (/metrics, /healthz, /readyz). Port 0 picks a
    /// free port and logs it. Without it, no endpoint.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    #[command(flatten)]
    pub rules: RuleArgs,

    /// This worker's name among the workers (default: host name and process id).
    #[arg(long, value_name = "NAME")]
    pub id: Option<String>,

    /// How long a partition's lease lasts unrenewed: how soon a lost worker's partitions move
    /// to the others.
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    pub lease: String,

    /// How often alerts, contributions and each partition's state are committed (and lines
    /// acknowledged).
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    pub checkpoint_interval: String,

    /// A stream with no lines for this long no longer holds correlation back.
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub idle_timeout: String,

    /// How long JetStream waits for a worker's ack before it delivers a message again.
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub ack_wait: String,

    #[command(flatten)]
    pub live: LiveArgs,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check FILE: see `reconwatch config --help`.
    Check {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Load rule files and report every rule that cannot run, with file, rule, construct and
    /// reason. Exit status 1 when any rule is rejected (rules for log sources reconwatch does
    /// not read are listed as skipped and do not fail the check).
    Check(RulesCheckArgs),
    /// Run the test log lines each rule carries (`reconwatch-tests:`): every `match` excerpt
    /// must raise the rule's alert, no `no-match` excerpt may. Exit status 1 on any failure,
    /// including a rule without tests.
    Test(RulesCheckArgs),
}

#[derive(Debug, Args)]
pub struct RulesCheckArgs {
    /// Rule files or directories; when none is given, the rules of --config (if it names any),
    /// else the shipped rules.
    #[arg(value_name = "PATHS")]
    pub paths: Vec<PathBuf>,

    #[command(flatten)]
    pub context: ContextArgs,

    /// Shorter output. `check`: one line per problem category with its count, instead of every
    /// problem. `test`: only the failures and the totals, without a line per passing rule.
    #[arg(long)]
    pub summary: bool,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Seed of the pseudo-random generator: the same seed and size give the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Approximate total size of the logs to write, such as `50MB` or `1GB`.
    #[arg(long, default_value = "5MB", value_name = "SIZE")]
    pub size: String,

    /// Directory to write into (created if missing). A directory that already holds files is
    /// refused unless --force is given.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Write into a directory that is not empty, replacing the world's files there.
    #[arg(long)]
    pub force: bool,
}
