// Writes models/sudoku/tokenizer.json: a WordLevel tokenizer over the digits 1-9 (ids 0-8), one token per digit,
// with the special tokens of the Brown tokenizer that the Sudoku model uses. A puzzle is 81 digits, row-major;
// blanks are written as <|mdm_mask|>. Verified by loading it back with HF tokenizers (npm tokenizers@0.23.2).
// Usage: node export/tokenizer/sudoku_tokenizer.js models/sudoku/tokenizer.json
'use strict';
const fs = require('fs');
const { Tokenizer } = require('tokenizers');

const vocab = {};
for (let d = 1; d <= 9; d++) vocab[String(d)] = d - 1;
const specials = ['<|mdm_mask|>', '<|endoftext|>', '<|startoftext|>', '<unk>']; // ids 9, 10, 11, 12
specials.forEach((s, i) => { vocab[s] = 9 + i; });

const tok = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: specials.map((content, i) => ({
    id: 9 + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  })),
  normalizer: null,
  // every digit is its own token; anything else that is not a special token becomes <unk>
  pre_tokenizer: { type: 'Split', pattern: { Regex: '\\S' }, behavior: 'Isolated', invert: false },
  post_processor: null,
  decoder: { type: 'Fuse' },
  model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
};

async function main() {
  const out = process.argv[2];
  if (!out) { console.error('usage: node sudoku_tokenizer.js OUT_JSON'); process.exit(2); }
  const text = JSON.stringify(tok);
  const t = Tokenizer.fromString(text);
  const sample = '53<|mdm_mask|>7';
  const enc = await t.encode(sample, null, { addSpecialTokens: false });
  const ids = enc.getIds();
  if (JSON.stringify(ids) !== JSON.stringify([4, 2, 9, 6])) throw new Error(`unexpected ids ${ids}`);
  const back = await t.decode([4, 2, 6], false);
  if (back !== '537') throw new Error(`unexpected decode ${JSON.stringify(back)}`);
  fs.writeFileSync(out, text + '\n');
  console.log(`wrote ${out}: ${Object.keys(vocab).length} tokens; "${sample}" -> ${ids}`);
}
main().catch((e) => { console.error(e.message || e); process.exit(1); });
