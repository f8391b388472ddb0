/**
 * How a streamed turn ends: a complete stream is read to its end, so the connection carries the next request;
 * a server that keeps the connection open after [DONE] costs a moment, never the paid answer.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { createClient, streamTurn, type TurnOptions } from '../src/worker/qwen-omni.js';

const KEY = 'sk-stream-end-test-000000000000';
const frame = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
const chunk = (choices: unknown[], usage: unknown = null) => frame({ choices, object: 'chat.completion.chunk', usage, model: 'qwen-omni-turbo', id: 'chatcmpl-1' });
const STREAM = [
  chunk([{ delta: { content: '', role: 'assistant' }, finish_reason: null, index: 0 }]),
  chunk([{ delta: { content: 'Hello there.' }, finish_reason: 'stop', index: 0 }]),
  chunk([], { prompt_tokens: 10, completion_tokens: 3, total_tokens: 13, prompt_tokens_details: { text_tokens: 10 } }),
].join('');

/**
 * A real HTTP server answering every chat request with STREAM, then `[DONE]` a little later in a write of its
 * own (as a remote server's packets arrive); `linger` leaves the response open after it.
 */
async function server(linger: boolean) {
  const connections: number[] = [];
  const closed: Promise<void>[] = [];
  const srv = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    if (linger) closed.push(once(res, 'close').then(() => undefined));
    req.once('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(STREAM);
      setTimeout(() => {
        res.write('data: [DONE]\n\n');
        if (!linger) res.end();
      }, 20);
    });
  });
  srv.on('connection', (s) => connections.push(s.remotePort ?? 0));
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as AddressInfo;
  after(() => {
    srv.closeAllConnections();
    srv.close();
  });
  return { baseURL: `http://127.0.0.1:${port}/compatible-mode/v1`, connections, closed };
}

const OPTS: TurnOptions = { idleTimeoutMs: 30_000, undetailedModality: 'text_tokens' };
const MESSAGES = [{ role: 'user' as const, content: 'Hi' }];

describe('the end of a streamed turn', () => {
  test('complete streams are read to their end, so consecutive requests share one connection', async () => {
    const s = await server(false);
    const client = createClient(KEY, s.baseURL);
    for (let i = 0; i < 5; i++) {
      const r = await streamTurn(client, 'qwen-omni-turbo', MESSAGES, OPTS);
      assert.equal(r.text, 'Hello there.');
      assert.equal(r.usage.total_tokens, 13);
    }
    // A stream left before its end is aborted, and its connection with it: that was one connection per request.
    assert.ok(s.connections.length <= 2, `${s.connections.length} connections opened for 5 requests in a row`);
  });

  test('a server that keeps the stream open after [DONE] still gives the answer, and the client closes it', async () => {
    const s = await server(true);
    const client = createClient(KEY, s.baseURL);
    const r = await streamTurn(client, 'qwen-omni-turbo', MESSAGES, OPTS);
    assert.equal(r.text, 'Hello there.');
    assert.equal(r.finishReason, 'stop');
    assert.equal(r.usage.prompt_tokens, 10);
    // The lingering response was given up by the client (its connection closed), not left hanging.
    assert.equal(s.closed.length, 1);
    await s.closed[0];
  });
});
