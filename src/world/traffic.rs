//! The content of ordinary mail and of legitimate newsletters: who writes to whom about what, and
//! for newsletters the per-recipient tracking links and open pixels each email service provider
//! puts in (what a detector must tell apart from a campaign's).
//!
//! Builds [`Mail`] values only; how they are logged is [`super::mail`]'s business.

use super::catalog::{
    self, COMMITTEES, CONSTITUENT_REPLIES, CONSTITUENT_SUBJECTS, CONSUMER_DOMAINS, Esp, FIRST_NAMES, HEADLINES,
    INTERNAL_SUBJECTS, JOURNALIST_SUBJECTS, LAST_NAMES, ORG_SENDERS, ORG_SUBJECTS, OUTLETS, Outlet, STREETS, TOPICS,
    WEEKDAYS,
};
use super::clock::{self, Ts};
use super::mail::{Mail, MidStyle, Origin, encode_header, mail_ip, message_id};
use super::people::{DeviceKind, Person, Population, Site};
use super::rng::{ALNUM_LOWER, BASE62, HEX_LOWER, Rng, hash64};
use super::sink::{Kind, Label};
use super::web::slug;

const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 (RFC 4648), standard or URL-safe alphabet, with or without padding.
pub fn base64(data: &[u8], urlsafe: bool, pad: bool) -> String {
    let alpha = if urlsafe { B64URL } else { B64 };
    let mut o = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                o.push(alpha[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else if pad {
                o.push('=');
            }
        }
    }
    o
}

/// Replaces the placeholders of a subject template.
pub fn fill(rng: &mut Rng, template: &str) -> String {
    let mut s = template.to_string();
    if s.contains("{t}") {
        s = s.replace("{t}", rng_pick(rng, TOPICS));
    }
    if s.contains("{c}") {
        s = s.replace("{c}", rng_pick(rng, COMMITTEES));
    }
    if s.contains("{d}") {
        s = s.replace("{d}", rng_pick(rng, WEEKDAYS));
    }
    if s.contains("{s}") {
        s = s.replace("{s}", rng_pick(rng, STREETS));
    }
    if s.contains("{n}") {
        s = s.replace("{n}", &rng.range(2, 240).to_string());
    }
    if s.contains("{h}") {
        let h = *rng.pick(HEADLINES);
        let mut h = h.to_string();
        h[..1].make_ascii_uppercase();
        s = s.replace("{h}", &h);
    }
    s
}

fn quoted_from(display: &str, addr: &str) -> String {
    format!("\"{display}\" <{addr}>")
}

/// How an insider's device submits mail.
pub fn insider_origin(rng: &mut Rng, p: &Person) -> Origin {
    let d = if p.devices.len() > 1 && rng.chance(0.3) {
        &p.devices[1 + rng.index(p.devices.len() - 1)]
    } else {
        &p.devices[0]
    };
    match p.site {
        Site::Senate => Origin::Senate {
            client_type: match d.kind {
                DeviceKind::Phone => "AirSync",
                _ if rng.chance(0.15) => "OWA",
                _ => "MOMT",
            },
        },
        _ => {
            let ip = d.ip_string();
            let [_, _, c, e] = d.ip;
            let (client_host, helo) = match d.kind {
                DeviceKind::Desktop => (
                    format!("ws-{c}-{e}.{}", catalog::PARL_DOMAIN),
                    format!("PARL-WS{c:02}{e:03}"),
                ),
                DeviceKind::Remote => (format!("vpn-{c}-{e}.{}", catalog::PARL_DOMAIN), format!("[{ip}]")),
                DeviceKind::Phone => ("unknown".to_string(), format!("[{ip}]")),
            };
            Origin::Parliament {
                client_host,
                ip,
                helo,
                user: p.username.clone().unwrap_or_default(),
            }
        }
    }
}

fn mailer_of(rng: &mut Rng, origin: &Origin) -> Option<String> {
    match origin {
        Origin::Parliament { client_host, .. } if client_host == "unknown" => Some("iPhone Mail (18C66)".into()),
        Origin::Parliament { .. } if rng.chance(0.8) => Some("Microsoft Outlook 16.0".into()),
        _ => None,
    }
}

