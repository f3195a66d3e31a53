//! Byte-level BPE that is lossless on any byte sequence.
//!
//! Valid UTF-8 runs go through the `tokenizers` BPE; each byte of an invalid run becomes its
//! single-byte token. Decoding never goes through `Tokenizer::decode` (which ends in
//! `from_utf8_lossy`): every id maps to its exact bytes through our own table.

#![forbid(unsafe_code)]

use std::collections::HashMap;

use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::processors::PostProcessorWrapper;
use tokenizers::{Tokenizer, TokenizerBuilder, TokenizerImpl};

use crate::codec::CodingError;
use crate::model::ModelError;

/// A byte-level BPE tokenizer with an exact inverse.
pub struct ByteTokenizer {
    inner: Tokenizer,
    /// The id of the single-byte token for each byte value.
    byte_token: [u32; 256],
    /// The bytes each id stands for.
    token_bytes: Vec<Vec<u8>>,
}

fn byte_level() -> ByteLevel {
    ByteLevel::new(false, false, true)
}

/// ByteLevel's byte -> printable char map (GPT-2's), rebuilt from `ByteLevel::alphabet`'s rule.
fn bytes_to_chars() -> [char; 256] {
    let mut direct: Vec<u32> = (b'!' as u32..=b'~' as u32).collect();
    direct.extend(0xA1..=0xAC);
    direct.extend(0xAE..=0xFF);
    let mut map = ['\0'; 256];
    let mut n = 0;
    for b in 0..256u32 {
        if direct.contains(&b) {
            map[b as usize] = char::from_u32(b).unwrap();
        } else {
            map[b as usize] = char::from_u32(256 + n).unwrap();
            n += 1;
        }
    }
    map
}

impl ByteTokenizer {
    /// Trains a byte-level BPE with `vocab_size` tokens (at least 256) on the given texts.
    pub fn train<I, S>(texts: I, vocab_size: usize) -> Result<Self, ModelError>
    where
        I: Iterator<Item = S> + Send,
        S: AsRef<str> + Send,
    {
        let mut trainer = BpeTrainerBuilder::new()
            .show_progress(false)
            .vocab_size(vocab_size.max(256))
            .min_frequency(2)
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .max_token_length(Some(16))
            .build();
        let mut tok: TokenizerImpl<BPE, NormalizerWrapper, ByteLevel, PostProcessorWrapper, ByteLevel> = TokenizerBuilder::new()
            .with_model(BPE::default())
            .with_pre_tokenizer(Some(byte_level()))
            .with_decoder(Some(byte_level()))
            .build()
            .map_err(|e| ModelError::Tokenizer { reason: e.to_string() })?;
        tok.train(&mut trainer, texts).map_err(|e| ModelError::Tokenizer { reason: e.to_string() })?;
        let tokenizer: Tokenizer = tok.into();
        Self::from_tokenizer(tokenizer)
    }

    /// Loads a tokenizer from its `tokenizer.json` bytes.
    pub fn from_json(json: &[u8]) -> Result<Self, ModelError> {
        let inner = Tokenizer::from_bytes(json).map_err(|e| ModelError::Tokenizer { reason: e.to_string() })?;
        Self::from_tokenizer(inner)
    }

