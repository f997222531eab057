// The admin API's groups (architecture.md §2a): a tenant's backend (its app secret) or the
// platform manages an app's groups. Reads come from the GroupDirectory; changes go through logic
// (LogicLink) acting as the user who makes them, by default the group's owner, so that they are
// events in the group's seq like the changes members make. An Idempotency-Key header makes a
// retried change answer its first result.

import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { GROUP_ID, groupConversation, SYSTEM_SENDER, USER_ID } from '../../protocol/conversation-id.js';
import { ImError } from '../../protocol/errors.js';
import type { FrameInit } from '../../protocol/frame-codec.js';
import type { imcloud } from '../../protocol/gen/im.js';
import type { GroupDirectory } from '../ports/group-directory.js';
import type { HttpRequest } from '../shared/http-server.js';
import type { LogicLink } from './logic-link.js';

const userId = z
  .string()
  .regex(USER_ID, `user ids match ${USER_ID.source}`)
  .refine((u) => u !== SYSTEM_SENDER, `${SYSTEM_SENDER} is the system sender (ADR 0035), not a member`);
const users = z.array(userId).max(500);
const createBody = z
  .object({
    groupId: z.string().regex(GROUP_ID, `groupId must match ${GROUP_ID.source}`).optional(),
    name: z.string().min(1).max(100),
    owner: userId,
    members: users.default([]),
  })
  .strict();
const addBody = z.object({ userIds: users.min(1), by: userId.optional() }).strict();
const memberPatch = z
  .object({ role: z.enum(['admin', 'member']).optional(), muted: z.boolean().optional(), by: userId.optional() })
  .strict()
  .refine((b) => (b.role === undefined) !== (b.muted === undefined), 'give role or muted (one change per request)');
const WIRE_ROLE = { member: 0, admin: 1 } as const;
const MEMBERS_PAGE_MAX = 500;

export type Reply = { status?: number; json: unknown };
type Route = (method: string, path: string, route: string, fn: (req: HttpRequest<unknown>) => Promise<Reply>) => void;
type Parse = <T>(schema: z.ZodType<T>, body: unknown) => T;

export function registerGroupRoutes(route: Route, parse: Parse, groups: GroupDirectory, logic: LogicLink): void {
  const base = '/v1/apps/:appId/groups';
  const params = (req: HttpRequest<unknown>) => ({ appId: req.params.appId!, groupId: req.params.groupId! });
  const key = (req: HttpRequest<unknown>) => idempotencyKey(req.headers['idempotency-key']);

  /** The group, or IM_GROUP_NOT_FOUND; its owner acts unless the request names another member. */
  const groupOf = async (appId: string, groupId: string) => {
    const group = GROUP_ID.test(groupId) ? await groups.get(appId, groupId) : null;
    if (!group) throw new ImError('IM_GROUP_NOT_FOUND', `no group "${groupId.slice(0, 80)}" in app ${appId}`);
    return group;
  };
  const change = async (
    req: HttpRequest<unknown>,
    by: string | undefined,
    what: Omit<imcloud.v1.IGroupChange, 'clientMsgId' | 'groupId'>,
  ) => {
    const { appId, groupId } = params(req);
    const group = await groupOf(appId, groupId);
    const frame: FrameInit = { groupChange: { clientMsgId: key(req), groupId, ...what } };
    return { json: ackOf(await logic.request(appId, by ?? group.owner, frame)) };
  };

  route('POST', base, 'create-group', async (req) => {
    const body = parse(createBody, req.body);
    const groupId = body.groupId ?? `grp-${randomUUID().replaceAll('-', '').slice(0, 24)}`;
    const frame: FrameInit = { groupCreate: { clientMsgId: key(req), groupId, name: body.name, members: body.members } };
    const ack = ackOf(await logic.request(req.params.appId!, body.owner, frame));
    return { status: 201, json: { groupId, ...ack } };
  });
  route('GET', `${base}/:groupId`, 'get-group', async (req) => {
    const { appId, groupId } = params(req);
    const group = await groupOf(appId, groupId);
    return { json: { ...group, conversation: groupConversation(groupId), memberCount: await groups.count(appId, groupId) } };
  });
  route('GET', `${base}/:groupId/members`, 'list-group-members', async (req) => {
    const { appId, groupId } = params(req);
    await groupOf(appId, groupId);
    const limit = Math.min(Math.max(1, Number(req.query.get('limit')) || 100), MEMBERS_PAGE_MAX);
    const after = req.query.get('after') || undefined;
    if (after !== undefined) parse(userId, after);
    const members = await groups.members(appId, groupId, { after, limit, current: true });
    return { json: { members, next: members.length === limit ? members[members.length - 1]!.userId : null } };
  });
  route('GET', '/v1/apps/:appId/users/:userId/groups', 'list-user-groups', async (req) => {
    const user = parse(userId, req.params.userId);
    const memberships = await groups.membershipsOf(req.params.appId!, user, 10_000);
    return {
      json: {
        groups: memberships
          .filter((m) => m.leftSeq === 0)
          .map(({ groupId, role, joinedSeq, muted }) => ({ groupId, role, joinedSeq, muted })),
      },
    };
  });
  route('POST', `${base}/:groupId/members`, 'add-group-members', async (req) => {
    const body = parse(addBody, req.body);
    return change(req, body.by, { add: { userIds: body.userIds } });
  });
  route('DELETE', `${base}/:groupId/members/:userId`, 'remove-group-member', async (req) => {
    return change(req, undefined, { remove: { userIds: [parse(userId, req.params.userId)] } });
  });
  route('PATCH', `${base}/:groupId/members/:userId`, 'update-group-member', async (req) => {
    const body = parse(memberPatch, req.body);
    const target = parse(userId, req.params.userId);
    if (body.role !== undefined) return change(req, body.by, { role: { userId: target, role: WIRE_ROLE[body.role] } });
    return change(req, body.by, { mute: { userIds: [target], muted: body.muted } });
  });
  route('DELETE', `${base}/:groupId`, 'dissolve-group', async (req) => change(req, undefined, { dissolve: {} }));
}

function idempotencyKey(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return randomUUID().replaceAll('-', '');
  if (!/^[\x21-\x7e]{1,58}$/.test(value)) throw new ImError('IM_ADMIN_INVALID', 'Idempotency-Key: 1–58 printable ASCII characters');
  return `admin:${value}`;
}

function ackOf(frame: { sendAck?: imcloud.v1.ISendAck | null }): Record<string, unknown> {
  const ack = frame.sendAck;
  if (!ack) throw new ImError('IM_INTERNAL', 'logic answered a group change without an ack');
  return { conversation: ack.conversation, seq: Number(ack.seq), duplicate: Boolean(ack.duplicate) };
}
