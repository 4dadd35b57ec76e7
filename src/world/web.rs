//! Web traffic through the two proxies: browsing sessions, background machine traffic, and the
//! fetches a mail client makes when a message is opened or a link clicked. One request model,
//! two renderings: Squid's native access.log (parliament) and ProxySG's W3C log (senate).
//!
//! Proxy configuration the lines assume: both proxies authenticate users (Squid logs `%un`,
//! ProxySG `cs-username`); both inspect TLS (Squid `ssl_bump`, ProxySG SSL interception) except
//! for a no-inspection list (banking, health, Microsoft 365, messaging), which appears only as
//! `CONNECT host:443` tunnels; Squid runs with `strip_query_terms off`, so query strings are
//! logged. Both proxies log a transaction when it completes. The constituency offices' machines
//! go through a third proxy, a branch-office Squid without TLS inspection and with
//! `strip_query_terms on` ([`Proxy::Branch`]): HTTPS there is one `CONNECT host:443` line per
//! tunnel, plain-HTTP URLs lose their query.
//!
//! Never writes a line earlier than the request's start (the sink's watermark relies on it).

use std::io::Write;
use std::rc::Rc;

use super::catalog::{self, PageKind, SITES, Scheme, WORDS, WebSite};
use super::clock::{self, SECOND, Ts};
use super::people::{Device, Person, Site};
use super::rng::{ALNUM_LOWER, BASE62, HEX_LOWER, Rng, hash64};
use super::sink::{Kind, Label, Outputs, Stream};

pub const PROXYSG_IP: &str = "10.40.0.8";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Miss,
    Hit,
    MemHit,
    RefreshUnmodified,
    Denied,
    Tunnel,
    /// The CONNECT of an inspected (bumped) TLS connection.
    Bumped,
}

/// Which proxy logs a client's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proxy {
    /// The parliament's Squid (TLS inspection, full query strings).
    Squid,
    /// The parliament's branch-office Squid for constituency-office machines on the VPN: no TLS
    /// inspection (HTTPS is only `CONNECT host:443`) and `strip_query_terms on` (Squid cuts
    /// logged URLs at `?`).
    Branch,
    /// The senate's Blue Coat ProxySG.
    BlueCoat,
    /// Nobody's log (people outside both houses).
    None,
}

/// One proxied request.
#[derive(Clone, Copy)]
pub struct Req<'a> {
    /// Completion time.
    pub ts: Ts,
    pub elapsed_ms: u64,
    pub client: [u8; 4],
    pub user: &'a str,
    pub method: &'static str,
    /// `http`, `https`, or `tcp` for an uninspected CONNECT.
    pub scheme: &'static str,
    pub host: &'a str,
    pub port: u16,
    pub path: &'a str,
    /// Empty or starting with `?`.
    pub query: &'a str,
    pub status: u16,
    pub result: Outcome,
    pub bytes: u64,
    pub cs_bytes: u64,
    pub mime: &'a str,
    pub referer: &'a str,
    pub ua: &'a str,
    pub category: &'a str,
}

/// A stable public address for a web host: 198.51.100.0/24 and 192.0.2.32-254 (documentation
/// ranges), with a few hosts answering over IPv6 (2001:db8::/32).
pub fn server_ip(host: &str) -> String {
    let h = hash64(&[host.as_bytes(), b"web"]);
    match h % 16 {
        0 => format!("2001:db8:{:x}::{:x}", 0x100 + (h >> 8) % 0x100, 1 + (h >> 20) % 0xfff),
        1..=9 => format!("198.51.100.{}", 1 + (h >> 8) % 254),
        _ => format!("192.0.2.{}", 32 + (h >> 8) % 222),
    }
}

