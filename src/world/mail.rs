//! One message, as each mail system logs it: the Postfix gateway of the parliament (rsyslog,
//! RFC 3339 timestamps, full smtpd → cleanup → qmgr → lmtp/smtp → removed lifecycle, with
//! header_checks and body_checks `INFO` lines) and the Exchange 2016 server of the senate
//! (message tracking CSV: MSGTRK, MSGTRKMD, MSGTRKMS).
//!
//! Postfix configuration the lines assume (document it to anyone parsing them):
//! `header_checks = /^(Subject|From|Reply-To|X-Mailer):/ INFO` and `body_checks` INFO on lines
//! with `http://` or `https://`, a quoted-printable attribute (`=3D"`), a
//! `Content-Transfer-Encoding:` part header or a base64 line of an HTML part (so that encoded
//! campaign bodies show; [`Mail::body_lines`] holds exactly the lines those rules log). cleanup truncates the logged header or body text to 200
//! characters (`%.200s` in cleanup_act_log), so long tracking URLs can be cut short, as in life.
//!
//! Never writes a line earlier than the time it is given for the message (the sink's watermark
//! relies on it).

use std::io::Write;
use std::rc::Rc;

use super::catalog::{PARL_DOMAIN, SENATE_DOMAIN};
use super::clock::{self, SECOND, Ts};
use super::rng::{HEX_LOWER, HEX_UPPER, Rng, hash64};
use super::sink::{Label, Outputs, Stream};

/// Public addresses of the two houses' mail servers.
pub const PARL_MX: [(&str, &str, &str); 2] = [
    ("mx1", "mx1.parliament.elmaria.example", "192.0.2.11"),
    ("mx2", "mx2.parliament.elmaria.example", "192.0.2.12"),
];
pub const SENATE_MX: (&str, &str) = ("mail.senate.elmaria.example", "192.0.2.20");
const MAILSTORE: &str = "mailstore.parliament.elmaria.example[10.20.0.25]:24";
const EX_HOST: &str = "EXMB01";
const EX_FQDN: &str = "EXMB01.senate.elmaria.example";
const EX_IP: &str = "10.40.0.10";
const EX_SCHEMA: &str = "15.01.2176.002";

/// Where a message comes from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// An MTA on the internet.
    Internet { host: String, ip: String, helo: String },
    /// A parliament user submitting through the gateway (port 587, SASL).
    Parliament {
        client_host: String,
        ip: String,
        helo: String,
        user: String,
    },
    /// A senate user (Outlook/OWA/ActiveSync) submitting to Exchange.
    Senate { client_type: &'static str },
}

