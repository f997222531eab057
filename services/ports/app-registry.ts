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

export interface App {
  appId: string;
  name: string;
  secret: string;
  multiLogin: MultiLoginPolicy;
  createdAt: number;
  limits?: AppLimits;
}

export interface AppRegistry {
  /** Fails with IM_ADMIN_CONFLICT if the AppId exists. */
  create(app: App): Promise<void>;
  get(appId: string): Promise<App | null>;
  update(appId: string, patch: Partial<Pick<App, 'name' | 'multiLogin' | 'secret' | 'limits'>>): Promise<App | null>;
  list(): Promise<App[]>;

  /** Revokes one token by its jti until it would have expired anyway. */
  revokeToken(appId: string, jti: string, expiresAt: number): Promise<void>;
  /** Revokes every token of the user issued at or before `before` (ms). */
  revokeUser(appId: string, userId: string, before: number): Promise<void>;
  isRevoked(appId: string, userId: string, jti: string, issuedAt: number): Promise<boolean>;
}