fn ip4(out: &mut Vec<u8>, ip: [u8; 4]) {
    let _ = write!(out, "{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3]);
}

/// Squid native: `%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt`.
pub fn squid_line(r: &Req<'_>) -> Vec<u8> {
    let mut b = Vec::with_capacity(160 + r.path.len() + r.query.len());
    clock::squid_epoch(&mut b, r.ts);
    let _ = write!(b, " {:>6} ", r.elapsed_ms);
    ip4(&mut b, r.client);
    let code = match r.result {
        Outcome::Miss => "TCP_MISS",
        Outcome::Hit => "TCP_HIT",
        Outcome::MemHit => "TCP_MEM_HIT",
        Outcome::RefreshUnmodified => "TCP_REFRESH_UNMODIFIED",
        Outcome::Denied => "TCP_DENIED",
        Outcome::Tunnel => "TCP_TUNNEL",
        Outcome::Bumped => "NONE",
    };
    let _ = write!(b, " {code}/{:03} {} {} ", r.status, r.bytes, r.method);
    if r.method == "CONNECT" {
        let _ = write!(b, "{}:{}", r.host, r.port);
    } else {
        let _ = write!(b, "{}://{}{}{}", r.scheme, r.host, r.path, r.query);
    }
    let _ = write!(b, " {} ", r.user);
    match r.result {
        Outcome::Miss | Outcome::Tunnel | Outcome::RefreshUnmodified => {
            let _ = write!(b, "HIER_DIRECT/{}", server_ip(r.host));
        }
        _ => b.extend_from_slice(b"HIER_NONE/-"),
    }
    let _ = write!(b, " {}", r.mime);
    b
}

/// ProxySG W3C: the `#Fields` of [`super::sink::PROXYSG_FIELDS`].
pub fn proxysg_line(r: &Req<'_>) -> Vec<u8> {
    let mut b = Vec::with_capacity(360 + r.path.len() + r.query.len());
    // Logged when the transaction completes, like Squid.
    clock::w3c_date_time(&mut b, r.ts);
    let _ = write!(b, " {} ", r.elapsed_ms);
    ip4(&mut b, r.client);
    let (exception, filter) = match r.result {
        Outcome::Denied if r.status == 407 => ("authentication_failed", "DENIED"),
        Outcome::Denied => ("policy_denied", "DENIED"),
        _ => ("-", "OBSERVED"),
    };
    let action = match r.result {
        Outcome::Miss if r.scheme == "https" || r.query.len() > 1 => "TCP_NC_MISS",
        Outcome::Miss => "TCP_MISS",
        Outcome::Hit | Outcome::MemHit => "TCP_HIT",
        Outcome::RefreshUnmodified => "TCP_REFRESH_MISS",
        Outcome::Denied => "TCP_DENIED",
        Outcome::Tunnel | Outcome::Bumped => "TCP_TUNNELED",
    };
    let mime = if r.mime == "-" {
        "-".to_string()
    } else if r.mime.starts_with("text/") {
        format!("{};%20charset=UTF-8", r.mime)
    } else {
        r.mime.to_string()
    };
    let (path, query, ext) = if r.method == "CONNECT" {
        ("/", "-", "-")
    } else {
        let q = if r.query.is_empty() { "-" } else { r.query };
        let last = r.path.rsplit('/').next().unwrap_or("");
        let ext = match last.rsplit_once('.') {
            Some((_, e)) if !e.is_empty() && e.len() <= 5 && e.bytes().all(|c| c.is_ascii_alphanumeric()) => e,
            _ => "-",
        };
        (r.path, q, ext)
    };
    let ua = if r.ua.is_empty() { "-" } else { r.ua };
    let _ = write!(
        b,
        " {} - {exception} {filter} \"{}\" {} {} {action} {} {mime} {} {} {} {path} {query} {ext} \"{ua}\" {PROXYSG_IP} {} {} -",
        r.user,
        r.category,
        if r.referer.is_empty() { "-" } else { r.referer },
        r.status,
        r.method,
        r.scheme,
        r.host,
        r.port,
        r.bytes,
        r.cs_bytes,
    );
    b
}

/// Sends a request to the log of `proxy`.
pub fn log(out: &mut Outputs, proxy: Proxy, r: &Req<'_>, label: Option<&Rc<Label>>) {
    match proxy {
        Proxy::Squid => out.push(Stream::Squid, r.ts, squid_line(r), label.cloned()),
        Proxy::Branch => {
            // strip_query_terms on: the query never reaches the log.
            let r = Req { query: "", ..*r };
            out.push(Stream::SquidBranch, r.ts, squid_line(&r), label.cloned())
        }
        Proxy::BlueCoat => out.push(Stream::ProxySg, r.ts, proxysg_line(r), label.cloned()),
        Proxy::None => {}
    }
}

/// The label of a line that shows an open, click or beacon only in part (see [`Label::via`]).
fn via(label: Option<&Rc<Label>>, how: &'static str) -> Option<Rc<Label>> {
    let l = label?;
    let mut c = (**l).clone();
    c.via = Some(how);
    Some(Rc::new(c))
}

/// Who is browsing, from where.
pub struct Client<'a> {
    pub proxy: Proxy,
    pub ip: [u8; 4],
    pub user: &'a str,
    /// The person's address (labels of their beacons name it).
    pub email: &'a str,
    pub ua: &'a str,
    pub device: &'a Device,
}

