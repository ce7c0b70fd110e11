//! The UI drawn with ratatui's TestBackend, asserting on the text of the screen: windows
//! recorded from a real pktvisord (`fixtures/cli/`, see its README), a pktvisor 4.5-shaped
//! window made from the reference's JSON shapes, and a netprobe window made from §5.9.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pktvisor::cli::app::App;
use pktvisor::cli::ui::render_lines;
use serde_json::Value;

use crate::cli_fixture::{FixtureApi, app_after_polls, fixture, resources_policy, screen};

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

fn u(v: &Value, ptr: &str) -> u64 {
    v.pointer(ptr)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{ptr} missing"))
}

/// The text of the table row starting with `name` (up to the table's right border).
fn cell<'a>(lines: &'a [String], name: &str) -> Option<&'a str> {
    let start = format!("│{name} ");
    lines.iter().find_map(|l| {
        let at = l.find(&start)? + '│'.len_utf8();
        let rest = &l[at..];
        Some(&rest[..rest.find('│').unwrap_or(rest.len())])
    })
}

fn assert_cell(lines: &[String], name: &str, value: &str) {
    let c = cell(lines, name).unwrap_or_else(|| panic!("no '{name}' on\n{}", screen(lines)));
    assert!(
        c.trim_end().ends_with(value),
        "'{name}' shows '{c}', want '{value}'\n{}",
        screen(lines)
    );
}

fn has(lines: &[String], text: &str) -> bool {
    lines.iter().any(|l| l.contains(text))
}

fn assert_has(lines: &[String], text: &str) {
    assert!(
        has(lines, text),
        "'{text}' not on the screen:\n{}",
        screen(lines)
    );
}

fn share(part: u64, base: f64) -> String {
    format!("{part} ({:4.1}%)", part as f64 * 100.0 / base)
}

#[test]
fn cli_recorded_default_policy_shows_pktvisors_header_and_tables() {
    let api = FixtureApi::recorded();
    let app = app_after_polls(&api, "default", 1);
    let lines = render_lines(&app, 120, 40);
    let v = json("default-window-5.json");
    let net = &v["default"]["default-default-net"]["packets"];
    let dns = &v["default"]["default-default-dns"]["dns"];
    let server = json("app.json")["app"]["version"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        lines[0].contains(&format!(
            "pktvisor-cli (client: {} | server: {server}) Policy: default",
            env!("CARGO_PKG_VERSION")
        )),
        "{}",
        lines[0]
    );
    // The six lines, in pktvisor's order, with the recorded numbers.
    let total = u(net, "/total");
    let dns_total = u(dns, "/wire_packets/total");
    let starts = [
        format!("Pkts  {total} | UDP {} (", u(net, "/udp")),
        format!("Pkt Rates Total {}/s", u(net, "/rates/pps_total/live")),
        "DHCP Wire Pkts ".to_string(),
        format!(
            "DNS Wire Pkts {dns_total}/{} | Rates Total {}/s",
            u(dns, "/wire_packets/events"),
            u(dns, "/rates/total/live")
        ),
        format!("DNS Xacts {} | Timed Out", u(dns, "/xact/counts/total")),
        format!("DNS NOERROR {} (", u(dns, "/wire_packets/noerror")),
    ];
    let mut row = 0;
    for s in &starts {
        let found = lines[row..]
            .iter()
            .position(|l| l.contains(s.as_str()))
            .unwrap_or_else(|| panic!("'{s}' missing or out of order:\n{}", screen(&lines)));
        row += found + 1;
    }
    assert!(total > 0 && dns_total > 0, "the recording has traffic");
    assert_has(
        &lines,
        &format!("Query {} (", u(dns, "/wire_packets/queries")),
    );
    assert_has(
        &lines,
        &format!("Qname Card. {}", u(dns, "/cardinality/qname")),
    );
    // pktvisor's fourteen tables, all on a 120x40 screen.
    for t in [
        "Top QName 2",
        "Top QName 3",
        "Top NX",
        "Slow In",
        "Top QTypes",
        "Top RCodes",
        "Top SRVFAILS",
        "Slow Out",
        "Top REFUSED",
        "IPv4",
        "IPv6",
        "Top DNS UDP Ports",
        "Top GeoLoc",
        "Top ASN",
    ] {
        assert_has(&lines, &format!("┌{t}─"));
    }
    // Shares: DNS tables against wire packets scaled by the packet deep-sample ratio.
    let ratio = u(net, "/deep_samples") as f64 / total as f64;
    let top = &dns["top_qname2"][0];
    let name = top["name"].as_str().unwrap();
    assert_cell(
        &lines,
        name,
        &share(
            top["estimate"].as_u64().unwrap(),
            (dns_total as f64 * ratio).floor(),
        ),
    );
    let top4 = &net["top_ipv4"][0];
    assert_cell(
        &lines,
        top4["name"].as_str().unwrap(),
        &share(
            top4["estimate"].as_u64().unwrap(),
            u(net, "/deep_samples") as f64,
        ),
    );
    assert_has(&lines, "● live · window 5m");
}

