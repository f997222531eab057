import { defineConfig } from 'vitest/config';

// Projects: `unit` (next to the code, in-memory, fast), `integration` (real Redis, RabbitMQ,
// FerretDB, MinIO started by test/infra), `e2e` (whole processes, browser), `kubernetes` (a real
// control plane started by test/infra).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['services/**/*.test.ts', 'sdk/**/*.test.ts', 'operator/**/*.test.ts', 'test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