impl<'a> Client<'a> {
    pub fn new(p: &'a Person, d: &'a Device, mail_app: bool) -> Client<'a> {
        let proxy = match (p.site, d.kind) {
            (Site::Parliament, super::people::DeviceKind::Remote) => Proxy::Branch,
            (Site::Parliament, _) => Proxy::Squid,
            (Site::Senate, _) => Proxy::BlueCoat,
            (Site::External, _) => Proxy::None,
        };
        Client {
            proxy,
            ip: d.ip,
            user: p.username.as_deref().unwrap_or("-"),
            email: &p.email,
            ua: if mail_app { d.mail_ua } else { d.browser_ua },
            device: d,
        }
    }
}

impl Client<'_> {
    /// A request from this client with the common defaults: a plain-http GET answered 200 with
    /// nothing transferred; callers override the rest.
    fn req<'r>(&'r self, ts: Ts, elapsed_ms: u64, host: &'r str, category: &'r str) -> Req<'r> {
        Req {
            ts,
            elapsed_ms,
            client: self.ip,
            user: self.user,
            method: "GET",
            scheme: "http",
            host,
            port: 80,
            path: "",
            query: "",
            status: 200,
            result: Outcome::Miss,
            bytes: 0,
            cs_bytes: 0,
            mime: "-",
            referer: "",
            ua: self.ua,
            category,
        }
    }

    /// A `CONNECT host:443` line of this client (`result`: a bumped, spliced or uninspected
    /// tunnel); sizes are the caller's.
    fn connect<'r>(&'r self, ts: Ts, elapsed_ms: u64, host: &'r str, category: &'r str, result: Outcome) -> Req<'r> {
        Req {
            method: "CONNECT",
            scheme: "tcp",
            port: 443,
            result,
            ..self.req(ts, elapsed_ms, host, category)
        }
    }
}

/// A request to fetch, before timing and sizes are decided.
pub struct Fetch<'a> {
    pub scheme: Scheme,
    pub host: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub mime: &'a str,
    pub category: &'a str,
    pub referer: &'a str,
}

/// Generates web traffic into the proxy logs.
pub struct Web {
    /// Per-session set of TLS hosts already CONNECTed (bumped), so each gets one CONNECT line.
    connected: Vec<String>,
}

impl Default for Web {
    fn default() -> Self {
        Self::new()
    }
}

impl Web {
    pub fn new() -> Web {
        Web { connected: Vec::new() }
    }

    /// One GET through the proxy, starting `gap_ms` after `start`, answering a size drawn from
    /// `bytes`; returns its completion time.
    #[allow(clippy::too_many_arguments)]
    pub fn get(
        &mut self,
        out: &mut Outputs,
        rng: &mut Rng,
        c: &Client<'_>,
        start: Ts,
        gap_ms: (u64, u64),
        f: &Fetch<'_>,
        status: u16,
        bytes: (u64, u64),
        label: Option<&Rc<Label>>,
    ) -> Ts {
        let t = start + rng.range(gap_ms.0, gap_ms.1) as i64 * 1000;
        let bytes = rng.range(bytes.0, bytes.1);
        let https = f.scheme == Scheme::Https;
        if https && c.proxy == Proxy::Branch {
            return self.branch_tunnel(out, rng, c, t, f, bytes, label);
        }
        let mut t = t;
        if https && !self.connected.iter().any(|h| h == f.host) {
            self.connected.push(f.host.to_string());
            if c.proxy == Proxy::Squid {
                // Squid logs the CONNECT of a bumped connection with no bytes and no peer.
                t += rng.range(2, 40) as i64 * 1000;
                log(
                    out,
                    c.proxy,
                    &c.connect(t, rng.range(0, 3), f.host, f.category, Outcome::Bumped),
                    campaign_web(label, f.host).as_ref(),
                );
            }
        }
        let elapsed = match bytes {
            0..=2_000 => rng.range(15, 400),
            2_001..=100_000 => rng.range(40, 900),
            _ => rng.range(200, 4_000),
        };
        let result = if status == 304 {
            Outcome::RefreshUnmodified
        } else if cacheable(f) && label.is_none() && status == 200 && rng.chance(0.25) {
            if rng.chance(0.5) { Outcome::Hit } else { Outcome::MemHit }
        } else {
            Outcome::Miss
        };
        let elapsed = if matches!(result, Outcome::Hit | Outcome::MemHit) {
            rng.range(0, 3)
        } else {
            elapsed
        };
        let end = t + elapsed as i64 * 1000;
        let stripped = if c.proxy == Proxy::Branch && !f.query.is_empty() {
            via(label, "stripped")
        } else {
            None
        };
        log(
            out,
            c.proxy,
            &Req {
                scheme: if https { "https" } else { "http" },
                port: if https { 443 } else { 80 },
                path: f.path,
                query: f.query,
                status,
                result,
                bytes: if status == 304 { rng.range(180, 320) } else { bytes },
                cs_bytes: rng.range(350, 1400) + f.query.len() as u64,
                mime: if status == 304 { "-" } else { f.mime },
                referer: f.referer,
                ..c.req(end, elapsed, f.host, f.category)
            },
            stripped.as_ref().or(label),
        );
        end
    }

