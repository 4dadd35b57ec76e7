//! The fictional population: parliamentarians of both houses, their staff (some of them family),
//! the houses' employees, and the domestic journalists who write to them. Each insider has an
//! address, a proxy user name and one to three devices with fixed internal addresses.
//!
//! Never reuses a name pair, an address or an IP: `people.csv` must map each back to one person.

use std::collections::HashSet;
use std::io::Write;

use super::catalog::{self, FIRST_NAMES, LAST_NAMES, OUTLETS, PRESS_DOMAINS, UA_DESKTOP, UA_MAC_MAIL, UA_OUTLOOK};
use super::rng::{Rng, hash64};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Parliamentarian,
    Staff,
    Family,
    Journalist,
    Employee,
}

impl Group {
    pub fn name(self) -> &'static str {
        match self {
            Group::Parliamentarian => "parliamentarian",
            Group::Staff => "staff",
            Group::Family => "family",
            Group::Journalist => "journalist",
            Group::Employee => "employee",
        }
    }
}

/// Which organisation (and so which mail and proxy logs) a person belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// Postfix gateway + Squid.
    Parliament,
    /// Exchange 2016 + ProxySG.
    Senate,
    External,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Desktop,
    /// A constituency-office machine reaching the proxy over the VPN.
    Remote,
    Phone,
}

#[derive(Debug, Clone)]
pub struct Device {
    pub kind: DeviceKind,
    pub ip: [u8; 4],
    pub browser_ua: &'static str,
    pub mail_ua: &'static str,
    /// Google Analytics client id (`<random>.<first visit>`), stable per browser.
    pub ga_cid: (u32, u32),
}

impl Device {
    pub fn ip_string(&self) -> String {
        let [a, b, c, d] = self.ip;
        format!("{a}.{b}.{c}.{d}")
    }
}

#[derive(Debug, Clone)]
pub struct Person {
    pub name: String,
    /// As in the From header (`Helen Walker MP`).
    pub display: String,
    pub email: String,
    pub group: Group,
    pub site: Site,
    pub username: Option<String>,
    pub devices: Vec<Device>,
    /// Indexes into [`OUTLETS`].
    pub subscriptions: Vec<usize>,
    /// The parliamentarian a staff or family member works for.
    pub works_for: Option<usize>,
    /// Relative activity (web sessions, mail) of this person.
    pub activity: f64,
}

/// How many of whom.
#[derive(Debug, Clone)]
pub struct Sizes {
    pub mps: usize,
    pub senators: usize,
    pub parl_employees: usize,
    pub senate_employees: usize,
    pub journalists: usize,
    /// Average number of (non-family) staff per parliamentarian.
    pub staff_per_member: f64,
    /// Per house (parliament, senate): probability that a person subscribes to a given outlet
    /// (scaled by its popularity, halved for employees).
    pub subscription: [f64; 2],
}

pub struct Population {
    pub people: Vec<Person>,
    pub parliament: Vec<usize>,
    pub senate: Vec<usize>,
    pub members: Vec<usize>,
    pub journalists: Vec<usize>,
}

struct Allocator {
    names: HashSet<(usize, usize)>,
    emails: HashSet<String>,
    users: HashSet<String>,
    ips: HashSet<[u8; 4]>,
}

impl Allocator {
    fn name(&mut self, rng: &mut Rng, last: Option<usize>) -> (usize, usize) {
        loop {
            let f = rng.index(FIRST_NAMES.len());
            let l = last.unwrap_or_else(|| rng.index(LAST_NAMES.len()));
            if self.names.insert((f, l)) {
                return (f, l);
            }
        }
    }

    fn unique(set: &mut HashSet<String>, base: String) -> String {
        if set.insert(base.clone()) {
            return base;
        }
        (2..)
            .map(|n| format!("{base}{n}"))
            .find(|c| set.insert(c.clone()))
            .unwrap_or(base)
    }

    fn email(&mut self, local: String, domain: &str) -> String {
        let local = Self::unique(&mut self.emails, local);
        format!("{local}@{domain}")
    }

    fn ip(&mut self, rng: &mut Rng, a: u8, b: u8, c_lo: u64, c_hi: u64) -> [u8; 4] {
        loop {
            let ip = [a, b, rng.range(c_lo, c_hi) as u8, rng.range(10, 250) as u8];
            if self.ips.insert(ip) {
                return ip;
            }
        }
    }
}

fn slug(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase()
}

