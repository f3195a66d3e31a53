//! Ideal code length of the context mixer on files (a tuning aid): `cargo run --release --example cm_probe -- FILE...`
use s2s2s::predict::cm::Predictor;
fn main() {
    for f in std::env::args().skip(1) {
        let data = std::fs::read(&f).unwrap();
        let t = std::time::Instant::now();
        let mut p = Predictor::new(
            std::env::var("TB").ok().and_then(|v| v.parse().ok()).unwrap_or(22),
            s2s2s::format::CmRevision::LATEST,
            false,
            Default::default(),
        );
        let mut bits = 0f64;
        for &c in &data {
            for k in (0..8).rev() {
                let b = u32::from(c >> k) & 1;
                let p1 = p.predict(None) as f64 / 4096.0;
                bits -= if b == 1 { p1.log2() } else { (1.0 - p1).log2() };
                p.update(b);
            }
        }
        let s = t.elapsed().as_secs_f64();
        println!("{:50} {:9} bytes {:.4} bpb {:7.0} KB/s", f, data.len(), bits / data.len() as f64, data.len() as f64 / 1000.0 / s);
    }
}