    /// An HTTPS request through the branch proxy: the first to a host opens a tunnel, logged
    /// when it closes as one `CONNECT host:443` line; later requests to that host ride in it
    /// unseen. Returns when the request itself completed.
    #[allow(clippy::too_many_arguments)]
    fn branch_tunnel(
        &mut self,
        out: &mut Outputs,
        rng: &mut Rng,
        c: &Client<'_>,
        t: Ts,
        f: &Fetch<'_>,
        bytes: u64,
        label: Option<&Rc<Label>>,
    ) -> Ts {
        let end = t + rng.range(30, 600) as i64 * 1000;
        if self.connected.iter().any(|h| h == f.host) {
            return end;
        }
        self.connected.push(f.host.to_string());
        // Clients keep the connection open for a while after the last response.
        let open_ms = (end - t) as u64 / 1000 + rng.range(2_000, 120_000);
        log(
            out,
            c.proxy,
            &Req {
                bytes: bytes + rng.range(3_000, 7_000),
                cs_bytes: rng.range(600, 2_500),
                ..c.connect(t + open_ms as i64 * 1000, open_ms, f.host, f.category, Outcome::Tunnel)
            },
            via(label, "connect").as_ref(),
        );
        end
    }

    /// An uninspected TLS tunnel.
    pub fn tunnel(&mut self, out: &mut Outputs, rng: &mut Rng, c: &Client<'_>, t: Ts, host: &str, category: &str) {
        let secs = rng.lognormal(40.0, 1.3).min(3_000.0);
        let elapsed = (secs * 1000.0) as u64;
        log(
            out,
            c.proxy,
            &Req {
                bytes: (rng.lognormal(20_000.0, 1.5) as u64).max(600),
                cs_bytes: rng.range(600, 8_000),
                ..c.connect(t + elapsed as i64 * 1000, elapsed, host, category, Outcome::Tunnel)
            },
            None,
        );
    }

    /// The proxy's authentication challenge before the first authenticated request.
    fn challenge(&mut self, out: &mut Outputs, rng: &mut Rng, c: &Client<'_>, t: Ts, f: &Fetch<'_>) {
        let https = f.scheme == Scheme::Https;
        log(
            out,
            c.proxy,
            &Req {
                user: "-",
                method: if https { "CONNECT" } else { "GET" },
                scheme: if https { "tcp" } else { "http" },
                port: if https { 443 } else { 80 },
                path: f.path,
                query: f.query,
                status: 407,
                result: Outcome::Denied,
                bytes: rng.range(3_900, 4_100),
                cs_bytes: rng.range(300, 600),
                mime: "text/html",
                ..c.req(t, rng.range(0, 2), f.host, f.category)
            },
            None,
        );
    }

