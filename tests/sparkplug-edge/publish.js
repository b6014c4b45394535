// Publishes one Sparkplug B message with hand-set values (seq, bdSeq), encoded by sparkplug-payload, with QoS 1,
// and exits once the broker acknowledged it: for the tests that need what sparkplug-client does not send (an
// NDEATH of an older session arriving late).
//   node publish.js BROKER_URL TOPIC PAYLOAD_JSON
// PAYLOAD_JSON is the payload as sparkplug-payload takes it, such as
//   {"timestamp":1700000000000,"seq":0,"metrics":[{"name":"bdSeq","type":"UInt64","value":5}]}
"use strict";

const mqtt = require("mqtt");
const payloads = require("sparkplug-payload").get("spBv1.0");

const [broker, topic, json] = process.argv.slice(2);
if (!broker || !topic || !json) {
    process.stderr.write("usage: node publish.js BROKER_URL TOPIC PAYLOAD_JSON\n");
    process.exit(2);
}

const bytes = Buffer.from(payloads.encodePayload(JSON.parse(json)));
const client = mqtt.connect(broker, { clientId: `usine-test-publish-${process.pid}`, clean: true });
client.on("error", (error) => {
    process.stderr.write(`${error}\n`);
    process.exit(1);
});
client.on("connect", () => {
    client.publish(topic, bytes, { qos: 1 }, (error) => {
        if (error) {
            process.stderr.write(`${error}\n`);
            process.exit(1);
        }
        client.end(false, () => process.exit(0));
    });
});
