// The demo web chat: plain DOM on top of the SDK. Signs in as a user of the embedded demo app
// (token from POST /v1/demo/token), lists conversations with unread counts, sends, shows
// delivery (✓) and read (✓✓) state of own messages, recalls, and shows the connection state.
// Groups: create one with members, add members, chat in it; membership events show in the thread.
// Files (file-ui.ts): attach one, watch it upload, images show as thumbnails in the thread.
// The device id lives in localStorage and the receive cursors in IndexedDB, so a reloaded tab
// is the same device and syncs only what it missed.
import {
  type ChatMessage,
  type ConnectionState,
  type ConversationInfo,
  type CursorStore,
  type Cursors,
  cursorScope,
  type FileInfo,
  ImClient,
  IndexedDbCursorStore,
  MemoryCursorStore,
  newClientMsgId,
  type StateEvent,
  singleConversation,
} from '../sdk/src/index.js';
import { deviceIdFor, fetchJson } from './demo-session.js';
import { FileUi } from './file-ui.js';
import { EVENT_TEXT } from './group-event-text.js';
import { peerTitle, systemItem } from './system-message.js';

/** The recall window of the default server config; the server has the final word. */
const RECALL_HINT_MS = 2 * 60_000;
const USER_ID = /^[A-Za-z0-9_.@-]{1,64}$/;
const LAST_USER_KEY = 'imcloud.demo.user';

interface UiMessage {
  conversation: string;
  /** Absent while the send is not yet acknowledged. */
  seq?: number;
  clientMsgId: string;
  sender: string;
  text: string;
  ts: number;
  own: boolean;
  recalled: boolean;
  failed?: boolean;
  /** A group's membership or settings change, as a line of text. */
  event?: string;
  /** A file message's file. */
  file?: FileInfo;
  /** Sent by the app itself (ChatMessage.system). */
  system?: boolean;
}

interface DemoConfig {
  appId: string;
  dispatch: string;
  /** The file role's base URL; empty: this page's origin. */
  files: string;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const ui = {
  me: $('me'),
  conn: $('conn'),
  connText: $('conn-text'),
  logout: $<HTMLButtonElement>('logout'),
  loginView: $('login-view'),
  loginForm: $<HTMLFormElement>('login-form'),
  loginUser: $<HTMLInputElement>('login-user'),
  loginError: $('login-error'),
  chatView: $('chat-view'),
  newChat: $<HTMLFormElement>('new-chat'),
  newChatPeer: $<HTMLInputElement>('new-chat-peer'),
  newGroup: $<HTMLFormElement>('new-group'),
  newGroupName: $<HTMLInputElement>('new-group-name'),
  newGroupMembers: $<HTMLInputElement>('new-group-members'),
  groupAdd: $<HTMLFormElement>('group-add'),
  groupAddUser: $<HTMLInputElement>('group-add-user'),
  conversations: $<HTMLUListElement>('conversations'),
  noConversations: $('no-conversations'),
  threadPeer: $('thread-peer'),
  messages: $<HTMLOListElement>('messages'),
  composer: $<HTMLFormElement>('composer'),
  composerInput: $<HTMLInputElement>('composer-input'),
  toast: $('toast'),
};

const files = new FileUi({
  client: () => client,
  target: () => current,
  beforeSend: (conversation) => readBeforeWriting(conversation),
  toast,
});

/** For tests and curious developers: the client, every message event in delivery order, the uploads. */
const debug = {
  uploads: files.uploads,
  client: undefined as ImClient | undefined,
  received: [] as Array<{ conversation: string; seq: number; clientMsgId: string; text?: string }>,
  /** What this device has persisted as its receive cursors. */
  storedCursors: async (): Promise<Cursors> => {
    const c = debug.client;
    if (!c?.userId) return {};
    return cursorStore.load(cursorScope(c.appId, c.userId, c.deviceId));
  },
};
(window as unknown as { imcloudDebug: typeof debug }).imcloudDebug = debug;

const cursorStore: CursorStore = IndexedDbCursorStore.available() ? new IndexedDbCursorStore() : new MemoryCursorStore();
let client: ImClient | undefined;
let me = '';
let current: { conversation: string; peer: string; groupId?: string } | undefined;
/** groupId → its name, from the events seen (created, renamed). */
const groupNames = new Map<string, string>();
/** The open group's last own message: how many have read it, asked again every few seconds. */
let readBy: { conversation: string; seq: number; text: string; askedAt: number } | undefined;
const READ_BY_REFRESH_MS = 2_000;
/** conversation → key → message; key is the seq once acknowledged, else "pending:<clientMsgId>". */
const threads = new Map<string, Map<string, UiMessage>>();
let readTimer: ReturnType<typeof setTimeout> | undefined;
let renderQueued = false;
let toastTimer: ReturnType<typeof setTimeout> | undefined;

// ── sign in / out ────────────────────────────────────────────────────────────────────────────

async function signIn(userId: string): Promise<void> {
  ui.loginError.textContent = '';
  const config = await fetchJson<DemoConfig>('/v1/demo/config');
  let cached: { token: string; expiresAt: number } | undefined;
  // Called before every connection attempt: reuse the token until it nears expiry.
  const getToken = async () => {
    if (!cached || cached.expiresAt - Date.now() < 60_000) {
      cached = await fetchJson<{ token: string; expiresAt: number }>('/v1/demo/token', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userId }),
      });
    }
    return cached.token;
  };
  await getToken(); // a bad user id fails here, on the form, not in a reconnect loop

  me = userId;
  const c = new ImClient({
    appId: config.appId,
    dispatchUrl: config.dispatch,
    ...(config.files && { filesUrl: config.files }),
    getToken,
    deviceId: await deviceIdFor(userId),
    platform: 'web',
    cursorStore,
  });
  client = c;
  debug.client = c;
  c.on('state', showState);
  c.on('conversations', renderConversations);
  c.on('message', onMessage);
  c.on('recall', (r) => {
    const m = threads.get(r.conversation)?.get(String(r.seq));
    if (m) m.recalled = true;
    if (r.conversation === current?.conversation) {
      queueRender();
      // The recall event has a seq of its own and counts as unread until read.
      if (r.by !== me) scheduleRead();
    }
  });
  c.on('delivered', (e) => e.conversation === current?.conversation && queueRender());
  c.on('read', (e) => e.conversation === current?.conversation && queueRender());
  c.on('error', (e) => console.warn('imcloud:', e.code, e.message));

  localStorage.setItem(LAST_USER_KEY, userId);
  ui.me.textContent = userId;
  ui.loginView.hidden = true;
  ui.chatView.hidden = false;
  ui.logout.hidden = false;
  document.title = `${userId} · imcloud chat`;
  await c.connect();
}

