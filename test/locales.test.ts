import assert from "assert/strict";
import fs from "fs";
import path from "path";
import clientMessages from "../lib/client/messages.json";

const nodesDir = path.resolve(__dirname, "..", "nodes");
const localesDir = path.join(nodesDir, "locales");
const LANGUAGES = ["en-US", "de", "ja"];
const HEADINGS: Record<string, { inputs: string; outputs: string; details: string }> = {
  "en-US": { inputs: "Inputs", outputs: "Outputs", details: "Details" },
  de: { inputs: "Eingaben", outputs: "Ausgaben", details: "Details" },
  ja: { inputs: "入力", outputs: "出力", details: "詳細" },
};
const TYPES = fs.readdirSync(nodesDir).filter((f) => f.endsWith(".html")).map((f) => f.replace(/\.html$/, ""));
const FLOW_API_NODES = ["genesys-nexus-send", "genesys-nexus-upload", "genesys-nexus-download", "genesys-nexus-delete"];

type Catalog = Record<string, unknown>;
const catalog = (lang: string, type: string): Catalog => JSON.parse(fs.readFileSync(path.join(localesDir, lang, `${type}.json`), "utf8")) as Catalog;

function leaves(obj: unknown, prefix = ""): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (typeof v === "string") out.set(key, v);
    else for (const [kk, vv] of leaves(v, key)) out.set(kk, vv);
  }
  return out;
}
const params = (text: string): string[] => [...text.matchAll(/__(\w+)__/g)].map((m) => m[1]).sort();

describe("locales", () => {
  it("has a catalog and a help page for every node in every language", () => {
    assert.equal(TYPES.length, 7);
    for (const lang of LANGUAGES) {
      for (const type of TYPES) {
        assert.ok(fs.existsSync(path.join(localesDir, lang, `${type}.json`)), `${lang}/${type}.json`);
        assert.ok(fs.existsSync(path.join(localesDir, lang, `${type}.html`)), `${lang}/${type}.html`);
      }
    }
  });

  for (const type of TYPES) {
    it(`${type}: de and ja have every en-US key, non-empty, with the same parameters`, () => {
      const english = leaves(catalog("en-US", type));
      for (const lang of ["de", "ja"]) {
        const other = leaves(catalog(lang, type));
        assert.deepEqual([...other.keys()].sort(), [...english.keys()].sort(), `${lang}/${type}.json keys`);
        for (const [key, text] of english) {
          const translated = other.get(key) as string;
          assert.ok(translated.trim() !== "", `${lang} ${type} ${key} is empty`);
          assert.deepEqual(params(translated), params(text), `${lang} ${type} ${key} parameters`);
        }
      }
    });

    it(`${type}: help pages follow the style guide in every language`, () => {
      const isConfig = type === "genesys-nexus-channel";
      const hasInputs = !isConfig && type !== "genesys-nexus-webhook";
      const hasOutputs = !isConfig && type !== "genesys-nexus-webhook-response";
      for (const lang of LANGUAGES) {
        const html = fs.readFileSync(path.join(localesDir, lang, `${type}.html`), "utf8");
        assert.match(html, new RegExp(`<script type="text/html" data-help-name="${type}">`));
        assert.match(html, /^<script[^>]*>\s*<p>/, "opens with a one-line summary");
        const h = HEADINGS[lang];
        if (hasInputs) assert.ok(html.includes(`<h3>${h.inputs}</h3>`), `${lang} ${type} Inputs`);
        if (hasOutputs) assert.ok(html.includes(`<h3>${h.outputs}</h3>`), `${lang} ${type} Outputs`);
        assert.ok(html.includes(`<h3>${h.details}</h3>`), `${lang} ${type} Details`);
        assert.match(html, /<h3>(References|Referenzen|参考情報)<\/h3>/);
      }
    });

    it(`${type}: every key the editor and the runtime use is in the en-US catalog`, () => {
      const english = leaves(catalog("en-US", type));
      const html = fs.readFileSync(path.join(nodesDir, `${type}.html`), "utf8");
      const used = [...html.matchAll(/data-i18n="(?:\[\w+\])?([\w.-]+)"/g), ...html.matchAll(/this\._\("([\w.-]+)"\)/g)].map((m) => m[1]);
      const code = fs.readFileSync(path.join(nodesDir, `${type}.ts`), "utf8");
      used.push(...[...code.matchAll(/\bt\("([\w.-]+)"/g)].map((m) => m[1]));
      if (FLOW_API_NODES.includes(type)) {
        for (const shared of ["node-status.ts", "api-node.ts"]) {
          const src = fs.readFileSync(path.resolve(__dirname, "..", "lib", "nodes", shared), "utf8");
          used.push(...[...src.matchAll(/\bt\("([\w.-]+)"/g)].map((m) => m[1]));
        }
        used.push("status.sending", "status.uploading", "status.downloading", "status.deleting");
      }
      assert.ok(used.length > 0);
      for (const key of used) assert.ok(english.has(key), `${type}: ${key} missing from en-US`);
    });
  }

  it("holds the client's error texts in the channel catalog, exactly as the client has them in English", () => {
    assert.deepEqual(catalog("en-US", "genesys-nexus-channel").errors, clientMessages);
  });
});
