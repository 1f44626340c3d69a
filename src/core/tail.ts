// Incremental tailing of an append-only JSON-lines file (events.jsonl). No `vscode` import.
// Reads only bytes it has not read; holds back a torn last line until its newline arrives; splits on the byte
// 0x0A so a multi-byte UTF-8 character is never cut; starts over if the file shrinks (replaced or truncated).
import { promises as fs } from 'node:fs';
import { ParsedLine, RunEvent, parseEventLine } from './runFormat';

const NEWLINE = 0x0a;

/** Turns byte chunks into complete lines. The bytes after the last newline wait for the next chunk. */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    let nl = chunk.indexOf(NEWLINE, start);
    while (nl !== -1) {
      let bytes = chunk.subarray(start, nl);
      if (this.pendingBytes > 0) {
        bytes = Buffer.concat([...this.pending, bytes]);
        this.pending = [];
        this.pendingBytes = 0;
      }
      lines.push(bytes.toString('utf8'));
      start = nl + 1;
      nl = chunk.indexOf(NEWLINE, start);
    }
    if (start < chunk.length) {
      // Copy: the caller may reuse its read buffer.
      this.pending.push(Buffer.from(chunk.subarray(start)));
      this.pendingBytes += chunk.length - start;
    }
    return lines;
  }

  /** Bytes of the torn line held back. */
  get heldBackBytes(): number {
    return this.pendingBytes;
  }

  reset(): void {
    this.pending = [];
    this.pendingBytes = 0;
  }
}

export interface TailStats {
  /** Bytes consumed so far (including the held-back part). */
  offset: number;
  /** Lines that were not JSON or not a valid event. */
  malformed: number;
  /** Valid lines of a type this reader does not know (ignored). */
  unknown: number;
  /** Metric values left out of otherwise good lines (neither a number nor "NaN" / "Infinity" / "-Infinity"). */
  badValues: number;
  /** Events parsed. */
  events: number;
  /** Times the file shrank and was read again from the start. */
  restarts: number;
  /** Bytes of a last line without its newline, held back until it is complete (torn, if the writer is gone). */
  heldBackBytes: number;
}

export interface TailOptions {
  /** Bytes read per system call. */
  chunkBytes?: number;
  /** Upper bound of bytes consumed by one poll(), so a huge file is read over several polls. */
  maxBytesPerPoll?: number;
}

/** Reads new complete lines of a file on each poll(). */
export class LineTail {
  private offset = 0;
  private readonly splitter = new LineSplitter();
  private readonly chunkBytes: number;
  private readonly maxBytesPerPoll: number;
  restarts = 0;

  constructor(
    readonly file: string,
    options: TailOptions = {},
  ) {
    this.chunkBytes = options.chunkBytes ?? 1 << 20;
    this.maxBytesPerPoll = options.maxBytesPerPoll ?? Number.POSITIVE_INFINITY;
  }

  get bytesConsumed(): number {
    return this.offset;
  }

  get heldBackBytes(): number {
    return this.splitter.heldBackBytes;
  }

  /** New complete lines since the last poll; `more` is true when maxBytesPerPoll stopped the read early. */
  async poll(): Promise<{ lines: string[]; more: boolean; restarted: boolean }> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.file, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { lines: [], more: false, restarted: false };
      throw e;
    }
    try {
      const { size } = await handle.stat();
      let restarted = false;
      if (size < this.offset) {
        this.offset = 0;
        this.splitter.reset();
        this.restarts++;
        restarted = true;
      }
      const lines: string[] = [];
      const buffer = Buffer.allocUnsafe(Math.min(this.chunkBytes, Math.max(1, size - this.offset)));
      let budget = this.maxBytesPerPoll;
      while (this.offset < size && budget > 0) {
        const want = Math.min(buffer.length, size - this.offset, budget);
        const { bytesRead } = await handle.read(buffer, 0, want, this.offset);
        if (bytesRead === 0) break;
        this.offset += bytesRead;
        budget -= bytesRead;
        for (const line of this.splitter.push(buffer.subarray(0, bytesRead))) lines.push(line);
      }
      return { lines, more: this.offset < size, restarted };
    } finally {
      await handle.close();
    }
  }
}

/** Tails events.jsonl into typed events, counting malformed and unknown lines. */
export class EventTail {
  private readonly lines: LineTail;
  readonly stats: TailStats = { offset: 0, malformed: 0, unknown: 0, badValues: 0, events: 0, restarts: 0, heldBackBytes: 0 };

  constructor(
    readonly file: string,
    options: TailOptions = {},
  ) {
    this.lines = new LineTail(file, options);
  }

  async poll(): Promise<{ events: RunEvent[]; more: boolean; restarted: boolean }> {
    const { lines, more, restarted } = await this.lines.poll();
    const events: RunEvent[] = [];
    for (const line of lines) {
      if (line.trim() === '') continue;
      const parsed: ParsedLine = parseEventLine(line);
      switch (parsed.kind) {
        case 'event':
          events.push(parsed.event);
          this.stats.badValues += parsed.badValues;
          break;
        case 'unknown':
          this.stats.unknown++;
          break;
        case 'malformed':
          this.stats.malformed++;
          break;
        default: {
          const never: never = parsed;
          throw new Error(`unhandled ${String(never)}`);
        }
      }
    }
    this.stats.events += events.length;
    this.stats.offset = this.lines.bytesConsumed;
    this.stats.restarts = this.lines.restarts;
    this.stats.heldBackBytes = this.lines.heldBackBytes;
    return { events, more, restarted };
  }
}
