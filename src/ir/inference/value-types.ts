/**
 * Comparing and combining whole value types: a declared type against an inferred one (keeping
 * the more precise of each dim and naming every contradiction), and the type two alternatives
 * share (the branches of an If, the iterations of a Loop).
 */

import type { Dim, ValueType } from '../graph.js';
import { commonDim, dimsCompatible, formatShape, unifyDims } from './dims.js';

export interface Reconciled {
  type: ValueType | undefined;
  /** What the declaration and the inference disagree on; empty when they agree. */
  conflicts: string[];
}

/**
 * Combines a declared and an inferred type of one value. Known sizes win over symbolic names,
 * and an inferred symbolic name over a declared one (it ties the value to the dims it came from).
 * Symbolic names never conflict; differing known sizes, ranks, element types or kinds do.
 */
export function reconcile(declared: ValueType | undefined, inferred: ValueType | undefined): Reconciled {
  if (!declared) return { type: inferred, conflicts: [] };
  if (!inferred) return { type: declared, conflicts: [] };
  const conflicts: string[] = [];
  const type = combine(declared, inferred, conflicts);
  return { type, conflicts };
}

function combine(declared: ValueType, inferred: ValueType, conflicts: string[]): ValueType {
  if (declared.kind !== inferred.kind) {
    conflicts.push(`declared a ${declared.kind}, inferred a ${inferred.kind}`);
    return inferred;
  }
  switch (inferred.kind) {
    case 'tensor':
    case 'sparse_tensor': {
      const d = declared as typeof inferred;
      if (d.elemType !== inferred.elemType) {
        conflicts.push(`declared element type ${d.elemType}, inferred ${inferred.elemType}`);
      }
      const shape = combineShapes(d.shape, inferred.shape, conflicts);
      return shape ? { ...inferred, shape } : { kind: inferred.kind, elemType: inferred.elemType };
    }
    case 'sequence':
    case 'optional': {
      const d = declared as typeof inferred;
      return { kind: inferred.kind, elem: combineOptional(d.elem, inferred.elem, conflicts) };
    }
    case 'map': {
      const d = declared as typeof inferred;
      if (d.key !== inferred.key) conflicts.push(`declared map key ${d.key}, inferred ${inferred.key}`);
      return { ...inferred, value: combineOptional(d.value, inferred.value, conflicts) };
    }
  }
}

function combineOptional(
  declared: ValueType | undefined,
  inferred: ValueType | undefined,
  conflicts: string[],
): ValueType | undefined {
  if (!declared || !inferred) return inferred ?? declared;
  return combine(declared, inferred, conflicts);
}

function combineShapes(
  declared: Dim[] | undefined,
  inferred: Dim[] | undefined,
  conflicts: string[],
): Dim[] | undefined {
  if (!declared || !inferred) return inferred ?? declared;
  if (declared.length !== inferred.length) {
    conflicts.push(
      `declared shape ${formatShape(declared)} (rank ${declared.length}), inferred ${formatShape(inferred)}`,
    );
    return inferred;
  }
  const clash = inferred.some((d, i) => !dimsCompatible(d, declared[i]!));
  if (clash) conflicts.push(`declared shape ${formatShape(declared)}, inferred ${formatShape(inferred)}`);
  return inferred.map((d, i) => unifyDims(d, declared[i]!));
}

/** What two possible types of one value have in common; undefined when not even the kind agrees. */
export function commonType(a: ValueType | undefined, b: ValueType | undefined): ValueType | undefined {
  if (!a || !b || a.kind !== b.kind) return undefined;
  switch (a.kind) {
    case 'tensor':
    case 'sparse_tensor': {
      const other = b as typeof a;
      if (a.elemType !== other.elemType) return undefined;
      if (!a.shape || !other.shape || a.shape.length !== other.shape.length) {
        return { kind: a.kind, elemType: a.elemType };
      }
      return {
        kind: a.kind,
        elemType: a.elemType,
        shape: a.shape.map((d, i) => commonDim(d, other.shape![i]!)),
      };
    }
    case 'sequence':
    case 'optional':
      return { kind: a.kind, elem: commonType(a.elem, (b as typeof a).elem) };
    case 'map': {
      const other = b as typeof a;
      return a.key === other.key
        ? { kind: 'map', key: a.key, value: commonType(a.value, other.value) }
        : undefined;
    }
  }
}

export function sameType(a: ValueType | undefined, b: ValueType | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