/// Links ordinary mail carries now and then (meeting invitations, documents).
fn ordinary_links(rng: &mut Rng) -> Vec<String> {
    let mut v = Vec::new();
    match rng.below(10) {
        0 => {
            let mut id = String::new();
            rng.token(BASE62, 40, &mut id);
            v.push(format!(
                "<a href=\"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{id}%40thread.v2/0?context=%7b%22Tid%22%3a%22{}%22%7d\">Join Microsoft Teams Meeting</a>",
                super::mail::guid(rng)
            ));
        }
        1 => {
            let mut pwd = String::new();
            rng.token(BASE62, 32, &mut pwd);
            v.push(format!(
                "Join Zoom Meeting https://us02web.zoom.us/j/8{}?pwd={pwd}",
                rng.range(100_000_000, 999_999_999)
            ));
        }
        2 => v.push(format!(
            "https://www.gov.elmaria.example/government/publications/{}",
            slug(rng, 4)
        )),
        3 => v.push(format!(
            "<a href=\"https://www.bbc.co.uk/news/{}-{}\">https://www.bbc.co.uk/news/{0}-{1}</a>",
            slug(rng, 2),
            rng.range(55_000_000, 56_000_000)
        )),
        _ => {}
    }
    v
}

fn size(rng: &mut Rng, attach: f64) -> u64 {
    if rng.chance(attach) {
        rng.range(150_000, 4_000_000)
    } else {
        rng.range(3_000, 60_000)
    }
}

/// Mail among insiders (either house), e.g. meeting and briefing traffic.
pub fn internal(rng: &mut Rng, pop: &Population, from: usize, t: Ts) -> Mail {
    let p = &pop.people[from];
    let pool = if rng.chance(0.85) {
        if p.site == Site::Parliament {
            &pop.parliament
        } else {
            &pop.senate
        }
    } else if p.site == Site::Parliament {
        &pop.senate
    } else {
        &pop.parliament
    };
    let n = if rng.chance(0.7) { 1 } else { rng.range(2, 5) as usize };
    let mut rcpts: Vec<String> = Vec::new();
    for _ in 0..n * 3 {
        if rcpts.len() >= n {
            break;
        }
        let r = &pop.people[*rng.pick(pool)];
        if r.email != p.email && !rcpts.contains(&r.email) {
            rcpts.push(r.email.clone());
        }
    }
    if rcpts.is_empty() {
        rcpts.push(pop.people[pool[0]].email.clone());
    }
    let subject = fill_from(rng, INTERNAL_SUBJECTS);
    let origin = insider_origin(rng, p);
    let domain = p.email.rsplit_once('@').map_or("", |x| x.1).to_string();
    Mail {
        env_from: p.email.clone(),
        from_header: quoted_from(&p.display, &p.email),
        reply_to: None,
        subject_text: subject.clone(),
        subject: encode_header(&subject),
        message_id: message_id(rng, t, MidStyle::Outlook, &domain),
        x_mailer: mailer_of(rng, &origin),
        body_lines: ordinary_links(rng),
        size: size(rng, 0.15),
        rcpts,
        origin,
        label: None,
    }
}

fn fill_from(rng: &mut Rng, templates: &[&str]) -> String {
    let t = rng_pick(rng, templates);
    fill(rng, t)
}

