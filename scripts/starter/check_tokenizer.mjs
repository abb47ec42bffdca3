// Checks the starter model's tokenizer.json with @huggingface/tokenizers (the library the
// studio uses) against the Python BPE that trained it: same ids on every case from
// encode_cases.py, and decode(encode(text)) === text. Also round-trips non-ASCII text, which
// byte-level BPE must carry through byte tokens.
//
//   node scripts/starter/check_tokenizer.mjs
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Tokenizer } from '@huggingface/tokenizers'

const here = path.dirname(fileURLToPath(import.meta.url))
const folder = path.resolve(here, '../../resources/starter-model')
const tokenizer = new Tokenizer(
  JSON.parse(readFileSync(path.join(folder, 'tokenizer.json'), 'utf8')),
  JSON.parse(readFileSync(path.join(folder, 'tokenizer_config.json'), 'utf8')),
)
const cases = JSON.parse(
  execFileSync('python3', [path.join(here, 'encode_cases.py')], { maxBuffer: 1 << 28, encoding: 'utf8' }),
)
const extra = ['héllo wörld', '日本語のテキスト', 'emoji 🙂 and ünïcödé', 'Ελληνικά και русский']

let failures = 0
for (const { text, ids } of cases) {
  const got = tokenizer.encode(text, { add_special_tokens: true }).ids
  if (JSON.stringify(got) !== JSON.stringify(ids)) {
    failures++
    if (failures <= 5) console.error('ids differ for', JSON.stringify(text), '\n  js:', got, '\n  py:', ids)
  }
}
for (const text of [...cases.map((c) => c.text), ...extra]) {
  const ids = tokenizer.encode(text).ids
  const back = ids.length ? tokenizer.decode(ids, { skip_special_tokens: false }) : ''
  if (back !== text) {
    failures++
    if (failures <= 10) console.error('round trip differs:', JSON.stringify(text), '->', JSON.stringify(back))
  }
}
console.log(`${cases.length} cases compared with Python, ${cases.length + extra.length} round trips; ${failures} failures`)
process.exit(failures ? 1 : 0)
