// The records of the file service (docs/adr/0031-files.md): files, uploads in progress,
// single-use challenges of a flash upload, grants (the conversations a file was sent in) and
// each app's stored bytes. The bytes themselves are in the BlobStore. Every call is scoped to
// one app: nothing of another app can be named.

/** A completed upload (full or flash): its own id, name and uploader; the bytes are the object `<appId>/<md5>`. */
export interface FileRecord {
  appId: string;
  fileId: string;
  md5: string;
  size: number;
  name: string;
  contentType: string;
  uploader: string;
  createdAt: number;
  /** Images: pixels (sharp's reading of the stored bytes). */
  width?: number;
  height?: number;
  /** A thumbnail is stored beside the object. */
  thumbnail: boolean;
}

/** An upload in progress: chunks arrive in order; the running MD5 covers chunks [0, chunksHeld). */
export interface UploadRecord {
  appId: string;
  uploadId: string;
  userId: string;
  md5: string;
  size: number;
  name: string;
  contentType: string;
  chunkBytes: number;
  /** The BlobStore's multipart upload. */
  blobUploadRef: string;
  chunksHeld: number;
  /** MD5 (hex) of each chunk held, in order. */
  partMd5s: string[];
  /** The BlobStore's etag of each part held, in order. */
  partEtags: string[];
  /** The running MD5 state after the chunks held (base64; hash-wasm save()). */
  hashState: string;
  createdAt: number;
  updatedAt: number;
}

/** What a chunk adds to an upload. */
export interface UploadAdvance {
  partMd5: string;
  partEtag: string;
  hashState: string;
  updatedAt: number;
}

export interface ChallengeRecord {
  appId: string;
  challengeId: string;
  userId: string;
  /** The file whose bytes the challenge asks about, and what the flash upload will name it. */
  md5: string;
  size: number;
  name: string;
  contentType: string;
  nonce: string;
  ranges: Array<{ offset: number; length: number }>;
  expiresAt: number;
}

/** A file was sent in a conversation: its readers may read the file. */
export interface FileGrant {
  appId: string;
  fileId: string;
  conversation: string;
}

export interface FileCatalog {
  addFile(file: FileRecord): Promise<void>;
  getFile(appId: string, fileId: string): Promise<FileRecord | null>;
  /** Some record of the app whose bytes are (md5, size): the app holds that object. */
  findByContent(appId: string, md5: string, size: number): Promise<FileRecord | null>;

  /** Fails with IM_ADMIN_CONFLICT if the upload id exists. */
  createUpload(upload: UploadRecord): Promise<void>;
  getUpload(appId: string, uploadId: string): Promise<UploadRecord | null>;
  /** The user's unfinished upload of these bytes, to resume (the newest if several). */
  findUpload(appId: string, userId: string, md5: string, size: number): Promise<UploadRecord | null>;
  /**
   * Appends one chunk if the upload holds exactly `chunksHeld` chunks now (compare-and-set);
   * the updated record, or null when another chunk got there first or the upload is gone.
   */
  advanceUpload(appId: string, uploadId: string, chunksHeld: number, chunk: UploadAdvance): Promise<UploadRecord | null>;
  removeUpload(appId: string, uploadId: string): Promise<void>;
  /** Uploads (of any app) last touched before `before`, at most `limit`: the cleanup job's work. */
  staleUploads(before: number, limit: number): Promise<UploadRecord[]>;

  putChallenge(challenge: ChallengeRecord): Promise<void>;
  /** Removes and returns the challenge (single use); null when there is none. Expiry is the caller's check. */
  takeChallenge(appId: string, challengeId: string): Promise<ChallengeRecord | null>;

  /** Records that the file was sent in the conversation (idempotent). */
  grant(grant: FileGrant): Promise<void>;
  /** Whether the file was sent in the conversation. */
  hasGrant(appId: string, fileId: string, conversation: string): Promise<boolean>;
  /** Conversations the file was sent in, at most `limit`, in no particular order. */
  grantsOf(appId: string, fileId: string, limit: number): Promise<string[]>;

  /** Adds (or with a negative number removes) stored bytes of the app; returns the new total. */
  addUsage(appId: string, bytes: number): Promise<number>;
  usage(appId: string): Promise<number>;
}
