//! NetFlow v1/v5/v7 and v9/IPFIX datagrams into flow records, with the template cache.
//!
//! Sets are handled in datagram order, so a template and data using it may share a
//! datagram. Options data records are not flows: their sampling fields set the domain's
//! sampling rate, which flow records without their own sampling field inherit (after a
//! v5 header's interval). Data whose template is unknown is counted (`no_template`) and
//! the rest of the datagram is still used; a malformed set ends the datagram there.

use std::net::IpAddr;

use super::{FlowDecoder, FlowDropReason};
use crate::event::FlowProtocol;
use crate::time::Timespec;
use crate::wire::netflow::{self, SetKind, data, fixed::FixedDatagram, template};

type Decoded = (IpAddr, FlowProtocol, Option<Timespec>);

fn export_time(secs: u32, nsecs: u32) -> Option<Timespec> {
    (secs != 0 || nsecs != 0).then(|| Timespec::new(i64::from(secs), nsecs.min(999_999_999)))
}

pub(super) fn decode(
    d: &mut FlowDecoder,
    exporter: IpAddr,
    buf: &[u8],
    ts: Timespec,
) -> Option<Decoded> {
    let version = match netflow::version(buf) {
        Ok(v) => v,
        Err(e) => {
            d.drop_datagram(exporter, ts, e.into());
            return None;
        }
    };
    match version {
        1 | 5 | 7 => fixed(d, exporter, buf, ts),
        9 | 10 => templated(d, exporter, buf, ts),
        _ => {
            d.drop_datagram(exporter, ts, FlowDropReason::BadVersion);
            None
        }
    }
}

fn fixed(d: &mut FlowDecoder, exporter: IpAddr, buf: &[u8], ts: Timespec) -> Option<Decoded> {
    let dg = match FixedDatagram::new_checked(buf) {
        Ok(dg) => dg,
        Err(e) => {
            d.drop_datagram(exporter, ts, e.into());
            return None;
        }
    };
    if dg.truncated() {
        d.fail(exporter, ts, FlowDropReason::Truncated);
    }
    d.records.extend(dg.records());
    Some((
        exporter,
        FlowProtocol::Netflow(dg.version()),
        export_time(dg.unix_secs(), dg.unix_nsecs()),
    ))
}

fn templated(d: &mut FlowDecoder, exporter: IpAddr, buf: &[u8], ts: Timespec) -> Option<Decoded> {
    let (h, area) = match netflow::v9_header(buf) {
        Ok(x) => x,
        Err(e) => {
            d.drop_datagram(exporter, ts, e.into());
            return None;
        }
    };
    let ipfix = h.version == 10;
    for set in netflow::sets(area, h.version) {
        let set = match set {
            Ok(s) => s,
            Err(e) => {
                d.fail(exporter, ts, e.into());
                break;
            }
        };
        match set.kind {
            SetKind::Template | SetKind::OptionsTemplate => {
                let options = set.kind == SetKind::OptionsTemplate;
                for t in template::templates(set.body, ipfix, options) {
                    match t {
                        Ok(t) => d.templates.insert(exporter, h.domain, t, ts),
                        Err(e) => {
                            d.fail(exporter, ts, e.into());
                            break;
                        }
                    }
                }
            }
            SetKind::Data(id) => {
                let Some(t) = d.templates.get(exporter, h.domain, id, ts) else {
                    d.fail(exporter, ts, FlowDropReason::NoTemplate);
                    continue;
                };
                let inherited = d.templates.sampling(exporter, h.domain);
                let mut options = 0u64;
                for r in data::records(set.body, &t) {
                    match r {
                        Ok(r) if t.options => {
                            options += 1;
                            if r.sampling > 0 {
                                d.templates.set_sampling(exporter, h.domain, r.sampling, ts);
                            }
                        }
                        Ok(mut r) => {
                            if r.flow.sampling == 0 {
                                r.flow.sampling = inherited;
                            }
                            d.records.push(r.flow);
                        }
                        Err(e) => {
                            d.fail(exporter, ts, e.into());
                            break;
                        }
                    }
                }
                if options > 0 {
                    d.stats.exporter(exporter, ts.sec).options_records += options;
                }
            }
            SetKind::Reserved(_) => {}
        }
    }
    let export = export_time(h.export_secs, 0);
    Some((exporter, FlowProtocol::Netflow(h.version), export))
}
