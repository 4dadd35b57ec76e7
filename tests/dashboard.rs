//! The Grafana dashboard (`deploy/grafana/reconwatch.json`) and the Prometheus configuration
//! (`deploy/prometheus/`) against the real things: the daemon tails the shipped sample logs while
//! Debian's `prometheus` server scrapes it every second with the shipped alerting rules loaded;
//! then every query of every panel runs through Prometheus's HTTP API, the panels that must show
//! something with the sample world do, and `deploy/grafana/render.py` draws the dashboard from
//! that Prometheus into a PNG whose pixels are checked.
//!
//! `RECONWATCH_UPDATE_SCREENSHOT=1 cargo test --release --test dashboard` also copies that PNG to
//! `deploy/grafana/reconwatch.png`, the screenshot the README shows (once it passed its checks).
//!
//! Needs `prometheus` and `promtool` (Debian's prometheus package) and Debian's python3 with
//! python3-matplotlib; `.ci/test` installs them, and the tests fail, never skip, without them.
//! Every wait polls a condition with a deadline; nothing asserts a time.

mod common;
use common::daemon::*;
use common::*;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

const DASHBOARD: &str = "deploy/grafana/reconwatch.json";
const RENDER: &str = "deploy/grafana/render.py";
const SCREENSHOT: &str = "deploy/grafana/reconwatch.png";
const RULES: &str = "deploy/prometheus/reconwatch.rules.yml";

/// Waits on Prometheus: a scrape, a rule evaluation, a correlation released a few scrapes later,
/// on a loaded CI machine.
const WAIT: Duration = Duration::from_secs(120);

/// The size of the rendered dashboard, in pixels.
const WIDTH: u32 = 1600;
const HEIGHT: u32 = 2400;

/// The correlation rule that joins a tracking URL mailed to a watch-listed person to the fetch of
/// it (rules/correlation/tracking_pixel_fired.yml): it fires only when both sides of the sample
/// world went through the daemon in time order.
const PIXEL_FIRED: &str = "4e8b1d27-9f3c-4a65-b0e2-6c7d9a1f3e58";

/// The panels that show something with the sample world (by title): ingest, alerts by rule,
/// targeting of watch-listed groups, pixel-fired alerts.
const MUST_HAVE_DATA: &[&str] = &[
    "Lines per second, by source",
    "Bytes per second, by source",
    "Events per second, by source",
    "Alerts per minute, by rule and level",
    "Alerts in range, by rule and level",
    "Targeting of watch-listed groups over time",
    "Alerts on watch-listed groups in range, by group, rule and level",
    "Pixel-fired alerts over time, by group and rule",
    "Pixel-fired alerts in range, by group and rule",
];

/// Series that exist once the sample world went through, and those of them that must have grown
/// while Prometheus watched (their sum, so that a series born late counts).
const KEY_SERIES: &[&str] = &[
    "reconwatch_build_info",
    "reconwatch_source_lines_total",
    "reconwatch_source_bytes_total",
    "reconwatch_source_events_total",
    "reconwatch_source_streams",
    "reconwatch_source_last_line_timestamp_seconds",
    "reconwatch_input_lines_total",
    "reconwatch_alerts_total",
    "reconwatch_alerts_by_group_total",
    "reconwatch_pixel_alerts_total",
    "reconwatch_ingest_lag_seconds_bucket",
    "reconwatch_processing_latency_seconds_bucket",
    "reconwatch_queue_depth",
    "reconwatch_queue_capacity",
    "reconwatch_sink_deliveries_total",
    "reconwatch_reload_last_success_timestamp_seconds",
];
const MOVING_SERIES: &[&str] = &[
    "reconwatch_source_lines_total",
    "reconwatch_source_bytes_total",
    "reconwatch_source_events_total",
    "reconwatch_input_lines_total",
    "reconwatch_alerts_total",
    "reconwatch_alerts_by_group_total",
    "reconwatch_pixel_alerts_total",
    "reconwatch_ingest_lag_seconds_count",
    "reconwatch_processing_latency_seconds_count",
    "reconwatch_sink_deliveries_total",
];

