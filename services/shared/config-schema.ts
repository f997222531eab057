// The schema of the one configuration: every section, its keys, their types, defaults and what
// they mean (docs/configuration.md is generated from it). config.ts compiles layers with it.
import { hostname } from 'node:os';
import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const nonNegativeInt = z.coerce.number().int().min(0);
const bool = z.preprocess((v) => (typeof v === 'string' ? ['1', 'true', 'yes', 'on'].includes(v.toLowerCase()) : v), z.boolean());
const list = z.preprocess(
  (v) =>
    typeof v === 'string'
      ? v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : v,
  z.array(z.string().min(1)),
);
const optionalUrl = z.string().url().optional();

export const configSchema = z
  .object({
    /** Shared: this process. */
    node: z
      .object({
        /** Unique per process; names the gate's downstream queue. Defaults to hostname-pid. */
        id: z
          .string()
          .regex(/^[A-Za-z0-9_.-]{1,64}$/)
          .default(`${hostname()}-${process.pid}`.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 64)),
        /** The gray track this process serves: a gate publishes its clients' frames to it, logic consumes it (ADR 0102). */
        track: z.enum(['stable', 'canary']).default('stable'),
      })
      .strict(),
    /** Shared: the heartbeat clients keep, which gates enforce and dispatch and logic announce. */
    heartbeat: z
      .object({
        /** How often clients send Ping (dispatch and AuthOk tell them). */
        intervalMs: positiveInt.default(30_000),
        /** A connection that sent nothing for this long is closed (> the interval); its route lives as long without a heartbeat. */
        idleTimeoutMs: positiveInt.default(75_000),
      })
      .strict(),
    /** Shared: the message bus between roles. */
    bus: z
      .object({
        /**
         * Messages a subscription holds unacknowledged unless its role asks for another number (the
         * consumer takes at least this many; logic and gates ask for their own).
         */
        prefetch: positiveInt.default(256),
      })
      .strict(),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict(),
    http: z
      .object({
        host: z.string().default('0.0.0.0'),
        /** The public listener: what clients reach (gate: WebSocket at /ws; dispatch; the web page) and the health checks. */
        port: port.default(8080),
        /**
         * The ops listener: /metrics and the admin API, kept off the port clients reach (the operator
         * sets it). Unset: they are served on the public listener (the embedded mode).
         */
        opsPort: port.optional(),
        /** Open connections per listener, WebSocket connections included; more are refused. */
        maxConnections: positiveInt.default(18_000),
        /** A request's headers must arrive within this (slow clients are cut off). */
        headersTimeoutMs: positiveInt.default(10_000),
        /** A whole request, body included, must arrive within this. */
        requestTimeoutMs: positiveInt.default(30_000),
        /** An idle keep-alive connection is closed after this. */
        keepAliveTimeoutMs: positiveInt.default(5_000),
        /** The largest request body any endpoint accepts. */
        bodyLimitBytes: positiveInt.default(64 * 1024),
      })
      .strict(),
    /**
     * TLS for every listener (HTTP, the gate's WebSocket and TCP) when both files are set, as a
     * Kubernetes Secret of type kubernetes.io/tls mounts them; changed files are served without a
     * restart.
     */
    tls: z
      .object({
        certFile: z.string().default(''),
        keyFile: z.string().default(''),
        /** How often the files are checked for a renewed certificate. */
        reloadMs: positiveInt.default(10_000),
      })
      .strict()
      .refine((t) => Boolean(t.certFile) === Boolean(t.keyFile), 'set both tls.certFile and tls.keyFile, or neither'),
    gate: z
      .object({
        tcpEnabled: bool.default(true),
        /** 0 = any free port. */
        tcpPort: port.default(8090),
        /** The WebSocket URL clients reach this gate at (dispatch hands it out). */
        publicWsUrl: z.string().default(''),
        publicTcpAddr: z.string().default(''),
        pool: z.string().default('default'),
        /** AppIds this gate serves; empty = the default pool (every AppId no other pool claims). */
        appIds: list.default([]),
        maxFrameBytes: positiveInt.default(64 * 1024),
        authTimeoutMs: positiveInt.default(10_000),
        /** Per-connection token bucket: sustained frames/s and burst. */
        rateLimitPerSec: positiveInt.default(100),
        rateLimitBurst: positiveInt.default(200),
        /** Rate-limit violations tolerated in a row before the connection is closed. */
        floodStrikes: positiveInt.default(50),
        /**
         * Frames per second one app may send through all gates together (an app's own limits may
         * set another); reads of message pages count 4, other frames 1. Keeps one tenant from taking
         * the bus, logic and the store from the others.
         */
        appFramesPerSec: positiveInt.default(2_000),
        /** Open connections from one client address to one gate. */
        maxConnectionsPerIp: positiveInt.default(5_000),
        /** Bytes queued for a client before it counts as a slow consumer and is closed. */
        maxBufferedBytes: positiveInt.default(4 * 1024 * 1024),
        /** On SIGTERM: tell clients to reconnect elsewhere, spread over this many ms. */
        drainMs: nonNegativeInt.default(10_000),
      })
      .strict(),
    logic: z
      .object({
        maxBodyBytes: positiveInt.default(32 * 1024),
        recallWindowMs: positiveInt.default(2 * 60_000),
        /** Messages kept per conversation in the recent window. */
        recentWindow: positiveInt.default(200),
        /** The recent window keeps at least this much time of messages, whatever its size. */
        recentRetentionMs: positiveInt.default(5 * 60_000),
        /** A missing seq is reported as an empty slot once a later stored message is older than this. */
        emptySlotGraceMs: positiveInt.default(10_000),
        syncPageMax: positiveInt.default(500),
        /** A conversation new to a device syncs at most this many latest messages. */
        newDeviceSyncDepth: positiveInt.default(200),
        dedupeTtlMs: positiveInt.default(24 * 3600_000),
        historyPageMax: positiveInt.default(200),
        /** Current members a group may have (per app: App.limits.groupMaxMembers). */
        groupMaxMembers: positiveInt.default(10_000),
        /**
         * Groups up to this many members use write diffusion (every member's conversation index
         * touched per message) and name who read a message; larger ones read diffusion and counts
         * only (per app: App.limits.groupWriteDiffusionMax; ADR 0030).
         */
        groupWriteDiffusionMax: positiveInt.default(500),
        /** Users one group change (create, add, remove) may name. */
        groupChangeMaxUsers: positiveInt.default(500),
        /** Sync, pull and history replies stop adding messages past this many bytes (has_more then says so). */
        maxReplyBytes: positiveInt.default(1024 * 1024),
        /** Requests one logic process handles at once. */
        maxInFlight: positiveInt.default(256),
        /**
         * Requests waiting in one logic process, shared fairly among the apps that wait (each app its
         * share, served in turn); a request beyond its app's share is refused at once with
         * IM_UNAVAILABLE. The process takes maxInFlight + maxQueued requests from the bus.
         */
        maxQueued: positiveInt.default(2_048),
        /** Page reads (sync, pull, history) one logic process runs at once; the others wait their turn. */
        maxConcurrentReads: positiveInt.default(16),
        /** Live connections one user may hold across every gate (an app's own limits may set another). */
        connectionsPerUser: positiveInt.default(16),
        appRateLimitPerSec: positiveInt.default(50_000),
        /**
         * Read/delivered cursor moves reach MongoDB (the copy that outlives a Redis loss) this late
         * (at most twice this), once per cursor across all logic processes. Longer: fewer writes;
         * after a Redis loss, cursors may step back by up to twice this.
         */
        cursorPersistMs: positiveInt.default(5_000),
        /**
         * A send (or recall) that waited longer than this between the gate and logic is refused with
         * IM_UNAVAILABLE and a retry hint, without any work: under overload the upstream queue then
         * drains instead of growing, and the sends that are taken keep their latency. Gate and logic
         * clocks must agree to well within this.
         */
        maxQueueDelayMs: positiveInt.default(2_000),
        /**
         * Bytes of client frames a track's upstream queue holds waiting for a logic process (~200
         * bytes a send: the default holds ~2,600). Past it gates refuse further frames at once with IM_UNAVAILABLE and a retry
         * hint, instead of queueing work that logic could only shed after maxQueueDelayMs (ADR 0021).
         * RabbitMQ: the queue's x-max-length-bytes with x-overflow reject-publish, fixed when the
         * queue is declared (every process must agree). 0: unbounded.
         */
        maxQueueBytes: nonNegativeInt.default(512 * 1024),
      })
      .strict(),
    consumer: z
      .object({
        /**
         * How long the first store record of a batch waits for company before the batch is written.
         * Readers never wait for it (sync and history read the recent window first); each write costs
         * the store per command, so a longer wait means fewer, larger writes at low and medium rates.
         * At most 10 s: a record must reach the store long before the recent window lets it go.
         */
        lingerMs: nonNegativeInt.max(10_000).default(50),
        /** Store records per write at most. */
        maxBatch: positiveInt.default(500),
      })
      .strict(),
    /** Webhooks (docs/webhooks.md, ADR 0037): what the platform allows and how the consumer role delivers. */
    webhooks: z
      .object({
        /**
         * Hosts a webhook URL may name: "*" (any: the embedded mode's default), or a comma-separated
         * list of host names, "*.example.com" for a domain's subdomains. A cluster should list its
         * tenants' hosts: a webhook is a request the platform makes on a tenant's behalf (SSRF).
         */
        allowedHosts: z.string().default('*'),
        /** Allow http:// URLs (https:// always is). */
        allowHttp: bool.default(true),
        /** Deliveries one process makes at once, over every app. */
        maxConcurrent: positiveInt.max(10_000).default(64),
        /** Of those, one app's at most, so that a slow endpoint holds few of them. */
        maxConcurrentPerApp: positiveInt.max(1_000).default(8),
        /** Events of one app a process holds unacknowledged (its queue's prefetch): the ones waiting for their conversation's turn or a retry. */
        maxHeldPerApp: positiveInt.max(10_000).default(256),
        /** First retry delay; each further one doubles, with jitter, up to retryMaxMs. */
        retryBaseMs: positiveInt.default(500),
        retryMaxMs: positiveInt.default(60_000),
        /** A user.offline followed by the user's user.online within this is delivered as neither (a reconnect is no presence change). */
        presenceDebounceMs: nonNegativeInt.max(60_000).default(2_000),
        /** How often the consumer looks for apps whose webhook was set or removed. */
        appsPollMs: positiveInt.default(2_000),
        /** before-send calls one app may have in flight in one logic process; more are answered by the app's fail mode. */
        beforeSendMaxConcurrentPerApp: positiveInt.max(10_000).default(64),
      })
      .strict(),
    dispatch: z
      .object({
        reconnectBaseMs: positiveInt.default(500),
        reconnectMaxMs: positiveInt.default(30_000),
        /** A gate whose load report is older than this is considered gone. */
        gateStaleMs: positiveInt.default(15_000),
      })
      .strict(),
    admin: z
      .object({
        /** Platform admin token: full access to the admin API. Empty: generated and logged at start. */
        token: z.string().default(''),
        defaultTokenTtlSec: positiveInt.default(24 * 3600),
        /** Embedded mode: create this demo app at start (empty: none). */
        demoAppId: z.string().default(''),
        demoAppSecret: z.string().default(''),
      })
      .strict(),
    /** The file role: uploads, proofs of possession, thumbnails and downloads (docs/adr/0031-files.md). */
    file: z
      .object({
        /** Embedded mode: the folder files are kept in (empty: imcloud-files under the system's temporary folder). A cluster keeps them in MinIO. */
        dir: z.string().default(''),
        /** Bytes per chunk of a resumable upload (all chunks but the last; S3's smallest part is 5 MiB). */
        chunkBytes: positiveInt
          .min(64 * 1024)
          .max(64 * 1024 * 1024)
          .default(5 * 1024 * 1024),
        /** Largest file (per app: limits.maxFileBytes). */
        maxFileBytes: positiveInt.default(100 * 1024 * 1024),
        /** Chunk requests one process reads at once (each is held in memory up to chunkBytes); more wait with IM_UNAVAILABLE. */
        maxConcurrentChunks: positiveInt.default(16),
        /** Of those, one app may read at most this many at once, so that one tenant's uploads cannot take every slot. */
        maxConcurrentChunksPerApp: positiveInt.default(8),
        /** An upload not touched for this long is removed by the cleanup job. */
        uploadTtlMs: positiveInt.default(24 * 3600_000),
        /** How often each file process looks for abandoned uploads. */
        cleanupIntervalMs: positiveInt.default(10 * 60_000),
        /** A flash upload's challenge is valid for this long, and for one answer. */
        challengeTtlMs: positiveInt.default(60_000),
        /** Byte ranges a challenge asks for, and the length of each (shorter for small files). */
        challengeRanges: positiveInt.max(16).default(4),
        challengeRangeBytes: positiveInt.max(1024 * 1024).default(4096),
        /** A download URL (fileUrl) is valid for this long. */
        urlTtlMs: positiveInt.default(5 * 60_000),
        /** Longest side of a thumbnail, in pixels. */
        thumbnailPx: positiveInt.max(2048).default(256),
        /** Images larger than this get no thumbnail (sharp reads the whole input into memory). */
        thumbnailMaxBytes: positiveInt.default(32 * 1024 * 1024),
        /** Images of more pixels than this are refused by sharp (decompression bombs): stored as plain files. */
        maxImagePixels: positiveInt.default(50_000_000),
      })
      .strict(),
    redis: z.object({ url: optionalUrl }).strict(),
    rabbitmq: z.object({ url: optionalUrl }).strict(),
    mongodb: z
      .object({
        url: optionalUrl,
        database: z.string().default('imcloud'),
        /** Connections per process. Keep the sum over every process below what the server holds (FerretDB 1.x: 50 on PostgreSQL). */
        maxPoolSize: positiveInt.default(10),
      })
      .strict(),
    minio: z
      .object({
        endPoint: z.string().optional(),
        port: port.optional(),
        useSSL: bool.default(false),
        accessKey: z.string().optional(),
        secretKey: z.string().optional(),
        bucket: z.string().default('imcloud'),
      })
      .strict(),
    /** Shared: the routing table of pools and gray tracks (gates check their pool by it, dispatch picks a track). */
    routing: z
      .object({
        /** The routing table the operator mounts (pools, AppIds, gray track); empty: none. */
        file: z.string().default(''),
        /** How often the file is checked for a new version. */
        pollMs: positiveInt.default(2_000),
      })
      .strict(),
    web: z
      .object({
        /** Serve the web chat page (from a process that runs the admin role). */
        enabled: bool.default(false),
        /** Where the page asks for a gate; another origin when dispatch runs in its own process. */
        dispatchUrl: z.string().default('/v1/dispatch'),
        /** Where the page uploads and downloads files (the file role); empty: this page's own origin. */
        filesUrl: z.string().default(''),
      })
      .strict(),
    /** The Kubernetes operator (`imcloud operator`); see docs/operator.md. */
    operator: z
      .object({
        /** Watch ImClusters in this namespace only; empty: every namespace. */
        namespace: z.string().default(''),
        /** Path of a kubeconfig; empty: KUBECONFIG, ~/.kube/config, then the in-cluster service account. */
        kubeconfig: z.string().default(''),
        /** Run for leadership on a Lease so that only one replica acts (keep on with 2+ replicas). */
        leaderElection: bool.default(true),
        leaseName: z.string().default('imcloud-operator'),
        /** Namespace of the Lease; empty: POD_NAMESPACE, else operator.namespace, else default. */
        leaseNamespace: z.string().default(''),
        leaseDurationMs: positiveInt.default(15_000),
        renewDeadlineMs: positiveInt.default(10_000),
        retryPeriodMs: positiveInt.default(2_000),
        /** ImClusters reconciled in parallel (one object is never reconciled twice at once). */
        workers: positiveInt.default(2),
        /** Every ImCluster is reconciled at least this often, events or not. */
        resyncMs: positiveInt.default(5 * 60_000),
        /** Requeue backoff after a failed reconcile: base · 2^failures, capped. */
        backoffBaseMs: positiveInt.default(1_000),
        backoffMaxMs: positiveInt.default(5 * 60_000),
        /** How often autoscaling reads gate load (Redis) and queue backlog (RabbitMQ). */
        scaleIntervalMs: positiveInt.default(15_000),
        /** Gate load reports older than this are ignored. */
        gateReportMaxAgeMs: positiveInt.default(30_000),
      })
      .strict(),
  })
  .strict();
