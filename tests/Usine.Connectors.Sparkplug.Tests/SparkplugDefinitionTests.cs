using Usine.Configuration;

namespace Usine.Connectors.Sparkplug.Tests;

/// <summary>A sparkplug source as the definitions loader reads it through the registered kind.</summary>
public sealed class SparkplugDefinitionTests
{
    private static readonly SourceKindRegistry Kinds = new([SparkplugConnectors.Registration()]);

    private static string Yaml(string settings) => $$"""
        models:
          - name: weld_metric
            version: 1
            time: ts
            fields:
              tag:   { type: string, required: true }
              value: { type: double }
              ts:    { type: timestamp, required: true }
              device: { type: string }
        sources:
          - id: body-welds
            kind: sparkplug
            plant: douai
            model: weld_metric
            settings: {{settings}}
            map: { tag: "{$.device}/{$.metric}", value: "$.value", ts: "$.timestamp", device: "$.device" }
        """;

    [Fact]
    public void The_source_of_the_issue_reads_with_the_sparkplug_format_and_its_list_of_groups()
    {
        var defs = DefinitionLoader.LoadText(Yaml("""{ broker: "mqtt://10.0.0.5:1883", hostId: usine, groups: [BodyShop, Paint] }"""), "plant.yaml", Kinds);

        var source = defs.Sources["body-welds"];
        Assert.Equal("sparkplug", source.Format.Name);
        Assert.Equal("BodyShop,Paint", source.Settings["groups"]);
        var connector = new SparkplugSourceConnector(source);
        Assert.Equal(("mqtt://10.0.0.5:1883", "spBv1.0/STATE/usine", "sparkplug:body-welds"), (connector.Endpoint, connector.StateTopic, connector.Stream.StreamId));
    }

    [Theory]
    [InlineData("{ broker: \"mqtt://10.0.0.5:1883\", groups: [BodyShop] }", "source 'body-welds' has no hostId; give the host application id edge nodes know this host by, such as hostId: usine", 11)]
    [InlineData("{ hostId: \"a/b\" }", "source 'body-welds': hostId 'a/b' may not contain '/', '+' or '#': it is a segment of the topic spBv1.0/STATE/HOSTID", 15)]
    [InlineData("{ hostId: usine, groups: [\"Body#\"] }", "group 'Body#' may not contain '/', '+' or '#'", 15)]
    [InlineData("{ hostId: usine, reorderMilliseconds: soon }", "reorderMilliseconds must be an integer from 0 to 60000, not 'soon'", 15)]
    [InlineData("{ hostId: usine, grups: [A] }", "unknown setting 'grups'; write 'groups'", 15)]
    [InlineData("{ hostId: usine, broker: \"http://x\" }", "scheme 'http' of 'http://x/' is not supported; use mqtt:// (TCP) or mqtts:// (TLS)", 15)]
    [InlineData("{ hostId: usine, broker: \"mqtt://x\", caFile: ca.pem }", "caFile applies to a TLS connection, but the broker is mqtt://x:1883; write the broker as mqtts://x:8883", 15)]
    public void A_setting_that_cannot_work_fails_the_load_at_its_line_saying_what_to_write(string settings, string problem, int line)
    {
        var ex = Assert.Throws<DefinitionException>(() => DefinitionLoader.LoadText(Yaml(settings), "plant.yaml", Kinds));

        Assert.Contains(problem, ex.Message, StringComparison.Ordinal);
        Assert.Equal(line, ex.Line); // the setting's line, or the source's when the setting is missing
    }
}
