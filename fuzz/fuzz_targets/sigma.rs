#![no_main]
//! Fuzzes the Sigma loader and engine: any bytes as a rule file must load or be rejected with a
//! reason, never panic; what loads must compile and run on events without panicking.

use std::borrow::Cow;

use reconwatch::event::{Dataset, Event};
use reconwatch::rules::Engine;
use reconwatch::rules::load::Loaded;
use reconwatch::rules::sigma::Placeholders;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut placeholders = Placeholders::new();
    placeholders.insert("vips".into(), vec!["a@b.example".into(), "*x?".into()]);
    let mut loaded = Loaded::default();
    loaded.add_text("fuzz.yml", text, &placeholders);
    for p in &loaded.problems {
        assert!(!p.reason.is_empty(), "a problem without a reason: {p:?}");
    }
    let Ok(engine) = Engine::new(loaded.rules) else { return };
    let mut web = Event::new(Dataset::SquidAccess);
    web.url.original = Some(Cow::Borrowed("https://a.example/p.gif?id=abc\u{e9}def&x=1"));
    web.url.path = Some(Cow::Borrowed("/p.gif"));
    web.url.query = Some(Cow::Borrowed("id=abcdef&x=1"));
    web.http.request.method = Some(Cow::Borrowed("GET"));
    web.http.response.status_code = Some(200);
    web.source.ip = "10.1.2.3".parse().ok();
    web.timestamp = "2021-01-11T08:41:01Z".parse().ok();
    web.event.original = Some(Cow::Borrowed("1610356086.534 169 10.1.2.3 TCP_MISS/200 GET https://a.example/p.gif"));
    let mut mail = Event::new(Dataset::PostfixLog);
    mail.email.to.address.push(Cow::Borrowed("a@b.example"));
    mail.email.from.address = Some(Cow::Borrowed("x@news.example"));
    let mut scratch = engine.scratch();
    for ev in [&web, &mail] {
        let mut out = Vec::new();
        engine.matches(ev, &mut scratch, &mut out);
        for r in out {
            let _ = engine.explain(r, ev, &mut scratch);
        }
    }
});
