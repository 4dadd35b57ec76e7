//! Variations of the campaign a detector must also catch: invented news brands sent through real
//! ESPs (SendGrid, Amazon SES), short and odd token shapes (letters only, six characters,
//! digits, eight hex digits, the token as a host label, on cloud storage, behind a URL
//! shortener), the protected domain as leading labels of the sender's domain, bodies encoded
//! quoted-printable or base64, and one patient persona on free mail writing to a handful of
//! targets once a week. Each wave (or the slow persona) has one class, named in every label of
//! its lines.
//!
//! Builds [`Tracked`] messages only; the world sends and opens them like the lookalike waves.
//! Never names a real domain as the operators': their domains are under `.example`; real names
//! appear only as the infrastructure they abuse (sendgrid.net, amazonses.com, bit.ly,
//! storage.googleapis.com, gmail.com).

use super::campaign::{LOOKALIKES, PERSONAS, targets};
use super::catalog::{CAMPAIGN_TOPICS, HEADLINES};
use super::clock::{self, DAY, HOUR, MINUTE, Ts};
use super::mail::{Mail, guid};
use super::people::{Population, Site};
use super::rng::{ALNUM_LOWER, BASE62, HEX_LOWER, Rng};
use super::sink::{Kind, Label};
use super::traffic::{Link, Tracked, base64};
use super::web::slug;

/// The malicious variation classes, in the order their waves are spread over the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    EspInventedBrand,
    TokenLetters,
    TokenShort,
    TokenNumeric,
    TokenHex8,
    TokenHostLabel,
    TokenCloudPath,
    TokenShortener,
    SubdomainLookalike,
    QpBody,
    Base64Body,
    LowAndSlow,
}

/// The classes sent as waves (the slow persona is scheduled apart).
const WAVE_CLASSES: [Class; 11] = [
    Class::EspInventedBrand,
    Class::TokenLetters,
    Class::TokenShort,
    Class::TokenNumeric,
    Class::TokenHex8,
    Class::TokenHostLabel,
    Class::TokenCloudPath,
    Class::TokenShortener,
    Class::SubdomainLookalike,
    Class::QpBody,
    Class::Base64Body,
];

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::EspInventedBrand => "esp_invented_brand",
            Class::TokenLetters => "token_letters",
            Class::TokenShort => "token_short",
            Class::TokenNumeric => "token_numeric",
            Class::TokenHex8 => "token_hex8",
            Class::TokenHostLabel => "token_host_label",
            Class::TokenCloudPath => "token_cloud_path",
            Class::TokenShortener => "token_shortener",
            Class::SubdomainLookalike => "subdomain_lookalike",
            Class::QpBody => "qp_body",
            Class::Base64Body => "base64_body",
            Class::LowAndSlow => "low_and_slow",
        }
    }
}

/// Invented news brands (not lookalikes of any outlet): (brand, domain).
pub const BRANDS: &[(&str, &str)] = &[
    ("The Westminster Briefing", "westminster-briefing.example"),
    ("Global Affairs Dispatch", "globalaffairsdispatch.example"),
    ("Europe Policy Review", "europepolicyreview.example"),
    ("The Diplomatic Ledger", "diplomatic-ledger.example"),
    ("Asia Pacific Monitor", "apmonitor.example"),
];

/// The protected domain as leading labels: (sender domain, link domain, brand, article host).
pub const SUBDOMAIN_LOOKALIKES: &[(&str, &str, &str)] = &[
    (
        "bbc.co.uk.world-briefing.example",
        "reuters.com.global-wire.example",
        "BBC News",
    ),
    (
        "theguardian.com.uk-newsdesk.example",
        "theguardian.com.uk-newsdesk.example",
        "The Guardian",
    ),
    (
        "politico.eu.brussels-daily.example",
        "ft.com.brussels-daily.example",
        "POLITICO",
    ),
];

/// The patient persona of the low-and-slow class: a "writer" on free mail.
pub const SLOW_PERSONA: (&str, &str) = ("Helen Ward", "helen.ward.writer@gmail.com");
/// Her "unremarkable" web site (labels' `domain`: her mail comes from Gmail) and its image host.
const SLOW_DOMAIN: &str = "helenward-writes.example";
const SLOW_HOST: &str = "cdn.helenward-writes.example";

