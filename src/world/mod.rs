//! A deterministic synthetic world of mail- and web-gateway logs, for testing reconwatch end to
//! end: two houses of the fictional parliament of Elmaria (January–February 2021), their ordinary
//! mail and browsing, legitimate newsletters with their own per-recipient tracking, and an
//! APT31-style reconnaissance campaign whose tracking pixels the recipients' devices fetch
//! through the proxies. `labels.jsonl` says which lines belong to the campaign (and which to
//! newsletters), so detection quality can be measured.
//!
//! Every campaign and benign tracked line is labelled with a variation class: the lookalike
//! waves ([`campaign`]); invented brands through real ESPs, token shapes, subdomain lookalikes,
//! encoded bodies and a low-and-slow persona ([`variants`]); real outlets' newsletters
//! ([`traffic`]); listmonk, Sendy-on-SES, Mailtrack and SaaS account mail ([`benign`]); and
//! sites' self-hosted analytics beacons ([`web`]). `sample-logs/.world/README.md` has the table.
//!
//! Same seed and size give the same bytes on every platform: one seeded PRNG ([`rng`]), no
//! platform maths, no clocks, no hash-map iteration order. Output is streamed in time order
//! through [`sink`]; nothing holds a whole file. It never writes outside the output directory and
//! only ever deletes files it would write itself.
//!
//! Layout: `mail/maillog` (+ `maillog.1.gz`, the rotated older half), `mail/exchange/MSGTRK*.LOG`,
//! `web/access.log` (+ `.1.gz`), `web/proxysg/SG_main_*.log`, `web/branch/access.log` (the
//! constituency offices' proxy), and, in the hidden `.world/`, `people.csv` and `labels.jsonl`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::Context;

mod benign;
mod campaign;
mod catalog;
mod clock;
mod mail;
mod people;
mod rng;
mod sink;
mod traffic;
mod variants;
mod web;

use catalog::{Cadence, OUTLETS, SITES};
use clock::{DAY, HOUR, MINUTE, SECOND, Ts};
use mail::{Delivered, Exchange, Mail, Origin, Postfix, Reject, is_parliament, is_senate};
use people::{DeviceKind, Group, Population};
use rng::Rng;
use sink::{Kind, Label, Outputs};
use traffic::Tracked;
use web::{Client, Fetch, Web};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenConfig {
    pub seed: u64,
    /// Approximate total of the (uncompressed) log bytes; `people.csv` and `labels.jsonl` are
    /// extra.
    pub target_bytes: u64,
}

