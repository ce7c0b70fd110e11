//! Fuzz target: any bytes as a dnstap file through the file wrapper exactly as the reader
//! opens one (gzip detection, Frame Streams handshake, frames, STOP), every frame decoded as
//! dnstap protobuf and mapped to the event the processors see. Nothing may panic, hang or
//! grow memory past the RSS limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pktvisor::receiver::dnstap::DnstapFileReader;
use pktvisor::receiver::dnstap::DnstapEvent;
use pktvisor::receiver::dnstap::map::decode_frame;
use pktvisor::time::Timespec;

fuzz_target!(|data: &[u8]| {
    // a file in memory when the system has /dev/shm (the wrapper opens a path)
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!("pktvisor-fuzz-dnstap-{}", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let Ok(mut r) = DnstapFileReader::open(&path) else {
        return;
    };
    for _ in 0..100_000 {
        match r.next_frame() {
            Ok(Some(frame)) => {
                let len = frame.len();
                if let Ok(msg) = decode_frame(frame)
                    && let Some(m) = msg.message.as_ref()
                {
                    let _ = DnstapEvent::from_message(m, len, Timespec::new(0, 0));
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    let _ = (r.truncated(), r.bytes_read(), r.streams());
});
