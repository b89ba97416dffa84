// Drives a llada server with the official OpenAI Node client and prints what it got as one JSON object.
// Usage: LLADA_URL=http://127.0.0.1:PORT LLADA_KEY=KEY node client.mjs
// serve/openai_client_test.go starts the server, runs this and checks the result.
import OpenAI from "openai";

const baseURL = process.env.LLADA_URL + "/v1";
const apiKey = process.env.LLADA_KEY;
const model = process.env.LLADA_MODEL || "llada";
const prompt = process.env.LLADA_PROMPT || "w2 w3 w4";
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const out = {};

async function caught(fn) {
  try {
    await fn();
    return { status: 0 };
  } catch (e) {
    return { status: e.status ?? -1, name: e.constructor.name, message: e.message, type: e.type ?? e.error?.type ?? null };
  }
}

const list = await client.models.list();
out.models = list.data.map((m) => m.id);

const c = await client.completions.create({ model, prompt, max_tokens: 8, seed: 1 });
out.completion = { text: c.choices[0].text, finish_reason: c.choices[0].finish_reason, usage: c.usage, object: c.object };

let text = "";
let chunks = 0;
let finish = null;
let usage = null;
const stream = await client.completions.create({ model, prompt, max_tokens: 8, seed: 1, stream: true, stream_options: { include_usage: true } });
for await (const chunk of stream) {
  chunks++;
  if (chunk.usage) usage = chunk.usage;
  for (const ch of chunk.choices) {
    text += ch.text ?? "";
    if (ch.finish_reason) finish = ch.finish_reason;
  }
}
out.stream_completion = { text, chunks, finish_reason: finish, usage };

const messages = [{ role: "user", content: prompt }];
const chat = await client.chat.completions.create({ model, messages, max_tokens: 8 });
out.chat = { content: chat.choices[0].message.content, role: chat.choices[0].message.role, finish_reason: chat.choices[0].finish_reason, object: chat.object };

let content = "";
let role = null;
const cstream = await client.chat.completions.create({ model, messages, max_tokens: 8, stream: true });
for await (const chunk of cstream) {
  for (const ch of chunk.choices) {
    if (ch.delta.role) role = ch.delta.role;
    content += ch.delta.content ?? "";
  }
}
out.stream_chat = { content, role };

// Diffusion extensions travel in the body; the client passes unknown fields through.
const ext = await client.completions.create({ model, prompt, max_tokens: 8, steps: 4, block_length: 4, sampler: "fast-dllm-threshold", threshold: 0.5 });
out.extensions = { text: ext.choices[0].text };

out.wrong_key = await caught(() => new OpenAI({ baseURL, apiKey: "wrong", maxRetries: 0 }).completions.create({ model, prompt, max_tokens: 4 }));
out.bad_request = await caught(() => client.completions.create({ model, prompt, max_tokens: 0 }));
out.unknown_model = await caught(() => client.completions.create({ model: "gpt-4o", prompt, max_tokens: 4 }));

console.log(JSON.stringify(out));
