// The OpenAI npm SDK against a moeflow server: one chat request with a function tool, whole and streamed.
// Prints one JSON line {"whole": {...}, "streamed": {...}} with each answer's content, reasoning_content,
// tool_calls and finish_reason, and exits 1 when the streamed answer (put together by the SDK's own stream
// helper, ChatCompletionStream) differs from the whole one or a call's arguments are not JSON.
//
//   npm ci && MOEFLOW_URL=http://localhost:8080/v1 node check.mjs ["question"]
//
// Run by src/test/java/io/moeflow/api/http/OpenAiNpmSdkTest.java against the test server and a scripted model.
import OpenAI from 'openai';

const client = new OpenAI({
  baseURL: process.env.MOEFLOW_URL ?? 'http://localhost:8080/v1',
  apiKey: process.env.MOEFLOW_API_KEY ?? 'unused',
});
const request = {
  model: process.env.MOEFLOW_MODEL ?? 'moeflow',
  messages: [{ role: 'user', content: process.argv[2] ?? 'What is the weather in Paris?' }],
  tools: [{
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  }],
  max_tokens: 256,
  // Greedy, so that the whole and the streamed answer of a real (sampled) model are the same text too.
  temperature: 0,
};

function summary(message, finishReason) {
  return {
    content: message.content ?? null,
    reasoning_content: message.reasoning_content ?? null,
    tool_calls: (message.tool_calls ?? []).map((c) => ({
      id: c.id, type: c.type, name: c.function.name, arguments: c.function.arguments,
    })),
    finish_reason: finishReason,
  };
}

const completion = await client.chat.completions.create(request);
const whole = summary(completion.choices[0].message, completion.choices[0].finish_reason);

// The SDK's stream helper joins the tool_calls deltas by index (and fails on deltas that do not fit together);
// reasoning_content is not one of the SDK's fields, so it is joined here from the chunks.
const stream = client.chat.completions.stream({ ...request, stream: true });
let reasoning = null;
stream.on('chunk', (chunk) => {
  const delta = chunk.choices[0]?.delta;
  if (delta?.reasoning_content) reasoning = (reasoning ?? '') + delta.reasoning_content;
});
const final = await stream.finalChatCompletion();
const streamed = summary({ ...final.choices[0].message, reasoning_content: reasoning }, final.choices[0].finish_reason);

console.log(JSON.stringify({ whole, streamed }));
const withoutIds = (s) => JSON.stringify({ ...s, tool_calls: s.tool_calls.map(({ id, ...rest }) => rest) });
let ok = withoutIds(whole) === withoutIds(streamed);
for (const c of [...whole.tool_calls, ...streamed.tool_calls]) {
  try { JSON.parse(c.arguments); } catch { ok = false; }
  if (!c.id) ok = false;
}
if (!ok) {
  console.error('the streamed answer differs from the whole one, or a call is malformed');
  process.exit(1);
}
