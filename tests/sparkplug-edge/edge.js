// A Sparkplug B edge node on sparkplug-client, driven by the Sparkplug connector's tests.
//   node edge.js BROKER_URL GROUP EDGE
// Reads one JSON command a line on stdin and writes one JSON event a line on stdout:
//   {"cmd":"data","values":{"temp":21.5}}            NDATA with aliases only (QoS 0, as sparkplug-client sends)
//   {"cmd":"ddata","values":{"torque":12.5}}         DDATA of device "robot", aliases only
//   {"cmd":"named","values":{"temp":1},"qos":1}      NDATA with names and no aliases, QoS 1 (store-and-forward style)
//   {"cmd":"historical","values":{"temp":1},"timestamp":T}  NDATA with is_historical metrics at timestamp T
//   {"cmd":"skip","count":3}                         skips seq numbers: the next message shows a gap
//   {"cmd":"raw","topic":"...","base64":"..."}       publishes bytes as they are (a malformed payload)
//   {"cmd":"rebirth"}                                 publishes the births again
//   {"cmd":"ddeath"} / {"cmd":"dbirth"}              DDEATH / DBIRTH of device "robot"
// Events: {"event":"connected"}, {"event":"births","seq":0}, {"event":"ncmd","rebirth":true},
//         {"event":"published","type":"NDATA","seq":N}, {"event":"error","message":"..."}
"use strict";

const readline = require("readline");
const sparkplug = require("sparkplug-client");
const payloads = require("sparkplug-payload").get("spBv1.0");

const [broker, group, edge] = process.argv.slice(2);
if (!broker || !group || !edge) {
    process.stderr.write("usage: node edge.js BROKER_URL GROUP EDGE\n");
    process.exit(2);
}

const DEVICE = "robot";
const nodeMetrics = { temp: { alias: 1, type: "Double" }, count: { alias: 2, type: "Int32" } };
const deviceMetrics = { torque: { alias: 10, type: "Float" } };
const initial = { temp: 20, count: 0, torque: 0 };

function emit(event) {
    process.stdout.write(JSON.stringify(event) + "\n");
}

const client = sparkplug.newClient({
    serverUrl: broker,
    groupId: group,
    edgeNode: edge,
    clientId: `usine-test-edge-${group}-${edge}-${process.pid}`,
    username: "",
    password: "",
    version: "spBv1.0",
    publishDeath: false,
});

function now() {
    return Date.now();
}

function birthMetrics(definitions) {
    return Object.entries(definitions).map(([name, d]) => ({ name, alias: d.alias, type: d.type, value: initial[name], timestamp: now() }));
}

function publishBirths() {
    const metrics = birthMetrics(nodeMetrics);
    metrics.push({ name: "Node Control/Rebirth", type: "Boolean", value: false });
    client.publishNodeBirth({ timestamp: now(), metrics });
    const seq = client.seq - 1;
    client.publishDeviceBirth(DEVICE, { timestamp: now(), metrics: birthMetrics(deviceMetrics) });
    emit({ event: "births", seq });
}

function aliased(definitions, values, extra) {
    return Object.entries(values).map(([name, value]) => Object.assign({ alias: definitions[name].alias, type: definitions[name].type, value, timestamp: now() }, extra || {}));
}

function publishWithQos(topic, payload, qos) {
    // sparkplug-client publishes data with QoS 0; a QoS 1 message goes through its MQTT client, with the next seq.
    payload.seq = client.incrementSeqNum();
    client.client.publish(topic, Buffer.from(payloads.encodePayload(payload)), { qos }, (error) => {
        if (error) {
            emit({ event: "error", message: String(error) });
        } else {
            emit({ event: "published", type: "NDATA", seq: payload.seq, qos });
        }
    });
}

client.on("birth", () => {
    emit({ event: "connected" });
    publishBirths();
});

client.on("ncmd", (payload) => {
    const rebirth = (payload.metrics || []).some((m) => m.name === "Node Control/Rebirth" && m.value === true);
    emit({ event: "ncmd", rebirth });
    if (rebirth) {
        publishBirths();
    }
});

client.on("error", (error) => emit({ event: "error", message: String(error) }));

const input = readline.createInterface({ input: process.stdin });
input.on("line", (line) => {
    if (!line.trim()) {
        return;
    }
    let command;
    try {
        command = JSON.parse(line);
    } catch (error) {
        emit({ event: "error", message: `not a JSON command: ${line}` });
        return;
    }
    const topicBase = `spBv1.0/${group}`;
    switch (command.cmd) {
        case "data": {
            client.publishNodeData({ timestamp: now(), metrics: aliased(nodeMetrics, command.values) });
            emit({ event: "published", type: "NDATA", seq: client.seq - 1 });
            break;
        }
        case "ddata": {
            client.publishDeviceData(DEVICE, { timestamp: now(), metrics: aliased(deviceMetrics, command.values) });
            emit({ event: "published", type: "DDATA", seq: client.seq - 1 });
            break;
        }
        case "historical": {
            const metrics = aliased(nodeMetrics, command.values, { isHistorical: true, timestamp: command.timestamp });
            client.publishNodeData({ timestamp: now(), metrics });
            emit({ event: "published", type: "NDATA", seq: client.seq - 1 });
            break;
        }
        case "named": {
            const metrics = Object.entries(command.values).map(([name, value]) => ({ name, type: nodeMetrics[name].type, value, timestamp: now() }));
            publishWithQos(`${topicBase}/NDATA/${edge}`, { timestamp: now(), metrics }, command.qos || 1);
            break;
        }
        case "skip": {
            for (let i = 0; i < (command.count || 1); i++) {
                client.incrementSeqNum();
            }
            emit({ event: "skipped", count: command.count || 1 });
            break;
        }
        case "raw": {
            client.client.publish(command.topic, Buffer.from(command.base64, "base64"), { qos: 0 }, () => emit({ event: "published", type: "raw" }));
            break;
        }
        case "ddeath": {
            client.publishDeviceDeath(DEVICE, { timestamp: now() });
            emit({ event: "published", type: "DDEATH", seq: client.seq - 1 });
            break;
        }
        case "dbirth": {
            client.publishDeviceBirth(DEVICE, { timestamp: now(), metrics: birthMetrics(deviceMetrics) });
            emit({ event: "published", type: "DBIRTH", seq: client.seq - 1 });
            break;
        }
        case "rebirth": {
            publishBirths();
            break;
        }
        default:
            emit({ event: "error", message: `unknown command ${command.cmd}` });
    }
});

input.on("close", () => {
    client.stop();
    process.exit(0);
});
