namespace Usine.Tests.Pipeline;

public sealed class DefinitionLoaderTests
{
    private const string Avatar = "models:\n  - name: m\n    time: ts\n    key: [vin, ts]\n    avatar: { type: vehicle, id: \"{vin}\",\n      ";
    private const string CsvSource = "models:\n  - name: m\n    time: ts\n    fields:\n      ts: { type: timestamp }\nsources:\n  - id: s\n    plant: p\n    kind: http\n    format: csv\n";
    /// <summary>The kinds of source as the connector projects register them.</summary>
    private static readonly Usine.Sources.SourceKindRegistry Kinds = new(
        [Usine.Connectors.Mqtt.MqttConnectors.Registration(), Usine.Connectors.Files.FileConnectors.Registration(), Usine.Connectors.Http.HttpConnectors.Registration()]);

    private const string Fields = "    fields:\n      vin: string\n      ts: timestamp\n      colour: string\n";

    [Theory]
    [InlineData("models:\n  - name: m\n    time: ts\n    fields:\n      ts: { type: timestamp }\n      x: { type: float }\n", 6, "type 'float' is not one of string, int, double, bool, timestamp")]
    [InlineData("models:\n  - name: m\n    time: t\n    fields:\n      ts: { type: timestamp }\n", 3, "time field 't' is not a field of model 'm'")]
    [InlineData("models:\n  - name: m\n    time: ts\n    fields:\n      ts: { type: timestamp, requird: true }\n", 5, "unknown key 'requird' in field 'ts'")]
    [InlineData("models:\n  - name: m\n    time: ts\n    key: [id]\n    fields:\n      ts: { type: timestamp }\n", 4, "key field 'id' is not a field of model 'm'")]
    [InlineData("models:\n  - name: m\n    time: ts\n    fields:\n      ts: { type: timestamp }\n      x: { type: double, min: 5, max: 1 }\n", 6, "min 5 above max 1")]
    [InlineData("models:\n  - name: m\n   time: ts\n", 3, "invalid YAML")]
    [InlineData("sources:\n  - id: s\n    plant: p\n    kind: mqtt\n    model: m\n", 2, "source 's' has no topic; give it a topic filter")]
    [InlineData("sources:\n  - id: s\n    plant: p\n    kind: file\n    model: m\n", 2, "source 's' of kind file needs a 'path'")]
    [InlineData("sources:\n  - id: s\n    plant: p\n    kind: opcua\n    model: m\n", 4, "kind 'opcua' is not one of file, http, mqtt")]
    [InlineData("sources:\n  - id: s\n    plant: p\n    kind: mqtt\n    topic: a/#\n    model: m\n    settings: { topic: b/# }\n", 5, "gives 'topic' twice")]
    [InlineData("sources:\n  - id: s\n    plant: p\n    kind: http\n    topic: a/#\n    model: m\n", 5, "a source of kind http takes no 'topic'")]
    [InlineData("sources:\n  - id: s\n    plant: p\n    kind: file\n    path: drop\n    pattern: sub/*.csv\n    model: m\n", 6, "is a file name pattern such as *.csv")]
    [InlineData("models:\n  - name: m\n    time: ts\n    fields:\n      ts: { type: timestamp }\nsources:\n  - id: s\n    plant: p\n    kind: http\n    model: nope\n", 7, "names model 'nope', which is not defined")]
    [InlineData("models:\n  - name: m\n    time: ts\n    fields:\n      ts: { type: timestamp }\n      x: { type: double, unit: Nm }\nsources:\n  - id: s\n    plant: p\n    kind: http\n    model: m\n    map: { x: { path: $.x, unit: kWh } }\n", 8, "cannot convert energy 'kWh' to torque 'Nm'")]
    [InlineData("models:\n  - name: m\n    time: ts\n    fields:\n      ts: { type: timestamp }\n      plant: { type: string }\n", 6, "field name 'plant' is taken")]
    [InlineData(Avatar + "attributes: [colour, trim] }\n" + Fields, 6, "avatar attribute 'trim' is not a field of model 'm'; write { NAME: \"{field}\" } to name it otherwise")]
    [InlineData(Avatar + "attributes: { paint: \"{color}\" } }\n" + Fields, 6, "avatar attribute 'paint' uses '{color}', which is neither a field of model 'm' nor plant, shop, line, station or source")]
    [InlineData(Avatar + "attributes: { Paint: \"{colour}\" } }\n" + Fields, 6, "avatar attribute name 'Paint' must be lower case letters")]
    [InlineData(Avatar + "attributes: { paint: \"{colour\" } }\n" + Fields, 6, "has '{' without '}'")]
    [InlineData(Avatar + "attributes: colour }\n" + Fields, 6, "avatar attributes (a list of fields, or name: template lines) must be a mapping")]
    [InlineData(Avatar + "attributes: [colour, colour] }\n" + Fields, 6, "avatar attribute 'colour' is given twice")]
    [InlineData(Avatar + "atributes: [colour] }\n" + Fields, 6, "unknown key 'atributes' in avatar (expected one of: type, id, attach, attributes)")]
    [InlineData(CsvSource + "    delimiter: ab\n    model: m\n", 11, "delimiter must be one character (or 'tab')")]
    [InlineData(CsvSource + "    model: m\n    delimiter: \"\"\n", 12, "delimiter must be one character (or 'tab')")]
    [InlineData("models:\n  - name: m\n    time: ts\n    fields:\n      ts: { type: timestamp }\nsources:\n  - id: s\n    plant: p\n    kind: http\n    format: xml\n    model: m\n", 10, "format 'xml' is not one of json, csv")]
    public void An_invalid_definition_fails_naming_the_file_the_line_and_the_problem(string yaml, int line, string problem)
    {
        var ex = Assert.Throws<DefinitionException>(() => DefinitionLoader.LoadText(yaml, "plant.yaml", Kinds));

        Assert.Equal("plant.yaml", ex.File);
        Assert.Equal(line, ex.Line);
        Assert.Contains(problem, ex.Problem, StringComparison.Ordinal);
        Assert.StartsWith($"plant.yaml:{line}: ", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_csv_format_reads_its_delimiter_and_other_formats_leave_it_alone()
    {
        var csv = DefinitionLoader.LoadText(CsvSource + "    model: m\n    delimiter: tab\n").Sources["s"];
        Assert.Same(Usine.Sources.PayloadFormat.Csv, csv.Format);
        Assert.Equal('\t', Usine.Sources.CsvOptions.Of(csv).Delimiter);
        Assert.Equal(',', Usine.Sources.CsvOptions.Of(DefinitionLoader.LoadText(CsvSource + "    model: m\n").Sources["s"]).Delimiter);

        // Accepted on a JSON source as it always was, and read by nothing.
        var json = DefinitionLoader.LoadText(CsvSource.Replace("format: csv", "format: JSON", StringComparison.Ordinal) + "    model: m\n    delimiter: ;\n").Sources["s"];
        Assert.Same(Usine.Sources.PayloadFormat.Json, json.Format);
        Assert.Null(json.FormatOptions);
    }

    [Fact]
    public void A_new_model_version_may_add_fields_but_not_change_a_type()
    {
        const string v1 = "models:\n  - name: m\n    version: 1\n    time: ts\n    fields:\n      ts: { type: timestamp }\n      x: { type: double }\n";
        var defs = DefinitionLoader.LoadText(v1 + "  - name: m\n    version: 2\n    time: ts\n    fields:\n      ts: { type: timestamp }\n      x: { type: double }\n      y: { type: string }\n");
        Assert.Equal(["ts", "x", "y"], defs.Models["m"].UnionFields().Select(f => f.Name));
        Assert.Equal(2, defs.Models["m"].Latest.Version);

        var ex = Assert.Throws<DefinitionException>(() => DefinitionLoader.LoadText(v1 + "  - name: m\n    version: 2\n    time: ts\n    fields:\n      ts: { type: timestamp }\n      x: { type: string }\n", "m.yaml"));
        Assert.Contains("changes the type of field 'x' from double (version 1) to string", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Avatar_attributes_are_fields_by_name_or_templates_over_fields_and_context()
    {
        var fields = DefinitionLoader.LoadText(Avatar + "attributes: [colour] }\n" + Fields).Models["m"].Latest.Avatar!.Attributes;
        Assert.Equal([("colour", "{colour}")], fields.Select(a => (a.Name, a.Value.Text)));

        var templates = DefinitionLoader.LoadText(Avatar + "attributes: { paint: \"{colour}\", built_in: \"{plant}/{line}\", maker: Renault } }\n" + Fields)
            .Models["m"].Latest.Avatar!.Attributes;
        Assert.Equal([("paint", "{colour}"), ("built_in", "{plant}/{line}"), ("maker", "Renault")], templates.Select(a => (a.Name, a.Value.Text)));
        Assert.Empty(DefinitionLoader.LoadText(Avatar + "attach: none }\n" + Fields).Models["m"].Latest.Avatar!.Attributes);
    }

    [Fact]
    public void The_demo_definitions_load()
    {
        var defs = DefinitionLoader.LoadFile(Path.Combine(RepoRoot.Path, "samples", "demo", "usine.yaml"));
        Assert.Equal(["energy", "machine_state", "process_value", "screwing"], defs.Models.Keys.Order());
        Assert.True(defs.Sources.Count >= 5);
        Assert.Equal("Europe/Madrid", defs.Shifts.For("valladolid")!.TimeZone.Id);
        Assert.Equal("Europe/Paris", defs.Shifts.For("flins")!.TimeZone.Id);
        Assert.Equal(["state"], defs.Models["machine_state"].Latest.Avatar!.Attributes.Select(a => a.Name));
    }
}
