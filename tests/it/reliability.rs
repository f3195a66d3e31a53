//! Trust: golden files of every format version, single-bit flips, hostile headers, and the
//! library's bounds. (The CLI's file safety is in `tests/cli_safety.rs`.)

use std::path::{Path, PathBuf};

use crate::common::tiny_model as tiny;
use s2s2s::format::{self as container, CmParams, CmRevision, EndRecord, FormatError, FrameHeader, NetArith};
use s2s2s::Profile;
use s2s2s::{compress, decompress, Error, NeuralUse, Options};

const GOLDEN: &str = "tests/golden";
const ORIGINALS: [&str; 4] = ["text.txt", "binary.bin", "empty", "mixed.bin"];
/// Windows text (with a run of LF lines, lone CRs, CR CR LF), for the sets whose frames carry
/// transform records (version 7).
const CRLF: &str = "crlf.txt";

/// Golden sets: directory, format version and numeric profile. The sets the current build
/// still writes (version 2 for neural blocks up to 64 KiB, 3 beyond, 13 for the context-mixing
/// profiles; 9-12 where a test's settings ask for them) are pinned bit for bit; the others
/// (version 1, and 4-8: the context-mixing profiles before transform records, on lanes of one
/// stream (5) and of several (6), then before and with shared lanes (7, 8)) must still decode.
const SETS: [(&str, u8, Profile); 21] = [
    ("v1", 1, Profile::Neural),
    ("v2", 2, Profile::Neural),
    ("v2-mixed", 2, Profile::Mixed),
    ("v2-adaptive", 2, Profile::Adaptive),
    ("v3-mixed", 3, Profile::Mixed),
    ("v4-cm", 4, Profile::Cm),
    ("v5-hybrid", 5, Profile::Hybrid),
    ("v6-hybrid-streams", 6, Profile::Hybrid),
    ("v7-cm", 7, Profile::Cm),
    ("v7-hybrid-streams", 7, Profile::Hybrid),
    ("v8-cm", 8, Profile::Cm),
    ("v8-hybrid-streams", 8, Profile::Hybrid),
    ("v9-cm", 9, Profile::Cm),
    ("v9-hybrid-streams", 9, Profile::Hybrid),
    ("v10-hybrid-streams", 10, Profile::Hybrid),
    ("v11-cm", 11, Profile::Cm),
    ("v11-hybrid-streams", 11, Profile::Hybrid),
    ("v12-cm", 12, Profile::Cm),
    ("v12-hybrid-streams", 12, Profile::Hybrid),
    ("v13-cm", 13, Profile::Cm),
    ("v13-hybrid-streams", 13, Profile::Hybrid),
];

fn current_sets() -> impl Iterator<Item = (&'static str, u8, Profile)> {
    SETS.into_iter().filter(|&(_, v, p)| {
        let o = golden_options(v, p);
        container::version_for(p, o.neural_block, o.cm) == v
    })
}

/// The originals of a set's golden files (but "concatenated").
fn originals(version: u8) -> Vec<&'static str> {
    let mut names = ORIGINALS.to_vec();
    if container::has_transforms(version) {
        names.push(CRLF);
    }
    names
}

/// The settings the current build's golden files were made with: every block the model can
/// take goes through it, several blocks per file (version 2), or blocks beyond version 2's
/// bound (version 3).
/// Context-mixing sets use a small table (64 KiB per lane) and small blocks, so that both
/// lanes carry statistics over several blocks.
fn golden_options(version: u8, profile: Profile) -> Options {
    let (neural_block, max_block) = if version == 3 { (100_000, 200_000) } else { (2048, 4096) };
    let revision = match version {
        13.. => CmRevision::Fifth,
        12 => CmRevision::Fourth,
        11 => CmRevision::Third,
        9..=10 => CmRevision::Second,
        _ => CmRevision::First,
    };
    let arith = if version >= 10 { NetArith::Int8 } else { NetArith::F32 };
    let cm = CmParams { table_bits: 12, lanes: 2, streams: if version >= 6 { 3 } else { 1 }, share: version >= 8, revision, arith };
    Options { threads: 1, neural_block, max_block, streams_per_thread: 4, neural: NeuralUse::Always, profile, cm, ..Options::default() }
}

fn original(name: &str) -> Vec<u8> {
    if name == "concatenated" {
        return ["text.txt", "binary.bin", "empty"].iter().flat_map(|n| original(n)).collect();
    }
    std::fs::read(Path::new(GOLDEN).join(name)).unwrap()
}

fn golden_path(set: &str, name: &str) -> PathBuf {
    Path::new(GOLDEN).join(set).join(format!("{name}.s2s"))
}

fn pack(data: &[u8], o: &Options) -> Vec<u8> {
    let mut out = Vec::new();
    compress(Some(tiny()), &mut &data[..], &mut out, o, &|_| {}).unwrap();
    out
}

fn unpack(packed: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    decompress(tiny(), &mut &packed[..], Some(&mut out), 2, &|_| {})?;
    Ok(out)
}

