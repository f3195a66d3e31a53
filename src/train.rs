//! Training entry points that run in Rust (the tokenizer); model training is in `train/*.py`.

use std::path::Path;

use crate::corpus;
use crate::error::Result;
use crate::tokenizer::ByteTokenizer;

/// Trains the byte-level BPE on at most `max_bytes` of each source's training split.
pub fn train_tokenizer(corpus_dir: &Path, vocab_size: usize, max_bytes: usize) -> Result<ByteTokenizer> {
    let sources = corpus::load(corpus_dir)?;
    let mut texts = Vec::new();
    for s in &sources {
        let train = s.train();
        let train = &train[..train.len().min(max_bytes)];
        // 10 kB pieces keep the trainer's word counting parallel; cuts fall on char boundaries.
        let text = String::from_utf8_lossy(train).into_owned();
        let mut start = 0;
        while start < text.len() {
            let mut end = (start + 10_000).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            texts.push(text[start..end].to_string());
            start = end;
        }
    }
    ByteTokenizer::train(texts.into_iter(), vocab_size)
}