fn rng_pick<'a>(rng: &mut Rng, items: &'a [&'a str]) -> &'a str {
    items[rng.index(items.len())]
}

/// A member of the public, with an address at a fictional consumer provider.
fn constituent(rng: &mut Rng) -> (String, String, (String, String, String)) {
    let first = rng_pick(rng, FIRST_NAMES);
    let last = rng_pick(rng, LAST_NAMES);
    let (domain, relay) = *rng.pick(CONSUMER_DOMAINS);
    let clean: String = last.chars().filter(|c| c.is_ascii_alphabetic()).collect();
    let local = match rng.below(3) {
        0 => format!("{}.{}", first.to_lowercase(), clean.to_lowercase()),
        1 => format!(
            "{}{}{}",
            &first[..1].to_lowercase(),
            clean.to_lowercase(),
            rng.range(1, 99)
        ),
        _ => format!("{}_{}{}", first.to_lowercase(), clean.to_lowercase(), rng.range(50, 99)),
    };
    let addr = format!("{local}@{domain}");
    let ip = if relay.ends_with("inbox-one.example") {
        "2001:db8:4:12::25".to_string()
    } else {
        mail_ip(relay)
    };
    (
        format!("{first} {last}"),
        addr,
        (relay.to_string(), ip, relay.to_string()),
    )
}

/// Mail from outside to an insider: constituents, journalists, organisations.
pub fn inbound(rng: &mut Rng, pop: &Population, to: usize, t: Ts) -> Mail {
    let r = &pop.people[to];
    let kind = rng.below(10);
    let (display, addr, subject, relay) = if kind < 5 {
        let (name, addr, relay) = constituent(rng);
        (name, addr, fill_from(rng, CONSTITUENT_SUBJECTS), relay)
    } else if kind < 7 && !pop.journalists.is_empty() {
        let j = &pop.people[*rng.pick(&pop.journalists)];
        let domain = j.email.rsplit_once('@').map_or("", |x| x.1);
        let relay = format!("mail.{domain}");
        let ip = mail_ip(&relay);
        (
            j.display.clone(),
            j.email.clone(),
            fill_from(rng, JOURNALIST_SUBJECTS),
            (relay.clone(), ip, relay),
        )
    } else {
        let (org, domain, team) = *rng.pick(ORG_SENDERS);
        let relay = format!("mail.{domain}");
        let ip = mail_ip(&relay);
        let local = team.to_lowercase().replace([' ', '\''], ".");
        (
            format!("{org} - {team}"),
            format!("{local}@{domain}"),
            fill_from(rng, ORG_SUBJECTS),
            (relay.clone(), ip, relay),
        )
    };
    let domain = addr.rsplit_once('@').map_or("", |x| x.1).to_string();
    let (host, ip, helo) = relay;
    Mail {
        env_from: addr.clone(),
        from_header: if rng.chance(0.8) {
            quoted_from(&display, &addr)
        } else {
            format!("{display} <{addr}>")
        },
        reply_to: None,
        subject_text: subject.clone(),
        subject: encode_header(&subject),
        message_id: message_id(
            rng,
            t,
            if kind < 5 {
                MidStyle::Webmail
            } else {
                MidStyle::Thunderbird
            },
            &domain,
        ),
        x_mailer: None,
        body_lines: ordinary_links(rng),
        size: size(rng, 0.1),
        rcpts: vec![r.email.clone()],
        origin: Origin::Internet { host, ip, helo },
        label: None,
    }
}

/// An insider writing out (replies to constituents, to journalists).
pub fn outbound(rng: &mut Rng, pop: &Population, from: usize, t: Ts) -> Mail {
    let p = &pop.people[from];
    let (to, subject) = if rng.chance(0.3) && !pop.journalists.is_empty() {
        let j = &pop.people[*rng.pick(&pop.journalists)];
        (j.email.clone(), format!("Re: {}", fill_from(rng, JOURNALIST_SUBJECTS)))
    } else {
        let (_, addr, _) = constituent(rng);
        (addr, fill_from(rng, CONSTITUENT_REPLIES))
    };
    let origin = insider_origin(rng, p);
    let domain = p.email.rsplit_once('@').map_or("", |x| x.1).to_string();
    Mail {
        env_from: p.email.clone(),
        from_header: quoted_from(&p.display, &p.email),
        reply_to: None,
        subject_text: subject.clone(),
        subject: encode_header(&subject),
        message_id: message_id(rng, t, MidStyle::Outlook, &domain),
        x_mailer: mailer_of(rng, &origin),
        body_lines: Vec::new(),
        size: size(rng, 0.05),
        rcpts: vec![to],
        origin,
        label: None,
    }
}

/// One edition of an outlet's newsletter: what every subscriber's copy shares.
pub struct Issue {
    pub outlet: usize,
    pub subject: String,
    pub campaign: String,
    /// (headline, article URL)
    pub articles: Vec<(String, String)>,
    pub images: Vec<String>,
    pub relays: Vec<String>,
    pub number: u64,
    /// `yyyymmddhhmmss` of the send, for Message-IDs.
    pub stamp: String,
}

pub fn issue(rng: &mut Rng, outlet: usize, t: Ts) -> Issue {
    let o = &OUTLETS[outlet];
    let subject = fill_from(rng, o.subjects);
    let mut campaign = String::new();
    rng.token(HEX_LOWER, 10, &mut campaign);
    let p = clock::parts(t, clock::LOCAL_OFFSET);
    let n_articles = rng.range(3, 6);
    let articles = (0..n_articles)
        .map(|_| {
            let h = fill(rng, "{h}");
            let s = slug(rng, 5);
            let url = format!(
                "https://{}/{}/2021/{:02}/{:02}/{s}",
                o.site_host,
                rng_pick(rng, &["world", "politics", "business", "uk-news", "europe"]),
                p.mo,
                p.d
            );
            (h, url)
        })
        .collect();
    let images = (0..rng.range(2, 4))
        .map(|_| {
            let mut h = String::new();
            rng.token(HEX_LOWER, 40, &mut h);
            match o.esp {
                Esp::Mailchimp => format!("https://{}/images/{h}.png", o.image_host),
                Esp::Sfmc if o.key == "economist" => format!(
                    "https://{}/lib/fe3d15707564047e7c1c/m/1/{}.jpg",
                    o.image_host,
                    super::mail::guid(rng)
                ),
                _ => format!("https://{}/img/media/{h}/master/1200.jpg", o.image_host),
            }
        })
        .collect();
    let relays = (0..2)
        .map(|i| match o.esp {
            Esp::Mailchimp => format!(
                "mail{}.atl{}.mcsv.net",
                100 + hash64(&[o.key.as_bytes(), &[i]]) % 150,
                11 + i
            ),
            Esp::SendGrid => {
                let mut s = String::new();
                let mut r = Rng::new(hash64(&[o.key.as_bytes(), &[i]]));
                r.token(b"abcdefghijklmnopqrstuvwxyz", 8, &mut s);
                format!("{s}.outbound-mail.sendgrid.net")
            }
            Esp::Sfmc => format!("mta{}.e.{}", 1 + i, o.site_host.trim_start_matches("www.")),
            Esp::Sailthru => format!("mx{}.ft.sailthru.com", 3 + i),
            Esp::Mailgun => format!("m228-{}.mailgun.net", 3 + i),
            Esp::Own => format!("mta-{}.e.nytimes.com", 10 + i),
        })
        .collect();
    Issue {
        outlet,
        subject,
        campaign,
        articles,
        images,
        relays,
        number: rng.range(1_000_000, 9_999_999),
        stamp: format!("{:04}{:02}{:02}{:02}{:02}{:02}", p.y, p.mo, p.d, p.h, p.mi, p.s),
    }
}

/// A tracked link: where it points, where it redirects, and its per-recipient part.
#[derive(Debug, Clone)]
pub struct Link {
    pub url: String,
    pub dest: String,
    pub token: String,
}

fn link(url: String, dest: &str, token: &str) -> Link {
    Link {
        url,
        dest: dest.to_string(),
        token: token.to_string(),
    }
}

/// A message that will be tracked when opened.
pub struct Tracked {
    pub mail: Mail,
    pub pixel: String,
    /// Where the pixel's URL redirects (a shortener's target) and that target's token.
    pub pixel_next: Option<(String, String)>,
    /// (tracked link, where it redirects)
    pub links: Vec<Link>,
    pub images: Vec<String>,
    pub token: String,
}

fn random(rng: &mut Rng, alphabet: &[u8], n: usize) -> String {
    let mut s = String::with_capacity(n);
    rng.token(alphabet, n, &mut s);
    s
}

/// One subscriber's copy of an issue, with the ESP's per-recipient tracking.
pub fn newsletter(rng: &mut Rng, is: &Issue, to: &str) -> Tracked {
    let o: &Outlet = &OUTLETS[is.outlet];
    let (local, rdomain) = to.rsplit_once('@').unwrap_or((to, ""));
    // Per-recipient ids are stable for a subscriber (the ESP's subscriber id).
    let sub = hash64(&[o.key.as_bytes(), to.as_bytes()]);
    let relay = is.relays[rng.index(is.relays.len())].clone();
    let th = o.track_host;
    let mut links = Vec::new();
    let (env_from, mid, x_mailer, pixel, token) = match o.esp {
        Esp::Mailchimp => {
            // `u` is the account, `id` the campaign, `e` the subscriber.
            let u = format!(
                "{:016x}{:09x}",
                hash64(&[o.key.as_bytes(), b"acct"]),
                hash64(&[o.key.as_bytes(), b"acct2"]) & 0xF_FFFF_FFFF
            );
            let e = format!("{:010x}", sub & 0xFF_FFFF_FFFF);
            for (_, dest) in &is.articles {
                let id = random(rng, HEX_LOWER, 10);
                links.push(link(format!("https://{th}/track/click?u={u}&id={id}&e={e}"), dest, &e));
            }
            (
                format!(
                    "bounce-mc.us4_{}.{}-{local}={rdomain}@{relay}",
                    40_000_000 + sub % 9_000_000,
                    is.number
                ),
                format!("{}.{}@{relay}", random(rng, HEX_LOWER, 20), is.number),
                Some(format!("MailChimp Mailer - **CID{}**", is.campaign)),
                format!("https://{th}/track/open.php?u={u}&id={}&e={e}", is.campaign),
                e,
            )
        }
        Esp::SendGrid => {
            for (_, dest) in &is.articles {
                let upn = random(rng, B64URL, 180);
                links.push(link(format!("https://{th}/ls/click?upn={upn}"), dest, &upn));
            }
            let upn = random(rng, B64URL, 150);
            (
                format!(
                    "bounces+1234567-{}-{local}={rdomain}@em8476.{}",
                    random(rng, HEX_LOWER, 4),
                    o.domain
                ),
                format!(
                    "{}@ismtpd0{}p1lon1.sendgrid.net",
                    random(rng, B64URL, 22),
                    rng.range(100, 199)
                ),
                None,
                format!("https://{th}/wf/open?upn={upn}"),
                upn,
            )
        }
        Esp::Sfmc => {
            for (_, dest) in &is.articles {
                let qs = random(rng, HEX_LOWER, 128);
                links.push(link(format!("https://{th}/?qs={qs}"), dest, &qs));
            }
            let open = format!(
                "ffcb10-fe{}-fe{}-fe{}-ff{}-fe{}-ff{}",
                random(rng, HEX_LOWER, 16),
                random(rng, HEX_LOWER, 20),
                random(rng, HEX_LOWER, 16),
                random(rng, HEX_LOWER, 10),
                random(rng, HEX_LOWER, 16),
                random(rng, HEX_LOWER, 6)
            );
            let bounce = if o.key == "economist" {
                "bounce.s7.exct.net".to_string()
            } else {
                format!("bounce.e.{}", o.site_host.trim_start_matches("www."))
            };
            (
                format!(
                    "bounce-{}_HTML-{}-{}-{}-{}@{bounce}",
                    rng.range(100_000, 999_999),
                    rng.range(100_000_000, 999_999_999),
                    rng.range(100_000, 999_999),
                    rng.range(1_000_000, 9_999_999),
                    rng.range(100, 999)
                ),
                format!(
                    "{}@atl1s07mta{}.xt.local",
                    super::mail::guid(rng),
                    rng.range(1000, 2999)
                ),
                None,
                format!("https://{th}/open.aspx?{open}"),
                open,
            )
        }
        Esp::Sailthru => {
            let rid = format!("{:024x}", u128::from(sub) << 32 | u128::from(sub as u32));
            for (_, dest) in &is.articles {
                let url = format!(
                    "https://{th}/click/{}.{}/{}/{rid}",
                    is.number,
                    rng.range(100_000, 999_999),
                    base64(dest.as_bytes(), true, false)
                );
                links.push(link(url, dest, &rid));
            }
            let tok = format!("{rid}{}", &is.campaign[..8]);
            (
                format!("bounce-{}-{}@bounce.{}", is.number, sub % 100_000_000, o.domain),
                format!(
                    "{}.{}.{}@sailthru.com",
                    timestamp_id(is),
                    random(rng, HEX_LOWER, 12),
                    rng.range(1000, 9999)
                ),
                None,
                format!("https://{th}/img/{tok}.gif"),
                tok,
            )
        }
        Esp::Mailgun => {
            for (_, dest) in &is.articles {
                let tok = random(rng, B64URL, 120);
                links.push(link(format!("https://{th}/c/{tok}"), dest, &tok));
            }
            let tok = random(rng, B64URL, 96);
            (
                format!(
                    "bounce+{}.{}-{local}={rdomain}@{}",
                    random(rng, HEX_LOWER, 6),
                    random(rng, HEX_LOWER, 8),
                    o.domain
                ),
                format!(
                    "{}.{}@{}",
                    rng.range(10_000_000_000, 99_999_999_999),
                    random(rng, HEX_LOWER, 16),
                    o.domain
                ),
                None,
                format!("https://{th}/o/{tok}"),
                tok,
            )
        }
        Esp::Own => {
            let a = random(rng, BASE62, 22);
            for (_, dest) in &is.articles {
                let tok = random(rng, BASE62, 48);
                let url = format!("https://{th}/f/newsletter/{a}~~/{}~~/{tok}", random(rng, BASE62, 40));
                links.push(link(url, dest, &tok));
            }
            let tok = random(rng, BASE62, 40);
            (
                format!("bounce-{}@bounce.email.nytimes.com", random(rng, HEX_LOWER, 16)),
                format!("{}.{}@nytimes.com", timestamp_id(is), random(rng, ALNUM_LOWER, 12)),
                None,
                format!("https://{th}/f/a/{a}~~/AAAAAQA~/RgRh{tok}"),
                tok,
            )
        }
    };
    let mut body = Vec::new();
    for (i, img) in is.images.iter().enumerate() {
        if i == 0 {
            body.push(format!(
                "<img src=\"{img}\" width=\"600\" alt=\"{}\" style=\"display:block\">",
                o.display
            ));
        }
    }
    for (l, (headline, _)) in links.iter().zip(&is.articles) {
        let link = &l.url;
        body.push(format!(
            "<a href=\"{link}\" target=\"_blank\" style=\"color:#121212\">{headline}</a>"
        ));
    }
    for img in is.images.iter().skip(1) {
        body.push(format!("<img src=\"{img}\" width=\"280\" alt=\"\">"));
    }
    body.push(format!(
        "<img src=\"{pixel}\" width=\"1\" height=\"1\" alt=\"\" border=\"0\">"
    ));
    if o.esp == Esp::Mailchimp {
        // The text/plain alternative repeats each link.
        for (l, (headline, _)) in links.iter().zip(&is.articles) {
            body.push(format!("** {headline} ({})", l.url));
        }
    }
    let mut label = Label::new(Kind::NewsletterMail, to);
    label.token = Some(token.clone());
    label.outlet = Some(o.key);
    label.class = Some("outlet_newsletter");
    let subject = is.subject.clone();
    Tracked {
        mail: Mail {
            env_from,
            from_header: quoted_from(o.display, &format!("{}@{}", o.from_local, o.domain)),
            reply_to: None,
            message_id: mid,
            x_mailer,
            body_lines: body,
            size: rng.range(30_000, 140_000),
            ..Mail::relayed(to, relay, subject, label)
        },
        pixel,
        pixel_next: None,
        links,
        images: is.images.clone(),
        token,
    }
}

fn timestamp_id(is: &Issue) -> String {
    is.stamp.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (i, o) in cases {
            assert_eq!(base64(i.as_bytes(), false, true), o);
        }
        assert_eq!(base64(&[0xfb, 0xff], true, false), "-_8");
        assert_eq!(base64(&[0xfb, 0xff], false, true), "+/8=");
    }

    #[test]
    fn q_encoding_only_for_non_ascii() {
        assert_eq!(encode_header("Plain subject"), "Plain subject");
        assert_eq!(encode_header("\u{2615} Hi"), "=?UTF-8?Q?=E2=98=95_Hi?=");
    }

    #[test]
    fn newsletter_carries_its_token_in_the_pixel() {
        let mut rng = Rng::new(5);
        for (i, outlet) in OUTLETS.iter().enumerate() {
            let is = issue(&mut rng, i, 1_610_600_000_000_000);
            let t = newsletter(&mut rng, &is, "ann.lee@parliament.elmaria.example");
            assert!(t.pixel.contains(&t.token), "{}", outlet.key);
            assert!(t.mail.body_lines.iter().any(|l| l.contains(&t.pixel)));
            assert!(!t.links.is_empty());
            assert!(t.links.iter().all(|l| l.url.contains(&l.token)));
            assert!(t.pixel.starts_with("https://"));
        }
    }
}