    fn from_tokenizer(inner: Tokenizer) -> Result<Self, ModelError> {
        if !inner.get_added_tokens_decoder().is_empty() {
            return Err(ModelError::Tokenizer { reason: "special tokens are not allowed".into() });
        }
        let vocab: HashMap<String, u32> = inner.get_vocab(false);
        let mut char_to_byte = HashMap::new();
        let b2c = bytes_to_chars();
        for (b, c) in b2c.iter().enumerate() {
            char_to_byte.insert(*c, b as u8);
        }
        let mut token_bytes = vec![Vec::new(); vocab.len()];
        for (s, &id) in &vocab {
            let slot =
                token_bytes.get_mut(id as usize).ok_or_else(|| ModelError::Tokenizer { reason: format!("token id {id} out of range") })?;
            for c in s.chars() {
                let b = char_to_byte.get(&c).ok_or_else(|| ModelError::Tokenizer { reason: format!("token {s:?} is not byte-level") })?;
                slot.push(*b);
            }
        }
        let mut byte_token = [0u32; 256];
        for (b, c) in b2c.iter().enumerate() {
            byte_token[b] = *vocab
                .get(&c.to_string())
                .ok_or_else(|| ModelError::Tokenizer { reason: format!("byte {b:#04x} has no single-byte token") })?;
        }
        if token_bytes.iter().any(|t| t.is_empty()) {
            return Err(ModelError::Tokenizer { reason: "vocabulary ids are not contiguous".into() });
        }
        Ok(Self { inner, byte_token, token_bytes })
    }

    /// The `tokenizer.json` text.
    pub fn to_json(&self) -> Result<String, ModelError> {
        self.inner.to_string(false).map_err(|e| ModelError::Tokenizer { reason: e.to_string() })
    }

    /// Number of token ids.
    pub fn vocab_size(&self) -> usize {
        self.token_bytes.len()
    }

    /// Splits any bytes into token ids; `decode` gives the bytes back exactly.
    pub fn encode(&self, bytes: &[u8]) -> Result<Vec<u32>, ModelError> {
        let mut ids = Vec::with_capacity(bytes.len() / 3 + 1);
        for chunk in bytes.utf8_chunks() {
            let valid = chunk.valid();
            if !valid.is_empty() {
                let enc = self.inner.encode_fast(valid, false).map_err(|e| ModelError::Tokenizer { reason: e.to_string() })?;
                ids.extend_from_slice(enc.get_ids());
            }
            ids.extend(chunk.invalid().iter().map(|&b| self.byte_token[b as usize]));
        }
        Ok(ids)
    }

    /// Appends the bytes of `ids` to `out`; errors on an id outside the vocabulary.
    pub fn decode_into(&self, ids: &[u32], out: &mut Vec<u8>) -> Result<(), CodingError> {
        for &id in ids {
            let t = self.token_bytes.get(id as usize).ok_or(CodingError::TokenOutOfRange { id })?;
            out.extend_from_slice(t);
        }
        Ok(())
    }

    /// The bytes of one token.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        &self.token_bytes[id as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tiny() -> &'static ByteTokenizer {
        static T: std::sync::OnceLock<ByteTokenizer> = std::sync::OnceLock::new();
        T.get_or_init(|| {
            let text = "the cat sat on the mat. the dog sat on the log. <pad> héllo wörld ".repeat(20);
            ByteTokenizer::train([text].into_iter(), 300).unwrap()
        })
    }

    fn round_trip(t: &ByteTokenizer, b: &[u8]) {
        let ids = t.encode(b).unwrap();
        let mut out = Vec::new();
        t.decode_into(&ids, &mut out).unwrap();
        assert_eq!(out, b);
    }

    #[test]
    fn edge_cases_round_trip() {
        let t = tiny();
        assert!(t.vocab_size() > 256);
        round_trip(t, b"");
        round_trip(t, b"x");
        round_trip(t, b" leading space and <pad> and <s>");
        round_trip(t, &(0..=255u8).collect::<Vec<_>>());
        round_trip(t, b"\xff\xfe invalid \xc3 utf8 \xe2\x82");
        round_trip(t, "héllo wörld \u{1F600}\r\n\t\0".as_bytes());
        let json = t.to_json().unwrap();
        let t2 = ByteTokenizer::from_json(json.as_bytes()).unwrap();
        assert_eq!(t2.encode(b"the cat").unwrap(), t.encode(b"the cat").unwrap());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_round_trip(b in proptest::collection::vec(any::<u8>(), 0..600)) {
            round_trip(tiny(), &b);
        }

        #[test]
        fn arbitrary_strings_round_trip(s in ".{0,200}") {
            round_trip(tiny(), s.as_bytes());
        }
    }
}
