//! Benign mail that tracks its readers per recipient, as a campaign does: self-hosted listmonk
//! newsletters of councils, think tanks, NGOs and trade bodies; Sendy on Amazon SES; personal
//! mail with a Mailtrack pixel from constituents and lobbyists on free mail; and SaaS account
//! mail (password resets, sign-in codes, invoices) through an ESP. Each is labelled
//! `newsletter_*` with its class, so a detector's alerts on them count as false positives.
//!
//! Builds [`Tracked`] messages and the lists they go to; the world sends and opens them. Every
//! organisation is fictional and under `.example`; real names appear only as the services used
//! (amazonses.com, sendgrid.net, mailgun.net, mailtrack.io, gmail.com, outlook.com).

use super::catalog::{CONSTITUENT_SUBJECTS, FIRST_NAMES, LAST_NAMES, ORG_SUBJECTS};
use super::clock::{self, Ts};
use super::mail::{Mail, guid};
use super::people::{Population, Site};
use super::rng::{BASE62, HEX_LOWER, Rng, hash64};
use super::sink::{Kind, Label};
use super::traffic::{Link, Tracked, fill};
use super::web::{percent_encode, slug};

const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// listmonk on the organisation's own server: `lists.<org>/campaign/<uuid>/<uuid>/px.png`.
    Listmonk,
    /// Sendy sending through Amazon SES: `sendy.<org>/t/<id>/<id>`.
    SendySes,
}

impl Platform {
    pub fn class(self) -> &'static str {
        match self {
            Platform::Listmonk => "listmonk",
            Platform::SendySes => "sendy_ses",
        }
    }
}

/// An organisation's mailing list.
pub struct Org {
    pub key: &'static str,
    pub name: &'static str,
    pub domain: &'static str,
    pub from_local: &'static str,
    pub platform: Platform,
    /// `{t}` a topic, `{n}` a number.
    pub subjects: &'static [&'static str],
}

pub const ORGS: &[Org] = &[
    Org {
        key: "harbourdistrict",
        name: "Harbour District Council",
        domain: "harbourdistrict.example",
        from_local: "news",
        platform: Platform::Listmonk,
        subjects: &[
            "Constituency News from Harbour District Council",
            "Harbour District Council weekly: roadworks, consultations and events",
            "Your council this week: {t}",
        ],
    },
    Org {
        key: "haldeninstitute",
        name: "Halden Institute for Policy Studies",
        domain: "halden-institute.example",
        from_local: "briefings",
        platform: Platform::Listmonk,
        subjects: &[
            "Policy Weekly: {t}",
            "New briefing paper: {t}",
            "Halden Institute news: events and publications",
        ],
    },
    Org {
        key: "odwatch",
        name: "Open Democracy Watch",
        domain: "odwatch.example",
        from_local: "newsletter",
        platform: Platform::Listmonk,
        subjects: &[
            "Democracy Watch weekly",
            "Our latest research on {t}",
            "Lobbying register update no. {n}",
        ],
    },
    Org {
        key: "efsb",
        name: "Elmarian Federation of Small Businesses",
        domain: "efsb.example",
        from_local: "members",
        platform: Platform::Listmonk,
        subjects: &[
            "Small Business Bulletin: {t}",
            "Members' news this week",
            "Policy update: {t}",
        ],
    },
    Org {
        key: "northernrivers",
        name: "Northern Rivers Trust",
        domain: "northernrivers.example",
        from_local: "hello",
        platform: Platform::SendySes,
        subjects: &[
            "River news: flood defences and volunteering",
            "Northern Rivers Trust newsletter no. {n}",
            "Our response on {t}",
        ],
    },
    Org {
        key: "elmariacycling",
        name: "Elmaria Cycling Campaign",
        domain: "elmariacycling.example",
        from_local: "news",
        platform: Platform::SendySes,
        subjects: &[
            "Cycling news this week",
            "Ask your MP: {t}",
            "Ride to Parliament: join us",
        ],
    },
    Org {
        key: "haldencivic",
        name: "Halden Civic Society",
        domain: "haldencivic.example",
        from_local: "secretary",
        platform: Platform::SendySes,
        subjects: &[
            "Civic Society news and walks",
            "Planning watch: {t}",
            "Heritage open days: volunteers wanted",
        ],
    },
];

