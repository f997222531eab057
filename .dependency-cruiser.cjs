// The import rules of the code base, checked by `make test` (target check-deps, right after the
// typecheck) with dependency-cruiser; any violation fails the run. Why these rules: ADR 0026.
//
//   node_modules/.bin/depcruise --config .dependency-cruiser.cjs protocol services operator sdk web test bench scripts monitoring
//
// Paths are relative to the repository root. Roles are services/{gate,logic,consumer,dispatch,admin,file};
// ports are services/ports (interfaces and their contract suites); a backend is a folder of
// services/adapters (memory, redis, mongodb, rabbitmq, minio).

/** The client libraries of the real backends: only their adapters use them. */
const CLIENT_LIBRARIES = 'node_modules/(ioredis|mongodb|bson|amqplib|minio)/';
/** The roles: they see the platform through ports only. */
const ROLES = '^services/(gate|logic|consumer|dispatch|admin|file)/';
/** Unit tests and test fixtures next to a role wire in-memory adapters, as the wiring does. */
const TESTS_AND_FIXTURES = '(\\.test|-fixture)\\.ts$';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import circle anywhere: a circle is one module in several files, and its load order is an accident.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'adapters-keep-to-their-backend',
      comment:
        "An adapter imports no other backend's adapters. What one backend needs of another is a port " +
        '(e.g. SeqHighWater, ConversationArchive), and services/adapters/real-backends.ts wires them together.',
      severity: 'error',
      from: { path: '^services/adapters/([^/]+)/' },
      to: { path: '^services/adapters/', pathNot: '^services/adapters/$1/' },
    },
    {
      name: 'roles-import-ports',
      comment:
        'A role is handed its Backends (ports): it imports no adapter, no client library, and not the wiring ' +
        '(services/backends.ts) that makes them. Unit tests and fixtures next to a role wire in-memory adapters.',
      severity: 'error',
      from: { path: ROLES, pathNot: TESTS_AND_FIXTURES },
      to: { path: ['^services/adapters/', '^services/backends\\.ts$', CLIENT_LIBRARIES] },
    },
    {
      name: 'adapters-only-through-the-wiring',
      comment:
        'Outside the adapters, only the wiring (services/backends.ts) imports an adapter: not the runtime, ' +
        'the command line or shared code (roles and ports have rules of their own).',
      severity: 'error',
      from: {
        path: '^services/',
        pathNot: ['^services/adapters/', '^services/ports/', ROLES, '^services/backends\\.ts$', TESTS_AND_FIXTURES],
      },
      to: { path: '^services/adapters/' },
    },
    {
      name: 'client-libraries-only-in-adapters',
      comment: 'Only adapters talk to Redis, MongoDB, RabbitMQ or MinIO: ports, shared code and the runtime never import their clients.',
      severity: 'error',
      from: { path: '^services/', pathNot: ['^services/adapters/', ROLES] },
      to: { path: CLIENT_LIBRARIES },
    },
    {
      name: 'ports-are-interfaces',
      comment: 'Ports depend on no adapter, role or wiring: they are what those depend on.',
      severity: 'error',
      from: { path: '^services/ports/' },
      to: { path: ['^services/adapters/', ROLES, '^services/backends\\.ts$'] },
    },
    {
      name: 'protocol-stands-alone',
      comment: 'The wire protocol (protocol/) is shared by services, the SDK and the web page: it imports none of them.',
      severity: 'error',
      from: { path: '^protocol/' },
      to: { path: '^(services|sdk|web|operator|test|bench|scripts)/' },
    },
    {
      name: 'sdk-imports-only-the-protocol',
      comment: 'The SDK ships to browsers and apps: besides its own files it imports the protocol module, never server code.',
      severity: 'error',
      from: { path: '^sdk/' },
      to: { path: '^(services|operator|web|test|bench|scripts)/' },
    },
    {
      name: 'web-page-uses-the-sdk',
      comment: 'The web page is an SDK client like any app: it imports the SDK and the protocol, never server code.',
      severity: 'error',
      from: { path: '^web/' },
      to: { path: '^(services|operator|test|bench|scripts)/' },
    },
    {
      name: 'imports-resolve',
      comment: 'Every import resolves to a file: one that does not is invisible to the rules above.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: `import type` from another backend is still a dependency on it.
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
  },
};
