/**
 * The one error type Heddle throws for anything the user gave it: a model, an input, an option.
 * Its message names where the problem is (model, node, operator) and why, so it can be read
 * without a debugger.
 */

export interface ErrorSite {
  /** The model's file name, or a description such as "<bytes>". */
  model?: string;
  /** The node's name (or its position when unnamed). */
  node?: string;
  /** The node's operator, as domain::OpType when the domain is not the default one. */
  opType?: string;
  /** A graph input or output the problem concerns. */
  input?: string;
}

export class HeddleError extends Error {
  readonly site: ErrorSite;
  readonly reason: string;

  constructor(reason: string, site: ErrorSite = {}, options?: { cause?: unknown }) {
    super(formatMessage(reason, site), options);
    this.name = 'HeddleError';
    this.reason = reason;
    this.site = site;
  }

  /** The same error with more of its site filled in (the innermost site wins). */
  within(outer: ErrorSite): HeddleError {
    const merged: ErrorSite = { ...outer, ...definedFields(this.site) };
    return new HeddleError(this.reason, merged, { cause: this.cause });
  }
}

function definedFields(site: ErrorSite): ErrorSite {
  return Object.fromEntries(Object.entries(site).filter(([, v]) => v !== undefined)) as ErrorSite;
}

function formatMessage(reason: string, site: ErrorSite): string {
  const where: string[] = [];
  if (site.model !== undefined) where.push(`model ${site.model}`);
  if (site.node !== undefined) where.push(`node '${site.node}'`);
  if (site.opType !== undefined) where.push(`op ${site.opType}`);
  if (site.input !== undefined) where.push(`input '${site.input}'`);
  return where.length ? `${where.join(', ')}: ${reason}` : reason;
}