    /// A browsing session of `pages` page views starting at `t0`.
    pub fn session(&mut self, out: &mut Outputs, rng: &mut Rng, c: &Client<'_>, t0: Ts, pages: u32) {
        self.connected.clear();
        let mut t = t0;
        let weights: Vec<u32> = SITES.iter().map(|s| s.weight).collect();
        let mut first = true;
        // Background traffic of the machine while it is in use.
        for _ in 0..rng.poisson(1.2) {
            let at = t0 + rng.range(0, 600) as i64 * SECOND;
            self.background(out, rng, c, at);
        }
        for _ in 0..pages {
            let site = &SITES[rng.weighted(&weights)];
            if first && c.proxy != Proxy::BlueCoat && rng.chance(0.3) {
                let (path, query) = (String::from("/"), String::new());
                self.challenge(
                    out,
                    rng,
                    c,
                    t,
                    &Fetch {
                        scheme: site.scheme,
                        host: site.host,
                        path: &path,
                        query: &query,
                        mime: "text/html",
                        category: site.category,
                        referer: "",
                    },
                );
                t += rng.range(5, 60) as i64 * 1000;
            }
            first = false;
            t = self.page(out, rng, c, t, site, "");
            t += (rng.lognormal(45.0, 1.0).min(900.0) * 1e6) as i64;
        }
    }

    /// One page view: the document, its assets and the site's analytics beacons.
    pub fn page(
        &mut self,
        out: &mut Outputs,
        rng: &mut Rng,
        c: &Client<'_>,
        t: Ts,
        site: &WebSite,
        referer: &str,
    ) -> Ts {
        if site.kind == PageKind::Tunnel {
            self.tunnel(out, rng, c, t, site.host, site.category);
            return t + rng.range(5, 60) as i64 * SECOND;
        }
        let (path, query) = page_path(rng, site);
        let status = match rng.below(100) {
            0..=1 => 404,
            2..=4 => 304,
            _ => 200,
        };
        let pdf = path.ends_with(".pdf");
        let doc = Fetch {
            scheme: site.scheme,
            host: site.host,
            path: &path,
            query: &query,
            mime: if pdf { "application/pdf" } else { "text/html" },
            category: site.category,
            referer,
        };
        let bytes = rng.range(12_000, 260_000);
        let mut t = self.get(out, rng, c, t, (0, 0), &doc, status, (bytes, bytes), None);
        let page_url = url(site.scheme, site.host, &path, &query);
        if status == 404 || pdf {
            return t;
        }
        let n_assets = rng.range(2, 12);
        for _ in 0..n_assets {
            let host = if site.assets.is_empty() {
                site.host
            } else {
                site.assets[rng.index(site.assets.len())]
            };
            let (apath, mime, size) = asset(rng);
            let st = if rng.chance(0.25) { 304 } else { 200 };
            t += rng.range(5, 250) as i64 * 1000;
            let f = Fetch {
                scheme: site.scheme,
                host,
                path: &apath,
                query: "",
                mime,
                category: if host == site.host {
                    site.category
                } else {
                    "Content Servers"
                },
                referer: &page_url,
            };
            let end = self.get(out, rng, c, t, (0, 0), &f, st, (size, size), None);
            t = t.max(end - 200_000);
        }
        if site.trackers {
            t += rng.range(100, 1500) as i64 * 1000;
            self.analytics(out, rng, c, t, &page_url, site);
        }
        t
    }

    /// Third-party analytics beacons: per-browser identifiers in the query, the everyday
    /// tracking a reconnaissance detector must not confuse with a campaign.
    fn analytics(&mut self, out: &mut Outputs, rng: &mut Rng, c: &Client<'_>, t: Ts, page: &str, site: &WebSite) {
        let dl = percent_encode(page);
        let (cid, first) = c.device.ga_cid;
        let tid = 10_000_000 + hash64(&[site.host.as_bytes()]) % 89_999_999;
        let query = format!(
            "?v=1&_v=j87&a={}&t=pageview&_s=1&dl={dl}&ul=en-gb&de=UTF-8&sd=24-bit&sr=1920x1080&vp=1903x937&je=0&_u=YEBAAEABAAAAAC~&jid=&gjid=&cid={cid}.{first}&tid=UA-{tid}-1&_gid={}.{}&z={}",
            rng.range(100_000_000, 2_147_483_647),
            rng.range(100_000_000, 2_147_483_647),
            first + 20_000_000,
            rng.range(100_000_000, 2_147_483_647)
        );
        let f = Fetch {
            scheme: Scheme::Https,
            host: "www.google-analytics.com",
            path: "/collect",
            query: &query,
            mime: "image/gif",
            category: "Web Ads/Analytics",
            referer: page,
        };
        let t = self.get(out, rng, c, t, (0, 0), &f, 200, (420, 460), None);
        if rng.chance(0.4) {
            let fbq = format!(
                "?id={}&ev=PageView&dl={dl}&rl=&if=false&ts={}&sw=1920&sh=1080&v=2.9.33&r=stable&ec=0&o=30&fbp=fb.1.{}{:03}.{}&it={}&coo=false&rqm=GET",
                100_000_000_000_000 + hash64(&[site.host.as_bytes(), b"fb"]) % 899_999_999_999_999,
                t / 1000,
                u64::from(first) * 1000,
                rng.below(1000),
                cid,
                t / 1000 - rng.range(500, 5000) as i64
            );
            let f = Fetch {
                scheme: Scheme::Https,
                host: "www.facebook.com",
                path: "/tr/",
                query: &fbq,
                mime: "image/gif",
                category: "Web Ads/Analytics",
                referer: page,
            };
            self.get(out, rng, c, t, (5, 80), &f, 200, (330, 360), None);
        }
        if rng.chance(0.25) {
            let mut id = String::new();
            rng.token(HEX_LOWER, 32, &mut id);
            let q = format!(
                "?pid={}&time={}&url={dl}&fmt=gif",
                100_000 + hash64(&[site.host.as_bytes(), b"li"]) % 900_000,
                t / 1000
            );
            let f = Fetch {
                scheme: Scheme::Https,
                host: "px.ads.linkedin.com",
                path: "/collect/",
                query: &q,
                mime: "image/gif",
                category: "Web Ads/Analytics",
                referer: page,
            };
            self.get(out, rng, c, t, (5, 80), &f, 200, (300, 340), None);
        }
        if let Some(a) = catalog::SELF_ANALYTICS.iter().find(|a| a.site == site.host) {
            self.self_hosted_beacon(out, rng, c, t, page, a);
        }
    }

