// Arrays in the browser: from an image or a .npy file, to and from the zarr v3 layout the
// SDK's Array structure uses (one blob: `zarr.json` plus uncompressed chunks `c/i/j…`), and
// to an image for previews.
//
// An array here is { shape: [..], dtype: "uint8" | …, data: TypedArray in C order }.

import { createBlob, getObject, putObject } from "./storage.js";

const TYPES = {
  bool: Uint8Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  float32: Float32Array,
  float64: Float64Array,
};
const NPY_TYPES = { b1: "bool", i1: "int8", u1: "uint8", i2: "int16", u2: "uint16", i4: "int32", u4: "uint32", i8: "int64", u8: "uint64", f4: "float32", f8: "float64" };
const CHUNK_BYTES = 8 << 20; // as the SDK: chunks of at most 8 MiB
export const PREVIEW_LIMIT = 4096 * 4096 * 4; // elements fetched for a preview, at most

const product = (shape) => shape.reduce((a, b) => a * b, 1);

/** "512 × 512 × 3 uint8" */
export const describeArray = (shape, dtype) => `${shape.join(" × ") || "scalar"} ${dtype}`;

// --- reading files ---

/** An image file as an array: (h, w) when grey, (h, w, 3) for colour, (h, w, 4) with alpha. */
export async function arrayFromImage(file) {
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = context.getImageData(0, 0, width, height).data;
  let grey = true;
  let opaque = true;
  for (let i = 0; i < rgba.length; i += 4) {
    if (rgba[i] !== rgba[i + 1] || rgba[i] !== rgba[i + 2]) grey = false;
    if (rgba[i + 3] !== 255) opaque = false;
    if (!grey && !opaque) break;
  }
  const channels = !opaque ? 4 : grey ? 1 : 3;
  const data = new Uint8Array(width * height * channels);
  for (let p = 0, q = 0; p < rgba.length; p += 4) {
    for (let c = 0; c < channels; c++) data[q++] = rgba[p + c];
  }
  return { shape: channels === 1 ? [height, width] : [height, width, channels], dtype: "uint8", data };
}

/** A NumPy .npy file (C order, little-endian) as an array. */
export function arrayFromNpy(buffer) {
  const bytes = new Uint8Array(buffer);
  const magic = String.fromCharCode(...bytes.slice(1, 6));
  if (bytes[0] !== 0x93 || magic !== "NUMPY") throw new Error("not a .npy file");
  const view = new DataView(buffer);
  const major = bytes[6];
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder("latin1").decode(bytes.slice(start, start + headerLength));
  const descr = /'descr':\s*'([<>|=])([a-z]\d+)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shapeText) throw new Error("unreadable .npy header");
  const dtype = NPY_TYPES[descr[2]];
  if (!dtype) throw new Error(`dtype ${descr[1]}${descr[2]} is not supported`);
  if (descr[1] === ">" && !descr[2].endsWith("1")) throw new Error("big-endian .npy files are not supported");
  if (fortran[1] === "True") throw new Error("save the array in C order (np.ascontiguousarray)");
  const shape = shapeText[1].split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  const offset = start + headerLength;
  const Type = TYPES[dtype];
  const count = product(shape);
  const data = new Type(buffer.slice(offset, offset + count * Type.BYTES_PER_ELEMENT));
  if (data.length !== count) throw new Error("the .npy file is truncated");
  return { shape, dtype, data };
}

/** An array as the bytes of a NumPy .npy file (version 1.0, C order, little-endian). */
export function npyOf(array) {
  const code = Object.keys(NPY_TYPES).find((c) => NPY_TYPES[c] === array.dtype);
  const order = code.endsWith("1") ? "|" : "<";
  const shape = array.shape.length === 1 ? `${array.shape[0]},` : array.shape.join(", ");
  let header = `{'descr': '${order}${code}', 'fortran_order': False, 'shape': (${shape}), }`;
  // The header ends in a newline, padded so that the data starts 64-byte aligned.
  header += " ".repeat(63 - ((10 + header.length) % 64)) + "\n";
  const prefix = new Uint8Array(10);
  prefix.set([0x93, ..."NUMPY"].map((c) => (typeof c === "string" ? c.charCodeAt(0) : c)));
  prefix.set([1, 0], 6);
  new DataView(prefix.buffer).setUint16(8, header.length, true);
  const data = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
  return new Blob([prefix, new TextEncoder().encode(header), data], { type: "application/octet-stream" });
}

