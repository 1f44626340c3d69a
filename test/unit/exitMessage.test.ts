import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainerExitMessage } from '../../src/core/exitMessage';

const header = '[trapo] 2026-11-25T11:43:23.455Z start: /venv/bin/python -m trapo train --config a.yaml --run-dir runs/x';

test("a refused config: the exit code and the trainer's own line naming the key", () => {
  const lines = [header, 'config error: train.steps: must be >= 1, got 0; fix: set it to 1 or more', '[trapo] trainer exited with code 2'];
  assert.equal(trainerExitMessage(lines, 2), 'the trainer exited with code 2: config error: train.steps: must be >= 1, got 0; fix: set it to 1 or more');
});

test('a killed trainer with no output of its own: the signal, not the launch header', () => {
  assert.equal(
    trainerExitMessage([header, '[trapo] trainer exited with signal SIGKILL'], null),
    'the trainer exited with signal SIGKILL before writing any output',
  );
});

test("a resume header is not taken for the trainer's output either; without the manager's line the code is used", () => {
  const resume = header.replace(' start: ', ' resume: ');
  assert.equal(trainerExitMessage([resume, 'Traceback (most recent call last):', 'ValueError: bad'], 1), 'the trainer exited with code 1: ValueError: bad');
  assert.equal(trainerExitMessage([], null), 'the trainer exited before writing any output');
});
