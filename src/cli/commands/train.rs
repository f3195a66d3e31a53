//! `train tokenizer`, `train model` and `validation-split`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::super::args::{Common, TrainArgs, TrainCmd};

pub fn run(common: &Common, cmd: TrainCmd) -> Result<ExitCode> {
    match cmd {
        TrainCmd::Model(a) => train_model(&a)?,
        TrainCmd::Tokenizer { corpus, vocab, max_bytes, output } => {
            let tok = s2s2s::train::train_tokenizer(&corpus, vocab, max_bytes)?;
            std::fs::write(&output, tok.to_json()?).with_context(|| format!("writing {}", output.display()))?;
            if !common.quiet {
                eprintln!("tokenizer with {} tokens written to {}", tok.vocab_size(), output.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the held-out validation part of each corpus source to `output`.
pub fn validation_split(common: &Common, corpus: &Path, output: &Path) -> Result<ExitCode> {
    std::fs::create_dir_all(output).with_context(|| format!("creating {}", output.display()))?;
    for src in s2s2s::train::corpus::load(corpus)? {
        let path = output.join(format!("{}.val", src.name));
        std::fs::write(&path, src.validation()).with_context(|| format!("writing {}", path.display()))?;
        if !common.quiet {
            eprintln!("{}: {} bytes", path.display(), src.validation().len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn train_model(a: &TrainArgs) -> Result<()> {
    std::fs::create_dir_all(&a.run).with_context(|| format!("creating {}", a.run.display()))?;
    let init = match a.init.as_deref() {
        Some(p) if p == Path::new("builtin") => {
            let dir = a.run.join("init");
            s2s2s::Builtin::Default.write_to(&dir).with_context(|| format!("writing {}", dir.display()))?;
            Some(dir)
        }
        other => other.map(Path::to_path_buf),
    };
    // a model keeps the tokenizer it was trained with
    let tokenizer = match (&a.tokenizer, &init) {
        (Some(t), _) => t.clone(),
        (None, Some(dir)) => dir.join("tokenizer.json"),
        (None, None) => {
            let t = a.run.join("tokenizer.json");
            std::fs::write(&t, s2s2s::Builtin::tokenizer_json()).with_context(|| format!("writing {}", t.display()))?;
            t
        }
    };
    let shape = |d_model, n_heads, d_ff, enc_layers, dec_layers| s2s2s::train::Shape { d_model, n_heads, d_ff, enc_layers, dec_layers };
    let plan = s2s2s::train::Plan {
        corpus: a.corpus.clone(),
        tokenizer,
        init,
        model: shape(a.d_model, a.heads, a.d_ff, a.enc_layers, a.dec_layers),
        policy: shape(a.policy_d_model, a.policy_heads, a.policy_d_ff, a.policy_layers, a.policy_layers),
        segment: a.segment,
        context: a.context,
        max_latent: a.max_latent,
        pretrain_steps: a.pretrain_steps,
        imitate_steps: a.imitate_steps,
        rl_steps: a.rl_steps,
        batch: a.batch,
        lr: a.lr,
        policy_lr: a.policy_lr,
        seed: a.seed,
        temperature: a.temperature,
        replay: a.replay,
        clip: a.clip,
        max_bytes: a.max_bytes,
        val_segments: a.val_segments,
        checkpoint_every: a.checkpoint_every,
    };
    let mut t = s2s2s::train::Trainer::open(&a.run, plan).with_context(|| format!("opening run {}", a.run.display()))?;
    let ev = t.run(a.minutes)?;
    t.report(&ev, &format!("model in {}", a.run.join("model").display()));
    Ok(())
}
