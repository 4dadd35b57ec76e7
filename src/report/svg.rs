//! The report's two charts as inline SVG, drawn here (no script, no fonts or assets fetched):
//! a campaign's timeline (messages above the axis, tracker fetches below, per time bin) and the
//! targets by group (people reached, and of them those whose device fetched a tracker).

use std::fmt::Write as _;

use jiff::Timestamp;

use super::html::escape;
use super::{GroupCount, Point};

const MAIL: &str = "#3b6ea5";
const FETCH: &str = "#d0592b";
const REACHED: &str = "#b9cde3";

/// Bin widths the timeline may use, in seconds: the smallest giving at most [`MAX_BINS`].
const BIN_SECONDS: [i64; 9] = [
    300,
    900,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86_400,
    2 * 86_400,
    7 * 86_400,
];
const MAX_BINS: i64 = 60;

fn label_time(t: Timestamp, step: i64) -> String {
    if step >= 86_400 {
        t.strftime("%b %d").to_string()
    } else {
        t.strftime("%b %d %H:%M").to_string()
    }
}

/// A campaign's messages and fetches over time.
pub fn timeline(points: &[Point], title: &str) -> String {
    let (Some(first), Some(last)) = (points.iter().map(|p| p.time).min(), points.iter().map(|p| p.time).max()) else {
        return String::new();
    };
    let (start, end) = (first.as_second(), last.as_second());
    let span = (end - start).max(1);
    let bin = BIN_SECONDS
        .iter()
        .copied()
        .find(|b| span / b < MAX_BINS)
        .unwrap_or(BIN_SECONDS[BIN_SECONDS.len() - 1]);
    let start = start - start.rem_euclid(bin);
    let bins = ((end - start) / bin + 1) as usize;
    let mut mails = vec![0u32; bins];
    let mut fetches = vec![0u32; bins];
    for p in points {
        let i = (((p.time.as_second() - start) / bin) as usize).min(bins - 1);
        if p.kind == "mail" {
            mails[i] += 1;
        } else {
            fetches[i] += 1;
        }
    }
    let top = mails.iter().chain(&fetches).copied().max().unwrap_or(1).max(1);
    let (w, h, left, right) = (760.0, 200.0, 56.0, 12.0);
    let mid = 96.0;
    let half = 70.0;
    let plot = w - left - right;
    let bw = plot / bins as f64;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{label}" xmlns="http://www.w3.org/2000/svg"><title>{label}</title>"#,
        label = escape(title)
    );
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{mid}" x2="{x2}" y2="{mid}" stroke="#555" stroke-width="1"/>"##,
        x2 = w - right
    );
    for (i, (&m, &f)) in mails.iter().zip(&fetches).enumerate() {
        // Bars at most 24 wide, centred in their bin (a single bin spans the whole axis).
        let bar = (bw * 0.8).clamp(1.0, 24.0);
        let x = left + i as f64 * bw + (bw - bar) / 2.0;
        if m > 0 {
            let bh = half * f64::from(m) / f64::from(top);
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{:.1}" width="{bar:.1}" height="{bh:.1}" fill="{MAIL}"><title>{m} message(s)</title></rect>"#,
                mid - bh
            );
        }
        if f > 0 {
            let bh = half * f64::from(f) / f64::from(top);
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{mid}" width="{bar:.1}" height="{bh:.1}" fill="{FETCH}"><title>{f} tracker fetch(es)</title></rect>"#
            );
        }
    }
    // Axis labels: at most six, on bin edges.
    let every = bins.div_ceil(6).max(1);
    for i in (0..=bins).step_by(every) {
        let x = left + i as f64 * bw;
        let t = Timestamp::from_second(start + i as i64 * bin).unwrap_or(first);
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{a}" x2="{x:.1}" y2="{b}" stroke="#555"/><text x="{x:.1}" y="{ty}" font-size="11" text-anchor="middle" fill="#333">{}</text>"##,
            label_time(t, bin),
            a = mid + half + 2.0,
            b = mid + half + 6.0,
            ty = mid + half + 20.0
        );
    }
    let _ = write!(
        s,
        r##"<text x="{lx}" y="{y1}" font-size="11" text-anchor="end" fill="{MAIL}">{top} mail</text><text x="{lx}" y="{y2}" font-size="11" text-anchor="end" fill="{FETCH}">{top} fetch</text>"##,
        lx = left - 4.0,
        y1 = mid - half + 10.0,
        y2 = mid + half
    );
    let _ = write!(
        s,
        r##"<text x="{left}" y="14" font-size="12" fill="{MAIL}">■ messages delivered</text><text x="{x}" y="14" font-size="12" fill="{FETCH}">■ tracker fetched (open, click, contact)</text><text x="{r}" y="14" font-size="11" text-anchor="end" fill="#555">one bar = {}</text></svg>"##,
        bin_name(bin),
        x = left + 170.0,
        r = w - right
    );
    s
}

