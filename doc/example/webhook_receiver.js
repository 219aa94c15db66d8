// A webhook receiver for novahooks' events in Node.js: verifies each
// delivery with the npm "standardwebhooks" package, drops duplicates by
// id, prints each new event as one JSON line.
//
//   npm install standardwebhooks
//   WEBHOOK_SECRET=whsec_... node webhook_receiver.js 8080
//
// (tests/webhook runs this very file.)
"use strict";
const http = require("http");
const { Webhook } = require("standardwebhooks");

const webhook = new Webhook(process.env.WEBHOOK_SECRET);
const seen = new Set(); // event ids; keep them durable in real life

http.createServer((request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    const body = Buffer.concat(chunks);
    let event;
    try {
      event = webhook.verify(body, request.headers); // parsed JSON
    } catch (error) {
      response.writeHead(401).end(); // not signed with our secret
      return;
    }
    if (!seen.has(event.id)) {
      seen.add(event.id);
      console.log(JSON.stringify(event));
    }
    response.writeHead(204).end();
  });
}).listen(Number(process.argv[2]), "127.0.0.1", () => {
  console.log(JSON.stringify({ listening: Number(process.argv[2]) }));
});