#[test]
fn cli_pktvisor_45_window_shows_the_fields_pktvisors_cli_shows() {
    // fixtures/cli/pktvisor45-window-5.json: hand-made from the reference's JSON shapes (§6.1's
    // dns example verbatim, packets/dhcp/pcap per §5.3/§5.5/§5.6); the numbers below are its
    // own, formatted as pktvisor's Go CLI formats them.
    let mut api = FixtureApi::recorded();
    api.route(
        "/api/v1/policies/default/metrics/window/5",
        200,
        fixture("pktvisor45-window-5.json"),
    );
    let app = app_after_polls(&api, "default", 1);
    let lines = render_lines(&app, 240, 60);
    for line in [
        "Pkts  1500 | UDP 900 (60.0%) | TCP 560 (37.3%) | Other 40 (2.7%) | IPv4 1380 (92.0%) | IPv6 120 (8.0%) | In 700 (51.9%) | Out 650 (48.1%) | Deep Samples 1500 (100.0%)",
        "Pkt Rates Total 48/s 45/60/62/70 pps | In 25/s 22/30/31/35 pps | Out 23/s 21/28/29/33 pps | IP Card. In: 42 | Out: 37 | TCP Errors 2 | OS Drops 12 | IF Drops 3",
        "DHCP Wire Pkts 8/8 | Rates Total 0/s 0/1/1/2 | Discover 2 | Offer 2 | Request 2 | Ack 2",
        "DNS Wire Pkts 1200/1200 | Rates Total 12/s 10/40/40/41 | UDP 720 (60.0%) | TCP 480 (40.0%) | IPv4 1200 (100.0%) | IPv6 0 (0.0%) | Query 603 (50.2%) | Response 597 (49.8%)",
        "DNS Xacts 597 | Timed Out 0 | In 0 (0.0%) | Out 597 (100.0%) | In 0.0/0.0/0.0/0.0 ms | Out 28.4/39.1/61.0/298.1 ms | Qname Card. 310",
        "DNS NOERROR 597 (100.0%) | SRVFAIL 0 (0.0%) | NXDOMAIN 0 (0.0%) | REFUSED 0 (0.0%) | Time Window 4:10PM to 4:11PM, Period 31s",
    ] {
        assert_has(&lines, line);
    }
    for (name, value) in [
        (".test.com", "1200 (100.0%)"),
        ("AAAA", "301 (25.1%)"),
        ("NOERROR", "597 (100.0%)"),
        ("53124", "41 ( 3.4%)"),
        ("192.0.2.53", "820 (54.7%)"),
        ("198.51.100.99", "40"),
        ("2001:db8::53", "100 ( 6.7%)"),
        ("NA/United States", "700 (46.7%)"),
        ("16509/AMAZON-02", "640 (42.7%)"),
    ] {
        assert_cell(&lines, name, value);
    }
}

#[test]
fn cli_fits_80x24_and_scrolls_to_the_other_tables() {
    let api = FixtureApi::recorded();
    let mut app = app_after_polls(&api, "default", 1);
    let lines = render_lines(&app, 80, 24);
    assert_eq!(lines.len(), 24);
    for s in [
        "Policy: default",
        "Pkts  ",
        "Pkt Rates Total",
        "DHCP Wire Pkts",
        "DNS Wire Pkts",
        "DNS Xacts",
        "DNS NOERROR",
        "1 pktvisor",
        "┌Top QName 2",
        "tables 1-4 of 14",
        "q quit",
    ] {
        assert_has(&lines, s);
    }
    assert!(!has(&lines, "Top ASN"));
    for _ in 0..10 {
        app.on_key(key(KeyCode::Down));
    }
    let lines = render_lines(&app, 80, 24);
    assert_has(&lines, "┌Top ASN");
    assert_has(&lines, "of 14");
    assert!(!has(&lines, "Top QName 2"), "{}", screen(&lines));
}

#[test]
fn cli_uses_the_room_of_a_large_terminal() {
    let api = FixtureApi::recorded();
    let app = app_after_polls(&api, "default", 1);
    let lines = render_lines(&app, 200, 60);
    // pktvisor's lines unwrapped, every table, ten rows of the top QName 2, sparklines.
    let dns = &json("default-window-5.json")["default"]["default-default-dns"]["dns"];
    let names: Vec<&str> = dns["top_qname2"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 10, "the recording has a full top 10");
    for n in &names {
        assert!(
            cell(&lines, n).is_some(),
            "'{n}' missing:\n{}",
            screen(&lines)
        );
    }
    assert_has(&lines, "┌Top ASN");
    assert_has(&lines, "Packets/s now ");
    assert_has(&lines, "DNS queries/s now ");
    assert!(!has(&lines, "scroll"));
}