fn bin_name(secs: i64) -> String {
    match secs {
        s if s % 86_400 == 0 => format!("{} day(s)", s / 86_400),
        s if s % 3600 == 0 => format!("{} hour(s)", s / 3600),
        s => format!("{} minutes", s / 60),
    }
}

/// People reached and people whose device fetched a tracker, per group.
pub fn groups(rows: &[GroupCount], title: &str) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let top = rows.iter().map(|r| r.reached.max(r.fetched)).max().unwrap_or(1).max(1);
    let (w, row, left, right, head) = (760.0, 30.0, 150.0, 60.0, 26.0);
    let h = head + row * rows.len() as f64 + 8.0;
    let plot = w - left - right;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{label}" xmlns="http://www.w3.org/2000/svg"><title>{label}</title>"#,
        label = escape(title)
    );
    let _ = write!(
        s,
        r##"<text x="{left}" y="14" font-size="12" fill="#5a7ea8">■ reached by mail</text><text x="{x}" y="14" font-size="12" fill="{FETCH}">■ device fetched a tracker</text>"##,
        x = left + 150.0
    );
    for (i, r) in rows.iter().enumerate() {
        let y = head + i as f64 * row;
        let reached = plot * r.reached as f64 / top as f64;
        let fetched = plot * r.fetched as f64 / top as f64;
        let _ = write!(
            s,
            r##"<text x="{lx}" y="{ty:.1}" font-size="12" text-anchor="end" fill="#222">{name}</text><rect x="{left}" y="{y:.1}" width="{reached:.1}" height="20" fill="{REACHED}"/><rect x="{left}" y="{y2:.1}" width="{fetched:.1}" height="10" fill="{FETCH}"/><text x="{nx:.1}" y="{ty:.1}" font-size="12" fill="#222">{} / {}</text>"##,
            r.reached,
            r.fetched,
            lx = left - 8.0,
            ty = y + 15.0,
            name = escape(&r.group),
            y2 = y + 10.0,
            nx = left + reached.max(fetched) + 6.0
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_timeline_bins_mail_above_and_fetches_below() {
        let points = [
            Point {
                time: at("2021-01-11T08:41:00Z"),
                kind: "mail",
            },
            Point {
                time: at("2021-01-11T08:42:00Z"),
                kind: "mail",
            },
            Point {
                time: at("2021-01-11T12:00:00Z"),
                kind: "open",
            },
        ];
        let svg = timeline(&points, "C1 <x>");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(
            svg.contains("2 message(s)") && svg.contains("1 tracker fetch(es)"),
            "{svg}"
        );
        assert!(svg.contains("C1 &lt;x&gt;") && !svg.contains("<x>"));
        assert!(svg.contains("one bar = 5 minutes"), "{svg}");
        assert_eq!(timeline(&[], "x"), "");
    }

    #[test]
    fn one_point_gives_one_bin() {
        let svg = timeline(
            &[Point {
                time: at("2021-01-11T08:41:00Z"),
                kind: "mail",
            }],
            "t",
        );
        assert_eq!(svg.matches("<rect").count(), 1);
    }

    #[test]
    fn group_bars_name_and_count_each_group() {
        let svg = groups(
            &[
                GroupCount {
                    group: "parliamentarian".into(),
                    reached: 10,
                    fetched: 4,
                },
                GroupCount {
                    group: "staff & <family>".into(),
                    reached: 3,
                    fetched: 0,
                },
            ],
            "by group",
        );
        assert!(svg.contains(">10 / 4<") && svg.contains(">3 / 0<"), "{svg}");
        assert!(svg.contains("staff &amp; &lt;family&gt;"));
    }
}
