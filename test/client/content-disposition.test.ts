import assert from "assert/strict";
import { bareFilename, filenameFromDisposition, utf8IfValid } from "../../lib/client/content-disposition";

/** A header value as Node's http and undici hand it over: each byte of the wire one character (latin1). */
const wire = (text: string): string => Buffer.from(text, "utf8").toString("latin1");

describe("Content-Disposition file names, as real servers send them (RFC 6266, RFC 8187)", () => {
  const cases: Array<[string, string, string | undefined]> = [
    ["raw UTF-8 in a quoted filename", wire('attachment; filename="Größe_報告.pdf"'), "Größe_報告.pdf"],
    ["raw UTF-8 in a token filename", wire("attachment; filename=Größe_報告.pdf"), "Größe_報告.pdf"],
    ["a value already decoded by someone else", 'attachment; filename="Größe_報告.pdf"', "Größe_報告.pdf"],
    ["latin1 bytes that are not UTF-8 stay latin1", 'attachment; filename="Gr\xf6\xdfe.pdf"', "Größe.pdf"],
    ["filename* in UTF-8", "attachment; filename*=UTF-8''Gr%C3%B6%C3%9Fe_%E5%A0%B1%E5%91%8A.pdf", "Größe_報告.pdf"],
    ["filename* in lower-case utf-8 with a language", "attachment; filename*=utf-8'ja'%E5%A0%B1%E5%91%8A.pdf", "報告.pdf"],
    ["filename* in ISO-8859-1", "attachment; filename*=ISO-8859-1''Gr%F6%DFe.pdf", "Größe.pdf"],
    ["filename* wins over filename, whichever comes first", "attachment; filename*=UTF-8''%E2%82%AC-rates.pdf; filename=\"EUR-rates.pdf\"", "€-rates.pdf"],
    ["filename* wins after filename", "attachment; filename=\"EUR-rates.pdf\"; filename*=UTF-8''%E2%82%AC-rates.pdf", "€-rates.pdf"],
    ["filename* in a charset the runtime knows (Shift_JIS)", "attachment; filename*=Shift_JIS''%95%F1%8D%90.pdf; filename=\"report.pdf\"", "報告.pdf"],
    ["an unknown charset leaves filename to answer", "attachment; filename*=x-unknown''abc.pdf; filename=\"plain.pdf\"", "plain.pdf"],
    ["quoted-pair escapes", 'attachment; filename="a \\"quoted\\" name.txt"', 'a "quoted" name.txt'],
    ["inline with a name", 'inline; filename="photo.jpg"', "photo.jpg"],
    ["a trailing semicolon", 'attachment; filename="report.pdf";', "report.pdf"],
    ["no disposition type", 'filename="report.pdf"', "report.pdf"],
    ["an unquoted name with spaces", "attachment; filename=annual report 2024.pdf", "annual report 2024.pdf"],
    ["raw UTF-8 in a header that breaks the grammar", wire("attachment; filename=Größe 報告.pdf;"), "Größe 報告.pdf"],
    ["no file name", "attachment", undefined],
    ["an empty header", "", undefined],
  ];
  for (const [what, header, expected] of cases) {
    it(what, () => assert.equal(filenameFromDisposition(header), expected));
  }

  it("keeps the safety of a bare name: no directory part, no control characters, never . or ..", () => {
    assert.equal(filenameFromDisposition(wire('attachment; filename="../../etc/Größe.pdf"')), "Größe.pdf");
    assert.equal(filenameFromDisposition("attachment; filename*=UTF-8''..%2F..%2F%E5%A0%B1.ini"), "報.ini");
    assert.equal(filenameFromDisposition("attachment; filename*=UTF-8''%2E%2E"), undefined);
    assert.equal(filenameFromDisposition("attachment; filename*=UTF-8''a%0D%0Ab.txt"), "ab.txt");
    assert.equal(bareFilename("C:\\dir\\x.txt"), "x.txt");
    assert.equal(bareFilename("."), undefined);
  });

  it("gives no name of dots only, whatever their number", () => {
    for (const dots of ["...", ".....", " .. ", "./..."]) assert.equal(bareFilename(dots), undefined, JSON.stringify(dots));
    assert.equal(filenameFromDisposition('attachment; filename="..."'), undefined);
    assert.equal(filenameFromDisposition("attachment; filename*=UTF-8''%2E%2E%2E%2E"), undefined);
    assert.equal(bareFilename("...x"), "...x");
  });

  it("removes bidi controls, invisible format characters and C1 controls (the U+202E name spoof)", () => {
    assert.equal(bareFilename("ab\u202Ec.txt"), "abc.txt");
    assert.equal(filenameFromDisposition("attachment; filename*=UTF-8''invoice%E2%80%AEfdp.exe"), "invoicefdp.exe");
    for (const cp of [0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0x200e, 0x200f, 0x061c, 0x200b, 0xfeff, 0x80, 0x85, 0x9f]) {
      assert.equal(bareFilename(`a${String.fromCodePoint(cp)}b.pdf`), "ab.pdf", cp.toString(16));
    }
    assert.equal(bareFilename("\u202E"), undefined);
    assert.equal(bareFilename("Größe_報告.pdf"), "Größe_報告.pdf");
  });

  it("shortens a name past 255 bytes of UTF-8 to fit, keeping its extension and whole characters", () => {
    const long = bareFilename(`${"a".repeat(300)}.pdf`) ?? "";
    assert.equal(Buffer.byteLength(long), 255);
    assert.ok(long.endsWith("a.pdf"));
    const wide = bareFilename(`${"報".repeat(100)}.tar.gz`) ?? "";
    assert.ok(Buffer.byteLength(wide) <= 255 && wide.endsWith("報.gz") && !wide.includes("\ufffd"), wide);
    const emoji = bareFilename("😀".repeat(70)) ?? "";
    assert.equal(Buffer.byteLength(emoji), 252);
    assert.equal(Array.from(emoji).length, 63);
    const header = filenameFromDisposition(`attachment; filename*=UTF-8''${encodeURIComponent("é".repeat(200))}.txt`) ?? "";
    assert.ok(Buffer.byteLength(header) <= 255 && header.endsWith(".txt"));
    const fits = `${"b".repeat(251)}.txt`;
    assert.equal(bareFilename(fits), fits);
  });

  it("reads latin1 octets as UTF-8 only when they are valid UTF-8", () => {
    assert.equal(utf8IfValid(wire("報告")), "報告");
    assert.equal(utf8IfValid("caf\xe9"), "café");
    assert.equal(utf8IfValid("plain"), "plain");
  });
});
