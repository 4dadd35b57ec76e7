//! The report as Markdown (for a ticket) and the people to notify as CSV.

use std::fmt::Write as _;

use super::Report;
use super::html::when;

/// A CSV field, quoted when it holds a comma, quote or line break; a leading `= + - @` is
/// prefixed with `'` so a spreadsheet does not run it as a formula (the text is the sender's).
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// The people to notify: `email,name,group,campaigns,fetched,first_fetch,fetches,messages`,
/// those whose device fetched a tracker first.
pub fn notify_csv(r: &Report) -> String {
    let mut out = String::from("email,name,group,campaigns,fetched,first_fetch,fetches,messages\n");
    for p in r.people.iter().filter(|p| r.actions.notify.contains(&p.email)) {
        let first = p.fetches.iter().filter_map(|f| f.time).min();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{}",
            csv_field(&p.email),
            csv_field(p.name.as_deref().unwrap_or("")),
            csv_field(p.group.as_deref().unwrap_or("")),
            csv_field(&p.campaigns.join(" ")),
            if p.fetched { "yes" } else { "no" },
            first.map_or_else(String::new, |t| t.to_string()),
            p.fetches.len(),
            p.messages.len()
        );
    }
    out
}

/// Markdown table cell: pipes and line breaks would end the cell or row; backticks and
/// brackets would format.
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            '`' | '[' | ']' | '<' | '>' | '*' | '_' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// The report in Markdown.
pub fn markdown(r: &Report) -> String {
    let s = &r.summary;
    let mut m = String::new();
    m.push_str("# Tracking-campaign exposure report\n\n**Confidential: names people.**\n\n");
    let _ = writeln!(
        m,
        "Activity from {} to {}, from {} alert(s).\n",
        when(s.first_seen),
        when(s.last_seen),
        r.input.alerts
    );
    m.push_str("## Summary\n\n");
    if r.input.alerts == 0 {
        m.push_str("No alerts were read: there is nothing to report.\n\n");
    } else if r.campaigns.is_empty() {
        let _ = writeln!(m, "No campaign found in {} alert(s).\n", r.input.alerts);
    } else {
        let _ = writeln!(
            m,
            "{} campaign(s), {} message(s), reached {} watch-listed people; the devices of {} fetched a tracker.\n",
            s.campaigns, s.messages, s.people_reached, s.people_fetched
        );
        m.push_str("| group | people reached | device fetched a tracker |\n|---|---:|---:|\n");
        for g in &s.by_group {
            let _ = writeln!(m, "| {} | {} | {} |", cell(&g.group), g.reached, g.fetched);
        }
        m.push('\n');
    }
    if r.input.skipped_lines > 0 {
        let _ = writeln!(
            m,
            "**Incomplete:** {} input line(s) were not readable alerts and were skipped.\n",
            r.input.skipped_lines
        );
    }
    if !r.campaigns.is_empty() {
        let a = &r.actions;
        m.push_str("## What to do\n\n");
        let _ = writeln!(
            m,
            "1. Notify the {} people under *People* (those whose device fetched a tracker first).",
            a.notify.len()
        );
        let _ = writeln!(
            m,
            "2. Block at the web gateway: {}.",
            if a.block_hosts.is_empty() {
                "no tracking host of the campaigns' own".to_owned()
            } else {
                a.block_hosts
                    .iter()
                    .map(|h| format!("`{}`", h.replace('`', "")))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
        let _ = writeln!(
            m,
            "3. Purge the {} lure message(s) by message id:\n",
            a.purge_message_ids.len()
        );
        m.push_str("```\n");
        for id in &a.purge_message_ids {
            let _ = writeln!(m, "{}", id.replace('`', ""));
        }
        m.push_str("```\n\n## Campaigns\n\n");
        m.push_str("| id | campaign | level | first seen | last seen | messages | people reached | devices fetched | senders | subjects | tracking hosts |\n|---|---|---|---|---|---:|---:|---:|---|---|---|\n");
        for c in &r.campaigns {
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                c.id,
                cell(&c.name),
                c.level,
                when(c.first_seen),
                when(c.last_seen),
                c.messages,
                c.targets.len(),
                c.people_fetched,
                cell(&c.senders.join(", ")),
                cell(&c.subjects.join(" / ")),
                cell(&c.tracking_hosts.join(", "))
            );
        }
        m.push_str("\n## People\n\n| person | group | campaigns | mail received | device fetched the tracker |\n|---|---|---|---:|---|\n");
        for p in &r.people {
            let fetches: Vec<String> = p
                .fetches
                .iter()
                .map(|f| {
                    format!(
                        "{} {} from {} ({}; {})",
                        f.kind,
                        when(f.time),
                        f.source_ip.as_deref().unwrap_or("-"),
                        f.device.summary(),
                        f.evidence.file.as_deref().map_or(String::new(), |file| format!(
                            "{file} @{}",
                            f.evidence.offset.unwrap_or(0)
                        ))
                    )
                })
                .collect();
            let who = match &p.name {
                Some(n) => format!("{n} <{}>", p.email),
                None => p.email.clone(),
            };
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} | {} |",
                cell(&who),
                cell(p.group.as_deref().unwrap_or("-")),
                p.campaigns.join(" "),
                p.messages.len(),
                if fetches.is_empty() {
                    "no".to_owned()
                } else {
                    cell(&fetches.join("; "))
                }
            );
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("plain"), "plain");
    }

    #[test]
    fn markdown_cells_cannot_break_the_table() {
        assert_eq!(cell("a|b\n<c>"), "a\\|b \\<c\\>");
    }
}
