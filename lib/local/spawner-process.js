// The build spawner (lib/local/spawner.ts): a small Node process that starts the local control plane's builds.
// Plain JavaScript, no dependencies: it is started with no loader and stays small, because starting a process
// copies the starting process's memory map (fork) — ~20-40 ms in a control plane of several hundred MB, during
// which that process's event loop stands still; here it takes ~1-2 ms.
//
// Messages from the control plane: { id, file, args, cwd, env, stdio: [path, path, path, path] } (stdin is
// ignored; the four paths are opened for fds 1-4 — 1 and 2 share the first, in append mode).
// Answers: { id, pid } once started, or { id, error }; then { id, exit, signal } once it has ended.
'use strict';
const { spawn } = require('node:child_process');
const { openSync, closeSync } = require('node:fs');

process.on('message', (m) => {
  let fds = [];
  try {
    // fd 1 and 2 (the log) in append mode; the control and exported-variables files truncated.
    fds = [openSync(m.stdio[0], 'a'), openSync(m.stdio[1], 'w'), openSync(m.stdio[2], 'w')];
    const child = spawn(m.file, m.args, {
      cwd: m.cwd,
      env: m.env,
      stdio: ['ignore', fds[0], fds[0], fds[1], fds[2]],
      // Its own process group: stopped as a whole (kill -pgid), and it outlives this process and the control plane.
      detached: true,
    });
    child.on('error', (e) => process.send({ id: m.id, error: e.message }));
    child.on('close', (exit, signal) => process.send({ id: m.id, exit, signal }));
    if (child.pid !== undefined) process.send({ id: m.id, pid: child.pid });
  } catch (e) {
    process.send({ id: m.id, error: e.message });
  } finally {
    for (const fd of fds) closeSync(fd);
  }
});
// Ctrl-C in the control plane's terminal reaches its whole process group: this process ends with the control plane
// (below), not before it, while it may still be asked to start a build.
process.on('SIGINT', () => undefined);
// The control plane is gone: so is this process (its builds run on, detached, as CodeBuild's would).
process.on('disconnect', () => process.exit(0));