fn current_golden(version: u8, profile: Profile) -> Vec<(String, Vec<u8>)> {
    let o = golden_options(version, profile);
    let mut files: Vec<(String, Vec<u8>)> = originals(version).iter().map(|n| (n.to_string(), pack(&original(n), &o))).collect();
    let cat = ["text.txt", "binary.bin", "empty"].iter().flat_map(|n| pack(&original(n), &o)).collect();
    files.push(("concatenated".into(), cat));
    files
}

/// Writes the current version's golden files: run once per format version or new profile, then
/// commit them (files of earlier profiles must come out unchanged).
#[test]
#[ignore]
fn regenerate_golden_files() {
    for (set, version, profile) in current_sets() {
        std::fs::create_dir_all(Path::new(GOLDEN).join(set)).unwrap();
        for (name, packed) in current_golden(version, profile) {
            std::fs::write(golden_path(set, &name), packed).unwrap();
        }
    }
}

#[test]
fn golden_files_of_every_version_and_profile_decompress_exactly() {
    for (set, version, profile) in SETS {
        for name in originals(version).into_iter().chain(["concatenated"]) {
            let packed = std::fs::read(golden_path(set, name)).unwrap();
            assert_eq!((packed[4], packed[5]), (version, profile as u8), "{set} {name}");
            assert_eq!(unpack(&packed).unwrap(), original(name), "{set} {name}");
        }
    }
}

#[test]
fn current_version_reproduces_its_golden_files_bit_for_bit() {
    // Pins the coded bits: any change to the model arithmetic, the mixer, the quantisation or the
    // coder shows.
    for (set, version, profile) in current_sets() {
        for (name, packed) in current_golden(version, profile) {
            let golden = std::fs::read(golden_path(set, &name)).unwrap();
            assert!(golden == packed, "{set}/{name}: the encoder no longer produces the committed bits");
        }
        let info = s2s2s::inspect(&mut &std::fs::read(golden_path(set, "mixed.bin")).unwrap()[..]).unwrap();
        // (version 3's files hold one block each: its large blocks are exercised in roundtrip.rs)
        let modelled = info.neural_blocks + info.cm_blocks;
        assert!(modelled >= if version == 3 { 1 } else { 3 }, "the golden files must exercise the model");
        if container::has_transforms(version) {
            assert!(transformed_blocks(&std::fs::read(golden_path(set, CRLF)).unwrap()) >= 2, "{set}: CRLF text is transformed");
        }
        // (mixed.bin spans several groups, so its lanes absorb each other's blocks: its later
        // blocks are not coded as by lanes that do not share)
        let o = golden_options(version, profile);
        if o.cm.share && profile.uses_cm() {
            let alone = pack(&original("mixed.bin"), &Options { cm: CmParams { share: false, ..o.cm }, ..o });
            let shared = std::fs::read(golden_path(set, "mixed.bin")).unwrap();
            assert!(payloads(&alone) != payloads(&shared), "{set}: the lanes share what they learn");
        }
    }
}

/// The payloads of `packed`'s blocks.
fn payloads(packed: &[u8]) -> Vec<Vec<u8>> {
    let items = container::FrameReader::new(packed).map(Result::unwrap);
    items.filter_map(|item| if let container::Item::Block(_, p) = item { Some(p) } else { None }).collect()
}

/// Coded blocks of `packed` (one frame of version 7) whose transform record is not empty.
fn transformed_blocks(packed: &[u8]) -> usize {
    let items = container::FrameReader::new(packed).map(Result::unwrap);
    items
        .filter_map(|item| match item {
            container::Item::Block(h, p) if matches!(h.method, container::Method::Cm | container::Method::Neural) => Some((h, p)),
            _ => None,
        })
        .filter(|(h, p)| s2s2s::transform::LineEndings::read(p, h.orig_len).unwrap().0.is_some())
        .count()
}

#[test]
fn unknown_versions_and_profiles_are_refused_by_name() {
    let mut packed = std::fs::read(golden_path("v2", "text.txt")).unwrap();
    packed[4] = container::VERSION + 1;
    let e = unpack(&packed).unwrap_err().to_string();
    assert!(e.contains("unsupported format version"), "{e}");
    packed[4] = 2;
    packed[5] = Profile::LATEST + 1;
    let e = unpack(&packed).unwrap_err().to_string();
    assert!(e.contains("unsupported numeric profile"), "{e}");
}

#[test]
fn every_single_bit_flip_is_detected() {
    // Two frames: zstd or stored blocks, then neural ones (last, so that most flips are found
    // before any model work and the test stays fast).
    let data = [original("binary.bin"), original("mixed.bin")[..3000].to_vec()].concat();
    let opts = Options { neural_block: 1000, ..golden_options(2, Profile::Mixed) };
    let split = data.len() - 3000;
    let packed = [pack(&data[..split], &Options { neural: NeuralUse::Auto, ..opts.clone() }), pack(&data[split..], &opts)].concat();
    let info = s2s2s::inspect(&mut &packed[..]).unwrap();
    assert!(info.neural_blocks >= 3 && info.zstd_blocks + info.stored_blocks >= 1 && info.frames == 2);
    assert!(unpack(&packed).unwrap() == data);
    let mut missed = Vec::new();
    for bit in 0..packed.len() * 8 {
        let mut v = packed.clone();
        v[bit / 8] ^= 1 << (bit % 8);
        if unpack(&v).is_ok() {
            missed.push(bit);
        }
    }
    assert!(missed.is_empty(), "{} of {} flips undetected: {missed:?}", missed.len(), packed.len() * 8);
    eprintln!("all {} single-bit flips of a {}-byte file detected", packed.len() * 8, packed.len());
}