#[test]
fn cli_dns_v2_and_net_v2_pages_show_each_direction() {
    let api = FixtureApi::recorded();
    let mut app = app_after_polls(&api, "v2", 1);
    let v = json("v2-window-3.json");
    let dns = &v["v2"]["v2-default-dns"]["dns"];
    let net = &v["v2"]["v2-default-net"]["net"];
    app.on_key(key(KeyCode::Char('2')));
    let lines = render_lines(&app, 120, 40);
    assert_has(&lines, "2 DNS v2");
    assert_has(
        &lines,
        &format!("DNS v2 Observed Pkts {}", u(dns, "/observed_packets")),
    );
    for dir in ["in", "out", "unknown"] {
        if let Some(d) = dns.get(dir) {
            assert_has(&lines, &format!("Xacts {} |", u(d, "/xacts")));
        }
    }
    let first_in = &dns["in"]["top_qname2_xacts"][0];
    assert!(cell(&lines, first_in["name"].as_str().unwrap()).is_some());
    assert_has(&lines, "┌in (host is server)");

    app.on_key(key(KeyCode::Tab));
    let lines = render_lines(&app, 120, 40);
    for dir in ["in", "out", "unknown"] {
        let d = net
            .get(dir)
            .unwrap_or_else(|| panic!("the recording has {dir}"));
        assert_has(&lines, &format!("┌{dir}─"));
        assert_has(&lines, &format!("Pkts {} |", u(d, "/total_packets")));
    }
    assert_has(&lines, "┌Top IPv4");
    // The v1 page of a v2-only policy says where to look.
    app.on_key(key(KeyCode::Char('1')));
    assert_has(&render_lines(&app, 120, 40), "has no v1 net or dns handler");
}

#[test]
fn cli_flow_page_shows_interfaces_and_top_talkers() {
    let api = FixtureApi::recorded();
    let mut app = app_after_polls(&api, "flows", 1);
    app.on_key(key(KeyCode::Char('4')));
    let lines = render_lines(&app, 120, 40);
    let v = json("flows-window-5.json");
    let devices = v["flows"]["flows-netflow-flow"]["flow"]["devices"]
        .as_object()
        .unwrap();
    let (dev, d) = devices.iter().next().unwrap();
    assert_has(&lines, &format!("Records {}", u(d, "/records_flows")));
    assert_has(&lines, dev);
    // The top talker is the source with the most bytes over every interface.
    let mut talkers: Vec<(String, u64)> = Vec::new();
    for i in d["interfaces"].as_object().unwrap().values() {
        for t in i["top_in_src_ips_bytes"].as_array().unwrap() {
            let name = t["name"].as_str().unwrap().to_string();
            let e = t["estimate"].as_u64().unwrap();
            match talkers.iter_mut().find(|x| x.0 == name) {
                Some(x) => x.1 += e,
                None => talkers.push((name, e)),
            }
        }
    }
    talkers.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let in_bytes: u64 = d["interfaces"]
        .as_object()
        .unwrap()
        .values()
        .map(|i| i["in_bytes"].as_u64().unwrap())
        .sum();
    assert_cell(&lines, &talkers[0].0, &share(talkers[0].1, in_bytes as f64));
    for t in [
        "┌Interfaces",
        "┌Top Talkers (bytes)",
        "┌Top Conversations (bytes)",
        "┌Top Dst Ports",
    ] {
        assert_has(&lines, t);
    }
}

