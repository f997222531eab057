// ImClient: one signed-in user on one device, and the SDK's public face (options, connect and
// close, send, recall, read marks, history, the conversation list, events). The work is done by its
// parts: the ConnectionLoop finds a gate through dispatch, authenticates, keeps the connection
// alive and reconnects; the SendQueue sends through per-conversation lanes that retry under the
// same clientMsgId; the ReceiveEngine delivers what arrives exactly once and in seq order per
// conversation. Files: FileUploader (upload), FileUrls (fileUrl) over FileHttp; a file message is a
// send whose body is a FileRef (docs/adr/0031-files.md). Protocol semantics: protocol/im.proto; the message path: docs/architecture.md §2.

import { conversationMembers, GROUP_ID, groupConversation, singleConversation, USER_ID } from '../../protocol/conversation-id.js';
import type { Frame } from '../../protocol/frame-codec.js';
import type { imcloud } from '../../protocol/gen/im.js';
import { ImClientError } from './client-error.js';
import { ConnectionLoop } from './connection-loop.js';
import { ConversationList } from './conversation-list.js';
import { MemoryCursorStore } from './cursor-store.js';
import { FileConversations } from './file-conversations.js';
import { FileHttp, filesBaseUrl } from './file-http.js';
import { fileRefBody, fullFileRefBody } from './file-ref.js';
import type { FileSource } from './file-source.js';
import { FileUploader } from './file-uploader.js';
import { FileUrls } from './file-urls.js';
import { newClientMsgId, newDeviceId, newGroupId } from './ids.js';
import { DEFAULT_TIMEOUTS, type ImClientOptions, type ImClientTimeouts, type SendOptions } from './options.js';
import { ReceiveEngine } from './receive-engine.js';
import { SendQueue } from './send-queue.js';
import { TypedEmitter } from './typed-emitter.js';
import type {
  ChatMessage,
  ConnectionState,
  ConversationInfo,
  CreatedGroup,
  FileInfo,
  FileUrlOptions,
  GroupMembersPage,
  HistoryPage,
  HistoryQuery,
  ImClientEvents,
  ReadersResult,
  ReadResult,
  SendResult,
  UploadedFile,
  UploadOptions,
} from './types.js';
import { chatMessageFromWire, groupMembersFromWire, readersFromWire, sendAckFromWire } from './wire-mapping.js';

export const SDK_VERSION = '0.1.0';

/** What sendToGroup sends: text, bytes, or a body with its content type and @mentions. */
export type GroupMessage = string | Uint8Array | { body: string | Uint8Array; contentType?: string; mentions?: string[] };

export class ImClient extends TypedEmitter<ImClientEvents> {
  readonly deviceId: string;
  private readonly opts: ImClientOptions;
  private readonly connection: ConnectionLoop;
  private readonly receiver: ReceiveEngine;
  private readonly sends: SendQueue;
  private readonly list: ConversationList;
  private conversationsQueued = false;
  private readonly fileConversations = new FileConversations();
  private readonly uploader: FileUploader;
  private readonly fileUrls: FileUrls;

