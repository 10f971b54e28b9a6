/**
 * The tolerance table lives in src/numerics/tolerances.ts (the conformance suite, a library users run on new
 * hardware, needs it, and numerics must not import testing); tests keep importing it from here.
 */
export * from '../numerics/tolerances.js';