#[test]
fn cli_netprobe_page_shows_each_target() {
    // fixtures/cli/netprobe-window-5.json is hand-made from the reference's §5.9 JSON shape
    // (`netprobe.targets.<name>`): the agent has no netprobe input yet.
    let mut api = FixtureApi::recorded();
    api.route(
        "/api/v1/policies/probes/metrics/window/5",
        200,
        fixture("netprobe-window-5.json"),
    );
    let mut app = app_after_polls(&api, "probes", 1);
    app.on_key(key(KeyCode::Char('5')));
    let lines = render_lines(&app, 120, 30);
    let row = |name: &str| -> Vec<String> {
        let l = lines
            .iter()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no row {name}:\n{}", screen(&lines)));
        l.trim_matches('│')
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    // Target, attempts, successes, loss, timeouts, connect/DNS failures, min/p50/p90/p99/max ms.
    assert_eq!(
        row("anycast_dns"),
        [
            "anycast_dns",
            "272",
            "272",
            "0.0%",
            "0",
            "0",
            "0",
            "8.2",
            "20.0",
            "20.0",
            "50.0",
            "41.9"
        ]
    );
    assert_eq!(row("lossy_link")[3], "15.1%");
    assert_eq!(row("lossy_link")[4], "41");
    assert_eq!(&row("portal_tcp")[3..6], ["100.0%", "0", "136"]);
    assert_eq!(row("typo_name")[6], "27");
    assert_has(&lines, "Netprobe Targets 4 | Attempts 707");
}

#[test]
fn cli_resources_page_shows_the_policys_input_stream() {
    let api = FixtureApi::recorded();
    let mut app = app_after_polls(&api, "default", 1);
    app.on_key(key(KeyCode::Char('6')));
    let lines = render_lines(&app, 100, 30);
    let rp = resources_policy();
    let v = json("resources-window-5.json");
    let r = &v[&rp][&rp]["input_resources"];
    assert_has(&lines, &format!("Input stream of {rp}"));
    assert_has(&lines, &format!("Events          {}", u(r, "/total")));
    assert_has(
        &lines,
        &format!("Handlers        {}", u(r, "/handler_count")),
    );
    assert_has(&lines, "CPU ");
    assert_has(&lines, "Memory ");
}

#[test]
fn cli_help_and_policy_list_overlays() {
    let api = FixtureApi::recorded();
    let mut app: App = app_after_polls(&api, "default", 1);
    app.on_key(key(KeyCode::Char('?')));
    let lines = render_lines(&app, 80, 24);
    for k in ["┌Keys", "q, Ctrl-C", "p, space", "←, →", "Tab, 1-6"] {
        assert_has(&lines, k);
    }
    app.on_key(key(KeyCode::Esc));
    assert!(!has(&render_lines(&app, 80, 24), "┌Keys"));
    app.on_key(key(KeyCode::Char('l')));
    let lines = render_lines(&app, 80, 24);
    assert_has(&lines, "┌Policies");
    for p in ["● default", "  flows", "  v2"] {
        assert_has(&lines, p);
    }
}

#[test]
fn cli_never_panics_at_any_size_or_on_odd_json() {
    let mut api = FixtureApi::recorded();
    api.route(
        "/api/v1/policies/probes/metrics/window/5",
        200,
        fixture("netprobe-window-5.json"),
    );
    // Extreme and mistyped values where numbers are expected.
    let max = u64::MAX;
    api.route(
        "/api/v1/policies/odd/metrics/window/5",
        200,
        format!(
            r#"{{"odd": {{
              "a": {{"packets": {{"total": {max}, "in": {max}, "out": {max}, "udp": "x",
                     "period": {{"start_ts": 9223372036854775807, "length": 9223372036854775807}},
                     "top_ipv4": [{{"name": "a", "estimate": {max}}}, 7, {{"name": null}}],
                     "rates": {{"pps_total": {{"live": -5, "p50": 1e300}}}}}}}},
              "b": {{"dns": {{"wire_packets": {{"total": {max}, "replies": 0}}, "top_qname2": "oops"}}}},
              "c": {{"flow": {{"devices": {{"d": {{"interfaces": {{
                     "1": {{"in_bytes": {max}, "out_bytes": {max}, "top_in_src_ips_bytes": [{{"name": "x", "estimate": {max}}}]}},
                     "2": {{"in_bytes": {max}, "top_in_src_ips_bytes": [{{"name": "x", "estimate": {max}}}]}}}}}}}}}}}},
              "d": "not an object",
              "e": {{"netprobe": {{"targets": {{"t": {{"attempts": 0, "response_histogram_us": {{"buckets": {{"x": "y", "+Inf": 0}}}}}}}}}}}},
              "f": {{"net": {{"unknown": {{"total_packets": {max}}}, "observed_packets": 0}}}},
              "g": {{"input_resources": {{"memory_bytes": {{"p50": -1}}}}}}
            }}}}"#
        ),
    );
    let sizes = [
        (1, 1),
        (2, 2),
        (10, 3),
        (20, 5),
        (30, 8),
        (40, 12),
        (80, 24),
        (120, 40),
        (250, 90),
    ];
    let mut screens = 0;
    for policy in ["default", "v2", "flows", "probes", "odd", "nope"] {
        let base = app_after_polls(&api, policy, 2);
        for page in '1'..='6' {
            for overlay in [None, Some('?'), Some('l')] {
                let mut app = base.clone();
                app.on_key(key(KeyCode::Char(page)));
                if let Some(c) = overlay {
                    app.on_key(key(KeyCode::Char(c)));
                }
                for (w, h) in sizes {
                    let lines = render_lines(&app, w, h);
                    assert_eq!(lines.len(), h as usize);
                    assert!(lines.iter().all(|l| l.chars().count() == w as usize));
                    screens += 1;
                }
            }
        }
    }
    assert_eq!(screens, 6 * 6 * 3 * sizes.len());
}
