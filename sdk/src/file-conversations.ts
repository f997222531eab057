// Which conversation each file was last seen in (sent or received in a file message), so that
// fileUrl() can tell the server where the caller's grant is. Bounded: the least recently used
// entries go first (a Map keeps insertion order; a touched entry is moved to the end).

export const FILE_CONVERSATIONS_MAX = 4096;

export class FileConversations {
  private readonly byFile = new Map<string, string>();

  constructor(private readonly max = FILE_CONVERSATIONS_MAX) {}

  get size(): number {
    return this.byFile.size;
  }

  remember(fileId: string, conversation: string): void {
    if (!fileId || !conversation) return;
    this.byFile.delete(fileId);
    this.byFile.set(fileId, conversation);
    while (this.byFile.size > this.max) this.byFile.delete(this.byFile.keys().next().value!);
  }

  get(fileId: string): string | undefined {
    const conversation = this.byFile.get(fileId);
    if (conversation !== undefined) {
      this.byFile.delete(fileId);
      this.byFile.set(fileId, conversation);
    }
    return conversation;
  }
}
