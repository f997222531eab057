import { describe, expect, it } from 'vitest';
import { singleConversation } from '../../protocol/conversation-id.js';
import { imcloud } from '../../protocol/gen/im.js';
import type { FileRecord } from '../ports/file-catalog.js';
import { logicFixture } from './logic-fixture.js';

// File messages (ADR 0031): the sender names a file id; logic checks the sender may use it, grants
// the conversation, and rebuilds the body from the file's record.
describe('logic: file messages', () => {
  const conversation = singleConversation('alice', 'bob');
  const record = (fileId: string, uploader: string, over: Partial<FileRecord> = {}): FileRecord => ({
    appId: 'app1',
    fileId,
    md5: 'a'.repeat(32),
    size: 1234,
    name: 'cat.png',
    contentType: 'image/png',
    uploader,
    createdAt: 1,
    thumbnail: true,
    width: 640,
    height: 480,
    ...over,
  });
  const ids = { own: `f${'A'.repeat(22)}`, carols: `f${'B'.repeat(22)}`, missing: `f${'C'.repeat(22)}` };
  const sendFile = (fx: Awaited<ReturnType<typeof logicFixture>>, clientMsgId: string, body: Uint8Array, contentType = 'file') =>
    fx.request({ reqId: 1, send: { clientMsgId, to: 'bob', contentType, body } });
  const ref = (fileId: string, claimed: Partial<imcloud.v1.IFileRef> = {}) => imcloud.v1.FileRef.encode({ fileId, ...claimed }).finish();

  it("the sender's own file: accepted as an image, the body rebuilt from the record, the conversation granted", async () => {
    const fx = await logicFixture();
    await fx.backends.files.addFile(record(ids.own, 'alice'));
    await sendFile(fx, 'm-1', ref(ids.own, { name: 'claimed.exe', size: 1 }));
    const [ack] = await fx.settled(1);
    expect(ack!.sendAck).toMatchObject({ conversation, seq: 1 });
    const [stored] = await fx.backends.window.range('app1', conversation, 1, 1);
    expect(stored!.contentType).toBe('image');
    expect(imcloud.v1.FileRef.toObject(imcloud.v1.FileRef.decode(stored!.body), { longs: Number })).toEqual({
      fileId: ids.own,
      name: 'cat.png',
      size: 1234,
      md5: 'a'.repeat(32),
      contentType: 'image/png',
      width: 640,
      height: 480,
      thumbnail: true,
    });
    expect(await fx.backends.files.hasGrant('app1', ids.own, conversation)).toBe(true);
    await fx.logic.stop();
  });

  it("another user's file the sender never received, a missing file and a malformed body are refused, nothing stored", async () => {
    const fx = await logicFixture();
    await fx.backends.files.addFile(record(ids.carols, 'carol', { thumbnail: false }));
    await sendFile(fx, 'm-1', ref(ids.carols));
    await sendFile(fx, 'm-2', ref(ids.missing), 'image');
    await sendFile(fx, 'm-3', new Uint8Array([0xff, 0xff, 0xff]));
    const replies = await fx.settled(3);
    expect(replies.map((r) => r.error?.code)).toEqual(['IM_FORBIDDEN', 'IM_FILE_NOT_FOUND', 'IM_BAD_REQUEST']);
    const errors = await fx.metrics.registry.getSingleMetricAsString('imcloud_logic_send_errors_total');
    expect(errors).toContain('imcloud_logic_send_errors_total{app_id="app1",code="IM_FORBIDDEN"} 1');
    expect(await fx.backends.seq.current('app1', conversation)).toBe(0);
    expect(await fx.backends.files.hasGrant('app1', ids.carols, conversation)).toBe(false);
    await fx.logic.stop();
  });

  it('a file received in a conversation may be forwarded; a plain file stays content type "file"', async () => {
    const fx = await logicFixture();
    await fx.backends.files.addFile(record(ids.carols, 'carol', { thumbnail: false, width: undefined, height: undefined }));
    await fx.backends.files.grant({ appId: 'app1', fileId: ids.carols, conversation: singleConversation('alice', 'carol') });
    await sendFile(fx, 'm-1', ref(ids.carols));
    const [ack] = await fx.settled(1);
    expect(ack!.sendAck).toMatchObject({ conversation, seq: 1 });
    const [stored] = await fx.backends.window.range('app1', conversation, 1, 1);
    expect(stored!.contentType).toBe('file');
    expect(await fx.backends.files.hasGrant('app1', ids.carols, conversation)).toBe(true);
    await fx.logic.stop();
  });
});
