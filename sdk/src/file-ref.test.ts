import { describe, expect, it } from 'vitest';
import { imcloud } from '../../protocol/gen/im.js';
import { fileFromAnswer, fileFromBody, fileRefBody, fullFileRefBody } from './file-ref.js';
import { chatMessageFromWire, ownMessageFromAck } from './wire-mapping.js';

const png = {
  fileId: 'f-1',
  name: 'cat.png',
  size: 12345,
  md5: '0123456789abcdef0123456789abcdef',
  contentType: 'image/png',
  width: 640,
  height: 480,
  thumbnail: true,
};

describe('FileRef bodies', () => {
  it('a sender names the file id only', () => {
    expect(imcloud.v1.FileRef.toObject(imcloud.v1.FileRef.decode(fileRefBody('f-1')))).toEqual({ fileId: 'f-1' });
  });

  it('decodes what the server filled in; a plain file has no width or height', () => {
    expect(fileFromBody(fullFileRefBody(png))).toEqual(png);
    const pdf = { ...png, name: 'a.pdf', contentType: 'application/pdf', width: undefined, height: undefined, thumbnail: false };
    const { width: _w, height: _h, ...plain } = pdf;
    expect(fileFromBody(fullFileRefBody(pdf))).toEqual(plain);
    expect(fileFromBody(new Uint8Array([0xff, 0xff, 0xff]))).toBeUndefined();
    expect(fileFromBody(new Uint8Array(0))).toBeUndefined(); // no file id
  });

  it('a received image message carries ChatMessage.file; a text or recalled one does not', () => {
    const wire = { conversation: 's:a:b', seq: 3, sender: 'a', contentType: 'image', body: fullFileRefBody(png) };
    expect(chatMessageFromWire(wire, 'b').file).toEqual(png);
    expect(chatMessageFromWire({ ...wire, contentType: 'file' }, 'b').file).toEqual(png);
    expect(chatMessageFromWire({ ...wire, contentType: 'text' }, 'b').file).toBeUndefined();
    expect(chatMessageFromWire({ ...wire, recalled: true, body: new Uint8Array(0) }, 'b').file).toBeUndefined();
  });

  it("the own message of a file send shows the whole file (the server's copy goes to other devices)", () => {
    const body = fileRefBody(png.fileId);
    const out = {
      clientMsgId: 'c1',
      conversation: 's:a:b',
      body: { send: { clientMsgId: 'c1', to: 'b', contentType: 'file', body } },
      ownView: { contentType: 'image', body: fullFileRefBody(png) },
    };
    const ack = { clientMsgId: 'c1', conversation: 's:a:b', seq: 4, msgId: '9', ts: 1, duplicate: false };
    const m = ownMessageFromAck(out, ack, 'a', 'dev');
    expect(m.contentType).toBe('image');
    expect(m.file).toEqual(png);
    expect(ownMessageFromAck({ ...out, ownView: undefined }, ack, 'a', 'dev').file).toEqual({
      fileId: 'f-1',
      name: '',
      size: 0,
      md5: '',
      contentType: '',
      thumbnail: false,
    });
  });

  it("maps the file service's answer", () => {
    expect(fileFromAnswer({ ...png, uploader: 'a', createdAt: 5, deduplicated: true })).toEqual({ ...png, deduplicated: true });
    expect(fileFromAnswer({ ...png, width: undefined, height: undefined, thumbnail: false })).not.toHaveProperty('width');
  });
});