pub fn build(sizes: &Sizes, rng: &mut Rng) -> Population {
    let mut alloc = Allocator {
        names: HashSet::new(),
        emails: HashSet::new(),
        users: HashSet::new(),
        ips: HashSet::new(),
    };
    let mut people: Vec<Person> = Vec::new();
    let mut members = Vec::new();

    for site in [Site::Parliament, Site::Senate] {
        let n_members = if site == Site::Parliament {
            sizes.mps
        } else {
            sizes.senators
        };
        let n_employees = if site == Site::Parliament {
            sizes.parl_employees
        } else {
            sizes.senate_employees
        };
        for _ in 0..n_members {
            let m = add_insider(&mut people, &mut alloc, rng, site, Group::Parliamentarian, None, None);
            members.push(m);
            // Staff: some members employ a relative (as several parliaments allow).
            if rng.chance(0.25) {
                let last = LAST_NAMES.iter().position(|&l| people[m].name.ends_with(l));
                add_insider(&mut people, &mut alloc, rng, site, Group::Family, Some(m), last);
            }
            let staff = rng.poisson(sizes.staff_per_member).max(1);
            for _ in 0..staff {
                add_insider(&mut people, &mut alloc, rng, site, Group::Staff, Some(m), None);
            }
        }
        for _ in 0..n_employees {
            add_insider(&mut people, &mut alloc, rng, site, Group::Employee, None, None);
        }
    }

    let mut journalists = Vec::new();
    for _ in 0..sizes.journalists {
        let (f, l) = alloc.name(rng, None);
        let (_, domain) = *rng.pick(PRESS_DOMAINS);
        let name = format!("{} {}", FIRST_NAMES[f], LAST_NAMES[l]);
        let email = alloc.email(format!("{}.{}", slug(FIRST_NAMES[f]), slug(LAST_NAMES[l])), domain);
        journalists.push(people.len());
        people.push(Person {
            display: name.clone(),
            name,
            email,
            group: Group::Journalist,
            site: Site::External,
            username: None,
            devices: Vec::new(),
            subscriptions: Vec::new(),
            works_for: None,
            activity: 1.0,
        });
    }

    // Subscriptions: the expected number for each house, drawn as exactly that many distinct
    // (person, outlet) pairs, so that small worlds do not swing with a few lucky subscribers.
    for (s, site) in [Site::Parliament, Site::Senate].into_iter().enumerate() {
        let members: Vec<usize> = (0..people.len()).filter(|&i| people[i].site == site).collect();
        let boost = |p: &Person| if p.group == Group::Employee { 1 } else { 2 };
        let person_w: Vec<u32> = members.iter().map(|&i| boost(&people[i])).collect();
        let outlet_w: Vec<u32> = OUTLETS.iter().map(|o| o.popularity).collect();
        let expected: f64 = members.iter().map(|&i| f64::from(boost(&people[i])) / 2.0).sum::<f64>()
            * OUTLETS.iter().map(|o| f64::from(o.popularity) / 6.0).sum::<f64>()
            * sizes.subscription[s];
        let capacity = members.len() * OUTLETS.len();
        let want = ((expected + 0.5) as usize).min(capacity * 3 / 4);
        let mut have = 0;
        while have < want && !members.is_empty() {
            let p = members[rng.weighted(&person_w)];
            let o = rng.weighted(&outlet_w);
            if !people[p].subscriptions.contains(&o) {
                people[p].subscriptions.push(o);
                have += 1;
            }
        }
    }
    for p in people.iter_mut() {
        p.subscriptions.sort_unstable();
    }

    let parliament = (0..people.len())
        .filter(|&i| people[i].site == Site::Parliament)
        .collect();
    let senate = (0..people.len()).filter(|&i| people[i].site == Site::Senate).collect();
    Population {
        people,
        parliament,
        senate,
        members,
        journalists,
    }
}

