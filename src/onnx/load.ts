/**
 * Reading a model: from a path or from bytes, into a decoded ModelProto plus the means to read
 * its external data safely (only files inside the model's own folder).
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { HeddleError } from '../core/errors.js';
import { decodeModelProto, toNumber, type ModelProto } from './proto.js';
import type { ExternalDataReader } from './tensor.js';

export interface LoadedModelProto {
  proto: ModelProto;
  /** How errors name the model: its file name, or "<bytes>". */
  source: string;
  /** Reads external tensor data; absent for models given as bytes. */
  readExternal?: ExternalDataReader;
  /**
   * The bytes Heddle read from the model file itself (absent for bytes the caller gave): raw data
   * may be copied out of them so that they can be let go of.
   */
  ownedBytes?: Uint8Array;
}

export function loadModelProto(input: string | Uint8Array | ArrayBuffer): LoadedModelProto {
  if (typeof input === 'string') {
    let bytes: Uint8Array;
    try {
      bytes = fs.readFileSync(input);
    } catch (error) {
      throw new HeddleError(`cannot read the model file: ${(error as Error).message}`, { model: input });
    }
    return {
      proto: decodeModelBytes(bytes, path.basename(input)),
      source: path.basename(input),
      readExternal: externalDataReader(path.dirname(path.resolve(input)), path.basename(input)),
      ownedBytes: bytes,
    };
  }
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  return { proto: decodeModelBytes(bytes, '<bytes>'), source: '<bytes>' };
}

export function decodeModelBytes(bytes: Uint8Array, source: string): ModelProto {
  if (bytes.length === 0) throw new HeddleError('the model is empty (0 bytes)', { model: source });
  let proto: ModelProto;
  try {
    proto = decodeModelProto(bytes);
  } catch (error) {
    const truncated = /index out of range/.test((error as Error).message);
    throw new HeddleError(
      truncated
        ? `the model is truncated: its protobuf ends in the middle of a field (${bytes.length} bytes read)`
        : `these bytes are not an ONNX model: ${(error as Error).message}`,
      { model: source },
      { cause: error },
    );
  }
  if (!proto.graph) {
    throw new HeddleError('these bytes are not an ONNX model: no graph found', { model: source });
  }
  if (toNumber(proto.irVersion) < 3) {
    const version = toNumber(proto.irVersion);
    throw new HeddleError(
      version === 0
        ? 'these bytes are not an ONNX model: ir_version is missing'
        : `IR version ${version} is older than 3, the oldest Heddle reads`,
      { model: source },
    );
  }
  return proto;
}

/**
 * A reader that opens external data files only inside `folder`: absolute paths, `..` and links
 * that lead outside it are refused, as are ranges past the end of the file.
 */
export function externalDataReader(folder: string, model: string): ExternalDataReader {
  const realFolder = fs.realpathSync(folder);
  return (location, offset, length) => {
    const site = { model };
    if (path.isAbsolute(location) || /^[a-zA-Z]:[\\/]/.test(location)) {
      throw new HeddleError(
        `external data location '${location}' is an absolute path, which is refused`,
        site,
      );
    }
    if (location.split(/[\\/]/).includes('..')) {
      throw new HeddleError(`external data location '${location}' contains '..', which is refused`, site);
    }
    let realFile: string;
    try {
      realFile = fs.realpathSync(path.join(realFolder, location));
    } catch {
      throw new HeddleError(`external data file '${location}' does not exist beside the model`, site);
    }
    if (!realFile.startsWith(realFolder + path.sep)) {
      throw new HeddleError(
        `external data file '${location}' leads outside the model's folder, which is refused`,
        site,
      );
    }
    const size = fs.statSync(realFile).size;
    const end = length === undefined ? size : offset + length;
    if (offset > size || end > size) {
      throw new HeddleError(
        `external data range [${offset}, ${end}) of '${location}' lies past the end of the file (${size} bytes)`,
        site,
      );
    }
    const out = new Uint8Array(end - offset);
    const fd = fs.openSync(realFile, 'r');
    try {
      let done = 0;
      while (done < out.length) {
        const n = fs.readSync(fd, out, done, out.length - done, offset + done);
        if (n === 0) throw new HeddleError(`external data file '${location}' ended early`, site);
        done += n;
      }
    } finally {
      fs.closeSync(fd);
    }
    return out;
  };
}
