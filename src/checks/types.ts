// The checks' pipeline contract lives in src/pipeline/types.ts (the SMTP session runs it without
// importing the checks); re-exported here for the checks' own modules.
export * from '../pipeline/types.js';