async function signOut(): Promise<void> {
  localStorage.removeItem(LAST_USER_KEY);
  await client?.logout();
  client = undefined;
  location.reload();
}

// ── state and conversations ──────────────────────────────────────────────────────────────────

const STATE_TEXT: Record<ConnectionState, string> = {
  idle: 'signed out',
  connecting: 'connecting…',
  online: 'online',
  offline: 'offline',
  kicked: 'signed in elsewhere',
};

function showState(e: StateEvent): void {
  ui.conn.dataset.state = e.state;
  let text = STATE_TEXT[e.state];
  if (e.state === 'offline' && e.willReconnect && e.retryInMs !== undefined)
    text = `offline · retrying in ${Math.ceil(e.retryInMs / 1000)} s`;
  if (e.state === 'offline' && !e.willReconnect && e.reason) text = `offline (${e.reason})`;
  if (e.state === 'kicked' && e.kick) text = `signed out: ${e.kick.message || e.kick.reason}`;
  ui.connText.textContent = text;
  for (const b of ui.composer.querySelectorAll('button')) b.disabled = e.state === 'kicked';
}

function renderConversations(list: ConversationInfo[]): void {
  ui.conversations.replaceChildren(
    ...list.map((c) => {
      const li = document.createElement('li');
      li.dataset.testid = 'conversation-item';
      li.dataset.peer = c.peer;
      li.dataset.conversation = c.conversation;
      if (c.group) li.dataset.group = c.group;
      if (c.conversation === current?.conversation) li.setAttribute('aria-current', 'true');
      const peer = document.createElement('span');
      peer.className = 'peer';
      peer.textContent = titleOf(c);
      const preview = document.createElement('span');
      preview.className = 'preview';
      const last = c.lastMessage;
      preview.textContent = !last
        ? ''
        : last.recalled
          ? 'message recalled'
          : `${last.own ? 'you: ' : ''}${last.text ?? (last.file ? `📎 ${last.file.name}` : `[${last.contentType}]`)}`;
      const unread = document.createElement('span');
      unread.className = 'unread';
      unread.dataset.testid = 'unread-count';
      unread.textContent = String(c.unread);
      unread.hidden = c.unread === 0;
      if (c.mentioned) {
        li.dataset.mentioned = 'true';
        unread.textContent = `@ ${c.unread}`;
      }
      li.append(peer, unread, preview);
      li.addEventListener('click', () => void openConversation(c.conversation));
      return li;
    }),
  );
  ui.noConversations.hidden = list.length > 0;
}

