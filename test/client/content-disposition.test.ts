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

  it("reads latin1 octets as UTF-8 only when they are valid UTF-8", () => {
    assert.equal(utf8IfValid(wire("報告")), "報告");
    assert.equal(utf8IfValid("caf\xe9"), "café");
    assert.equal(utf8IfValid("plain"), "plain");
  });
});
