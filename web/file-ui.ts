// Files in the web chat: the attach button of the composer, the progress of an upload ("already
// uploaded" when the app held the bytes: a flash upload), and file messages in the thread (an
// image as its thumbnail, which opens the original; any other file as a link that downloads it).
// Reloading the page mid-upload loses nothing: attaching the same file again resumes where the
// server stopped (the SDK's upload()).
import type { FileInfo, ImClient } from '../sdk/src/index.js';

/** Where an attached file goes: the open conversation. */
export interface FileTarget {
  conversation: string;
  peer: string;
  groupId?: string;
}

export interface FileUiDeps {
  client(): ImClient | undefined;
  target(): FileTarget | undefined;
  /** Called before the file message is sent (the page marks the conversation read first). */
  beforeSend(conversation: string): Promise<void>;
  toast(text: string): void;
}

/** One upload of this page, for tests and curious developers (window.imcloudDebug.uploads). */
export interface UploadRecord {
  name: string;
  size: number;
  /** Bytes the server held at the start: > 0 for a resumed upload. */
  resumedFrom?: number;
  deduplicated?: boolean;
  state: 'uploading' | 'sending' | 'sent' | 'failed' | 'cancelled';
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

export class FileUi {
  readonly uploads: UploadRecord[] = [];
  private readonly ui = {
    attach: $<HTMLButtonElement>('attach'),
    input: $<HTMLInputElement>('attach-input'),
    status: $('upload'),
    name: $('upload-name'),
    bar: $<HTMLProgressElement>('upload-progress'),
    text: $('upload-text'),
    cancel: $<HTMLButtonElement>('upload-cancel'),
  };
  private controller: AbortController | undefined;
  private hideTimer: ReturnType<typeof setTimeout> | undefined;
  /** The element of each file message, kept across re-renders so an image is not fetched again. */
  private readonly views = new Map<string, HTMLElement>();

  constructor(private readonly deps: FileUiDeps) {
    this.ui.attach.addEventListener('click', () => this.ui.input.click());
    this.ui.input.addEventListener('change', () => {
      const file = this.ui.input.files?.[0];
      this.ui.input.value = '';
      if (file) void this.send(file);
    });
    this.ui.cancel.addEventListener('click', () => this.controller?.abort());
  }

  /** Uploads `file` and sends it to the open conversation. */
  async send(file: File): Promise<void> {
    const client = this.deps.client();
    const target = this.deps.target();
    if (!client || !target) return;
    if (this.controller) return this.deps.toast('One upload at a time: wait for this one, or cancel it.');
    const controller = (this.controller = new AbortController());
    const record: UploadRecord = { name: file.name, size: file.size, state: 'uploading' };
    this.uploads.push(record);
    this.show(record, 0, 'preparing…');
    try {
      const uploaded = await client.upload(file, {
        name: file.name,
        contentType: file.type || 'application/octet-stream',
        signal: controller.signal,
        onProgress: (sent, total) => {
          record.resumedFrom ??= sent;
          this.show(record, total ? sent / total : 1, `${sizeText(sent)} of ${sizeText(total)}`);
        },
      });
      record.deduplicated = uploaded.deduplicated;
      record.state = 'sending';
      this.show(record, 1, uploaded.deduplicated ? 'already uploaded · sending…' : 'uploaded · sending…');
      await this.deps.beforeSend(target.conversation);
      await client.sendFile(target.groupId ? { group: target.groupId } : target.peer, uploaded);
      record.state = 'sent';
      this.show(record, 1, uploaded.deduplicated ? 'already uploaded · sent' : 'sent');
    } catch (err) {
      const aborted = controller.signal.aborted;
      record.state = aborted ? 'cancelled' : 'failed';
      this.show(record, Number(this.ui.bar.value), aborted ? 'cancelled (attach it again to resume)' : `failed: ${(err as Error).message}`);
    } finally {
      this.controller = undefined;
      this.ui.cancel.hidden = true;
      clearTimeout(this.hideTimer);
      this.hideTimer = setTimeout(() => (this.ui.status.hidden = true), 8_000);
    }
  }

  /** The body of a file message (`key`: the message's, unique in the page) in the thread: its thumbnail (images) or a download link. */
  view(key: string, conversation: string, file: FileInfo): HTMLElement {
    let el = this.views.get(key);
    if (!el) this.views.set(key, (el = file.thumbnail ? this.imageView(conversation, file) : this.fileView(conversation, file)));
    return el;
  }

  private imageView(conversation: string, file: FileInfo): HTMLElement {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'file-image';
    button.dataset.testid = 'message-image-open';
    button.title = `${file.name} · ${sizeText(file.size)}: open the original`;
    const img = document.createElement('img');
    img.dataset.testid = 'message-image';
    img.alt = file.name;
    if (file.width && file.height) {
      // The thumbnail keeps the aspect ratio: reserve its box so the thread does not jump.
      const scale = Math.min(1, 256 / Math.max(file.width, file.height));
      img.width = Math.round(file.width * scale);
      img.height = Math.round(file.height * scale);
    }
    button.append(img);
    this.deps
      .client()
      ?.fileUrl(file.fileId, { thumbnail: true, conversation })
      .then((url) => (img.src = url))
      .catch((err: Error) => (img.alt = `${file.name} (${err.message})`));
    button.addEventListener('click', () => void this.open(conversation, file));
    return button;
  }

  private fileView(conversation: string, file: FileInfo): HTMLElement {
    const link = document.createElement('a');
    link.className = 'file-link';
    link.dataset.testid = 'message-file';
    link.href = '#';
    link.textContent = `📄 ${file.name} · ${sizeText(file.size)}`;
    link.addEventListener('click', (e) => {
      e.preventDefault();
      void this.download(conversation, file);
    });
    return link;
  }

  /** Opens the original in a new tab (opened at once, so the browser treats it as the click's). */
  private async open(conversation: string, file: FileInfo): Promise<void> {
    const tab = window.open('about:blank', '_blank');
    try {
      const url = await this.deps.client()!.fileUrl(file.fileId, { conversation });
      if (tab) tab.location.href = url;
      else location.assign(url);
    } catch (err) {
      tab?.close();
      this.deps.toast(`Cannot open ${file.name}: ${(err as Error).message}`);
    }
  }

  private async download(conversation: string, file: FileInfo): Promise<void> {
    try {
      const a = document.createElement('a');
      a.href = await this.deps.client()!.fileUrl(file.fileId, { conversation });
      a.download = file.name;
      a.click();
    } catch (err) {
      this.deps.toast(`Cannot download ${file.name}: ${(err as Error).message}`);
    }
  }

  private show(record: UploadRecord, fraction: number, text: string): void {
    clearTimeout(this.hideTimer);
    const { status, name, bar, cancel } = this.ui;
    status.hidden = false;
    status.dataset.state = record.state;
    status.dataset.deduplicated = String(record.deduplicated ?? false);
    name.textContent = record.name;
    bar.value = fraction;
    this.ui.text.textContent = text;
    cancel.hidden = record.state !== 'uploading';
  }
}

export function sizeText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