  constructor(options: ImClientOptions) {
    super();
    if (!options.appId) throw new TypeError('ImClient: appId is required');
    if (!options.dispatchUrl && !options.gateUrl) throw new TypeError('ImClient: give dispatchUrl or gateUrl');
    if (!options.token && !options.getToken) throw new TypeError('ImClient: give token or getToken');
    this.opts = options;
    const t: ImClientTimeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.deviceId = options.deviceId ?? newDeviceId();
    const platform = options.platform ?? (typeof document !== 'undefined' ? 'web' : 'server');
    this.list = new ConversationList((c) => this.peerOf(c));
    this.connection = new ConnectionLoop(
      { ...options, deviceId: this.deviceId, platform, timeouts: t, sdkVersion: SDK_VERSION },
      {
        state: (e) => this.emit('state', e),
        error: (err) => this.report(err),
        authenticated: (appId, userId) => this.receiver.loadCursors(appId, userId),
        online: (link) => {
          this.sends.online();
          void this.receiver.sync(link);
        },
        offline: () => {
          this.sends.offline();
          this.receiver.connectionLost();
        },
        stopped: (err) => this.sends.close(err),
        frame: (frame) => this.onServerFrame(frame),
        errorFrame: (reqId, err) => this.onErrorFrame(reqId, err),
      },
    );
    this.sends = new SendQueue(
      { write: (body) => this.connection.writeRequest(body) },
      { ackTimeoutMs: t.ack, deadlineMs: t.send, minRetryDelayMs: 200 },
      (out, ack) => this.receiver.ownMessageAcked(out, ack),
    );
    this.receiver = new ReceiveEngine({
      deviceId: this.deviceId,
      list: this.list,
      cursorStore: options.cursorStore ?? new MemoryCursorStore(),
      gapGraceMs: t.gapGrace,
      syncPageSize: options.syncPageSize ?? 200,
      ackBatchMs: options.ackBatchMs ?? 50,
      userId: () => this.connection.userId,
      online: () => this.connection.onlineConnection,
      request: (body, link) => this.connection.request(body, { connection: link }),
      emit: (event, payload) => {
        if (event === 'message') this.noteFile(payload as ChatMessage);
        this.emit(event, payload);
      },
      conversationsChanged: () => this.conversationsChanged(),
      report: (err) => this.report(err),
      syncCompleted: () => this.connection.resetBackoff(),
    });
    let token: string | undefined;
    const http = new FileHttp({
      baseUrl: filesBaseUrl(options),
      // The token the last request used, until the server calls it expired.
      token: async (fresh) =>
        token !== undefined && !fresh ? token : (token = options.getToken ? await options.getToken() : options.token!),
      timeoutMs: t.request,
      fetch: options.fetch,
    });
    this.uploader = new FileUploader(http, { chunkTimeoutMs: t.uploadChunk });
    this.fileUrls = new FileUrls(http, this.fileConversations);
  }

  get appId(): string {
    return this.opts.appId;
  }

  get state(): ConnectionState {
    return this.connection.state;
  }

  /** The signed-in user, known after the first AuthOk. */
  get userId(): string | undefined {
    return this.connection.userId;
  }

  /** The gate of the current (or last) connection, from AuthOk. */
  get gateId(): string | undefined {
    return this.connection.gateId;
  }

  /** Sends and recalls not yet acknowledged. */
  get pendingSends(): number {
    return this.sends.pending;
  }

  /**
   * Starts connecting (and reconnecting for as long as the client lives). Resolves when the
   * first connection is authenticated; rejects if the client stops before that (a fatal auth
   * error, a kick, close()).
   */
  connect(): Promise<void> {
    return this.connection.start();
  }

  /** The conversation id of a single chat with `peer`. Needs the user id (after connect()). */
  conversationWith(peer: string): string {
    return singleConversation(this.requireUser(), peer);
  }

  /**
   * Sends a message to `to`. Resolves with the server's ack (seq, msgId, ts) once the message is
   * stored; messages to one peer go out one at a time, in call order. Retries (lost frames,
   * reconnects, IM_UNAVAILABLE) reuse the clientMsgId, so the message is stored once.
   */
  async send(to: string, body: string | Uint8Array, options: SendOptions = {}): Promise<SendResult> {
    if (!USER_ID.test(to)) throw new ImClientError('IM_BAD_REQUEST', `recipient must match ${USER_ID.source}`);
    this.assertRunning();
    const me = await this.whoAmI();
    const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    const contentType = options.contentType ?? (typeof body === 'string' ? 'text' : 'application/octet-stream');
    const clientMsgId = options.clientMsgId ?? newClientMsgId();
    return this.sends.enqueue({
      clientMsgId,
      conversation: singleConversation(me, to),
      body: { send: { clientMsgId, to, contentType, body: bytes } },
    });
  }

