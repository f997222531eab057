// globalSetup of the `integration` project: Redis, RabbitMQ, FerretDB and MinIO for the run
// (no Kubernetes: those suites never use it), addresses exported through process.env.
import type { TestProject } from 'vitest/node';
import setup from '../infra/vitest-global-setup.js';

export default function integrationSetup(project: TestProject): ReturnType<typeof setup> {
  process.env.IMCLOUD_SERVERS ??= 'redis,rabbitmq,mongodb,minio';
  return setup(project);
}
