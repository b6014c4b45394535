namespace Usine.Tests;

/// <summary>A small model set used across tests: screwing results of vehicles at stations.</summary>
internal static class TestDefinitions
{
    public const string Yaml = """
        models:
          - name: screwing
            version: 1
            time: ts
            key: [vin, station, ts]
            avatar: { type: vehicle, id: "{vin}" }
            fields:
              vin:     { type: string, required: true, pattern: "^[A-HJ-NPR-Z0-9]{17}$" }
              station: { type: string, required: true }
              ts:      { type: timestamp, required: true }
              torque:  { type: double, unit: Nm, min: 0, max: 200, required: true }
              status:  { type: string, enum: [OK, NOK] }
            rollups:
              - { bucket: 1h, by: [station], measures: { torque: [count, avg, min, max] } }
        sources:
          - id: line1
            plant: flins
            kind: http
            model: screwing
            context: { shop: assembly, line: L1, station: "{station}" }
            map: { vin: "$.VIN", ts: "$.time", torque: "$.result.torque", status: "$.result.status" }
          - id: csv-line1
            plant: flins
            kind: file
            path: drop
            format: csv
            model: screwing
            context: { station: "{station}" }
            map: { torque: { path: "$.torque_lbft", unit: lbf.ft } }
        """;

    public static UsineDefinitions Load() => DefinitionLoader.LoadText(Yaml, "test.yaml");

    /// <summary>A second plant: source <c>line2</c> of douai, sending what <c>line1</c> sends.</summary>
    public const string DouaiSource = """

          - id: line2
            plant: douai
            kind: http
            model: screwing
            context: { shop: assembly, line: L1, station: "{station}" }
            map: { vin: "$.VIN", ts: "$.time", torque: "$.result.torque", status: "$.result.status" }
        """;

    /// <summary>The definitions with both plants, where each record also gives its vehicle the station it was last seen at.</summary>
    public static UsineDefinitions TwoPlants() => DefinitionLoader.LoadText(
        (Yaml + DouaiSource).Replace("""avatar: { type: vehicle, id: "{vin}" }""", """avatar: { type: vehicle, id: "{vin}", attributes: { last_station: "{station}" } }""", StringComparison.Ordinal),
        "test.yaml");

    public const string Vin1 = "VF1AAAAA111111111";
    public const string Vin2 = "VF1BBBBB222222222";

    public static string Screwing(string vin, string station, string time, double torque, string status = "OK") =>
        "{\"VIN\":\"" + vin + "\",\"station\":\"" + station + "\",\"time\":\"" + time + "\",\"result\":{\"torque\":"
        + torque.ToString(System.Globalization.CultureInfo.InvariantCulture) + ",\"status\":\"" + status + "\"}}";

    public static List<RawMessage> Messages(params string[] payloads) =>
        [.. payloads.Select((p, i) => new RawMessage(i + 1, new DateTime(2026, 11, 26, 10, 0, 0, DateTimeKind.Utc), Encoding.UTF8.GetBytes(p)))];
}
