/** A target's verdict, as every report prints it: PASS or MISS, or NOT RUN when there is no data. */
export interface Verdict { pass: boolean | undefined; line: string }

export const verdict = (pass: boolean | undefined, what: string, detail: string): Verdict =>
  ({ pass, line: `${pass === undefined ? 'NOT RUN' : pass ? 'PASS' : 'MISS'}  ${what}: ${detail}` });