  /**
   * Creates a group with this user as its owner and `members` in it. Resolves once the group's
   * "created" event is stored; a retry (same clientMsgId) creates nothing new. Without
   * `groupId` one is made up (random).
   */
  async createGroup(group: { name: string; members: string[]; groupId?: string; clientMsgId?: string }): Promise<CreatedGroup> {
    const groupId = group.groupId ?? newGroupId();
    checkGroupId(groupId);
    this.assertRunning();
    await this.whoAmI();
    const clientMsgId = group.clientMsgId ?? newClientMsgId();
    const conversation = groupConversation(groupId);
    const body = { groupCreate: { clientMsgId, groupId, name: group.name, members: group.members } };
    const ack = await this.sends.enqueue({ clientMsgId, conversation, body });
    return { groupId, conversation, seq: ack.seq };
  }

  /**
   * Sends a message to a group this user is a member of; the same ack as send(). `message` is
   * text, bytes, or `{ body, contentType?, mentions? }` (mentions: member ids to @mention).
   */
  async sendToGroup(groupId: string, message: GroupMessage, options: SendOptions = {}): Promise<SendResult> {
    checkGroupId(groupId);
    this.assertRunning();
    await this.whoAmI();
    const { body, mentions = [] } = typeof message === 'string' || message instanceof Uint8Array ? { body: message } : message;
    const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    const explicit = typeof message === 'object' && !(message instanceof Uint8Array) ? message.contentType : undefined;
    const contentType = options.contentType ?? explicit ?? (typeof body === 'string' ? 'text' : 'application/octet-stream');
    const clientMsgId = options.clientMsgId ?? newClientMsgId();
    return this.sends.enqueue({
      clientMsgId,
      conversation: groupConversation(groupId),
      body: { send: { clientMsgId, groupId, contentType, body: bytes, mentions } },
    });
  }

  /**
   * Uploads a file (a Blob, e.g. a browser File, or bytes) to the file service and resolves with
   * its record, for sendFile(). Bytes the app already holds are not sent again: the server asks
   * for a proof of possession and the upload is instant (`deduplicated: true`). Otherwise chunks
   * go in order, each retried with backoff after a dropped connection; an upload stopped by
   * `signal` (or a reload) resumes where it stopped on the next upload() of the same bytes.
   * Does not need a connection, only a token.
   */
  upload(data: Blob | Uint8Array, options: UploadOptions): Promise<UploadedFile> {
    return this.uploader.upload(data as FileSource, options);
  }

  /**
   * Sends a file message (contentType "file"; the server makes it "image" when the file has a
   * thumbnail) to a user or a group; resolves like send(). `file` is what upload() resolved
   * with, or a received message's `file`.
   */
  async sendFile(
    to: string | { group: string },
    file: FileInfo,
    options: { clientMsgId?: string; mentions?: string[] } = {},
  ): Promise<SendResult> {
    if (!file?.fileId) throw new ImClientError('IM_BAD_REQUEST', 'sendFile: give the file upload() resolved with');
    const group = typeof to === 'string' ? undefined : to.group;
    if (group !== undefined) checkGroupId(group);
    else if (!USER_ID.test(to as string)) throw new ImClientError('IM_BAD_REQUEST', `recipient must match ${USER_ID.source}`);
    this.assertRunning();
    const me = await this.whoAmI();
    const conversation = group !== undefined ? groupConversation(group) : singleConversation(me, to as string);
    const clientMsgId = options.clientMsgId ?? newClientMsgId();
    const body = fileRefBody(file.fileId);
    this.fileConversations.remember(file.fileId, conversation);
    return this.sends.enqueue({
      clientMsgId,
      conversation,
      body: {
        send:
          group !== undefined
            ? { clientMsgId, groupId: group, contentType: 'file', body, mentions: options.mentions ?? [] }
            : { clientMsgId, to: to as string, contentType: 'file', body },
      },
      ...(file.name && { ownView: { contentType: file.thumbnail ? 'image' : 'file', body: fullFileRefBody(file) } }),
    });
  }

  /**
   * A short-lived absolute URL (minutes) of a file, or of its thumbnail: works as an `<img src>`
   * or a plain GET. The server lets the uploader and whoever may read a conversation the file was
   * sent in have it; `conversation` defaults to where this client last saw the file
   * (IM_FORBIDDEN otherwise, IM_FILE_NOT_FOUND for no such file).
   */
  fileUrl(fileId: string, options: FileUrlOptions = {}): Promise<string> {
    return this.fileUrls.url(fileId, options);
  }

