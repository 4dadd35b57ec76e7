//! Output streams: each log family collects lines in a min-heap by time and writes out, in time
//! order, every line older than the generator's watermark (the start of the activity being
//! generated: no later activity can produce an earlier line). A stream is split into files by
//! time (a rotated `.1.gz` part, one file per UTC day), and each labelled line becomes one JSON
//! object in `labels.jsonl` that names its file and 1-based line number.
//!
//! Never holds more than the lines of the activities still in flight; never writes a line
//! before all earlier lines of its file.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;

use super::GenFile;
use super::clock::{self, DAY, Ts};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Postfix = 0,
    Squid = 1,
    /// Exchange hub transport events (MSGTRK).
    ExTrk = 2,
    /// Exchange mailbox delivery events (MSGTRKMD).
    ExMd = 3,
    /// Exchange mailbox submission events (MSGTRKMS).
    ExMs = 4,
    ProxySg = 5,
    /// The branch-office Squid (no TLS inspection, `strip_query_terms on`).
    SquidBranch = 6,
}

const STREAMS: usize = 7;

/// What a labelled line is (see sample-logs/.world/README.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    CampaignMail,
    CampaignOpen,
    CampaignClick,
    CampaignWeb,
    NewsletterMail,
    NewsletterOpen,
    NewsletterClick,
    /// An analytics beacon fetched while browsing (web lines only).
    TrackerBeacon,
}

impl Kind {
    pub fn is_campaign(self) -> bool {
        matches!(
            self,
            Kind::CampaignMail | Kind::CampaignOpen | Kind::CampaignClick | Kind::CampaignWeb
        )
    }
}

/// The ground truth about one line.
#[derive(Debug, Clone, Serialize)]
pub struct Label {
    pub kind: Kind,
    pub recipient: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The variation class (`lookalike`, `token_short`, `listmonk`, ...; see the README).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<&'static str>,
    /// How a web line shows an open or click it cannot show in full: `connect` (only the
    /// `CONNECT host:443` of an uninspected tunnel) or `stripped` (the query cut off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wave: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outlet: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// For web lines: the host contacted (of an open: the pixel's host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
}

impl Label {
    pub fn new(kind: Kind, recipient: &str) -> Label {
        Label {
            kind,
            recipient: recipient.to_string(),
            token: None,
            queue_id: None,
            message_id: None,
            class: None,
            via: None,
            wave: None,
            outlet: None,
            domain: None,
            host: None,
            user: None,
            client_ip: None,
        }
    }
}

#[derive(Serialize)]
struct LabelLine<'a> {
    file: &'a str,
    line: u64,
    #[serde(flatten)]
    label: &'a Label,
}

struct Pending {
    ts: Ts,
    seq: u64,
    text: Vec<u8>,
    label: Option<Rc<Label>>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.ts, self.seq) == (other.ts, other.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.ts, self.seq).cmp(&(other.ts, other.seq))
    }
}

enum Writer {
    Plain(BufWriter<File>),
    Gz(Box<BufWriter<GzEncoder<File>>>),
}

impl Writer {
    fn get(&mut self) -> &mut dyn Write {
        match self {
            Writer::Plain(w) => w,
            Writer::Gz(w) => w,
        }
    }

    fn close(self) -> io::Result<()> {
        match self {
            Writer::Plain(mut w) => w.flush(),
            Writer::Gz(w) => {
                let gz = (*w).into_inner().map_err(|e| e.into_error())?;
                gz.finish()?.flush()
            }
        }
    }
}

struct OpenFile {
    key: i64,
    rel: String,
    writer: Writer,
    lines: u64,
    bytes: u64,
}

#[derive(Default)]
struct StreamState {
    heap: BinaryHeap<Reverse<Pending>>,
    open: Option<OpenFile>,
}

/// Every output of one world.
pub struct Outputs {
    root: PathBuf,
    /// Local midnight where the rotated `.1.gz` part ends.
    rotate_at: Ts,
    streams: Vec<StreamState>,
    files: Vec<GenFile>,
    labels: BufWriter<File>,
    seq: u64,
    pub campaign_lines: u64,
    pub label_lines: u64,
}

