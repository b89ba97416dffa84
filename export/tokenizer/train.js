// Trains the byte-level BPE tokenizer.json for the tiny Brown-corpus LLaDA model with Hugging Face tokenizers
// (npm tokenizers@0.23.2, the Rust library under Node).
//
// Usage (repository root): node export/tokenizer/train.js export/data/train.txt models/brown/tokenizer.json [4096]
//
// The Node binding's Tokenizer.train() runs the BPE trainer with its default settings (no vocab-size option is
// exposed), so we train with the default and then keep the FIRST merges only: BPE training is greedy, so the
// first k merges of a long run are exactly the merges a run stopped at k would learn. The kept vocabulary is the
// full 256-symbol byte-level alphabet (any input stays encodable), then the merges in learned order, then the six
// special tokens named like LLaDA-8B's, at the top ids.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Tokenizer, BPE, byteLevelPreTokenizer, byteLevelAlphabet } = require('tokenizers');

const SPECIALS = [
  '<|startoftext|>', // BOS
  '<|endoftext|>', // EOS, also the pad token
  '<|eot_id|>',
  '<|start_header_id|>',
  '<|end_header_id|>',
  '<|mdm_mask|>', // mask token of the diffusion model
];

function main() {
  const [input, output, sizeArg] = process.argv.slice(2);
  if (!input || !output) {
    console.error('usage: node train.js TRAIN_TXT OUT_TOKENIZER_JSON [VOCAB_SIZE]');
    process.exit(2);
  }
  const vocabSize = Number(sizeArg || 4096);
  if (!Number.isInteger(vocabSize) || vocabSize < 256 + SPECIALS.length + 1) {
    console.error(`vocab size ${sizeArg} must be an integer above ${256 + SPECIALS.length}`);
    process.exit(2);
  }
  const tok = new Tokenizer(BPE.empty());
  tok.setPreTokenizer(byteLevelPreTokenizer(false, true));
  tok.train([input]);
  const tmp = path.join(os.tmpdir(), `bpe-${process.pid}.json`);
  tok.save(tmp, false);
  const trained = JSON.parse(fs.readFileSync(tmp, 'utf8'));
  fs.unlinkSync(tmp);

  const alphabet = byteLevelAlphabet();
  if (alphabet.length !== 256) throw new Error(`byte-level alphabet has ${alphabet.length} symbols, want 256`);
  const vocab = {};
  let next = 0;
  for (const ch of [...alphabet].sort()) vocab[ch] = next++;
  const nMerges = vocabSize - SPECIALS.length - 256;
  const merges = [];
  for (const m of trained.model.merges) {
    if (merges.length >= nMerges) break;
    const [a, b] = Array.isArray(m) ? m : m.split(' ');
    if (!(a in vocab) || !(b in vocab)) throw new Error(`merge ${a} ${b} uses a symbol outside the kept vocabulary`);
    const merged = a + b;
    if (merged in vocab) continue;
    vocab[merged] = next++;
    merges.push([a, b]);
  }
  if (merges.length < nMerges) throw new Error(`only ${merges.length} merges learned, need ${nMerges}`);
  const added = SPECIALS.map((content) => {
    const id = next++;
    vocab[content] = id;
    return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
  });

  const out = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  const text = JSON.stringify(out);
  // Round trip through the library: the file must load and encode/decode losslessly.
  const check = Tokenizer.fromString(text);
  const sample = 'The jury said, "Atlanta\'s election -- 1961" was fair.\nNew line é';
  return check.encode(sample).then(async (enc) => {
    const back = await check.decode(enc.getIds(), false);
    if (back !== sample) throw new Error(`round trip changed text: ${JSON.stringify(back)}`);
    if (check.getVocabSize(true) !== vocabSize) throw new Error(`vocab size ${check.getVocabSize(true)} != ${vocabSize}`);
    fs.writeFileSync(output, text);
    console.log(`wrote ${output}: ${vocabSize} tokens (${merges.length} merges), sample -> ${enc.getIds().length} ids`);
  });
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