/** An image or a .npy file as an array. */
export async function arrayFromFile(file) {
  if (file.name.toLowerCase().endsWith(".npy")) return arrayFromNpy(await file.arrayBuffer());
  try {
    return await arrayFromImage(file);
  } catch {
    throw new Error(`${file.name} is neither an image the browser can read nor a .npy file`);
  }
}

// --- zarr v3, uncompressed, one blob ---

/** The SDK's chunking: halve the longest side until a chunk holds at most 8 MiB. */
export function chunkShape(shape, itemSize) {
  const chunks = shape.map((side) => Math.max(1, side));
  while (product(chunks) * itemSize > CHUNK_BYTES && Math.max(...chunks) > 1) {
    const longest = chunks.indexOf(Math.max(...chunks));
    chunks[longest] = Math.ceil(chunks[longest] / 2);
  }
  return chunks;
}

function* chunkIndices(grid) {
  const index = grid.map(() => 0);
  if (grid.some((n) => n === 0)) return;
  while (true) {
    yield [...index];
    let d = grid.length - 1;
    while (d >= 0 && ++index[d] === grid[d]) index[d--] = 0;
    if (d < 0) return;
  }
}

/**
 * Copies between an array and one chunk, both C order. `toChunk` picks the direction;
 * cells of the chunk beyond the array's edge are left as they are (the fill value).
 */
function copyChunk(array, chunk, chunks, index, toChunk) {
  const { shape } = array;
  const n = shape.length;
  if (n === 0) {
    if (toChunk) chunk[0] = array.data[0];
    else array.data[0] = chunk[0];
    return;
  }
  const origin = index.map((i, d) => i * chunks[d]);
  const extent = origin.map((o, d) => Math.min(chunks[d], shape[d] - o));
  const arrayStrides = shape.map((_, d) => product(shape.slice(d + 1)));
  const chunkStrides = chunks.map((_, d) => product(chunks.slice(d + 1)));
  const run = extent[n - 1];
  const walk = (d, arrayOffset, chunkOffset) => {
    if (d === n - 1) {
      if (toChunk) chunk.set(array.data.subarray(arrayOffset, arrayOffset + run), chunkOffset);
      else array.data.set(chunk.subarray(chunkOffset, chunkOffset + run), arrayOffset);
      return;
    }
    for (let i = 0; i < extent[d]; i++) walk(d + 1, arrayOffset + i * arrayStrides[d], chunkOffset + i * chunkStrides[d]);
  };
  walk(0, origin.reduce((sum, o, d) => sum + o * arrayStrides[d], 0), 0);
}

/** Stores an array as the SDK's Array structure; returns its reference (the blob's id). */
export async function uploadArray(array, onProgress) {
  const Type = TYPES[array.dtype];
  const chunks = chunkShape(array.shape, Type.BYTES_PER_ELEMENT);
  const metadata = {
    zarr_format: 3,
    node_type: "array",
    shape: array.shape,
    data_type: array.dtype,
    chunk_grid: { name: "regular", configuration: { chunk_shape: chunks } },
    chunk_key_encoding: { name: "default", configuration: { separator: "/" } },
    fill_value: array.dtype === "bool" ? false : 0,
    codecs: [{ name: "bytes", configuration: { endian: "little" } }],
    attributes: {},
    storage_transformers: [],
  };
  const blob = await createBlob();
  await putObject(blob, "zarr.json", JSON.stringify(metadata), "application/json");
  const grid = array.shape.map((side, d) => Math.ceil(side / chunks[d]));
  const total = array.data.byteLength;
  let sent = 0;
  for (const index of chunkIndices(grid)) {
    const chunk = new Type(product(chunks));
    copyChunk(array, chunk, chunks, index, true);
    const key = ["c", ...index].join("/");
    await putObject(blob, key, chunk, "application/octet-stream", (loaded) => onProgress?.(Math.min(total, sent + loaded), total));
    sent += chunk.byteLength;
  }
  onProgress?.(total, total);
  return blob;
}