/// The labels a panel may group or name series by: low-cardinality ones only, never a person.
const LABELS: &[&str] = &[
    "instance",
    "source",
    "format",
    "rule",
    "level",
    "title",
    "group",
    "queue",
    "cause",
    "correlation",
    "outcome",
    "sink",
    "result",
    "list",
    "kind",
    "version",
    "le",
];

/// One tailed file of the test and the sample logs whose lines it receives (globs under
/// `sample-logs/`, oldest first), read as `format`. One file a source, its sample files' lines
/// merged in time order under the first file's header (`#` lines): the daemon's correlation
/// counts an event more than `--lateness` older than its source's newest as late, so a source
/// must not receive two files' lines interleaved by whichever the tailer reads first.
struct Feed {
    file: &'static str,
    format: &'static str,
    samples: &'static [&'static str],
}

const FEEDS: &[Feed] = &[
    Feed {
        file: "maillog",
        format: "postfix",
        samples: &["mail/maillog.1.gz", "mail/maillog"],
    },
    Feed {
        file: "MSGTRK.LOG",
        format: "exchange",
        samples: &["mail/exchange/*.LOG"],
    },
    Feed {
        file: "access.log",
        format: "squid",
        samples: &["web/access.log.1.gz", "web/access.log"],
    },
    Feed {
        file: "branch-access.log",
        format: "squid",
        samples: &["web/branch/access.log"],
    },
    Feed {
        file: "SG_main.log",
        format: "w3c",
        samples: &["web/proxysg/*.log"],
    },
];

/// The lines are written in this many pieces, one every `PACE`, so that they flow while
/// Prometheus scrapes (pacing only; no time is asserted).
const PIECES: usize = 40;
const PACE: Duration = Duration::from_millis(250);

/// A child process killed when dropped, so that a failing test leaves none behind.
struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's python3, where python3-matplotlib installs (a pyenv or venv python3 earlier on PATH
/// does not see it); `python3` elsewhere.
fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// Runs a program the test needs, failing with what installs it when it is missing.
fn tool(program: &str, args: &[&str], package: &str) -> std::process::Output {
    Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("{program}: {e}: .ci/test installs Debian's {package} package (apt-get install {package})")
    })
}

fn dashboard() -> Value {
    serde_json::from_str(&fs::read_to_string(DASHBOARD).unwrap()).unwrap()
}

/// Every panel, rows' nested panels (a folded row's) included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for p in list.as_array().into_iter().flatten() {
            out.push(p);
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// (panel title, refId, expression) of every query of every panel.
fn queries(dashboard: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for p in panels(dashboard) {
        for t in p["targets"].as_array().into_iter().flatten() {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            out.push((s(&p["title"]), s(&t["refId"]), s(&t["expr"])));
        }
    }
    out
}

/// The names `reconwatch_*` an expression reads.
fn metric_names(expr: &str) -> BTreeSet<&str> {
    let name = regex::Regex::new(r"\breconwatch_\w+").unwrap();
    name.find_iter(expr).map(|m| m.as_str()).collect()
}

/// Whether src/metrics.rs (its text) declares `name`, or the histogram whose series it is.
fn declared(metrics_rs: &str, name: &str) -> bool {
    let quoted = |n: &str| metrics_rs.contains(&format!("\"{n}\""));
    quoted(name)
        || ["_bucket", "_count", "_sum"]
            .iter()
            .any(|s| name.strip_suffix(s).is_some_and(quoted))
}

