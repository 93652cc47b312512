// The independent side of the text-tower tokenizer tests (tests/IngestFleet.Tests/Embedding/TextTowerTests.cs):
// tokenizes a corpus with Hugging Face's tokenizers (npm `tokenizers`, its Rust implementation) for CLIP's
// tokenizer.json, and with the sentencepiece library (npm `@sctg/sentencepiece-js`, the C++ library built to
// WebAssembly) for SigLIP's spiece.model. SigLIP's text rules before sentencepiece and after it are those of Hugging
// Face's SiglipTokenizer: lower case one character at a time (PreTrainedTokenizer.tokenize with do_lower_case), Python's
// string.punctuation removed, runs of whitespace to one space, trimmed (canonicalize_text); then cap - 1 pieces and </s>.
// Usage: node reference-tokenizers.mjs REQUEST.json  (REQUEST: {kind, file, cap, end_id, texts}); prints ids per text.
// NODE_PATH (or the folder INGESTFLEET_TEST_TOKENIZERS_DIR names, with node_modules/) must hold both packages.
import { createRequire } from 'module';
import { readFileSync } from 'fs';
import path from 'path';

const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'; // Python's string.punctuation
const dir = process.env.INGESTFLEET_TEST_TOKENIZERS_DIR;
const require = createRequire(dir ? path.join(dir, 'node_modules', 'x.js') : import.meta.url);
const request = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const out = [];
if (request.kind === 'clip_bpe') {
  const { Tokenizer } = require('tokenizers');
  const tokenizer = Tokenizer.fromFile(request.file);
  tokenizer.setTruncation(request.cap);
  for (const text of request.texts) out.push((await tokenizer.encode(text)).getIds());
} else {
  const { SentencePieceProcessor } = require('@sctg/sentencepiece-js');
  const sp = new SentencePieceProcessor();
  await sp.load(request.file);
  for (const text of request.texts) {
    const lower = Array.from(text, (c) => c.toLowerCase()).join('');
    const canonical = Array.from(lower).filter((c) => !PUNCTUATION.includes(c)).join('').replace(/\s+/gu, ' ').trim();
    const ids = canonical.length ? sp.encodeIds(canonical) : [];
    out.push([...ids.slice(0, request.cap - 1), request.end_id]);
  }
}
process.stdout.write(JSON.stringify(out));