/// One file written.
#[derive(Debug, Clone)]
pub struct GenFile {
    pub path: PathBuf,
    /// Relative to the output directory, `/`-separated (as in `labels.jsonl`).
    pub rel: String,
    pub lines: u64,
    /// Uncompressed bytes.
    pub bytes: u64,
    /// Bytes on disk (smaller for the `.gz` parts).
    pub disk_bytes: u64,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct GenSummary {
    pub files: Vec<GenFile>,
    pub labels: PathBuf,
    /// Lines labelled `campaign_*`.
    pub campaign_lines: u64,
    pub people: PathBuf,
}

/// Share of the target per log family: the parliament's Postfix and Squid, the senate's Exchange
/// and ProxySG (mail ≈ 35 %, web ≈ 65 %).
const SHARE_POSTFIX: f64 = 0.26;
const SHARE_EXCHANGE: f64 = 0.09;
const SHARE_SQUID: f64 = 0.47;
const SHARE_PROXYSG: f64 = 0.18;

/// Measured average bytes of one unit of each kind (see `tests::size_is_roughly_honoured`; the
/// generator's size accuracy depends on these).
const BYTES_PF_MSG: f64 = 2_400.0;
const BYTES_PF_NEWSLETTER: f64 = 6_000.0;
const BYTES_PF_NOISE: f64 = 500.0;
const BYTES_EX_MSG: f64 = 3_200.0;
const BYTES_EX_NEWSLETTER: f64 = 3_000.0;
const BYTES_SQUID_SESSION: f64 = 5_600.0;
const BYTES_PROXYSG_SESSION: f64 = 12_500.0;
const BYTES_CAMPAIGN_MSG: f64 = 3_700.0;
/// A benign tracked message (bulletin, Mailtrack note, SaaS account mail), either mail system.
const BYTES_BULLETIN_MSG: f64 = 4_300.0;
const BYTES_PERSONAL_TRACKED_MSG: f64 = 2_900.0;
/// Mailtrack notes and SaaS account mails per insider and weekday, each.
const PERSONAL_TRACKED_RATE: f64 = 0.02;

/// How big each part of the world is.
#[derive(Debug, Clone)]
struct Plan {
    /// Local midnight starting day 0.
    first_day: Ts,
    days: u32,
    end: Ts,
    sizes: people::Sizes,
    /// Expected counts over the whole world, per site (0 parliament, 1 senate).
    internal: [f64; 2],
    inbound: [f64; 2],
    outbound: [f64; 2],
    sessions: [f64; 2],
    noise: f64,
    waves: u32,
    wave_size: usize,
    /// Recipients of each variation wave (see [`variants`]).
    variant_size: usize,
}

const FULL_WORLD: f64 = 1e9;

fn plan(cfg: &GenConfig) -> Plan {
    let t = cfg.target_bytes.max(1) as f64;
    let f = (t / FULL_WORLD).min(1.0);
    let sf = rng::sqrt(f);
    let days = (59.0 * rng::powf(f, 0.45) + 0.5).clamp(3.0, 59.0) as u32;
    let jan1 = clock::days_from_civil(2021, 1, 1);
    // Small worlds start on Monday 11 January; large ones end on 28 February.
    let start = if days <= 49 {
        jan1 + 10
    } else {
        jan1 + 59 - i64::from(days)
    };
    let first_day = start * DAY - clock::LOCAL_OFFSET;
    let sizes_no_subs = people::Sizes {
        mps: 40 + (20.0 * sf) as usize,
        senators: 12 + (12.0 * sf) as usize,
        parl_employees: 15 + (285.0 * sf) as usize,
        senate_employees: 6 + (74.0 * sf) as usize,
        journalists: 8 + (32.0 * sf) as usize,
        staff_per_member: 1.2 + 0.8 * sf,
        subscription: [0.0, 0.0],
    };
    let waves = ((f64::from(days) / 5.0 + 0.5) as u32).max(1);
    let mail = (SHARE_POSTFIX + SHARE_EXCHANGE) * t;
    // The campaign takes ~14 % of the mail: lookalike waves 3.5 %, the variation waves 11 %.
    let wave_size = ((0.035 * mail / BYTES_CAMPAIGN_MSG / f64::from(waves)) as usize).max(4);
    let variant_size = ((0.11 * mail / BYTES_CAMPAIGN_MSG / 11.0) as usize).clamp(1, 60);
    // Benign tracked mail: weekly bulletins of the lists, Mailtrack notes and SaaS mail.
    let s0 = &sizes_no_subs;
    let insiders =
        (s0.mps + s0.senators) as f64 * (1.25 + s0.staff_per_member) + (s0.parl_employees + s0.senate_employees) as f64;
    let list_size = ((insiders * 0.05) as usize).clamp(3, 80) as f64;
    let weekdays = (0..days).filter(|&d| clock::weekday(start + i64::from(d)) < 5).count() as f64;
    // Each list sends weekly on one weekday.
    let bulletins = benign::ORGS.len() as f64 * list_size * weekdays / 5.0;
    let personal = 2.0 * PERSONAL_TRACKED_RATE * insiders * (weekdays + 0.25 * (f64::from(days) - weekdays));
    let lookalike = f64::from(waves - 1) * wave_size as f64 + wave_size.max(campaign::FIRST_WAVE) as f64;
    let campaign_bytes = (lookalike + 11.0 * variant_size as f64) * BYTES_CAMPAIGN_MSG;
    let benign_bytes = bulletins * BYTES_BULLETIN_MSG + personal * BYTES_PERSONAL_TRACKED_MSG;
    let mail_left = 1.0 - ((campaign_bytes + benign_bytes) / mail).min(0.6);
    let pf = SHARE_POSTFIX * t * mail_left;
    let ex = SHARE_EXCHANGE * t * mail_left;

    // Newsletters: ~25 % of each mail log. Solve for the subscription probability.
    let sends = |c: Cadence| match c {
        Cadence::Daily => f64::from(days),
        Cadence::Weekdays => weekdays,
        Cadence::Weekly(wd) => (0..days)
            .filter(|&d| clock::weekday(start + i64::from(d)) == wd)
            .count() as f64,
    };
    let per_prob: f64 = OUTLETS
        .iter()
        .map(|o| f64::from(o.popularity) / 6.0 * sends(o.cadence))
        .sum();
    let s = &sizes_no_subs;
    let insiders =
        |members: usize, employees: usize| members as f64 * (1.25 + s.staff_per_member) + 0.5 * employees as f64;
    let sub_parl = 0.25 * pf / BYTES_PF_NEWSLETTER / (per_prob * insiders(s.mps, s.parl_employees));
    let sub_sen = 0.25 * ex / BYTES_EX_NEWSLETTER / (per_prob * insiders(s.senators, s.senate_employees));
    let sizes = people::Sizes {
        subscription: [sub_parl.min(1.0), sub_sen.min(1.0)],
        ..sizes_no_subs
    };
    let ordinary = |budget: f64, per: f64| budget * 0.65 / per;
    let n_p = ordinary(pf, BYTES_PF_MSG);
    let n_s = ordinary(ex, BYTES_EX_MSG);
    Plan {
        first_day,
        days,
        end: first_day + i64::from(days) * DAY,
        sizes,
        internal: [n_p * 0.45, n_s * 0.5],
        inbound: [n_p * 0.35, n_s * 0.3],
        outbound: [n_p * 0.2, n_s * 0.2],
        sessions: [
            SHARE_SQUID * t / BYTES_SQUID_SESSION,
            SHARE_PROXYSG * t / BYTES_PROXYSG_SESSION,
        ],
        noise: pf * 0.10 / BYTES_PF_NOISE,
        waves,
        wave_size,
        variant_size,
    }
}

/// Something that happens at a moment and writes lines at or after it.
enum Act {
    Session {
        person: usize,
        device: usize,
        pages: u32,
    },
    Internal {
        person: usize,
    },
    Inbound {
        person: usize,
    },
    Outbound {
        person: usize,
    },
    Noise,
    Issue {
        outlet: usize,
    },
    Wave {
        index: usize,
    },
    /// One send of a variation wave (or one note of the slow persona).
    Variant {
        index: usize,
        send: usize,
    },
    /// A weekly send of an organisation's list.
    Bulletin {
        list: usize,
    },
    Mailtrack {
        person: usize,
    },
    Saas {
        person: usize,
    },
    Open(Box<Open>),
}

/// A tracked message being opened (and maybe clicked) on one of the recipient's devices.
struct Open {
    person: usize,
    tracked: Rc<Tracked>,
    kind: Source,
    queue_id: String,
    message_id: String,
    click: bool,
    again: bool,
}

#[derive(Clone, Copy)]
enum Source {
    Newsletter(&'static str),
    Campaign(u32),
}

struct Scheduled {
    at: Ts,
    seq: u64,
    act: Act,
}

impl PartialEq for Scheduled {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

struct World {
    plan: Plan,
    pop: Population,
    waves: Vec<campaign::Wave>,
    variants: Vec<variants::Variant>,
    lists: Vec<benign::List>,
    /// Insiders (either house), for the personal tracked mail.
    insiders: Vec<usize>,
    rng: Rng,
    out: Outputs,
    postfix: Postfix,
    exchange: Exchange,
    queue: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    campaign_opens: u32,
}

/// Where the files about the world (not logs) go, below the output directory: `people.csv` and
/// `labels.jsonl`. A hidden directory, so that `reconwatch parse OUT` reads only the logs
/// (directory walks skip hidden entries).
pub const SIDE_DIR: &str = ".world";

/// Writes a world into `out` (created if missing). Files a previous run wrote there are
/// replaced; nothing else in the directory is touched.
pub fn write_world(cfg: &GenConfig, out: &Path) -> anyhow::Result<GenSummary> {
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    remove_previous(out)?;
    let plan = plan(cfg);
    let root = Rng::new(cfg.seed);
    let pop = people::build(&plan.sizes, &mut root.fork("people"));
    fs::create_dir_all(out.join(SIDE_DIR)).with_context(|| format!("creating {}/{SIDE_DIR}", out.display()))?;
    let people_path = out.join(SIDE_DIR).join("people.csv");
    {
        let mut f = std::io::BufWriter::new(
            fs::File::create(&people_path).with_context(|| format!("creating {}", people_path.display()))?,
        );
        people::write_csv(&pop, &mut f)?;
    }
    let waves = campaign::plan(
        &mut root.fork("campaign"),
        &pop,
        plan.first_day,
        plan.days,
        plan.waves,
        plan.wave_size,
    );
    let variants = variants::plan(
        &mut root.fork("variants"),
        &pop,
        plan.first_day,
        plan.days,
        plan.variant_size,
        plan.waves + 1,
    );
    let lists = benign::plan_lists(&mut root.fork("lists"), &pop);
    let insiders = (0..pop.people.len())
        .filter(|&i| pop.people[i].site != people::Site::External)
        .collect();
    let rotate_at = plan.first_day + i64::from(plan.days / 2) * DAY;
    let mut world = World {
        postfix: Postfix::new(&mut root.fork("postfix")),
        exchange: Exchange::new(&mut root.fork("exchange")),
        out: Outputs::create(out, rotate_at)?,
        rng: root.fork("events"),
        plan,
        pop,
        waves,
        variants,
        lists,
        insiders,
        queue: BinaryHeap::new(),
        seq: 0,
        campaign_opens: 0,
    };
    world.run(&mut root.fork("days"))?;
    let (mut files, labels, campaign_lines) = world.out.finish()?;
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(GenSummary {
        files,
        labels,
        campaign_lines,
        people: people_path,
    })
}

/// Deletes the files a previous run would have written (only those names).
fn remove_previous(out: &Path) -> anyhow::Result<()> {
    let ours = |dir: &str, name: &str| match dir {
        SIDE_DIR => name == "people.csv" || name == "labels.jsonl",
        "mail" => name == "maillog" || name == "maillog.1.gz",
        "web" => name == "access.log" || name == "access.log.1.gz",
        "web/branch" => name == "access.log",
        "mail/exchange" => name.starts_with("MSGTRK") && name.ends_with(".LOG"),
        "web/proxysg" => name.starts_with("SG_main_") && name.ends_with(".log"),
        _ => false,
    };
    for dir in [SIDE_DIR, "mail", "web", "mail/exchange", "web/proxysg", "web/branch"] {
        let Ok(entries) = fs::read_dir(out.join(dir)) else {
            continue;
        };
        for e in entries {
            let e = e?;
            if e.file_type()?.is_file() && ours(dir, &e.file_name().to_string_lossy()) {
                fs::remove_file(e.path()).with_context(|| format!("removing {}", e.path().display()))?;
            }
        }
    }
    Ok(())
}

/// A time on `day_start`'s day drawn from hourly weights (local hours).
fn at_hour(rng: &mut Rng, day_start: Ts, weights: &[u32; 24]) -> Ts {
    let h = rng.weighted(weights) as i64;
    day_start + h * HOUR + rng.below(HOUR as u64) as i64
}

impl World {
    fn schedule(&mut self, at: Ts, act: Act) {
        // Nothing starts in the world's last hour, so no line spills into March.
        if at >= self.plan.end - HOUR {
            return;
        }
        self.seq += 1;
        self.queue.push(Reverse(Scheduled { at, seq: self.seq, act }));
    }