/// The labels an expression groups by (`by (a, b)`) and its legend shows (`{{a}}`).
fn labels_used<'a>(expr: &'a str, legend: &'a str) -> Vec<&'a str> {
    let by = regex::Regex::new(r"\bby\s*\(([^)]*)\)").unwrap();
    let shown = regex::Regex::new(r"\{\{\s*(\w+)\s*\}\}").unwrap();
    let grouped = by
        .captures_iter(expr)
        .flat_map(|c| c.get(1).unwrap().as_str().split(','));
    let named = shown.captures_iter(legend).map(|c| c.get(1).unwrap().as_str());
    grouped.map(str::trim).chain(named).collect()
}

#[test]
fn the_dashboard_is_in_grafanas_import_format_and_reads_only_declared_metrics_by_group() {
    let d = dashboard();
    let ds = serde_json::json!({"type": "prometheus", "uid": "${DS_PROMETHEUS}"});
    // The data source is chosen on import: an input, which every panel and variable names.
    let input = &d["__inputs"][0];
    assert_eq!(input["name"], "DS_PROMETHEUS");
    assert_eq!(input["type"], "datasource");
    assert_eq!(input["pluginId"], "prometheus");
    assert_eq!(d["schemaVersion"], 39);
    assert!(d["uid"].is_string() && d["title"].is_string());
    let vars: BTreeMap<&str, &Value> = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap(), v))
        .collect();
    for (name, query) in [
        ("instance", "label_values(reconwatch_build_info, instance)"),
        (
            "source",
            "label_values(reconwatch_source_lines_total{instance=~\"$instance\"}, source)",
        ),
    ] {
        let v = vars.get(name).unwrap_or_else(|| panic!("no variable {name}"));
        assert_eq!(v["definition"], query, "{name}");
        assert_eq!(v["query"]["query"], query, "{name}");
        assert_eq!(v["datasource"], ds, "{name}");
    }

    let all = panels(&d);
    let metrics_rs = fs::read_to_string("src/metrics.rs").unwrap();
    let mut problems = Vec::new();
    let mut ids = HashSet::new();
    let mut cells = HashSet::new();
    let mut types = BTreeSet::new();
    for p in &all {
        let title = p["title"].as_str().unwrap_or_default();
        assert!(ids.insert(p["id"].as_u64().unwrap()), "panel id {} twice", p["id"]);
        let kind = p["type"].as_str().unwrap();
        assert!(
            ["row", "timeseries", "stat", "table", "bargauge"].contains(&kind),
            "{title}: panel type {kind}"
        );
        types.insert(kind);
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64().unwrap(),
            g["y"].as_u64().unwrap(),
            g["w"].as_u64().unwrap(),
            g["h"].as_u64().unwrap(),
        );
        assert!(x + w <= 24 && w > 0 && h > 0, "{title}: outside the 24-column grid");
        for cell in (x..x + w).flat_map(|cx| (y..y + h).map(move |cy| (cx, cy))) {
            assert!(cells.insert(cell), "{title} overlaps another panel at {cell:?}");
        }
        assert!(!title.is_empty(), "a panel without a title: {}", p["id"]);
        if kind == "row" {
            continue;
        }
        let description = p["description"].as_str().unwrap_or_default();
        assert!(
            description.len() >= 60,
            "{title}: the description says what a bad value means and what to do"
        );
        assert_eq!(p["datasource"], ds, "{title}");
        let targets = p["targets"].as_array().filter(|t| !t.is_empty());
        for t in targets.unwrap_or_else(|| panic!("{title}: no query")) {
            assert_eq!(t["datasource"], ds, "{title}");
            let expr = t["expr"].as_str().unwrap();
            let legend = t["legendFormat"].as_str().unwrap_or_default();
            for label in labels_used(expr, legend) {
                assert!(LABELS.contains(&label), "{title}: label {label:?}");
            }
            for name in metric_names(expr) {
                if !declared(&metrics_rs, name) {
                    problems.push(format!("{title}: {name} is not declared in src/metrics.rs"));
                }
            }
        }
    }
    assert!(
        types.is_superset(&["timeseries", "stat", "table", "bargauge"].into()),
        "{types:?}"
    );
    assert!(
        problems.is_empty(),
        "metrics the dashboard reads but reconwatch does not export:\n{}",
        problems.join("\n")
    );
}