impl Outputs {
    pub fn create(root: &Path, rotate_at: Ts) -> io::Result<Outputs> {
        for dir in ["mail/exchange", "web/proxysg", "web/branch", super::SIDE_DIR] {
            fs::create_dir_all(root.join(dir))?;
        }
        let labels = BufWriter::with_capacity(1 << 16, File::create(root.join(super::SIDE_DIR).join("labels.jsonl"))?);
        Ok(Outputs {
            root: root.to_path_buf(),
            rotate_at,
            streams: (0..STREAMS).map(|_| StreamState::default()).collect(),
            files: Vec::new(),
            labels,
            seq: 0,
            campaign_lines: 0,
            label_lines: 0,
        })
    }

    pub fn labels_path(&self) -> PathBuf {
        self.root.join(super::SIDE_DIR).join("labels.jsonl")
    }

    /// Queues one line (without its newline).
    pub fn push(&mut self, stream: Stream, ts: Ts, text: Vec<u8>, label: Option<Rc<Label>>) {
        self.seq += 1;
        self.streams[stream as usize].heap.push(Reverse(Pending {
            ts,
            seq: self.seq,
            text,
            label,
        }));
    }

    /// Writes every queued line older than `watermark`.
    pub fn flush_before(&mut self, watermark: Ts) -> io::Result<()> {
        for i in 0..STREAMS {
            while self.streams[i].heap.peek().is_some_and(|Reverse(p)| p.ts < watermark) {
                if let Some(Reverse(p)) = self.streams[i].heap.pop() {
                    self.write_line(i, p)?;
                }
            }
        }
        Ok(())
    }

    /// Writes everything and closes every file.
    pub fn finish(mut self) -> io::Result<(Vec<GenFile>, PathBuf, u64)> {
        self.flush_before(Ts::MAX)?;
        for i in 0..STREAMS {
            self.close_stream(i)?;
        }
        self.labels.flush()?;
        let labels = self.labels_path();
        Ok((self.files, labels, self.campaign_lines))
    }

    fn stream_of(i: usize) -> Stream {
        [
            Stream::Postfix,
            Stream::Squid,
            Stream::ExTrk,
            Stream::ExMd,
            Stream::ExMs,
            Stream::ProxySg,
            Stream::SquidBranch,
        ][i]
    }

    /// Which file of its stream a line at `ts` belongs to.
    fn file_key(&self, stream: Stream, ts: Ts) -> i64 {
        match stream {
            Stream::Postfix | Stream::Squid => i64::from(ts >= self.rotate_at),
            // The branch office's proxy is small: one file, not rotated.
            Stream::SquidBranch => 0,
            _ => ts.div_euclid(DAY),
        }
    }

    fn write_line(&mut self, i: usize, p: Pending) -> io::Result<()> {
        let stream = Self::stream_of(i);
        let key = self.file_key(stream, p.ts);
        if self.streams[i].open.as_ref().is_none_or(|f| f.key != key) {
            self.close_stream(i)?;
            let f = self.open_file(stream, key, p.ts)?;
            self.streams[i].open = Some(f);
        }
        let Some(f) = self.streams[i].open.as_mut() else {
            return Ok(());
        };
        let w = f.writer.get();
        w.write_all(&p.text)?;
        w.write_all(b"\n")?;
        f.lines += 1;
        f.bytes += p.text.len() as u64 + 1;
        if let Some(label) = p.label {
            serde_json::to_writer(
                &mut self.labels,
                &LabelLine {
                    file: &f.rel,
                    line: f.lines,
                    label: &label,
                },
            )?;
            self.labels.write_all(b"\n")?;
            self.label_lines += 1;
            if label.kind.is_campaign() {
                self.campaign_lines += 1;
            }
        }
        Ok(())
    }