    fn run(&mut self, rng: &mut Rng) -> anyhow::Result<()> {
        let weights = self.weights();
        for day in 0..self.plan.days {
            let day_start = self.plan.first_day + i64::from(day) * DAY;
            self.plan_day(rng, day, day_start, &weights);
            let day_end = day_start + DAY;
            while self.queue.peek().is_some_and(|Reverse(s)| s.at < day_end) {
                let Some(Reverse(s)) = self.queue.pop() else { break };
                self.out.flush_before(s.at)?;
                self.process(s.at, s.act);
            }
        }
        Ok(())
    }

    /// Relative activity of a person on a day.
    fn day_weight(&self, person: usize, weekday: u32) -> f64 {
        let p = &self.pop.people[person];
        let wf = if weekday < 5 {
            1.0
        } else if p.group == Group::Parliamentarian {
            0.3
        } else {
            0.15
        };
        p.activity * wf
    }

    /// Total activity weight of each site over the whole world.
    fn weights(&self) -> [f64; 2] {
        let mut w = [0.0; 2];
        for d in 0..self.plan.days {
            let wd = clock::weekday(self.plan.first_day.div_euclid(DAY) + 1 + i64::from(d));
            for (s, list) in [&self.pop.parliament, &self.pop.senate].into_iter().enumerate() {
                w[s] += list.iter().map(|&p| self.day_weight(p, wd)).sum::<f64>();
            }
        }
        w
    }