    /// The site's own analytics (Matomo, or a Plausible-style `/collect`): a per-visitor id in
    /// the query, labelled `tracker_beacon` with the analytics product as its class.
    fn self_hosted_beacon(
        &mut self,
        out: &mut Outputs,
        rng: &mut Rng,
        c: &Client<'_>,
        t: Ts,
        page: &str,
        a: &catalog::SelfAnalytics,
    ) {
        let (cid, first) = c.device.ga_cid;
        // The visitor id lives in a first-party cookie: stable per browser and site.
        let vid = hash64(&[&cid.to_le_bytes(), &first.to_le_bytes(), a.host.as_bytes()]);
        let enc = percent_encode(page);
        let p = clock::parts(t, clock::LOCAL_OFFSET);
        let (path, query, class) = match a.kind {
            catalog::Analytics::Matomo => (
                "/matomo.php",
                format!(
                    "?idsite={}&rec=1&r={:06}&h={}&m={}&s={}&url={enc}&_id={vid:016x}&_idn=0&send_image=0&res=1920x1080",
                    a.site_id,
                    rng.below(1_000_000),
                    p.h,
                    p.mi,
                    p.s
                ),
                "matomo",
            ),
            catalog::Analytics::Collect => (
                "/collect",
                format!(
                    "?site={}&n=pageview&u={enc}&r=&w=1920&uid={vid:016x}&ts={}",
                    a.site_id,
                    t / 1000
                ),
                "collect",
            ),
        };
        let mut l = Label::new(Kind::TrackerBeacon, c.email);
        l.class = Some(class);
        l.token = Some(format!("{vid:016x}"));
        l.host = Some(a.host.to_string());
        l.user = Some(c.user.to_string());
        l.client_ip = Some(c.device.ip_string());
        let f = Fetch {
            scheme: Scheme::Https,
            host: a.host,
            path,
            query: &query,
            mime: "-",
            category: "Web Ads/Analytics",
            referer: page,
        };
        self.get(out, rng, c, t, (5, 120), &f, 204, (0, 0), Some(&Rc::new(l)));
    }

