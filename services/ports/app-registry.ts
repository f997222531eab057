// Tenants: apps with their secret and policies, and token revocation.

export type MultiLoginPolicy = 'all' | 'per-platform' | 'single';

/** Per-app overrides of the platform's defaults (gate.appFramesPerSec, logic.connectionsPerUser). */
export interface AppLimits {
  /** Frames per second the whole app may send, across every gate (reads weigh more than sends). */
  framesPerSec?: number;
  /** Live connections one user may hold, across every gate. */
  connectionsPerUser?: number;
  /** Current members one group may have (logic.groupMaxMembers). */
  groupMaxMembers?: number;
  /** Groups up to this size use write diffusion and name their readers (logic.groupWriteDiffusionMax). */
  groupWriteDiffusionMax?: number;
  /** Largest file a user may upload (file.maxFileBytes). */
  maxFileBytes?: number;
  /** Content types the app accepts for files, e.g. ["image/*", "application/pdf"]; none: any. */
  fileContentTypes?: string[];
  /** Bytes of stored files the app may hold (each distinct file counted once); none: no quota. */
  fileQuotaBytes?: number;
}

/** The events a webhook may ask for (docs/webhooks.md). */
export const WEBHOOK_EVENTS = [
  'message.sent',
  'message.recalled',
  'message.read',
  'group.changed',
  'user.online',
  'user.offline',
  'file.uploaded',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

/** An app's webhook (ADR 0037): where its events go, signed with its secret. */
export interface WebhookConfig {
  url: string;
  /** The signing secret (HMAC-SHA256); shown once, when set or rotated. */
  secret: string;
  events: WebhookEventType[];
  /** One delivery attempt's timeout. */
  timeoutMs: number;
  /** Attempts of one event before it is dead-lettered. */
  maxAttempts: number;
  /** The synchronous before-send call; off unless enabled. */
  beforeSend: { enabled: boolean; timeoutMs: number; failOpen: boolean };
}

export interface App {
  appId: string;
  name: string;
  secret: string;
  multiLogin: MultiLoginPolicy;
  createdAt: number;
  limits?: AppLimits;
  webhook?: WebhookConfig;
}

/** What update() may change; `webhook: null` removes the webhook. */
export type AppPatch = Partial<Pick<App, 'name' | 'multiLogin' | 'secret' | 'limits'>> & { webhook?: WebhookConfig | null };

export interface AppRegistry {
  /** Fails with IM_ADMIN_CONFLICT if the AppId exists. */
  create(app: App): Promise<void>;
  get(appId: string): Promise<App | null>;
  update(appId: string, patch: AppPatch): Promise<App | null>;
  list(): Promise<App[]>;

  /** Revokes one token by its jti until it would have expired anyway. */
  revokeToken(appId: string, jti: string, expiresAt: number): Promise<void>;
  /** Revokes every token of the user issued at or before `before` (ms). */
  revokeUser(appId: string, userId: string, before: number): Promise<void>;
  isRevoked(appId: string, userId: string, jti: string, issuedAt: number): Promise<boolean>;
}
