/**
 * Shape and type inference for Heddle's IR: `inferShapes(model)` fills every graph's
 * `valueTypes` with the types its operators' rules prove, and reports contradictions and the
 * operators it has no rule for.
 */

export { inferShapes, type InferenceFinding, type InferenceOptions, type InferenceReport } from './engine.js';