    fn plan_day(&mut self, rng: &mut Rng, day: u32, day_start: Ts, totals: &[f64; 2]) {
        // day_start is local midnight; its UTC date is the previous day, hence the +1.
        let date = (day_start + clock::LOCAL_OFFSET).div_euclid(DAY);
        let wd = clock::weekday(date);
        for (s, total) in totals.iter().enumerate() {
            let list = if s == 0 {
                self.pop.parliament.clone()
            } else {
                self.pop.senate.clone()
            };
            for p in list {
                let share = self.day_weight(p, wd) / total.max(1e-9);
                let person = &self.pop.people[p];
                let has_phone = person.devices.iter().position(|d| d.kind == DeviceKind::Phone);
                let remote = person.devices.iter().position(|d| d.kind == DeviceKind::Remote);
                let n = rng.poisson(self.plan.sessions[s] * share);
                for _ in 0..n {
                    let office = wd < 5 && rng.chance(0.75);
                    let (device, hours) = match (office, has_phone, remote) {
                        (true, _, Some(r)) if rng.chance(0.4) => (r, &catalog::HOURS_DESKTOP),
                        (true, _, _) | (false, None, _) => (0, &catalog::HOURS_DESKTOP),
                        (false, Some(ph), _) => (ph, &catalog::HOURS_PHONE),
                    };
                    let at = at_hour(rng, day_start, hours);
                    let pages = 1 + rng.poisson(2.5) as u32;
                    self.schedule(
                        at,
                        Act::Session {
                            person: p,
                            device,
                            pages,
                        },
                    );
                }
                for _ in 0..rng.poisson(self.plan.internal[s] * share) {
                    let at = at_hour(rng, day_start, &catalog::HOURS_MAIL);
                    self.schedule(at, Act::Internal { person: p });
                }
                for _ in 0..rng.poisson(self.plan.inbound[s] * share) {
                    let at = at_hour(rng, day_start, &catalog::HOURS_EXTERNAL);
                    self.schedule(at, Act::Inbound { person: p });
                }
                for _ in 0..rng.poisson(self.plan.outbound[s] * share) {
                    let at = at_hour(rng, day_start, &catalog::HOURS_MAIL);
                    self.schedule(at, Act::Outbound { person: p });
                }
            }
        }
        for _ in 0..rng.poisson(self.plan.noise / f64::from(self.plan.days)) {
            let at = day_start + rng.below(DAY as u64) as i64;
            self.schedule(at, Act::Noise);
        }
        for (i, o) in OUTLETS.iter().enumerate() {
            let send = match o.cadence {
                Cadence::Daily => true,
                Cadence::Weekdays => wd < 5,
                Cadence::Weekly(w) => wd == w,
            };
            if send {
                let at = day_start + i64::from(o.hour) * HOUR + rng.range(0, 50) as i64 * MINUTE;
                self.schedule(at, Act::Issue { outlet: i });
            }
        }
        for i in 0..self.waves.len() {
            let at = self.waves[i].at;
            if at >= day_start && at < day_start + DAY {
                self.schedule(at, Act::Wave { index: i });
            }
        }
        let today = |at: Ts| at >= day_start && at < day_start + DAY;
        let mut sends = Vec::new();
        for (index, v) in self.variants.iter().enumerate() {
            for (send, (at, _)) in v.sends.iter().enumerate() {
                if today(*at) {
                    sends.push((*at, index, send));
                }
            }
        }
        for (at, index, send) in sends {
            self.schedule(at, Act::Variant { index, send });
        }
        let bulletins: Vec<(usize, u32)> = (0..self.lists.len())
            .filter(|&l| self.lists[l].weekday == wd)
            .map(|l| (l, self.lists[l].hour))
            .collect();
        for (list, hour) in bulletins {
            let at = day_start + i64::from(hour) * HOUR + rng.range(0, 55) as i64 * MINUTE;
            self.schedule(at, Act::Bulletin { list });
        }
        let rate = PERSONAL_TRACKED_RATE * self.insiders.len() as f64 * if wd < 5 { 1.0 } else { 0.25 };
        for personal in 0..2 {
            for _ in 0..rng.poisson(rate) {
                let person = self.insiders[rng.index(self.insiders.len())];
                let hours = if personal == 0 {
                    &catalog::HOURS_EXTERNAL
                } else {
                    &catalog::HOURS_MAIL
                };
                let at = at_hour(rng, day_start, hours);
                let act = if personal == 0 {
                    Act::Mailtrack { person }
                } else {
                    Act::Saas { person }
                };
                self.schedule(at, act);
            }
        }
        let _ = day;
    }