/// One organisation's list in this world.
pub struct List {
    pub org: usize,
    pub subscribers: Vec<usize>,
    /// Local weekday (0 = Monday) and hour of the weekly send.
    pub weekday: u32,
    pub hour: u32,
    /// Sendy's list id / listmonk's list number.
    id: u64,
}

/// Subscribers to each organisation's list: a share of the insiders.
pub fn plan_lists(rng: &mut Rng, pop: &Population) -> Vec<List> {
    let insiders: Vec<usize> = (0..pop.people.len())
        .filter(|&i| pop.people[i].site != Site::External)
        .collect();
    let n = ((insiders.len() as f64 * 0.05) as usize).clamp(3, 80);
    ORGS.iter()
        .enumerate()
        .map(|(org, _)| {
            let mut v = insiders.clone();
            for i in (1..v.len()).rev() {
                let j = rng.index(i + 1);
                v.swap(i, j);
            }
            v.truncate(n);
            v.sort_unstable();
            List {
                org,
                subscribers: v,
                weekday: rng.below(5) as u32,
                hour: 8 + rng.below(8) as u32,
                id: rng.range(2, 40),
            }
        })
        .collect()
}

/// One send of a list: what every copy shares.
pub struct Bulletin {
    pub org: usize,
    subject: String,
    campaign: String,
    /// (title, destination) of the articles.
    articles: Vec<(String, String)>,
    list_id: u64,
    stamp: String,
}

pub fn bulletin(rng: &mut Rng, list: &List, t: Ts) -> Bulletin {
    let o = &ORGS[list.org];
    let template = o.subjects[rng.index(o.subjects.len())];
    let subject = fill(rng, template);
    let p = clock::parts(t, clock::LOCAL_OFFSET);
    let articles = (0..rng.range(2, 4))
        .map(|_| {
            let title = fill(rng, "{t}");
            let mut t = title.clone();
            t[..1].make_ascii_uppercase();
            (t, format!("https://www.{}/news/{}", o.domain, slug(rng, 4)))
        })
        .collect();
    let campaign = match o.platform {
        Platform::Listmonk => guid(rng),
        Platform::SendySes => random(rng, BASE62, 22),
    };
    Bulletin {
        org: list.org,
        subject,
        campaign,
        articles,
        list_id: list.id,
        stamp: format!("{:04}{:02}{:02}{:02}{:02}{:02}", p.y, p.mo, p.d, p.h, p.mi, p.s),
    }
}

fn random(rng: &mut Rng, alphabet: &[u8], n: usize) -> String {
    let mut s = String::new();
    rng.token(alphabet, n, &mut s);
    s
}

