// x-amz-meta-xattr byte for byte as s3fs (1.90) writes it, so either reads
// the other's attributes: `{"NAME":"BASE64",...}`, names in byte order (s3fs
// keeps them in a std::map), then URL-encoded by s3fs's urlEncodePath
// (letters, digits and `.-_~/` kept, every other byte %XX in upper case).
//
// s3fs writes a name as it is, between quotes, and reads a pair by splitting
// at `,` and the first `:`: a name holding `"`, `\`, `,`, `:` or a control
// character cannot round-trip through s3fs. We write such a name as JSON
// escapes it and read the header as JSON first, so it round-trips here;
// s3fs skips that one attribute (or, for `\`, shows it with its escape) and
// reads the others. Headers an earlier oortfs wrote (encodeURIComponent of
// JSON) read the same way.

/** the header's value for these attributes ('' when there are none: the header is left out) */
export function encodeXattrHeader (xattr: Record<string, Buffer>): string {
  const names = Object.keys(xattr).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
  if (names.length === 0) return ''
  const json = '{' + names.map(n => `${JSON.stringify(n)}:"${xattr[n]!.toString('base64')}"`).join(',') + '}'
  return urlEncodePath(json)
}

/** the attributes of a header s3fs or oortfs wrote; undefined if it holds none we can read */
export function decodeXattrHeader (header: string | undefined): Record<string, Buffer> | undefined {
  if (!header) return undefined
  const text = percentDecode(header)
  const pairs = asJson(text) ?? asS3fs(text)
  if (!pairs) return undefined
  const out: Record<string, Buffer> = {}
  for (const [k, v] of pairs) out[k] = Buffer.from(v, 'base64')
  return out
}

const KEPT = /^[A-Za-z0-9._~/-]$/

/** s3fs's urlEncodePath, over the UTF-8 bytes */
function urlEncodePath (s: string): string {
  let out = ''
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte)
    out += byte < 0x80 && KEPT.test(c) ? c : '%' + byte.toString(16).toUpperCase().padStart(2, '0')
  }
  return out
}

/** s3fs's urlDecode: %XX to its byte (any case), everything else as it is; the bytes read as UTF-8 */
function percentDecode (s: string): string {
  const bytes: number[] = []
  const raw = Buffer.from(s, 'utf8')
  for (let i = 0; i < raw.length; i++) {
    const hex = raw[i] === 0x25 ? raw.subarray(i + 1, i + 3).toString('latin1') : ''
    if (/^[0-9A-Fa-f]{2}$/.test(hex)) { bytes.push(parseInt(hex, 16)); i += 2 } else bytes.push(raw[i]!)
  }
  return Buffer.from(bytes).toString('utf8')
}

function asJson (text: string): [string, string][] | undefined {
  try {
    const json: unknown = JSON.parse(text)
    if (!json || typeof json !== 'object' || Array.isArray(json)) return undefined
    return Object.entries(json as Record<string, unknown>).map(([k, v]) => [k, String(v)])
  } catch {
    return undefined
  }
}

/** s3fs's own parse (parse_xattrs): between the first `{` and the last `}`, pairs split at `,`, each at its first `:` */
function asS3fs (text: string): [string, string][] | undefined {
  const start = text.indexOf('{')
  const end = text.lastIndexOf('}')
  if (start < 0 || end <= start) return undefined
  const pairs: [string, string][] = []
  for (const pair of text.slice(start + 1, end).split(',')) {
    const colon = pair.indexOf(':')
    if (colon < 0) continue
    const k = unquote(pair.slice(0, colon))
    const v = unquote(pair.slice(colon + 1))
    if (k !== undefined && v !== undefined) pairs.push([k, v])
  }
  return pairs
}

/** s3fs's takeout_str_dquart: what is between the first and the last `"`, which must hold no other */
function unquote (s: string): string | undefined {
  const first = s.indexOf('"')
  if (first < 0) return s
  const last = s.lastIndexOf('"')
  if (last === first) return undefined
  const inner = s.slice(first + 1, last)
  return inner.includes('"') ? undefined : inner
}