    fn process(&mut self, at: Ts, act: Act) {
        match act {
            Act::Session { person, device, pages } => {
                let p = &self.pop.people[person];
                let c = Client::new(p, &p.devices[device], false);
                Web::new().session(&mut self.out, &mut self.rng, &c, at, pages);
            }
            Act::Internal { person } => {
                let m = traffic::internal(&mut self.rng, &self.pop, person, at);
                self.send(&m, at);
            }
            Act::Inbound { person } => {
                let m = traffic::inbound(&mut self.rng, &self.pop, person, at);
                self.send(&m, at);
            }
            Act::Outbound { person } => {
                let m = traffic::outbound(&mut self.rng, &self.pop, person, at);
                self.send(&m, at);
            }
            Act::Noise => self.noise(at),
            Act::Issue { outlet } => self.issue(outlet, at),
            Act::Wave { index } => self.wave(index, at),
            Act::Variant { index, send } => self.variant(index, send, at),
            Act::Bulletin { list } => self.bulletin(list, at),
            Act::Mailtrack { person } => {
                let email = self.pop.people[person].email.clone();
                let tr = benign::mailtrack(&mut self.rng, &email, at);
                self.send_tracked(person, tr, Source::Newsletter("mailtrack"), at, 0.6, 0.3);
            }
            Act::Saas { person } => {
                let email = self.pop.people[person].email.clone();
                let tr = benign::saas(&mut self.rng, &email, at);
                let key = tr.mail.label.as_ref().and_then(|l| l.outlet).unwrap_or("saas");
                self.send_tracked(person, tr, Source::Newsletter(key), at, 0.55, 0.3);
            }
            Act::Open(o) => self.open(*o, at),
        }
    }

    /// Logs a message at every mail system it passes; returns the deliveries to insiders.
    fn send(&mut self, m: &Mail, t: Ts) -> Vec<Delivered> {
        let rng = &mut self.rng;
        let mut delivered = Vec::new();
        match &m.origin {
            Origin::Senate { .. } => {
                let left = self.exchange.render_outbound(&mut self.out, rng, m, t);
                if m.rcpts.iter().any(|r| is_parliament(r)) {
                    let mut copy = m.clone();
                    copy.rcpts.retain(|r| is_parliament(r));
                    // The gateway's session opens just before Exchange logs the send.
                    let d = self.postfix.render(&mut self.out, rng, &copy, (left - 400_000).max(t));
                    delivered.extend(d);
                }
            }
            Origin::Parliament { .. } => {
                let d = self.postfix.render(&mut self.out, rng, m, t);
                if let Some(s) = d.iter().find(|d| is_senate(&d.rcpt)) {
                    let at = s.at - 30_000;
                    let (host, ip) = (mail::PARL_MX[0].1, mail::PARL_MX[0].2);
                    self.exchange.render_inbound(&mut self.out, rng, m, at, (host, ip));
                }
                delivered.extend(d.into_iter().filter(|d| is_parliament(&d.rcpt)));
            }
            Origin::Internet { host, ip, .. } => {
                if m.rcpts.iter().any(|r| is_parliament(r)) {
                    delivered.extend(self.postfix.render(&mut self.out, rng, m, t));
                }
                if m.rcpts.iter().any(|r| is_senate(r)) {
                    let d = self.exchange.render_inbound(&mut self.out, rng, m, t, (host, ip));
                    delivered.extend(d);
                }
            }
        }
        delivered
    }