  /** Who of a group has read its message `seq` (names only in groups up to the app's threshold). */
  async readers(conversation: string, seq: number): Promise<ReadersResult> {
    const frame = await this.connection.request({ readers: { conversation, seq } }, { acrossReconnects: true });
    return readersFromWire(frame.readersResult as imcloud.v1.ReadersResult);
  }

  /** Adds users to a group (owner and admins). Resolves with the ack of the "joined" event. */
  addMembers(groupId: string, userIds: string[], options: { clientMsgId?: string } = {}): Promise<SendResult> {
    return this.changeGroup(groupId, { add: { userIds } }, options.clientMsgId);
  }

  /** Removes members from a group (owner and admins). Resolves with the ack of the "removed" event. */
  removeMembers(groupId: string, userIds: string[], options: { clientMsgId?: string } = {}): Promise<SendResult> {
    return this.changeGroup(groupId, { remove: { userIds } }, options.clientMsgId);
  }

  /** Leaves a group; its messages up to the "left" event stay readable. */
  leaveGroup(groupId: string, options: { clientMsgId?: string } = {}): Promise<SendResult> {
    return this.changeGroup(groupId, { leave: {} }, options.clientMsgId);
  }

  /** Dissolves a group (owner only); its history stays readable to its members. */
  dissolveGroup(groupId: string, options: { clientMsgId?: string } = {}): Promise<SendResult> {
    return this.changeGroup(groupId, { dissolve: {} }, options.clientMsgId);
  }

  /** A page of a group's current members, in user id order. */
  async groupMembers(groupId: string, page: { after?: string; limit?: number } = {}): Promise<GroupMembersPage> {
    checkGroupId(groupId);
    const frame = await this.connection.request(
      { groupMembers: { groupId, after: page.after ?? '', limit: page.limit ?? 100 } },
      { acrossReconnects: true },
    );
    return groupMembersFromWire(frame.groupMembersPage as imcloud.v1.GroupMembersPage);
  }

  private async changeGroup(
    groupId: string,
    change: Omit<imcloud.v1.IGroupChange, 'clientMsgId' | 'groupId'>,
    clientMsgId = newClientMsgId(),
  ): Promise<SendResult> {
    checkGroupId(groupId);
    this.assertRunning();
    await this.whoAmI();
    // In the group's lane: changes and messages of one group go out in call order.
    return this.sends.enqueue({
      clientMsgId,
      conversation: groupConversation(groupId),
      body: { groupChange: { clientMsgId, groupId, ...change } },
    });
  }

  /** Recalls an own message (within the app's recall window). Resolves with the ack of the recall event. */
  async recall(conversation: string, seq: number, options: { clientMsgId?: string } = {}): Promise<SendResult> {
    this.assertRunning();
    await this.whoAmI();
    const clientMsgId = options.clientMsgId ?? newClientMsgId();
    return this.sends.enqueue({ clientMsgId, conversation, body: { recall: { clientMsgId, conversation, seq } } });
  }

  /** Marks the conversation read up to `seq`; the peer gets a ReadNotice. */
  async markRead(conversation: string, seq: number): Promise<ReadResult> {
    const frame = await this.connection.request({ read: { conversation, seq } }, { acrossReconnects: true });
    const ack = frame.readAck as imcloud.v1.ReadAck;
    const readSeq = Number(ack.readSeq);
    this.list.onOwnRead(conversation, readSeq);
    this.conversationsChanged();
    return { conversation, readSeq, unread: Number(ack.unread) };
  }

  /** One page of history, by seq or by time (ascending). */
  async history(conversation: string, query: HistoryQuery = {}): Promise<HistoryPage> {
    const frame = await this.connection.request(
      {
        history: {
          conversation,
          fromSeq: query.fromSeq ?? 0,
          toSeq: query.toSeq ?? 0,
          fromTs: query.fromTs ?? 0,
          toTs: query.toTs ?? 0,
          limit: query.limit ?? 50,
          newestFirst: query.newestFirst ?? false,
        },
      },
      { acrossReconnects: true },
    );
    const r = frame.historyResult as imcloud.v1.HistoryResult;
    const messages = r.messages.map((m) => chatMessageFromWire(m, this.userId));
    for (const m of messages) this.noteFile(m);
    return { conversation, messages, hasMore: r.hasMore };
  }