const SLOW_SUBJECTS: &[&str] = &[
    "Question about your work on the committee",
    "Following up on my earlier note",
    "A quick question for a book chapter",
    "Your speech last week",
    "Could we talk about {t}?",
    "Re: Question about your work on the committee",
];

/// How a wave's messages reach the gateway.
#[derive(Debug, Clone)]
enum Transport {
    /// One of the fictional mass mailers of the lookalike waves (relay domain).
    Mailer(&'static str),
    /// SendGrid: per-account click tracking host `u<digits>.ct.sendgrid.net`.
    SendGrid { account: u32, em: u32 },
    /// Amazon SES in eu-west-1.
    Ses,
    /// Free mail (Gmail's outgoing relays).
    Gmail,
}

pub struct Variant {
    pub n: u32,
    pub class: Class,
    display: String,
    sender: String,
    /// The actor's domain (labels' `domain`).
    pub domain: String,
    link_host: String,
    track_host: String,
    transport: Transport,
    relays: Vec<String>,
    subject: String,
    slug: String,
    /// Whether tracking goes through the ESP's own open/click tracking.
    esp_tracking: bool,
    /// Cloud storage bucket URL prefix (token_cloud_path).
    bucket: String,
    /// Sends: (time, recipients) — one for a wave, one per target and week for the slow persona.
    pub sends: Vec<(Ts, Vec<usize>)>,
}

/// Plans the waves of each class over the world's days, `per_class` recipients per class (one
/// wave, or one every twenty days in long worlds), numbered from `first_n`, plus the slow
/// persona's weekly notes.
pub fn plan(rng: &mut Rng, pop: &Population, first_day: Ts, days: u32, per_class: usize, first_n: u32) -> Vec<Variant> {
    let all = targets(rng, pop);
    let parl: Vec<usize> = all
        .iter()
        .copied()
        .filter(|&p| pop.people[p].site == Site::Parliament)
        .collect();
    let mut out = Vec::new();
    let span = days.saturating_sub(1).max(1);
    // Long worlds see each class return every few weeks, with another brand or lookalike.
    let rounds = 1 + days / 20;
    let per_wave = per_class.div_ceil(rounds as usize);
    let waves = WAVE_CLASSES.len() as u32 * rounds;
    for g in 0..waves {
        let class = WAVE_CLASSES[(g as usize) % WAVE_CLASSES.len()];
        let day = (g * span / waves) as i64;
        let mut date = first_day.div_euclid(DAY) + day;
        while clock::weekday(date + 1) >= 5 {
            date += 1;
        }
        // Local 10:30 to 16:00 (day 0's lookalike wave goes first, at 09:00-10:30).
        let at = date * DAY + DAY - clock::LOCAL_OFFSET + HOUR * 10 + rng.range(30, 360) as i64 * MINUTE;
        // Bodies only the Postfix gateway logs: those waves go to the lower house.
        let pool = if matches!(class, Class::QpBody | Class::Base64Body) {
            &parl
        } else {
            &all
        };
        let recipients = pick(rng, pool, per_wave);
        out.push(build(rng, class, first_n + g, vec![(at, recipients)]));
    }
    // The slow persona: a handful of targets, one note each per week, on weekdays.
    let n_targets = (days as usize).clamp(2, 8);
    let chosen = pick(rng, &all, n_targets);
    let mut sends = Vec::new();
    for (k, &p) in chosen.iter().enumerate() {
        let mut day = (k as i64 * 7 / n_targets as i64).min(i64::from(days) - 1);
        while day < i64::from(days) - 1 || (day == 0 && days == 1) {
            let mut date = first_day.div_euclid(DAY) + day;
            while clock::weekday(date + 1) >= 5 {
                date += 1;
            }
            let at = date * DAY + DAY - clock::LOCAL_OFFSET + HOUR * 9 + rng.range(0, 540) as i64 * MINUTE;
            if at < first_day + i64::from(days) * DAY - 2 * HOUR {
                sends.push((at, vec![p]));
            }
            day += 7;
        }
    }
    sends.sort_by_key(|s| s.0);
    out.push(build(rng, Class::LowAndSlow, first_n + waves, sends));
    out
}

/// `n` distinct people of `pool` (all of them when it is smaller), in random order.
fn pick(rng: &mut Rng, pool: &[usize], n: usize) -> Vec<usize> {
    let mut v = pool.to_vec();
    for i in (1..v.len()).rev() {
        let j = rng.index(i + 1);
        v.swap(i, j);
    }
    v.truncate(n.max(1));
    v
}

fn numeric(rng: &mut Rng, n: usize) -> String {
    let mut s = String::new();
    rng.token(b"0123456789", n, &mut s);
    s
}

fn random(rng: &mut Rng, alphabet: &[u8], n: usize) -> String {
    let mut s = String::new();
    rng.token(alphabet, n, &mut s);
    s
}

fn build(rng: &mut Rng, class: Class, n: u32, sends: Vec<(Ts, Vec<usize>)>) -> Variant {
    let (pname, _) = PERSONAS[rng.index(PERSONAS.len())];
    let local = pname.to_lowercase().replace(' ', ".");
    let topic = CAMPAIGN_TOPICS[rng.index(CAMPAIGN_TOPICS.len())];
    let headline = {
        let mut h = HEADLINES[rng.index(HEADLINES.len())].to_string();
        h[..1].make_ascii_uppercase();
        h
    };
    let mailer = if rng.chance(0.5) {
        "postblast.example"
    } else {
        "sendloop-mta.example"
    };
    // (display, sender, domain, link host, brand)
    let (display, sender, domain, link_host, brand) = match class {
        Class::EspInventedBrand => {
            let (brand, dom) = BRANDS[rng.index(BRANDS.len())];
            let display = if rng.chance(0.5) {
                format!("{pname} | {brand}")
            } else {
                format!("{pname}, {brand}")
            };
            (
                display,
                format!("{local}@{dom}"),
                dom.to_string(),
                dom.to_string(),
                brand,
            )
        }
        Class::SubdomainLookalike => {
            let (dom, links, brand) = SUBDOMAIN_LOOKALIKES[rng.index(SUBDOMAIN_LOOKALIKES.len())];
            (
                format!("{brand} Newsroom"),
                format!("news@{dom}"),
                dom.to_string(),
                links.to_string(),
                brand,
            )
        }
        Class::LowAndSlow => {
            let (name, addr) = SLOW_PERSONA;
            (
                name.to_string(),
                addr.to_string(),
                SLOW_DOMAIN.to_string(),
                SLOW_HOST.to_string(),
                "",
            )
        }
        _ => {
            // Token-shape and encoding waves: a lookalike or an invented brand, half each.
            let (brand, dom) = if rng.chance(0.5) {
                let (d, _, b, _) = LOOKALIKES[rng.index(LOOKALIKES.len())];
                (b, d)
            } else {
                BRANDS[rng.index(BRANDS.len())]
            };
            (
                format!("{pname} | {brand}"),
                format!("{local}@{dom}"),
                dom.to_string(),
                dom.to_string(),
                brand,
            )
        }
    };
    let transport = match class {
        Class::LowAndSlow => Transport::Gmail,
        Class::EspInventedBrand | Class::TokenNumeric | Class::TokenHex8 => {
            if rng.chance(0.5) {
                Transport::SendGrid {
                    account: rng.range(1_000_000, 39_999_999) as u32,
                    em: rng.range(1000, 9999) as u32,
                }
            } else {
                Transport::Ses
            }
        }
        _ => Transport::Mailer(mailer),
    };
    let relays = (0..2)
        .map(|_| match &transport {
            Transport::Mailer(m) => format!("smtp{}.{m}", rng.range(2, 12)),
            Transport::SendGrid { .. } => format!("o{}.ptr{}.sendgrid.net", rng.range(1, 9), rng.range(1000, 9999)),
            Transport::Ses => format!(
                "a{}-{}.smtp-out.eu-west-1.amazonses.com",
                rng.range(1, 99),
                rng.range(1, 250)
            ),
            Transport::Gmail => format!(
                "mail-{}-f{}.google.com",
                ["wr1", "wm1", "ej1", "lf1"][rng.index(4)],
                rng.range(41, 99)
            ),
        })
        .collect();
    let esp_tracking =
        matches!(transport, Transport::SendGrid { .. }) && class == Class::EspInventedBrand && rng.chance(0.7);
    let track_host = match class {
        Class::TokenHostLabel => format!("px.{domain}"),
        Class::LowAndSlow => SLOW_HOST.to_string(),
        Class::SubdomainLookalike => format!("img.{domain}"),
        _ => match rng.below(3) {
            0 => format!("img.{domain}"),
            1 => format!("media.{domain}"),
            _ => domain.clone(),
        },
    };
    let bucket = if rng.chance(0.5) {
        format!(
            "https://storage.googleapis.com/{}-media-{}",
            domain.split(['.', '-']).next().unwrap_or("news"),
            random(rng, HEX_LOWER, 4)
        )
    } else {
        format!(
            "https://{}-assets-{}.s3.eu-west-1.amazonaws.com",
            domain.split(['.', '-']).next().unwrap_or("news"),
            random(rng, HEX_LOWER, 4)
        )
    };
    let subject = match class {
        Class::LowAndSlow => String::new(),
        _ => match rng.below(6) {
            0 => format!("Interview request: {topic}"),
            1 => format!("Request for comment - {topic}"),
            2 => format!("Briefing: {topic}"),
            3 if !brand.is_empty() => format!("{brand}: {headline}"),
            4 => format!("Invitation: closed-door briefing on {topic}"),
            _ => headline.clone(),
        },
    };
    Variant {
        n,
        class,
        display,
        sender,
        domain,
        link_host,
        track_host,
        transport,
        relays,
        subject,
        slug: slug(rng, 5),
        esp_tracking,
        bucket,
        sends,
    }
}

impl Variant {
    /// One recipient's copy (`t` the send time).
    pub fn mail(&self, rng: &mut Rng, to: &str, t: Ts) -> Tracked {
        let (local, rdomain) = to.rsplit_once('@').unwrap_or((to, ""));
        let th = &self.track_host;
        let lh = &self.link_host;
        let p = clock::parts(t, clock::LOCAL_OFFSET);
        let mut pixel_next = None;
        let (pixel, token, link, link_token) = match self.class {
            Class::EspInventedBrand if self.esp_tracking => {
                let Transport::SendGrid { account, .. } = self.transport else {
                    unreachable!("esp_tracking is only set for SendGrid")
                };
                let upn = random(
                    rng,
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                    150,
                );
                let lupn = random(
                    rng,
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                    170,
                );
                (
                    format!("https://u{account}.ct.sendgrid.net/wf/open?upn={upn}"),
                    upn,
                    format!("https://u{account}.ct.sendgrid.net/ls/click?upn={lupn}"),
                    lupn,
                )
            }
            Class::EspInventedBrand | Class::SubdomainLookalike => {
                let tok = random(rng, BASE62, 22);
                (
                    format!("https://{th}/o/{tok}.gif"),
                    tok.clone(),
                    format!("https://{lh}/{:04}/{:02}/{}?r={tok}", p.y, p.mo, self.slug),
                    tok,
                )
            }
            Class::TokenLetters => {
                let n = rng.range(10, 16) as usize;
                let tok = random(rng, b"abcdefghijklmnopqrstuvwxyz", n);
                (
                    format!("https://{th}/p.gif?id={tok}"),
                    tok.clone(),
                    format!("https://{lh}/news/{}?id={tok}", self.slug),
                    tok,
                )
            }
            Class::TokenShort => {
                let tok = random(rng, BASE62, 6);
                (
                    format!("http://{th}/i/{tok}.gif"),
                    tok.clone(),
                    format!("https://{lh}/s/{tok}"),
                    tok,
                )
            }
            Class::TokenNumeric => {
                let n = rng.range(8, 10) as usize;
                let tok = numeric(rng, n);
                (
                    format!("http://{th}/img/blank.gif?sid={tok}"),
                    tok.clone(),
                    format!("https://{lh}/article/{}?sid={tok}", self.slug),
                    tok,
                )
            }
            Class::TokenHex8 => {
                let tok = random(rng, HEX_LOWER, 8);
                (
                    format!("http://{th}/t/{tok}/logo.png"),
                    tok.clone(),
                    format!("https://{lh}/r/{tok}"),
                    tok,
                )
            }
            Class::TokenHostLabel => {
                let tok = random(rng, ALNUM_LOWER, 6);
                (
                    format!("http://{tok}.{th}/1x1.gif"),
                    tok.clone(),
                    format!("https://{tok}.go.{}/{}", self.domain, self.slug),
                    tok,
                )
            }
            Class::TokenCloudPath => {
                let tok = random(rng, BASE62, 12);
                (
                    format!("{}/i/{tok}.png", self.bucket),
                    tok.clone(),
                    format!("https://{lh}/story/{}?c={tok}", self.slug),
                    tok,
                )
            }
            Class::TokenShortener => {
                // The shortener's code is the per-recipient value; it redirects to the tracker.
                let code = random(rng, BASE62, 7);
                let inner = random(rng, BASE62, 16);
                pixel_next = Some((format!("https://{th}/p.gif?id={inner}"), inner));
                let lcode = random(rng, BASE62, 7);
                (
                    format!("https://bit.ly/{code}"),
                    code,
                    format!("https://bit.ly/{lcode}"),
                    lcode,
                )
            }
            Class::QpBody | Class::Base64Body => {
                let tok = random(rng, BASE62, 24);
                (
                    format!("https://{th}/p.gif?id={tok}"),
                    tok.clone(),
                    format!("https://{lh}/{:04}/{:02}/{:02}/{}?ref={tok}", p.y, p.mo, p.d, self.slug),
                    tok,
                )
            }
            Class::LowAndSlow => {
                let tok = random(rng, ALNUM_LOWER, 12);
                (
                    format!("https://{th}/img/signature.png?v={tok}"),
                    tok.clone(),
                    format!("https://www.helenward-writes.example/about?v={tok}"),
                    tok,
                )
            }
        };
        let dest = match self.class {
            Class::EspInventedBrand if self.esp_tracking => {
                format!("https://{}/{:04}/{:02}/{}", self.domain, p.y, p.mo, self.slug)
            }
            Class::TokenShortener => format!("https://{lh}/news/{}?u={link_token}", self.slug),
            _ => link.clone(),
        };
        let subject = if self.class == Class::LowAndSlow {
            let s = SLOW_SUBJECTS[rng.index(SLOW_SUBJECTS.len())];
            s.replace("{t}", CAMPAIGN_TOPICS[rng.index(CAMPAIGN_TOPICS.len())])
        } else {
            self.subject.clone()
        };
        let html = self.html(&pixel, &link);
        let body_lines = match self.class {
            Class::QpBody => quoted_printable_lines(&html),
            Class::Base64Body => {
                let mut v = vec!["Content-Transfer-Encoding: base64".to_string()];
                let b = base64(html.as_bytes(), false, true);
                v.extend(b.as_bytes().chunks(76).map(|c| String::from_utf8_lossy(c).into_owned()));
                v
            }
            _ => html.lines().filter(|l| l.contains("://")).map(str::to_string).collect(),
        };
        let relay = self.relays[rng.index(self.relays.len())].clone();
        let (env_from, mid, x_mailer) = match &self.transport {
            Transport::Mailer(m) => (
                format!("bounce-{}@mailer.{m}", random(rng, HEX_LOWER, 12)),
                format!("{}.{}@{m}", random(rng, HEX_LOWER, 20), rng.range(1000, 9999)),
                Some(
                    if m.starts_with("postblast") {
                        "PostBlast Mailer 4.2"
                    } else {
                        "SendLoop/2.9.1"
                    }
                    .to_string(),
                ),
            ),
            Transport::SendGrid { account, em } => (
                format!(
                    "bounces+{account}-{}-{local}={rdomain}@em{em}.{}",
                    random(rng, HEX_LOWER, 4),
                    self.domain
                ),
                format!(
                    "{}@ismtpd0{}p1lon1.sendgrid.net",
                    random(
                        rng,
                        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                        22
                    ),
                    rng.range(100, 199)
                ),
                None,
            ),
            Transport::Ses => {
                let id = format!("0102{}-{}-000000", random(rng, HEX_LOWER, 12), guid(rng).to_lowercase());
                (
                    format!("{id}@eu-west-1.amazonses.com"),
                    format!("{id}@eu-west-1.amazonses.com"),
                    None,
                )
            }
            Transport::Gmail => (
                self.sender.clone(),
                format!(
                    "CA+{}@mail.gmail.com",
                    random(
                        rng,
                        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                        44
                    )
                ),
                None,
            ),
        };
        let mut label = Label::new(Kind::CampaignMail, to);
        label.token = Some(token.clone());
        label.wave = Some(self.n);
        label.domain = Some(self.domain.clone());
        label.class = Some(self.class.name());
        let images = match self.class {
            Class::LowAndSlow | Class::TokenHostLabel => Vec::new(),
            _ => vec![format!("https://{}/static/img/logo.png", self.link_host)],
        };
        Tracked {
            mail: Mail {
                env_from,
                from_header: format!("\"{}\" <{}>", self.display, self.sender),
                reply_to: None,
                message_id: mid,
                x_mailer,
                body_lines,
                size: rng.range(9_000, 38_000),
                ..Mail::relayed(to, relay, subject, label)
            },
            pixel,
            pixel_next,
            links: vec![Link {
                url: link,
                dest,
                token: link_token,
            }],
            images,
            token,
        }
    }