    fn noise(&mut self, t: Ts) {
        let rng = &mut self.rng;
        // Spam sources come from 198.18.0.0/15 (reserved for benchmarking, so no real network).
        let ip = format!("198.{}.{}.{}", rng.range(18, 19), rng.range(0, 255), rng.range(1, 254));
        if rng.chance(0.45) {
            self.postfix.noise(&mut self.out, rng, t, &ip);
            return;
        }
        let reason = match rng.below(10) {
            0..=5 => Reject::Rbl,
            6..=7 => Reject::Helo,
            8 => Reject::Relay,
            _ => Reject::UnknownUser,
        };
        let helo = match reason {
            Reject::Helo => format!("WIN-{}", rng.range(100_000, 999_999)),
            _ => format!("{}.example", web::slug(rng, 1)),
        };
        let to = match reason {
            Reject::Relay => format!("{}@{}.example", web::slug(rng, 1), web::slug(rng, 1)),
            Reject::UnknownUser => format!("{}@{}", web::slug(rng, 1), catalog::PARL_DOMAIN),
            _ => {
                let list = &self.pop.parliament;
                self.pop.people[list[rng.index(list.len())]].email.clone()
            }
        };
        let from = format!(
            "{}{}@{}.example",
            web::slug(rng, 1),
            rng.range(1, 999),
            web::slug(rng, 1)
        );
        self.postfix
            .reject(&mut self.out, rng, t, ("unknown", &ip, &helo), &from, &to, reason, None);
    }

    fn issue(&mut self, outlet: usize, t0: Ts) {
        let is = traffic::issue(&mut self.rng, outlet, t0);
        let subscribers: Vec<usize> = (0..self.pop.people.len())
            .filter(|&i| self.pop.people[i].subscriptions.contains(&outlet))
            .collect();
        let mut t = t0;
        for p in subscribers {
            t += mail::gap(&mut self.rng, 30, 1_500);
            let email = self.pop.people[p].email.clone();
            let tracked = traffic::newsletter(&mut self.rng, &is, &email);
            let d = self.send(&tracked.mail, t);
            let tracked = Rc::new(tracked);
            for d in d {
                self.maybe_open(
                    p,
                    &tracked,
                    Source::Newsletter(OUTLETS[outlet].key),
                    &d,
                    0.35,
                    0.08,
                    false,
                );
            }
        }
    }

    fn wave(&mut self, index: usize, t0: Ts) {
        let mut t = t0;
        let recipients = self.waves[index].recipients.clone();
        let stale = self.waves[index].stale.clone();
        let n = self.waves[index].n;
        for (i, addr) in stale.iter().enumerate() {
            let w = &self.waves[index];
            let relay = w.relays[0].clone();
            let ip = mail::mail_ip(&relay);
            let mut label = Label::new(Kind::CampaignMail, addr);
            label.wave = Some(n);
            label.class = Some(campaign::CLASS);
            label.domain = Some(w.domain.to_string());
            let from = w.sender();
            self.postfix.reject(
                &mut self.out,
                &mut self.rng,
                t0 + (i as i64 + 1) * 7 * SECOND,
                (&relay, &ip, &relay),
                &format!("bounce-{i:04x}@mailer.{}", w.mailer.0),
                addr,
                Reject::UnknownUser,
                Some(label),
            );
            let _ = from;
        }
        for p in recipients {
            t += mail::gap(&mut self.rng, 400, 4_000);
            let email = self.pop.people[p].email.clone();
            let tracked = self.waves[index].mail(&mut self.rng, &email, t);
            let d = self.send(&tracked.mail, t);
            let tracked = Rc::new(tracked);
            for d in d {
                self.maybe_open(
                    p,
                    &tracked,
                    Source::Campaign(n),
                    &d,
                    0.45,
                    0.15,
                    self.campaign_opens == 0,
                );
            }
        }
    }

    /// Sends one tracked message to one insider and decides its opens.
    fn send_tracked(&mut self, person: usize, tr: Tracked, kind: Source, t: Ts, p_open: f64, p_click: f64) {
        let d = self.send(&tr.mail, t);
        let tr = Rc::new(tr);
        for d in d {
            self.maybe_open(person, &tr, kind, &d, p_open, p_click, false);
        }
    }

    fn bulletin(&mut self, list: usize, t0: Ts) {
        let b = benign::bulletin(&mut self.rng, &self.lists[list], t0);
        let key = benign::ORGS[b.org].key;
        let mut t = t0;
        for p in self.lists[list].subscribers.clone() {
            t += mail::gap(&mut self.rng, 100, 3_000);
            let email = self.pop.people[p].email.clone();
            let tr = benign::bulletin_copy(&mut self.rng, &b, &email);
            self.send_tracked(p, tr, Source::Newsletter(key), t, 0.4, 0.1);
        }
    }

    fn variant(&mut self, index: usize, send: usize, t0: Ts) {
        let v = &self.variants[index];
        let n = v.n;
        let slow = v.class == variants::Class::LowAndSlow;
        let recipients = v.sends[send].1.clone();
        let mut t = t0;
        for p in recipients {
            t += mail::gap(&mut self.rng, 400, 6_000);
            let email = self.pop.people[p].email.clone();
            let tr = self.variants[index].mail(&mut self.rng, &email, t);
            // Mail that looks personal or relevant to their work is opened more often than a
            // newsletter; a note addressed to one person by name nearly always.
            let p_open = if slow { 0.85 } else { 0.7 };
            self.send_tracked(p, tr, Source::Campaign(n), t, p_open, 0.15);
        }
    }

