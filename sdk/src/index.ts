// imcloud client SDK: browser and Node 20+. See ImClient for the protocol behaviour.

export { groupConversation, singleConversation } from '../../protocol/conversation-id.js';
export type { ClientErrorCode, SdkErrorCode } from './client-error.js';
export { ImClientError, RETRYABLE_CODES } from './client-error.js';
export type { SendAck } from './conversation-sender.js';
export type { CursorStore, Cursors } from './cursor-store.js';
export { cursorScope, MemoryCursorStore } from './cursor-store.js';
export { FILE_CONTENT_TYPES, fileFromBody } from './file-ref.js';
export type { WebSocketConstructor, WebSocketLike } from './frame-socket.js';
export { newClientMsgId, newDeviceId } from './ids.js';
export { type GroupMessage, ImClient, SDK_VERSION } from './im-client.js';
export { IndexedDbCursorStore } from './indexed-db-cursor-store.js';
export type { ImClientHooks, ImClientOptions, ImClientTimeouts, SendOptions } from './options.js';
export type * from './types.js';
