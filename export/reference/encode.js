// Encodes a JSON array of strings with a tokenizer.json (HF tokenizers under Node, no special tokens) and
// writes a JSON array of token-id arrays. Used by export/reference/make_goldens.py for the brown prompts.
//   NODE_PATH=.../node_modules node encode.js TOKENIZER_JSON IN_JSON OUT_JSON
'use strict';
const fs = require('fs');
const { Tokenizer } = require('tokenizers');

async function main() {
  const [tokPath, inPath, outPath] = process.argv.slice(2);
  if (!tokPath || !inPath || !outPath) {
    throw new Error('usage: node encode.js TOKENIZER_JSON IN_JSON OUT_JSON');
  }
  const tok = Tokenizer.fromFile(tokPath);
  const texts = JSON.parse(fs.readFileSync(inPath, 'utf8'));
  if (!Array.isArray(texts)) throw new Error(`${inPath}: want a JSON array of strings`);
  const ids = [];
  for (const t of texts) {
    ids.push((await tok.encode(t, null, { addSpecialTokens: false })).getIds());
  }
  fs.writeFileSync(outPath, JSON.stringify(ids));
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