    /// Decides whether and when a delivered tracked message is opened.
    #[allow(clippy::too_many_arguments)]
    fn maybe_open(
        &mut self,
        person: usize,
        tracked: &Rc<Tracked>,
        kind: Source,
        d: &Delivered,
        p_open: f64,
        p_click: f64,
        force: bool,
    ) {
        if self.pop.people[person].devices.is_empty() {
            return;
        }
        let forced = force && matches!(kind, Source::Campaign(_));
        if !forced && !self.rng.chance(p_open) {
            return;
        }
        let rng = &mut self.rng;
        let delay = if forced {
            rng.range(5, 40) as i64 * MINUTE
        } else {
            let x = rng.unit();
            let secs = if x < 0.5 {
                rng.lognormal(900.0, 1.0)
            } else if x < 0.85 {
                rng.lognormal(3.0 * 3600.0, 0.8)
            } else {
                rng.lognormal(30.0 * 3600.0, 0.5)
            };
            (secs.min(5.0 * 86_400.0) * 1e6) as Ts
        };
        let at = awake(rng, d.at + delay.max(20 * SECOND));
        let click = forced || rng.chance(p_click);
        let again = rng.chance(0.25);
        if matches!(kind, Source::Campaign(_)) && at < self.plan.end - HOUR {
            self.campaign_opens += 1;
        }
        self.schedule(
            at,
            Act::Open(Box::new(Open {
                person,
                tracked: tracked.clone(),
                kind,
                queue_id: d.queue_id.clone(),
                message_id: tracked.mail.message_id.clone(),
                click,
                again,
            })),
        );
    }

