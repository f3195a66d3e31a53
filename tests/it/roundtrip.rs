//! Library round trips with the tiny fixture model: arbitrary bytes, edge cases, thread counts
//! and batch layouts, concatenated frames, and the engine against the candle reference.

use std::path::Path;

use crate::common::tiny_model as tiny;
use proptest::prelude::*;
use s2s2s::engine::Kernel;
use s2s2s::LatentSearch as Search;
use s2s2s::{compress, decompress, Model, NeuralUse, Options, PreparedModel};
use s2s2s::{CmParams, CmRevision, NetArith, Profile};

const PROFILES: [Profile; 5] = [Profile::Mixed, Profile::Neural, Profile::Adaptive, Profile::Cm, Profile::Hybrid];

/// (Context mixing: three lanes, more than the threads, sharing what they learn, two streams
/// each with the network (a lane of one is pinned by the golden files), and a small table that
/// fills; the network in int8, as the levels run it.)
fn opts(threads: usize, neural_block: usize, streams: usize) -> Options {
    let cm = CmParams { table_bits: 12, lanes: 3, streams: 2, share: true, revision: CmRevision::LATEST, arith: NetArith::Int8 };
    Options { threads, neural_block, streams_per_thread: streams, max_block: 4096, neural: NeuralUse::Always, cm, ..Options::default() }
}

fn with(profile: Profile, o: Options) -> Options {
    Options { profile, ..o }
}

fn pack(codec: &PreparedModel, data: &[u8], o: &Options) -> Vec<u8> {
    let mut out = Vec::new();
    compress(Some(codec), &mut &data[..], &mut out, o, &|_| {}).unwrap();
    out
}

fn unpack(codec: &PreparedModel, packed: &[u8], threads: usize) -> Vec<u8> {
    let mut out = Vec::new();
    decompress(codec, &mut &packed[..], Some(&mut out), threads, &|_| {}).unwrap();
    out
}

fn text(n: usize) -> Vec<u8> {
    let base = "It was the best of times, it was the worst of times; <page> 'quoted' \u{e9}t\u{e9} \n";
    base.as_bytes().iter().cycle().take(n).copied().collect()
}

#[test]
fn edge_cases_round_trip() {
    let c = tiny();
    let all: Vec<u8> = (0..=255u8).collect();
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        b"a".to_vec(),
        all.clone(),
        all.repeat(40),
        b"\xff\xfe\x00invalid \xc3( utf8 \xe2\x82".to_vec(),
        text(9000),
        [text(3000), all.repeat(20), text(3000)].concat(),
        // Windows text (coded with LF endings by the context-mixing profiles), mixed with Unix text
        [b"a short line\r\n".repeat(300), b"unix\n".repeat(100), b"back\r\n".repeat(200), b"\r\r\n\r".to_vec()].concat(),
    ];
    for data in cases {
        for p in PROFILES {
            let packed = pack(c, &data, &with(p, opts(2, 700, 3)));
            assert_eq!(unpack(c, &packed, 2), data, "len {}, {p:?}", data.len());
        }
    }
}

#[test]
fn output_is_independent_of_threads_and_batch_layout() {
    let c = tiny();
    let data = [text(20_000), (0..=255u8).collect(), text(5_000)].concat();
    for p in PROFILES {
        let reference = pack(c, &data, &with(p, opts(1, 1000, 1)));
        for (t, s) in [(2, 1), (1, 7), (2, 32), (3, 2)] {
            assert_eq!(pack(c, &data, &with(p, opts(t, 1000, s))), reference, "threads {t}, streams {s}, {p:?}");
        }
        assert_eq!(unpack(c, &reference, 1), data);
        assert_eq!(unpack(c, &reference, 2), data);
    }
}