#[test]
fn promtool_accepts_the_scrape_configuration_and_its_rules() {
    let o = tool(
        "promtool",
        &["check", "config", "deploy/prometheus/prometheus.yml"],
        "prometheus",
    );
    let out = format!("{}{}", stdout(&o), stderr(&o));
    assert!(o.status.success(), "{out}");
    assert!(out.contains("reconwatch.rules.yml"), "the rules are checked too: {out}");
    let config = fs::read_to_string("deploy/prometheus/prometheus.yml").unwrap();
    let listen = fs::read_to_string("deploy/reconwatch.yml").unwrap();
    let default = listen
        .lines()
        .find_map(|l| l.strip_prefix("listen: "))
        .expect("deploy/reconwatch.yml documents listen:");
    assert!(
        config.contains(&format!("targets: [\"{default}\"]")),
        "the job scrapes the documented listen address {default}"
    );
}

/// A sample line's event time in milliseconds: ISO 8601 first (Postfix; Exchange before its
/// first comma), Unix seconds (Squid), or ELFF's `date time` in UTC (ProxySG).
fn event_time(line: &str) -> i64 {
    let first = line.split([' ', ',']).next().unwrap_or_default();
    if let Ok(t) = first.parse::<jiff::Timestamp>() {
        return t.as_millisecond();
    }
    if let Ok(s) = first.parse::<f64>() {
        return (s * 1000.0) as i64;
    }
    let mut words = line.split_whitespace();
    let (date, time) = (words.next().unwrap(), words.next().unwrap_or_default());
    format!("{date}T{time}Z")
        .parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("no event time in {line:?}: {e}"))
        .as_millisecond()
}

/// The sample world as the test feeds it: the tailed files, created with their headers, and every
/// other sample line as (event time, file, line) in time order.
struct World {
    files: Vec<PathBuf>,
    headers: Vec<String>,
    lines: Vec<(i64, usize, String)>,
}

impl World {
    /// Reads the sample logs and creates the tailed files in `dir`.
    fn new(dir: &Path) -> World {
        let mut headers = vec![String::new(); FEEDS.len()];
        let mut lines = Vec::new();
        let mut fed = BTreeSet::new();
        for (i, feed) in FEEDS.iter().enumerate() {
            let mut header_from = None;
            for pattern in feed.samples {
                let paths = glob::glob(&format!("sample-logs/{pattern}")).unwrap();
                for path in paths.map(Result::unwrap) {
                    let text = String::from_utf8(read_log(&path)).unwrap();
                    for line in text.lines() {
                        if !line.starts_with('#') {
                            lines.push((event_time(line), i, format!("{line}\n")));
                        } else if *header_from.get_or_insert_with(|| path.clone()) == path {
                            headers[i].push_str(&format!("{line}\n"));
                        }
                    }
                    fed.insert(path);
                }
            }
        }
        let logs_only = glob::MatchOptions {
            require_literal_leading_dot: true,
            ..Default::default()
        };
        let shipped: BTreeSet<PathBuf> = glob::glob_with("sample-logs/**/*", logs_only)
            .unwrap()
            .map(Result::unwrap)
            .filter(|p| p.is_file())
            .collect();
        assert_eq!(fed, shipped, "every shipped log, and only those, is fed (FEEDS)");
        lines.sort_by_key(|l| l.0);
        let files = FEEDS.iter().zip(&headers).map(|(f, h)| write(dir, f.file, h)).collect();
        World { files, headers, lines }
    }