    /// The recipient's mail client shows the message: images load, the pixel reports.
    fn open(&mut self, o: Open, t0: Ts) {
        let rng = &mut self.rng;
        let p = &self.pop.people[o.person];
        let local = clock::parts(t0, clock::LOCAL_OFFSET);
        let date = (t0 + clock::LOCAL_OFFSET).div_euclid(DAY);
        let office = clock::weekday(date) < 5 && (8..18).contains(&local.h);
        let phone = p.devices.iter().position(|d| d.kind == DeviceKind::Phone);
        let remote = p.devices.iter().position(|d| d.kind == DeviceKind::Remote);
        let device = match (office, phone, remote) {
            // At the constituency office (branch proxy).
            (true, _, Some(r)) if rng.chance(0.45) => r,
            (true, Some(ph), _) if rng.chance(0.25) => ph,
            (true, _, _) | (false, None, _) => 0,
            (false, Some(ph), _) => ph,
        };
        let dev = &p.devices[device];
        let c = Client::new(p, dev, true);
        let tr = &o.tracked;
        let class = tr.mail.label.as_ref().and_then(|l| l.class);
        let (pixel_kind, click_kind, wave, outlet, domain) = match o.kind {
            Source::Newsletter(k) => (Kind::NewsletterOpen, Kind::NewsletterClick, None, Some(k), None),
            Source::Campaign(n) => (
                Kind::CampaignOpen,
                Kind::CampaignClick,
                Some(n),
                None,
                tr.mail.label.as_ref().and_then(|l| l.domain.clone()),
            ),
        };
        let label = |kind: Kind, token: Option<&str>, host: Option<&str>| {
            let mut l = Label::new(kind, &tr.mail.rcpts[0]);
            l.token = token.map(str::to_string);
            l.host = host.map(str::to_string);
            l.queue_id = Some(o.queue_id.clone());
            l.message_id = Some(o.message_id.clone());
            l.class = class;
            l.wave = wave;
            l.outlet = outlet;
            l.domain = domain.clone();
            l.user = p.username.clone();
            l.client_ip = Some(dev.ip_string());
            Rc::new(l)
        };
        let mut web = Web::new();
        let mut t = t0;
        let campaign = matches!(o.kind, Source::Campaign(_));
        let category = if campaign { "Uncategorized" } else { "Content Servers" };
        // Through the branch proxy a tunnel shows only its first request's host: the pixel
        // goes first there, so that an open is never hidden in the logo's tunnel.
        let branch = c.proxy == web::Proxy::Branch;
        let images = |out: &mut Outputs, rng: &mut Rng, web: &mut Web, mut t: Ts| {
            for img in &tr.images {
                let (scheme, host, path, query) = web::split(img);
                let is_campaign_host = domain.as_deref().is_some_and(|d| host.ends_with(d));
                let lab = (campaign && is_campaign_host).then(|| label(Kind::CampaignWeb, None, Some(host)));
                let f = Fetch {
                    scheme,
                    host,
                    path,
                    query,
                    mime: if path.ends_with(".png") {
                        "image/png"
                    } else {
                        "image/jpeg"
                    },
                    category,
                    referer: "",
                };
                t = web.get(out, rng, &c, t, (5, 200), &f, 200, (6_000, 90_000), lab.as_ref());
            }
            t
        };
        if !branch {
            t = images(&mut self.out, rng, &mut web, t);
        }
        let (scheme, host, path, query) = web::split(&tr.pixel);
        let redirects = tr.pixel_next.is_some();
        let f = Fetch {
            scheme,
            host,
            path,
            query,
            mime: if redirects {
                "text/html"
            } else if path.ends_with(".gif")
                || path.ends_with(".aspx")
                || path.ends_with(".php")
                || path.starts_with("/wf/")
                || path.starts_with("/f/a/")
                || path.starts_with("/o/")
                || path.starts_with("/I0/")
            {
                "image/gif"
            } else {
                "image/png"
            },
            category: if campaign { "Uncategorized" } else { "Web Ads/Analytics" },
            referer: "",
        };
        let lab = label(pixel_kind, Some(&tr.token), Some(host));
        let (status, size) = if redirects {
            (301, (300, 480))
        } else {
            (200, (380, 520))
        };
        t = web.get(&mut self.out, rng, &c, t, (5, 300), &f, status, size, Some(&lab));
        if let Some((next, token)) = &tr.pixel_next {
            // The shortener answers with a redirect; the client follows it to the tracker.
            let (scheme, host, path, query) = web::split(next);
            let f = Fetch {
                scheme,
                host,
                path,
                query,
                mime: "image/gif",
                category: "Uncategorized",
                referer: "",
            };
            let kind = if campaign { Kind::CampaignWeb } else { pixel_kind };
            let lab = label(kind, Some(token), Some(host));
            t = web.get(&mut self.out, rng, &c, t, (5, 120), &f, 200, (380, 520), Some(&lab));
        }
        if branch {
            t = images(&mut self.out, rng, &mut web, t);
        }

        if o.click && !tr.links.is_empty() {
            let l = tr.links[rng.index(tr.links.len())].clone();
            let (link, dest) = (l.url, l.dest);
            let bc = Client::new(p, dev, false);
            t += rng.range(4, 180) as i64 * SECOND;
            let (scheme, host, path, query) = web::split(&link);
            let redirect = link != dest;
            let f = Fetch {
                scheme,
                host,
                path,
                query,
                mime: "text/html",
                category: if campaign { "Uncategorized" } else { "Web Ads/Analytics" },
                referer: "",
            };
            let lab = label(click_kind, Some(&l.token), Some(host));
            let (status, bytes) = if redirect {
                (302, rng.range(450, 900))
            } else {
                (200, rng.range(20_000, 90_000))
            };
            let mut web = Web::new();
            t = web.get(
                &mut self.out,
                rng,
                &bc,
                t,
                (0, 0),
                &f,
                status,
                (bytes, bytes),
                Some(&lab),
            );
            if redirect {
                let (_, dhost, _, _) = web::split(&dest);
                let site = SITES.iter().find(|s| s.host == dhost);
                if let Some(site) = site {
                    let at = t + rng.range(20, 300) as i64 * 1000;
                    web.page(&mut self.out, rng, &bc, at, site, "");
                } else if campaign {
                    // A shortener or an ESP's click tracking leads to the operators' page.
                    let (scheme, host, path, query) = web::split(&dest);
                    let f = Fetch {
                        scheme,
                        host,
                        path,
                        query,
                        mime: "text/html",
                        category: "Uncategorized",
                        referer: "",
                    };
                    let lab = label(Kind::CampaignWeb, None, Some(host));
                    t = web.get(
                        &mut self.out,
                        rng,
                        &bc,
                        t,
                        (20, 300),
                        &f,
                        200,
                        (20_000, 90_000),
                        Some(&lab),
                    );
                }
            } else if campaign {
                // The lookalike's page pulls its own assets.
                let d = domain.clone().unwrap_or_default();
                for _ in 0..rng.range(2, 5) {
                    let mut h = String::new();
                    rng.token(rng::ALNUM_LOWER, 8, &mut h);
                    let (p, m) = if rng.chance(0.5) {
                        (format!("/static/css/main.{h}.css"), "text/css")
                    } else {
                        (format!("/static/js/app.{h}.js"), "application/javascript")
                    };
                    let f = Fetch {
                        scheme: catalog::Scheme::Https,
                        host: &d,
                        path: &p,
                        query: "",
                        mime: m,
                        category: "Uncategorized",
                        referer: &link,
                    };
                    let lab = label(Kind::CampaignWeb, None, Some(&d));
                    t = web.get(
                        &mut self.out,
                        rng,
                        &bc,
                        t,
                        (5, 120),
                        &f,
                        200,
                        (3_000, 60_000),
                        Some(&lab),
                    );
                }
            }
        }
        let _ = t;
        if o.again {
            // Opened again later, perhaps on another device.
            let later = t0 + (self.rng.lognormal(5.0 * 3600.0, 0.8) * 1e6) as Ts;
            let at = awake(&mut self.rng, later);
            self.schedule(
                at,
                Act::Open(Box::new(Open {
                    click: false,
                    again: false,
                    ..o
                })),
            );
        }
    }
}

/// Moves a night-time moment to the next morning: people read mail when awake.
fn awake(rng: &mut Rng, t: Ts) -> Ts {
    let p = clock::parts(t, clock::LOCAL_OFFSET);
    let local_midnight =
        t - i64::from(p.h) * HOUR - i64::from(p.mi) * MINUTE - i64::from(p.s) * SECOND - i64::from(p.us);
    if p.h < 7 {
        local_midnight + 7 * HOUR + rng.below(2 * HOUR as u64) as i64
    } else if p.h >= 23 {
        local_midnight + DAY + 7 * HOUR + rng.below(2 * HOUR as u64) as i64
    } else {
        t
    }
}

#[cfg(test)]
mod tests;