#[test]
fn a_lane_split_over_threads_codes_what_one_thread_codes() {
    // one lane of 3 or 4 streams: its streams run in groups, one thread each, taking turns at the
    // lane; blocks of unequal token counts end at different steps, and the last group of
    // blocks fills fewer streams
    let c = tiny();
    let data = [text(7_000), b"short lines\n".repeat(400), text(9_000), (0..=255u8).collect()].concat();
    for streams in [3, 4] {
        let cm = CmParams { lanes: 1, streams, ..opts(1, 1000, 1).cm };
        let o = |threads| Options { cm, ..with(Profile::Hybrid, opts(threads, 900, 1)) };
        let reference = pack(c, &data, &o(1));
        for t in [2, 3, 4] {
            assert_eq!(pack(c, &data, &o(t)), reference, "{streams} streams, {t} threads");
            assert_eq!(unpack(c, &reference, t), data, "{streams} streams, {t} threads");
        }
        // a damaged payload fails on every thread count, whichever group meets the damage
        let mut bad = reference.clone();
        let at = bad.len() / 2;
        bad[at] ^= 0x5a;
        for t in [1, 2, 4] {
            let mut out = Vec::new();
            let result = decompress(c, &mut &bad[..], Some(&mut out), t, &|_| {});
            assert!(result.is_err() || out != data, "{streams} streams, {t} threads");
        }
    }
}

#[test]
fn latent_searches_are_independent_of_threads_and_round_trip() {
    // the tiny model fine-tuned with a latent policy by `s2s2s train model` (tests/train.rs's recipe)
    let c = PreparedModel::new(Model::load(Path::new("tests/data/tiny-latent")).unwrap()).unwrap();
    assert!(c.policy().is_some());
    let data = [text(6_000), (0..=255u8).collect(), text(2_000)].concat();
    for latent in [Search::Heuristic, Search::Policy] {
        let o = Options { latent, ..opts(1, 1000, 1) };
        let mut reference = Vec::new();
        let stats = s2s2s::compress(Some(&c), &mut &data[..], &mut reference, &o, &|_| {}).unwrap();
        assert!(stats.segments > 0 && stats.latent_segments <= stats.segments);
        for (t, s) in [(2, 1), (2, 32), (3, 2)] {
            assert_eq!(pack(&c, &data, &Options { threads: t, streams_per_thread: s, ..o.clone() }), reference, "{latent:?} threads {t}");
        }
        assert_eq!(unpack(&c, &reference, 2), data, "{latent:?}");
    }
}

#[test]
fn blocks_beyond_64_kib_round_trip_on_any_thread_count() {
    let c = tiny();
    let data = [text(140_000), (0..=255u8).collect(), text(20_000)].concat();
    for p in [Profile::Mixed, Profile::Adaptive, Profile::Cm, Profile::Hybrid] {
        let o = Options { max_block: 1 << 20, ..with(p, opts(1, 100_000, 4)) };
        let reference = pack(c, &data, &o);
        assert_eq!(pack(c, &data, &Options { threads: 2, streams_per_thread: 1, ..o.clone() }), reference, "{p:?}");
        assert_eq!(unpack(c, &reference, 2), data, "{p:?}");
    }
}

#[test]
fn output_is_independent_of_the_kernel() {
    let model = Model::load(Path::new("tests/data/tiny")).unwrap();
    let data = text(3000);
    let mut outputs = Vec::new();
    for k in Kernel::available() {
        let codec = PreparedModel::with_kernel(Model::load(Path::new("tests/data/tiny")).unwrap(), k).unwrap();
        let hybrid = with(Profile::Hybrid, opts(1, 1000, 4));
        let f32 = Options { cm: CmParams { arith: NetArith::F32, ..hybrid.cm }, ..hybrid.clone() };
        outputs.push((k, [with(Profile::Mixed, opts(1, 1000, 4)), hybrid, f32].map(|o| pack(&codec, &data, &o))));
    }
    for (k, o) in &outputs {
        assert_eq!(o, &outputs[0].1, "{k:?} differs from {:?}", outputs[0].0);
    }
    drop(model);
}

