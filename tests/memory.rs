//! Memory stays bounded whatever the input size: a generated stream far larger than any buffer
//! is compressed and decompressed while the process's peak resident memory is watched.
//! (Alone in its test binary, so no other test shares the process.)

use std::io::Read;
use std::path::Path;

use s2s2s::{compress, decompress, CmParams, Model, Options, PreparedModel, Profile};

fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
}

/// Mostly zeros and counters (like a sparse disk image), with a paragraph of text now and then.
struct Generated {
    left: u64,
    pos: u64,
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize;
        for b in &mut buf[..n] {
            let p = self.pos;
            *b = match p % (8 << 20) {
                q if q < 2000 => b"a paragraph of text between the zeros. "[(q % 39) as usize],
                q if q % 4096 < 8 => (p >> 12) as u8,
                _ => 0,
            };
            self.pos += 1;
        }
        self.left -= n as u64;
        Ok(n)
    }
}

struct Counter(u64);

impl std::io::Write for Counter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_large_stream_is_coded_in_bounded_memory() {
    let codec = PreparedModel::new(Model::load(Path::new("tests/data/tiny")).unwrap()).unwrap();
    let size = 512u64 << 20;
    let before = peak_rss_mib();
    let mut packed = Vec::new();
    let opts = Options { threads: 2, ..Options::default() };
    let stats = compress(&codec, &mut Generated { left: size, pos: 0 }, &mut packed, &opts, &|_| {}).unwrap();
    assert_eq!(stats.input_bytes, size);
    let mut out = Counter(0);
    decompress(&codec, &mut &packed[..], Some(&mut out), 2, &|_| {}).unwrap();
    assert_eq!(out.0, size);
    let peak = peak_rss_mib();
    // The buffers are a few MiB per batch; the input alone would be 512 MiB.
    assert!(peak < before + 128, "peak {peak} MiB (was {before} MiB before)");
    eprintln!("{size} bytes -> {} bytes, peak RSS {peak} MiB", packed.len());

    // Context mixing (level 1's tables and lanes): fixed tables per lane, one block per lane
    // in flight. Slower per byte, so a smaller stream: still three batches.
    let size = 6u64 << 20;
    let before = peak_rss_mib();
    let mut packed = Vec::new();
    let opts = Options { threads: 2, profile: Profile::Cm, cm: CmParams { table_bits: 22, lanes: 2, streams: 1 }, ..Options::default() };
    compress(&codec, &mut Generated { left: size, pos: 0 }, &mut packed, &opts, &|_| {}).unwrap();
    let mut out = Counter(0);
    decompress(&codec, &mut &packed[..], Some(&mut out), 2, &|_| {}).unwrap();
    assert_eq!(out.0, size);
    let peak = peak_rss_mib();
    // the two lanes' tables (178 MiB) and the blocks in flight
    let tables = opts.cm.memory() >> 20;
    assert!(peak < before + tables + 64, "context mixing: peak {peak} MiB (was {before} MiB before)");
    eprintln!("context mixing: {size} bytes -> {} bytes, peak RSS {peak} MiB", packed.len());

    // The network within context mixing (level 6's tables, lanes and streams): the lanes' groups
    // of 16 blocks are what is in flight, whatever the input size.
    let size = 4u64 << 20;
    let before = peak_rss_mib();
    let mut packed = Vec::new();
    let opts =
        Options { threads: 2, profile: Profile::Hybrid, cm: CmParams { table_bits: 22, lanes: 2, streams: 8 }, ..Options::default() };
    compress(&codec, &mut Generated { left: size, pos: 0 }, &mut packed, &opts, &|_| {}).unwrap();
    let mut out = Counter(0);
    decompress(&codec, &mut &packed[..], Some(&mut out), 2, &|_| {}).unwrap();
    assert_eq!(out.0, size);
    let peak = peak_rss_mib();
    let tables = opts.cm.memory() >> 20;
    assert!(peak < before + tables + 64, "hybrid: peak {peak} MiB (was {before} MiB before)");
    eprintln!("hybrid: {size} bytes -> {} bytes, peak RSS {peak} MiB", packed.len());
}
