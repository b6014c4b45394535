// The OPC UA server the OPC UA connector's tests run against: machines under Objects/PaintShop, each with a
// Counter that goes up by one every --period ms and a Temperature that drifts with it, a user for user-name
// identity, and endpoints with security None and Basic256Sha256 Sign / SignAndEncrypt.
//
//   node server.js --port 48400 [--path /UA/Usine] [--machines 3] [--period 500] [--origin EPOCH_MS]
//                  [--max-items-per-call 0] [--pki DIR] [--user painter:secret] [--unsecure-password]
//
// --unsecure-password adds a user-name token policy without encryption to the None endpoint (node-opcua's
// allowUnsecurePassword), as many PLCs offer it; without it, a password on the None endpoint must be encrypted.
//
// The counters are computed from --origin, so a server killed and started again with the same origin goes on
// where the clock is, as a PLC's counter would: what a client did not see while it was down is a real gap.
// Prints "listening opc.tcp://..." on stdout once it accepts connections; stops on SIGTERM or SIGINT.
"use strict";
const path = require("path");
const os = require("os");
const {
    OPCUAServer,
    OPCUACertificateManager,
    DataType,
    StatusCodes,
    Variant,
    MessageSecurityMode,
    SecurityPolicy,
    UserTokenPolicy,
    UserTokenType,
} = require("node-opcua");

function option(name, fallback) {
    const i = process.argv.indexOf("--" + name);
    return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const port = parseInt(option("port", "48400"), 10);
const resourcePath = option("path", "/UA/Usine");
const machines = parseInt(option("machines", "3"), 10);
const period = parseInt(option("period", "500"), 10);
const origin = parseInt(option("origin", String(Date.now())), 10);
const maxItemsPerCall = parseInt(option("max-items-per-call", "0"), 10);
const pki = option("pki", path.join(os.tmpdir(), "usine-opcua-test-pki"));
const [userName, password] = option("user", "painter:secret").split(":");
const unsecurePassword = process.argv.includes("--unsecure-password");

function tick() {
    return Math.max(0, Math.floor((Date.now() - origin) / period));
}

async function main() {
    const serverCertificateManager = new OPCUACertificateManager({
        rootFolder: path.join(pki, "server"),
        automaticallyAcceptUnknownCertificate: true,
    });
    await serverCertificateManager.initialize();

    const capabilities = {};
    if (maxItemsPerCall > 0) {
        capabilities.operationLimits = { maxMonitoredItemsPerCall: maxItemsPerCall };
    }

    const server = new OPCUAServer({
        port,
        hostname: "127.0.0.1",
        resourcePath,
        serverCertificateManager,
        securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
        securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
        allowAnonymous: true,
        serverCapabilities: capabilities,
        userManager: {
            isValidUser: (name, pass) => name === userName && pass === password,
        },
        buildInfo: { productName: "usine-opcua-test-server", manufacturerName: "Usine tests" },
    });
    await server.initialize();

    const addressSpace = server.engine.addressSpace;
    const namespace = addressSpace.getOwnNamespace();
    const paintShop = namespace.addFolder(addressSpace.rootFolder.objects, { browseName: "PaintShop" });
    const variables = [];
    for (let m = 1; m <= machines; m++) {
        const oven = namespace.addObject({ organizedBy: paintShop, browseName: `Oven${m}` });
        const counter = namespace.addVariable({
            componentOf: oven,
            browseName: "Counter",
            nodeId: `s=Oven${m}.Counter`,
            dataType: "UInt32",
            minimumSamplingInterval: 50,
        });
        const temperature = namespace.addVariable({
            componentOf: oven,
            browseName: "Temperature",
            nodeId: `s=Oven${m}.Temperature`,
            dataType: "Double",
            minimumSamplingInterval: 50,
        });
        variables.push({ m, counter, temperature });
    }

    let last = -1;
    function update() {
        const n = tick();
        if (n === last) {
            return;
        }
        last = n;
        const now = new Date();
        for (const { m, counter, temperature } of variables) {
            counter.setValueFromSource(new Variant({ dataType: DataType.UInt32, value: n % 4294967296 }), StatusCodes.Good, now);
            const t = 180 + 10 * Math.sin((n + m) / 10);
            temperature.setValueFromSource(new Variant({ dataType: DataType.Double, value: t }), StatusCodes.Good, now);
        }
    }
    update();
    const timer = setInterval(update, Math.max(10, Math.floor(period / 5)));

    if (unsecurePassword) {
        // OPCUAServer does not pass allowUnsecurePassword on to its endpoints; add the policy to the None ones.
        for (const endpoint of server.endpoints) {
            for (const description of endpoint.endpointDescriptions()) {
                if (description.securityMode === MessageSecurityMode.None) {
                    description.userIdentityTokens.unshift(new UserTokenPolicy({
                        policyId: "username_unsecure",
                        tokenType: UserTokenType.UserName,
                        securityPolicyUri: null,
                    }));
                }
            }
        }
    }

    await server.start();
    const url = server.getEndpointUrl();
    process.stdout.write(`listening ${url}\n`);

    const stop = async () => {
        clearInterval(timer);
        await server.shutdown(0);
        process.exit(0);
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
}

main().catch((err) => {
    process.stderr.write(`opcua test server failed: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
});
