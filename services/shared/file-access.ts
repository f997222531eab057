// Who may read a file (docs/adr/0031-files.md): its uploader, and whoever may read a
// conversation it was sent in: a participant of a single chat, a member (current or past) of a
// group. The file role asks before a download URL is signed; logic asks before a file message is
// accepted (a user may send on what they may read).
import { conversationMembers, groupOf } from '../../protocol/conversation-id.js';
import { ImError } from '../../protocol/errors.js';
import type { FileCatalog, FileRecord } from '../ports/file-catalog.js';
import type { GroupDirectory } from '../ports/group-directory.js';

/** Grants scanned when the caller does not name the conversation it saw the file in. */
const GRANTS_SCANNED = 200;

export class FileAccess {
  constructor(
    private readonly files: FileCatalog,
    private readonly groups: GroupDirectory,
  ) {}

  /**
   * The file, if `userId` may read it. Another app's file (or none) is IM_FILE_NOT_FOUND; a file
   * of this app the user may not read is IM_FORBIDDEN. `conversation` is where the caller saw it
   * (checked exactly); without it the file's first grants are tried.
   */
  async readable(appId: string, userId: string, fileId: string, conversation?: string): Promise<FileRecord> {
    const file = await this.files.getFile(appId, fileId);
    if (!file) throw new ImError('IM_FILE_NOT_FOUND');
    if (file.uploader === userId) return file;
    if (conversation !== undefined) {
      if ((await this.files.hasGrant(appId, fileId, conversation)) && (await this.mayRead(appId, userId, conversation))) return file;
    } else {
      for (const c of await this.files.grantsOf(appId, fileId, GRANTS_SCANNED)) {
        if (await this.mayRead(appId, userId, c)) return file;
      }
    }
    throw new ImError('IM_FORBIDDEN', 'this user may not read that file: neither its uploader nor in a conversation it was sent in');
  }

  /** Whether the user may read the conversation's messages at all. */
  private async mayRead(appId: string, userId: string, conversation: string): Promise<boolean> {
    const groupId = groupOf(conversation);
    if (groupId !== null) return (await this.groups.member(appId, groupId, userId)) !== null;
    return conversationMembers(conversation)?.includes(userId) ?? false;
  }
}
