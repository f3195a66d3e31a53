//! `s2s2s train` end to end at toy scale, through the binary: tokenizer, pretraining, imitation,
//! RL steps, export, then compression with the trained model and its policy.

use std::path::Path;

use crate::common::s2s;

/// A small corpus of two sources (their tails are the validation split).
fn corpus(dir: &Path) {
    let prose: String = (0..6000)
        .map(|i| {
            format!(
                "The {} {} of line {} went {}. ",
                ["quick", "lazy", "red"][i % 3],
                ["fox", "dog", "cat", "owl"][i % 4],
                i % 17,
                ["home", "away"][i % 2]
            )
        })
        .collect();
    let code: String = (0..4000).map(|i| format!("def f{}(x):\n    return x * {} + {}\n", i % 23, i % 7, i % 5)).collect();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("prose.txt"), prose).unwrap();
    std::fs::write(dir.join("code.txt"), code).unwrap();
}

fn train(run: &Path, corpus: &Path, tokenizer: &Path, seed: &str) {
    s2s()
        .args(["train", "model", "-T1", "--run"])
        .arg(run)
        .arg("--corpus")
        .arg(corpus)
        .arg("--tokenizer")
        .arg(tokenizer)
        .args(["--d-model", "32", "--heads", "2", "--d-ff", "48", "--enc-layers", "1", "--dec-layers", "1"])
        .args(["--policy-d-model", "32", "--policy-d-ff", "48", "--segment", "16", "--context", "16", "--max-latent", "4"])
        .args(["--pretrain-steps", "30", "--imitate-steps", "10", "--rl-steps", "10", "--batch", "8", "--lr", "3e-3"])
        .args(["--val-segments", "4", "--checkpoint-every", "20", "--seed", seed])
        .assert()
        .success();
}

#[test]
fn a_trained_model_compresses_with_its_policy_and_training_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let (data, tok) = (dir.path().join("corpus"), dir.path().join("tokenizer.json"));
    corpus(&data);
    s2s().args(["train", "tokenizer", "--vocab", "300", "--corpus"]).arg(&data).arg("-o").arg(&tok).assert().success();

    let (run, again) = (dir.path().join("run"), dir.path().join("again"));
    train(&run, &data, &tok, "7");
    let model = run.join("model");
    for f in ["tokenizer.json", "config.json", "model.safetensors", "policy/config.json", "policy/model.safetensors"] {
        assert!(model.join(f).is_file(), "{f} missing");
    }
    let log = std::fs::read_to_string(run.join("log.txt")).unwrap();
    for stage in ["Pretrain step 30", "Imitate step 10", "Rl step 10", "bits/byte empty"] {
        assert!(log.contains(stage), "log lacks {stage}:\n{log}");
    }

    // Same seed, same model, bit for bit; a finished run resumes to nothing and changes nothing.
    train(&again, &data, &tok, "7");
    let weights = |d: &Path| std::fs::read(d.join("model/model.safetensors")).unwrap();
    assert_eq!(weights(&run), weights(&again));
    let policy = |d: &Path| std::fs::read(d.join("model/policy/model.safetensors")).unwrap();
    assert_eq!(policy(&run), policy(&again));
    train(&again, &data, &tok, "7");
    assert_eq!(weights(&run), weights(&again));

    // Training on from a trained model keeps its tokenizer and its segment/context/latent sizes.
    let onward = dir.path().join("onward");
    s2s()
        .args(["train", "model", "-T1", "--run"])
        .arg(&onward)
        .arg("--corpus")
        .arg(&data)
        .arg("--init")
        .arg(&model)
        .args(["--pretrain-steps", "0", "--imitate-steps", "2", "--rl-steps", "2", "--batch", "4", "--val-segments", "2"])
        .assert()
        .success();
    let plan = std::fs::read_to_string(onward.join("plan.json")).unwrap();
    assert!(plan.contains("\"segment\": 16") && plan.contains(&model.join("tokenizer.json").display().to_string()), "{plan}");
    assert_eq!(std::fs::read(onward.join("model/tokenizer.json")).unwrap(), std::fs::read(&tok).unwrap());

    // The compressor uses the result: every latent search round-trips (with the profile that
    // codes latents).
    let input = dir.path().join("input.txt");
    std::fs::write(&input, &std::fs::read(data.join("prose.txt")).unwrap()[..20_000]).unwrap();
    for search in ["off", "heuristic", "policy"] {
        let packed = s2s()
            .arg("--model")
            .arg(&model)
            .args(["compress", "-3", "--profile", "mixed", "-c", "--latent", search])
            .arg(&input)
            .assert()
            .success();
        let packed = packed.get_output().stdout.clone();
        let back = s2s().arg("--model").arg(&model).args(["decompress", "-c"]).write_stdin(packed).assert().success();
        assert_eq!(back.get_output().stdout, std::fs::read(&input).unwrap(), "{search}");
    }
    // The ablation table: one row per latent search.
    let bench = s2s().arg("--model").arg(&model).args(["bench", "--latents", "-T1"]).arg(&input).assert().success();
    let table = String::from_utf8(bench.get_output().stdout.clone()).unwrap();
    for row in ["kernel ", "s2s2s empty latent", "s2s2s heuristic latent", "s2s2s policy latent", "exact by greedy decoding"] {
        assert!(table.contains(row), "{row} missing:\n{table}");
    }
}

#[test]
fn training_reports_a_missing_corpus_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = s2s()
        .args(["train", "model", "--run"])
        .arg(dir.path().join("run"))
        .arg("--corpus")
        .arg(dir.path().join("nowhere"))
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("nowhere") && !err.contains("panicked"), "{err}");
}
