import { isUtf8 } from "buffer";
import { parse } from "content-disposition";

/**
 * The file name a `Content-Disposition` header gives, decoded as real servers send it, then made safe to
 * write to (see `bareFilename`). Undefined when the header names none.
 *
 * - `filename*` (RFC 6266 section 4.3, RFC 8187) wins over `filename`, decoded in the charset it names:
 *   UTF-8 and ISO-8859-1 (which RFC 8187 section 3.2.1 requires) through the `content-disposition`
 *   package, any other charset the runtime knows (Shift_JIS, EUC-KR...) through TextDecoder. One
 *   that cannot be decoded leaves `filename` to answer.
 * - `filename` in raw UTF-8 bytes, as most servers send a non-ASCII name: Node's http and undici hand
 *   header values over as latin1 (one character per byte), so bytes that form valid UTF-8 are read as
 *   UTF-8; others stay latin1 (RFC 9110 section 5.5: obs-text is ISO-8859-1 at best).
 * - A header that breaks the grammar (no disposition type, a trailing ";", an unquoted name with spaces,
 *   control characters) still gives its name, read leniently.
 */
export function filenameFromDisposition(header: string | undefined): string | undefined {
  if (typeof header !== "string" || header.trim() === "") return undefined;
  const octets = asOctets(header);
  const strict = strictFilename(octets);
  if (strict !== undefined) return bareFilename(strict);
  return bareFilename(lenientFilename(octets));
}

/**
 * A name the server gives, made safe to write to: the last path segment only (a core `file` node writes
 * msg.filename where it says); with no control characters (C0, DEL, C1: Unicode Cc), no invisible format
 * characters (Unicode Cf: the bidi overrides and isolates U+202A-U+202E and U+2066-U+2069, U+200E/U+200F,
 * U+061C, zero-width characters, U+FEFF), which could make `ab\u202Ec.txt` look like another name, and no
 * lone surrogates; never a name of dots only ("." and ".." are path segments); and at most
 * FILENAME_MAX_BYTES bytes of UTF-8 (the NAME_MAX of Linux, macOS and Windows file systems), shortened
 * before its extension so that the type stays. Undefined when nothing is left.
 */
export function bareFilename(name: string | undefined): string | undefined {
  if (!name) return undefined;
  const last = name.split(/[\\/]/).pop()?.replace(/[\p{Cc}\p{Cf}\p{Cs}]/gu, "").trim() ?? "";
  return last === "" || /^\.+$/.test(last) ? undefined : fitted(last);
}

/** The longest file name most file systems take, in bytes (ENAMETOOLONG past it). */
export const FILENAME_MAX_BYTES = 255;

/** An extension kept when a long name is shortened: a dot and up to 16 letters or digits. */
const EXTENSION = /\.[\p{L}\p{N}]{1,16}$/u;

/** A name cut to FILENAME_MAX_BYTES of UTF-8, whole characters only, its extension kept. */
function fitted(name: string): string {
  if (Buffer.byteLength(name, "utf8") <= FILENAME_MAX_BYTES) return name;
  const extension = EXTENSION.exec(name)?.[0] ?? "";
  const room = FILENAME_MAX_BYTES - Buffer.byteLength(extension, "utf8");
  let stem = "";
  let bytes = 0;
  for (const char of name.slice(0, name.length - extension.length)) {
    const size = Buffer.byteLength(char, "utf8");
    if (bytes + size > room) break;
    stem += char;
    bytes += size;
  }
  return stem.trimEnd() + extension;
}

/**
 * Text whose characters are bytes: a header value as Node hands it over already is; one that holds
 * characters past U+00FF (decoded by someone else) is turned back into its UTF-8 bytes.
 */
function asOctets(text: string): string {
  return /[^\x00-\xff]/.test(text) ? Buffer.from(text, "utf8").toString("latin1") : text;
}

/** Octets read as UTF-8 when they are valid UTF-8, else as latin1 (as they came). */
export function utf8IfValid(octets: string): string {
  if (!/[\x80-\xff]/.test(octets)) return octets;
  const bytes = Buffer.from(octets, "latin1");
  return isUtf8(bytes) ? bytes.toString("utf8") : octets;
}

const EXTENDED = /;\s*filename\*\s*=/i;

/** The name by the package's RFC 6266 parser, or undefined when the header breaks its grammar. */
function strictFilename(octets: string): string | undefined {
  let parameters: Record<string, string>;
  try {
    parameters = parse(octets).parameters;
  } catch {
    return undefined;
  }
  const name = parameters.filename;
  if (name === undefined) return undefined;
  // The package decoded filename* already, in its charset; a plain filename is still octets.
  return EXTENDED.test(octets) ? name : utf8IfValid(name);
}

/** The name of a header that breaks the grammar: filename* first, then filename, each read on its own. */
function lenientFilename(octets: string): string | undefined {
  const extended = /(?:^|;)\s*filename\*\s*=\s*"?([^";]*)"?/i.exec(octets)?.[1].trim();
  const decoded = extended ? extendedValue(extended) : undefined;
  if (decoded !== undefined) return decoded;
  const plain = /(?:^|;)\s*filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"?|([^;]*))/i.exec(octets);
  if (!plain) return undefined;
  const value = plain[1] !== undefined ? plain[1].replace(/\\(.)/g, "$1") : plain[2].trim();
  return utf8IfValid(value);
}

/** An RFC 8187 ext-value (`charset'language'percent-encoded`), or undefined when it cannot be decoded. */
function extendedValue(value: string): string | undefined {
  try {
    return parse(`attachment; filename*=${value}`).parameters.filename;
  } catch {
    // A charset the package does not know: the runtime's decoders may.
  }
  const m = /^([A-Za-z0-9!#$%&+\-^_`{}~]+)'[^']*'(.*)$/.exec(value);
  if (!m) return undefined;
  try {
    const bytes = Buffer.from(m[2].replace(/%([0-9A-Fa-f]{2})/g, (_all, hex: string) => String.fromCharCode(parseInt(hex, 16))), "latin1");
    return new TextDecoder(m[1], { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