    /// The HTML part, one element per line.
    fn html(&self, pixel: &str, link: &str) -> String {
        let img = format!("<img src=\"{pixel}\" width=\"1\" height=\"1\" border=\"0\" alt=\"\">");
        match self.class {
            Class::LowAndSlow => format!(
                "<p>Dear colleague,</p>\n<p>I am writing a book on parliamentary diplomacy and would value ten minutes of your time.</p>\n<p>Best wishes,<br>{}</p>\n<p><a href=\"{link}\">About me</a></p>\n{img}",
                self.display
            ),
            Class::TokenHostLabel => format!(
                "<p>Please find our briefing below.</p>\n<p><a href=\"{link}\">Read the briefing</a></p>\n{img}"
            ),
            _ => format!(
                "<img src=\"https://{}/static/img/logo.png\" alt=\"logo\" width=\"180\">\n<p>We are preparing a piece and would welcome your comment.</p>\n<p><a href=\"{link}\">Read the full story</a></p>\n{img}",
                self.link_host
            ),
        }
    }
}

/// The HTML part as quoted-printable lines (RFC 2045: `=` as `=3D`, lines of at most 76
/// characters, a soft break `=` at the end of a wrapped line), keeping the lines a
/// `body_checks` rule for URLs or QP-encoded attributes (`=3D"`) would log.
pub fn quoted_printable_lines(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in html.lines() {
        let enc: String = line
            .chars()
            .map(|c| if c == '=' { "=3D".to_string() } else { c.to_string() })
            .collect();
        let mut rest = enc.as_str();
        let mut pieces = Vec::new();
        while rest.len() > 76 {
            // 75 characters and the soft break; never split an `=XX` escape.
            let mut cut = 75;
            if let Some(i) = rest[cut - 2..cut].find('=') {
                cut = cut - 2 + i;
            }
            pieces.push(format!("{}=", &rest[..cut]));
            rest = &rest[cut..];
        }
        pieces.push(rest.to_string());
        out.extend(pieces);
    }
    out.retain(|l| l.contains("://") || l.contains("=3D\""));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_splits_and_escapes() {
        let html = "<img src=\"https://img.example/p.gif?id=Ab12Cd34Ef56Gh78Ij90Kl12Mn34\" width=\"1\" height=\"1\" border=\"0\" alt=\"\">";
        let lines = quoted_printable_lines(html);
        assert!(lines.len() >= 2, "{lines:?}");
        assert!(lines.iter().all(|l| l.len() <= 76), "{lines:?}");
        assert!(lines[0].ends_with('='));
        assert!(lines[0].contains("src=3D\"https://img.example/p.gif?id=3D"));
        let joined: String = lines.iter().map(|l| l.trim_end_matches('=')).collect();
        assert_eq!(joined.replace("=3D", "="), html);
    }
}
