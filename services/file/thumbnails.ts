// Thumbnails of stored images with sharp (ADR 0031): JPEG, PNG, WebP and GIF (first frame), the
// longest side file.thumbnailPx, stored once per object beside it as WebP. sharp's own limits
// (limitInputPixels) refuse decompression bombs; whatever sharp refuses stays a plain file.
import pLimit from 'p-limit';
import type { Sharp, SharpOptions } from 'sharp';
import { blobKeys } from '../ports/blob-store.js';
import type { FileRecord } from '../ports/file-catalog.js';
import { readStream } from '../shared/bytes.js';
import type { FileContext } from './file-context.js';

const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/webp', 'image/gif']);
/** Decoding is CPU and memory heavy: a few at a time per process. */
const AT_ONCE = 2;

type SharpFactory = (input: Buffer, options: SharpOptions) => Sharp;
let loaded: Promise<SharpFactory> | undefined;

/** sharp (libvips) is loaded by the first thumbnail, so processes without the file role never load it. */
function loadSharp(): Promise<SharpFactory> {
  loaded ??= import('sharp').then(({ default: sharp }) => {
    // The decoder's cache would keep pixels of past images; each object is thumbnailed once.
    sharp.cache(false);
    return sharp;
  });
  return loaded;
}

export type ImageFacts = Pick<FileRecord, 'width' | 'height' | 'thumbnail'>;

export class Thumbnails {
  private readonly limit = pLimit(AT_ONCE);

  constructor(private readonly cx: FileContext) {}

  /** Reads the stored object; for an image sharp accepts, stores its thumbnail and returns its size. */
  async make(appId: string, md5: string, size: number, contentType: string): Promise<ImageFacts> {
    const { config, metrics, log } = this.cx;
    if (!IMAGE_TYPES.has(contentType)) return { thumbnail: false };
    if (size > config.thumbnailMaxBytes) {
      metrics.fileThumbnails.inc({ result: 'skipped' });
      return { thumbnail: false };
    }
    return this.limit(async () => {
      try {
        const input = await readStream(await this.cx.blobs.get(appId, blobKeys.file(md5)));
        const sharp = await loadSharp();
        const image = sharp(input, { limitInputPixels: config.maxImagePixels, animated: false }).rotate();
        const meta = await image.metadata();
        const thumb = await image
          .resize({ width: config.thumbnailPx, height: config.thumbnailPx, fit: 'inside', withoutEnlargement: true })
          .webp({ quality: 80 })
          .toBuffer();
        await this.cx.blobs.put(appId, blobKeys.thumbnail(md5, config.thumbnailPx), thumb, {
          size: thumb.length,
          contentType: 'image/webp',
        });
        metrics.fileThumbnails.inc({ result: 'made' });
        // EXIF orientations 5–8 turn the picture a quarter: what a viewer sees is height × width.
        const turned = (meta.orientation ?? 1) >= 5;
        return { thumbnail: true, width: turned ? meta.height : meta.width, height: turned ? meta.width : meta.height };
      } catch (err) {
        metrics.fileThumbnails.inc({ result: 'refused' });
        log.info({ appId, md5, err: String(err) }, 'no thumbnail: sharp refused the image; kept as a plain file');
        return { thumbnail: false };
      }
    });
  }
}