// ── messages ─────────────────────────────────────────────────────────────────────────────────

function thread(conversation: string): Map<string, UiMessage> {
  let t = threads.get(conversation);
  if (!t) threads.set(conversation, (t = new Map()));
  return t;
}

function titleOf(c: Pick<ConversationInfo, 'group' | 'peer'>): string {
  return c.group ? `# ${groupNames.get(c.group) ?? c.group}` : peerTitle(c.peer);
}

function fromChat(m: ChatMessage): UiMessage {
  const e = m.groupEvent;
  if (e?.name) groupNames.set(m.conversation.slice(2), e.name);
  return {
    ...(e && { event: EVENT_TEXT[e.type](e) }),
    ...(m.file && { file: m.file }),
    ...(m.system && { system: true }),
    conversation: m.conversation,
    seq: m.seq,
    clientMsgId: m.clientMsgId,
    sender: m.sender,
    ts: m.ts,
    own: m.own,
    recalled: m.recalled,
    text: m.text ?? `[${m.contentType}]`,
  };
}

/** Adds an acknowledged message (from an event or history); replaces its pending copy. */
function store(m: ChatMessage): void {
  if (m.kind === 'recall') {
    const target = thread(m.conversation).get(String(m.recallsSeq));
    if (target) target.recalled = true;
    return;
  }
  const t = thread(m.conversation);
  if (m.own) t.delete(`pending:${m.clientMsgId}`);
  const existing = t.get(String(m.seq));
  t.set(String(m.seq), { ...fromChat(m), recalled: m.recalled || (existing?.recalled ?? false) });
}

function onMessage(m: ChatMessage): void {
  debug.received.push({ conversation: m.conversation, seq: m.seq, clientMsgId: m.clientMsgId, text: m.text });
  store(m);
  if (m.conversation === current?.conversation) {
    queueRender();
    if (!m.own) scheduleRead();
  }
}

function openChat(peer: string): Promise<void> {
  if (!client || !USER_ID.test(peer) || peer === me) {
    toast(peer === me ? 'Pick someone else to chat with.' : `"${peer}" is not a valid user id.`);
    return Promise.resolve();
  }
  return openConversation(singleConversation(me, peer));
}

async function createGroup(name: string, members: string[]): Promise<void> {
  if (!client) return;
  const bad = members.find((u) => !USER_ID.test(u));
  if (bad !== undefined) return toast(`"${bad}" is not a valid user id.`);
  try {
    const group = await client.createGroup({ name, members: members.filter((u) => u !== me) });
    groupNames.set(group.groupId, name);
    await openConversation(group.conversation);
  } catch (err) {
    toast(`Could not create the group: ${(err as Error).message}`);
  }
}

async function addToGroup(userId: string): Promise<void> {
  if (!client || !current?.groupId) return;
  try {
    await client.addMembers(current.groupId, [userId]);
  } catch (err) {
    toast(`Could not add ${userId}: ${(err as Error).message}`);
  }
}

/** Learns a group's name (a member who joined later saw no "created" event). */
async function nameGroup(groupId: string): Promise<void> {
  const page = await client?.groupMembers(groupId, { limit: 1 }).catch(() => undefined);
  if (!page || !client) return;
  groupNames.set(groupId, page.name);
  if (current?.groupId === groupId) ui.threadPeer.textContent = titleOf({ group: groupId, peer: '' });
  renderConversations(client.conversations());
}

async function openConversation(conversation: string): Promise<void> {
  if (!client) return;
  const groupId = conversation.startsWith('g:') ? conversation.slice(2) : undefined;
  const peer = groupId
    ? ''
    : (conversation
        .slice(2)
        .split(':')
        .find((u) => u !== me) ?? me);
  current = { conversation, peer, ...(groupId && { groupId }) };
  ui.threadPeer.textContent = titleOf({ group: groupId, peer });
  ui.groupAdd.hidden = groupId === undefined;
  if (groupId && !groupNames.has(groupId)) void nameGroup(groupId);
  ui.composer.hidden = false;
  ui.composerInput.focus();
  renderConversations(client.conversations());
  queueRender();
  // History fills in what this tab has not seen (earlier messages, other devices' sends).
  try {
    const page = await client.history(conversation, { newestFirst: true, limit: 50 });
    for (const m of page.messages) store(m);
  } catch (err) {
    toast(`Could not load history: ${(err as Error).message}`);
  }
  if (current?.conversation === conversation) {
    queueRender();
    scheduleRead();
  }
}

