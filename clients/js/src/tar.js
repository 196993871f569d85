/**
 * A reader of the POSIX ustar archives a compute worker writes its results in: regular files and
 * folders only; anything else (links, devices, extension headers) is refused.
 */

import { VerificationError } from "./errors.js";

const BLOCK = 512;
const invalid = (message) => new VerificationError("invalid_result", message);
const decoder = new TextDecoder("utf-8", { fatal: true });

function text(bytes, start, length) {
  const field = bytes.subarray(start, start + length);
  const end = field.indexOf(0);
  return decoder.decode(end === -1 ? field : field.subarray(0, end));
}

function octal(bytes, start, length) {
  const value = text(bytes, start, length).trim();
  if (!/^[0-7]*$/.test(value)) throw invalid("a tar header holds a malformed number");
  return value === "" ? 0 : parseInt(value, 8);
}

/** `[{path, type: "file" | "dir", data}]` of a ustar archive, in archive order. */
export function readTar(archive) {
  const entries = [];
  let offset = 0;
  while (offset + BLOCK <= archive.length) {
    const header = archive.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) return entries;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i];
    if (sum !== octal(header, 148, 8)) throw invalid("a tar header's checksum is wrong");
    if (text(header, 257, 6) !== "ustar") throw invalid("not a ustar archive");
    const name = text(header, 0, 100);
    const prefix = text(header, 345, 155);
    const path = prefix ? `${prefix}/${name}` : name;
    const size = octal(header, 124, 12);
    const flag = String.fromCharCode(header[156]);
    offset += BLOCK;
    if (flag === "5") {
      entries.push({ path, type: "dir", data: new Uint8Array(0) });
    } else if (flag === "0" || flag === "\0") {
      if (offset + size > archive.length) throw invalid(`the tar member ${path} is truncated`);
      entries.push({ path, type: "file", data: archive.slice(offset, offset + size) });
    } else {
      throw invalid(`the tar member ${path} is not a regular file or folder`);
    }
    offset += Math.ceil(size / BLOCK) * BLOCK;
  }
  throw invalid("the tar archive has no end marker");
}
