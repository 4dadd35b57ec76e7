//! The 2021-style reconnaissance campaign: "journalists" of lookalike news domains mail the
//! parliamentarians (and some of their staff and relatives) through a mass-mail service; every
//! copy carries a per-recipient token in its tracking pixel and its link, so a single open tells
//! the sender who read it, when, from which address and device.
//!
//! Each wave changes domain, persona, token scheme and URL shape, as the real operators did, so
//! a detector cannot key on one literal. Never names a real domain as the operators': every
//! domain of theirs is under `.example`.

use super::catalog::{CAMPAIGN_TOPICS, HEADLINES};
use super::clock::{self, DAY, HOUR, MINUTE, Ts};
use super::mail::Mail;
use super::people::{Group, Population, Site};
use super::rng::{ALNUM_LOWER, BASE62, HEX_LOWER, Rng, hash64};
use super::sink::{Kind, Label};
use super::traffic::{Link, Tracked, base64};
use super::web::slug;

/// A lookalike of a real outlet: (lookalike domain, imitated domain, brand, real article host).
pub const LOOKALIKES: &[(&str, &str, &str, &str)] = &[
    (
        "theguardian-news.example",
        "theguardian.com",
        "The Guardian",
        "www.theguardian.com",
    ),
    ("reuters-world.example", "reuters.com", "Reuters", "www.reuters.com"),
    ("politlco.example", "politico.eu", "POLITICO", "www.politico.eu"),
    ("ft-newsroom.example", "ft.com", "Financial Times", "www.ft.com"),
    ("bbc-worldnews.example", "bbc.co.uk", "BBC News", "www.bbc.co.uk"),
    (
        "theeconomist.example",
        "economist.com",
        "The Economist",
        "www.economist.com",
    ),
    (
        "nytimes-intl.example",
        "nytimes.com",
        "The New York Times",
        "www.nytimes.com",
    ),
];

/// The variation class of these waves, in labels.
pub const CLASS: &str = "lookalike";

/// Fictional personas: (name, title).
pub const PERSONAS: &[(&str, &str)] = &[
    ("Mark Sheldon", "Political Correspondent"),
    ("Laura Kingsley", "Europe Editor"),
    ("Daniel Hart", "Senior Reporter"),
    ("Sophie Lang", "Diplomatic Correspondent"),
    ("Ethan Crowe", "Investigations Editor"),
];

/// Fictional mass-mail services: (relay domain, X-Mailer).
pub const MAILERS: &[(&str, &str)] = &[
    ("postblast.example", "PostBlast Mailer 4.2"),
    ("sendloop-mta.example", "SendLoop/2.9.1"),
];

/// Recipients of the first wave at least (when there are that many targets).
pub const FIRST_WAVE: usize = 24;