    /// One request the machine makes by itself (certificate checks, updates, connectivity
    /// probes, telemetry tunnels).
    pub fn background(&mut self, out: &mut Outputs, rng: &mut Rng, c: &Client<'_>, t: Ts) {
        let phone = c.device.kind == super::people::DeviceKind::Phone;
        if rng.chance(0.45) {
            let host = if phone {
                *rng.pick(catalog::PHONE_TUNNELS)
            } else {
                *rng.pick(catalog::BACKGROUND_TUNNELS)
            };
            self.tunnel(out, rng, c, t, host, "Technology/Internet");
            return;
        }
        let candidates: Vec<usize> = (0..catalog::BACKGROUND.len())
            .filter(|&i| {
                let host = catalog::BACKGROUND[i].0;
                let phone_only = host == "captive.apple.com" || host == "connectivitycheck.gstatic.com";
                phone == phone_only || host.starts_with("ocsp")
            })
            .collect();
        let (host, path, method, mime, lo, hi, category) = catalog::BACKGROUND[*rng.pick(&candidates)];
        let mut p = path.to_string();
        if p.contains("{h}") {
            let mut h = String::new();
            rng.token(HEX_LOWER, 40, &mut h);
            p = p.replace("{h}", &h);
        }
        let status = match (host, method) {
            ("connectivitycheck.gstatic.com", _) => 204,
            ("download.windowsupdate.com", _) => 206,
            _ => 200,
        };
        let bytes = rng.range(lo, hi);
        let elapsed = rng.range(10, if bytes > 100_000 { 9_000 } else { 300 });
        let ua = if host.starts_with("ocsp") || host.starts_with("crl") {
            "Microsoft-CryptoAPI/10.0"
        } else {
            c.ua
        };
        log(
            out,
            c.proxy,
            &Req {
                method,
                path: &p,
                status,
                bytes,
                cs_bytes: rng.range(200, 900),
                mime,
                ua,
                ..c.req(t + elapsed as i64 * 1000, elapsed, host, category)
            },
            None,
        );
    }
}

/// The label of a line a campaign fetch causes without carrying its token (the CONNECT before it).
fn campaign_web(label: Option<&Rc<Label>>, host: &str) -> Option<Rc<Label>> {
    let l = label.filter(|l| l.kind.is_campaign())?;
    let mut c = (**l).clone();
    c.kind = Kind::CampaignWeb;
    c.token = None;
    c.host = Some(host.to_string());
    Some(Rc::new(c))
}

/// Whether the proxy may answer from its cache: static content over plain http (inspected TLS
/// content is not cached here), never a URL with a query.
fn cacheable(f: &Fetch<'_>) -> bool {
    f.scheme == Scheme::Http
        && f.query.is_empty()
        && matches!(
            f.mime,
            "text/css" | "application/javascript" | "image/png" | "image/jpeg" | "font/woff2"
        )
}

pub fn url(scheme: Scheme, host: &str, path: &str, query: &str) -> String {
    let s = if scheme == Scheme::Https { "https" } else { "http" };
    format!("{s}://{host}{path}{query}")
}

/// Splits `http(s)://host/path?query` into (scheme, host, path, query-with-?).
pub fn split(u: &str) -> (Scheme, &str, &str, &str) {
    let (scheme, rest) = match u.strip_prefix("https://") {
        Some(r) => (Scheme::Https, r),
        None => (Scheme::Http, u.strip_prefix("http://").unwrap_or(u)),
    };
    let (host, pq) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    match pq.find('?') {
        Some(i) => (scheme, host, &pq[..i], &pq[i..]),
        None => (scheme, host, pq, ""),
    }
}