#[test]
fn concatenated_frames_decompress_to_concatenated_inputs() {
    let c = tiny();
    let (a, b) = (text(2500), b"second frame \x00\x01".to_vec());
    let packed = [pack(c, &a, &opts(1, 800, 4)), pack(c, &b, &opts(1, 800, 4)), pack(c, b"", &opts(1, 800, 4))].concat();
    assert_eq!(unpack(c, &packed, 2), [a, b].concat());
}

#[test]
fn engine_matches_the_candle_reference() {
    let model = Model::load(Path::new("tests/data/tiny")).unwrap();
    let engine = s2s2s::engine::Engine::new(&model.weights, Kernel::detect(), NetArith::F32);
    let t5 = s2s2s::model::reference::T5::new(&model.weights, &candle_core::Device::Cpu).unwrap();
    let ctx: Vec<u32> = (0..10).map(|i| i * 29 % 320).collect();
    let latent = [7u32, 300];
    let seg: Vec<u32> = (0..12).map(|i| i * 17 % 320).collect();
    let reference = t5.decode(&t5.encode(&ctx, &latent).unwrap(), &seg).unwrap().to_vec2::<f32>().unwrap();
    let mut states = engine.begin_segments(&[(&ctx, &latent)]);
    let mut logits = Vec::new();
    let mut input = model.config().bos_id();
    for (pos, &tok) in seg.iter().enumerate() {
        let mut refs: Vec<_> = states.iter_mut().collect();
        engine.step(&mut refs, &[input], &mut logits);
        for (a, b) in logits.iter().zip(&reference[pos]) {
            assert!((a - b).abs() < 1e-4, "position {pos}: {a} vs {b}");
        }
        input = tok;
    }
}