    fn open_file(&mut self, stream: Stream, key: i64, first: Ts) -> io::Result<OpenFile> {
        let day = clock::ymd_utc(first);
        let hour = clock::hour_utc(first);
        let (rel, gz) = match (stream, key) {
            (Stream::Postfix, 0) => ("mail/maillog.1.gz".to_string(), true),
            (Stream::Postfix, _) => ("mail/maillog".to_string(), false),
            (Stream::Squid, 0) => ("web/access.log.1.gz".to_string(), true),
            (Stream::Squid, _) => ("web/access.log".to_string(), false),
            (Stream::ExTrk, _) => (format!("mail/exchange/MSGTRK{day}{hour:02}-1.LOG"), false),
            (Stream::ExMd, _) => (format!("mail/exchange/MSGTRKMD{day}{hour:02}-1.LOG"), false),
            (Stream::ExMs, _) => (format!("mail/exchange/MSGTRKMS{day}{hour:02}-1.LOG"), false),
            (Stream::ProxySg, _) => (format!("web/proxysg/SG_main_{day}00.log"), false),
            (Stream::SquidBranch, _) => ("web/branch/access.log".to_string(), false),
        };
        let file = File::create(self.root.join(&rel))?;
        let writer = if gz {
            Writer::Gz(Box::new(BufWriter::with_capacity(
                1 << 16,
                GzEncoder::new(file, Compression::new(GZIP_LEVEL)),
            )))
        } else {
            Writer::Plain(BufWriter::with_capacity(1 << 16, file))
        };
        let mut f = OpenFile {
            key,
            rel,
            writer,
            lines: 0,
            bytes: 0,
        };
        for line in header(stream, first) {
            let w = f.writer.get();
            w.write_all(line.as_bytes())?;
            w.write_all(b"\n")?;
            f.lines += 1;
            f.bytes += line.len() as u64 + 1;
        }
        Ok(f)
    }

    fn close_stream(&mut self, i: usize) -> io::Result<()> {
        if let Some(f) = self.streams[i].open.take() {
            f.writer.close()?;
            let path = self.root.join(&f.rel);
            let disk_bytes = fs::metadata(&path)?.len();
            self.files.push(GenFile {
                path,
                rel: f.rel,
                lines: f.lines,
                bytes: f.bytes,
                disk_bytes,
            });
        }
        Ok(())
    }
}

/// gzip level of rotated parts: fast, since the generator must write a gigabyte in seconds.
const GZIP_LEVEL: u32 = 3;

pub const EXCHANGE_FIELDS: &str = "date-time,client-ip,client-hostname,server-ip,server-hostname,\
source-context,connector-id,source,event-id,internal-message-id,message-id,network-message-id,\
recipient-address,recipient-status,total-bytes,recipient-count,related-recipient-address,reference,\
message-subject,sender-address,return-path,message-info,directionality,tenant-id,original-client-ip,\
original-server-ip,custom-data,transport-traffic-type,log-id,schema-version";

pub const PROXYSG_FIELDS: &str = "date time time-taken c-ip cs-username cs-auth-group x-exception-id \
sc-filter-result cs-categories cs(Referer) sc-status s-action cs-method rs(Content-Type) cs-uri-scheme \
cs-host cs-uri-port cs-uri-path cs-uri-query cs-uri-extension cs(User-Agent) s-ip sc-bytes cs-bytes \
x-virus-id";

/// The header lines a product writes at the top of a new file.
fn header(stream: Stream, first: Ts) -> Vec<String> {
    let mut date = Vec::new();
    match stream {
        Stream::ExTrk | Stream::ExMd | Stream::ExMs => {
            clock::iso_utc_ms(&mut date, first - 2 * clock::SECOND);
            let kind = match stream {
                Stream::ExMd => "Message Tracking Log (Mailbox Delivery)",
                Stream::ExMs => "Message Tracking Log (Mailbox Submission)",
                _ => "Message Tracking Log",
            };
            vec![
                "#Software: Microsoft Exchange Server".to_string(),
                "#Version: 15.01.2176.002".to_string(),
                format!("#Log-type: {kind}"),
                format!("#Date: {}", String::from_utf8_lossy(&date)),
                format!("#Fields: {EXCHANGE_FIELDS}"),
            ]
        }
        Stream::ProxySg => {
            // The appliance starts each upload at UTC midnight.
            let midnight = first.div_euclid(DAY) * DAY;
            clock::w3c_date_time(&mut date, midnight);
            let date = String::from_utf8_lossy(&date);
            vec![
                "#Software: SGOS 6.7.5.3".to_string(),
                "#Version: 1.0".to_string(),
                format!("#Start-Date: {date}"),
                format!("#Date: {date}"),
                format!("#Fields: {PROXYSG_FIELDS}"),
                "#Remark: 4012230017 \"sg-senate-01\" \"10.40.0.8\" \"main\"".to_string(),
            ]
        }
        Stream::Postfix | Stream::Squid | Stream::SquidBranch => Vec::new(),
    }
}