/// Separate "analytics" domains some waves track through.
pub const TRACKERS: &[&str] = &["newsmetrics-cdn.example", "pressclip-stats.example"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStyle {
    /// Random base62 of the given length.
    Random(usize),
    /// URL-safe base64 of the recipient address, unpadded.
    Base64Email,
    /// 32 hex digits derived from the address (like an MD5 of it).
    HexDigest,
    /// Random lowercase alphanumeric of the given length.
    Alnum(usize),
}

pub struct Wave {
    pub n: u32,
    pub at: Ts,
    pub domain: &'static str,
    pub brand: &'static str,
    pub real_host: &'static str,
    pub persona: (&'static str, &'static str),
    pub mailer: (&'static str, &'static str),
    pub relays: Vec<String>,
    pub track_host: String,
    pub pixel_shape: u32,
    pub link_shape: u32,
    pub style: TokenStyle,
    pub subject: String,
    pub slug: String,
    /// Insiders to mail (indexes into the population).
    pub recipients: Vec<usize>,
    /// Addresses of people who left: the gateway rejects them.
    pub stale: Vec<String>,
    /// Whether a click is answered with a redirect to the real outlet's article.
    pub redirect: bool,
    pub reply_to: Option<String>,
    salt: u64,
}

/// Who the operators are interested in: most members of both houses (the alliance's members),
/// many of their relatives on staff, some staff.
pub fn targets(rng: &mut Rng, pop: &Population) -> Vec<usize> {
    let mut chosen = vec![false; pop.people.len()];
    for &m in &pop.members {
        chosen[m] = rng.chance(0.7);
    }
    if let Some(&m) = pop.members.first() {
        chosen[m] = true;
    }
    for (i, p) in pop.people.iter().enumerate() {
        if let Some(boss) = p.works_for {
            let p_hit = if p.group == Group::Family { 0.7 } else { 0.25 };
            chosen[i] = chosen[boss] && rng.chance(p_hit);
        }
    }
    (0..pop.people.len()).filter(|&i| chosen[i]).collect()
}

/// Plans `count` waves over the world's days (`first_day` = local midnight of day 0).
pub fn plan(rng: &mut Rng, pop: &Population, first_day: Ts, days: u32, count: u32, size: usize) -> Vec<Wave> {
    let targets = targets(rng, pop);
    let mut waves = Vec::new();
    let offset = rng.index(LOOKALIKES.len());
    for n in 0..count {
        let mut day = (u64::from(n) * u64::from(days) / u64::from(count)) as i64;
        if n > 0 {
            day += rng.below(2) as i64;
        }
        // Operators work on weekdays.
        let mut date = first_day.div_euclid(DAY) + day;
        while clock::weekday(date + 1) >= 5 {
            date += 1;
        }
        let mut at = date * DAY + DAY - clock::LOCAL_OFFSET + HOUR * 8 + rng.range(30, 400) as i64 * MINUTE;
        if n == 0 {
            // The first wave lands early so that even a tiny world sees its opens.
            at = first_day + HOUR * 9 + rng.range(0, 90) as i64 * MINUTE;
        }
        let (domain, _, brand, real_host) = LOOKALIKES[(offset + n as usize) % LOOKALIKES.len()];
        let persona = PERSONAS[rng.index(PERSONAS.len())];
        let mailer = MAILERS[(n as usize / 3) % MAILERS.len()];
        let relays = (0..2)
            .map(|i| format!("smtp{}.{}", 3 + i * 4 + rng.below(3), mailer.0))
            .collect();
        let track_host = match rng.below(3) {
            0 => format!("img.{domain}"),
            1 => domain.to_string(),
            _ => TRACKERS[rng.index(TRACKERS.len())].to_string(),
        };
        let style = match (n + offset as u32) % 4 {
            0 => TokenStyle::Random(16 + 4 * rng.below(5) as usize),
            1 => TokenStyle::Base64Email,
            2 => TokenStyle::HexDigest,
            _ => TokenStyle::Alnum(16 + rng.below(17) as usize),
        };
        let headline = {
            let h = HEADLINES[rng.index(HEADLINES.len())];
            let mut h = h.to_string();
            h[..1].make_ascii_uppercase();
            h
        };
        let topic = CAMPAIGN_TOPICS[rng.index(CAMPAIGN_TOPICS.len())];
        let subject = match rng.below(4) {
            0 => format!("{brand}: {headline}"),
            1 => format!("Interview request: {topic}"),
            2 => format!("Request for comment - {topic}"),
            _ => format!("Breaking: {headline}"),
        };
        // The first wave is the story's: about two dozen people, even in a small world.
        let size = if n == 0 { size.max(FIRST_WAVE) } else { size };
        let q = (size as f64 / targets.len().max(1) as f64).min(1.0);
        let mut recipients: Vec<usize> = targets.iter().copied().filter(|_| rng.chance(q)).collect();
        if recipients.is_empty() {
            recipients.push(targets[rng.index(targets.len())]);
        }
        // At least one member of the parliament (Squid) and, when the world is big enough to
        // mail several people, one of the senate (ProxySG).
        for site in [Site::Parliament, Site::Senate] {
            if !recipients.iter().any(|&r| pop.people[r].site == site)
                && let Some(&m) = pop.members.iter().find(|&&m| pop.people[m].site == site)
                && (site == Site::Parliament || size > 3)
            {
                recipients.push(m);
            }
        }
        // Shuffle: lists are not sent in population order.
        for i in (1..recipients.len()).rev() {
            let j = rng.index(i + 1);
            recipients.swap(i, j);
        }
        let stale = (0..rng.range(1, 2))
            .map(|_| {
                let f = super::catalog::FIRST_NAMES[rng.index(super::catalog::FIRST_NAMES.len())].to_lowercase();
                let l = super::catalog::LAST_NAMES[rng.index(super::catalog::LAST_NAMES.len())]
                    .to_lowercase()
                    .replace('\'', "");
                format!("{f}.{l}.mp@{}", super::catalog::PARL_DOMAIN)
            })
            .filter(|a| !pop.people.iter().any(|p| &p.email == a))
            .collect();
        let reply_to = if rng.chance(0.5) {
            let (name, _) = persona;
            Some(format!(
                "\"{name}\" <{}.press@freemail.example>",
                name.to_lowercase().replace(' ', ".")
            ))
        } else {
            None
        };
        waves.push(Wave {
            n: n + 1,
            at,
            domain,
            brand,
            real_host,
            persona,
            mailer,
            relays,
            track_host,
            pixel_shape: rng.below(4) as u32,
            link_shape: rng.below(3) as u32,
            style,
            subject,
            slug: slug(rng, 5),
            recipients,
            stale,
            redirect: rng.chance(0.5),
            reply_to,
            salt: rng.next_u64(),
        });
    }
    waves
}

impl Wave {
    /// The per-recipient token.
    pub fn token(&self, rng: &mut Rng, email: &str) -> String {
        let mut s = String::new();
        match self.style {
            TokenStyle::Random(n) => rng.token(BASE62, n, &mut s),
            TokenStyle::Base64Email => s = base64(email.as_bytes(), true, false),
            TokenStyle::HexDigest => {
                let a = hash64(&[&self.salt.to_le_bytes(), email.as_bytes()]);
                let b = hash64(&[email.as_bytes(), &self.salt.to_le_bytes()]);
                s = format!("{a:016x}{b:016x}");
            }
            TokenStyle::Alnum(n) => rng.token(ALNUM_LOWER, n, &mut s),
        }
        s
    }

    pub fn sender(&self) -> String {
        let (name, _) = self.persona;
        format!("{}@{}", name.to_lowercase().replace(' ', "."), self.domain)
    }

    /// One recipient's copy.
    pub fn mail(&self, rng: &mut Rng, to: &str, t: Ts) -> Tracked {
        let token = self.token(rng, to);
        let th = &self.track_host;
        let code = format!("w{}", self.n);
        let pixel = match self.pixel_shape {
            0 => format!("http://{th}/t/{token}.gif"),
            1 => format!("http://{th}/images/spacer.gif?uid={token}"),
            2 => format!("https://{th}/p.gif?id={token}&c={code}"),
            _ => format!("http://{th}/open/{token}"),
        };
        let p = clock::parts(t, clock::LOCAL_OFFSET);
        let link = match self.link_shape {
            0 => format!(
                "https://{}/{:04}/{:02}/{:02}/{}?ref={token}",
                self.domain, p.y, p.mo, p.d, self.slug
            ),
            1 => format!("https://{}/r/{token}", self.domain),
            _ => format!(
                "https://{}/news/{}?utm_source=newsletter&utm_medium=email&uid={token}",
                self.domain, self.slug
            ),
        };
        let dest = if self.redirect {
            format!(
                "https://{}/world/2021/{:02}/{:02}/{}",
                self.real_host, p.mo, p.d, self.slug
            )
        } else {
            link.clone()
        };
        let logo = format!("https://{}/static/img/logo.png", self.domain);
        let (name, _) = self.persona;
        let sender = self.sender();
        let relay = self.relays[rng.index(self.relays.len())].clone();
        let mut mid = String::new();
        rng.token(HEX_LOWER, 20, &mut mid);
        let body = vec![
            format!("<img src=\"{logo}\" alt=\"{}\" width=\"180\">", self.brand),
            format!("<p><a href=\"{link}\">Read the full story</a></p>"),
            format!(
                "<a href=\"https://twitter.com/{}\">Follow {name} on Twitter</a>",
                name.replace(' ', "")
            ),
            format!("<img src=\"{pixel}\" width=\"1\" height=\"1\" border=\"0\" alt=\"\">"),
        ];
        let mut label = Label::new(Kind::CampaignMail, to);
        label.token = Some(token.clone());
        label.wave = Some(self.n);
        label.domain = Some(self.domain.to_string());
        label.class = Some(CLASS);
        let mut bounce = String::new();
        rng.token(HEX_LOWER, 12, &mut bounce);
        Tracked {
            mail: Mail {
                env_from: format!("bounce-{bounce}@mailer.{}", self.mailer.0),
                from_header: format!("\"{name} | {}\" <{sender}>", self.brand),
                reply_to: self.reply_to.clone(),
                message_id: format!("{mid}.{}@{}", rng.range(1000, 9999), self.mailer.0),
                x_mailer: Some(self.mailer.1.to_string()),
                body_lines: body,
                size: rng.range(14_000, 40_000),
                ..Mail::relayed(to, relay, self.subject.clone(), label)
            },
            pixel,
            pixel_next: None,
            links: vec![Link {
                url: link,
                dest,
                token: token.clone(),
            }],
            images: vec![logo],
            token,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_styles() {
        let mut rng = Rng::new(3);
        let mut w = Wave {
            n: 1,
            at: 0,
            domain: "x.example",
            brand: "X",
            real_host: "www.x.com",
            persona: PERSONAS[0],
            mailer: MAILERS[0],
            relays: vec!["smtp3.postblast.example".into()],
            track_host: "img.x.example".into(),
            pixel_shape: 0,
            link_shape: 0,
            style: TokenStyle::Base64Email,
            subject: "s".into(),
            slug: "a-b".into(),
            recipients: vec![],
            stale: vec![],
            redirect: false,
            reply_to: None,
            salt: 9,
        };
        assert_eq!(w.token(&mut rng, "ann@p.example"), "YW5uQHAuZXhhbXBsZQ");
        w.style = TokenStyle::HexDigest;
        let a = w.token(&mut rng, "ann@p.example");
        assert_eq!(a.len(), 32);
        assert_eq!(a, w.token(&mut rng, "ann@p.example"), "derived, so stable");
        w.style = TokenStyle::Random(24);
        assert_eq!(w.token(&mut rng, "ann@p.example").len(), 24);
        let m = w.mail(&mut rng, "ann@p.example", 1_610_600_000_000_000);
        assert!(m.pixel.contains(&m.token) && m.links[0].url.contains(&m.token));
        assert!(
            m.mail.body_lines.iter().all(|l| l.len() <= 200),
            "campaign URLs survive cleanup's truncation"
        );
    }
}
