//! `--version`: what a bug report needs. The format versions this build reads and writes, the
//! networks it carries and the kernel the CPU runs.

use s2s2s::engine::Kernel;
use s2s2s::format::{self, Profile};
use s2s2s::level::{Overrides, LEVELS};
use s2s2s::{Builtin, NetArith};

/// The long version text (`--version`; `-V` prints the first line).
pub fn long() -> String {
    let mut out = format!("{}\n", env!("CARGO_PKG_VERSION"));
    out += &format!(
        "format: levels 1-9 write version {}; --profile and --arith f32 write {}; reads versions {}-{}\n",
        format::VERSION,
        list(&older_versions_written()),
        format::OLDEST_VERSION,
        format::VERSION
    );
    let current: Vec<String> = [(Builtin::Default, "levels 6-9"), (Builtin::Small, "levels 3-5")]
        .into_iter()
        .map(|(b, levels)| format!("{} ({levels}, {})", b.name(), parameters(b)))
        .collect();
    out += &format!("networks: {}\n", current.join(", "));
    let retired: Vec<&str> = Builtin::ALL.into_iter().filter(|b| b.is_retired()).map(Builtin::name).collect();
    out += &match Builtin::Default1.is_built_in() {
        true => format!("retired networks, built in for their files: {}\n", retired.join(", ")),
        false => {
            format!("retired networks, left out ({}): their files need a build with --features retired-networks\n", retired.join(", "))
        }
    };
    out += &format!("kernel: {} (S2S2S_KERNEL names a slower one)", Kernel::detect().name());
    out
}

/// The format versions older than the current one that some setting still writes.
fn older_versions_written() -> Vec<u8> {
    let profiles = [None, Some(Profile::Hybrid), Some(Profile::Mixed), Some(Profile::Neural), Some(Profile::Adaptive), Some(Profile::Cm)];
    let mut versions: Vec<u8> = LEVELS
        .iter()
        .flat_map(|l| profiles.iter().flat_map(move |&profile| [None, Some(NetArith::F32)].map(move |arith| (l, profile, arith))))
        .map(|(l, profile, arith)| {
            let l = l.with_overrides(Overrides { profile, arith, ..Overrides::default() });
            format::version_for(l.profile, l.block, l.cm)
        })
        .filter(|&v| v != format::VERSION)
        .collect();
    versions.sort_unstable();
    versions.dedup();
    versions
}

fn list(v: &[u8]) -> String {
    v.iter().map(u8::to_string).collect::<Vec<_>>().join(", ")
}

/// "4.2 M parameters", from the weights.
fn parameters(b: Builtin) -> String {
    match b.load() {
        Ok(m) => format!("{:.1} M parameters", m.weights.tensors().map(|(_, _, v)| v.len()).sum::<usize>() as f64 / 1e6),
        Err(e) => format!("cannot load: {e}"),
    }
}