/// CRLF lines with rare bare LFs (alone and in runs: rare enough that most blocks of 300 bytes or
/// more are transformed), lone CRs, CR CR LF.
fn line_part() -> impl Strategy<Value = &'static [u8]> {
    prop_oneof![
        200 => Just(&b"ab\r\n"[..]),
        1 => Just(&b"\n"[..]),
        1 => Just(&b"x\n\n\n\n\n\n"[..]),
        4 => Just(&b"\r"[..]),
        4 => Just(&b"\r\r\n"[..]),
        4 => Just(&b" "[..]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_round_trip(data in proptest::collection::vec(any::<u8>(), 0..3000), block in 64usize..2000, threads in 1usize..3) {
        let c = tiny();
        let profile = PROFILES[block % PROFILES.len()];
        let packed = pack(c, &data, &with(profile, opts(threads, block, 3)));
        prop_assert_eq!(unpack(c, &packed, 3 - threads), data);
    }

    #[test]
    fn line_endings_of_any_mix_round_trip(parts in proptest::collection::vec(line_part(), 0..1500), block in 64usize..2000) {
        let data = parts.concat();
        let c = tiny();
        let profile = [Profile::Cm, Profile::Hybrid][block % 2];
        let packed = pack(c, &data, &with(profile, opts(2, block, 3)));
        prop_assert_eq!(unpack(c, &packed, 1), data);
    }

    #[test]
    fn arbitrary_text_round_trips(s in "\\PC{0,800}") {
        let c = tiny();
        let packed = pack(c, s.as_bytes(), &opts(1, 300, 2));
        prop_assert_eq!(unpack(c, &packed, 1), s.as_bytes());
    }
}

#[test]
fn incompressible_data_grows_by_less_than_a_tenth_of_a_percent_plus_64_bytes() {
    let c = tiny();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let data: Vec<u8> = (0..300_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    for len in [1, 100, 5000, data.len()] {
        let packed = pack(c, &data[..len], &Options::default());
        assert!(packed.len() <= len + len / 1000 + 64, "{len} bytes grew to {}", packed.len());
        assert_eq!(unpack(c, &packed, 2), &data[..len]);
    }
}

/// The PyTorch trainer (`train/`) and the engine define the same network: a tiny network made
/// and scored by `train/make_fixture.py` (f16-exact weights, f32 logits) must give the engine
/// the same logits, within the fixture's stated tolerance (f32 rounding of two summation
/// orders; real mismatches, a wrong bucket, mask or scale, move logits by 0.01 or more).
#[test]
fn engine_matches_the_pytorch_trainer() {
    let dir = Path::new("tests/data/torch-fixture");
    let model = Model::load(dir).unwrap();
    let expected: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let tolerance = expected["tolerance"].as_f64().unwrap() as f32;
    let ids = |v: &serde_json::Value| -> Vec<u32> { v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect() };
    let cases = expected["cases"].as_array().unwrap();
    assert!(cases.len() >= 3);
    for k in Kernel::available() {
        let engine = s2s2s::engine::Engine::new(&model.weights, k, NetArith::F32);
        for case in cases {
            let (context, latent, segment) = (ids(&case["context"]), ids(&case["latent"]), ids(&case["segment"]));
            let mut states = engine.begin_segments(&[(&context, &latent)]);
            let inputs = model.config().decoder_input(&segment);
            let mut logits = Vec::new();
            for (t, want) in case["logits"].as_array().unwrap().iter().enumerate() {
                engine.step(&mut states.iter_mut().collect::<Vec<_>>(), &[inputs[t]], &mut logits);
                let want: Vec<f32> = want.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
                assert_eq!(want.len(), logits.len());
                let worst = logits.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                assert!(worst <= tolerance, "{} with {}: position {t} differs by {worst}", case["name"], k.name());
            }
        }
    }
}

#[test]
fn an_input_of_at_most_half_a_group_goes_on_one_lane_with_all_the_streams() {
    // (3 lanes x 2 streams of 1000-byte blocks: a group is 6000 bytes)
    let c = tiny();
    let o = with(Profile::Hybrid, opts(2, 1000, 4));
    for (len, lanes, streams) in [(0, 1, 6), (3000, 1, 6), (3001, 3, 2)] {
        let data = text(len);
        let packed = pack(c, &data, &o);
        let cm = s2s2s::format::read_frame_header(&mut &packed[..]).unwrap().unwrap().cm.unwrap();
        assert_eq!((cm.lanes, cm.streams, cm.table_bits), (lanes, streams, 12), "{len} bytes");
        assert_eq!(unpack(c, &packed, 2), data);
    }
}

#[test]
fn hybrid_groups_keep_context_mixing_alone_where_it_is_smaller() {
    // `Auto`: each group of a hybrid frame is coded with the network and, on a copy of its lane,
    // without; the smaller is kept and its lane goes on, as the decompressor's lane does (and
    // where the network loses by far, it sits out the lane's next groups: the table spans many)
    let c = tiny();
    let table: Vec<u8> = (0..3000u32).flat_map(|i| format!("{i},{},{:.4}\n", i * 7 % 13, f64::from(i) / 7.0).into_bytes()).collect();
    let data = [text(6_000), table, text(6_000), (0..=255u8).collect()].concat();
    let auto = Options { neural: NeuralUse::Auto, ..with(Profile::Hybrid, opts(2, 1000, 1)) };
    let mut packed = Vec::new();
    let stats = compress(Some(c), &mut &data[..], &mut packed, &auto, &|_| {}).unwrap();
    assert!(stats.groups_without_network > 0, "the network never sat out");
    let always = pack(c, &data, &Options { neural: NeuralUse::Always, ..auto.clone() });
    let info = s2s2s::inspect(&mut &packed[..]).unwrap();
    assert!(
        info.cm_blocks > 0 && packed.len() < always.len(),
        "{} cm blocks, {} bytes, {} with the network",
        info.cm_blocks,
        packed.len(),
        always.len()
    );
    for t in [1, 2, 3] {
        assert_eq!(pack(c, &data, &Options { threads: t, ..auto.clone() }), packed, "{t} threads");
        assert_eq!(unpack(c, &packed, t), data, "{t} threads");
    }
}