  /** Conversations with unread counts, newest activity first. */
  conversations(): ConversationInfo[] {
    return this.list.list();
  }

  conversation(conversation: string): ConversationInfo | undefined {
    return this.list.get(conversation);
  }

  /** Signs this device out (the server drops its route) and stops the client. */
  async logout(): Promise<void> {
    await this.connection.signOut();
    await this.shutdown('logout');
  }

  /** Stops the client: closes the connection, stops reconnecting, fails what is queued. */
  async close(): Promise<void> {
    await this.shutdown('closed');
  }

  /** Skips the rest of the reconnect wait (e.g. the browser reports the network is back). */
  reconnectNow(): void {
    this.connection.reconnectNow();
  }

  /**
   * Drops the connection without signing out, as a network failure would; the client
   * reconnects and resyncs by itself. For tests and diagnostics.
   */
  dropConnection(): void {
    this.connection.dropConnection();
  }

  private shutdown(reason: 'closed' | 'logout'): Promise<void> {
    // The cursors that moved are saved (and acknowledged, if still possible) before queued work fails.
    return this.connection.shutdown(reason, () => this.receiver.close());
  }

  /** Pushes, notices and send acks (the connection loop keeps the frames about itself). */
  private onServerFrame(frame: Frame): void {
    if (frame.body === 'sendAck') this.sends.ack(sendAckFromWire(frame.sendAck as imcloud.v1.SendAck));
    else this.receiver.handle(frame);
  }

  /** An Error frame no request waited for: a send attempt's (the send queue retries or fails it), or the app's to see. */
  private onErrorFrame(reqId: number, err: ImClientError): void {
    if (reqId && this.sends.fail(reqId, { code: err.code, message: err.message, retryAfterMs: err.retryAfterMs })) return;
    this.report(err);
  }

  private assertRunning(): void {
    if (this.connection.stopped)
      throw new ImClientError('SDK_CLOSED', `the client is ${this.state === 'kicked' ? 'kicked' : 'closed'}; create a new one`);
  }

  private whoAmI(): Promise<string> {
    const userId = this.userId;
    if (userId) return Promise.resolve(userId);
    return this.connect().then(() => this.requireUser());
  }

  private requireUser(): string {
    const userId = this.userId;
    if (!userId) throw new ImClientError('SDK_CLOSED', 'not signed in yet: await connect() first');
    return userId;
  }

  /** A file message: where fileUrl() finds the grant for its file. */
  private noteFile(m: ChatMessage): void {
    if (m.file) this.fileConversations.remember(m.file.fileId, m.conversation);
  }

  private conversationsChanged(): void {
    if (this.conversationsQueued) return;
    this.conversationsQueued = true;
    queueMicrotask(() => {
      this.conversationsQueued = false;
      this.emit('conversations', this.list.list());
    });
  }

  private report(err: unknown): void {
    const e =
      err instanceof ImClientError
        ? err
        : new ImClientError('SDK_PROTOCOL', (err as Error)?.message ?? String(err), 0, false, { cause: err });
    this.emit('error', e);
  }

  protected override onListenerError(event: keyof ImClientEvents, err: unknown): void {
    if (event === 'error') return; // never recurse
    this.emit(
      'error',
      new ImClientError('SDK_LISTENER', `a "${String(event)}" listener threw: ${(err as Error)?.message ?? String(err)}`, 0, false, {
        cause: err,
      }),
    );
  }

  private peerOf(conversation: string): string {
    const members = conversationMembers(conversation);
    if (!members) return ''; // a group
    const userId = this.userId;
    return members.find((m) => m !== userId) ?? userId ?? '';
  }
}

function checkGroupId(groupId: string): void {
  if (!GROUP_ID.test(groupId)) throw new ImClientError('IM_BAD_REQUEST', `group id must match ${GROUP_ID.source}`);
}
