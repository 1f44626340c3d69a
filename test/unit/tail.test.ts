import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { EventTail, LineSplitter, LineTail } from '../../src/core/tail';

const lines = [
  '{"v":1,"type":"heartbeat","time":1,"step":1,"phase":"train"}',
  '{"v":1,"type":"log","time":2,"step":1,"level":"info","message":"é ünïcödé 数学 ✓"}',
  'not json at all',
  '{"v":1,"type":"future_thing","time":3,"step":2}',
  '{"v":1,"type":"metrics","time":4,"step":2,"values":{"loss/total":0.5}}',
];
const text = lines.join('\n') + '\n';
const bytes = Buffer.from(text, 'utf8');

async function tmpFile(content: Buffer | string = ''): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trapo-tail-'));
  const file = path.join(dir, 'events.jsonl');
  await fs.writeFile(file, content);
  return file;
}

describe('LineSplitter', () => {
  it('gives the same lines whatever byte the stream is cut at (UTF-8 included)', () => {
    for (let cut = 0; cut <= bytes.length; cut++) {
      const s = new LineSplitter();
      const got = [...s.push(bytes.subarray(0, cut)), ...s.push(bytes.subarray(cut))];
      assert.deepEqual(got, lines, `cut at ${cut}`);
      assert.equal(s.heldBackBytes, 0);
    }
  });

  it('gives the same lines when fed one byte at a time', () => {
    const s = new LineSplitter();
    const got: string[] = [];
    for (let i = 0; i < bytes.length; i++) got.push(...s.push(bytes.subarray(i, i + 1)));
    assert.deepEqual(got, lines);
  });
});

describe('EventTail', () => {
  it('reads a file appended at every byte position exactly once, holding back the torn line', async () => {
    for (let cut = 0; cut <= bytes.length; cut += 7) {
      const file = await tmpFile(bytes.subarray(0, cut));
      const tail = new EventTail(file, { chunkBytes: 16 });
      const first = await tail.poll();
      await fs.appendFile(file, bytes.subarray(cut));
      const second = await tail.poll();
      const types = [...first.events, ...second.events].map((e) => e.type);
      assert.deepEqual(types, ['heartbeat', 'log', 'metrics'], `cut at ${cut}`);
      assert.equal(tail.stats.malformed, 1);
      assert.equal(tail.stats.unknown, 1);
      assert.equal(tail.stats.offset, bytes.length);
    }
  });

  it('does not parse a torn last line until its newline arrives', async () => {
    const file = await tmpFile(lines[0] + '\n' + lines[4].slice(0, 20));
    const tail = new EventTail(file);
    assert.deepEqual(
      (await tail.poll()).events.map((e) => e.type),
      ['heartbeat'],
    );
    assert.equal(tail.stats.malformed, 0);
    await fs.appendFile(file, lines[4].slice(20) + '\n');
    assert.deepEqual(
      (await tail.poll()).events.map((e) => e.type),
      ['metrics'],
    );
    assert.equal(tail.stats.malformed, 0);
  });

  it('reads only new bytes', async () => {
    const file = await tmpFile(text);
    const tail = new LineTail(file);
    assert.equal((await tail.poll()).lines.length, 5);
    assert.deepEqual((await tail.poll()).lines, []);
    await fs.appendFile(file, lines[0] + '\n');
    assert.deepEqual((await tail.poll()).lines, [lines[0]]);
  });

  it('bounds the bytes read per poll and resumes where it stopped', async () => {
    const file = await tmpFile(text);
    const tail = new EventTail(file, { chunkBytes: 8, maxBytesPerPoll: 40 });
    const types: string[] = [];
    let polls = 0;
    for (;;) {
      const r = await tail.poll();
      polls++;
      types.push(...r.events.map((e) => e.type));
      if (!r.more) break;
    }
    assert.deepEqual(types, ['heartbeat', 'log', 'metrics']);
    assert.equal(polls, Math.ceil(bytes.length / 40));
  });

  it('starts over when the file is replaced by a shorter one', async () => {
    const file = await tmpFile(text);
    const tail = new EventTail(file);
    await tail.poll();
    await fs.writeFile(file, lines[0] + '\n');
    const r = await tail.poll();
    assert.equal(r.restarted, true);
    assert.deepEqual(
      r.events.map((e) => e.type),
      ['heartbeat'],
    );
  });

  it('waits quietly for a file that does not exist yet', async () => {
    const tail = new EventTail(path.join(os.tmpdir(), 'trapo-no-such-dir', 'events.jsonl'));
    assert.deepEqual((await tail.poll()).events, []);
  });
});