fn add_insider(
    people: &mut Vec<Person>,
    alloc: &mut Allocator,
    rng: &mut Rng,
    site: Site,
    group: Group,
    works_for: Option<usize>,
    last: Option<usize>,
) -> usize {
    let (f, l) = alloc.name(rng, last);
    let (first, lastn) = (FIRST_NAMES[f], LAST_NAMES[l]);
    let name = format!("{first} {lastn}");
    let (fs, ls) = (slug(first), slug(lastn));
    let member = group == Group::Parliamentarian;
    let (email, username, display) = match site {
        Site::Parliament => {
            // UK-style: members' addresses carry a `.mp` suffix.
            let local = if member {
                format!("{fs}.{ls}.mp")
            } else {
                format!("{fs}.{ls}")
            };
            let display = if member { format!("{name} MP") } else { name.clone() };
            (
                alloc.email(local, catalog::PARL_DOMAIN),
                Allocator::unique(&mut alloc.users, format!("{ls}{}", &fs[..1])),
                display,
            )
        }
        _ => {
            let display = if member {
                format!("Senator {name}")
            } else {
                name.clone()
            };
            (
                alloc.email(format!("{fs}.{ls}"), catalog::SENATE_DOMAIN),
                Allocator::unique(&mut alloc.users, format!("{}{ls}", &fs[..1])),
                display,
            )
        }
    };
    let (desk_net, phone_net) = if site == Site::Parliament { (20, 21) } else { (40, 41) };
    let mut devices = Vec::new();
    let mac = rng.chance(0.12);
    let desk_ua = if mac { UA_DESKTOP[5] } else { UA_DESKTOP[rng.index(5)] };
    devices.push(Device {
        kind: DeviceKind::Desktop,
        ip: alloc.ip(rng, 10, desk_net, 1, 12),
        browser_ua: desk_ua,
        mail_ua: if mac { UA_MAC_MAIL } else { UA_OUTLOOK },
        ga_cid: ga_cid(rng),
    });
    let phone_p = if member { 0.95 } else { 0.65 };
    if rng.chance(phone_p) {
        let (b, m) = *rng.pick(catalog::UA_PHONE);
        devices.push(Device {
            kind: DeviceKind::Phone,
            ip: alloc.ip(rng, 10, phone_net, 0, 15),
            browser_ua: b,
            mail_ua: m,
            ga_cid: ga_cid(rng),
        });
    }
    // Constituency-office machines (over the VPN, through the branch proxy) of members and
    // their relatives, and of some of their staff. The staff's are drawn from a generator of
    // their own, so that the population (and the committed sample world) stays as it was
    // before staff had them.
    let remote = if site != Site::Parliament {
        None
    } else if member || group == Group::Family {
        rng.chance(0.35).then(|| remote_device(alloc, rng))
    } else if group == Group::Staff {
        let mut own = Rng::new(hash64(&[email.as_bytes(), b"remote"]));
        own.chance(0.4).then(|| remote_device(alloc, &mut own))
    } else {
        None
    };
    devices.extend(remote);
    let activity = match group {
        Group::Parliamentarian => 0.8,
        Group::Staff => 1.2,
        _ => 1.0,
    } * (0.4 + 1.2 * rng.unit());
    people.push(Person {
        name,
        display,
        email,
        group,
        site,
        username: Some(username),
        devices,
        subscriptions: Vec::new(),
        works_for,
        activity,
    });
    people.len() - 1
}

fn remote_device(alloc: &mut Allocator, rng: &mut Rng) -> Device {
    Device {
        kind: DeviceKind::Remote,
        ip: alloc.ip(rng, 10, 30, 1, 60),
        browser_ua: UA_DESKTOP[rng.index(5)],
        mail_ua: UA_OUTLOOK,
        ga_cid: ga_cid(rng),
    }
}

fn ga_cid(rng: &mut Rng) -> (u32, u32) {
    // First visit some time in 2019-2020.
    (
        rng.range(100_000_000, 2_147_483_647) as u32,
        rng.range(1_546_300_800, 1_609_400_000) as u32,
    )
}

/// Writes `people.csv`: `email,name,group,usernames,ips` with `;`-separated lists.
pub fn write_csv(pop: &Population, out: &mut impl Write) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(["email", "name", "group", "usernames", "ips"])?;
    for p in &pop.people {
        let ips: Vec<String> = p.devices.iter().map(Device::ip_string).collect();
        w.write_record([
            p.email.as_str(),
            p.name.as_str(),
            p.group.name(),
            p.username.as_deref().unwrap_or(""),
            &ips.join(";"),
        ])?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes() -> Sizes {
        Sizes {
            mps: 40,
            senators: 12,
            parl_employees: 20,
            senate_employees: 10,
            journalists: 8,
            staff_per_member: 1.5,
            subscription: [0.3, 0.3],
        }
    }

    #[test]
    fn population_is_unique_and_complete() {
        let pop = build(&sizes(), &mut Rng::new(1));
        let members = pop.people.iter().filter(|p| p.group == Group::Parliamentarian).count();
        assert_eq!(members, 52);
        let mut emails = HashSet::new();
        let mut users = HashSet::new();
        let mut ips = HashSet::new();
        for p in &pop.people {
            assert!(emails.insert(p.email.clone()), "duplicate {}", p.email);
            if let Some(u) = &p.username {
                assert!(users.insert(u.clone()), "duplicate user {u}");
            }
            for d in &p.devices {
                assert!(ips.insert(d.ip), "duplicate ip");
            }
            if p.site != Site::External {
                assert!(!p.devices.is_empty() && p.devices.len() <= 3);
            }
        }
        assert!(pop.people.iter().any(|p| p.group == Group::Family));
        assert_eq!(pop.journalists.len(), 8);
        let mp = &pop.people[pop.members[0]];
        assert!(mp.email.ends_with(".mp@parliament.elmaria.example"), "{}", mp.email);
    }

    #[test]
    fn csv_has_the_agreed_header_and_lists() {
        let pop = build(&sizes(), &mut Rng::new(2));
        let mut out = Vec::new();
        write_csv(&pop, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("email,name,group,usernames,ips"));
        assert!(text.lines().any(|l| l.contains(";10.21.")), "a phone ip in a list");
        assert_eq!(text.lines().count(), pop.people.len() + 1);
    }
}
