// The browser loads src/ through importmap.json (no bundler): every module that src/ reaches, its
// dependencies' own modules included, must resolve through the map to a file, and src/ must use
// no Node built-in.
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = new URL("../", import.meta.url);
const { imports } = JSON.parse(readFileSync(new URL("importmap.json", root), "utf8"));
const SPECIFIER = /(?:^|[\s;}])(?:import|export)\s*(?:[^'"`;]*?\sfrom\s*)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

/** Resolve a specifier as a browser would with this import map (exact match first, then the longest prefix). */
function resolve(specifier, parent) {
  if (specifier.startsWith("./") || specifier.startsWith("../") || specifier.startsWith("/")) {
    return new URL(specifier, parent);
  }
  if (specifier in imports) return new URL(imports[specifier], root);
  const prefix = Object.keys(imports)
    .filter((key) => key.endsWith("/") && specifier.startsWith(key))
    .sort((a, b) => b.length - a.length)[0];
  if (prefix === undefined) return null;
  return new URL(imports[prefix] + specifier.slice(prefix.length), root);
}

function specifiers(url) {
  const source = readFileSync(url, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  return [...source.matchAll(SPECIFIER)].map((m) => m[1] ?? m[2]);
}

const sources = readdirSync(new URL("src/", root)).filter((f) => f.endsWith(".js")).map((f) => new URL(`src/${f}`, root));

test("src/ imports no Node built-in", () => {
  for (const url of sources) {
    for (const specifier of specifiers(url)) {
      assert.ok(!specifier.startsWith("node:") && !["fs", "path", "crypto", "buffer", "url", "stream", "os"].includes(specifier), `${url.pathname}: ${specifier}`);
    }
  }
});

test("every module src/ reaches resolves through the import map to a file", () => {
  const seen = new Set();
  const queue = [...sources];
  while (queue.length) {
    const url = queue.pop();
    if (seen.has(url.href)) continue;
    seen.add(url.href);
    for (const specifier of specifiers(url)) {
      const target = resolve(specifier, url);
      assert.ok(target, `${fileURLToPath(url)} imports ${specifier}, which the import map does not map`);
      assert.ok(existsSync(target), `${specifier} (from ${fileURLToPath(url)}) resolves to ${fileURLToPath(target)}, which does not exist`);
      queue.push(target);
    }
  }
  assert.ok(seen.size > sources.length, "the crawl reached the dependencies");
});

test("the mapped dependencies are ES modules", async () => {
  for (const [specifier, path] of Object.entries(imports)) {
    if (specifier.endsWith("/")) continue;
    const text = readFileSync(new URL(path, root), "utf8");
    assert.match(text, /\bexport\b/, `${specifier} -> ${path} is no ES module`);
  }
});