/**
 * Reads an Array structure's metadata, and its data when it holds at most `limit` elements.
 * Returns { shape, dtype, data? } (data absent when too large, or stored compressed).
 */
export async function readArray(blob, limit = PREVIEW_LIMIT) {
  const metadata = JSON.parse(new TextDecoder().decode(await getObject(blob, "zarr.json")));
  const { shape, data_type: dtype } = metadata;
  const result = { shape, dtype, reason: null };
  const Type = TYPES[dtype];
  const codecs = metadata.codecs ?? [];
  if (!Type) return { ...result, reason: `${dtype} cannot be previewed` };
  if (codecs.length !== 1 || codecs[0].name !== "bytes" || codecs[0].configuration?.endian === "big") {
    return { ...result, reason: "compressed arrays cannot be previewed" };
  }
  if (product(shape) > limit) return { ...result, reason: "too large to preview" };
  const chunks = metadata.chunk_grid.configuration.chunk_shape;
  const separator = metadata.chunk_key_encoding?.configuration?.separator ?? "/";
  const prefix = metadata.chunk_key_encoding?.name === "v2" ? [] : ["c"];
  const array = { shape, dtype, data: new Type(product(shape)) };
  if (metadata.fill_value) array.data.fill(typeof array.data[0] === "bigint" ? BigInt(metadata.fill_value) : Number(metadata.fill_value));
  const grid = shape.map((side, d) => Math.ceil(side / chunks[d]));
  await Promise.all(
    [...chunkIndices(grid)].map(async (index) => {
      const key = [...prefix, ...index].join(separator);
      const bytes = await getObject(blob, key, { optional: true }); // absent: all fill value
      if (bytes) copyChunk(array, new Type(bytes), chunks, index, false);
    }),
  );
  return { ...array, reason: null };
}

// --- previews ---

/** Whether an array of this shape reads as an image: (h, w), (h, w, 1|3|4). */
export const isImage = (shape) => shape.length === 2 || (shape.length === 3 && [1, 3, 4].includes(shape[2]));

/** Whether an array is a stack of images along its first axis: (n, h, w), (n, h, w, 1|3|4). */
export const isStack = (shape) => shape.length >= 3 && !isImage(shape) && isImage(shape.slice(1));

/** The `index`th image of a stack, sharing the stack's memory. */
export function sliceOf(array, index) {
  const shape = array.shape.slice(1);
  const size = product(shape);
  return { shape, dtype: array.dtype, data: array.data.subarray(index * size, (index + 1) * size) };
}

/** The values shown as black and white: 0..255 for 8-bit data, else the finite min..max. */
export function levels(array) {
  if (array.dtype === "uint8" || array.dtype === "bool") return [0, 255];
  let low = Infinity;
  let high = -Infinity;
  for (const raw of array.data) {
    const v = Number(raw);
    if (Number.isFinite(v)) {
      if (v < low) low = v;
      if (v > high) high = v;
    }
  }
  return [low, high > low ? high : low + 1];
}

/**
 * A PNG data URL showing an image-shaped array, `range` (by default its own levels) scaled
 * to 0..255: a stack passes its own, so that its slices compare.
 */
export function previewUrl(array, range = levels(array)) {
  const [height, width, channels = 1] = array.shape;
  const values = array.data;
  const [low, high] = range;
  const scale = array.dtype === "bool" ? 255 : 255 / (high - low);
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  const out = image.data;
  for (let p = 0; p < width * height; p++) {
    const level = (c) => Math.round((Number(values[p * channels + c]) - low) * scale);
    const [r, g, b] = channels >= 3 ? [level(0), level(1), level(2)] : [level(0), level(0), level(0)];
    out[p * 4] = r;
    out[p * 4 + 1] = g;
    out[p * 4 + 2] = b;
    out[p * 4 + 3] = channels === 4 ? level(3) : 255;
  }
  context.putImageData(image, 0, 0);
  return canvas.toDataURL("image/png");
}