/** Marks everything in the conversation read (the peer gets a ReadNotice: ✓✓). */
async function readAll(conversation: string): Promise<void> {
  const info = client?.conversation(conversation);
  if (!client || !info || info.readSeq >= info.maxSeq) return;
  try {
    await client.markRead(conversation, info.maxSeq);
  } catch (err) {
    console.warn('markRead failed', err);
  }
}

/** Marks the open conversation read, once the tab is actually visible. */
function scheduleRead(): void {
  clearTimeout(readTimer);
  readTimer = setTimeout(() => {
    if (current && document.visibilityState === 'visible') void readAll(current.conversation);
  }, 150);
}

async function sendCurrent(): Promise<void> {
  const text = ui.composerInput.value.trim();
  if (!client || !current || !text) return;
  ui.composerInput.value = '';
  const { conversation, peer, groupId } = current;
  const clientMsgId = newClientMsgId();
  const pending: UiMessage = { conversation, clientMsgId, sender: me, text, ts: Date.now(), own: true, recalled: false };
  thread(conversation).set(`pending:${clientMsgId}`, pending);
  queueRender();
  try {
    await readBeforeWriting(conversation);
    if (groupId) await client.sendToGroup(groupId, text, { clientMsgId });
    else await client.send(peer, text, { clientMsgId });
  } catch (err) {
    pending.failed = true;
    toast(`Not sent: ${(err as Error).message}`);
    queueRender();
  }
}

/**
 * Replying means having read. The server moves the sender's read cursor on every send without
 * telling the peer, and a receipt sent later no longer moves it, so the receipt goes first.
 */
async function readBeforeWriting(conversation: string): Promise<void> {
  clearTimeout(readTimer);
  await readAll(conversation);
}

async function recall(m: UiMessage): Promise<void> {
  if (!client || m.seq === undefined) return;
  try {
    await readBeforeWriting(m.conversation);
    await client.recall(m.conversation, m.seq);
  } catch (err) {
    toast(`Cannot recall: ${(err as Error).message}`);
  }
}

function statusOf(m: UiMessage, info: ConversationInfo | undefined): string {
  if (m.seq === undefined) return m.failed ? 'failed' : 'sending';
  // A group's members do not report each other's deliveries and reads.
  if (info?.group) return 'sent';
  if (info && m.seq <= info.peerReadSeq) return 'read';
  if (info && m.seq <= info.peerDeliveredSeq) return 'delivered';
  return 'sent';
}

const STATUS_MARK: Record<string, [string, string]> = {
  sending: ['…', 'sending'],
  failed: ['!', 'not sent'],
  sent: ['·', 'sent, not delivered yet'],
  delivered: ['✓', 'delivered'],
  read: ['✓✓', 'read'],
};

function queueRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderThread();
  });
}

