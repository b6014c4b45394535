using Usine.Configuration;
using Usine.Connectors.OpcUa.Channel;

namespace Usine.Connectors.OpcUa.Tests;

/// <summary>The settings of an opcua source as the definitions loader reads them: the example, and each mistake at its line.</summary>
public sealed class OpcUaSettingsTests
{
    private static readonly SourceKindRegistry Kinds = new([OpcUaConnectors.Registration()]);

    private const string Head = "sources:\n  - id: paint-ovens\n    kind: opcua\n    plant: douai\n    model: oven_value\n    settings:\n";

    private const string Example = Head + """
              endpoint: opc.tcp://10.1.2.3:4840/PaintShop
              security: none
              user: { name: painter, password: "${USINE_TEST_OVEN_PASSWORD}" }
              trust: pki/paint-shop
              publishingInterval: 1s
              samplingInterval: 500ms
              deadband: { type: absolute, value: 0.5 }
              nodes:
                - browse: "Objects/PaintShop/*/Temperature"
                - id: "ns=1;s=Oven2.Counter"
            map: { tag: "$.browsePath", value: "$.value", quality: "$.status", ts: "$.sourceTimestamp" }

        """ + Model;

    private const string Model = "models:\n  - name: oven_value\n    time: ts\n    fields:\n      ts: timestamp\n      tag: string\n      value: double\n      quality: string\n";

    [Fact]
    public void The_example_of_the_documentation_loads_with_its_nested_settings_flattened()
    {
        Environment.SetEnvironmentVariable("USINE_TEST_OVEN_PASSWORD", "s3cret");
        var source = DefinitionLoader.LoadText(Example, "plant.yaml", Kinds).Sources["paint-ovens"];

        Assert.Equal("painter", source.Settings["user.name"]);
        Assert.Equal("${USINE_TEST_OVEN_PASSWORD}", source.Settings["user.password"]);
        Assert.Equal("Objects/PaintShop/*/Temperature", source.Settings["nodes.0.browse"]);
        Assert.Equal("ns=1;s=Oven2.Counter", source.Settings["nodes.1.id"]);
        Assert.Equal("absolute", source.Settings["deadband.type"]);

        var connector = new OpcUaSourceConnector(source);
        Assert.Equal("opcua:paint-ovens", connector.Stream.StreamId);
        Assert.Equal("opc.tcp://10.1.2.3:4840/PaintShop", connector.Endpoint);
    }

    [Theory]
    [InlineData("      security: none\n      nodes: [{ id: \"i=2258\" }]\n", 2, "has no endpoint; give the server's URL")]
    [InlineData("      endpoint: http://10.1.2.3/\n      nodes: [{ id: \"i=2258\" }]\n", 7, "is not an opc.tcp:// URL")]
    [InlineData("      endpoint: opc.tcp://h:4840\n      security: encrypt\n      nodes: [{ id: \"i=2258\" }]\n", 8, "security 'encrypt' is not one of none, sign, sign-and-encrypt")]
    [InlineData("      endpoint: opc.tcp://h:4840\n      nodes: [{ id: \"i=2258\" }]\n      publishInterval: 1s\n", 9, "unknown setting 'publishInterval'; write 'publishingInterval'")]
    [InlineData("      endpoint: opc.tcp://h:4840\n      nodes: [{ id: \"Oven2.Counter\" }]\n", 8, "node id 'Oven2.Counter' must be written ns=N;i=NUMBER")]
    [InlineData("      endpoint: opc.tcp://h:4840\n      nodes:\n        - browse: \"Objects//Oven\"\n", 9, "has an empty level")]
    [InlineData("      endpoint: opc.tcp://h:4840\n      nodes:\n        - { browse: a, id: \"i=1\" }\n", 9, "needs either browse: (a path such as Objects/PaintShop/*/Temperature) or id: (such as ns=1;s=Oven2.Counter), not both")]
    [InlineData("      endpoint: opc.tcp://h:4840\n", 2, "has no nodes; list what to subscribe to")]
    [InlineData("      endpoint: opc.tcp://h:4840\n      nodes: [{ id: \"i=2258\" }]\n      user: { name: painter, pasword: x }\n", 9, "user takes name and password")]
    [InlineData("      endpoint: opc.tcp://h:4840\n      nodes: [{ id: \"i=2258\" }]\n      user: { name: painter, password: \"${USINE_TEST_NOT_SET_ANYWHERE}\" }\n", 9, "refers to the environment variable USINE_TEST_NOT_SET_ANYWHERE, which is not set")]
    [InlineData("      endpoint: opc.tcp://h:4840\n      nodes: [{ id: \"i=2258\" }]\n      samplingInterval: often\n", 9, "write a duration such as 500ms, 1s or 2m")]
    [InlineData("      endpoint: opc.tcp://h:4840\n      nodes: [{ id: \"i=2258\" }]\n      deadband: { type: percent, value: 150 }\n", 9, "deadband value '150' must be a number from 0 to 100")]
    public void A_setting_that_cannot_work_fails_at_start_naming_its_line(string settings, int line, string problem)
    {
        var ex = Assert.Throws<DefinitionException>(() => DefinitionLoader.LoadText(Head + settings + "", "plant.yaml", Kinds));
        Assert.Contains(problem, ex.Problem, StringComparison.Ordinal);
        Assert.Equal(line, ex.Line);
    }

    [Fact]
    public void A_sign_source_without_a_registered_policy_fails_at_start_naming_its_line()
    {
        var kinds = new SourceKindRegistry([OpcUaConnectors.Registration(new OpcUaConnectorOptions { SecurityProviders = [] })]);
        var yaml = Head + "      endpoint: opc.tcp://h:4840\n      nodes: [{ id: \"i=2258\" }]\n      security: sign\n";
        var ex = Assert.Throws<DefinitionException>(() => DefinitionLoader.LoadText(yaml, "plant.yaml", kinds));
        Assert.Contains("security sign needs the Basic256Sha256 policy, which this Usine has no implementation of registered", ex.Problem, StringComparison.Ordinal);
        Assert.Equal(9, ex.Line);
    }

    [Fact]
    public void A_sign_source_with_a_registered_policy_passes_the_check()
    {
        var kinds = new SourceKindRegistry([OpcUaConnectors.Registration(new OpcUaConnectorOptions { SecurityProviders = [new PolicyStandIn()] })]);
        var yaml = Head + "      endpoint: opc.tcp://h:4840\n      security: sign-and-encrypt\n      nodes: [{ id: \"i=2258\" }]\n" + Model;
        Assert.Equal("sign-and-encrypt", DefinitionLoader.LoadText(yaml, "plant.yaml", kinds).Sources["paint-ovens"].Settings["security"]);
    }

    /// <summary>A policy registered under the Basic256Sha256 URI; the settings check only asks whether one is there.</summary>
    private sealed class PolicyStandIn : IChannelSecurityProvider
    {
        public string PolicyUri => "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256";

        public IChannelSecurity Create(ChannelSecurityRequest request) => throw new NotSupportedException();

        public (byte[] Data, string Algorithm) EncryptUserSecret(ReadOnlySpan<byte> secret, ReadOnlySpan<byte> serverNonce, ReadOnlySpan<byte> serverCertificate) => throw new NotSupportedException();
    }
}