pub fn percent_encode(s: &str) -> String {
    let mut o = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

pub fn slug(rng: &mut Rng, words: usize) -> String {
    let mut s = String::new();
    for i in 0..words {
        if i > 0 {
            s.push('-');
        }
        s.push_str(WORDS[rng.index(WORDS.len())]);
    }
    s
}

fn page_path(rng: &mut Rng, site: &WebSite) -> (String, String) {
    let mut q = String::new();
    let p = match site.kind {
        PageKind::Search => {
            let n = rng.range(1, 4) as usize;
            let words: Vec<&str> = (0..n).map(|_| *rng.pick(WORDS)).collect();
            let mut ei = String::new();
            rng.token(BASE62, 22, &mut ei);
            q = format!("?q={}&source=hp&ei={ei}", words.join("+"));
            "/search".to_string()
        }
        PageKind::News => {
            let n = rng.below(4);
            match n {
                0 => "/".to_string(),
                1 => format!("/news/{}-{}", slug(rng, 3), rng.range(55_000_000, 56_000_000)),
                2 => format!(
                    "/world/2021/{}/{:02}/{}",
                    if rng.chance(0.5) { "jan" } else { "feb" },
                    rng.range(1, 28),
                    slug(rng, 5)
                ),
                _ => format!("/politics/{}", slug(rng, 4)),
            }
        }
        PageKind::Wiki => {
            let w = rng.pick(WORDS);
            let mut t = w.to_string();
            t[..1].make_ascii_uppercase();
            format!("/wiki/{t}")
        }
        PageKind::Social => match site.host {
            "twitter.com" => format!(
                "/{}/status/{}",
                slug(rng, 1),
                rng.range(1_340_000_000_000_000_000, 1_360_000_000_000_000_000)
            ),
            "www.linkedin.com" => "/feed/".to_string(),
            _ => "/".to_string(),
        },
        PageKind::Video => {
            let mut v = String::new();
            rng.token(BASE62, 11, &mut v);
            q = format!("?v={v}");
            "/watch".to_string()
        }
        PageKind::Gov => {
            if rng.chance(0.2) {
                format!("/media/{}.pdf", rng.range(5_000_000, 6_000_000))
            } else {
                format!("/government/publications/{}", slug(rng, 4))
            }
        }
        PageKind::Shop => {
            let mut id = String::from("B0");
            rng.token(b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ", 8, &mut id);
            format!("/dp/{id}")
        }
        PageKind::Generic | PageKind::Tunnel => format!("/{}", slug(rng, 2)),
    };
    (p, q)
}

fn asset(rng: &mut Rng) -> (String, &'static str, u64) {
    let mut h = String::new();
    rng.token(ALNUM_LOWER, 8, &mut h);
    match rng.below(6) {
        0 => (
            format!("/static/js/main.{h}.js"),
            "application/javascript",
            rng.range(8_000, 400_000),
        ),
        1 => (
            format!("/static/css/site.{h}.css"),
            "text/css",
            rng.range(4_000, 90_000),
        ),
        2 => (format!("/fonts/{h}.woff2"), "font/woff2", rng.range(15_000, 60_000)),
        3 => (format!("/img/{h}.png"), "image/png", rng.range(1_000, 80_000)),
        _ => (
            format!("/images/{}/{h}.jpg", rng.range(100, 999)),
            "image/jpeg",
            rng.range(8_000, 300_000),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(method: &'static str, scheme: &'static str, host: &'a str, query: &'a str) -> Req<'a> {
        Req {
            ts: 1_610_615_523_123_000,
            elapsed_ms: 234,
            client: [10, 20, 3, 14],
            user: "walkerh",
            method,
            scheme,
            host,
            port: if scheme == "http" { 80 } else { 443 },
            path: "/t/abc.gif",
            query,
            status: 200,
            result: Outcome::Miss,
            bytes: 436,
            cs_bytes: 512,
            mime: "image/gif",
            referer: "",
            ua: "Mozilla/5.0 (X)",
            category: "News/Media",
        }
    }

    #[test]
    fn squid_native_shape() {
        let r = req("GET", "http", "img.example", "?u=1");
        let line = String::from_utf8(squid_line(&r)).unwrap();
        let ip = server_ip("img.example");
        assert_eq!(
            line,
            format!(
                "1610615523.123    234 10.20.3.14 TCP_MISS/200 436 GET http://img.example/t/abc.gif?u=1 walkerh HIER_DIRECT/{ip} image/gif"
            )
        );
        let mut c = req("CONNECT", "tcp", "bank.example", "");
        c.result = Outcome::Tunnel;
        c.mime = "-";
        let line = String::from_utf8(squid_line(&c)).unwrap();
        assert!(
            line.contains(" TCP_TUNNEL/200 436 CONNECT bank.example:443 walkerh HIER_DIRECT/"),
            "{line}"
        );
        assert!(line.ends_with(" -"));
    }

    #[test]
    fn proxysg_shape() {
        let r = req("GET", "https", "img.example", "?u=1");
        let line = String::from_utf8(proxysg_line(&r)).unwrap();
        assert!(line.starts_with("2021-01-14 09:12:03 234 10.20.3.14 walkerh - - OBSERVED \"News/Media\" - 200 TCP_NC_MISS GET image/gif https img.example 443 /t/abc.gif ?u=1 gif \"Mozilla/5.0 (X)\" 10.40.0.8 436 512 -"), "{line}");
        assert_eq!(
            line.split(' ').count(),
            26,
            "25 fields, and one space inside the quoted UA"
        );
    }

    #[test]
    fn url_split_and_encode() {
        assert_eq!(
            split("https://a.example/p/q.gif?x=1&y=2"),
            (Scheme::Https, "a.example", "/p/q.gif", "?x=1&y=2")
        );
        assert_eq!(split("http://a.example"), (Scheme::Http, "a.example", "/", ""));
        assert_eq!(percent_encode("https://a.b/c d"), "https%3A%2F%2Fa.b%2Fc%20d");
    }
}