function renderThread(): void {
  if (!current) return;
  const info = client?.conversation(current.conversation);
  const list = [...thread(current.conversation).values()].sort((a, b) => (a.seq ?? Infinity) - (b.seq ?? Infinity) || a.ts - b.ts);
  const atBottom = ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 40;
  ui.messages.replaceChildren(
    ...list.map((m) => {
      if (m.event !== undefined) return eventItem(m);
      if (m.system) return systemItem(m);
      const li = document.createElement('li');
      li.dataset.testid = 'message';
      if (m.seq !== undefined) li.dataset.seq = String(m.seq);
      li.dataset.own = String(m.own);
      li.dataset.clientMsgId = m.clientMsgId;
      if (m.recalled) li.classList.add('recalled');
      const text = document.createElement('div');
      text.className = 'text';
      text.dataset.testid = 'message-text';
      if (m.recalled) text.textContent = m.own ? 'You recalled a message' : 'This message was recalled';
      else if (m.file) text.append(files.view(`${m.conversation}\n${m.clientMsgId}`, m.conversation, m.file));
      else text.textContent = m.text;
      const meta = document.createElement('div');
      meta.className = 'meta';
      const time = document.createElement('time');
      time.textContent = new Date(m.ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      meta.append(time);
      if (m.own && info?.group && m.seq !== undefined && m === lastOwn(list)) meta.append(readByLabel(m));
      if (m.own) {
        const status = statusOf(m, info);
        li.dataset.status = status;
        if (!m.recalled && m.seq !== undefined && Date.now() - m.ts < RECALL_HINT_MS) {
          const button = document.createElement('button');
          button.type = 'button';
          button.className = 'link recall';
          button.dataset.testid = 'message-recall';
          button.textContent = 'recall';
          button.addEventListener('click', () => void recall(m));
          meta.append(button);
        }
        const mark = document.createElement('span');
        mark.className = 'status';
        mark.dataset.testid = 'message-status';
        const [glyph, title] = STATUS_MARK[status]!;
        mark.textContent = glyph;
        mark.title = title;
        meta.append(mark);
      }
      if (info?.group && !m.own) {
        const sender = document.createElement('div');
        sender.className = 'sender';
        sender.dataset.testid = 'message-sender';
        sender.textContent = m.sender;
        li.append(sender);
      }
      li.append(text, meta);
      return li;
    }),
  );
  if (atBottom) ui.messages.scrollTop = ui.messages.scrollHeight;
}

function lastOwn(list: UiMessage[]): UiMessage | undefined {
  for (let i = list.length - 1; i >= 0; i--) if (list[i]!.own && list[i]!.seq !== undefined && !list[i]!.event) return list[i];
  return undefined;
}

/** "read by N of M" under the open group's last own message; asked again when it is older than the refresh interval. */
function readByLabel(m: UiMessage): HTMLElement {
  const label = document.createElement('span');
  label.className = 'read-by';
  label.dataset.testid = 'read-by';
  const known = readBy && readBy.conversation === m.conversation && readBy.seq === m.seq ? readBy : undefined;
  label.textContent = known?.text ?? '';
  if (!known || Date.now() - known.askedAt > READ_BY_REFRESH_MS) void askReaders(m.conversation, m.seq!);
  return label;
}

async function askReaders(conversation: string, seq: number): Promise<void> {
  if (!client) return;
  readBy = { conversation, seq, text: readBy?.seq === seq ? readBy.text : '', askedAt: Date.now() };
  try {
    const r = await client.readers(conversation, seq);
    const names = r.readers?.length ? `: ${r.readers.join(', ')}` : '';
    readBy = { conversation, seq, text: `read by ${r.readCount} of ${r.memberCount}${names}`, askedAt: Date.now() };
    if (current?.conversation === conversation) queueRender();
  } catch (err) {
    console.warn('readers failed', err);
  }
}

function eventItem(m: UiMessage): HTMLLIElement {
  const li = document.createElement('li');
  li.className = 'event';
  li.dataset.testid = 'group-event';
  if (m.seq !== undefined) li.dataset.seq = String(m.seq);
  li.textContent = m.event ?? '';
  return li;
}

function toast(text: string): void {
  ui.toast.textContent = text;
  ui.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (ui.toast.hidden = true), 4000);
}

// ── wiring ───────────────────────────────────────────────────────────────────────────────────

ui.loginForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const userId = ui.loginUser.value.trim();
  signIn(userId).catch((err: Error) => {
    ui.loginError.textContent = err.message;
    ui.loginView.hidden = false;
    ui.chatView.hidden = true;
  });
});
ui.newChat.addEventListener('submit', (e) => {
  e.preventDefault();
  const peer = ui.newChatPeer.value.trim();
  ui.newChatPeer.value = '';
  void openChat(peer);
});
ui.newGroup.addEventListener('submit', (e) => {
  e.preventDefault();
  const name = ui.newGroupName.value.trim();
  const members = ui.newGroupMembers.value
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
  ui.newGroupName.value = '';
  ui.newGroupMembers.value = '';
  void createGroup(name, members);
});
ui.groupAdd.addEventListener('submit', (e) => {
  e.preventDefault();
  const userId = ui.groupAddUser.value.trim();
  ui.groupAddUser.value = '';
  void addToGroup(userId);
});
ui.composer.addEventListener('submit', (e) => {
  e.preventDefault();
  void sendCurrent();
});
ui.logout.addEventListener('click', () => void signOut());
// The browser knows before the backoff does when the network returns.
window.addEventListener('online', () => client?.reconnectNow());
// An open group's "read by" is asked again while the thread is open.
setInterval(() => current?.groupId && queueRender(), READ_BY_REFRESH_MS);
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && current) scheduleRead();
});

const remembered = localStorage.getItem(LAST_USER_KEY);
if (remembered && USER_ID.test(remembered)) {
  ui.loginUser.value = remembered;
  signIn(remembered).catch((err: Error) => {
    ui.loginError.textContent = err.message;
    ui.loginView.hidden = false;
    ui.chatView.hidden = true;
  });
}
