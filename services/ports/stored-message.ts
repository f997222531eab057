// The message shape that ports store. It mirrors imcloud.v1.Message; the body stays opaque.

export interface StoredMessage {
  conversation: string;
  seq: number;
  msgId: string;
  sender: string;
  senderDevice: string;
  clientMsgId: string;
  ts: number;
  /** imcloud.v1.MessageKind */
  kind: number;
  contentType: string;
  body: Uint8Array;
  recallsSeq: number;
  recalled: boolean;
  /** Group chat: the members it @mentions (absent when none). */
  mentions?: string[];
}
