//! The report as one self-contained HTML file: inline CSS (with a print stylesheet), charts as
//! inline SVG, no script, nothing loaded from anywhere (a Content-Security-Policy forbids it
//! too), so it opens offline and prints cleanly. Every value that came from an alert is
//! escaped: subjects, display names and URLs are the attacker's text.

use std::fmt::Write as _;

use jiff::Timestamp;

use super::{Campaign, EvidenceRef, Exposure, Report, svg, text};

/// `text` with `& < > " '` escaped, for element content and attribute values alike.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A time as the report shows it: `2021-01-11 08:41 UTC`.
pub fn when(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "—".to_owned(), |t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
}

const STYLE: &str = r#"
:root { --ink: #1d232b; --muted: #5b6570; --line: #d5dbe1; --critical: #8e1b1b; --high: #c0461b; --medium: #9a6a00; --low: #4b6a88; }
* { box-sizing: border-box; }
body { font: 15px/1.45 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: var(--ink); margin: 0 auto; max-width: 1100px; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--ink); }
h3 { font-size: 17px; margin: 22px 0 6px; }
.meta, .note { color: var(--muted); font-size: 13px; }
.confidential { display: inline-block; border: 1px solid var(--critical); color: var(--critical); padding: 1px 8px; font-size: 12px; font-weight: bold; letter-spacing: .04em; }
.lead { font-size: 17px; }
.figures { display: flex; gap: 14px; margin: 14px 0; flex-wrap: wrap; }
.figure { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; min-width: 170px; }
.figure b { display: block; font-size: 28px; }
.warn { border-left: 4px solid var(--high); background: #fdf3ee; padding: 8px 12px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 14px; font-size: 13.5px; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
th { background: #eef1f4; font-weight: 600; overflow-wrap: normal; hyphens: auto; }
td.num, th.num { text-align: right; }
td.num, .level { white-space: nowrap; }
.level { font-weight: bold; text-transform: uppercase; font-size: 12px; }
.level-critical { color: var(--critical); } .level-high { color: var(--high); } .level-medium { color: var(--medium); } .level-low { color: var(--low); }
.yes { color: var(--critical); font-weight: bold; }
code, pre, .mono { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 12.5px; }
.url { word-break: break-all; }
pre { white-space: pre-wrap; word-break: break-all; background: #f6f7f9; border: 1px solid var(--line); padding: 8px; margin: 4px 0 12px; }
dl.facts { display: grid; grid-template-columns: 190px 1fr; gap: 3px 12px; margin: 6px 0 10px; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
ol.actions li { margin-bottom: 10px; }
pre.ids { columns: 2; column-gap: 24px; font-size: 11.5px; }
.campaign { border: 1px solid var(--line); border-radius: 6px; padding: 6px 16px 12px; margin: 14px 0; }
svg.chart { max-width: 100%; height: auto; display: block; margin: 6px 0; }
a { color: #1f4f8a; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  @page { margin: 16mm 14mm; }
  h2 { break-after: avoid; }
  .campaign, tr, .evidence-item { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
  .noprint { display: none; }
  pre { font-size: 8.5pt; }
}
"#;

/// Writes the whole report.
pub fn render(r: &Report) -> String {
    let mut h = String::with_capacity(64 * 1024);
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    // Nothing may be loaded: no script, no remote style, image or font (offline, and no
    // beacon of our own if the report is opened on a connected machine).
    h.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    h.push_str("<title>Tracking-campaign exposure report</title>\n<style>");
    h.push_str(STYLE);
    h.push_str("</style>\n</head>\n<body>\n");
    header(&mut h, r);
    summary(&mut h, r);
    actions(&mut h, r);
    campaigns(&mut h, r);
    people(&mut h, r);
    evidence(&mut h, r);
    input(&mut h, r);
    h.push_str("</body>\n</html>\n");
    h
}

/// A table: headers (a `#` prefix marks a number column, aligned right) and rows of cells
/// that are already HTML.
fn table(h: &mut String, headers: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    let num: Vec<bool> = headers.iter().map(|x| x.starts_with('#')).collect();
    h.push_str("<table><thead><tr>");
    for x in headers {
        match x.strip_prefix('#') {
            Some(x) => {
                let _ = write!(h, "<th class=\"num\">{x}</th>");
            }
            None => {
                let _ = write!(h, "<th>{x}</th>");
            }
        }
    }
    h.push_str("</tr></thead><tbody>\n");
    for row in rows {
        h.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let class = if num.get(i).copied().unwrap_or(false) {
                " class=\"num\""
            } else {
                ""
            };
            let _ = write!(h, "<td{class}>{cell}</td>");
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table>\n");
}

fn header(h: &mut String, r: &Report) {
    let _ = writeln!(
        h,
        "<header><h1>Tracking-campaign exposure report</h1><p class=\"meta\"><span class=\"confidential\">CONFIDENTIAL — NAMES PEOPLE</span> Activity from {} to {}, from {} alert(s) of reconwatch (mail- and web-gateway logs).</p></header>",
        when(r.summary.first_seen),
        when(r.summary.last_seen),
        r.input.alerts
    );
}

fn summary(h: &mut String, r: &Report) {
    let s = &r.summary;
    h.push_str("<section id=\"summary\"><h2>Summary</h2>\n");
    if r.input.alerts == 0 {
        h.push_str("<p class=\"lead\"><b>No alerts</b> were read: there is nothing to report.</p>\n");
    } else if s.campaigns == 0 {
        let _ = writeln!(
            h,
            "<p class=\"lead\"><b>No campaign</b> found in {} alert(s): none named a suspicious message (medium level or above) or a fetch of such a message's tracker.</p>",
            r.input.alerts
        );
    } else {
        let _ = writeln!(
            h,
            "<p class=\"lead\">{} campaign(s) of tracking mail reached <b>{} watch-listed people</b>. The devices of <b>{}</b> of them fetched a tracker (a hidden image or a tracked link): the sender learned when they read the mail, their IP address, network and device.</p>",
            s.campaigns, s.people_reached, s.people_fetched
        );
        let _ = writeln!(
            h,
            "<div class=\"figures\"><div class=\"figure\"><b>{}</b>campaigns</div><div class=\"figure\"><b>{}</b>messages</div><div class=\"figure\"><b>{}</b>people reached</div><div class=\"figure\"><b>{}</b>devices fetched a tracker</div></div>",
            s.campaigns, s.messages, s.people_reached, s.people_fetched
        );
        table(
            h,
            &["Group", "#People reached", "#Device fetched a tracker"],
            s.by_group
                .iter()
                .map(|g| vec![escape(&g.group), g.reached.to_string(), g.fetched.to_string()]),
        );
        h.push_str(&svg::groups(
            &s.by_group,
            "People reached and devices that fetched a tracker, by group",
        ));
    }
    if r.input.skipped_lines > 0 || r.input.inputs.iter().any(|i| i.error.is_some()) {
        let unreadable = r.input.inputs.iter().filter(|i| i.error.is_some()).count();
        let _ = writeln!(
            h,
            "<p class=\"warn\">This report is incomplete: {} input line(s) were not alerts reconwatch could read and were skipped, and {} input(s) could not be read. See <a href=\"#input\">What was read</a>.</p>",
            r.input.skipped_lines, unreadable
        );
    }
    h.push_str("</section>\n");
}

fn actions(h: &mut String, r: &Report) {
    if r.campaigns.is_empty() {
        return;
    }
    let a = &r.actions;
    h.push_str("<section id=\"actions\"><h2>What to do</h2><ol class=\"actions\">\n");
    let fetched = r.people.iter().filter(|p| p.fetched && p.watchlisted).count();
    let csv = text::notify_csv(r);
    let _ = writeln!(
        h,
        "<li><b>Notify the {} people listed under <a href=\"#people\">People</a></b> ({} of them first: their device fetched a tracker). Tell them the mail was a reconnaissance attempt, not to reply or click, and that the sender may know their IP address, device and when they read it. <a class=\"noprint\" download=\"people-to-notify.csv\" href=\"data:text/csv;charset=utf-8,{}\">Download the list (CSV)</a>.</li>",
        a.notify.len(),
        fetched,
        percent_encode(&csv)
    );
    if a.block_hosts.is_empty() {
        h.push_str("<li><b>Block the tracking hosts</b> at the web gateway: none of their own was seen (the trackers are on shared services; see each campaign's tracking hosts).</li>\n");
    } else {
        let _ = writeln!(
            h,
            "<li><b>Block these {} tracking host(s) at the web gateway</b>, so that further opens tell the sender nothing: <span class=\"mono\">{}</span>.</li>",
            a.block_hosts.len(),
            a.block_hosts.iter().map(|x| escape(x)).collect::<Vec<_>>().join(", ")
        );
    }
    let _ = writeln!(
        h,
        "<li><b>Purge the {} lure message(s)</b> from the mailboxes (search by message id):<pre class=\"ids\">{}</pre></li>",
        a.purge_message_ids.len(),
        escape(&a.purge_message_ids.join("\n"))
    );
    h.push_str("</ol></section>\n");
}

fn level(l: &str) -> String {
    format!("<span class=\"level level-{0}\">{0}</span>", escape(l))
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        return "—".to_owned();
    }
    items.iter().map(|x| escape(x)).collect::<Vec<_>>().join("<br>")
}

fn campaigns(h: &mut String, r: &Report) {
    if r.campaigns.is_empty() {
        return;
    }
    h.push_str("<section id=\"campaigns\"><h2>Campaigns</h2>\n");
    table(
        h,
        &[
            "Campaign",
            "Level",
            "First seen",
            "Last seen",
            "#Messages",
            "#People reached",
            "#Devices fetched",
        ],
        r.campaigns.iter().map(|c| {
            vec![
                format!("<a href=\"#{0}\">{0}</a> {1}", escape(&c.id), escape(&c.name)),
                level(&c.level),
                when(c.first_seen),
                when(c.last_seen),
                c.messages.to_string(),
                c.targets.len().to_string(),
                c.people_fetched.to_string(),
            ]
        }),
    );
    for c in &r.campaigns {
        campaign(h, c);
    }
    h.push_str("</section>\n");
}

fn campaign(h: &mut String, c: &Campaign) {
    let _ = write!(
        h,
        "<article class=\"campaign\" id=\"{}\"><h3>{} — {} {}</h3><dl class=\"facts\">",
        escape(&c.id),
        escape(&c.id),
        escape(&c.name),
        level(&c.level)
    );
    let groups: Vec<String> = c
        .targets_by_group
        .iter()
        .map(|g| format!("{}: {} reached, {} fetched", g.group, g.reached, g.fetched))
        .collect();
    let rules: Vec<String> = c
        .rules
        .iter()
        .map(|r| format!("{} ({}, {} alert(s))", r.title, r.level, r.alerts))
        .collect();
    let mut facts = vec![
        ("Seen", format!("{} to {}", when(c.first_seen), when(c.last_seen))),
        ("Senders", list(&c.senders)),
        ("Personas", list(&c.personas)),
        ("Sending domains", list(&c.sender_domains)),
        ("Lure subjects", list(&c.subjects)),
        (
            "Tracking hosts",
            format!("<span class=\"mono url\">{}</span>", list(&c.tracking_hosts)),
        ),
        (
            "Messages",
            format!("{} to {} watch-listed people", c.messages, c.targets.len()),
        ),
        ("Targets by group", list(&groups)),
        (
            "Tracker fetches",
            format!("{} by the devices of {} people", c.fetches, c.people_fetched),
        ),
    ];
    if !c.unlisted_recipients.is_empty() {
        facts.push(("Also addressed (not on the watchlist)", list(&c.unlisted_recipients)));
    }
    if c.set_aside > 0 {
        facts.push((
            "Set aside",
            format!(
                "{} fetch(es) by recipients after this mail, of hosts another sender mails: more likely that sender's tracker, left out",
                c.set_aside
            ),
        ));
    }
    facts.push(("Rules", list(&rules)));
    for (k, v) in facts {
        let _ = write!(h, "<dt>{k}</dt><dd>{v}</dd>");
    }
    h.push_str("</dl>\n");
    h.push_str(&svg::timeline(
        &c.timeline,
        &format!("{}: messages and tracker fetches over time", c.id),
    ));
    h.push_str("</article>\n");
}

fn evidence_link(e: &EvidenceRef) -> String {
    let place = match (&e.file, e.offset) {
        (Some(f), Some(o)) => format!("{f} @{o}"),
        (Some(f), None) => f.clone(),
        _ => "evidence".to_owned(),
    };
    format!("<a href=\"#ev-{}\" class=\"mono\">{}</a>", e.id, escape(&place))
}

fn person_name(p: &Exposure) -> String {
    match &p.name {
        Some(n) => format!(
            "<b>{}</b><br><span class=\"mono\">{}</span>",
            escape(n),
            escape(&p.email)
        ),
        None => format!("<span class=\"mono\">{}</span>", escape(&p.email)),
    }
}

fn people(h: &mut String, r: &Report) {
    if r.people.is_empty() {
        return;
    }
    h.push_str("<section id=\"people\"><h2>People</h2>\n<p class=\"note\">Everyone a campaign's mail reached, and everyone whose device fetched a campaign's tracker; those whose device fetched one first. Each line links to the log line it rests on.</p>\n");
    let rows = r.people.iter().map(|p| {
        let mails: Vec<String> = p
            .messages
            .iter()
            .map(|m| {
                let ev = m.evidence.first().map(evidence_link).unwrap_or_default();
                format!(
                    "{} <a href=\"#{c}\">{c}</a> “{}”{} {}",
                    when(m.time),
                    escape(m.subject.as_deref().unwrap_or("(no subject logged)")),
                    if m.outcome == "rejected" { " <i>(rejected)</i>" } else { "" },
                    ev,
                    c = escape(&m.campaign)
                )
            })
            .collect();
        let fetches: Vec<String> = p
            .fetches
            .iter()
            .map(|f| {
                let what = match f.kind {
                    "open" => "opened (pixel)",
                    "click" => "clicked the link",
                    "asset" => "loaded an image or page of the campaign's site",
                    _ => "contacted the tracking host",
                };
                let ua = f.user_agent.as_deref().map_or("user agent not logged".to_owned(), |_| f.device.summary());
                let mut s = format!(
                    "<span class=\"yes\">{}</span> {} <a href=\"#{c}\">{c}</a>: from <span class=\"mono\">{}</span>, proxy user <span class=\"mono\">{}</span>, {}, via {} {}",
                    what,
                    when(f.time),
                    escape(f.source_ip.as_deref().unwrap_or("—")),
                    escape(f.user.as_deref().unwrap_or("—")),
                    escape(&ua),
                    escape(f.evidence.dataset.as_deref().unwrap_or("the web log")),
                    evidence_link(&f.evidence),
                    c = escape(&f.campaign)
                );
                if let Some(o) = &f.device_of {
                    let _ = write!(s, " (device of {})", escape(o));
                }
                if f.join == "person" {
                    s.push_str(" <i>(joined on the person only)</i>");
                }
                s
            })
            .collect();
        vec![
            person_name(p),
            escape(p.group.as_deref().unwrap_or("—")),
            if mails.is_empty() { "—".to_owned() } else { mails.join("<br>") },
            if fetches.is_empty() { "no".to_owned() } else { fetches.join("<br>") },
        ]
    });
    table(
        h,
        &[
            "Person",
            "Group",
            "Campaign mail received",
            "Device fetched the tracker",
        ],
        rows,
    );
    h.push_str("</section>\n");
}

fn evidence(h: &mut String, r: &Report) {
    let mut all: Vec<&EvidenceRef> = r
        .people
        .iter()
        .flat_map(|p| {
            p.messages
                .iter()
                .flat_map(|m| m.evidence.iter())
                .chain(p.fetches.iter().map(|f| &f.evidence))
        })
        .collect();
    all.sort_by_key(|e| e.id);
    all.dedup_by_key(|e| e.id);
    if all.is_empty() {
        return;
    }
    h.push_str("<section id=\"evidence\"><h2>Evidence</h2>\n<p class=\"note\">The log lines as the gateways wrote them (a mail message's lines together), with the file and the byte offset of the first line in the decompressed file.</p>\n");
    for e in all {
        let place = match (&e.file, e.offset) {
            (Some(f), Some(o)) => format!("{f}, offset {o}"),
            (Some(f), None) => f.clone(),
            _ => "(no file logged)".to_owned(),
        };
        let _ = writeln!(
            h,
            "<div class=\"evidence-item\" id=\"ev-{}\"><p class=\"mono\">[{}] {} ({})</p><pre>{}</pre></div>",
            e.id,
            e.id,
            escape(&place),
            escape(e.dataset.as_deref().unwrap_or("unknown log")),
            escape(e.original.as_deref().unwrap_or("(the alert carried no log text)"))
        );
    }
    h.push_str("</section>\n");
}

fn input(h: &mut String, r: &Report) {
    let i = &r.input;
    h.push_str("<section id=\"input\"><h2>What was read</h2>\n");
    table(
        h,
        &["Input", "#Lines", "#Alerts", "#Skipped", "Problem"],
        i.inputs.iter().map(|x| {
            vec![
                format!("<span class=\"mono\">{}</span>", escape(&x.name)),
                x.lines.to_string(),
                x.alerts.to_string(),
                x.skipped.to_string(),
                escape(x.error.as_deref().unwrap_or("")),
            ]
        }),
    );
    let _ = writeln!(
        h,
        "<p class=\"note\">{} alert(s) read; {} of them named nothing of a campaign (tracking as newsletters do it, at low level) and are not in this report. {} line(s) skipped.</p>",
        i.alerts, i.alerts_unused, i.skipped_lines
    );
    if !i.skipped.is_empty() {
        h.push_str("<pre>");
        for s in &i.skipped {
            h.push_str(&escape(&format!("{}: {}\n", s.at, s.reason)));
        }
        if i.skipped_lines > i.skipped.len() as u64 {
            h.push_str(&escape(&format!(
                "… and {} more\n",
                i.skipped_lines - i.skipped.len() as u64
            )));
        }
        h.push_str("</pre>\n");
    }
    h.push_str("</section>\n");
}

/// Percent-encodes everything but unreserved characters (for a `data:` URI).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved() {
        assert_eq!(percent_encode("a,b \"c\"\n"), "a%2Cb%20%22c%22%0A");
    }
}
