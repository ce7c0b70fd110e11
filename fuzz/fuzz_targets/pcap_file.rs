//! Fuzz target: any bytes as a capture file through the file reader (pcap and pcapng in
//! both byte orders, plain or gzip-compressed, every block type, truncated anywhere), read
//! to its end or first error, every record's frame through the decoder. Nothing may panic,
//! hang or grow memory past the RSS limit (gzip bombs, huge snap lengths and block lengths).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pktvisor::decode::Decoder;
use pktvisor::receiver::pcap_file::PcapFileReader;

fuzz_target!(|data: &[u8]| {
    let src = Box::new(std::io::Cursor::new(data.to_vec()));
    let Ok(mut r) = PcapFileReader::from_reader(src, Some(data.len() as u64), "fuzz") else {
        return;
    };
    let mut dec = Decoder::new();
    for _ in 0..100_000 {
        match r.next_record() {
            Ok(Some(rec)) => {
                let _ = dec.decode(rec.linktype, rec.ts, rec.data, rec.origlen);
            }
            Ok(None) | Err(_) => break,
        }
    }
    let _ = (r.truncated(), r.packets_read(), r.bytes_read(), r.is_gzip());
});
