import { type Collection, MongoServerError } from 'mongodb';
import { ImError } from '../../../protocol/errors.js';
import type { App, AppPatch, AppRegistry, MultiLoginPolicy } from '../../ports/app-registry.js';
import { type AppDoc, DUPLICATE_KEY, docId, ONE_BATCH, type RevokedTokenDoc, type RevokedUserDoc } from './mongo-database.js';

function fromDoc(d: AppDoc): App {
  return {
    appId: d._id,
    name: d.name,
    secret: d.secret,
    multiLogin: d.multiLogin as MultiLoginPolicy,
    createdAt: d.createdAt,
    ...(d.limits && { limits: d.limits }),
    ...(d.webhook && { webhook: d.webhook }),
  };
}

export class MongoAppRegistry implements AppRegistry {
  constructor(
    private readonly apps: Collection<AppDoc>,
    private readonly revokedTokens: Collection<RevokedTokenDoc>,
    private readonly revokedUsers: Collection<RevokedUserDoc>,
    private readonly now: () => number = Date.now,
  ) {}

  async create(app: App): Promise<void> {
    try {
      await this.apps.insertOne({
        _id: app.appId,
        name: app.name,
        secret: app.secret,
        multiLogin: app.multiLogin,
        createdAt: app.createdAt,
        ...(app.limits && { limits: app.limits }),
        ...(app.webhook && { webhook: app.webhook }),
      });
    } catch (err) {
      if (err instanceof MongoServerError && err.code === DUPLICATE_KEY)
        throw new ImError('IM_ADMIN_CONFLICT', `app ${app.appId} already exists`);
      throw err;
    }
  }

  async get(appId: string): Promise<App | null> {
    const d = await this.apps.findOne({ _id: appId });
    return d ? fromDoc(d) : null;
  }

  async update(appId: string, patch: AppPatch): Promise<App | null> {
    const set = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined && v !== null));
    const unset = patch.webhook === null ? { $unset: { webhook: '' as const } } : {};
    if (Object.keys(set).length > 0 || patch.webhook === null)
      await this.apps.updateOne({ _id: appId }, { ...(Object.keys(set).length > 0 && { $set: set }), ...unset });
    return this.get(appId);
  }

  async list(): Promise<App[]> {
    return (await this.apps.find({}, { batchSize: ONE_BATCH }).sort({ _id: 1 }).toArray()).map(fromDoc);
  }

  async revokeToken(appId: string, jti: string, expiresAt: number): Promise<void> {
    await this.revokedTokens.updateOne({ _id: docId(appId, jti) }, { $set: { appId, jti }, $max: { expiresAt } }, { upsert: true });
  }

  async revokeUser(appId: string, userId: string, before: number): Promise<void> {
    await this.revokedUsers.updateOne({ _id: docId(appId, userId) }, { $set: { appId, userId }, $max: { before } }, { upsert: true });
  }

  async isRevoked(appId: string, userId: string, jti: string, issuedAt: number): Promise<boolean> {
    const [token, user] = await Promise.all([
      this.revokedTokens.findOne({ _id: docId(appId, jti) }),
      this.revokedUsers.findOne({ _id: docId(appId, userId) }),
    ]);
    if (token && token.expiresAt > this.now()) return true;
    return user !== null && issuedAt <= user.before;
  }

  /** Cleanup job: revocations of tokens that have expired anyway (no TTL index on FerretDB). */
  async purgeExpiredRevocations(): Promise<number> {
    const r = await this.revokedTokens.deleteMany({ expiresAt: { $lte: this.now() } });
    return r.deletedCount;
  }
}
