//! A user agent as a reader wants it: the device, the browser or mail client, the operating
//! system. Table-driven and small: the common clients only; anything else is `unknown` (the
//! raw string stays in the evidence). Never panics, never allocates more than the summary.

/// What a user agent says, in words.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Agent {
    /// `iPhone`, `iPad`, `Android phone`, `Android tablet`, `computer`, or `unknown`.
    pub device: &'static str,
    /// `Outlook`, `Edge`, `Chrome`, `Firefox`, `Safari`, `Apple Mail`, ... or `unknown`.
    pub client: &'static str,
    /// `iOS`, `Android`, `Windows`, `macOS`, `Linux`, `Chrome OS`, or `unknown`.
    pub os: &'static str,
}

impl Agent {
    /// One line: `iPhone, Apple Mail, iOS`; `unknown` alone when nothing was recognised.
    pub fn summary(&self) -> String {
        if self.device == UNKNOWN && self.client == UNKNOWN && self.os == UNKNOWN {
            return UNKNOWN.to_owned();
        }
        format!("{}, {}, {}", self.device, self.client, self.os)
    }
}

pub const UNKNOWN: &str = "unknown";

/// Clients, most specific first: the first whose needle the agent holds wins (Edge and Opera
/// agents also say Chrome and Safari; Chrome's also says Safari).
const CLIENTS: &[(&str, &str)] = &[
    ("Microsoft Outlook", "Outlook"),
    ("Microsoft Office", "Outlook"),
    ("Outlook-iOS", "Outlook"),
    ("Outlook-Android", "Outlook"),
    ("Thunderbird", "Thunderbird"),
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("Edge/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("; wv)", "Android app (web view)"),
    ("Chrome/", "Chrome"),
    ("Version/", "Safari"),
    ("Trident/", "Internet Explorer"),
];

/// Operating systems, most specific first.
const SYSTEMS: &[(&str, &str)] = &[
    ("iPhone", "iOS"),
    ("iPad", "iOS"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("CrOS", "Chrome OS"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
];

/// Parses a user agent.
pub fn parse(ua: &str) -> Agent {
    let find = |table: &[(&str, &'static str)]| {
        table
            .iter()
            .find(|(needle, _)| ua.contains(needle))
            .map_or(UNKNOWN, |(_, name)| *name)
    };
    let os = find(SYSTEMS);
    let mut client = find(CLIENTS);
    // An Apple mail client's image fetch names no browser: WebKit without `Version/`.
    if client == UNKNOWN && matches!(os, "iOS" | "macOS") && ua.contains("AppleWebKit") {
        client = "Apple Mail";
    }
    let device = if ua.contains("iPhone") {
        "iPhone"
    } else if ua.contains("iPad") {
        "iPad"
    } else if os == "Android" {
        if ua.contains("Mobile") {
            "Android phone"
        } else {
            "Android tablet"
        }
    } else if matches!(os, "Windows" | "macOS" | "Linux" | "Chrome OS") {
        "computer"
    } else {
        UNKNOWN
    };
    Agent { device, client, os }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_agents_are_named() {
        let cases = [
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 14_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
                "iPhone, Apple Mail, iOS",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/87.0.4280.88 Safari/537.36 Edg/87.0.664.66",
                "computer, Edge, Windows",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/87.0.4280.88 Safari/537.36",
                "computer, Chrome, Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/14.0.2 Safari/605.1.15",
                "computer, Safari, macOS",
            ),
            (
                "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:84.0) Gecko/20100101 Firefox/84.0",
                "computer, Firefox, Linux",
            ),
            (
                "Mozilla/5.0 (Linux; Android 11; SM-G991B Build/RP1A.200720.012; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/87.0.4280.141 Mobile Safari/537.36",
                "Android phone, Android app (web view), Android",
            ),
            (
                "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.13530; Pro)",
                "computer, Outlook, Windows",
            ),
            (
                "Mozilla/5.0 (iPad; CPU OS 14_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/14.0 Mobile/15E148 Safari/604.1",
                "iPad, Safari, iOS",
            ),
            ("curl/7.74.0", "unknown"),
            ("", "unknown"),
        ];
        for (ua, want) in cases {
            assert_eq!(parse(ua).summary(), want, "{ua}");
        }
    }
}
