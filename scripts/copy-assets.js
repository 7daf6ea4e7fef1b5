// Copies what tsc does not emit next to the compiled nodes: the editor .html files, the locale help and
// message catalogs, and the icons, so that dist/nodes loads in Node-RED exactly as published.
"use strict";
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..");
const copy = (from, to) => fs.cpSync(path.join(root, from), path.join(root, to), { recursive: true });

for (const file of fs.readdirSync(path.join(root, "nodes"))) {
  if (file.endsWith(".html")) copy(path.join("nodes", file), path.join("dist", "nodes", file));
}
copy(path.join("nodes", "locales"), path.join("dist", "nodes", "locales"));
copy("icons", path.join("dist", "nodes", "icons"));
