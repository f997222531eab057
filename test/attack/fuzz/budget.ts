// How long the fuzzers run: a bounded number of runs and seconds in `make test`, more with
// `make fuzz` (IMCLOUD_FUZZ_RUNS runs per property, IMCLOUD_FUZZ_SECONDS at most each;
// IMCLOUD_FUZZ_SEED replays a run whose seed a failure printed).
const envNumber = (name: string): number | undefined => {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : Number(v);
};

/** fast-check parameters for a property: `runs` and `seconds` are the `make test` defaults. */
export function budget(runs: number, seconds: number): { numRuns: number; interruptAfterTimeLimit: number; seed?: number } {
  const seed = envNumber('IMCLOUD_FUZZ_SEED');
  return {
    numRuns: envNumber('IMCLOUD_FUZZ_RUNS') ?? runs,
    interruptAfterTimeLimit: (envNumber('IMCLOUD_FUZZ_SECONDS') ?? seconds) * 1000,
    ...(seed !== undefined && { seed }),
  };
}

/** The vitest timeout for a property with this budget (its time limit plus shrinking and set-up). */
export function testTimeout(seconds: number): number {
  return ((envNumber('IMCLOUD_FUZZ_SECONDS') ?? seconds) + 120) * 1000;
}

/** IMCLOUD_ATTACK_SKIP_OPEN=1: leave out inputs of the hardening issue's open findings. */
export const skipOpen = process.env.IMCLOUD_ATTACK_SKIP_OPEN === '1';
