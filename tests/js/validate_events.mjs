// Reads a JSON array of server events on stdin; prints, for each, null (the SDK accepts it)
// or what the SDK's schemas find wrong with it.
import { problem } from "./schemas.mjs";

let input = "";
for await (const chunk of process.stdin) input += chunk;
process.stdout.write(JSON.stringify(JSON.parse(input).map(problem)));
