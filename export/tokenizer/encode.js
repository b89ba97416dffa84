// Encodes a JSON array of documents with a tokenizer.json; writes a JSON array of id arrays.
// Usage: node encode.js TOKENIZER_JSON IN_JSON OUT_JSON   (used by export/data.py)
'use strict';
const fs = require('fs');
const { Tokenizer } = require('tokenizers');

async function main() {
  const [tokPath, inPath, outPath] = process.argv.slice(2);
  if (!tokPath || !inPath || !outPath) {
    console.error('usage: node encode.js TOKENIZER_JSON IN_JSON OUT_JSON');
    process.exit(2);
  }
  const tok = Tokenizer.fromFile(tokPath);
  const docs = JSON.parse(fs.readFileSync(inPath, 'utf8'));
  if (!Array.isArray(docs)) throw new Error(`${inPath}: want a JSON array of strings`);
  const out = [];
  for (const d of docs) {
    const enc = await tok.encode(d, null, { addSpecialTokens: false });
    out.push(enc.getIds());
  }
  fs.writeFileSync(outPath, JSON.stringify(out));
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