impl Origin {
    /// An internet relay that greets with its own name, at its stable address.
    pub fn relay(host: String) -> Origin {
        Origin::Internet {
            ip: mail_ip(&host),
            helo: host.clone(),
            host,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Mail {
    /// Envelope sender (`MAIL FROM`), empty for `<>`.
    pub env_from: String,
    /// Raw header values as they appear in the message (encoded words stay encoded).
    pub from_header: String,
    pub reply_to: Option<String>,
    pub subject: String,
    /// Decoded subject, as Exchange logs it.
    pub subject_text: String,
    /// Without angle brackets.
    pub message_id: String,
    pub x_mailer: Option<String>,
    /// Body lines that contain a URL (what body_checks INFO logs), in message order.
    pub body_lines: Vec<String>,
    pub size: u64,
    pub rcpts: Vec<String>,
    pub origin: Origin,
    /// Ground truth for every line of this message, if it is labelled.
    pub label: Option<Label>,
}

/// RFC 2047 Q-encoding of a header value when it is not plain ASCII.
pub fn encode_header(s: &str) -> String {
    if s.is_ascii() {
        return s.to_string();
    }
    let mut o = String::from("=?UTF-8?Q?");
    for b in s.bytes() {
        match b {
            b' ' => o.push('_'),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b',' | b'-' | b'!' => o.push(b as char),
            _ => o.push_str(&format!("={b:02X}")),
        }
    }
    o.push_str("?=");
    o
}

impl Mail {
    /// One recipient's copy of an inbound message handed over by `relay`, with its subject and
    /// label: what every tracked mail shares. The sender, ids, body and size are the caller's
    /// (`Mail { env_from, .., ..Mail::relayed(..) }`).
    pub fn relayed(to: &str, relay: String, subject: String, label: Label) -> Mail {
        Mail {
            env_from: String::new(),
            from_header: String::new(),
            reply_to: None,
            subject: encode_header(&subject),
            subject_text: subject,
            message_id: String::new(),
            x_mailer: None,
            body_lines: Vec::new(),
            size: 0,
            rcpts: vec![to.to_string()],
            origin: Origin::relay(relay),
            label: Some(label),
        }
    }
}

pub fn is_parliament(addr: &str) -> bool {
    addr.ends_with(PARL_DOMAIN) && addr.as_bytes().get(addr.len() - PARL_DOMAIN.len() - 1) == Some(&b'@')
}

pub fn is_senate(addr: &str) -> bool {
    addr.ends_with(SENATE_DOMAIN) && addr.as_bytes().get(addr.len() - SENATE_DOMAIN.len() - 1) == Some(&b'@')
}

fn domain_of(addr: &str) -> &str {
    addr.rsplit_once('@').map_or(addr, |(_, d)| d)
}

/// The MX host and address of an external domain (stable per domain).
pub fn mx_of(domain: &str) -> (String, String) {
    if domain == SENATE_DOMAIN {
        return (SENATE_MX.0.to_string(), SENATE_MX.1.to_string());
    }
    let h = hash64(&[domain.as_bytes(), b"mx"]);
    let host = match h % 3 {
        0 => format!("mx.{domain}"),
        1 => format!("mail.{domain}"),
        _ => format!("mx{}.{domain}", 1 + (h >> 8) % 3),
    };
    (host.clone(), mail_ip(&host))
}

/// A stable public address for a mail host (203.0.113.0/24, documentation range).
pub fn mail_ip(host: &str) -> String {
    let h = hash64(&[host.as_bytes()]);
    format!("203.0.113.{}", 10 + h % 240)
}

/// Postfix's delay formatting: two decimals below one second, one below ten, whole above.
fn delay(out: &mut Vec<u8>, secs: f64) {
    if secs >= 10.0 {
        let _ = write!(out, "{}", secs as u64);
    } else if secs >= 1.0 {
        let _ = write!(out, "{:.1}", secs);
    } else {
        let cents = (secs * 100.0 + 0.5) as u64;
        match cents {
            0 => out.push(b'0'),
            c if c % 10 == 0 => {
                let _ = write!(out, "0.{}", c / 10);
            }
            c => {
                let _ = write!(out, "0.{c:02}");
            }
        }
    }
}

/// Truncates at 200 characters like cleanup's `%.200s` (bytes, but at a char boundary).
fn trunc200(s: &str) -> &str {
    if s.len() <= 200 {
        return s;
    }
    let mut end = 200;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Process ids of one daemon kind on one host: a small pool, each process retiring after
/// `max_use` (100) uses and replaced by a newer pid.
struct Pool {
    pids: Vec<(u32, u32)>,
}

impl Pool {
    fn new(rng: &mut Rng, next: &mut u32, n: usize) -> Pool {
        Pool {
            pids: (0..n)
                .map(|_| {
                    *next += rng.range(3, 400) as u32;
                    (*next, rng.below(100) as u32)
                })
                .collect(),
        }
    }

    fn take(&mut self, rng: &mut Rng, next: &mut u32) -> u32 {
        let i = rng.index(self.pids.len());
        let slot = &mut self.pids[i];
        slot.1 += 1;
        if slot.1 >= 100 {
            *next += rng.range(1, 300) as u32;
            *slot = (*next, 0);
        }
        slot.0
    }
}

struct Host {
    name: &'static str,
    qmgr: u32,
    anvil: u32,
    next_pid: u32,
    smtpd: Pool,
    submission: Pool,
    cleanup: Pool,
    lmtp: Pool,
    smtp: Pool,
}

/// The Postfix gateway of the parliament (two hosts logging to one file).
pub struct Postfix {
    hosts: Vec<Host>,
    counter: u32,
}

/// Queues one Postfix line: `<rfc3339> <host> postfix/<prog>[<pid>]: <msg>`.
#[allow(clippy::too_many_arguments)]
fn emit(
    out: &mut Outputs,
    label: Option<&Rc<Label>>,
    ts: Ts,
    host: &str,
    prog: &str,
    pid: u32,
    msg: std::fmt::Arguments<'_>,
) {
    let mut b = Vec::with_capacity(200);
    clock::rfc3339_local(&mut b, ts);
    let _ = write!(b, " {host} postfix/{prog}[{pid}]: ");
    let _ = b.write_fmt(msg);
    out.push(Stream::Postfix, ts, b, label.cloned());
}

/// `delay=` and `delays=` values: total, then before-queue / in-queue / connect / transfer.
fn delays(total: f64, before: f64, conn: f64, xfer: f64) -> (String, String) {
    let mut a = Vec::with_capacity(8);
    delay(&mut a, total);
    let mut b = Vec::with_capacity(24);
    delay(&mut b, before);
    b.push(b'/');
    delay(&mut b, (total - before - conn - xfer).max(0.0));
    b.push(b'/');
    delay(&mut b, conn);
    b.push(b'/');
    delay(&mut b, xfer);
    (
        String::from_utf8_lossy(&a).into_owned(),
        String::from_utf8_lossy(&b).into_owned(),
    )
}

/// What a mail system did with a message, for scheduling opens.
pub struct Delivered {
    pub rcpt: String,
    pub at: Ts,
    pub queue_id: String,
}

enum Header<'a> {
    Info(&'static str, &'a str),
    MessageId,
}

impl Postfix {
    pub fn new(rng: &mut Rng) -> Postfix {
        let hosts = PARL_MX
            .iter()
            .map(|&(name, _, _)| {
                let mut next = rng.range(900, 1400) as u32;
                let qmgr = next;
                next += rng.range(2, 20) as u32;
                let anvil = next + 5000;
                next += rng.range(2000, 9000) as u32;
                Host {
                    name,
                    qmgr,
                    anvil,
                    smtpd: Pool::new(rng, &mut next, 6),
                    submission: Pool::new(rng, &mut next, 3),
                    cleanup: Pool::new(rng, &mut next, 2),
                    lmtp: Pool::new(rng, &mut next, 3),
                    smtp: Pool::new(rng, &mut next, 4),
                    next_pid: next,
                }
            })
            .collect();
        Postfix { hosts, counter: 0 }
    }

    /// A short queue id as Postfix makes them: microseconds (5 hex digits) then the queue
    /// file's inode number. Inodes come from a bijection of a counter, so ids never repeat.
    fn queue_id(&mut self, ts: Ts) -> String {
        self.counter += 1;
        let inode = 0x80_0000 | (self.counter.wrapping_mul(0x9E37_79B1) & 0x7F_FFFF);
        format!("{:05X}{:06X}", ts.rem_euclid(SECOND), inode)
    }

    /// Logs the whole life of `mail` at the gateway, starting at `t0` (the SMTP connect). Returns
    /// every delivery (local and remote recipients).
    pub fn render(&mut self, out: &mut Outputs, rng: &mut Rng, mail: &Mail, t0: Ts) -> Vec<Delivered> {
        let h = rng.index(self.hosts.len());
        let mut t = t0;
        let qid = self.queue_id(t0 + 80_000);
        let (client_host, client_ip, helo, submission) = match &mail.origin {
            Origin::Internet { host, ip, helo } => (host.as_str(), ip.as_str(), helo.as_str(), None),
            Origin::Parliament {
                client_host,
                ip,
                helo,
                user,
            } => (client_host.as_str(), ip.as_str(), helo.as_str(), Some(user.as_str())),
            Origin::Senate { .. } => (SENATE_MX.0, SENATE_MX.1, SENATE_MX.0, None),
        };
        let label = mail.label.as_ref().map(|l| {
            let mut l = l.clone();
            l.queue_id = Some(qid.clone());
            l.message_id = Some(mail.message_id.clone());
            l.client_ip = Some(client_ip.to_string());
            Rc::new(l)
        });
        let lb = label.as_ref();
        let hs = &mut self.hosts[h];
        let host = hs.name;
        let (smtpd, spid) = match submission {
            Some(_) => ("submission/smtpd", hs.submission.take(rng, &mut hs.next_pid)),
            None => ("smtpd", hs.smtpd.take(rng, &mut hs.next_pid)),
        };
        let cleanup = hs.cleanup.take(rng, &mut hs.next_pid);
        let qmgr = hs.qmgr;
        // Session lines carry no queue id; those of a labelled message are labelled too (they
        // name the sending relay, which a detector may well flag).
        emit(
            out,
            lb,
            t,
            host,
            smtpd,
            spid,
            format_args!("connect from {client_host}[{client_ip}]"),
        );
        let tls = submission.is_some() || rng.chance(0.75);
        if tls {
            t += rng.range(15_000, 120_000) as i64;
            let (ver, cipher) = if rng.chance(0.6) {
                ("TLSv1.3", "TLS_AES_256_GCM_SHA384")
            } else {
                ("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384")
            };
            emit(
                out,
                lb,
                t,
                host,
                smtpd,
                spid,
                format_args!(
                    "Anonymous TLS connection established from {client_host}[{client_ip}]: {ver} with cipher {cipher} (256/256 bits)"
                ),
            );
        }
        t += rng.range(40_000, 400_000) as i64;
        match submission {
            Some(user) => emit(
                out,
                lb,
                t,
                host,
                smtpd,
                spid,
                format_args!("{qid}: client={client_host}[{client_ip}], sasl_method=PLAIN, sasl_username={user}"),
            ),
            None => emit(
                out,
                lb,
                t,
                host,
                smtpd,
                spid,
                format_args!("{qid}: client={client_host}[{client_ip}]"),
            ),
        }
        let first_rcpt = mail.rcpts.first().map_or("", String::as_str);
        let ctx = format!(
            "from {client_host}[{client_ip}]; from=<{}> to=<{first_rcpt}> proto=ESMTP helo=<{helo}>",
            mail.env_from
        );
        t += rng.range(20_000, 300_000) as i64;
        let mut headers = vec![Header::Info("From", &mail.from_header)];
        if let Some(r) = &mail.reply_to {
            headers.push(Header::Info("Reply-To", r));
        }
        headers.push(Header::Info("Subject", &mail.subject));
        headers.push(Header::MessageId);
        if let Some(x) = &mail.x_mailer {
            headers.push(Header::Info("X-Mailer", x));
        }
        for hdr in headers {
            t += rng.range(50, 900) as i64;
            match hdr {
                Header::Info(name, value) => {
                    let text = format!("{name}: {value}");
                    emit(
                        out,
                        lb,
                        t,
                        host,
                        "cleanup",
                        cleanup,
                        format_args!("{qid}: info: header {} {ctx}", trunc200(&text)),
                    );
                }
                Header::MessageId => emit(
                    out,
                    lb,
                    t,
                    host,
                    "cleanup",
                    cleanup,
                    format_args!("{qid}: message-id=<{}>", mail.message_id),
                ),
            }
        }
        for body in &mail.body_lines {
            t += rng.range(50, 2000) as i64;
            emit(
                out,
                lb,
                t,
                host,
                "cleanup",
                cleanup,
                format_args!("{qid}: info: body {} {ctx}", trunc200(body)),
            );
        }
        t += rng.range(2_000, 60_000) as i64;
        let queued = t;
        emit(
            out,
            lb,
            t,
            host,
            "qmgr",
            qmgr,
            format_args!(
                "{qid}: from=<{}>, size={}, nrcpt={} (queue active)",
                mail.env_from,
                mail.size,
                mail.rcpts.len()
            ),
        );
        let n = mail.rcpts.len();
        let commands = if submission.is_some() {
            format!(
                "ehlo=2 starttls=1 auth=1 mail=1 rcpt={n} data=1 quit=1 commands={}",
                7 + n
            )
        } else if tls {
            format!("ehlo=2 starttls=1 mail=1 rcpt={n} data=1 quit=1 commands={}", 6 + n)
        } else {
            format!("ehlo=1 mail=1 rcpt={n} data=1 quit=1 commands={}", 4 + n)
        };
        emit(
            out,
            lb,
            t + rng.range(300, 20_000) as i64,
            host,
            smtpd,
            spid,
            format_args!("disconnect from {client_host}[{client_ip}] {commands}"),
        );

        // Deliveries: local recipients in one LMTP transaction, remote ones per domain.
        let before = (queued - t0) as f64 / 1e6;
        let mut delivered = Vec::new();
        let mut last = t;
        let locals: Vec<&String> = mail.rcpts.iter().filter(|r| is_parliament(r)).collect();
        if !locals.is_empty() {
            let hs = &mut self.hosts[h];
            let pid = hs.lmtp.take(rng, &mut hs.next_pid);
            let conn = rng.range(2_000, 40_000) as f64 / 1e6;
            let xfer = rng.range(5_000, 150_000) as f64 / 1e6;
            let mut td = queued + ((conn + xfer) * 1e6) as i64 + rng.range(100, 5_000) as i64;
            for r in locals {
                let (total, parts) = delays((td - t0) as f64 / 1e6, before, conn, xfer);
                let mut saved = String::with_capacity(22);
                rng.token(
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                    22,
                    &mut saved,
                );
                emit(
                    out,
                    lb,
                    td,
                    host,
                    "lmtp",
                    pid,
                    format_args!(
                        "{qid}: to=<{r}>, relay={MAILSTORE}, delay={total}, delays={parts}, dsn=2.0.0, status=sent (250 2.0.0 <{r}> {saved} Saved)"
                    ),
                );
                delivered.push(Delivered {
                    rcpt: r.clone(),
                    at: td,
                    queue_id: qid.clone(),
                });
                last = td;
                td += rng.range(200, 3_000) as i64;
            }
        }
        let mut remote: Vec<&String> = mail.rcpts.iter().filter(|r| !is_parliament(r)).collect();
        remote.sort_by_key(|r| domain_of(r));
        let mut i = 0;
        while i < remote.len() {
            let dom = domain_of(remote[i]);
            let group: Vec<&String> = remote[i..]
                .iter()
                .take_while(|r| domain_of(r) == dom)
                .copied()
                .collect();
            i += group.len();
            let hs = &mut self.hosts[h];
            let pid = hs.smtp.take(rng, &mut hs.next_pid);
            let (mx, mx_ip) = mx_of(dom);
            let conn = rng.range(20_000, 600_000) as f64 / 1e6;
            let xfer = rng.range(50_000, 900_000) as f64 / 1e6;
            let td = queued + ((conn + xfer) * 1e6) as i64 + rng.range(100, 5_000) as i64;
            if rng.chance(0.6) {
                emit(
                    out,
                    None,
                    queued + (conn * 1e6) as i64,
                    host,
                    "smtp",
                    pid,
                    format_args!(
                        "Trusted TLS connection established to {mx}[{mx_ip}]:25: TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)"
                    ),
                );
            }
            let mut remote_id = String::with_capacity(12);
            rng.token(HEX_UPPER, 10, &mut remote_id);
            let (total, parts) = delays((td - t0) as f64 / 1e6, before, conn, xfer);
            for r in group {
                emit(
                    out,
                    lb,
                    td,
                    host,
                    "smtp",
                    pid,
                    format_args!(
                        "{qid}: to=<{r}>, relay={mx}[{mx_ip}]:25, delay={total}, delays={parts}, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as {remote_id})"
                    ),
                );
                delivered.push(Delivered {
                    rcpt: r.clone(),
                    at: td,
                    queue_id: qid.clone(),
                });
            }
            last = last.max(td);
        }
        emit(
            out,
            lb,
            last + rng.range(100, 2_000) as i64,
            host,
            "qmgr",
            qmgr,
            format_args!("{qid}: removed"),
        );
        delivered
    }

    /// A client rejected before any queue file exists: `NOQUEUE: reject: RCPT ...`, with its
    /// connect/disconnect. `label` marks the reject line (a campaign message to a stale address).
    #[allow(clippy::too_many_arguments)]
    pub fn reject(
        &mut self,
        out: &mut Outputs,
        rng: &mut Rng,
        t0: Ts,
        client: (&str, &str, &str),
        from: &str,
        to: &str,
        reason: Reject,
        label: Option<Label>,
    ) {
        let h = rng.index(self.hosts.len());
        let hs = &mut self.hosts[h];
        let pid = hs.smtpd.take(rng, &mut hs.next_pid);
        let host = hs.name;
        let (chost, cip, helo) = client;
        let label = label.map(|mut l| {
            l.client_ip = Some(cip.to_string());
            Rc::new(l)
        });
        let mut t = t0;
        emit(
            out,
            label.as_ref(),
            t,
            host,
            "smtpd",
            pid,
            format_args!("connect from {chost}[{cip}]"),
        );
        t += rng.range(100_000, 2_000_000) as i64;
        let msg = match reason {
            Reject::UnknownUser => {
                format!("550 5.1.1 <{to}>: Recipient address rejected: User unknown in virtual mailbox table")
            }
            Reject::Rbl => format!(
                "554 5.7.1 Service unavailable; Client host [{cip}] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/{cip}"
            ),
            Reject::Helo => format!("504 5.5.2 <{helo}>: Helo command rejected: need fully-qualified hostname"),
            Reject::Relay => format!("454 4.7.1 <{to}>: Relay access denied"),
        };
        emit(
            out,
            label.as_ref(),
            t,
            host,
            "smtpd",
            pid,
            format_args!(
                "NOQUEUE: reject: RCPT from {chost}[{cip}]: {msg}; from=<{from}> to=<{to}> proto=ESMTP helo=<{helo}>"
            ),
        );
        t += rng.range(50_000, 3_000_000) as i64;
        let stats = if rng.chance(0.5) {
            "ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4"
        } else {
            "ehlo=1 mail=1 rcpt=0/1 rset=1 quit=1 commands=4/5"
        };
        emit(
            out,
            label.as_ref(),
            t,
            host,
            "smtpd",
            pid,
            format_args!("disconnect from {chost}[{cip}] {stats}"),
        );
    }

    /// Connection noise without a message: scanners, password guessers, anvil's statistics.
    pub fn noise(&mut self, out: &mut Outputs, rng: &mut Rng, t0: Ts, ip: &str) {
        let h = rng.index(self.hosts.len());
        let hs = &mut self.hosts[h];
        let host = hs.name;
        let connect = format!("connect from unknown[{ip}]");
        // (program, pid, [(delay range in µs before the line, message)])
        let (prog, pid, steps) = match rng.below(4) {
            0 => (
                "submission/smtpd",
                hs.submission.take(rng, &mut hs.next_pid),
                [
                    (0, 0, connect),
                    (
                        500_000,
                        4_000_000,
                        format!("warning: unknown[{ip}]: SASL LOGIN authentication failed: UGFzc3dvcmQ6"),
                    ),
                    (
                        100_000,
                        2_000_000,
                        format!("disconnect from unknown[{ip}] ehlo=1 auth=0/1 quit=1 commands=2/3"),
                    ),
                ],
            ),
            1 => (
                "smtpd",
                hs.smtpd.take(rng, &mut hs.next_pid),
                [
                    (0, 0, connect),
                    (
                        200_000,
                        2_000_000,
                        format!("lost connection after EHLO from unknown[{ip}]"),
                    ),
                    (100, 500, format!("disconnect from unknown[{ip}] ehlo=1 commands=1")),
                ],
            ),
            2 => (
                "smtpd",
                hs.smtpd.take(rng, &mut hs.next_pid),
                [
                    (0, 0, connect),
                    (
                        100_000,
                        900_000,
                        format!("warning: non-SMTP command from unknown[{ip}]: GET / HTTP/1.1"),
                    ),
                    (
                        300,
                        900,
                        format!("disconnect from unknown[{ip}] unknown=0/1 commands=0/1"),
                    ),
                ],
            ),
            _ => {
                let mut at = Vec::new();
                clock::anvil_time(&mut at, t0 - rng.range(1, 500) as i64 * SECOND);
                let at = String::from_utf8_lossy(&at);
                (
                    "anvil",
                    hs.anvil,
                    [
                        (
                            0,
                            0,
                            format!("statistics: max connection rate 1/60s for (smtp:{ip}) at {at}"),
                        ),
                        (
                            0,
                            0,
                            format!("statistics: max connection count 1 for (smtp:{ip}) at {at}"),
                        ),
                        (0, 0, format!("statistics: max cache size {} at {at}", rng.range(1, 6))),
                    ],
                )
            }
        };
        let mut t = t0;
        for (lo, hi, msg) in steps {
            t += rng.range(lo, hi) as i64;
            emit(out, None, t, host, prog, pid, format_args!("{msg}"));
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Reject {
    UnknownUser,
    Rbl,
    Helo,
    Relay,
}

/// The Exchange 2016 server of the senate.
pub struct Exchange {
    internal_id: u64,
    event: u64,
    session: u64,
    mdb: String,
}

/// CSV field quoting as Exchange writes it: quoted only when the value has a comma or quote.
fn csv_field(out: &mut Vec<u8>, v: &str) {
    if v.contains([',', '"', '\n']) {
        out.push(b'"');
        for b in v.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(v.as_bytes());
    }
}

pub fn guid(rng: &mut Rng) -> String {
    let mut s = String::with_capacity(36);
    for (i, n) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if i > 0 {
            s.push('-');
        }
        rng.token(HEX_LOWER, n, &mut s);
    }
    s
}

/// One row: the 30 columns of the Exchange 2013+ message tracking schema (those not taken from
/// the message itself); unset columns are empty.
#[derive(Default)]
struct Row<'a> {
    ts: Ts,
    client_ip: &'a str,
    client_host: &'a str,
    server_ip: &'a str,
    server_host: &'a str,
    source_context: &'a str,
    connector: &'a str,
    source: &'a str,
    event: &'a str,
    internal_id: &'a str,
    rcpts: &'a str,
    rcpt_status: &'a str,
    related: &'a str,
    message_info: &'a str,
    directionality: &'a str,
    original_client_ip: &'a str,
    original_server_ip: &'a str,
    custom: &'a str,
}

impl Exchange {
    pub fn new(rng: &mut Rng) -> Exchange {
        Exchange {
            internal_id: rng.range(9_000_000_000_000, 12_000_000_000_000),
            event: rng.range(10_000_000, 90_000_000),
            session: rng.next_u64() & 0x00FF_FFFF_FFFF_FFFF | 0x08D8_0000_0000_0000,
            mdb: guid(rng),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn row(
        &self,
        out: &mut Outputs,
        rng: &mut Rng,
        stream: Stream,
        mail: &Mail,
        network_id: &str,
        r: Row<'_>,
        label: &Option<Rc<Label>>,
    ) {
        let mut b = Vec::with_capacity(700);
        clock::iso_utc_ms(&mut b, r.ts);
        let rcpt_count = if r.rcpts.is_empty() {
            String::new()
        } else {
            r.rcpts.split(';').count().to_string()
        };
        let size = mail.size.to_string();
        let mid = format!("<{}>", mail.message_id);
        let return_path = if mail.env_from.is_empty() { "<>" } else { &mail.env_from };
        let log_id = guid(rng);
        let fields: [&str; 29] = [
            r.client_ip,
            r.client_host,
            r.server_ip,
            r.server_host,
            r.source_context,
            r.connector,
            r.source,
            r.event,
            r.internal_id,
            &mid,
            network_id,
            r.rcpts,
            r.rcpt_status,
            &size,
            &rcpt_count,
            r.related,
            "",
            &mail.subject_text,
            &mail.env_from,
            return_path,
            r.message_info,
            r.directionality,
            "",
            r.original_client_ip,
            r.original_server_ip,
            r.custom,
            "Email",
            &log_id,
            EX_SCHEMA,
        ];
        for f in fields {
            b.push(b',');
            csv_field(&mut b, f);
        }
        out.push(stream, r.ts, b, label.clone());
    }

    fn latency(rng: &mut Rng, at: Ts, total: f64) -> String {
        let mut s = Vec::new();
        clock::iso_utc_ms(&mut s, at);
        let smr = total * 0.2;
        let _ = write!(
            s,
            ";SRV={EX_FQDN}:TOTAL-HUB={total:.3}|SMR={smr:.3}(SMRDE={:.3}|SMRC={:.3})|CAT={:.3}|QDM={:.3}|SMS={:.3}",
            smr * 0.1,
            smr * 0.9,
            total * 0.3,
            total * 0.1 * rng.unit(),
            total * 0.3
        );
        String::from_utf8_lossy(&s).into_owned()
    }

    /// Logs `mail` arriving at the senate over SMTP at `t0` (inbound from the internet or the
    /// parliament's gateway); returns the mailbox deliveries.
    pub fn render_inbound(
        &mut self,
        out: &mut Outputs,
        rng: &mut Rng,
        mail: &Mail,
        t0: Ts,
        client: (&str, &str),
    ) -> Vec<Delivered> {
        let locals: Vec<&String> = mail.rcpts.iter().filter(|r| is_senate(r)).collect();
        if locals.is_empty() {
            return Vec::new();
        }
        let label = mail.label.as_ref().map(|l| {
            let mut l = l.clone();
            l.message_id = Some(mail.message_id.clone());
            l.client_ip = Some(client.1.to_string());
            Rc::new(l)
        });
        let network_id = guid(rng);
        self.internal_id += rng.range(1, 40);
        let internal = self.internal_id.to_string();
        self.session += rng.range(1, 9);
        let mut sc = format!("{:016X};", self.session).into_bytes();
        clock::iso_utc_ms(&mut sc, t0 - rng.range(100_000, 900_000) as i64);
        sc.extend_from_slice(b";0");
        let source_context = String::from_utf8_lossy(&sc).into_owned();
        let rcpts = locals.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(";");
        let (chost, cip) = client;
        let custom = "S:FirstForestHop=EXMB01.senate.elmaria.example;S:FromEntity=Internet;S:DeliveryPriority=Normal;S:AccountForest=senate.elmaria.example";
        let connector = format!("{EX_HOST}\\Default Frontend {EX_HOST}");
        let mut t = t0;
        self.row(
            out,
            rng,
            Stream::ExTrk,
            mail,
            &network_id,
            Row {
                ts: t,
                client_ip: cip,
                client_host: chost,
                server_ip: EX_IP,
                server_host: EX_HOST,
                source_context: &source_context,
                connector: &connector,
                source: "SMTP",
                event: "RECEIVE",
                internal_id: &internal,
                rcpts: &rcpts,
                message_info: "0cA:",
                directionality: "Incoming",
                original_client_ip: cip,
                original_server_ip: EX_IP,
                custom,
                ..Row::default()
            },
            &label,
        );
        if rng.chance(0.5) {
            t += rng.range(2_000, 60_000) as i64;
            self.row(
                out,
                rng,
                Stream::ExTrk,
                mail,
                &network_id,
                Row {
                    ts: t,
                    server_host: EX_HOST,
                    source: "AGENT",
                    event: "AGENTINFO",
                    internal_id: &internal,
                    rcpts: &rcpts,
                    directionality: "Incoming",
                    original_client_ip: cip,
                    original_server_ip: EX_IP,
                    custom: "S:AMA=SUM|v=0|action=|error=|atch=0;S:AMA=EV|engine=M|v=0|sig=1.329.2187.0|name=|file=;S:CompCost=|ETR=0;S:DeliveryPriority=Normal;S:AccountForest=senate.elmaria.example",
                    ..Row::default()
                },
                &label,
            );
        }
        self.deliver_locally(
            out,
            rng,
            mail,
            &network_id,
            &internal,
            t0,
            t,
            &locals,
            Some(cip),
            &label,
        )
    }

    /// Hands a message to the mailbox transport (SEND over the intra-organisation connector),
    /// then delivers it to each local mailbox (DELIVER). `incoming` is the original client of a
    /// message from outside; None for a senate user's own message.
    #[allow(clippy::too_many_arguments)]
    fn deliver_locally(
        &mut self,
        out: &mut Outputs,
        rng: &mut Rng,
        mail: &Mail,
        network_id: &str,
        internal: &str,
        t0: Ts,
        t: Ts,
        locals: &[&String],
        incoming: Option<&str>,
        label: &Option<Rc<Label>>,
    ) -> Vec<Delivered> {
        let mut t = t + rng.range(50_000, 1_500_000) as i64;
        let total = (t - t0) as f64 / 1e6;
        let info = Self::latency(rng, t0, total);
        let rcpts = locals.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(";");
        let status = vec!["250 2.1.5 Recipient OK"; locals.len()].join(";");
        let mut sc = b";250 2.0.0 OK;ClientSubmitTime:".to_vec();
        clock::iso_utc_ms(&mut sc, t0);
        let sc = String::from_utf8_lossy(&sc).into_owned();
        let custom = format!(
            "S:E2ELatency={total:.3};S:MsgRecipCount={};S:IncludeInSla=True;S:IsSmtpResponseFromExternalServer={};S:DeliveryPriority=Normal;S:AccountForest=senate.elmaria.example",
            locals.len(),
            if incoming.is_some() { "True" } else { "False" }
        );
        let directionality = if incoming.is_some() { "Incoming" } else { "Originating" };
        self.row(
            out,
            rng,
            Stream::ExTrk,
            mail,
            network_id,
            Row {
                ts: t,
                client_ip: EX_IP,
                client_host: EX_HOST,
                server_ip: EX_IP,
                server_host: EX_FQDN,
                source_context: &sc,
                connector: "Intra-Organization SMTP Send Connector",
                source: "SMTP",
                event: "SEND",
                internal_id: internal,
                rcpts: &rcpts,
                rcpt_status: &status,
                message_info: &info,
                directionality,
                original_client_ip: incoming.unwrap_or(""),
                original_server_ip: if incoming.is_some() { EX_IP } else { "" },
                custom: &custom,
                ..Row::default()
            },
            label,
        );
        let mut delivered = Vec::new();
        for &r in locals {
            t += rng.range(30_000, 400_000) as i64;
            self.deliver(out, rng, mail, network_id, t, t0, r, directionality, label);
            delivered.push(Delivered {
                rcpt: r.clone(),
                at: t,
                queue_id: internal.to_string(),
            });
        }
        delivered
    }

    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &mut self,
        out: &mut Outputs,
        rng: &mut Rng,
        mail: &Mail,
        network_id: &str,
        t: Ts,
        t0: Ts,
        rcpt: &str,
        directionality: &str,
        label: &Option<Rc<Label>>,
    ) {
        self.internal_id += rng.range(1, 5);
        self.event += rng.range(1, 50);
        let mailbox = guid(rng);
        let mut sc = format!(
            "MDB:{}, Mailbox:{mailbox}, Event:{}, MessageClass:IPM.Note, CreationTime:",
            self.mdb, self.event
        )
        .into_bytes();
        clock::iso_utc_ms(&mut sc, t - rng.range(1_000, 30_000) as i64);
        sc.extend_from_slice(b", ClientType:StoreDriver");
        let sc = String::from_utf8_lossy(&sc).into_owned();
        let internal = self.internal_id.to_string();
        let mut info = Vec::new();
        clock::iso_utc_ms(&mut info, t0);
        let _ = write!(
            info,
            ";SRV={EX_FQDN}:TOTAL-FE={:.3}|SMR={:.3}|SMS={:.3}",
            (t - t0) as f64 / 1e6,
            0.01 + rng.unit() * 0.05,
            0.01 + rng.unit() * 0.2
        );
        let info = String::from_utf8_lossy(&info).into_owned();
        let custom = format!(
            "S:Mailboxes={mailbox};S:StoreObjectIds=0000000037E7C5D3F0B1A24BA70A4A6E2A8FC1DD0700;S:DatabaseName=MBX-DB0{};S:DeliveryLatency={:.3};S:AccountForest=senate.elmaria.example",
            1 + rng.below(3),
            (t - t0) as f64 / 1e6
        );
        self.row(
            out,
            rng,
            Stream::ExMd,
            mail,
            network_id,
            Row {
                ts: t,
                client_ip: EX_IP,
                client_host: EX_FQDN,
                server_host: EX_HOST,
                source_context: &sc,
                source: "STOREDRIVER",
                event: "DELIVER",
                internal_id: &internal,
                rcpts: rcpt,
                message_info: &info,
                directionality,
                custom: &custom,
                ..Row::default()
            },
            label,
        );
    }

    /// Logs a senate user's message from submission to delivery (mailboxes here) or to the
    /// internet (everyone else). Returns when it left, for the receiving side.
    pub fn render_outbound(&mut self, out: &mut Outputs, rng: &mut Rng, mail: &Mail, t0: Ts) -> Ts {
        let client_type = match &mail.origin {
            Origin::Senate { client_type } => *client_type,
            _ => "MOMT",
        };
        let network_id = guid(rng);
        self.event += rng.range(1, 50);
        let mailbox = guid(rng);
        let mut sc = format!(
            "MDB:{}, Mailbox:{mailbox}, Event:{}, MessageClass:IPM.Note, CreationTime:",
            self.mdb, self.event
        )
        .into_bytes();
        clock::iso_utc_ms(&mut sc, t0 - rng.range(10_000, 200_000) as i64);
        let _ = write!(
            sc,
            ", ClientType:{client_type}, SubmissionAssistant:MailboxTransportSubmissionEmailAssistant"
        );
        let sc = String::from_utf8_lossy(&sc).into_owned();
        let none = None;
        self.row(
            out,
            rng,
            Stream::ExMs,
            mail,
            &network_id,
            Row {
                ts: t0,
                client_host: EX_FQDN,
                source_context: &sc,
                source: "STOREDRIVER",
                event: "SUBMIT",
                ..Row::default()
            },
            &none,
        );
        self.internal_id += rng.range(1, 40);
        let internal = self.internal_id.to_string();
        let mut t = t0 + rng.range(20_000, 400_000) as i64;
        let rcpts = mail.rcpts.join(";");
        self.row(
            out,
            rng,
            Stream::ExTrk,
            mail,
            &network_id,
            Row {
                ts: t,
                client_ip: EX_IP,
                client_host: EX_FQDN,
                server_ip: EX_IP,
                server_host: EX_HOST,
                source: "STOREDRIVER",
                event: "RECEIVE",
                internal_id: &internal,
                rcpts: &rcpts,
                directionality: "Originating",
                custom: "S:DeliveryPriority=Normal;S:AccountForest=senate.elmaria.example",
                ..Row::default()
            },
            &none,
        );
        let locals: Vec<&String> = mail.rcpts.iter().filter(|r| is_senate(r)).collect();
        let remote: Vec<&String> = mail.rcpts.iter().filter(|r| !is_senate(r)).collect();
        let mut left = t;
        if !locals.is_empty() {
            let d = self.deliver_locally(out, rng, mail, &network_id, &internal, t0, t, &locals, None, &none);
            left = d.last().map_or(t, |d| d.at);
        }
        let mut doms: Vec<&str> = remote.iter().map(|r| domain_of(r)).collect();
        doms.dedup();
        for dom in doms {
            let group: Vec<&str> = remote
                .iter()
                .filter(|r| domain_of(r) == dom)
                .map(|s| s.as_str())
                .collect();
            let (mx, mx_ip) = if dom == PARL_DOMAIN {
                (PARL_MX[0].1.to_string(), PARL_MX[0].2.to_string())
            } else {
                mx_of(dom)
            };
            t += rng.range(300_000, 3_000_000) as i64;
            let total = (t - t0) as f64 / 1e6;
            let info = Self::latency(rng, t0, total);
            let mut remote_id = String::new();
            rng.token(HEX_UPPER, 10, &mut remote_id);
            let mut sc = format!(";250 2.0.0 Ok: queued as {remote_id};ClientSubmitTime:").into_bytes();
            clock::iso_utc_ms(&mut sc, t0);
            let sc = String::from_utf8_lossy(&sc).into_owned();
            let status = vec!["250 2.1.5 Ok"; group.len()].join(";");
            let custom = format!(
                "S:E2ELatency={total:.3};S:ExternalSendLatency={:.3};S:ToEntity=Internet;S:FromEntity=Hosted;S:MsgRecipCount={};S:IncludeInSla=True;S:IsSmtpResponseFromExternalServer=True;S:DeliveryPriority=Normal;S:AccountForest=senate.elmaria.example",
                rng.unit(),
                group.len()
            );
            self.row(
                out,
                rng,
                Stream::ExTrk,
                mail,
                &network_id,
                Row {
                    ts: t,
                    client_ip: EX_IP,
                    client_host: EX_HOST,
                    server_ip: &mx_ip,
                    server_host: &mx,
                    source_context: &sc,
                    connector: "Outbound to Internet",
                    source: "SMTP",
                    event: "SENDEXTERNAL",
                    internal_id: &internal,
                    rcpts: &group.join(";"),
                    rcpt_status: &status,
                    message_info: &info,
                    directionality: "Originating",
                    custom: &custom,
                    ..Row::default()
                },
                &none,
            );
            left = left.max(t);
        }
        left
    }
}

/// A plausible Message-ID for mail written by `software` at `domain`.
pub fn message_id(rng: &mut Rng, ts: Ts, style: MidStyle, domain: &str) -> String {
    let mut s = String::with_capacity(64);
    match style {
        MidStyle::Outlook => {
            // Exchange/Outlook: <FOOPR01MB1234ABCD...@FOOPR01MB1234.eurprd01.prod.exchangelabs.com>
            // style ids belong to Microsoft 365; on-premises Outlook uses <hex@domain>.
            rng.token(HEX_LOWER, 32, &mut s);
            s.push('@');
            s.push_str(domain);
        }
        MidStyle::Thunderbird => {
            s.push_str(&guid(rng));
            s.push('@');
            s.push_str(domain);
        }
        MidStyle::Webmail => {
            let p = clock::parts(ts, 0);
            let _ = std::fmt::Write::write_fmt(
                &mut s,
                format_args!(
                    "{:04}{:02}{:02}{:02}{:02}{:02}.{}.{}@{domain}",
                    p.y,
                    p.mo,
                    p.d,
                    p.h,
                    p.mi,
                    p.s,
                    rng.range(10_000, 99_999),
                    rng.range(100, 999)
                ),
            );
        }
    }
    s
}

#[derive(Debug, Clone, Copy)]
pub enum MidStyle {
    Outlook,
    Thunderbird,
    Webmail,
}

/// A small random pause, for callers spacing out bulk sends.
pub fn gap(rng: &mut Rng, lo_ms: u64, hi_ms: u64) -> Ts {
    (rng.range(lo_ms, hi_ms) * 1000) as Ts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_formatting_follows_postfix() {
        let cases = [
            (0.0, "0"),
            (0.004, "0"),
            (0.1, "0.1"),
            (0.42, "0.42"),
            (1.26, "1.3"),
            (12.7, "12"),
        ];
        for (v, want) in cases {
            let mut b = Vec::new();
            delay(&mut b, v);
            assert_eq!(String::from_utf8(b).unwrap(), want, "{v}");
        }
    }

    #[test]
    fn truncation_is_200_chars_and_char_safe() {
        let long = "x".repeat(300);
        assert_eq!(trunc200(&long).len(), 200);
        let multi = format!("{}é", "y".repeat(199));
        assert_eq!(trunc200(&multi).len(), 199);
        assert_eq!(trunc200("short"), "short");
    }

    #[test]
    fn csv_quotes_only_when_needed() {
        let mut b = Vec::new();
        csv_field(&mut b, "plain text");
        b.push(b'|');
        csv_field(&mut b, "a, \"b\"");
        assert_eq!(String::from_utf8(b).unwrap(), "plain text|\"a, \"\"b\"\"\"");
    }

    #[test]
    fn domains_are_recognised_exactly() {
        assert!(is_parliament("a.b.mp@parliament.elmaria.example"));
        assert!(!is_parliament("a@notparliament.elmaria.example"));
        assert!(is_senate("x@senate.elmaria.example"));
        assert_eq!(mx_of("elmail.example"), mx_of("elmail.example"));
    }
}