fn frame_header(block_size: u32) -> Vec<u8> {
    frame_header_v(3, block_size)
}

fn frame_header_v(version: u8, block_size: u32) -> Vec<u8> {
    let mut v = Vec::new();
    let h = FrameHeader { version, profile: Profile::Mixed, model_id: tiny().id().0, block_size, cm: None };
    container::write_frame_header(&mut v, &h).unwrap();
    v
}

#[test]
fn hostile_lengths_fail_fast_without_allocating_them() {
    // A frame that claims 1 TB of content but holds none.
    let mut v = frame_header(container::MAX_BLOCK_SIZE);
    container::write_end(&mut v, &EndRecord { total_len: 1 << 40, crc: 0 }).unwrap();
    assert!(matches!(unpack(&v), Err(Error::Format(FormatError::FrameLength { .. }))));
    // A block claiming the largest payload, followed by 10 bytes: truncated, not a 32 MiB buffer.
    let mut v = frame_header(container::MAX_BLOCK_SIZE);
    let h = container::BlockHeader {
        method: container::Method::Zstd,
        orig_len: container::MAX_BLOCK_SIZE,
        payload_len: container::max_payload(container::MAX_BLOCK_SIZE),
        crc: 0,
        tokens: 0,
        mismatches: 0,
        latent_tokens: 0,
    };
    container::write_block(&mut v, &h, &[0; 10]).unwrap();
    let e = unpack(&v).unwrap_err();
    assert!(matches!(e, Error::Format(FormatError::Truncated { .. } | FormatError::Checksum { .. })), "{e}");
    // Frame headers with out-of-range block sizes.
    for size in [0, container::MAX_BLOCK_SIZE + 1, u32::MAX] {
        let mut v = frame_header(1);
        v[22..26].copy_from_slice(&size.to_le_bytes());
        let crc = crc32fast::hash(&v[..26]);
        v[26..30].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(unpack(&v), Err(Error::Format(FormatError::BlockSize { .. }))), "block size {size}");
    }
}

#[test]
fn neural_blocks_beyond_the_format_bound_are_refused() {
    // version 3 allows 1 MiB; versions 1 and 2 allowed 64 KiB
    for (version, bound) in [(3, container::MAX_NEURAL_BLOCK), (2, 1 << 16)] {
        let mut v = frame_header_v(version, container::MAX_BLOCK_SIZE);
        let h = container::BlockHeader {
            method: container::Method::Neural,
            orig_len: bound + 1,
            payload_len: 4,
            crc: 0,
            tokens: bound + 1,
            mismatches: 0,
            latent_tokens: 0,
        };
        container::write_block(&mut v, &h, &[0; 4]).unwrap();
        assert!(matches!(unpack(&v), Err(Error::Format(FormatError::NeuralBlock { .. }))), "version {version}");
    }
}

#[test]
fn oversized_options_still_make_readable_files() {
    let data = original("mixed.bin");
    let o = Options { neural_block: 1 << 30, max_block: 3000, ..golden_options(2, Profile::Mixed) };
    assert!(unpack(&pack(&data, &o)).unwrap() == data);
}

#[test]
fn context_mixing_alone_needs_no_model_and_the_network_profiles_ask_for_one_before_any_output() {
    let text = b"some text, some text";
    let mut alone = Vec::new();
    compress(None, &mut &text[..], &mut alone, &Options { profile: Profile::Cm, ..Options::default() }, &|_| {}).unwrap();
    assert!(unpack(&alone).unwrap() == text);
    for profile in [Profile::Hybrid, Profile::Mixed] {
        let mut out = Vec::new();
        let e = compress(None, &mut &text[..], &mut out, &Options { profile, ..Options::default() }, &|_| {}).unwrap_err();
        assert!(matches!(e, Error::Model(s2s2s::model::ModelError::Needed(_))), "{e}");
        assert!(out.is_empty());
    }
}

#[test]
fn context_mixing_parameters_out_of_range_are_refused_before_any_output() {
    let bad =
        [CmParams { table_bits: 30, ..Options::default().cm }, CmParams { table_bits: 16, lanes: 0, share: true, ..Options::default().cm }];
    for cm in bad {
        let mut out = Vec::new();
        let o = Options { profile: Profile::Cm, cm, ..Options::default() };
        let e = compress(Some(tiny()), &mut &b"some text"[..], &mut out, &o, &|_| {}).unwrap_err();
        assert!(matches!(e, Error::Format(FormatError::CmParams { .. })), "{e}");
        assert!(out.is_empty());
    }
}