/// A UUID derived from stable parts (a subscriber's id on a list).
fn derived_uuid(parts: &[&[u8]]) -> String {
    let a = hash64(parts);
    let b = hash64(&[&a.to_le_bytes(), b"uuid"]);
    let h = format!("{a:016x}{b:016x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

fn ses_id(rng: &mut Rng) -> String {
    format!("0102{}-{}-000000", random(rng, HEX_LOWER, 12), guid(rng))
}

fn ses_relay(rng: &mut Rng) -> String {
    format!(
        "a{}-{}.smtp-out.eu-west-1.amazonses.com",
        rng.range(1, 99),
        rng.range(1, 250)
    )
}

/// Body lines of a tracked bulletin: masthead, articles, pixel.
fn body(masthead: &str, alt: &str, links: &[Link], titles: &[String], pixel: &str) -> Vec<String> {
    let mut b = vec![format!("<img src=\"{masthead}\" width=\"600\" alt=\"{alt}\">")];
    for (l, t) in links.iter().zip(titles) {
        b.push(format!("<a href=\"{}\" style=\"color:#0b4f8a\">{t}</a>", l.url));
    }
    b.push(format!("<img src=\"{pixel}\" width=\"1\" height=\"1\" alt=\"\">"));
    b
}

/// One subscriber's copy of a bulletin.
pub fn bulletin_copy(rng: &mut Rng, b: &Bulletin, to: &str) -> Tracked {
    let o = &ORGS[b.org];
    let class = o.platform.class();
    let titles: Vec<String> = b.articles.iter().map(|(t, _)| t.clone()).collect();
    let (env_from, mid, relay, x_mailer, pixel, token, links, masthead) = match o.platform {
        Platform::Listmonk => {
            let lh = format!("lists.{}", o.domain);
            let sub = derived_uuid(&[o.key.as_bytes(), to.as_bytes()]);
            let links = b
                .articles
                .iter()
                .map(|(_, dest)| {
                    let lid = derived_uuid(&[b.campaign.as_bytes(), dest.as_bytes()]);
                    Link {
                        url: format!("https://{lh}/link/{lid}/{}/{sub}", b.campaign),
                        dest: dest.clone(),
                        token: sub.clone(),
                    }
                })
                .collect::<Vec<Link>>();
            (
                format!("bounces@{lh}"),
                format!("{}.{}@{lh}", b.stamp, random(rng, HEX_LOWER, 12)),
                format!("mail.{}", o.domain),
                Some("listmonk".to_string()),
                format!("https://{lh}/campaign/{}/{sub}/px.png", b.campaign),
                sub,
                links,
                format!("https://{lh}/uploads/masthead.png"),
            )
        }
        Platform::SendySes => {
            let sh = format!("sendy.{}", o.domain);
            // Sendy's ids are short encrypted strings, stable per subscriber.
            let mut r = Rng::new(hash64(&[o.key.as_bytes(), to.as_bytes()]));
            let sub = random(&mut r, BASE62, 22);
            let links = b
                .articles
                .iter()
                .enumerate()
                .map(|(i, (_, dest))| Link {
                    url: format!(
                        "https://{sh}/l/{sub}/{}/{}",
                        random(rng, BASE62, 22 + i % 2),
                        b.campaign
                    ),
                    dest: dest.clone(),
                    token: sub.clone(),
                })
                .collect::<Vec<Link>>();
            let id = ses_id(rng);
            (
                format!("{id}@eu-west-1.amazonses.com"),
                format!("{id}@eu-west-1.amazonses.com"),
                ses_relay(rng),
                None,
                format!("https://{sh}/t/{}/{sub}", b.campaign),
                sub,
                links,
                format!("https://{sh}/uploads/{}/header.jpg", b.list_id),
            )
        }
    };
    let mut label = Label::new(Kind::NewsletterMail, to);
    label.token = Some(token.clone());
    label.outlet = Some(o.key);
    label.class = Some(class);
    Tracked {
        mail: Mail {
            env_from,
            from_header: format!("\"{}\" <{}@{}>", o.name, o.from_local, o.domain),
            reply_to: None,
            message_id: mid,
            x_mailer,
            body_lines: body(&masthead, o.name, &links, &titles, &pixel),
            size: rng.range(15_000, 60_000),
            ..Mail::relayed(to, relay, b.subject.clone(), label)
        },
        pixel,
        pixel_next: None,
        links,
        images: vec![masthead],
        token,
    }
}

/// A personal message from a constituent or lobbyist on free mail who uses Mailtrack.
pub fn mailtrack(rng: &mut Rng, to: &str, t: Ts) -> Tracked {
    let first = FIRST_NAMES[rng.index(FIRST_NAMES.len())];
    let last = LAST_NAMES[rng.index(LAST_NAMES.len())];
    let clean: String = last.chars().filter(|c| c.is_ascii_alphabetic()).collect();
    let lobbyist = rng.chance(0.4);
    let (domain, relay, mid) = if rng.chance(0.6) {
        (
            "gmail.com",
            format!(
                "mail-{}-f{}.google.com",
                ["wr1", "wm1", "ej1", "lj1"][rng.index(4)],
                rng.range(41, 99)
            ),
            format!("CA+{}@mail.gmail.com", random(rng, B64URL, 44)),
        )
    } else {
        let p = format!("AM{}PR0{}MB{}", rng.range(5, 9), rng.range(1, 8), rng.range(1000, 9999));
        (
            "outlook.com",
            format!(
                "mail-{}.outbound.protection.outlook.com",
                ["am6eur05", "db8eur06", "he1eur04"][rng.index(3)]
            ),
            format!(
                "{p}{}@{p}.eurprd0{}.prod.outlook.com",
                random(rng, HEX_LOWER, 10).to_uppercase(),
                rng.range(1, 8)
            ),
        )
    };
    let addr = format!(
        "{}.{}{}@{domain}",
        first.to_lowercase(),
        clean.to_lowercase(),
        rng.range(1, 99)
    );
    let template = if lobbyist {
        ORG_SUBJECTS[rng.index(ORG_SUBJECTS.len())]
    } else {
        CONSTITUENT_SUBJECTS[rng.index(CONSTITUENT_SUBJECTS.len())]
    };
    let subject = fill(rng, template);
    let uid = 1_000_000 + hash64(&[addr.as_bytes()]) % 8_999_999;
    let token = random(rng, HEX_LOWER, 40);
    let pixel = format!("https://mailtrack.io/trace/mail/{token}.png?u={uid}");
    let mut links = Vec::new();
    let mut body_lines = Vec::new();
    if lobbyist && rng.chance(0.6) {
        let dest = format!("https://www.{}.example/briefing/{}", slug(rng, 1), slug(rng, 3));
        let ltok = random(rng, HEX_LOWER, 40);
        let url = format!(
            "https://mailtrack.io/trace/link/{ltok}?url={}&userId={uid}&signature={}",
            percent_encode(&dest),
            random(rng, HEX_LOWER, 16)
        );
        body_lines.push(format!("<a href=\"{url}\">Our briefing</a>"));
        links.push(Link { url, dest, token: ltok });
    }
    body_lines.push(format!(
        "<img width=\"0\" height=\"0\" alt=\"\" style=\"display:flex\" src=\"{pixel}\">"
    ));
    let mut label = Label::new(Kind::NewsletterMail, to);
    label.token = Some(token.clone());
    label.outlet = Some("mailtrack");
    label.class = Some("mailtrack");
    let _ = t;
    Tracked {
        mail: Mail {
            env_from: addr.clone(),
            from_header: format!("\"{first} {last}\" <{addr}>"),
            reply_to: None,
            message_id: mid,
            x_mailer: None,
            body_lines,
            size: rng.range(6_000, 40_000),
            ..Mail::relayed(to, relay, subject, label)
        },
        pixel,
        pixel_next: None,
        links,
        images: Vec::new(),
        token,
    }
}

/// SaaS services the houses' people have accounts with: (key, name, domain, ESP).
const SAAS: &[(&str, &str, &str, Esp)] = &[
    ("signflow", "SignFlow", "signflow.example", Esp::SendGrid),
    ("meetboard", "MeetBoard", "meetboard.example", Esp::Ses),
    ("paydesk", "PayDesk", "paydesk.example", Esp::Mailgun),
    ("cloudvault", "CloudVault", "cloudvault.example", Esp::SendGrid),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Esp {
    SendGrid,
    Ses,
    Mailgun,
}

const SAAS_SUBJECTS: &[&str] = &[
    "Reset your {s} password",
    "Your {s} sign-in code is {code}",
    "Your {s} invoice INV-2021-{n}",
    "New sign-in to your {s} account",
    "{s}: please confirm your email address",
    "Your {s} receipt",
];

/// Account mail from a SaaS service: per-user open pixel and link tokens.
pub fn saas(rng: &mut Rng, to: &str, t: Ts) -> Tracked {
    let (key, name, domain, esp) = SAAS[rng.index(SAAS.len())];
    let (local, rdomain) = to.rsplit_once('@').unwrap_or((to, ""));
    let subject = SAAS_SUBJECTS[rng.index(SAAS_SUBJECTS.len())]
        .replace("{s}", name)
        .replace("{code}", &format!("{:06}", rng.below(1_000_000)))
        .replace("{n}", &format!("{:05}", rng.range(100, 99_999)));
    let dest = format!("https://app.{domain}/account/{}", slug(rng, 1));
    let acct = 1_000_000 + hash64(&[key.as_bytes()]) % 30_000_000;
    let (env_from, mid, relay, pixel, token, link, ltok) = match esp {
        Esp::SendGrid => {
            let upn = random(rng, B64URL, 140);
            let lupn = random(rng, B64URL, 160);
            (
                format!(
                    "bounces+{acct}-{}-{local}={rdomain}@em{}.{domain}",
                    random(rng, HEX_LOWER, 4),
                    1000 + acct % 9000
                ),
                format!(
                    "{}@ismtpd0{}p1lon1.sendgrid.net",
                    random(rng, B64URL, 22),
                    rng.range(100, 199)
                ),
                format!("o{}.ptr{}.sendgrid.net", rng.range(1, 9), 1000 + acct % 9000),
                format!("https://u{acct}.ct.sendgrid.net/wf/open?upn={upn}"),
                upn,
                format!("https://u{acct}.ct.sendgrid.net/ls/click?upn={lupn}"),
                lupn,
            )
        }
        Esp::Ses => {
            let id = ses_id(rng);
            let sig = random(rng, B64URL, 43);
            let lsig = random(rng, B64URL, 43);
            (
                format!("{id}@eu-west-1.amazonses.com"),
                format!("{id}@eu-west-1.amazonses.com"),
                ses_relay(rng),
                format!("https://{key}.r.eu-west-1.awstrack.me/I0/{id}/{sig}"),
                id.clone(),
                format!(
                    "https://{key}.r.eu-west-1.awstrack.me/L0/{}/1/{id}/{lsig}",
                    percent_encode(&dest)
                ),
                id,
            )
        }
        Esp::Mailgun => {
            let tok = random(rng, B64URL, 96);
            let ltok = random(rng, B64URL, 110);
            (
                format!(
                    "bounce+{}.{}-{local}={rdomain}@mg.{domain}",
                    random(rng, HEX_LOWER, 6),
                    random(rng, HEX_LOWER, 8)
                ),
                format!("{}.{}@mg.{domain}", t / 1000, random(rng, HEX_LOWER, 16)),
                format!("m228-{}.mailgun.net", rng.range(3, 9)),
                format!("https://email.mg.{domain}/o/{tok}"),
                tok,
                format!("https://email.mg.{domain}/c/{ltok}"),
                ltok,
            )
        }
    };
    let body_lines = vec![
        format!("<img src=\"https://app.{domain}/static/logo.png\" width=\"120\" alt=\"{name}\">"),
        format!("<a href=\"{link}\">Open your account</a>"),
        format!("<img src=\"{pixel}\" width=\"1\" height=\"1\" alt=\"\">"),
    ];
    let mut label = Label::new(Kind::NewsletterMail, to);
    label.token = Some(token.clone());
    label.outlet = Some(key);
    label.class = Some("saas_reset");
    Tracked {
        mail: Mail {
            env_from,
            from_header: format!("\"{name}\" <no-reply@{domain}>"),
            reply_to: None,
            message_id: mid,
            x_mailer: None,
            body_lines,
            size: rng.range(8_000, 30_000),
            ..Mail::relayed(to, relay, subject, label)
        },
        pixel,
        pixel_next: None,
        links: vec![Link {
            url: link,
            dest,
            token: ltok,
        }],
        images: vec![format!("https://app.{domain}/static/logo.png")],
        token,
    }
}