    /// `reconwatch run`'s options: the sample world's configuration, each file tailed in its
    /// format, a state directory and an alerts file in `dir`.
    fn args(&self, dir: &Path) -> Vec<String> {
        let mut args = vec!["--config".to_owned(), "deploy/sample-world.yml".to_owned()];
        for (f, path) in FEEDS.iter().zip(&self.files) {
            args.extend(["--tail".to_owned(), format!("{}:{}", path.display(), f.format)]);
        }
        for (option, name) in [("--state-dir", "state"), ("--alerts", "alerts.jsonl")] {
            args.extend([option.to_owned(), dir.join(name).display().to_string()]);
        }
        args
    }

    /// Appends the lines to their files in time order, in `PIECES` pieces one `PACE` apart.
    fn feed(&self) {
        for piece in self.lines.chunks(self.lines.len().div_ceil(PIECES)) {
            let mut text = vec![String::new(); self.files.len()];
            for (_, i, line) in piece {
                text[*i].push_str(line);
            }
            for (path, text) in self.files.iter().zip(&text) {
                let mut f = fs::OpenOptions::new().append(true).open(path).unwrap();
                f.write_all(text.as_bytes()).unwrap();
            }
            std::thread::sleep(PACE);
        }
    }

    /// The lines of file `i` (its header included), as its source counts them.
    fn count(&self, i: usize) -> usize {
        self.headers[i].lines().count() + self.lines.iter().filter(|l| l.1 == i).count()
    }
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// Percent-encoding of a query parameter's value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The Prometheus server under test, on 127.0.0.1, with its data in a temporary directory.
struct Prometheus {
    addr: String,
    process: Process,
}

impl Prometheus {
    /// Starts `prometheus` with `config` on a free port (found by binding 127.0.0.1:0 and
    /// letting it go; taken meanwhile, the next one is tried) and waits until it is ready.
    fn start(dir: &Path, config: &Path) -> Prometheus {
        let version = tool("prometheus", &["--version"], "prometheus");
        assert!(version.status.success(), "{}", stderr(&version));
        for attempt in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let addr = format!("127.0.0.1:{port}");
            let log = dir.join(format!("prometheus-{attempt}.log"));
            let child = Command::new("prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
                .arg(format!("--web.listen-address={addr}"))
                .stdout(Stdio::null())
                .stderr(fs::File::create(&log).unwrap())
                .spawn()
                .unwrap();
            let mut p = Prometheus {
                addr,
                process: Process { child, log },
            };
            let start = Instant::now();
            loop {
                if let Some(status) = p.process.child.try_wait().unwrap() {
                    let log = p.process.log();
                    assert!(
                        log.contains("address already in use"),
                        "prometheus exited ({status}):\n{log}"
                    );
                    break;
                }
                if TcpStream::connect(&p.addr).is_ok() && p.get("/-/ready").0 == 200 {
                    return p;
                }
                assert!(start.elapsed() < WAIT, "prometheus not ready:\n{}", p.process.log());
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!("no free port for prometheus in 5 attempts");
    }

    fn get(&self, path: &str) -> (u16, String) {
        // HTTP/1.0: Prometheus would answer 1.1 with a chunked body.
        http_get_as(&self.addr, path, "HTTP/1.0")
    }

    /// The JSON answer of an API call, whatever its status.
    fn api(&self, path: &str, params: &[(&str, &str)]) -> Value {
        let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
        let (status, body) = self.get(&format!("{path}?{}", query.join("&")));
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: HTTP {status}, {e}: {body}"))
    }

    /// The series of an instant query, which must succeed.
    fn query(&self, expr: &str) -> Vec<Value> {
        let v = self.api("/api/v1/query", &[("query", expr)]);
        assert_eq!(v["status"], "success", "{expr}: {v}");
        v["data"]["result"].as_array().unwrap().clone()
    }

    /// The value of an instant query that gives one series or a scalar (None: no series).
    fn value(&self, expr: &str) -> Option<f64> {
        let result = self.query(expr);
        let v = result.first()?["value"][1].as_str()?;
        Some(v.parse().unwrap())
    }

    fn query_range(&self, expr: &str, start: f64, end: f64, step: u64) -> Value {
        self.api(
            "/api/v1/query_range",
            &[
                ("query", expr),
                ("start", &format!("{start:.3}")),
                ("end", &format!("{end:.3}")),
                ("step", &step.to_string()),
            ],
        )
    }

    /// Waits until every alerting rule has been evaluated, and fails if one failed to.
    fn wait_rules_evaluated(&self) {
        let start = Instant::now();
        loop {
            let v = self.api("/api/v1/rules", &[]);
            let groups = v["data"]["groups"].as_array().unwrap();
            let rules: Vec<&Value> = groups.iter().flat_map(|g| g["rules"].as_array().unwrap()).collect();
            if !rules.is_empty() && rules.iter().all(|r| r["health"] != "unknown") {
                let failed: Vec<&&Value> = rules.iter().filter(|r| r["health"] != "ok").collect();
                assert!(failed.is_empty(), "alerting rules that fail to evaluate: {failed:#?}");
                return;
            }
            assert!(start.elapsed() < WAIT, "rules not evaluated: {v}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until `ok(value of expr)`.
    fn wait(&self, expr: &str, ok: impl Fn(Option<f64>) -> bool, daemon: &Daemon) {
        let start = Instant::now();
        loop {
            let v = self.value(expr);
            if ok(v) {
                return;
            }
            assert!(
                start.elapsed() < WAIT,
                "{expr} stayed at {v:?}\nprometheus:\n{}\ndaemon:\n{}",
                self.process.log(),
                daemon.stderr()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Width, height and number of distinct colours of an 8-bit RGB or RGBA, non-interlaced PNG (what
/// matplotlib writes), decoded here so that "not blank" is judged on the pixels themselves.
fn png_summary(png: &[u8]) -> (u32, u32, usize) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG signature");
    let (mut at, mut ihdr, mut idat) = (8, Vec::new(), Vec::new());
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let data = &png[at + 8..at + 8 + len];
        match &png[at + 4..at + 8] {
            b"IHDR" => ihdr = data.to_vec(),
            b"IDAT" => idat.extend_from_slice(data),
            b"IEND" => break,
            _ => {}
        }
        at += 12 + len;
    }
    let be = |i: usize| u32::from_be_bytes(ihdr[i..i + 4].try_into().unwrap());
    let (width, height) = (be(0), be(4));
    let (depth, colour, interlace) = (ihdr[8], ihdr[9], ihdr[12]);
    assert_eq!((depth, interlace), (8, 0), "8-bit, not interlaced");
    let bpp = match colour {
        2 => 3,
        6 => 4,
        c => panic!("PNG colour type {c}"),
    };
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..]).read_to_end(&mut raw).unwrap();
    let stride = width as usize * bpp;
    assert_eq!(
        raw.len(),
        height as usize * (stride + 1),
        "the image data fills the image"
    );
    let mut prev = vec![0u8; stride];
    let mut colours = HashSet::new();
    for row in raw.chunks(stride + 1) {
        let mut cur = vec![0u8; stride];
        for i in 0..stride {
            let a = if i >= bpp { cur[i - bpp] as i16 } else { 0 };
            let (b, c) = (prev[i] as i16, if i >= bpp { prev[i - bpp] as i16 } else { 0 });
            let predicted = match row[0] {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) / 2,
                4 => {
                    // Paeth: the neighbour nearest to a + b - c.
                    let p = a + b - c;
                    let (pa, pb, pc) = ((p - a).abs(), (p - b).abs(), (p - c).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("PNG filter {f}"),
            };
            cur[i] = row[1 + i].wrapping_add(predicted as u8);
        }
        colours.extend(cur.chunks(bpp).map(<[u8]>::to_vec));
        prev = cur;
    }
    (width, height, colours.len())
}

/// The configuration of the Prometheus under test: `daemon` scraped every second, the shipped
/// alerting rules evaluated every second.
fn scrape_config(dir: &Path, daemon: &Daemon) -> PathBuf {
    let rules = fs::canonicalize(RULES).unwrap();
    write(
        dir,
        "prometheus.yml",
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: [{rules:?}]
scrape_configs:
  - job_name: reconwatch
    static_configs: [{{targets: [{:?}]}}]
",
            daemon.http
        ),
    )
}

/// Runs render.py on the dashboard for the range [start, end] of a Prometheus scraped every
/// second, with `args`.
fn render_py(start: f64, end: f64, args: &[&str]) -> std::process::Output {
    let time = |t: f64| format!("{t:.3}");
    let (start, end) = (time(start), time(end));
    let common = [
        "--dashboard",
        DASHBOARD,
        "--scrape-interval",
        "1s",
        "--from",
        &start,
        "--to",
        &end,
    ];
    let o = Command::new(python())
        .arg(RENDER)
        .args(common)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "render.py {args:?}:\n{}{}", stdout(&o), stderr(&o));
    o
}

/// The key series exist, and those that count what flowed grew while Prometheus watched.
fn check_series(prom: &Prometheus, start: f64, end: f64, problems: &mut Vec<String>) {
    for name in KEY_SERIES {
        if prom.query(name).is_empty() {
            problems.push(format!("no series {name}"));
        }
    }
    for name in MOVING_SERIES {
        let v = prom.query_range(&format!("sum({name})"), start, end, 1);
        let values: Vec<f64> = v["data"]["result"][0]["values"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| p[1].as_str().unwrap().parse().unwrap())
            .collect();
        if !values.first().zip(values.last()).is_some_and(|(a, b)| b > a) {
            problems.push(format!("{name} did not grow while scraped: {values:?}"));
        }
    }
}

/// Every query of every panel succeeds as a range query, with the variables standing for what
/// render.py says; the panels that must show something have series.
fn check_panel_queries(prom: &Prometheus, start: f64, end: f64, problems: &mut Vec<String>) {
    let o = render_py(start, end, &["--print-variables"]);
    let variables: BTreeMap<String, String> = serde_json::from_slice(&o.stdout).unwrap();
    let step: u64 = variables["$__interval"].trim_end_matches('s').parse().unwrap();
    // Longest names first, as render.py replaces them ($__interval_ms before $__interval).
    let mut by_length: Vec<(&String, &String)> = variables.iter().collect();
    by_length.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    let all = queries(&dashboard());
    assert!(all.len() >= 30, "{} queries", all.len());
    let mut with_data = BTreeSet::new();
    for (title, id, expr) in &all {
        let mut q = expr.clone();
        for (name, value) in &by_length {
            q = q
                .replace(&format!("${{{}}}", &name[1..]), value)
                .replace(name.as_str(), value);
        }
        // A Grafana variable starts with a letter or `_` (`$1` is label_replace's group).
        let unmapped = q
            .match_indices('$')
            .any(|(i, _)| q[i + 1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '{'));
        assert!(!unmapped, "{title} {id}: a variable render.py does not map: {q}");
        let v = prom.query_range(&q, start, end, step);
        assert_eq!(v["status"], "success", "{title} {id}: {q}\n{v}");
        let series = v["data"]["result"].as_array().unwrap();
        if series.iter().any(|s| !s["values"].as_array().unwrap().is_empty()) {
            with_data.insert(title.as_str());
        }
    }
    for title in MUST_HAVE_DATA {
        assert!(all.iter().any(|q| q.0 == *title), "no panel {title:?}");
        if !with_data.contains(title) {
            problems.push(format!("panel {title:?}: no series with the sample world"));
        }
    }
}

/// render.py draws the dashboard from `prom` into a PNG of the requested size that is not blank
/// and shows the panels that must have data; copied to the screenshot when asked.
fn check_screenshot(prom: &Prometheus, start: f64, end: f64, dir: &Path, problems: &mut Vec<String>) {
    let png = dir.join("reconwatch.png");
    let (url, width, height) = (format!("http://{}", prom.addr), WIDTH.to_string(), HEIGHT.to_string());
    let out = png.to_str().unwrap();
    let args = [
        "--prometheus",
        &url,
        "--width",
        &width,
        "--height",
        &height,
        "--out",
        out,
    ];
    let report: Value = serde_json::from_slice(&render_py(start, end, &args).stdout).unwrap();
    let drawn: BTreeSet<&str> = report["with_data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for title in MUST_HAVE_DATA {
        if !drawn.contains(title) {
            problems.push(format!("render.py drew no data in {title:?}"));
        }
    }
    let (w, h, colours) = png_summary(&fs::read(&png).unwrap());
    assert_eq!((w, h), (WIDTH, HEIGHT));
    assert!(colours > 200, "a nearly blank image: {colours} colours");
    if std::env::var_os("RECONWATCH_UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
        fs::copy(&png, SCREENSHOT).unwrap();
    }
}

#[test]
fn every_panel_query_runs_on_a_live_prometheus_scraping_the_daemon_and_the_dashboard_renders() {
    let matplotlib = tool(python(), &["-c", "import matplotlib"], "python3-matplotlib");
    assert!(
        matplotlib.status.success(),
        "{} cannot import matplotlib: .ci/test installs Debian's python3-matplotlib package\n{}",
        python(),
        stderr(&matplotlib)
    );
    let dir = tempfile::tempdir().unwrap();
    let world = World::new(&dir.path().join("feed"));
    let args = world.args(dir.path());
    let daemon = Daemon::start(dir.path(), &args.iter().map(String::as_str).collect::<Vec<_>>());
    let prom = Prometheus::start(dir.path(), &scrape_config(dir.path(), &daemon));
    prom.wait("up{job=\"reconwatch\"}", |v| v == Some(1.0), &daemon);
    let targets = prom.api("/api/v1/targets", &[]);
    let target = &targets["data"]["activeTargets"][0];
    assert_eq!(target["health"], "up", "{targets}");
    assert_eq!(target["scrapeUrl"], format!("http://{}/metrics", daemon.http));

    let start = now();
    world.feed();
    for (i, path) in world.files.iter().enumerate() {
        let series = format!("reconwatch_source_lines_total{{source=\"tail:{}\"}}", path.display());
        daemon.wait_metric(&series, |v| v as usize == world.count(i));
    }
    // Prometheus has scraped the last of it, a correlation across mail and web has fired, and
    // every alerting rule has been evaluated without an error.
    let total = (0..FEEDS.len()).map(|i| world.count(i)).sum::<usize>() as f64;
    prom.wait("sum(reconwatch_source_lines_total)", |v| v == Some(total), &daemon);
    let fired = format!("sum(reconwatch_alerts_total{{rule=\"{PIXEL_FIRED}\"}})");
    prom.wait(&fired, |v| v.is_some_and(|v| v > 0.0), &daemon);
    prom.wait_rules_evaluated();
    let end = now();
    // The exposition with every series populated (alerts by group, histograms, sinks) is valid.
    let scraped = dir.path().join("scrape.prom");
    std::fs::write(&scraped, daemon.get("/metrics").1).unwrap();
    let check = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&scraped).unwrap())
        .output()
        .expect("promtool (Debian's prometheus package; .ci/test installs it)");
    assert!(
        check.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&check.stdout),
        stderr(&check)
    );

    // What only passes once every metric the dashboard reads is exported is gathered here and
    // reported at the end, after everything else was checked.
    let mut problems = Vec::new();
    check_series(&prom, start, end, &mut problems);
    check_panel_queries(&prom, start, end, &mut problems);
    check_screenshot(&prom, start, end, dir.path(), &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
